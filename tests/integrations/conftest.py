"""The integration tests train tiny models: one torch thread each (on a
shared 2-core machine two threads make a Trainer step about 15 times
slower, waiting for each other), restored after each module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

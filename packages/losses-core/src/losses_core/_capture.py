"""Capturing what plugin code prints, without touching other threads' output.

While a plugin module is imported, ``sys.stdout`` and ``sys.stderr`` are
replaced by streams that route the importing thread's writes to a buffer and
every other thread's writes to the stream they replaced. Writes made below
Python (``os.write(1, ...)``, C extensions, subprocesses) are not captured.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO


class ThreadStream:
    """A text stream that buffers one thread's writes and passes the others through."""

    def __init__(self, original: TextIO, owner: int) -> None:
        self._original = original
        self._owner = owner
        self.buffer = io.StringIO()

    def write(self, text: str) -> int:
        if threading.get_ident() == self._owner:
            return self.buffer.write(text)
        return self._original.write(text)

    def flush(self) -> None:
        if threading.get_ident() != self._owner:
            self._original.flush()

    def text(self) -> str:
        """What the owning thread wrote."""
        return self.buffer.getvalue()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


@contextmanager
def captured_output() -> Iterator[tuple[ThreadStream, ThreadStream]]:
    """Capture what this thread prints to ``sys.stdout`` and ``sys.stderr``
    inside the block; yield the two capturing streams."""
    owner = threading.get_ident()
    saved_out, saved_err = sys.stdout, sys.stderr
    out, err = ThreadStream(saved_out, owner), ThreadStream(saved_err, owner)
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        if sys.stdout is out:
            sys.stdout = saved_out
        if sys.stderr is err:
            sys.stderr = saved_err

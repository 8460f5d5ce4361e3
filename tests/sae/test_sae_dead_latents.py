"""DeadLatentTracker against a token-counting reference."""

from __future__ import annotations

import pytest
import torch

from losses_sae import DeadLatentTracker


def test_dead_latent_tracker_matches_token_counting_reference():
    n, window = 5, 7
    tracker = DeadLatentTracker(n, window=window)
    since = [0] * n
    batches = [
        torch.tensor([[1.0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]),  # 2 tokens, latent 0 fires
        torch.tensor([[0.0, 0, 2, 0, 0]] * 3),  # 3 tokens, latent 2 fires
        torch.zeros(1, 2, n),  # 2 tokens (leading dims flattened), nothing fires
        torch.tensor([[0.0, 0, 0, 0, -0.5]]),  # negative activations fire too
    ]
    for batch in batches:
        flat = batch.reshape(-1, n)
        for i in range(n):
            fired = any(float(flat[t, i]) != 0 for t in range(flat.shape[0]))
            since[i] = 0 if fired else since[i] + flat.shape[0]
        tracker.update(batch)
        assert tracker.tokens_since_fired.tolist() == since
        assert tracker.dead_mask.tolist() == [s >= window for s in since]
    assert tracker.dead_mask.dtype == torch.bool and tracker.dead_mask.shape == (n,)
    assert tracker.dead_fraction.item() == pytest.approx(sum(s >= window for s in since) / n)


def test_dead_latent_tracker_state_threshold_and_errors():
    tracker = DeadLatentTracker(3, window=2, fire_threshold=0.5)
    tracker.update(torch.tensor([[0.4, 0.6, 0.0], [0.0, 0.0, 0.0]]))
    assert tracker.tokens_since_fired.tolist() == [2, 0, 2]
    assert tracker.dead_mask.tolist() == [True, False, True]
    restored = DeadLatentTracker(3, window=2)
    restored.load_state_dict(tracker.state_dict())
    assert restored.tokens_since_fired.tolist() == [2, 0, 2]
    tracker.reset()
    assert not tracker.dead_mask.any()
    assert DeadLatentTracker(4).window == 10_000_000
    with pytest.raises(ValueError, match="expected latents of shape"):
        tracker.update(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="window"):
        DeadLatentTracker(3, window=0)


def test_dead_latent_tracker_update_compiles_without_host_sync():
    tracker = DeadLatentTracker(4, window=3)
    compiled = torch.compile(tracker.update, fullgraph=True, backend="aot_eager")
    compiled(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0]]))
    compiled(torch.tensor([[0.0, 0, 0, 1.0], [0, 0, 0, 0]]))
    assert tracker.tokens_since_fired.tolist() == [2, 4, 4, 0]
    assert tracker.dead_mask.tolist() == [False, True, True, False]

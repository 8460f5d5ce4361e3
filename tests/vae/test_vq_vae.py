"""VQ-VAE losses against pythae's Quantizer / QuantizerEMA, and the codebook helpers."""

from __future__ import annotations

import math

import pytest
import torch
from pythae.models import VQVAEConfig
from pythae.models.vq_vae.vq_vae_utils import Quantizer, QuantizerEMA

from losses_core import LossInputError, LossParameterError
from losses_vae import ema_codebook_update, vq_vae, vq_vae_ema
from losses_vae.codebook import code_counts, perplexity

K, E = 6, 4  # codebook size, embedding dim


def _quantizer_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(3, 2, 2, E, generator=g)  # pythae's quantiser takes channels-last [B, H, W, E]
    return z


def test_vq_vae_against_pythae_quantizer_value_and_gradients():
    torch.manual_seed(0)
    cfg = VQVAEConfig(input_dim=(1, 2, 2), latent_dim=E, num_embeddings=K, commitment_loss_factor=0.25)
    cfg.embedding_dim = E  # set by pythae's VQVAE model before it builds its quantiser
    quantizer = Quantizer(cfg)
    quantizer.embeddings.weight.data.normal_()
    z = _quantizer_inputs().requires_grad_()
    p_out = quantizer(z)
    p_idx = p_out.quantized_indices.squeeze(1)  # [B, H, W]
    # our inputs: the encoder output and the selected codebook rows (with gradient to the codebook)
    z_q = quantizer.embeddings.weight[p_idx]
    mo = {"predictions": torch.zeros(3, 1), "z_e": z, "z_q": z_q, "indices": p_idx}
    ours = vq_vae(mo, {"target": torch.zeros(3, 1)}, num_embeddings=K)
    torch.testing.assert_close(ours["loss"], p_out.loss)
    params = [z, quantizer.embeddings.weight]
    g_ours = torch.autograd.grad(ours["loss"], params)
    g_ref = torch.autograd.grad(p_out.loss, params)
    for a, b in zip(g_ours, g_ref, strict=True):
        torch.testing.assert_close(a, b)
    # the encoder's gradient is the commitment term's alone: 2 * beta * (z_e - e) / n
    torch.testing.assert_close(g_ours[0], 2 * 0.25 * (z - z_q).detach() / z.numel())


def test_vq_vae_formula_and_reductions():
    g = torch.Generator().manual_seed(1)
    pred = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    target = torch.randn(4, 3, 5, generator=g, dtype=torch.float64)
    z_e = torch.randn(4, 2, E, generator=g, dtype=torch.float64, requires_grad=True)
    z_q = torch.randn(4, 2, E, generator=g, dtype=torch.float64, requires_grad=True)
    mo = {"predictions": pred, "z_e": z_e, "z_q": z_q}
    tg = {"target": target}
    res = vq_vae(mo, tg, beta=0.4, reconstruction_weight=2.0)
    mse = torch.nn.functional.mse_loss
    expected = 2.0 * mse(pred, target) + mse(z_q, z_e.detach()) + 0.4 * mse(z_e, z_q.detach())
    torch.testing.assert_close(res["loss"], expected)
    per_sample = vq_vae(mo, tg, beta=0.4, reconstruction_weight=2.0, reduction="none")["loss"]
    assert per_sample.shape == (4,)
    torch.testing.assert_close(per_sample.mean(), expected)
    torch.testing.assert_close(
        vq_vae(mo, tg, beta=0.4, reconstruction_weight=2.0, reduction="sum")["loss"], per_sample.sum()
    )
    ema = vq_vae_ema(mo, tg, beta=0.4)
    torch.testing.assert_close(ema["loss"], mse(pred, target) + 0.4 * mse(z_e, z_q.detach()))
    (g_q,) = torch.autograd.grad(ema["loss"], [z_q], allow_unused=True)
    assert g_q is None  # no codebook gradient in the EMA variant
    assert "perplexity" not in res["metrics"]  # no indices given


def test_perplexity_and_usage():
    idx = torch.tensor([[0, 0, 1, 3]])
    counts = code_counts(idx, 5, dtype=torch.float64)
    torch.testing.assert_close(counts, torch.tensor([2.0, 1, 0, 1, 0], dtype=torch.float64))
    p = [0.5, 0.25, 0.25]
    expected = math.exp(-sum(q * math.log(q) for q in p))
    torch.testing.assert_close(perplexity(counts).item(), expected)
    assert perplexity(code_counts(torch.arange(8), 8, dtype=torch.float32)).item() == pytest.approx(8.0)
    assert perplexity(code_counts(torch.zeros(8, dtype=torch.long), 8, dtype=torch.float32)).item() == 1.0
    mo = {
        "predictions": torch.zeros(1, 2),
        "z_e": torch.zeros(1, 4, 2),
        "z_q": torch.zeros(1, 4, 2),
        "indices": idx,
    }
    res = vq_vae(mo, {"target": torch.zeros(1, 2)}, num_embeddings=5)
    torch.testing.assert_close(res["metrics"]["perplexity"].item(), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(res["metrics"]["codebook_usage"], torch.tensor(0.6))


def test_ema_update_against_pythae_quantizer_ema():
    torch.manual_seed(0)
    cfg = VQVAEConfig(input_dim=(1, 2, 2), latent_dim=E, num_embeddings=K, use_ema=True, decay=0.9)
    cfg.embedding_dim = E
    quantizer = QuantizerEMA(cfg)
    quantizer.embeddings.normal_()
    cluster_size, ema_embed = quantizer.cluster_size.clone(), quantizer.ema_embed.clone()
    z = _quantizer_inputs(seed=3)
    out = quantizer(z)  # training mode: updates its buffers
    idx = out.quantized_indices.squeeze(1)
    new_size, new_sum, codebook = ema_codebook_update(z, idx, cluster_size, ema_embed, decay=0.9, eps=1e-5)
    torch.testing.assert_close(new_sum, quantizer.ema_embed)
    torch.testing.assert_close(codebook, quantizer.embeddings)
    # pythae stores the smoothed counts; ours returns the raw EMA counts (smoothing only divides)
    total = new_size.sum()
    torch.testing.assert_close((new_size + 1e-5) / (total + K * 1e-5) * total, quantizer.cluster_size)
    # commitment loss of the EMA variant = pythae's EMA quantiser loss
    quantizer.eval()
    z_req = z.clone().requires_grad_()
    p_out = quantizer(z_req)
    z_q = quantizer.embeddings[p_out.quantized_indices.squeeze(1)]
    mo = {"predictions": torch.zeros(3, 1), "z_e": z_req, "z_q": z_q}
    ours = vq_vae_ema(mo, {"target": torch.zeros(3, 1)})
    torch.testing.assert_close(ours["loss"], p_out.loss)


def test_ema_cluster_counts_are_the_raw_moving_averages():
    """Documented choice (vq_vae_ema): the returned cluster_size is the raw EMA of the
    counts; the Laplace smoothing only divides the summed embeddings. pythae stores
    the smoothed counts instead, so from its second update on the two differ."""
    decay, eps = 0.9, 1e-5
    torch.manual_seed(0)
    cfg = VQVAEConfig(input_dim=(1, 2, 2), latent_dim=E, num_embeddings=K, use_ema=True, decay=decay)
    cfg.embedding_dim = E
    quantizer = QuantizerEMA(cfg)
    quantizer.embeddings.normal_()
    size, embed_sum = quantizer.cluster_size.clone(), quantizer.ema_embed.clone()
    batches = [_quantizer_inputs(seed=s) for s in (3, 4)]
    counts = []
    for z in batches:
        idx = quantizer(z).quantized_indices.squeeze(1)  # training mode: pythae updates its buffers
        counts.append(torch.bincount(idx.reshape(-1), minlength=K).float())
        size, embed_sum, codebook = ema_codebook_update(z, idx, size, embed_sum, decay=decay, eps=eps)
    # by hand: N_2 = d * (d * N_0 + (1 - d) n_1) + (1 - d) n_2 with N_0 = 0
    expected = decay * ((1 - decay) * counts[0]) + (1 - decay) * counts[1]
    torch.testing.assert_close(size, expected)
    assert (counts[0] == 0).any() or (counts[1] == 0).any()  # some code unused: smoothing matters
    assert not torch.allclose(size, quantizer.cluster_size, rtol=0, atol=1e-7)
    # the codebook divides the summed embeddings by the smoothed counts of the raw EMA
    total = size.sum()
    torch.testing.assert_close(codebook, embed_sum / ((size + eps) / (total + K * eps) * total).unsqueeze(1))


def test_errors():
    mo = {
        "predictions": torch.zeros(2, 3),
        "z_e": torch.zeros(2, 4, 2),
        "z_q": torch.zeros(2, 4, 2),
        "indices": torch.zeros(2, 4, dtype=torch.long),
    }
    tg = {"target": torch.zeros(2, 3)}
    with pytest.raises(LossParameterError, match=r"vq_vae.*num_embeddings.*input 'indices'"):
        vq_vae(mo, tg)
    with pytest.raises(LossParameterError, match=r"vq_vae.*num_embeddings.*>= 1"):
        vq_vae(mo, tg, num_embeddings=0)
    with pytest.raises(LossParameterError, match=r"vq_vae.*beta.*>= 0"):
        vq_vae(mo, tg, beta=-0.1, num_embeddings=3)
    with pytest.raises(LossInputError, match=r"vq_vae_ema: input 'z_q'.*shape"):
        vq_vae_ema({**mo, "z_q": torch.zeros(2, 4, 3)}, tg, num_embeddings=3)
    with pytest.raises(LossInputError, match=r"vq_vae: input 'indices'.*integer"):
        vq_vae({**mo, "indices": torch.zeros(2, 4)}, tg, num_embeddings=3)
    with pytest.raises(KeyError, match=r"vq_vae.*z_e"):
        vq_vae({k: v for k, v in mo.items() if k != "z_e"}, tg, num_embeddings=3)
    # without indices there are no codebook metrics and num_embeddings is not needed
    res = vq_vae({k: v for k, v in mo.items() if k != "indices"}, tg)
    assert "perplexity" not in res["metrics"]

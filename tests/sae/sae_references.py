"""Loop references written from the papers' definitions, and random inputs,
shared by the losses-sae test modules (imported as a plain module: pytest puts
this folder on ``sys.path``)."""

from __future__ import annotations

import torch

from losses_sae.activations import jumprelu, topk_relu


def rand(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype)


def sq(a, b):
    """Squared distance of two vectors, by a loop."""
    return sum((float(a[j]) - float(b[j])) ** 2 for j in range(a.shape[0]))


def ref_sum_mean(x, xh):
    """Squared error summed over features, averaged over tokens."""
    T, d = x.shape
    return sum((float(xh[t, j]) - float(x[t, j])) ** 2 for t in range(T) for j in range(d)) / T


def ref_total_var(v):
    """sum_t ||v_t - mean(v)||^2."""
    T, d = v.shape
    mean = [sum(float(v[t, j]) for t in range(T)) / T for j in range(d)]
    return sum((float(v[t, j]) - mean[j]) ** 2 for t in range(T) for j in range(d))


def top_indices(row, candidates, k):
    """Indices of the k largest entries of ``row`` among ``candidates`` (by sorting)."""
    return sorted(candidates, key=lambda i: -float(row[i]))[:k]


def topk_sae(tokens=7, d=4, n=10, k=3, seed=0, dead=(1, 4, 6, 9)):
    """A TopK SAE forward pass (float64) with the given dead latents."""
    x = rand(tokens, d, seed=seed)
    pre = rand(tokens, n, seed=seed + 1)
    decoder = rand(n, d, seed=seed + 2)
    bias = 0.1 * rand(d, seed=seed + 3)
    latents = topk_relu(pre, k)
    mo = {
        "reconstruction": (latents @ decoder + bias).requires_grad_(True),
        "latents": latents,
        "pre_activations": pre.requires_grad_(True),
        "decoder_weight": decoder.requires_grad_(True),
        "decoder_bias": bias,
    }
    mask = torch.zeros(n, dtype=torch.bool)
    mask[list(dead)] = True
    return mo, {"activations": x, "dead_mask": mask}


def ref_auxk(mo, tg, *, k_aux, normalize, include_bias=False, dead_scale=False):
    """AuxK from the paper: decode the top-k_aux dead pre-activations (ReLU'd) and
    fit the residual; with ``dead_scale`` times min(n_dead / k_aux, 1), k_aux as
    requested (before it is capped at the number of latents), as in sparsify and
    SAELens."""
    x = tg["activations"]
    xh, pre = mo["reconstruction"].detach(), mo["pre_activations"].detach()
    W, b = mo["decoder_weight"].detach(), mo["decoder_bias"]
    T, d = x.shape
    n = pre.shape[1]
    dead = [i for i in range(n) if bool(tg["dead_mask"][i])]
    if not dead:
        return 0.0
    residual = x - xh
    error = 0.0
    for t in range(T):
        chosen = top_indices(pre[t], dead, min(k_aux, n))
        e_hat = [sum(max(float(pre[t, i]), 0.0) * float(W[i, j]) for i in chosen) for j in range(d)]
        if include_bias:
            e_hat = [e_hat[j] + float(b[j]) for j in range(d)]
        error += sum((float(residual[t, j]) - e_hat[j]) ** 2 for j in range(d))
    denom = {"none": T, "residual_var": ref_total_var(residual), "total_var": ref_total_var(x)}[normalize]
    scale = min(len(dead) / k_aux, 1.0) if dead_scale else 1.0
    return scale * error / denom


def l1_inputs(tokens=6, d=4, n=9, seed=0, lead=None):
    """Activations, a reconstruction, ReLU latents and a decoder (float64);
    ``lead`` reshapes the token dimension."""
    x = rand(tokens, d, seed=seed)
    decoder = rand(n, d, seed=seed + 1)
    f = torch.relu(rand(tokens, n, seed=seed + 2))
    xh = f @ decoder * 0.3 + 0.1
    if lead is not None:
        x, xh, f = x.reshape(*lead, d), xh.reshape(*lead, d), f.reshape(*lead, n)
    return x, xh.requires_grad_(True), f.requires_grad_(True), decoder.requires_grad_(True)


def ref_recon_terms(x, xh, convention):
    """Per-token reconstruction terms, by loops."""
    x, xh = x.detach(), xh.detach()
    T, d = x.shape
    mean = [sum(float(x[t, j]) for t in range(T)) / T for j in range(d)]
    total_var = sum((float(x[t, j]) - mean[j]) ** 2 for t in range(T) for j in range(d))
    terms = []
    for t in range(T):
        e = sum((float(xh[t, j]) - float(x[t, j])) ** 2 for j in range(d))
        if convention == "sum_mean":
            terms.append(e)
        elif convention == "mean":
            terms.append(e / d)
        elif convention == "normalized":
            terms.append(e / sum(float(x[t, j]) ** 2 for j in range(d)))
        else:
            terms.append(e * T / total_var)
    return terms


def ref_sae_loss(x, xh, f, lam, convention, decoder=None):
    """Per-token SAE loss (reconstruction + lam * L1), optionally with the
    April-2024 decoder-norm weighting."""
    f = f.detach()
    decoder = None if decoder is None else decoder.detach()
    T, n = f.shape
    recon = ref_recon_terms(x, xh, convention)
    per_token = []
    for t in range(T):
        penalty = 0.0
        for i in range(n):
            norm = 1.0 if decoder is None else float(decoder[i].norm())
            penalty += abs(float(f[t, i])) * norm
        per_token.append(recon[t] + lam * penalty)
    return per_token


def jumprelu_sae(seed=3, tokens=6, d=4, n=7, bandwidth=0.2):
    """A JumpReLU SAE forward pass (float64, threshold 0.3), every other latent dead."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, d, generator=g, dtype=torch.float64)
    pre = torch.randn(tokens, n, generator=g, dtype=torch.float64)
    theta = torch.full((n,), 0.3, dtype=torch.float64)
    decoder = torch.randn(n, d, generator=g, dtype=torch.float64)
    latents = jumprelu(pre, theta, bandwidth=bandwidth)
    mo = {
        "reconstruction": (latents @ decoder).requires_grad_(True),
        "latents": latents.requires_grad_(True),
        "pre_activations": pre.requires_grad_(True),
        "threshold": theta.requires_grad_(True),
        "decoder_weight": decoder.requires_grad_(True),
    }
    dead = torch.tensor([i % 2 == 0 for i in range(n)])
    return mo, {"activations": x, "dead_mask": dead}

"""Gaussian-kernel (Parzen) information estimators: Gram matrices, CS divergence, CS-QMI, Rényi entropy.

Used by: ``notebooks/05_tabular_sequence_spatial/07_cauchy_schwarz_ib.ipynb`` (through
``featurelab.papers.cauchy_schwarz_ib``), and any notebook that needs a closed-form, sample-based estimate of a
divergence or a dependence without variational bounds.

All estimators come from information-theoretic learning (Príncipe 2010; Jenssen et al. 2006): plug a Parzen
density with a Gaussian kernel ``κ_σ(a, b) = exp(-‖a − b‖² / 2σ²)`` into an integral of *products* of densities
and the integral becomes a sum over a Gram matrix. Kernel normalising constants cancel in every quantity here
(CS divergence, CS-QMI) or only shift it by a constant (Rényi entropy), so they are left out.

Conventions: every function accepts an optional leading batch of independent problems, ``(..., N, D)``, and
works on each problem separately (the ``...`` dimensions are carried through). 1-D inputs ``(N,)`` are read as
``N`` scalar samples. Logarithms are natural (the official CS-IB code uses ``log2``: a factor ``1/ln 2``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "as_samples",
    "conditional_cs_divergence",
    "cs_divergence",
    "cs_qmi",
    "cs_qmi_normalized",
    "gram",
    "median_sigma",
    "renyi_entropy",
    "sq_dists",
]

#: Floor for the arguments of ``log`` (Gram sums of far-apart samples underflow to 0 in float32).
EPS = 1e-12


def as_samples(x: Tensor) -> Tensor:
    """``(N,)`` → ``(N, 1)``; ``(..., N, D)`` unchanged."""
    return x.unsqueeze(-1) if x.dim() == 1 else x


def sq_dists(x: Tensor, y: Tensor | None = None) -> Tensor:
    """Squared Euclidean distances ``‖x_i − y_j‖²``: ``(..., N, D)``, ``(..., M, D)`` → ``(..., N, M)``, ≥ 0."""
    x = as_samples(x)
    y = x if y is None else as_samples(y)
    if x.shape[-1] == 1:  # scalars: a broadcast difference is cheaper and exact
        return (x - y.transpose(-1, -2)) ** 2
    d = (x * x).sum(-1, keepdim=True) - 2 * x @ y.transpose(-1, -2) + (y * y).sum(-1).unsqueeze(-2)
    return d.clamp_min(0.0)


def median_sigma(x: Tensor, min_sigma: float = 1e-2) -> Tensor:
    """The median heuristic ``σ = sqrt(median_{i<j} ‖x_i − x_j‖²)``, detached; ``(..., N, D)`` → ``(...)``.

    No gradient flows through the width (it is a bandwidth choice, not part of the objective). ``min_sigma``
    guards against collapsed samples (all points equal → σ = 0).
    """
    x = as_samples(x).detach()
    n = x.shape[-2]
    if n < 2:
        raise ValueError(f"the median heuristic needs at least 2 samples, got {n}")
    d = sq_dists(x)
    iu = torch.triu_indices(n, n, offset=1, device=x.device)
    return d[..., iu[0], iu[1]].median(-1).values.sqrt().clamp_min(min_sigma)


def gram(x: Tensor, y: Tensor | None = None, sigma: float | Tensor | None = None) -> Tensor:
    """Gaussian Gram matrix ``K_ij = exp(-‖x_i − y_j‖² / 2σ²)``: ``(..., N, D)``, ``(..., M, D)`` → ``(..., N, M)``.

    ``sigma``: a number, a tensor of shape ``(...)`` (one width per problem), or ``None`` = the median
    heuristic on ``x`` (on ``x`` and ``y`` stacked when ``y`` is given).
    """
    x = as_samples(x)
    if sigma is None:
        sigma = median_sigma(x if y is None else torch.cat([x, as_samples(y)], dim=-2))
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if (sigma <= 0).any():
        raise ValueError("kernel width sigma must be > 0")
    s2 = (sigma**2)[..., None, None] if sigma.dim() else sigma**2
    return torch.exp(-sq_dists(x, y) / (2 * s2))


def renyi_entropy(x: Tensor, sigma: float | Tensor | None = None) -> Tensor:
    """Quadratic Rényi entropy estimate ``H_2(x) = −log (1/N²) Σ_ij κ_σ(x_i, x_j)``; ``(..., N, D)`` → ``(...)``.

    ``−log`` of the *information potential* ``∫p²`` of the Parzen density (up to the kernel's normalising
    constant, left out: the value is entropy plus a constant that depends only on σ and D).
    """
    k = gram(x, sigma=sigma)
    return -torch.log(k.mean((-1, -2)).clamp_min(EPS))


def cs_divergence(x: Tensor, y: Tensor, sigma: float | Tensor | None = None) -> Tensor:
    """Cauchy-Schwarz divergence between two sample sets, ``D_CS(p‖q) = −log (∫pq)² / (∫p² ∫q²)``.

    Parzen plug-in (Jenssen et al. 2006): ``−2 log mean(K_xy) + log mean(K_xx) + log mean(K_yy)``.
    ``x``: ``(..., N, D)`` samples of ``p``; ``y``: ``(..., M, D)`` samples of ``q``; returns ``(...)``, ≥ 0,
    = 0 when the two sample sets coincide. ``sigma=None``: median heuristic on both sets together.
    """
    x, y = as_samples(x), as_samples(y)
    if sigma is None:
        sigma = median_sigma(torch.cat([x, y], dim=-2))
    kxy = gram(x, y, sigma).mean((-1, -2))
    kxx = gram(x, sigma=sigma).mean((-1, -2))
    kyy = gram(y, sigma=sigma).mean((-1, -2))
    return -2 * torch.log(kxy.clamp_min(EPS)) + torch.log(kxx.clamp_min(EPS)) + torch.log(kyy.clamp_min(EPS))


def conditional_cs_divergence(
    x: Tensor, y: Tensor, y_hat: Tensor, sigma_x: float | Tensor = 1.0, sigma_y: float | Tensor = 1.0,
    k_x: Tensor | None = None,
) -> Tensor:
    """Conditional CS divergence ``D_CS(p(y|x) ‖ q(ŷ|x))`` from paired samples ``(x_i, y_i, ŷ_i)``.

    The CS-IB prediction term (Yu et al. 2024, Sec. 3; the estimator of the conditional CS divergence of
    Yu et al. 2023, arXiv 2301.08970). With ``K = κ_σx(x, x)`` and ``L1 = κ_σy(y, y)``, ``L2 = κ_σy(ŷ, ŷ)``,
    ``L21 = κ_σy(ŷ, y)``::

        D = log Σ_j (Σ_i K_ji L1_ji)/(Σ_i K_ji²) + log Σ_j (Σ_i K_ji L2_ji)/(Σ_i K_ji²)
            − 2 log Σ_j (Σ_i K_ji L21_ji)/(Σ_i K_ji²)

    Args:
        x: ``(..., N, Dx)`` inputs (the conditioning variable).
        y: ``(..., N)`` or ``(..., N, Dy)`` targets.
        y_hat: predictions, same shape as ``y``.
        sigma_x, sigma_y: kernel widths (the official code uses 1 for both on standardised data).
        k_x: a precomputed ``K`` of shape ``(..., N, N)`` (it does not depend on the model; pass it to share it).

    Returns:
        ``(...)``. When ``K`` is nearly the identity (``σ_x`` small against the spacing of the ``x``), this
        reduces to ``−2 log Σ_j κ_σy(ŷ_j − y_j) + const``: a *correntropy* loss, which bounds the influence
        of a gross error ``|ŷ_j − y_j| ≫ σ_y``.
    """
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat must have the same shape, got {tuple(y.shape)} and {tuple(y_hat.shape)}")
    if y.dim() == x.dim() - 1:  # scalar targets (..., N) → (..., N, 1)
        y, y_hat = y.unsqueeze(-1), y_hat.unsqueeze(-1)
    k = gram(x, sigma=sigma_x) if k_x is None else k_x
    k2 = (k * k).sum(-1)  # (..., N): Σ_i K_ji²

    def term(a: Tensor, b: Tensor) -> Tensor:
        return ((k * gram(a, b, sigma_y)).sum(-1) / k2).sum(-1)

    cross, self_y, self_yhat = term(y_hat, y), term(y, y), term(y_hat, y_hat)
    return (torch.log(self_y.clamp_min(EPS)) + torch.log(self_yhat.clamp_min(EPS))
            - 2 * torch.log(cross.clamp_min(EPS)))


def cs_qmi(x: Tensor, t: Tensor, sigma_x: float | Tensor | None = None,
           sigma_t: float | Tensor | None = None, k_x: Tensor | None = None) -> Tensor:
    """Cauchy-Schwarz quadratic mutual information ``I_CS(x; t) = D_CS(p(x, t) ‖ p(x) p(t))``.

    The CS-IB compression term (Sec. 3). With ``K = κ_σx(x, x)``, ``Q = κ_σt(t, t)`` (both ``N×N``)::

        I_CS = log tr(K Q)/N² + log (1ᵀK1 · 1ᵀQ1)/N⁴ − 2 log 1ᵀ K Q 1 / N³

    ``x``: ``(..., N, Dx)``; ``t``: ``(..., N, Dt)``; returns ``(...)``, ≥ 0 (Cauchy-Schwarz), = 0 when the
    Gram matrices are "independent". ``sigma_* = None``: median heuristic on each variable. ``k_x``: a
    precomputed ``K`` of shape ``(..., N, N)`` (then ``sigma_x`` is ignored).
    """
    x, t = as_samples(x), as_samples(t)
    n = x.shape[-2]
    if t.shape[-2] != n:
        raise ValueError(f"x and t must pair up: {n} vs {t.shape[-2]} samples")
    k = gram(x, sigma=sigma_x) if k_x is None else k_x
    q = gram(t, sigma=sigma_t)
    joint = (k * q).sum((-1, -2)) / n**2  # tr(K Q) for symmetric Q
    marg = k.sum((-1, -2)) * q.sum((-1, -2)) / n**4
    cross = (k.sum(-1) * q.sum(-1)).sum(-1) / n**3  # 1ᵀ K Q 1 = (K1)·(Q1)
    return torch.log(joint.clamp_min(EPS)) + torch.log(marg.clamp_min(EPS)) - 2 * torch.log(cross.clamp_min(EPS))


def cs_qmi_normalized(x: Tensor, t: Tensor, sigma_x: float | Tensor | None = None,
                      sigma_t: float | Tensor | None = None) -> Tensor:
    """``I_CS(x; t) / sqrt(I_CS(x; x) · I_CS(t; t))``, the normalised form the official CS-IB code trains with.

    Shapes as :func:`cs_qmi`.
    """
    num = cs_qmi(x, t, sigma_x, sigma_t)
    den = torch.sqrt((cs_qmi(x, x, sigma_x, sigma_x) * cs_qmi(t, t, sigma_t, sigma_t)).clamp_min(EPS))
    return num / den

"""Infinite-width kernels of standard ReLU architectures, and kernel ridge regression.

Used by: ``notebooks/01_how_networks_learn/05_wide_cnn_kernel_locality.ipynb`` (and any notebook that needs
the NNGP/NTK of a wide network). Everything is plain ``torch`` so the same code runs on a CPU or a GPU; use
``float64`` for anything that is inverted or factorised.

Conventions. For a ReLU network in the NTK parametrization with He-scaled weights (variance ``2/fan_in``)
and no biases, the NNGP kernel ``Σ`` and the neural tangent kernel ``Θ`` of inputs ``x, y`` follow the
arc-cosine recursion (Cho & Saul 2009; Jacot, Gabriel & Hongler 2018; Arora et al. 2019)::

    Σ^0(x, y) = x·y / d                                       (input layer, fan-in d)
    Σ^l(x, y) = sqrt(Σ^{l-1}(x,x) Σ^{l-1}(y,y)) · κ1(ρ),       ρ = Σ^{l-1}(x,y) / sqrt(Σ^{l-1}(x,x) Σ^{l-1}(y,y))
    Θ^0 = Σ^0,   Θ^l = Σ^l + Θ^{l-1} · κ0(ρ)

with the two normalised arc-cosine functions (``κ1(1) = κ0(1) = 1``)::

    κ1(t) = (sqrt(1 - t²) + (π - arccos t) t) / π        the ReLU map of correlations (NNGP)
    κ0(t) = (π - arccos t) / π                           its derivative (the ReLU' map, NTK)

On inputs of norm ``sqrt(d)`` every diagonal stays 1 and ``Σ^l(x, y)`` is a correlation. The tree-CNN kernel
of ``featurelab.papers.wide_cnn_kernel_locality`` applies the same two maps node by node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .run import ParameterError

__all__ = [
    "kappa0",
    "kappa1",
    "normalize_rows",
    "fc_relu_kernels",
    "cholesky_jitter",
    "sample_gp",
    "kernel_ridge",
    "KrrCurve",
    "kernel_ridge_curve",
]


def kappa1(t: Tensor) -> Tensor:
    """Normalised arc-cosine kernel of degree 1 (the ReLU NNGP map), elementwise on correlations ``t ∈ [-1, 1]``.

    ``κ1(t) = (sqrt(1 - t²) + (π - arccos t) t) / π``; ``κ1(1) = 1``, ``κ1(0) = 1/π``, ``κ1(-1) = 0``.
    Values are clamped to ``[-1, 1]`` first (round-off). Any shape in, same shape out.
    """
    t = t.clamp(-1.0, 1.0)  # a copy: the input is never modified
    root = torch.mul(t, t).neg_().add_(1.0).clamp_(min=0.0).sqrt_()  # sqrt(1 - t²)
    # in-place arithmetic: on big matrices the cost is memory traffic, so avoid temporaries
    return torch.arccos(t).neg_().add_(math.pi).mul_(t).add_(root).div_(math.pi)


def kappa0(t: Tensor) -> Tensor:
    """Arc-cosine kernel of degree 0, ``κ0(t) = (π - arccos t) / π`` = ``dκ1/dt``: the ReLU-derivative map (NTK)."""
    return torch.arccos(t.clamp(-1.0, 1.0)).neg_().add_(math.pi).div_(math.pi)


def normalize_rows(x: Tensor, eps: float = 1e-12) -> Tensor:
    """Project each row of ``x`` (``(N, d)``) onto the unit sphere."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def fc_relu_kernels(x: Tensor, y: Tensor | None = None, depth: int = 1, block: int = 256) -> tuple[Tensor, Tensor]:
    """NNGP and NTK of a fully connected ReLU network with ``depth`` hidden layers (recursion in the module doc).

    Args:
        x: ``(N, d)``, y: ``(M, d)`` inputs (``y=None`` means ``y = x``). Inputs are used as given, with
            ``Σ^0 = x·y / d``; normalise them first (:func:`normalize_rows`, then multiply by ``sqrt(d)``)
            to work on the sphere of radius ``sqrt(d)`` where ``Σ^0(x, x) = 1``.
        depth: number of hidden layers ``L ≥ 1``.
        block: rows of ``x`` processed at once (small slabs stay in cache; the result does not depend on it).
    Returns:
        ``(Σ^L, Θ^L)``, each ``(N, M)``: the NNGP kernel of the last hidden layer's readout and the NTK.
    """
    if not isinstance(depth, int) or depth < 1:
        raise ParameterError(f"depth must be a positive integer, got {depth!r}")
    y = x if y is None else y
    if x.shape[-1] != y.shape[-1]:
        raise ParameterError(f"x and y must have the same input dimension, got {x.shape[-1]} and {y.shape[-1]}")
    d = x.shape[-1]
    dx, dy = (x * x).sum(-1) / d, (y * y).sum(-1) / d  # (N,), (M,): diagonals of Σ^0 (kept by ReLU + He scaling)
    nngp = torch.empty(x.shape[0], y.shape[0], dtype=x.dtype, device=x.device)
    ntk = torch.empty_like(nngp)
    for i in range(0, x.shape[0], block):
        sig = x[i:i + block] @ y.T / d
        th = sig.clone()
        norm = torch.sqrt(dx[i:i + block, None] * dy[None, :]).clamp_min(1e-300)
        for _ in range(depth):
            rho = sig / norm
            sig = kappa1(rho).mul_(norm)
            th = kappa0(rho).mul_(th).add_(sig)
        nngp[i:i + block], ntk[i:i + block] = sig, th
    return nngp, ntk


def cholesky_jitter(k: Tensor, jitter: float = 1e-10, max_tries: int = 8) -> Tensor:
    """Lower Cholesky factor of a PSD ``(N, N)`` matrix, adding ``jitter · mean(diag)`` to the diagonal as needed
    (×10 per failed try). Raises :class:`ParameterError` if even the largest jitter fails."""
    scale = float(k.diagonal().mean())
    eye = torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
    for i in range(max_tries):
        chol, info = torch.linalg.cholesky_ex(k + (jitter * 10**i * scale) * eye)
        if int(info) == 0:
            return chol
    raise ParameterError("matrix is not positive definite even with jitter; check the kernel")


def sample_gp(k: Tensor, n_samples: int = 1, generator: torch.Generator | None = None,
              jitter: float = 1e-10) -> Tensor:
    """Draw ``n_samples`` functions from a centred Gaussian process with covariance ``k`` (``(N, N)``).

    Returns ``(N, n_samples)``: ``L z`` with ``L`` the Cholesky factor and ``z ~ N(0, I)`` (drawn on the CPU
    with ``generator``, so that samples are the same on every device).
    """
    chol = cholesky_jitter(k, jitter)
    z = torch.randn(k.shape[0], n_samples, generator=generator, dtype=k.dtype).to(k.device)
    return chol @ z


def kernel_ridge(k_train: Tensor, y_train: Tensor, k_test_train: Tensor, ridge: float = 0.0) -> Tensor:
    """Kernel ridge regression predictions ``K_*x (K_xx + ridge·I)^{-1} y`` (ridge 0 = interpolation).

    Shapes: ``k_train (n, n)``, ``y_train (n,)`` or ``(n, t)``, ``k_test_train (m, n)`` → ``(m,)`` or ``(m, t)``.
    """
    if ridge < 0:
        raise ParameterError(f"ridge must be >= 0, got {ridge}")
    n = k_train.shape[0]
    chol = cholesky_jitter(k_train + ridge * torch.eye(n, dtype=k_train.dtype, device=k_train.device), 1e-12)
    alpha = torch.cholesky_solve(y_train.reshape(n, -1), chol)
    out = k_test_train @ alpha
    return out.reshape(-1) if y_train.ndim == 1 else out


@dataclass
class KrrCurve:
    """A learning curve: ``test_mse[i, j]`` for training size ``ns[i]`` and target ``j`` (``(len(ns), t)``)."""

    ns: list[int]
    test_mse: Tensor


def kernel_ridge_curve(k_train: Tensor, y_train: Tensor, k_test_train: Tensor, y_test: Tensor,
                       ns: list[int], ridge: float = 1e-6) -> KrrCurve:
    """Test MSE of kernel ridge regression trained on the first ``n`` points, for every ``n`` in ``ns``.

    Uses one Cholesky factor for all sizes: the factor of a leading principal block ``K[:n, :n] + λI`` is the
    leading block of the factor of ``K + λI`` — so with a fixed ``λ`` (not scaled by ``n`` here) the whole
    curve costs one factorisation plus triangular solves.

    Shapes: ``k_train (N, N)``, ``y_train (N, t)``, ``k_test_train (m, N)``, ``y_test (m, t)``; ``ns`` ⊆ [1, N].
    """
    N = k_train.shape[0]
    if not ns or any(n < 1 or n > N for n in ns):
        raise ParameterError(f"training sizes must lie in [1, {N}], got {ns}")
    if ridge < 0:
        raise ParameterError(f"ridge must be >= 0, got {ridge}")
    y_train, y_test = y_train.reshape(N, -1), y_test.reshape(k_test_train.shape[0], -1)
    chol = cholesky_jitter(k_train + ridge * torch.eye(N, dtype=k_train.dtype, device=k_train.device), 1e-12)
    mse = []
    for n in ns:
        c = chol[:n, :n]
        alpha = torch.cholesky_solve(y_train[:n], c)
        pred = k_test_train[:, :n] @ alpha
        mse.append(((pred - y_test) ** 2).mean(0))
    return KrrCurve(list(ns), torch.stack(mse))

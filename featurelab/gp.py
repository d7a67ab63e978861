"""Gaussian processes in closed form: kernels, prior samples, and the exact posterior predictive.

Shared helper (COURSE_GUIDE §7). Used by ``notebooks/05_tabular_sequence_spatial/08_pfn_bayesian_inference.ipynb``
(via :mod:`featurelab.papers.pfn_bayesian_inference`), where the exact GP posterior predictive distribution (PPD)
is the reference a prior-data fitted network must match.

Everything is batched: a leading batch dimension ``B`` runs many independent 1-D or d-D tasks at once.
Notation follows Rasmussen & Williams, *Gaussian Processes for Machine Learning* (2006), Ch. 2 and Eq. 2.23-2.24:

    k(x, x') kernel, K = k(X, X) + σ² I,  mean  μ* = k*ᵀ K⁻¹ y,  variance  σ*² = k(x*, x*) - k*ᵀ K⁻¹ k* + σ².
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .run import ParameterError

__all__ = ["Kernel", "gaussian_nll", "kernel_matrix", "posterior_predictive", "sample_prior"]

KINDS = ("rbf", "matern12", "matern32", "matern52")


@dataclass(frozen=True)
class Kernel:
    """A stationary kernel ``k(x, x') = outputscale · f(‖x - x'‖ / lengthscale)``.

    ``kind``: ``"rbf"`` (squared exponential, ``exp(-r²/2)``) or Matérn ``"matern12"`` (ν = 1/2, ``exp(-r)``),
    ``"matern32"`` (ν = 3/2) and ``"matern52"`` (ν = 5/2) — R&W Eq. 4.9 and 4.17.
    """

    kind: str = "rbf"
    lengthscale: float = 0.2
    outputscale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParameterError(f"kernel kind {self.kind!r} unknown; use one of {', '.join(KINDS)}")
        if not self.lengthscale > 0 or not self.outputscale > 0:
            raise ParameterError(f"lengthscale and outputscale must be positive, got {self.lengthscale}, "
                                 f"{self.outputscale}")

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        """``a``: ``(..., n, d)``, ``b``: ``(..., m, d)`` → ``(..., n, m)``."""
        return kernel_matrix(a, b, self)


def kernel_matrix(a: Tensor, b: Tensor, kernel: Kernel) -> Tensor:
    """Gram matrix ``k(a_i, b_j)``. ``a``: ``(..., n, d)``, ``b``: ``(..., m, d)`` → ``(..., n, m)``."""
    if a.shape[-1] != b.shape[-1]:
        raise ParameterError(f"inputs disagree in dimension: {a.shape[-1]} vs {b.shape[-1]}")
    d2 = ((a.unsqueeze(-2) - b.unsqueeze(-3)) ** 2).sum(-1) / kernel.lengthscale**2
    if kernel.kind == "rbf":
        k = torch.exp(-0.5 * d2)
    else:
        r = torch.sqrt(d2.clamp_min(1e-30))
        if kernel.kind == "matern12":
            k = torch.exp(-r)
        elif kernel.kind == "matern32":
            s = math.sqrt(3.0) * r
            k = (1 + s) * torch.exp(-s)
        else:
            s = math.sqrt(5.0) * r
            k = (1 + s + s**2 / 3) * torch.exp(-s)
    return kernel.outputscale * k


def sample_prior(x: Tensor, kernel: Kernel, noise: float, generator: torch.Generator | None = None,
                 jitter: float = 1e-6) -> Tensor:
    """Draw noisy function values ``y = f(x) + ε``, ``f ~ GP(0, k)``, ``ε ~ N(0, noise)`` (noise is a variance).

    ``x``: ``(B, n, d)`` → ``y``: ``(B, n)``. One independent function per batch row.
    """
    if noise < 0:
        raise ParameterError(f"noise variance must be non-negative, got {noise}")
    n = x.shape[-2]
    cov = kernel_matrix(x, x, kernel) + (noise + jitter) * torch.eye(n, dtype=x.dtype, device=x.device)
    chol = torch.linalg.cholesky(cov)
    z = torch.randn(*x.shape[:-1], 1, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
    return (chol @ z).squeeze(-1)


def posterior_predictive(x_train: Tensor, y_train: Tensor, x_test: Tensor, kernel: Kernel, noise: float,
                         jitter: float = 1e-6) -> tuple[Tensor, Tensor]:
    """Exact GP posterior predictive ``p(y* | x*, D) = N(μ*, σ*²)`` for noisy targets (R&W Eq. 2.23-2.24).

    ``x_train``: ``(B, n, d)``, ``y_train``: ``(B, n)``, ``x_test``: ``(B, m, d)`` → ``(mean, var)``, each
    ``(B, m)``; ``var`` includes the observation noise. ``n = 0`` gives the prior predictive ``N(0, k(x,x)+σ²)``.
    """
    prior_var = kernel_matrix(x_test[..., :1, :], x_test[..., :1, :], kernel)[..., 0, 0]  # stationary: k(x, x)
    if x_train.shape[-2] == 0:
        mean = torch.zeros(x_test.shape[:-1], dtype=x_test.dtype, device=x_test.device)
        return mean, (prior_var.unsqueeze(-1) + noise).expand_as(mean).clone()
    n = x_train.shape[-2]
    K = kernel_matrix(x_train, x_train, kernel) + (noise + jitter) * torch.eye(n, dtype=x_train.dtype,
                                                                                device=x_train.device)
    chol = torch.linalg.cholesky(K)
    ks = kernel_matrix(x_train, x_test, kernel)  # (B, n, m)
    alpha = torch.cholesky_solve(y_train.unsqueeze(-1), chol)  # (B, n, 1)
    mean = (ks * alpha).sum(-2)
    v = torch.linalg.solve_triangular(chol, ks, upper=False)  # (B, n, m)
    var = prior_var.unsqueeze(-1) - (v**2).sum(-2) + noise
    return mean, var.clamp_min(1e-12)


def gaussian_nll(y: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """Elementwise ``-log N(y | mean, var)``; all inputs broadcast."""
    return 0.5 * (torch.log(2 * math.pi * var) + (y - mean) ** 2 / var)

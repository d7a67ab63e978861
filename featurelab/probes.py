"""Reading frozen representations: batched linear probes, few-shot resampling, variance explained.

Shared by notebooks that ask *what a representation contains* rather than *how it was trained*:

- :func:`variance_explained` — the share of a representation's variance that a feature explains linearly
  (``representation_bias_complexity``, Lampinen et al. 2024).
- :func:`fit_linear_probe` / :func:`probe_accuracy` — many multinomial logistic-regression probes trained at
  once on frozen features with full-batch L-BFGS (``cat_representations``, Zhang & Bottou 2023). One
  batched torch problem replaces a Python loop of scikit-learn fits (measured there: 180–320 s per seed
  with scikit-learn, a few seconds with this).
- :func:`few_shot_indices` — ``R`` resampled k-shot training sets.
- :func:`standardize` — per-unit centring/scaling with a floor on the standard deviation.

Everything is plain torch; shapes are in each docstring. ``B``/``R`` is the batch of independent probes,
``N`` examples, ``D`` feature dimension, ``C`` classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .run import ParameterError

__all__ = [
    "ProbeResult",
    "design_matrix",
    "few_shot_indices",
    "fit_linear_probe",
    "probe_accuracy",
    "standardize",
    "variance_explained",
    "variance_explained_binary",
]


# ----------------------------------------------------------------------------------------- variance explained
def design_matrix(feature: Tensor) -> Tensor:
    """The regressors for a feature: one-hot columns for an integer feature, the values for a float one.

    ``feature``: ``(N,)`` int (categorical, any number of levels) → ``(N, L)`` one-hot (L = number of
    distinct values); ``(N,)`` float → ``(N, 1)``; ``(N, K)`` float → unchanged. The intercept is not added
    here (:func:`variance_explained` centres both sides instead).
    """
    if feature.ndim == 1:
        if feature.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool):
            _, codes = torch.unique(feature, return_inverse=True)
            return F.one_hot(codes).to(torch.float64)
        return feature.to(torch.float64)[:, None]
    if feature.ndim == 2:
        return feature.to(torch.float64)
    raise ParameterError(f"feature must have shape (N,) or (N, K), got {tuple(feature.shape)}")


def variance_explained(h: Tensor, feature: Tensor) -> float:
    """Fraction of the total variance of a representation that a feature explains by linear regression.

    Regress every unit ``h[:, j]`` on the feature (least squares with an intercept; a categorical feature is
    one-hot coded, so the fit is the per-category mean) and sum the variance of the fitted values over units::

        VE(f) = Σ_j Var(ĥ_j(f)) / Σ_j Var(h_j)        (units centred, NOT standardised)

    Because nothing is standardised, a unit with a large variance counts more: VE measures how much of the
    representation's *variance* — what PCA, RSA and regression analyses see — is about ``f``.

    Args:
        h: ``(N, m)`` activations (any float dtype; computed in float64).
        feature: ``(N,)`` int/bool (categorical), ``(N,)`` float or ``(N, K)`` float regressors.

    Returns:
        VE in [0, 1]; 0 when ``h`` has no variance.
    """
    if h.ndim != 2:
        raise ParameterError(f"h must have shape (N, m), got {tuple(h.shape)}")
    if feature.shape[0] != h.shape[0]:
        raise ParameterError(f"feature has {feature.shape[0]} rows but h has {h.shape[0]}")
    hc = h.detach()
    hc = (hc - hc.mean(0, keepdim=True)).to(torch.float32)
    total = hc.square().sum(dtype=torch.float64)
    if total <= 0:
        return 0.0
    if feature.ndim == 1 and not torch.is_floating_point(feature):
        # categorical: the least-squares fit is the per-category mean, so the explained sum of squares is
        # Σ_k n_k ||mean_k||² (hc is centred); no solve needed.
        _, codes = torch.unique(feature.to(hc.device), return_inverse=True)
        n_levels = int(codes.max()) + 1
        sums = torch.zeros(n_levels, hc.shape[1], dtype=torch.float64, device=hc.device)
        sums.index_add_(0, codes, hc.to(torch.float64))
        counts = torch.bincount(codes, minlength=n_levels).to(torch.float64)
        explained = ((sums**2).sum(1) / counts).sum()
        return float(explained / total)
    hd = hc.to(torch.float64)
    x = design_matrix(feature.detach()).to(hd.device)
    x = x - x.mean(0, keepdim=True)
    coef = torch.linalg.lstsq(x, hd, driver="gelsd" if x.device.type == "cpu" else None).solution
    fitted = x @ coef
    return float((fitted**2).sum() / total)


def variance_explained_binary(h: Tensor, z: Tensor) -> Tensor:
    """:func:`variance_explained` for many binary features at once (one matrix product).

    For a binary feature the fit is the class mean; with ``h`` centred the two class sums are ``s`` and ``−s``
    (``s = Σ_{i: z_i=1} h_i``), so the explained sum of squares is ``||s||² (1/n₁ + 1/n₀)``.

    Args:
        h: ``(N, m)`` activations.
        z: ``(N, K)`` features in {0, 1} (int or bool or float).

    Returns:
        ``(K,)`` float64 VE per feature (0 for a constant feature or a constant ``h``).
    """
    if h.ndim != 2 or z.ndim != 2 or z.shape[0] != h.shape[0]:
        raise ParameterError(f"need h (N, m) and z (N, K) with the same N, got {tuple(h.shape)}, {tuple(z.shape)}")
    hc = h.detach().double()
    hc = hc - hc.mean(0, keepdim=True)
    total = hc.square().sum()
    zf = z.to(hc.dtype)
    n1 = zf.sum(0)
    n0 = z.shape[0] - n1
    s = zf.T @ hc  # (K, m)
    scale = torch.where((n1 > 0) & (n0 > 0), 1.0 / n1.clamp_min(1) + 1.0 / n0.clamp_min(1), torch.zeros_like(n1))
    if total <= 0:
        return torch.zeros(z.shape[1], dtype=torch.float64)
    return (s.square().sum(1) * scale / total).cpu()


# ----------------------------------------------------------------------------------------- standardisation
def standardize(train: Tensor, *others: Tensor, stats: Tensor | None = None, sd_floor: float = 1e-2,
                ) -> tuple[Tensor, ...]:
    """Centre and scale features per unit with one set of statistics; return ``(train, *others)`` transformed.

    Args:
        train: ``(..., N, D)`` features.
        others: more ``(..., M, D)`` tensors transformed with the same statistics.
        stats: ``(..., K, D)`` the rows to take mean and sd from (default ``train``). With few labelled
            examples use a larger unlabelled pool (e.g. the target test inputs, no labels needed).
        sd_floor: the sd is clamped to at least ``sd_floor`` × the median unit sd. Dead or nearly constant
            units would otherwise be blown up to unit variance by ``1/(sd + 1e-6)`` — a trap that collapsed
            probe accuracy in the ``cat_representations`` prototype.
    """
    ref = train if stats is None else stats
    mu = ref.mean(-2, keepdim=True)
    sd = ref.std(-2, keepdim=True)
    floor = sd_floor * sd.median(dim=-1, keepdim=True).values.clamp_min(1e-12)
    sd = torch.maximum(sd, floor)
    return tuple((t - mu) / sd for t in (train, *others))


# ----------------------------------------------------------------------------------------- few-shot sampling
def few_shot_indices(y: Tensor, shots: int, n_resamples: int, generator: torch.Generator | None = None) -> Tensor:
    """``n_resamples`` class-balanced k-shot training sets drawn from labels ``y``.

    Args:
        y: ``(N,)`` int labels (C distinct values, each with at least ``shots`` examples).
        shots: examples per class.
        n_resamples: R.

    Returns:
        ``(R, C*shots)`` int64 indices into ``y``, grouped by class (classes in sorted order).
    """
    if shots < 1 or n_resamples < 1:
        raise ParameterError(f"shots and n_resamples must be ≥ 1, got {shots}, {n_resamples}")
    classes = torch.unique(y)
    out = []
    for _ in range(n_resamples):
        rows = []
        for c in classes:
            idx = torch.nonzero(y == c).flatten()
            if idx.numel() < shots:
                raise ParameterError(f"class {int(c)} has {idx.numel()} examples, fewer than shots={shots}")
            rows.append(idx[torch.randperm(idx.numel(), generator=generator)[:shots]])
        out.append(torch.cat(rows))
    return torch.stack(out)


# ----------------------------------------------------------------------------------------- linear probes
@dataclass
class ProbeResult:
    """Weights of ``B`` multinomial logistic-regression probes.

    Attributes:
        weight: ``(B, D, C)``.
        bias: ``(B, C)``.
        loss: final mean training loss per probe, ``(B,)`` (cross-entropy + L2 term).
    """

    weight: Tensor
    bias: Tensor
    loss: Tensor

    def logits(self, x: Tensor) -> Tensor:
        """``x``: ``(B, M, D)`` or shared ``(M, D)`` → ``(B, M, C)``."""
        if x.ndim == 2:
            return torch.einsum("md,bdc->bmc", x, self.weight) + self.bias[:, None, :]
        return torch.bmm(x, self.weight) + self.bias[:, None, :]


def fit_linear_probe(x: Tensor, y: Tensor, n_classes: int | None = None, l2: float = 1e-3,
                     max_iter: int = 200, tol: float = 1e-6) -> ProbeResult:
    """Train ``B`` independent logistic-regression probes at once with full-batch L-BFGS.

    Minimises, for each probe ``b``, ``mean_i CE(x_b[i] W_b + c_b, y_b[i]) + l2/2 · ||W_b||²`` (bias not
    penalised). The probes share nothing; summing their (convex, separable) objectives and running one
    L-BFGS on the sum reaches every probe's own optimum.

    Args:
        x: ``(B, N, D)`` frozen features (standardise first, see :func:`standardize`), or ``(N, D)`` for one.
        y: ``(B, N)`` int labels in ``[0, C)`` (or ``(N,)``).
        n_classes: C (default ``y.max() + 1``).
        l2: weight penalty (scale-dependent: features should be standardised).
        max_iter: L-BFGS iterations (strong-Wolfe line search).

    Returns:
        :class:`ProbeResult` with weights ``(B, D, C)`` (``B = 1`` for a single probe).
    """
    if x.ndim == 2:
        x, y = x[None], y[None]
    if x.ndim != 3 or y.shape != x.shape[:2]:
        raise ParameterError(f"x must be (B, N, D) with y (B, N); got {tuple(x.shape)} and {tuple(y.shape)}")
    if l2 < 0:
        raise ParameterError(f"l2 must be ≥ 0, got {l2}")
    x = x.detach().float()
    y = y.long()
    B, N, D = x.shape
    C = int(n_classes if n_classes is not None else int(y.max()) + 1)
    w = torch.zeros(B, D, C, device=x.device, requires_grad=True)
    b = torch.zeros(B, C, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol, tolerance_change=tol * 1e-3,
                            history_size=20, line_search_fn="strong_wolfe")

    def per_probe() -> Tensor:
        logits = torch.bmm(x, w) + b[:, None, :]
        ce = F.cross_entropy(logits.reshape(B * N, C), y.reshape(B * N), reduction="none").view(B, N).mean(1)
        return ce + 0.5 * l2 * (w**2).sum((1, 2))

    def closure() -> Tensor:
        opt.zero_grad()
        loss = per_probe().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        final = per_probe()
    return ProbeResult(w.detach(), b.detach(), final)


@torch.no_grad()
def probe_accuracy(probe: ProbeResult, x: Tensor, y: Tensor) -> Tensor:
    """Accuracy of each probe: ``x`` ``(B, M, D)`` or shared ``(M, D)``, ``y`` ``(M,)`` or ``(B, M)`` → ``(B,)``."""
    pred = probe.logits(x).argmax(-1)
    if y.ndim == 1:
        y = y[None].expand_as(pred)
    return (pred == y).float().mean(1)

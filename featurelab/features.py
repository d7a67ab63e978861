"""Reading a network's units: activation capture, unit correlations, one-to-one matching and linear CKA.

Shared by the notebooks that compare representations unit by unit or layer by layer
(``convergent_learning`` first; later notebooks on representation similarity reuse it).

Conventions
-----------
* A layer's activations for ``N`` inputs are ``(N, C)`` (dense) or ``(N, C, H, W)`` (conv).
  :func:`unit_matrix` turns both into a 2-D matrix ``(samples, units)``: a conv unit's samples are all
  (image, position) pairs, as in Li et al. (2016, Sec. 2), so ``(N, C, H, W)`` → ``(N·H·W, C)``.
* Correlations are Pearson correlations between columns (units). Dead units (zero variance) have no
  correlation; :func:`standardize` reports them so callers can drop them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .run import ParameterError

__all__ = [
    "capture",
    "unit_matrix",
    "live_units",
    "standardize",
    "correlation",
    "hungarian_match",
    "semi_match",
    "linear_cka",
]


# ---------------------------------------------------------------------------------------------- capture
@torch.no_grad()
def capture(model: nn.Module, x: torch.Tensor, layers: Mapping[str, str] | Sequence[str],
            batch_size: int = 1024) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``x`` and return the outputs of the named submodules, via forward hooks.

    Args:
        model: any module; it is run in eval mode (its training flag is restored afterwards).
        x: ``(N, ...)`` inputs on the model's device.
        layers: submodule names as in ``model.named_modules()`` (e.g. ``"features.1"``), or a mapping
            ``{label: submodule name}`` to give them readable labels (e.g. ``{"conv1": "features.1"}``).
        batch_size: inputs per forward pass.

    Returns:
        ``{label: activations}`` with activations ``(N, ...)`` on the CPU (float32), in the order given.
        Hooks are always removed, even when the forward pass raises.
    """
    names = dict(layers) if isinstance(layers, Mapping) else {n: n for n in layers}
    if not names:
        raise ParameterError("capture needs at least one layer name")
    modules = dict(model.named_modules())
    unknown = [m for m in names.values() if m not in modules]
    if unknown:
        choices = ", ".join(n for n in modules if n)
        raise ParameterError(f"unknown layer(s) {unknown}; this model's submodules are: {choices}")
    if batch_size < 1:
        raise ParameterError(f"batch_size must be positive, got {batch_size}")
    chunks: dict[str, list[torch.Tensor]] = {label: [] for label in names}
    handles = []
    for label, name in names.items():
        def hook(_module, _inputs, output, label=label):
            chunks[label].append(output.detach().float().cpu())
        handles.append(modules[name].register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        for i in range(0, x.shape[0], batch_size):
            model(x[i:i + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {label: torch.cat(c) for label, c in chunks.items()}


def unit_matrix(acts: torch.Tensor | np.ndarray) -> np.ndarray:
    """Activations as a ``(samples, units)`` float64 matrix.

    ``(N, C)`` is returned as is; ``(N, C, H, W)`` becomes ``(N·H·W, C)``: every (image, position) pair
    is one sample of each channel (Li et al. 2016, Sec. 2).
    """
    a = acts.detach().cpu().numpy() if isinstance(acts, torch.Tensor) else np.asarray(acts)
    if a.ndim == 2:
        return a.astype(np.float64)
    if a.ndim == 4:
        n, c, h, w = a.shape
        return a.transpose(0, 2, 3, 1).reshape(n * h * w, c).astype(np.float64)
    raise ParameterError(f"expected activations of shape (N, C) or (N, C, H, W), got {a.shape}")


def live_units(a: np.ndarray, min_active: float = 0.01, eps: float = 1e-8) -> np.ndarray:
    """Boolean mask ``(C,)`` of the columns of ``a`` ``(S, C)`` that carry signal.

    A unit is live when its standard deviation exceeds ``eps`` and it differs from its most common value
    (0 for a ReLU) on at least a fraction ``min_active`` of the samples. ReLU units that fire on a handful of
    samples are "nearly dead": their correlations rest on a few points, so matching them is noise.
    """
    a = np.asarray(a)
    if a.ndim != 2:
        raise ParameterError(f"expected a (samples, units) matrix, got shape {a.shape}")
    if not 0 <= min_active < 1:
        raise ParameterError(f"min_active must be in [0, 1), got {min_active}")
    floor = a.min(0)
    active = (a > floor + eps).mean(0)
    return (a.std(0) > eps) & (active >= min_active)


def standardize(a: np.ndarray, eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Z-score every column of ``a`` ``(S, C)``.

    Returns:
        ``(z, alive)``: ``z`` ``(S, C)`` with zero-mean unit-variance columns (dead columns, whose standard
        deviation is ≤ ``eps``, are all zero), and the boolean mask ``alive`` ``(C,)``.
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ParameterError(f"expected a (samples ≥ 2, units) matrix, got shape {a.shape}")
    mu, sd = a.mean(0), a.std(0)
    alive = sd > eps
    z = np.zeros_like(a)
    z[:, alive] = (a[:, alive] - mu[alive]) / sd[alive]
    return z, alive


def correlation(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlations between the columns of ``a`` ``(S, Ca)`` and of ``b`` ``(S, Cb)``.

    Returns ``(Ca, Cb)`` (``(Ca, Ca)``, the within-net matrix, when ``b`` is None). Entries that involve a
    dead unit (zero variance) are NaN, so they cannot be mistaken for "uncorrelated".
    """
    za, alive_a = standardize(a)
    if b is None:
        zb, alive_b = za, alive_a
    else:
        zb, alive_b = standardize(b)
        if zb.shape[0] != za.shape[0]:
            raise ParameterError(f"a and b need the same samples, got {za.shape[0]} and {zb.shape[0]} rows")
    c = za.T @ zb / za.shape[0]
    c[~alive_a, :] = np.nan
    c[:, ~alive_b] = np.nan
    return np.clip(c, -1.0, 1.0)


def hungarian_match(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching of units that maximises the summed correlation (bipartite matching).

    Li et al. (2016, Sec. 3) pair every unit of net 1 with a distinct unit of net 2; this is the
    assignment problem, solved exactly by ``scipy.optimize.linear_sum_assignment`` on ``-corr``.

    Args:
        corr: ``(Ca, Cb)`` between-net correlations; NaN rows/columns (dead units) are excluded.

    Returns:
        ``(rows, cols, values)``: matched unit indices into ``corr`` (each ``(K,)``, ``K = min`` of the live
        counts; ``K = 0`` when one side has no live unit) and their correlations ``values`` ``(K,)``, sorted
        by decreasing correlation.
    """
    from scipy.optimize import linear_sum_assignment

    corr = np.asarray(corr, dtype=np.float64)
    if corr.ndim != 2:
        raise ParameterError(f"corr must be a 2-D matrix, got shape {corr.shape}")
    live_r = np.where(~np.all(np.isnan(corr), axis=1))[0]
    live_c = np.where(~np.all(np.isnan(corr), axis=0))[0]
    sub = np.nan_to_num(corr[np.ix_(live_r, live_c)], nan=-1.0)
    if sub.size == 0:  # every unit of one side is dead: nothing to match
        return np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    r, c = linear_sum_assignment(-sub)
    rows, cols, vals = live_r[r], live_c[c], sub[r, c]
    order = np.argsort(-vals, kind="stable")
    return rows[order], cols[order], vals[order]


def semi_match(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Semi-matching: every unit of net 1 takes its most correlated unit of net 2, repeats allowed.

    Li et al. (2016, Sec. 3) compare this greedy upper bound with the one-to-one matching: units whose best
    partner is already taken show where the two nets *do not* align one-to-one.

    Returns ``(cols, values)``, both ``(Ca,)``: the best partner of each row and its correlation
    (``-1`` and NaN for dead rows).
    """
    corr = np.asarray(corr, dtype=np.float64)
    filled = np.nan_to_num(corr, nan=-np.inf)
    cols = filled.argmax(axis=1)
    vals = corr[np.arange(corr.shape[0]), cols]
    dead = np.all(np.isnan(corr), axis=1)
    cols[dead] = -1
    vals[dead] = np.nan
    return cols, vals


def linear_cka(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Linear centred kernel alignment of two representations of the same samples (Kornblith et al. 2019).

    ``CKA(X, Y) = ‖Yᶜᵀ Xᶜ‖²_F / (‖Xᶜᵀ Xᶜ‖_F ‖Yᶜᵀ Yᶜ‖_F)`` with column-centred ``Xᶜ`` ``(S, p)`` and
    ``Yᶜ`` ``(S, q)`` (their Eq. 5 in feature-space form). It is invariant to orthogonal transforms and
    isotropic scaling of either side — so a rotated copy of a layer scores 1, unlike unit matching.
    Conv activations are accepted and flattened with :func:`unit_matrix`.
    """
    xa = unit_matrix(x) if not (isinstance(x, np.ndarray) and x.ndim == 2) else x.astype(np.float64)
    ya = unit_matrix(y) if not (isinstance(y, np.ndarray) and y.ndim == 2) else y.astype(np.float64)
    if xa.shape[0] != ya.shape[0]:
        raise ParameterError(f"x and y need the same samples, got {xa.shape[0]} and {ya.shape[0]} rows")
    xa = xa - xa.mean(0)
    ya = ya - ya.mean(0)
    cross = np.linalg.norm(ya.T @ xa) ** 2
    denom = np.linalg.norm(xa.T @ xa) * np.linalg.norm(ya.T @ ya)
    if denom == 0:
        raise ParameterError("linear CKA is undefined for a constant representation")
    return float(cross / denom)

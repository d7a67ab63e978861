"""Intrinsic dimension estimators (TwoNN, Levina–Bickel MLE) and label sharpness.

Shared by the notebooks that measure dataset geometry. Every function takes a point cloud ``x`` of shape
``(N, D)`` (images are flattened first) and works in float64 numpy on the CPU.

- :func:`twonn` — Facco, d'Errico, Rodriguez & Laio, *Estimating the intrinsic dimension of datasets by a
  minimal neighborhood information*, Sci. Rep. 7, 12140 (2017). The ratio ``mu = r2 / r1`` of the distances
  to the second and first nearest neighbour follows a Pareto law ``f(mu) = d mu^{-d-1}``; its maximum-likelihood
  estimate is ``d = N / sum_i log mu_i`` (the paper also offers a linear fit of the empirical CDF with the top
  10 % of ratios discarded: ``fit="linear"``).
- :func:`mle` — Levina & Bickel, *Maximum likelihood estimation of intrinsic dimension*, NeurIPS 2004,
  Eq. (8) with the MacKay–Ghahramani averaging used by Konz & Mazurowski (ICLR 2024, Sec. 3.1) and their code:
  ``d = [ 1/N sum_i 1/(k-1) sum_{j<k} log(T_k(x_i) / T_j(x_i)) ]^{-1}`` (average the inverse local estimates).
- :func:`label_sharpness` — Konz & Mazurowski (ICLR 2024), Sec. 3.2: the empirical Lipschitz constant
  of the labelling function, ``K_F = max_{j != k} |y_j - y_k| / ||x_j - x_k||_2`` over ``M`` sampled pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from featurelab.run import ParameterError


def _as_points(x: object) -> np.ndarray:
    """``(N, ...)`` array-like (numpy or torch) → ``(N, D)`` float64 numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # type: ignore[union-attr]
    a = np.asarray(x, dtype=np.float64)
    if a.ndim < 2:
        raise ParameterError(f"need a point cloud of shape (N, D) or (N, ...), got shape {a.shape}")
    return a.reshape(a.shape[0], -1)


def knn_distances(x: object, k: int) -> np.ndarray:
    """Sorted Euclidean distances from each point to its ``k`` nearest *other* points.

    Args:
        x: ``(N, D)`` (or ``(N, ...)``, flattened) points.
        k: neighbours per point, ``1 <= k < N``.
    Returns:
        ``(N, k)`` array, column ``j-1`` holds ``T_j(x_i)``, the distance to the ``j``-th neighbour.
    """
    a = _as_points(x)
    n = a.shape[0]
    if not 1 <= k < n:
        raise ParameterError(f"k={k} must satisfy 1 <= k < N={n}")
    sq = (a * a).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * a @ a.T
    np.fill_diagonal(d2, np.inf)
    part = np.partition(d2, k - 1, axis=1)[:, :k]
    return np.sqrt(np.maximum(np.sort(part, axis=1), 0.0))


def twonn(x: object, fit: str = "mle", discard: float = 0.1) -> float:
    """TwoNN intrinsic dimension (Facco et al. 2017).

    Args:
        x: ``(N, D)`` points, ``N >= 3``; exact duplicates are dropped (``r1 = 0`` has no ratio).
        fit: ``"mle"`` — ``d = (N - 1) / sum log mu`` (unbiased Pareto MLE); ``"linear"`` — the paper's
            fit of ``-log(1 - F(mu)) = d log mu`` through the origin, dropping the largest ``discard`` fraction.
        discard: fraction of the largest ratios left out of the linear fit (paper: 10 %).
    """
    if fit not in ("mle", "linear"):
        raise ParameterError(f"fit={fit!r} is unknown; use 'mle' or 'linear'")
    if not 0.0 <= discard < 1.0:
        raise ParameterError(f"discard={discard} must lie in [0, 1)")
    a = np.unique(_as_points(x), axis=0)
    if a.shape[0] < 3:
        raise ParameterError(f"TwoNN needs at least 3 distinct points, got {a.shape[0]}")
    t = knn_distances(a, 2)
    mu = t[:, 1] / t[:, 0]
    logmu = np.log(mu)
    n = len(mu)
    if fit == "mle":
        return float((n - 1) / logmu.sum())
    logmu = np.sort(logmu)
    f = np.arange(1, n + 1) / n
    keep = slice(0, max(2, int(np.floor(n * (1.0 - discard)))))
    xs, ys = logmu[keep], -np.log(1.0 - f[keep] + 1e-12)
    return float((xs * ys).sum() / (xs * xs).sum())


def mle(x: object, k: int = 20) -> float:
    """Levina–Bickel MLE of the intrinsic dimension with ``k`` neighbours (Konz & Mazurowski use ``k = 20``).

    Local inverse estimate ``m_i^{-1} = 1/(k-1) sum_{j=1}^{k-1} log(T_k / T_j)``; the global estimate inverts
    the mean of the local inverses (MacKay & Ghahramani's correction, as in the official code).

    Args:
        x: ``(N, D)`` points, ``N > k``; exact duplicates are dropped.
        k: neighbours, ``k >= 2``.
    """
    if k < 2:
        raise ParameterError(f"k={k} must be >= 2")
    a = np.unique(_as_points(x), axis=0)
    t = knn_distances(a, k)
    inv = np.log(t[:, -1:] / t[:, :-1]).sum(1) / (k - 1)
    return float(1.0 / inv.mean())


@dataclass(frozen=True)
class Sharpness:
    """Label sharpness over sampled pairs.

    Attributes:
        k_f: ``max`` of the ratio (the paper's ``K_F``).
        quantile: the ``q``-quantile of the ratio over the pairs (a version robust to a single near pair).
        ratios: ``(M,)`` ratio ``|y_j - y_k| / ||x_j - x_k||`` of each pair.
        pairs: ``(M, 2)`` indices of the pairs.
    """

    k_f: float
    quantile: float
    ratios: np.ndarray
    pairs: np.ndarray

    @property
    def argmax(self) -> tuple[int, int]:
        """The indices of the pair that attains ``K_F``."""
        j, k = self.pairs[int(np.argmax(self.ratios))]
        return int(j), int(k)


def label_sharpness(x: object, y: object, n_pairs: int = 1000, q: float = 0.99, seed: int = 0) -> Sharpness:
    """``K_F = max_{j != k} |y_j - y_k| / ||x_j - x_k||_2`` over ``n_pairs`` random pairs (Konz & Mazurowski, Sec. 3.2).

    For class labels the numerator is ``1[y_j != y_k]`` (the definition; the official code's multiclass branch
    uses ``y_j == y_k``, which looks inverted). Pairs are drawn uniformly with ``j != k``; the official code instead
    samples ``M`` images and compares them position-wise in shuffled batches (about ``2M`` pairs for ``M = 1000``).

    Args:
        x: ``(N, ...)`` inputs, on the same pixel scale for every data set compared.
        y: ``(N,)`` integer labels (or real targets: the numerator is then ``|y_j - y_k|``).
        n_pairs: ``M``, the number of sampled pairs (paper: 1,000).
        q: quantile reported beside the maximum.
        seed: seeds the pair sampling.
    """
    a = _as_points(x)
    lab = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1)  # type: ignore[union-attr]
    n = a.shape[0]
    if lab.shape[0] != n:
        raise ParameterError(f"x has {n} points but y has {lab.shape[0]} labels")
    if n < 2:
        raise ParameterError("label sharpness needs at least 2 points")
    if n_pairs < 1:
        raise ParameterError(f"n_pairs={n_pairs} must be >= 1")
    if not 0.0 < q <= 1.0:
        raise ParameterError(f"q={q} must lie in (0, 1]")
    rng = np.random.default_rng(seed)
    j = rng.integers(0, n, n_pairs)
    k = (j + rng.integers(1, n, n_pairs)) % n  # k != j
    if np.issubdtype(lab.dtype, np.integer) or lab.dtype == bool:
        num = (lab[j] != lab[k]).astype(np.float64)
    else:
        num = np.abs(lab[j].astype(np.float64) - lab[k].astype(np.float64))
    dist = np.linalg.norm(a[j] - a[k], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(num > 0, num / dist, 0.0)
    return Sharpness(float(ratios.max()), float(np.quantile(ratios, q)), ratios, np.stack([j, k], 1))

"""Cross-spectral patch matching: a visible / infrared-like scene generator, patch pairs, FPR95 and pixel baselines.

A shared scene (a map of materials: background plus random discs and boxes) is rendered by two sensing models:

- **visible**: reflectance ``ρ_m`` of each material × a material texture (oriented gratings and grain) × a smooth
  illumination field, plus weak sensor noise;
- **infrared-like (LWIR)**: emitted heat — a per-material temperature ``T_m = (1 − g)·ρ_m + g·τ_m`` where, per
  scene, ``τ`` is either the inverted reflectance ``1 − ρ`` (contrast reversal) or an unrelated permutation of
  the same well-separated levels (so every material boundary stays visible, with a random polarity) —, no
  fine texture, a Gaussian blur (heat diffusion and optics), a warm blob, and stronger noise with column
  stripes (fixed-pattern noise). ``g`` is the *modality gap* (0: IR ≈ visible up to blur; 1: the full gap).

So the raw pixel correlation between the two renders of one place is unreliable: its sign flips with the
material pair, and texture exists in one modality only. Patch pairs are cut at the same place (positives), at a
nearby shifted place of the same scene (hard negatives) or anywhere (random negatives); the infrared patch can be
cut at a different scale (scale jitter, as between two cameras with different fields of view).

Metric: FPR95, the false-positive rate at the threshold where 95 % of the positives are accepted
(:func:`fpr_at_recall`, from :func:`sklearn.metrics.roc_curve`). Hand-crafted baselines: normalised
cross-correlation (:func:`ncc`) and a histogram of unsigned gradient orientations (:func:`hog`), both in numpy.

Used by ``notebooks/08_efficient_robust/04_mdfrn_visible_lwir_matching.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_curve

from .base import ParameterError

KINDS = ("positive", "random", "shifted")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ParameterError(msg)


# ----------------------------------------------------------------------------------------------------- scenes
@dataclass
class Scene:
    """One scene rendered by both sensors. ``vis``, ``ir``: ``(H, W)`` float32 images; ``materials``: ``(H, W)``
    int map of material ids; ``reflectance``, ``temperature``: ``(M,)`` per-material values."""

    vis: np.ndarray
    ir: np.ndarray
    materials: np.ndarray
    reflectance: np.ndarray
    temperature: np.ndarray


def render_scene(size: int = 96, rng: np.random.Generator | int = 0, *, gap: float = 1.0, n_materials: int = 6,
                 n_shapes: int = 14, blur: float = 1.5, ir_noise: float = 0.06, vis_noise: float = 0.02) -> Scene:
    """Render one random scene as a visible and an infrared-like image (both ``(size, size)``, float32).

    Args:
        size: image side in pixels. rng: a generator or a seed.
        gap: modality gap in [0, 1] (0: temperature = reflectance, no blur; 1: temperatures reversed or unrelated
            to reflectance, full blur). n_materials: material count (background is material 0).
        n_shapes: random discs/boxes painted over the background. blur: IR Gaussian σ (pixels) at ``gap = 1``.
        ir_noise, vis_noise: standard deviation of each sensor's noise.
    """
    _check(size >= 16, f"size must be >= 16 pixels, got {size}")
    _check(0.0 <= gap <= 1.0, f"gap must be in [0, 1], got {gap}")
    _check(n_materials >= 2, f"n_materials must be >= 2, got {n_materials}")
    rng = np.random.default_rng(rng)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    mat = np.zeros((size, size), dtype=np.int64)
    for _ in range(n_shapes):
        m = int(rng.integers(1, n_materials))
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(0.06, 0.22) * size
        if rng.random() < 0.5:
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        else:
            a = rng.uniform(0.4, 1.0) * r
            mask = (np.abs(yy - cy) < r) & (np.abs(xx - cx) < a)
        mat[mask] = m
    # material properties (the reflectance is spread out so that neighbouring materials differ in brightness)
    levels = np.linspace(0.1, 0.9, n_materials)
    refl = rng.permutation(levels) + rng.uniform(-0.03, 0.03, n_materials)
    tau = rng.permutation(levels) if rng.random() < 0.5 else 1.0 - refl    # unrelated or reversed, per scene
    temp = (1 - gap) * refl + gap * tau
    # visible: reflectance × texture × illumination + noise
    tex = np.zeros((size, size), dtype=np.float32)
    for m in range(n_materials):
        theta, freq, amp = rng.uniform(0, np.pi), rng.uniform(0.25, 0.9), rng.uniform(0.05, 0.25)
        phase = rng.uniform(0, 2 * np.pi)
        grating = amp * np.sin(freq * (np.cos(theta) * xx + np.sin(theta) * yy) + phase)
        tex = np.where(mat == m, grating, tex)
    grain = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 0.7) * 0.15
    gy, gx = rng.normal(0, 1, 2)
    illum = 0.75 + 0.25 * np.tanh((gx * (xx - size / 2) + gy * (yy - size / 2)) / size)
    vis = refl[mat] * (1 + tex + grain) * illum + rng.normal(0, vis_noise, (size, size))
    # infrared: temperature, a warm blob, blur, noise with column stripes
    ir = temp[mat].astype(np.float64)
    by, bx = rng.uniform(0, size, 2)
    ir = ir + gap * 0.25 * np.exp(-((yy - by) ** 2 + (xx - bx) ** 2) / (2 * (0.25 * size) ** 2))
    sigma = 0.3 + gap * blur
    ir = ndimage.gaussian_filter(ir, sigma)
    ir = ir + rng.normal(0, ir_noise, (size, size)) + rng.normal(0, ir_noise * 0.6, (1, size)) * gap
    return Scene(vis.astype(np.float32), ir.astype(np.float32), mat, refl.astype(np.float32),
                 temp.astype(np.float32))


def cut_patch(img: np.ndarray, center: tuple[float, float], patch: int, scale: float = 1.0) -> np.ndarray:
    """A ``(patch, patch)`` patch of ``img`` centred at ``center = (y, x)``, sampling a window of side
    ``patch · scale`` (bilinear; pixels outside the image repeat the border)."""
    _check(scale > 0, f"scale must be positive, got {scale}")
    off = (np.arange(patch, dtype=np.float64) - (patch - 1) / 2) * scale
    ys, xs = np.meshgrid(center[0] + off, center[1] + off, indexing="ij")
    return ndimage.map_coordinates(img, [ys, xs], order=1, mode="nearest").astype(np.float32)


def cut_patches(img: np.ndarray, centers: np.ndarray, patch: int, scales: np.ndarray | float = 1.0) -> np.ndarray:
    """Many patches at once: ``(K, patch, patch)`` for ``centers`` ``(K, 2)`` and ``scales`` ``(K,)`` (or one
    float); equal to :func:`cut_patch` row by row."""
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scales = np.broadcast_to(np.asarray(scales, dtype=np.float64), (len(centers),))
    _check(bool(np.all(scales > 0)), "scales must be positive")
    off = np.arange(patch, dtype=np.float64) - (patch - 1) / 2
    ys = centers[:, 0, None, None] + (off[None, :, None] * scales[:, None, None]) + 0 * off[None, None, :]
    xs = centers[:, 1, None, None] + (off[None, None, :] * scales[:, None, None]) + 0 * off[None, :, None]
    return ndimage.map_coordinates(img, [ys, xs], order=1, mode="nearest").astype(np.float32)


def standardize(patches: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Each patch (the last two axes) shifted to mean 0 and scaled to standard deviation 1."""
    m = patches.mean(axis=(-2, -1), keepdims=True)
    s = patches.std(axis=(-2, -1), keepdims=True)
    return ((patches - m) / (s + eps)).astype(np.float32)


@dataclass
class PatchPairs:
    """Patch pairs and their labels.

    Attributes:
        vis, ir: ``(N, 1, P, P)`` float32 patches (each standardised when ``make_pairs(standardise=True)``).
        label: ``(N,)`` int 1 = same place (match), 0 = different place.
        kind: ``(N,)`` int index into :data:`KINDS` (``positive``, ``random`` or ``shifted`` negative).
        scale: ``(N,)`` scale of the infrared window relative to the visible one (1 = same field of view).
        scene: ``(N,)`` id of the scene the pair was cut from.
    """

    vis: np.ndarray
    ir: np.ndarray
    label: np.ndarray
    kind: np.ndarray
    scale: np.ndarray
    scene: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def subset(self, idx: np.ndarray) -> "PatchPairs":
        """The pairs at ``idx`` (indices or a boolean mask)."""
        return PatchPairs(self.vis[idx], self.ir[idx], self.label[idx], self.kind[idx], self.scale[idx],
                          self.scene[idx])


def make_pairs(n_pairs: int, rng: np.random.Generator | int = 0, *, patch: int = 16, n_scenes: int = 20,
               scene_size: int = 96, gap: float = 1.0, pos_frac: float = 0.5, hard_frac: float = 0.7,
               shift: tuple[float, float] = (4.0, 10.0), jitter: float = 1.0, standardise: bool = True,
               structured: bool = True, **scene_kw) -> PatchPairs:
    """Cut ``n_pairs`` visible/infrared patch pairs from ``n_scenes`` freshly rendered scenes.

    A pair's visible patch is centred at a random place ``c`` of a scene. Its infrared patch is centred at
    ``c`` (positive, a share ``pos_frac``), at ``c + δ`` with ``|δ|`` uniform in ``shift`` pixels in a random
    direction (hard ``shifted`` negative, a share ``hard_frac`` of the negatives), or at an independent random
    place of the same scene at least ``shift[1]`` pixels away (``random`` negative). Every infrared window has
    side ``patch · s`` with ``log s`` uniform in ``[−log jitter, log jitter]`` (``jitter = 1``: no scale jitter).
    With ``structured`` the visible window must contain at least two materials (patch datasets are cut at
    keypoints; a window inside one uniform region carries no information about where it is).

    Returns:
        :class:`PatchPairs` with ``vis, ir`` of shape ``(n_pairs, 1, patch, patch)``.
    """
    _check(n_pairs >= 1, f"n_pairs must be >= 1, got {n_pairs}")
    _check(patch >= 4, f"patch must be >= 4 pixels, got {patch}")
    _check(0.0 <= pos_frac <= 1.0 and 0.0 <= hard_frac <= 1.0, "pos_frac and hard_frac must be in [0, 1]")
    _check(0 <= shift[0] <= shift[1], f"shift must be (lo, hi) with 0 <= lo <= hi, got {shift}")
    _check(jitter >= 1.0, f"jitter must be >= 1 (1 = no scale jitter), got {jitter}")
    _check(n_scenes >= 1, f"n_scenes must be >= 1, got {n_scenes}")
    margin = patch * jitter / 2 + shift[1] + 1
    _check(scene_size > 2 * margin + 2, f"scene_size={scene_size} is too small for patch={patch}, "
                                          f"jitter={jitter} and shift={shift}: use scene_size > {2 * margin + 2:.0f}")
    rng = np.random.default_rng(rng)
    scenes = [render_scene(scene_size, rng, gap=gap, **scene_kw) for _ in range(n_scenes)]
    vis = np.empty((n_pairs, patch, patch), np.float32)
    ir = np.empty_like(vis)
    kind = np.zeros(n_pairs, np.int64)
    label = (rng.random(n_pairs) < pos_frac).astype(np.int64)
    neg = label == 0
    kind[neg] = np.where(rng.random(neg.sum()) < hard_frac, 2, 1)
    scale = np.exp(rng.uniform(-np.log(jitter), np.log(jitter), n_pairs)) if jitter > 1 else np.ones(n_pairs)
    sid = rng.integers(0, n_scenes, n_pairs)
    lo, hi = margin, scene_size - 1 - margin
    centers, others = np.empty((n_pairs, 2)), np.empty((n_pairs, 2))
    for k in range(n_pairs):
        sc = scenes[sid[k]]
        for _ in range(100):   # a visible window that shows structure (at least two materials), like a keypoint
            c = rng.uniform(lo, hi, 2)
            y0, x0 = (c - patch / 2).astype(int)
            if not structured or np.unique(sc.materials[y0:y0 + patch, x0:x0 + patch]).size > 1:
                break
        if kind[k] == 0:
            d = c
        elif kind[k] == 2:
            ang, r = rng.uniform(0, 2 * np.pi), rng.uniform(*shift)
            d = c + r * np.array([np.sin(ang), np.cos(ang)])
        else:
            while True:
                d = rng.uniform(lo, hi, 2)
                if np.hypot(*(d - c)) >= shift[1]:
                    break
        centers[k], others[k] = c, d
    for j, sc in enumerate(scenes):   # one interpolation call per scene and sensor
        rows = np.flatnonzero(sid == j)
        if len(rows):
            vis[rows] = cut_patches(sc.vis, centers[rows], patch)
            ir[rows] = cut_patches(sc.ir, others[rows], patch, scale[rows])
    if standardise:
        vis, ir = standardize(vis), standardize(ir)
    return PatchPairs(vis[:, None], ir[:, None], label, kind, scale.astype(np.float32), sid)


# ----------------------------------------------------------------------------------------------------- metric
def fpr_at_recall(labels: np.ndarray, scores: np.ndarray, recall: float = 0.95) -> float:
    """False-positive rate at the first threshold that accepts at least ``recall`` of the positives (FPR95).

    ``labels``: ``(N,)`` 1 = match, 0 = non-match (both must occur). ``scores``: ``(N,)``, higher = more likely a
    match. Pairs with ``score ≥ threshold`` are accepted. Computed from :func:`sklearn.metrics.roc_curve`.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    _check(labels.shape == scores.shape and labels.ndim == 1, "labels and scores must be 1-D of equal length")
    _check(0.0 < recall <= 1.0, f"recall must be in (0, 1], got {recall}")
    _check(set(np.unique(labels)) == {0, 1}, "labels need both matches (1) and non-matches (0)")
    _check(bool(np.all(np.isfinite(scores))), "scores must be finite")
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(fpr[int(np.searchsorted(tpr, recall - 1e-12, side="left"))])


def fpr95(labels: np.ndarray, scores: np.ndarray) -> float:
    """:func:`fpr_at_recall` at 95 % recall."""
    return fpr_at_recall(labels, scores, 0.95)


# ------------------------------------------------------------------------------------------ pixel baselines
def ncc(a: np.ndarray, b: np.ndarray, absolute: bool = False) -> np.ndarray:
    """Normalised cross-correlation of paired patches ``a, b`` of shape ``(N, ..., H, W)`` → ``(N,)`` in [−1, 1].

    ``absolute=True`` returns ``|NCC|``, which ignores a global contrast reversal.
    """
    _check(a.shape == b.shape, f"paired patches must have the same shape, got {a.shape} and {b.shape}")
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    r = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return np.abs(r) if absolute else r


def hog(patches: np.ndarray, cell: int = 4, bins: int = 8, signed: bool = False) -> np.ndarray:
    """Histogram of oriented gradients of ``(N, ..., H, W)`` patches → ``(N, (H/cell)·(W/cell)·bins)``.

    Central-difference gradients; each pixel votes its gradient magnitude into its orientation bin (unsigned:
    angle mod π, so a contrast reversal leaves the descriptor unchanged); one histogram per ``cell × cell``
    block; the whole descriptor L2-normalised.
    """
    x = patches.reshape((-1,) + patches.shape[-2:]).astype(np.float64)
    n, h, w = x.shape
    _check(h % cell == 0 and w % cell == 0, f"patch side ({h}, {w}) must be a multiple of cell={cell}")
    _check(bins >= 1, f"bins must be >= 1, got {bins}")
    gy, gx = np.gradient(x, axis=(1, 2))
    mag = np.hypot(gx, gy)
    period = 2 * np.pi if signed else np.pi
    ang = np.mod(np.arctan2(gy, gx), period)
    b = np.minimum((ang / period * bins).astype(np.int64), bins - 1)
    onehot = (b[..., None] == np.arange(bins)) * mag[..., None]              # (n, h, w, bins)
    cells = onehot.reshape(n, h // cell, cell, w // cell, cell, bins).sum(axis=(2, 4))
    d = cells.reshape(n, -1)
    return d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-12)


def hog_similarity(a: np.ndarray, b: np.ndarray, **kw) -> np.ndarray:
    """Cosine similarity ``(N,)`` of the :func:`hog` descriptors of paired patches (higher = more alike)."""
    return (hog(a, **kw) * hog(b, **kw)).sum(1)


__all__ = ["KINDS", "PatchPairs", "Scene", "cut_patch", "fpr95", "fpr_at_recall", "hog", "hog_similarity",
           "cut_patches", "make_pairs", "ncc", "render_scene", "standardize"]

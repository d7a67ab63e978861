"""Toy videos with ground truth: textured objects that move, deform and occlude, with instance masks and flow.

The course's stand-in for DAVIS-style clips (module 07, "Propagating features through space and time"). Every
entity (the background and each object) is painted with one of :data:`TEXTURES` (stripes, checks, dots) in its
own *material* coordinates, so that the texture moves with the entity and the displacement of every painted
point between two frames is known exactly (the analytic **flow**). The silhouette of an object is a star shape
whose 2nd and 3rd harmonics change over time (the object **deforms**); objects bounce off the frame border and
are drawn in a fixed depth order (a later object hides an earlier one: **occlusion**). Over the clip the material
rotates and its texture period changes, the gain and colour of the whole frame drift (**appearance drift**), and
sensor noise is added. Optionally one frame is **camouflaged**: there the objects are blended into the background.

Two palettes: ``"shared"`` paints every entity with the *same* two colours, so a single pixel's colour carries no
identity (only the texture pattern, a mid-scale cue, does); ``"per_entity"`` gives each entity its own hue but the
same grey levels, so the grey image is the same kind of picture while the colour identifies the entity (the
training signal of colourise-by-copying).

Shapes (``T`` frames, ``C`` channels, ``H × W`` pixels, ``K`` objects)::

    frames     (T, C, H, W) float32 in [0, 1]
    masks      (T, H, W)    int64, 0 = background, k = object k (1..K; a larger k is nearer the camera)
    flow       (T-1, 2, H, W) float32: (dx, dy) in pixels, where the point painted at pixel (y, x) of frame t is
               in frame t+1 (dx along the width, dy along the height)
    occluded   (T-1, H, W) bool: that point is not visible at its new place in frame t+1 (it left the frame, went
               behind a nearer object or outside its own deforming silhouette; nearest-pixel test)

Used by ``notebooks/07_propagating_features/01_label_propagation_factors.ipynb`` and the other module-07 notebooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .base import ParameterError

#: The texture classes: ``(kind, angle in degrees, period in pixels)``. 8 stripes, 4 checks, 2 dots = 14 classes.
TEXTURES: tuple[tuple[str, float, float], ...] = (
    tuple(("stripes", a, p) for p in (4.0, 7.0) for a in (0.0, 45.0, 90.0, 135.0))
    + tuple(("checks", a, p) for p in (5.0, 8.0) for a in (0.0, 45.0))
    + tuple(("dots", 0.0, p) for p in (5.0, 8.0))
)
PALETTES = ("shared", "per_entity")
#: Luminance weights (ITU-R BT.601) used by :func:`to_grey` and by the per-entity palette.
LUMA = (0.299, 0.587, 0.114)


@dataclass
class ToyVideo:
    """One clip and its ground truth (shapes in the module docstring).

    Attributes:
        frames, masks, flow, occluded: see the module docstring.
        textures: ``(K + 1,)`` index into :data:`TEXTURES` of the background (entry 0) and each object.
        colours: ``(K + 1, 2, C)`` the two colours each entity mixes (before the drift).
        seed: the seed the clip was drawn with.
    """

    frames: Tensor
    masks: Tensor
    flow: Tensor
    occluded: Tensor
    textures: tuple[int, ...]
    colours: Tensor
    seed: int

    @property
    def n_objects(self) -> int:
        """``K``, the number of objects (labels 1..K; 0 is the background)."""
        return len(self.textures) - 1

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    def grey(self) -> Tensor:
        """``(T, 1, H, W)`` grey frames (:func:`to_grey`)."""
        return to_grey(self.frames)


def to_grey(frames: Tensor) -> Tensor:
    """``(..., C, H, W)`` → ``(..., 1, H, W)``: BT.601 luminance for ``C = 3``, the mean over channels otherwise."""
    c = frames.shape[-3]
    if c == 3:
        w = torch.tensor(LUMA, dtype=frames.dtype, device=frames.device).view(3, 1, 1)
        return (frames * w).sum(-3, keepdim=True)
    return frames.mean(-3, keepdim=True)


def texture_value(kind: str, angle: float, period: float, u: np.ndarray, v: np.ndarray,
                  sharpness: float = 6.0) -> np.ndarray:
    """The nearly binary texture in material coordinates ``(u, v)`` (any shape): values in (0, 1).

    ``stripes``: ``cos(2π u'/P)``; ``checks``: ``cos(2π u'/P)·cos(2π v'/P)``; ``dots``: ``cos + cos − 1``, where
    ``(u', v')`` is ``(u, v)`` rotated by ``angle``; then a sigmoid with ``sharpness`` makes it nearly binary.
    """
    a = math.radians(angle)
    ur = u * math.cos(a) + v * math.sin(a)
    vr = -u * math.sin(a) + v * math.cos(a)
    w = 2 * math.pi / period
    if kind == "stripes":
        raw = np.cos(w * ur)
    elif kind == "checks":
        raw = np.cos(w * ur) * np.cos(w * vr) * 2.0
    elif kind == "dots":
        raw = np.cos(w * ur) + np.cos(w * vr) - 1.0
    else:
        raise ParameterError(f"texture kind must be stripes, checks or dots, got {kind!r}")
    return 1.0 / (1.0 + np.exp(-sharpness * raw))


def _fold(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Reflect ``x`` into ``[lo, hi]`` (the position of a point bouncing between two walls)."""
    span = hi - lo
    y = np.mod(x - lo, 2 * span)
    return lo + np.where(y < span, y, 2 * span - y)


def _rand_range(rng: np.random.Generator, r: tuple[float, float] | float) -> float:
    if isinstance(r, (int, float)):
        return float(r)
    return float(rng.uniform(r[0], r[1]))


def _check(name: str, ok: bool, what: str) -> None:
    if not ok:
        raise ParameterError(f"{name} {what}")


def make_video(seed: int, *, height: int = 32, width: int = 32, n_frames: int = 20,
               n_objects: int | tuple[int, int] = (2, 4), radius: tuple[float, float] = (5.0, 8.0),
               speed: tuple[float, float] = (0.6, 1.6), channels: int = 3, palette: str = "shared",
               noise: float = 0.03, drift: float = 1.0, deform: float = 1.0, pan: float = 0.3,
               camouflage_frame: int | None = None, camouflage: float = 0.8) -> ToyVideo:
    """Draw one toy clip (all ground truth included); deterministic in ``seed``.

    Args:
        seed: any non-negative int.
        height, width, n_frames: clip size (``n_frames ≥ 2``).
        n_objects: ``K``, or an inclusive range ``(lo, hi)`` to draw it from (at most ``len(TEXTURES) − 1``).
        radius: range of the objects' mean radius in pixels. speed: range of their speed in pixels per frame
            (they bounce off the border).
        channels: 3 (colour) or 1 (grey).
        palette: ``"shared"`` (every entity mixes the same two colours) or ``"per_entity"`` (own hue, same grey
            levels).
        noise: σ of Gaussian sensor noise. drift: scale of the appearance drift over the clip (0 = none): material
            rotation 0.35–0.6 rad, texture period change up to ±36 %, gain ±(10–25) %, a global colour shift.
        deform: scale of the silhouette's harmonic deformation (0 = rigid circles).
        pan: speed of the background in pixels per frame.
        camouflage_frame: a frame index in which the objects are blended into the background (``None`` = none);
            camouflage: the blend weight there (1 = invisible apart from noise).

    Returns:
        A :class:`ToyVideo`. In frame 0 the objects do not overlap (as far as 500 random placements per object
        allow: many large objects in a small frame may still overlap).
    """
    for name, val in (("height", height), ("width", width)):
        _check(name, isinstance(val, int) and val >= 8, f"must be an int >= 8, got {val!r}")
    _check("n_frames", isinstance(n_frames, int) and n_frames >= 2, f"must be an int >= 2, got {n_frames!r}")
    _check("channels", channels in (1, 3), f"must be 1 or 3, got {channels!r}")
    _check("palette", palette in PALETTES, f"must be one of {', '.join(PALETTES)}, got {palette!r}")
    _check("noise", noise >= 0, f"must be >= 0, got {noise!r}")
    _check("camouflage", 0.0 <= camouflage <= 1.0, f"must be in [0, 1], got {camouflage!r}")
    if camouflage_frame is not None:
        _check("camouflage_frame", 0 <= camouflage_frame < n_frames, f"must be a frame index in [0, {n_frames})")
    lo_k, hi_k = (n_objects, n_objects) if isinstance(n_objects, int) else n_objects
    _check("n_objects", 1 <= lo_k <= hi_k <= len(TEXTURES) - 1,
           f"must be in [1, {len(TEXTURES) - 1}] (an int or an increasing pair), got {n_objects!r}")
    _check("radius", radius[0] > 0 and radius[0] <= radius[1] and 2 * radius[1] < min(height, width),
           f"must be an increasing pair with 0 < r and 2·r < the frame side, got {radius!r}")
    _check("seed", isinstance(seed, (int, np.integer)) and seed >= 0, f"must be a non-negative int, got {seed!r}")

    rng = np.random.default_rng(int(seed))
    T, H, W = n_frames, height, width
    k = int(rng.integers(lo_k, hi_k + 1))
    tex = rng.choice(len(TEXTURES), size=k + 1, replace=False)
    t_frac = np.arange(T) / max(T - 1, 1)

    # ---- per-entity material transforms: centre c(t), rotation θ(t), texture scale s(t); entity 0 = background
    rad = np.array([_rand_range(rng, radius) for _ in range(k)])
    a2 = rng.uniform(0.08, 0.16, k) * deform
    a3 = rng.uniform(0.05, 0.12, k) * deform
    reach = rad * (1 + a2 + a3)
    centres0 = np.zeros((k, 2))
    for i in range(k):                                  # no overlap in frame 0 (rejection sampling)
        for _ in range(500):
            c = rng.uniform(reach[i], [W - reach[i], H - reach[i]])
            if all(np.hypot(*(c - centres0[j])) > reach[i] + reach[j] for j in range(i)):
                break
        centres0[i] = c
    ang = rng.uniform(0, 2 * np.pi, k)
    spd = np.array([_rand_range(rng, speed) for _ in range(k)])
    vel = np.stack([np.cos(ang), np.sin(ang)], 1) * spd[:, None]
    lo = np.stack([reach * 0.6, reach * 0.6], 1)
    hi = np.stack([W - reach * 0.6, H - reach * 0.6], 1)
    obj_c = _fold(centres0[None] + vel[None] * np.arange(T)[:, None, None], lo[None], hi[None])   # (T, k, 2)
    pan_ang = rng.uniform(0, 2 * np.pi)
    bg_c = np.array([W / 2, H / 2])[None] + pan * np.arange(T)[:, None] * np.array([np.cos(pan_ang), np.sin(pan_ang)])
    centre = np.concatenate([bg_c[:, None], obj_c], 1)                                             # (T, k+1, 2)
    rot_total = rng.uniform(0.35, 0.6, k + 1) * rng.choice([-1, 1], k + 1) * drift
    theta = rng.uniform(0, 2 * np.pi, k + 1)[None] + rot_total[None] * t_frac[:, None]             # (T, k+1)
    scale_end = 1 + rng.uniform(-0.36, 0.36, k + 1) * drift
    scale = 1 + (scale_end[None] - 1) * t_frac[:, None]                                            # (T, k+1)
    phase = rng.uniform(0, 20, (k + 1, 2))
    ph2, ph3 = rng.uniform(0, 2 * np.pi, k), rng.uniform(0, 2 * np.pi, k)
    w2, w3 = rng.uniform(-0.3, 0.3, k), rng.uniform(-0.3, 0.3, k)

    # ---- colours: two grey levels shared by the clip; chroma shared (palette "shared") or per entity
    dark, light = rng.uniform(0.2, 0.35), rng.uniform(0.65, 0.8)
    luma = np.array(LUMA)

    def chroma() -> np.ndarray:
        c = rng.normal(0, 0.12, 3)
        return c - (c @ luma) * np.ones(3)             # zero luminance: the grey image does not change

    if palette == "shared":
        ca, cb = chroma(), chroma()
        cols = np.stack([np.stack([dark + ca, light + cb])] * (k + 1))
    else:
        cols = np.stack([np.stack([dark + c, light + c]) for c in (chroma() for _ in range(k + 1))])
    if channels == 1:
        cols = cols @ luma[:, None]
    gain = 1 + rng.uniform(0.1, 0.25) * rng.choice([-1, 1]) * drift * t_frac
    shift = rng.normal(0, 0.05, channels) * drift

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    pix = np.stack([xx, yy], -1)                                                                    # (H, W, 2)

    def material(e: int, t: int) -> np.ndarray:
        d = pix - centre[t, e]
        c, s = math.cos(theta[t, e]), math.sin(theta[t, e])
        return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1) / scale[t, e]

    def inside(i: int, t: int) -> np.ndarray:         # object i (0-based) at frame t
        d = pix - centre[t, i + 1]
        phi = np.arctan2(d[..., 1], d[..., 0]) - theta[t, i + 1]
        r = rad[i] * (1 + a2[i] * np.sin(2 * phi + ph2[i] + w2[i] * t) + a3[i] * np.sin(3 * phi + ph3[i] + w3[i] * t))
        return np.hypot(d[..., 0], d[..., 1]) < r

    def paint(e: int, t: int) -> np.ndarray:           # (H, W, C) appearance of entity e at every pixel
        u = material(e, t) + phase[e]
        kind, angle, period = TEXTURES[tex[e]]
        v = texture_value(kind, angle, period, u[..., 0], u[..., 1])[..., None]
        return cols[e, 0] * (1 - v) + cols[e, 1] * v

    masks = np.zeros((T, H, W), np.int64)
    frames = np.zeros((T, H, W, channels))
    flow = np.zeros((T - 1, 2, H, W))
    for t in range(T):
        bg = paint(0, t)
        img = bg.copy()
        for i in range(k):
            m = inside(i, t)
            masks[t][m] = i + 1
            obj = paint(i + 1, t)
            if camouflage_frame == t:
                obj = (1 - camouflage) * obj + camouflage * bg
            img[m] = obj[m]
        img = img * gain[t] + shift * t_frac[t] + rng.normal(0, noise, img.shape)
        frames[t] = np.clip(img, 0.0, 1.0)
        if t + 1 < T:                                   # where each painted point is in frame t+1
            for e in range(k + 1):
                sel = masks[t] == e
                u = material(e, t)[sel]
                c, s = math.cos(theta[t + 1, e]), math.sin(theta[t + 1, e])
                u = u * scale[t + 1, e]
                new = np.stack([c * u[:, 0] - s * u[:, 1], s * u[:, 0] + c * u[:, 1]], -1) + centre[t + 1, e]
                flow[t][:, sel] = (new - pix[sel]).T
    occluded = np.zeros((T - 1, H, W), bool)
    for t in range(T - 1):
        tx = np.rint(xx + flow[t, 0]).astype(int)
        ty = np.rint(yy + flow[t, 1]).astype(int)
        out = (tx < 0) | (tx >= W) | (ty < 0) | (ty >= H)
        there = masks[t + 1][ty.clip(0, H - 1), tx.clip(0, W - 1)]
        occluded[t] = out | (there != masks[t])
    return ToyVideo(
        frames=torch.from_numpy(frames).permute(0, 3, 1, 2).float().contiguous(),
        masks=torch.from_numpy(masks),
        flow=torch.from_numpy(flow).float(),
        occluded=torch.from_numpy(occluded),
        textures=tuple(int(x) for x in tex),
        colours=torch.from_numpy(cols).float(),
        seed=int(seed),
    )


def make_videos(n: int, seed: int, **kw) -> list[ToyVideo]:
    """``n`` clips drawn with seeds ``seed·1000 + i`` (``i < n ≤ 1000``); ``kw`` as in :func:`make_video`."""
    _check("n", isinstance(n, int) and 1 <= n <= 1000, f"must be an int in [1, 1000], got {n!r}")
    _check("seed", isinstance(seed, int) and seed >= 0, f"must be a non-negative int, got {seed!r}")
    return [make_video(seed * 1000 + i, **kw) for i in range(n)]


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Forward-splat check helper: ``(C, H, W)`` values of frame t+1 sampled where each pixel of frame t went.

    ``out[:, y, x] = next[:, y + dy, x + dx]`` (bilinear, zeros outside): with ``image`` = frame t+1 and ``flow``
    ``(2, H, W)`` the flow from t to t+1, ``out`` reconstructs frame t on the non-occluded pixels.
    """
    if image.dim() != 3 or flow.shape != (2,) + tuple(image.shape[-2:]):
        raise ParameterError("warp needs image (C, H, W) and flow (2, H, W) of the same size")
    _, h, w = image.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    gx = (xx + flow[0]) / max(w - 1, 1) * 2 - 1
    gy = (yy + flow[1]) / max(h - 1, 1) * 2 - 1
    grid = torch.stack([gx, gy], -1)[None]
    return torch.nn.functional.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros",
                                           align_corners=True)[0]


__all__ = ["LUMA", "PALETTES", "TEXTURES", "ToyVideo", "make_video", "make_videos", "texture_value", "to_grey",
           "warp"]

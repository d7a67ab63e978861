"""Procedural top-view scenes and a small multi-scale feature pyramid for dense prediction.

Two pieces for notebooks about context in aerial / remote-sensing images (used by
``notebooks/08_efficient_robust/03_catnet_context_aggregation.ipynb``):

1. :func:`make_scenes` — a generator of top-view scenes: textured ground, many *small* objects (2×3 px) in
   clustered rows, a few larger "buildings", and one large **landmark** (a water body or a road) along one edge.
   The small objects of the two scene types look the same pixel for pixel (``class_gap = 0``): in a *harbour*
   (water landmark) they are boats, in a *car park* (road landmark) they are cars. This is the context rule the
   generator bakes in — real aerial scenes have it (boats sit near water, cars near roads) — and it is the only
   thing that tells the two classes apart: every small object keeps at least ``min_distance`` px from the
   landmark, so a network whose receptive field is smaller cannot see it. Small patches of water and road
   texture (``n_decoys``) are scattered over both scene types, so "some water pixels somewhere" is not the
   answer; the landmark's *extent* is.
2. :class:`PyramidSegmenter` — a mini-FPN: a 3-stage conv backbone (strides 1, 2, 4), a neck that mixes the
   levels (:class:`FPNNeck`, the plain top-down FPN of Lin et al. 2017, or any module with the same interface),
   an optional per-level ``context`` module, and a dense head on the sum of the upsampled levels.

Metrics: :func:`confusion`, :func:`iou` (per-class IoU from a confusion matrix; mIoU is their mean) and
:func:`instance_recall` (share of ground-truth instances whose pixels are mostly predicted as their class).

Semantic classes: :data:`CLASSES` = ``("background", "car", "boat", "building")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor, nn

from .base import ParameterError

CLASSES = ("background", "car", "boat", "building")
BACKGROUND, CAR, BOAT, BUILDING = range(4)
SCENE_TYPES = ("car_park", "harbour")
#: RGB of the ground, the water landmark and the road landmark (before texture noise).
GROUND = np.array([0.46, 0.48, 0.42])
WATER = np.array([0.16, 0.28, 0.50])
ROAD = np.array([0.36, 0.36, 0.38])


@dataclass
class Scenes:
    """A batch of generated scenes.

    Attributes:
        images: ``(N, 3, S, S)`` float32 in [0, 1].
        semantic: ``(N, S, S)`` int64 class ids (:data:`CLASSES`).
        instances: ``(N, S, S)`` int64 instance ids per scene (0 = none; objects and buildings numbered from 1).
        scene_type: ``(N,)`` int64, 0 = car park (road landmark), 1 = harbour (water landmark).
        landmark: ``(N, S, S)`` bool, the landmark's pixels.
        landmark_frac: ``(N,)`` float, the landmark's share of the image area.
        min_object_distance: ``(N,)`` float, the smallest distance (px) of a small object's pixel to the landmark.
    """

    images: Tensor
    semantic: Tensor
    instances: Tensor
    scene_type: Tensor
    landmark: Tensor
    landmark_frac: np.ndarray
    min_object_distance: np.ndarray

    def __len__(self) -> int:
        return len(self.images)


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    n = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="wrap")
    return n / (n.std() + 1e-8)


def _paint(img: np.ndarray, mask: np.ndarray, colour: np.ndarray, rng: np.random.Generator, noise: float) -> None:
    k = int(mask.sum())
    if k:
        img[:, mask] = (colour[:, None] + noise * rng.standard_normal((3, k))).clip(0, 1)


def make_scenes(n: int, size: int = 48, *, seed: int = 0, min_distance: int = 20,
                landmark_width: tuple[int, int] = (3, 10), n_rows: tuple[int, int] = (2, 4),
                row_length: tuple[int, int] = (3, 6), contrast: float = 0.15, class_gap: float = 0.0,
                n_buildings: tuple[int, int] = (1, 2), n_decoys: int = 4, harbour_share: float = 0.5) -> Scenes:
    """Generate ``n`` top-view scenes (see the module docstring).

    Args:
        n: number of scenes. size: side S in px (≥ 32).
        seed: the generator's seed (the same seed gives the same scenes).
        min_distance: every small object keeps at least this many px (Euclidean) from the landmark.
        landmark_width: (lo, hi) thickness in px of the landmark band (drawn uniformly; sets its area).
        n_rows, row_length: (lo, hi) number of object rows per scene and objects per row (inclusive).
        contrast: the small objects' intensity offset from the ground (sign drawn per object: light or dark).
        class_gap: extra intensity of boats over cars (0 = identical appearance: only context tells them apart).
        n_buildings: (lo, hi) buildings (6–12 px squares, class ``building``) per scene.
        n_decoys: small (3–4 px) patches of water *and* of road texture per scene, anywhere, in both scene types.
        harbour_share: probability that a scene is a harbour.

    Returns:
        :class:`Scenes` (tensors on the CPU).
    """
    if size < 32:
        raise ParameterError(f"size={size} is too small: use size >= 32")
    if not 0 <= harbour_share <= 1:
        raise ParameterError(f"harbour_share={harbour_share} must be in [0, 1]")
    for name, (lo, hi) in (("landmark_width", landmark_width), ("n_rows", n_rows), ("row_length", row_length),
                           ("n_buildings", n_buildings)):
        if lo > hi or lo < 0:
            raise ParameterError(f"{name}={(lo, hi)} must be (lo, hi) with 0 <= lo <= hi")
    if landmark_width[0] < 1 or landmark_width[1] + min_distance + 4 > size:
        raise ParameterError(f"landmark_width={landmark_width} and min_distance={min_distance} leave no room for "
                             f"objects in a {size}-px scene: lower them or raise size")
    if n < 1:
        raise ParameterError(f"n={n} must be >= 1")
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, 3, size, size), np.float32)
    sem = np.zeros((n, size, size), np.int64)
    inst = np.zeros((n, size, size), np.int64)
    types = (rng.random(n) < harbour_share).astype(np.int64)
    land = np.zeros((n, size, size), bool)
    fracs, dists = np.zeros(n), np.zeros(n)
    for i in range(n):
        img = GROUND[:, None, None] + 0.05 * _smooth_noise(rng, size, 3.0)[None] \
            + 0.03 * rng.standard_normal((3, size, size))
        # the landmark: a band along one random edge, rotated into place
        w = int(rng.integers(landmark_width[0], landmark_width[1] + 1))
        band = np.zeros((size, size), bool)
        band[:w] = True
        band = np.rot90(band, int(rng.integers(4))).copy()
        harbour = bool(types[i])
        if harbour:
            _paint(img, band, WATER, rng, 0.02)
        else:
            _paint(img, band, ROAD, rng, 0.02)
            # dashed centre line (road markings)
            axis_rows = np.argwhere(band)
            horizontal = axis_rows[:, 0].max() - axis_rows[:, 0].min() < axis_rows[:, 1].max() - axis_rows[:, 1].min()
            c = int(round(axis_rows[:, 0 if horizontal else 1].mean()))
            line = np.zeros_like(band)
            dash = (np.arange(size) // 3) % 2 == 0
            if horizontal:
                line[c, dash] = True
            else:
                line[dash, c] = True
            _paint(img, line & band, np.array([0.85, 0.85, 0.8]), rng, 0.02)
        land[i] = band
        fracs[i] = band.mean()
        dist = ndimage.distance_transform_edt(~band)
        # decoys: small patches of both landmark textures, anywhere outside the band
        for colour in (WATER, ROAD):
            for _ in range(n_decoys):
                s = int(rng.integers(3, 5))
                r, c = rng.integers(0, size - s, 2)
                patch = np.zeros((size, size), bool)
                patch[r:r + s, c:c + s] = True
                patch &= ~band
                _paint(img, patch, colour, rng, 0.02)
        free = ~band & (dist >= 2)
        obj_id = 1
        # buildings: brighter squares with a dark outline, away from the band
        for _ in range(int(rng.integers(n_buildings[0], n_buildings[1] + 1))):
            for _try in range(20):
                s = int(rng.integers(6, 13))
                r, c = rng.integers(0, size - s, 2)
                box = (slice(r, r + s), slice(c, c + s))
                if free[box].all():
                    m = np.zeros((size, size), bool)
                    m[box] = True
                    _paint(img, m, GROUND + 0.22, rng, 0.03)
                    edge = m & ~ndimage.binary_erosion(m)
                    _paint(img, edge, GROUND - 0.2, rng, 0.02)
                    sem[i][m] = BUILDING
                    inst[i][m] = obj_id
                    obj_id += 1
                    free &= ~ndimage.binary_dilation(m, iterations=1)
                    break
        # small objects in clustered rows, all at >= min_distance from the band
        allowed = free & (dist >= min_distance)
        cls = BOAT if harbour else CAR
        dmin = np.inf
        for _ in range(int(rng.integers(n_rows[0], n_rows[1] + 1))):
            vertical = bool(rng.integers(2))
            h, wd = (3, 2) if vertical else (2, 3)
            step = (0, wd + 1) if vertical else (h + 1, 0)
            k = int(rng.integers(row_length[0], row_length[1] + 1))
            for _try in range(20):
                r0, c0 = int(rng.integers(0, size - h)), int(rng.integers(0, size - wd))
                boxes = [(r0 + j * step[0], c0 + j * step[1]) for j in range(k)]
                if all(r + h <= size and c + wd <= size and allowed[r:r + h, c:c + wd].all() for r, c in boxes):
                    break
            else:
                continue
            for r, c in boxes:
                m = np.zeros((size, size), bool)
                m[r:r + h, c:c + wd] = True
                sign = 1.0 if rng.random() < 0.5 else -1.0
                colour = img[:, m].mean(1) + sign * contrast + (class_gap if harbour else 0.0)
                _paint(img, m, colour, rng, 0.02)
                sem[i][m] = cls
                inst[i][m] = obj_id
                obj_id += 1
                allowed &= ~ndimage.binary_dilation(m, iterations=1)
                dmin = min(dmin, float(dist[m].min()))
        imgs[i] = img.clip(0, 1)
        dists[i] = dmin
    return Scenes(torch.from_numpy(imgs), torch.from_numpy(sem), torch.from_numpy(inst), torch.from_numpy(types),
                  torch.from_numpy(land), fracs, dists)


# ------------------------------------------------------------------------------------------------- metrics
def confusion(pred: Tensor | np.ndarray, target: Tensor | np.ndarray, n_classes: int = len(CLASSES)) -> np.ndarray:
    """``(C, C)`` pixel confusion matrix, rows = true class, columns = predicted (counts)."""
    p = np.asarray(pred).reshape(-1).astype(np.int64)
    t = np.asarray(target).reshape(-1).astype(np.int64)
    if p.shape != t.shape:
        raise ParameterError(f"pred and target need the same number of pixels, got {p.size} and {t.size}")
    if p.size and (p.min() < 0 or t.min() < 0 or p.max() >= n_classes or t.max() >= n_classes):
        raise ParameterError(f"class ids must lie in [0, {n_classes})")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def iou(conf: np.ndarray) -> np.ndarray:
    """``(C,)`` intersection over union per class, ``TP / (TP + FP + FN)``, from a confusion matrix (NaN if absent)."""
    conf = np.asarray(conf, dtype=float)
    tp = np.diag(conf)
    denom = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, tp / np.where(denom > 0, denom, 1), np.nan)


def instance_recall(pred: Tensor | np.ndarray, semantic: Tensor | np.ndarray, instances: Tensor | np.ndarray,
                    classes: tuple[int, ...] = (CAR, BOAT), min_share: float = 0.5) -> float:
    """Share of ground-truth instances of ``classes`` whose pixels are predicted as their own class for at least
    ``min_share`` of their area (a per-object view of small-object segmentation). Inputs ``(N, S, S)``."""
    pred, sem, ins = (np.asarray(a) for a in (pred, semantic, instances))
    hit = total = 0
    for p, s, m in zip(pred, sem, ins):
        for k in np.unique(m[np.isin(s, classes)]):
            px = m == k
            c = s[px][0]
            total += 1
            hit += (p[px] == c).mean() >= min_share
    return hit / total if total else float("nan")


# ------------------------------------------------------------------------------------------------- the mini-FPN
def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Backbone(nn.Module):
    """Three conv stages at strides 1, 2, 4 (two 3×3 conv–BN–ReLU each; the first conv of stages 2 and 3 strides 2).

    ``dilation`` sets the dilation of the *second* conv of stages 2 and 3 (1 = plain; larger = a wider receptive
    field at the same parameter count). Input ``(N, in_ch, S, S)``; output a list of ``(N, width, S/2^l, S/2^l)``.
    """

    def __init__(self, in_ch: int = 3, width: int = 16, dilation: int = 1):
        super().__init__()
        if width < 1 or dilation < 1:
            raise ParameterError(f"width={width} and dilation={dilation} must be >= 1")
        self.stages = nn.ModuleList([
            nn.Sequential(_conv(in_ch, width), _conv(width, width)),
            nn.Sequential(_conv(width, width, 2), _conv(width, width, dilation=dilation)),
            nn.Sequential(_conv(width, width, 2), _conv(width, width, dilation=dilation)),
        ])
        self.width = width

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


class FPNNeck(nn.Module):
    """The plain FPN neck (Lin et al. 2017): 1×1 laterals ``L_i``, top-down ``P_top = L_top``,
    ``P_i = L_i + up(P_{i+1})``, then a 3×3 conv on each level. Lists of ``(N, width, ·, ·)`` in and out."""

    def __init__(self, width: int, levels: int = 3):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(levels))
        self.out = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(levels))

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        p = [None] * len(lat)
        p[-1] = lat[-1]
        for i in range(len(lat) - 2, -1, -1):
            p[i] = lat[i] + F.interpolate(p[i + 1], size=lat[i].shape[2:], mode="bilinear", align_corners=False)
        return [conv(x) for conv, x in zip(self.out, p)]


class DenseHead(nn.Module):
    """Sum of all levels upsampled to the finest, then 3×3 conv–ReLU and a 1×1 classifier:
    list of ``(N, width, ·, ·)`` → ``(N, n_classes, S, S)`` logits."""

    def __init__(self, width: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, n_classes, 1))

    def forward(self, feats: list[Tensor]) -> Tensor:
        size = feats[0].shape[2:]
        x = feats[0] + sum(F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in feats[1:])
        return self.body(x)


class PyramidSegmenter(nn.Module):
    """Backbone → neck → optional per-level ``context`` → dense head: ``(N, 3, S, S)`` → ``(N, C, S, S)`` logits.

    ``neck`` and ``context`` are any modules mapping a list of level tensors to a list of the same shapes (``None``:
    a plain :class:`FPNNeck`, no context). :meth:`levels` returns the list that enters the head.
    """

    def __init__(self, n_classes: int = len(CLASSES), width: int = 16, in_ch: int = 3, dilation: int = 1,
                 neck: nn.Module | None = None, context: nn.Module | None = None):
        super().__init__()
        self.backbone = Backbone(in_ch, width, dilation)
        self.neck = neck if neck is not None else FPNNeck(width)
        self.context = context
        self.head = DenseHead(width, n_classes)

    def levels(self, x: Tensor) -> list[Tensor]:
        feats = self.neck(self.backbone(x))
        return list(self.context(feats)) if self.context is not None else list(feats)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.levels(x))


def n_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def receptive_field(dilation: int = 1) -> int:
    """Receptive field (px, one side to the other) of the :class:`Backbone`'s coarsest level, from the layer
    arithmetic ``r += (k − 1)·d·j`` (``j`` the input stride of the layer)."""
    r, j = 1, 1
    for k, s, d in ((3, 1, 1), (3, 1, 1), (3, 2, 1), (3, 1, dilation), (3, 2, 1), (3, 1, dilation)):
        r += (k - 1) * d * j
        j *= s
    return r


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch: int = 256) -> Tensor:
    """``(N, S, S)`` argmax class per pixel (eval mode, on the model's device, returned on the CPU)."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model(images[i:i + batch].to(dev)).argmax(1).cpu() for i in range(0, len(images), batch)])


__all__ = [
    "BACKGROUND",
    "BOAT",
    "BUILDING",
    "CAR",
    "CLASSES",
    "SCENE_TYPES",
    "Backbone",
    "DenseHead",
    "FPNNeck",
    "PyramidSegmenter",
    "Scenes",
    "confusion",
    "instance_recall",
    "iou",
    "make_scenes",
    "n_params",
    "predict",
    "receptive_field",
]

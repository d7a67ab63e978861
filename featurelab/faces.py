"""Cartoon faces with known identity, and face encoders trained on disjoint identity pools.

The course has no face photographs and no pretrained face-recognition model, so identity-conditioned generation
(Arc2Face) and personalised portraits (FaceChain) run on a parametric stand-in:

- An **identity** is five numbers in [0, 1] (:data:`IDENTITY_PARAMS`: face width, eye spacing, eye size, nose
  length, mouth width). Identity ``k`` (any non-negative integer) always has the same parameters
  (:func:`identity_params`), so identity pools are just disjoint integer ranges (:data:`POOLS`).
- **Nuisance** factors change a photo but not who it shows: a pose shift, lighting from one side, an expression
  (mouth curvature), a hair style and a background pattern (:class:`Nuisance`). Hair and background are discrete
  (3 each), so a notebook can treat them as a "style" or a "prompt".
- :func:`render_faces` draws grey ``(N, 1, S, S)`` images in [0, 1] with soft (anti-aliased) shapes.

A **face encoder** (:func:`face_encoder`) maps a photo to a unit-norm embedding; it is trained with the CosFace loss
(Wang et al. 2018, "CosFace: Large Margin Cosine Loss for Deep Face Recognition", eq. 4) to tell apart the
identities of one pool, and judged on identities it never saw (:func:`verification_auc`). Two encoders of
different architecture, trained on disjoint pools with different seeds, give a notebook a model that steers (φ)
and an independent judge (φ′), as face-recognition papers do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import cache
from .base import ParameterError
from .models import Net
from .train import fit

IDENTITY_PARAMS = ("face_width", "eye_spacing", "eye_size", "nose_length", "mouth_width")
N_HAIR = 3          # 0 = cap, 1 = long sides, 2 = fringe
N_BACKGROUND = 3    # 0 = flat, 1 = stripes, 2 = checks

#: Disjoint identity pools (integer ranges): each encoder trains on its own pool; generators and test
#: identities come from the others, so no judged identity was ever seen by the judge.
POOLS = {
    "phi": range(0, 2_000),
    "phi_prime": range(2_000, 4_000),
    "generator": range(10_000, 60_000),
    "test": range(100_000, 110_000),
}


def identity_params(ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """The identity parameters of identities ``ids`` ``(N,)`` → ``(N, 5)`` in [0, 1] (fixed per identity)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if (ids < 0).any():
        raise ParameterError("identity ids must be non-negative integers")
    return np.stack([np.random.default_rng([0xFACE, int(k)]).random(len(IDENTITY_PARAMS)) for k in ids]) \
        if len(ids) else np.zeros((0, len(IDENTITY_PARAMS)))


@dataclass(frozen=True)
class Nuisance:
    """Per-photo nuisance factors, each ``(N,)``: ``dx, dy`` pose shift (fraction of the half-width), ``light``
    in [−1, 1] (side lighting), ``expression`` in [−1, 1] (frown … smile), ``hair`` and ``background`` ints 0–2."""

    dx: np.ndarray
    dy: np.ndarray
    light: np.ndarray
    expression: np.ndarray
    hair: np.ndarray
    background: np.ndarray

    def __len__(self) -> int:
        return len(self.dx)

    def take(self, idx: np.ndarray | Sequence[int]) -> Nuisance:
        """The rows ``idx``."""
        idx = np.asarray(idx)
        return Nuisance(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def sample_nuisance(n: int, rng: np.random.Generator, *, pose: float = 0.08, light: float = 0.6,
                    expression: float = 1.0, hair: int | Sequence[int] | None = None,
                    background: int | Sequence[int] | None = None) -> Nuisance:
    """``n`` random nuisance draws. ``pose``, ``light``, ``expression``: ranges (0 = fixed); ``hair`` /
    ``background``: a fixed value, a set of allowed values, or ``None`` for all three."""
    if n < 0 or pose < 0 or light < 0 or expression < 0:
        raise ParameterError("n and the nuisance ranges must be non-negative")

    def choice(v, k: int) -> np.ndarray:
        allowed = range(k) if v is None else np.atleast_1d(v)
        if not all(0 <= a < k for a in allowed):
            raise ParameterError(f"hair / background values must be in 0..{k - 1}, got {v}")
        return rng.choice(np.asarray(allowed, dtype=np.int64), size=n)

    u = lambda r: rng.uniform(-r, r, n)  # noqa: E731
    return Nuisance(u(pose), u(pose), u(light), u(expression), choice(hair, N_HAIR), choice(background, N_BACKGROUND))


def _soft(d: Tensor, size: int) -> Tensor:
    """A soft inside-indicator for a signed distance-like ``d`` (> 0 inside), edge about one pixel wide."""
    return torch.sigmoid(d * size / 1.5)


def render_faces(identity: np.ndarray | Tensor, nuisance: Nuisance, size: int = 24, *, noise: float = 0.0,
                 rng: np.random.Generator | None = None) -> Tensor:
    """Draw faces: ``identity`` ``(N, 5)`` in [0, 1] and ``nuisance`` of length ``N`` → ``(N, 1, size, size)``.

    Layout in coordinates ``u`` (left→right) and ``v`` (top→bottom) in [−1, 1], shifted by the pose: a face
    ellipse (width from ``face_width``), two eyes (``eye_spacing``, ``eye_size``), a nose bar (``nose_length``), a
    mouth arc (``mouth_width``, curved by the expression), hair and background by their style, and side lighting
    on the skin. ``noise``: std of added pixel noise (needs ``rng``).
    """
    p = torch.as_tensor(np.asarray(identity), dtype=torch.float32)
    if p.ndim != 2 or p.shape[1] != len(IDENTITY_PARAMS) or len(p) != len(nuisance):
        raise ParameterError(f"identity must be (N, {len(IDENTITY_PARAMS)}) with N = len(nuisance)")
    if size < 8:
        raise ParameterError(f"size must be ≥ 8 pixels, got {size}")
    if noise > 0 and rng is None:
        raise ParameterError("pixel noise needs an rng")
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)[:, None, None]  # noqa: E731
    g = torch.linspace(-1, 1, size)
    v0, u0 = torch.meshgrid(g, g, indexing="ij")
    u, v = u0[None] - t(nuisance.dx), v0[None] - t(nuisance.dy)
    width, spacing, eye, nose, mouth = (p[:, i, None, None] for i in range(5))

    bg_kind = t(nuisance.background)
    stripes = 0.55 + 0.3 * torch.sin(5 * np.pi * u0)[None]
    checks = 0.55 + 0.3 * torch.sign(torch.sin(4 * np.pi * u0) * torch.sin(4 * np.pi * v0))[None]
    img = torch.where(bg_kind == 0, torch.full_like(u, 0.85), torch.where(bg_kind == 1, stripes, checks))

    a, b = 0.45 + 0.25 * width, 0.78
    face = _soft(1 - ((u / a) ** 2 + (v / b) ** 2).sqrt(), size)
    skin = 0.62 * (1 + 0.3 * t(nuisance.light) * u)
    img = img * (1 - face) + skin * face

    hair_kind = t(nuisance.hair)
    outer = _soft(1 - ((u / (a + 0.12)) ** 2 + ((v + 0.05) / (b + 0.12)) ** 2).sqrt(), size)
    cap = outer * _soft(-0.45 - v, size)
    sides = outer * _soft(u.abs() - 0.8 * a, size) * _soft(0.35 - v, size)
    fringe = outer * _soft(-0.3 + 0.06 * torch.sin(9 * u) - v, size)
    hair = torch.where(hair_kind == 0, cap, torch.where(hair_kind == 1, torch.maximum(cap, sides), fringe))
    img = img * (1 - hair) + 0.18 * hair

    ex, ey, er = 0.12 + 0.18 * spacing, -0.18, 0.05 + 0.06 * eye
    for sign in (-1.0, 1.0):
        e = _soft(er - ((u - sign * ex) ** 2 + ((v - ey) / 0.8) ** 2).sqrt(), size) * face
        img = img * (1 - e) + 0.05 * e
    top, length = -0.08, 0.1 + 0.25 * nose
    nb = _soft(0.045 - u.abs(), size) * _soft(v - top, size) * _soft(top + length - v, size) * face
    img = img * (1 - nb) + 0.35 * nb
    mw, cy = 0.12 + 0.2 * mouth, 0.48
    curve = cy - 0.12 * t(nuisance.expression) * (1 - (u / mw).clamp(-1, 1) ** 2)
    mo = _soft(mw - u.abs(), size) * _soft(0.045 - (v - curve).abs(), size) * face
    img = img * (1 - mo) + 0.12 * mo

    if noise > 0:
        img = img + noise * torch.as_tensor(rng.standard_normal(img.shape), dtype=torch.float32)
    return img.clamp(0, 1)[:, None]


@dataclass(frozen=True)
class FaceData:
    """Photos ``x`` ``(N, 1, S, S)``, their identity ids ``ids`` ``(N,)``, identity parameters ``params``
    ``(N, 5)`` and nuisance factors."""

    x: Tensor
    ids: np.ndarray
    params: np.ndarray
    nuisance: Nuisance


def face_dataset(ids: Sequence[int] | np.ndarray, per_identity: int, seed: int, size: int = 24, *,
                 noise: float = 0.02, **nuisance_kw) -> FaceData:
    """``per_identity`` photos of every identity in ``ids`` (grouped by identity), nuisance drawn by ``seed``;
    ``nuisance_kw`` go to :func:`sample_nuisance` (e.g. ``hair=0`` for one style)."""
    if per_identity < 1:
        raise ParameterError(f"per_identity must be ≥ 1, got {per_identity}")
    ids = np.repeat(np.asarray(ids, dtype=np.int64), per_identity)
    rng = np.random.default_rng(seed)
    params = identity_params(ids)
    nz = sample_nuisance(len(ids), rng, **nuisance_kw)
    return FaceData(render_faces(params, nz, size, noise=noise, rng=rng), ids, params, nz)


# --------------------------------------------------------------------------------------------------- encoders
class CosineHead(nn.Module):
    """Class scores ``cos θ_j = ŵ_j · ẑ`` for unit embeddings ``z`` ``(N, D)`` → ``(N, K)`` (no bias)."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) * 0.1)

    def forward(self, z: Tensor) -> Tensor:
        return F.normalize(z, dim=-1) @ F.normalize(self.weight, dim=-1).T


ARCHS = ("a", "b")


def face_encoder(arch: str = "a", size: int = 24, dim: int = 32, n_identities: int = 400) -> Net:
    """A small CNN face encoder: ``features`` maps ``(N, 1, size, size)`` → ``(N, dim)`` (use :func:`embed` for unit
    rows); ``head`` is a :class:`CosineHead` over the training identities. Two architectures so that a judge can
    differ from the model it judges: ``"a"`` 3×3 convs 16-32, ReLU, max-pooling and a 128-wide hidden layer;
    ``"b"`` 5×5 convs 16-32, GELU, average pooling and a 96-wide hidden layer."""
    if arch not in ARCHS:
        raise ParameterError(f"arch must be one of {ARCHS}, got {arch!r}")
    if min(size, dim, n_identities) < 1 or size < 8:
        raise ParameterError("size (≥ 8), dim and n_identities must be positive")
    side = size // 4
    if arch == "a":
        layers: list[nn.Module] = [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                   nn.Flatten(), nn.Linear(32 * side * side, 128), nn.ReLU(), nn.Linear(128, dim)]
    else:
        layers = [nn.Conv2d(1, 16, 5, padding=2), nn.GELU(), nn.AvgPool2d(2),
                  nn.Conv2d(16, 32, 5, padding=2), nn.GELU(), nn.AvgPool2d(2),
                  nn.Flatten(), nn.Linear(32 * side * side, 96), nn.GELU(), nn.Linear(96, dim)]
    return Net(nn.Sequential(*layers), CosineHead(dim, n_identities))


def cosface_loss(model: Net, x: Tensor, y: Tensor, s: float = 16.0, m: float = 0.2) -> Tensor:
    """CosFace (Wang et al. 2018, eq. 4): cross-entropy over ``s · (cos θ_j − m·[j = y])`` — the true identity must
    win by a cosine margin ``m``. Signature fits ``featurelab.train.fit(batch_loss=...)``."""
    cos = model(x)
    return F.cross_entropy(s * (cos - m * F.one_hot(y, cos.shape[1])), y)


@torch.no_grad()
def embed(model: Net, x: Tensor, batch_size: int = 1024) -> Tensor:
    """Unit-norm embeddings ``(N, dim)`` of photos ``x`` ``(N, 1, S, S)``."""
    was = model.training
    model.eval()
    z = torch.cat([model.features(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was)
    return F.normalize(z, dim=-1)


def verification_auc(z: Tensor, ids: np.ndarray) -> float:
    """ROC AUC of cosine similarity for same- vs different-identity pairs over all pairs of rows of ``z`` ``(N, D)``
    (``ids`` ``(N,)``): 0.5 = chance, 1 = every same pair scores above every different pair."""
    from sklearn.metrics import roc_auc_score

    ids = np.asarray(ids)
    iu = np.triu_indices(len(ids), 1)
    sim = (F.normalize(z, dim=-1) @ F.normalize(z, dim=-1).T).cpu().numpy()[iu]
    same = ids[iu[0]] == ids[iu[1]]
    if same.all() or not same.any():
        raise ParameterError("verification needs at least one same- and one different-identity pair")
    return float(roc_auc_score(same, sim))


@dataclass(frozen=True)
class EncoderRecipe:
    """How a cached face encoder is trained (its fields key the model cache)."""

    pool: str = "phi"
    arch: str = "a"
    size: int = 24
    dim: int = 32
    n_identities: int = 400
    per_identity: int = 6
    steps: int = 400
    batch_size: int = 128
    lr: float = 3e-3
    margin: float = 0.2
    scale: float = 16.0


#: The course's two standard encoders: φ steers, φ′ (other pool, other architecture) judges.
ENCODERS = {"phi": EncoderRecipe(pool="phi", arch="a"), "phi_prime": EncoderRecipe(pool="phi_prime", arch="b")}


def trained_encoder(recipe: EncoderRecipe | str = "phi", seed: int = 0, *, refresh: bool = False,
                    progress: bool | None = None) -> tuple[Net, cache.CacheInfo]:
    """A face encoder trained once on the first ``n_identities`` of its pool (CosFace, Adam) and cached.

    ``recipe``: an :class:`EncoderRecipe` or a name in :data:`ENCODERS`. ``info.meta["val_auc"]`` is its
    verification AUC on 100 identities of the ``test`` pool it never saw."""
    if isinstance(recipe, str):
        if recipe not in ENCODERS:
            raise ParameterError(f"unknown encoder {recipe!r}; use one of {', '.join(ENCODERS)} or an EncoderRecipe")
        recipe = ENCODERS[recipe]
    if recipe.pool not in ("phi", "phi_prime"):
        raise ParameterError(f"encoders train on the 'phi' or 'phi_prime' pool, got {recipe.pool!r}")
    pool = POOLS[recipe.pool]
    if not 2 <= recipe.n_identities <= len(pool):
        raise ParameterError(f"n_identities must be in 2..{len(pool)}")

    def build() -> Net:
        # seeded here so that a cold cache gives the same encoder in every process (phi_prime: seed + 1)
        torch.manual_seed(seed + (recipe.pool == "phi_prime"))
        return face_encoder(recipe.arch, recipe.size, recipe.dim, recipe.n_identities)

    def train(model: Net) -> dict:
        torch.manual_seed(seed)
        data = face_dataset(pool[:recipe.n_identities], recipe.per_identity, seed=seed, size=recipe.size)
        y = torch.as_tensor(data.ids - pool.start)
        fit(model, data.x, y, steps=recipe.steps, batch_size=recipe.batch_size, lr=recipe.lr, seed=seed,
            batch_loss=lambda m, xb, yb: cosface_loss(m, xb, yb, recipe.scale, recipe.margin),
            progress_bar=progress, desc=f"face encoder {recipe.pool}")
        val = face_dataset(POOLS["test"][:100], 4, seed=seed + 1, size=recipe.size)
        return {"val_auc": verification_auc(embed(model, val.x), val.ids)}

    # committed (COURSE_GUIDE §5): the course's "pretrained" face models, shared by the notebooks that use faces
    return cache.load_or_train(f"face_encoder_{recipe.pool}", recipe, seed, build, train, refresh=refresh,
                               commit=True)

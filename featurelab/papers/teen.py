"""TEEN: training-free calibration of new-class prototypes in few-shot class-incremental learning.

Wang, Zhou, Zhang, Zhan & Ye, *Few-Shot Class-Incremental Learning via Training-Free Prototype Calibration*,
NeurIPS 2023, arXiv:2312.05229; official code github.com/wangkiw/TEEN (``models/base/fscil_trainer.py``:
``replace_base_fc`` and ``soft_calibration``). Used by ``notebooks/04_transferring_features/04_teen.ipynb``.

**Setting (FSCIL).** A backbone with a cosine classifier is trained on the base classes and frozen. Before
the incremental sessions the classifier's base rows are *replaced* by the normalised class-mean features of the
base training data (``replace_base_fc``). Each incremental session adds a few classes with ``K`` shots each; a new
class's prototype is the mean feature of its shots (NCM). Every test image is classified by
``s · cos(f(x), p_c)`` over all classes seen so far.

**Observation (the paper's analysis, before the method).** New-class images are mostly misclassified into *similar base classes*, although the
frozen backbone does encode which base classes are similar to a new class.

**TEEN (the method section; official ``soft_calibration``).** With all prototypes L2-normalised, calibrate each prototype of
the *current session* (never a base one) towards a similarity-weighted mix of the base prototypes::

    w_{n,b} = softmax_b( τ · cos(p̄_n, p̄_b) )                 (only base classes in the softmax)
    p̂_n   = (1 − α) · p̄_n + α · normalize( Σ_b w_{n,b} p̄_b )

Official values: τ (``softmax_t``) = 16; α (``shift_weight``) = 0.1 (CIFAR-100) or 0.5 (miniImageNet, CUB);
classifier temperature 16 (CIFAR). Here α = 0.2 (the card's prototype check; fixed before any claim was set).

**What this module asserts** (paired per seed against NCM, α = 0, on the same backbone and the same shots):
TEEN raises new-class accuracy and the harmonic mean of base and new accuracy, and lowers the share of new-class
test images classified as a base class (new→base errors). Permuting or flattening the similarity weights reverses
all three. Reported, not asserted: the sceptic's baseline — a constant added to every new-class logit, matched to
TEEN's new-class accuracy — costs the same base accuracy as TEEN (within ±0.006 per backbone), so at this scale
TEEN's trade-off is the logit bias's trade-off (design note ``results/calibration/notes/teen.md``).

Simplifications for scale (named): a LeNet-style CNN (:func:`featurelab.models.cnn`) on 14×14 Fashion-MNIST
with a cosine head instead of a ResNet on CIFAR-100 / miniImageNet / CUB; 6 base and 4 new classes in 2 sessions
instead of 60/100 base classes and 8–10 sessions; a few Adam epochs instead of 100–600 SGD epochs; no
augmentation. Each backbone is trained once per seed and cached (:mod:`featurelab.cache`): calibration is
training-free, so every arm (NCM, TEEN, the swaps) is evaluated on the same cached backbone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import cache
from ..base import ParameterError
from ..claims import ClaimSpec
from ..data import balanced_indices, load_fashion_mnist
from ..experiment import Knobs, Swap, knob
from ..models import cnn
from ..train import fit

#: Fashion-MNIST class ids in the order used here: 6 base classes, then the new classes session by session.
BASE_CLASSES = (0, 1, 2, 3, 5, 8)          # T-shirt/top, trouser, pullover, dress, sandal, bag
SESSIONS = ((4, 6), (7, 9))                # {coat, shirt}, {sneaker, ankle boot}
ORDER = BASE_CLASSES + tuple(c for s in SESSIONS for c in s)
N_BASE = len(BASE_CLASSES)
WEIGHTS = ("similarity", "shuffled", "uniform")
ARMS = ("teen", "logit_bias")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Every run trains (or loads from the cache) ``n_seeds`` base backbones and evaluates, on each, ``n_samplings``
    random few-shot draws of the new classes. Each draw is scored with NCM (α = 0, the baseline) and with the
    *arm* (the preset: TEEN with the knobs below).

    Attributes:
        n_base_train: base-class training images (class-balanced). image_size: side of the images (28 or less).
        widths, hidden: the CNN's conv widths and feature width. epochs, batch_size, lr: base training (Adam).
        scale: s of the cosine classifier ``s·cos`` (training and evaluation).
        shots: images per new class. n_samplings: few-shot draws per backbone. pool_per_class: training images
            of each new class the shots are drawn from. n_test: test images per class.
        alpha: TEEN's α (``shift_weight``; 0 = NCM). tau: τ of the similarity softmax (``softmax_t``).
        weights: the weights of the base mix: ``similarity`` (the paper), ``shuffled`` (the same weights permuted
            across base classes) or ``uniform`` (1/B each).
        arm: ``teen`` or ``logit_bias`` (the sceptic: NCM prototypes plus a constant on every new-class logit, the
            constant chosen per draw so that the new-class accuracy matches TEEN's with the same α, τ).
        arm_shot_offset: added to the seed of the arm's few-shot draws (10 000 with α = 0: NCM against NCM on
            independent shots, the noise null; 0 = the arm uses the baseline's shots).
    """

    n_base_train: int = knob(4800, lo=60, hi=36000, doc="base-class training images")
    image_size: int = knob(14, lo=8, hi=28, doc="image side (downsampled from 28)")
    widths: tuple = knob((8, 16), lo=1, doc="conv widths of the CNN")
    hidden: int = knob(64, lo=2, doc="feature width")
    epochs: int = knob(3, lo=0, doc="base-training epochs (0 = untrained backbone)")
    batch_size: int = knob(128, lo=1)
    lr: float = knob(2e-3, lo=0.0, lo_open=True)
    scale: float = knob(16.0, lo=0.0, lo_open=True, doc="s of the cosine classifier")
    shots: int = knob(5, lo=1, hi=200, doc="images per new class")
    n_samplings: int = knob(40, lo=1, doc="few-shot draws per backbone")
    pool_per_class: int = knob(600, lo=1, hi=6000, doc="training images per new class the shots are drawn from")
    n_test: int = knob(400, lo=10, hi=1000, doc="test images per class")
    alpha: float = knob(0.2, lo=0.0, hi=1.0, doc="TEEN's α (0 = NCM)")
    tau: float = knob(16.0, lo=0.0, doc="τ of the similarity softmax")
    weights: str = knob("similarity", choices=WEIGHTS, doc="weights of the base mix")
    arm: str = knob("teen", choices=ARMS, doc="the compared arm")
    arm_shot_offset: int = knob(0, lo=0, doc="offset of the arm's few-shot draws")
    n_seeds: int = knob(3, lo=1, doc="base backbones (seeds)")

    def validate(self) -> None:
        if self.image_size // 2 ** len(self.widths) < 1:
            raise ParameterError(f"IMAGE_SIZE={self.image_size} is too small for {len(self.widths)} pooling stages")
        if self.shots > self.pool_per_class:
            raise ParameterError(f"SHOTS={self.shots} must not exceed POOL_PER_CLASS={self.pool_per_class}")

    def backbone(self) -> dict:
        """The settings the base backbone depends on (the cache key): the arms share one backbone per seed."""
        keys = ("n_base_train", "image_size", "widths", "hidden", "epochs", "batch_size", "lr", "scale")
        return {k: getattr(self, k) for k in keys}


PRESETS = {
    "small": Config(),
    "full": Config(n_base_train=36000, image_size=28, widths=(32, 64), hidden=128, epochs=10, n_samplings=50,
                   pool_per_class=6000, n_test=1000, n_seeds=5),
}
SMOKE = {"n_base_train": 120, "epochs": 1, "n_samplings": 2, "pool_per_class": 10, "n_test": 20, "n_seeds": 1}


# ----------------------------------------------------------------------------------------------- the mechanism
def soft_calibration(new_protos: Tensor, base_protos: Tensor, alpha: float, tau: float,
                     weights: str = "similarity", generator: torch.Generator | None = None) -> Tensor:
    """TEEN's calibration (official ``soft_calibration``) of the current session's prototypes.

    Args:
        new_protos: ``(N, d)`` mean features of the new classes' shots (any norm).
        base_protos: ``(B, d)`` base prototypes (normalised here anyway).
        alpha: α; ``0`` returns the normalised NCM prototypes.
        tau: τ of the softmax over the base classes.
        weights: ``similarity`` (the paper), ``shuffled`` (each row of the paper's weights permuted across the
            base classes, ``generator`` draws the permutations) or ``uniform`` (1/B).

    Returns:
        ``(N, d)`` calibrated prototypes ``(1 − α)·p̄_n + α·normalize(Σ_b w_{n,b} p̄_b)`` (not renormalised, as in
        the official code; the cosine classifier normalises them).
    """
    if weights not in WEIGHTS:
        raise ParameterError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    p_new = F.normalize(new_protos, dim=-1)
    p_base = F.normalize(base_protos, dim=-1)
    w = similarity_weights(p_new, p_base, tau)
    if weights == "shuffled":
        perm = torch.stack([torch.randperm(w.shape[1], generator=generator) for _ in range(w.shape[0])])
        w = torch.gather(w, 1, perm)
    elif weights == "uniform":
        w = torch.full_like(w, 1.0 / w.shape[1])
    mix = F.normalize(w @ p_base, dim=-1)
    return (1 - alpha) * p_new + alpha * mix


def similarity_weights(new_protos: Tensor, base_protos: Tensor, tau: float) -> Tensor:
    """``(N, B)`` softmax over base classes of ``τ · cos(p̄_n, p̄_b)`` (each row sums to 1)."""
    cos = F.normalize(new_protos, dim=-1) @ F.normalize(base_protos, dim=-1).T
    return torch.softmax(tau * cos, dim=1)


def cosine_logits(feats: Tensor, protos: Tensor, scale: float) -> Tensor:
    """``(M, C)`` logits ``s · cos(f, p_c)`` of features ``(M, d)`` against prototypes ``(C, d)``."""
    return scale * F.normalize(feats, dim=-1) @ F.normalize(protos, dim=-1).T


def class_means(feats: Tensor, y: Tensor, n_classes: int) -> Tensor:
    """``(n_classes, d)`` mean feature of each class (``replace_base_fc`` then normalises them)."""
    out = torch.zeros(n_classes, feats.shape[1], dtype=feats.dtype)
    out.index_add_(0, y, feats)
    return out / torch.bincount(y, minlength=n_classes).clamp(min=1).unsqueeze(1).to(feats.dtype)


class CosineClassifier(nn.Module):
    """``s · cos(x, w_c)``: the FSCIL backbone's training head (weights ``(C, d)``)."""

    def __init__(self, dim: int, n_classes: int, scale: float):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_classes, dim) * 0.1)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        return cosine_logits(x, self.weight, self.scale)


# ----------------------------------------------------------------------------------------------- evaluation
def scores(logits: Tensor, y: Tensor) -> dict[str, float]:
    """Accuracies after the last session from ``(M, 10)`` logits and labels ``(M,)`` (classes 0–5 base, 6–9 new).

    ``base``: accuracy on base-class test images; ``new``: on new-class ones; ``hm``: their harmonic mean;
    ``n2b``: share of new-class test images predicted as *some* base class; ``b2n``: share of base-class images
    predicted as some new class.
    """
    pred = logits.argmax(1)
    is_new = y >= N_BASE
    base = (pred[~is_new] == y[~is_new]).float().mean().item()
    new = (pred[is_new] == y[is_new]).float().mean().item()
    hm = 2 * base * new / (base + new) if base + new > 0 else 0.0
    return {"base": base, "new": new, "hm": hm, "n2b": (pred[is_new] < N_BASE).float().mean().item(),
            "b2n": (pred[~is_new] >= N_BASE).float().mean().item()}


def bias_curve(logits: Tensor, y: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The exact trade-off of a constant ``b`` added to every new-class logit (the sceptic's baseline).

    A bias leaves the order among new classes (and among base classes) unchanged; image ``i`` switches from its
    top base class to its top new class once ``b > b*_i = max_base − max_new``. Returns ``(b, base_acc, new_acc)``
    at every switching point (sorted; ``b[0] = −inf`` is the unbiased side), so any operating point is exact.
    """
    top_b, arg_b = logits[:, :N_BASE].max(1)
    top_n, arg_n = logits[:, N_BASE:].max(1)
    arg_n = arg_n + N_BASE
    thresh = (top_b - top_n).numpy()
    is_new = (y >= N_BASE).numpy()
    right_base = (arg_b == y).numpy() & ~is_new   # correct while it stays on the base side
    right_new = (arg_n == y).numpy() & is_new     # correct once it switches to the new side
    order = np.argsort(thresh, kind="stable")
    nb, nn_ = max(1, (~is_new).sum()), max(1, is_new.sum())
    # at b just above thresh[order[k]], images order[:k+1] are on the new side
    base = (right_base.sum() - np.concatenate([[0], np.cumsum(right_base[order])])) / nb
    new = np.concatenate([[0], np.cumsum(right_new[order])]) / nn_
    b = np.concatenate([[-np.inf], thresh[order]])
    return b, base, new


def match_bias(logits: Tensor, y: Tensor, target_new: float) -> tuple[float, dict[str, float]]:
    """The smallest logit bias whose new-class accuracy reaches ``target_new``; returns ``(b, scores)``."""
    b, _, new = bias_curve(logits, y)
    ok = np.flatnonzero(new >= target_new - 1e-12)
    k = int(ok[0]) if len(ok) else len(b) - 1
    # state k (k images moved to the new side) holds for b in (b[k], b[k+1]]
    bias = float(b[k]) + 1e-6 if k > 0 else float(b[1]) - 1e-6 if len(b) > 1 else 0.0
    shifted = logits.clone()
    shifted[:, N_BASE:] += bias
    return bias, scores(shifted, y)


# ----------------------------------------------------------------------------------------------- backbone
def build_backbone(cfg: Config) -> nn.Module:
    """A LeNet-style CNN (:func:`featurelab.models.cnn`) whose head is a cosine classifier over the base classes."""
    net = cnn(in_channels=1, n_classes=N_BASE, widths=cfg.widths, image_size=cfg.image_size, hidden=cfg.hidden)
    net.head = CosineClassifier(cfg.hidden, N_BASE, cfg.scale)
    return net


@dataclass
class Data:
    """Images with labels 0–9 in :data:`ORDER` (0–5 base, 6–9 new). ``pool_*``: the new classes' training
    images, the few shots are drawn from them. ``base_*``: base training images. ``test_*``: test images of all
    10 classes (``n_test`` per class)."""

    base_x: Tensor
    base_y: Tensor
    pool_x: Tensor
    pool_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: tuple[str, ...]


def load_data(cfg: Config, seed: int) -> Data:
    """Fashion-MNIST relabelled by :data:`ORDER`; the base training subset and the new classes' pool (from which
    the shots are drawn) are drawn by ``seed``; the test set is the same for every seed."""
    full = load_fashion_mnist(size=cfg.image_size, classes=ORDER)
    ytr, yte = full.y_train.numpy(), full.y_test.numpy()
    base_rows = np.flatnonzero(ytr < N_BASE)
    idx = base_rows[balanced_indices(ytr[base_rows], cfg.n_base_train, seed=seed)]
    new_rows = np.flatnonzero(ytr >= N_BASE)
    pool = new_rows[balanced_indices(ytr[new_rows], cfg.pool_per_class * (len(ORDER) - N_BASE), seed=seed + 1)]
    test = balanced_indices(yte, cfg.n_test * len(ORDER), seed=10_000)      # one fixed test set
    return Data(full.x_train[idx], full.y_train[idx], full.x_train[pool], full.y_train[pool], full.x_test[test],
                full.y_test[test], full.classes)


def train_backbone(model: nn.Module, data: Data, cfg: Config, seed: int, progress: bool | None = None) -> dict:
    """Base session: cross-entropy on ``s·cos`` logits over the 6 base classes (the course's :func:`fit`)."""
    torch.manual_seed(seed)
    dev = next(model.parameters()).device
    hist = fit(model, data.base_x.to(dev), data.base_y.to(dev), epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
               seed=seed, progress_bar=progress, desc=f"base session (seed {seed})") if cfg.epochs else None
    return {"final_loss": hist.loss[-1] if hist and hist.loss else float("nan")}


def backbone(cfg: Config, seed: int, data: Data | None = None, progress: bool | None = None,
             refresh: bool = False, device: torch.device | str = "cpu") -> tuple[nn.Module, cache.CacheInfo]:
    """The trained base backbone for ``seed`` from the course's model cache (trained and cached when missing)."""
    def build() -> nn.Module:
        torch.manual_seed(seed)
        return build_backbone(cfg)

    def train(m: nn.Module) -> dict:
        return train_backbone(m, data if data is not None else load_data(cfg, seed), cfg, seed, progress)

    return cache.load_or_train("teen_base", cfg.backbone(), seed, build, train, version=1, refresh=refresh,
                               device=device)


@torch.no_grad()
def features(model: nn.Module, x: Tensor, batch: int = 4096) -> Tensor:
    """``(N, hidden)`` backbone features (before the cosine head), on the CPU."""
    model.eval()
    dev = next(model.parameters()).device
    return torch.cat([model.features(x[i:i + batch].to(dev)).cpu() for i in range(0, len(x), batch)])


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class Seed:
    """One backbone's features, kept so that the notebook can recompute any α, τ instantly.

    ``base_protos`` ``(6, d)`` normalised base-class means (``replace_base_fc``); ``test_f`` ``(M, d)``,
    ``test_y`` ``(M,)``; ``pool_f`` ``(P, d)``, ``pool_y`` ``(P,)`` the new classes' training features;
    ``shots`` ``(R, 4·K)`` the baseline's few-shot draws (indices into the pool), ``arm_shots`` the arm's;
    ``base_acc_only``: base-session accuracy of the prototypes on base test images (6-way)."""

    seed: int
    base_protos: Tensor
    test_f: Tensor
    test_y: Tensor
    pool_f: Tensor
    pool_y: Tensor
    shots: Tensor
    arm_shots: Tensor
    base_acc_only: float
    source: str


def draw_shots(pool_y: Tensor, shots: int, n: int, seed: int) -> Tensor:
    """``(n, 4·shots)`` indices into the pool: ``shots`` random images of each new class per draw."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        rows.append(torch.cat([torch.nonzero(pool_y == c).flatten()[
            torch.randperm(int((pool_y == c).sum()), generator=g)[:shots]] for c in range(N_BASE, len(ORDER))]))
    return torch.stack(rows)


def prototypes(sd: Seed, shot_idx: Tensor, cfg: Config, alpha: float | None = None, tau: float | None = None,
               weights: str | None = None, generator: torch.Generator | None = None) -> Tensor:
    """``(10, d)`` classifier after the last session: base prototypes, then each session's calibrated prototypes.

    Every session is calibrated against the base prototypes only (official: the softmax runs over base classes).
    """
    alpha = cfg.alpha if alpha is None else alpha
    tau = cfg.tau if tau is None else tau
    weights = cfg.weights if weights is None else weights
    feats, y = sd.pool_f[shot_idx], sd.pool_y[shot_idx]
    new = class_means(feats, y - N_BASE, len(ORDER) - N_BASE)
    out = [sd.base_protos]
    start = 0
    for sess in SESSIONS:
        rows = slice(start, start + len(sess))
        out.append(soft_calibration(new[rows], sd.base_protos, alpha, tau, weights, generator))
        start += len(sess)
    return torch.cat(out)


def evaluate(sd: Seed, cfg: Config, shot_idx: Tensor, **kw) -> tuple[dict[str, float], Tensor]:
    """Scores and ``(M, 10)`` logits of the classifier built from ``shot_idx`` with the calibration knobs."""
    logits = cosine_logits(sd.test_f, prototypes(sd, shot_idx, cfg, **kw), cfg.scale)
    return scores(logits, sd.test_y), logits


def mean_scores(sd: Seed, cfg: Config, bias: float = 0.0, draws: int | None = None, seed: int = 0,
                **kw) -> dict[str, float]:
    """:func:`scores` averaged over the baseline's first ``draws`` few-shot draws of one backbone, for any α, τ,
    weights (``kw``, see :func:`prototypes`) and a constant ``bias`` added to the new-class logits (the notebook's
    sweeps and widget)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for shot_idx in sd.shots[:draws]:
        logits = cosine_logits(sd.test_f, prototypes(sd, shot_idx, cfg, generator=g, **kw), cfg.scale)
        logits[:, N_BASE:] += bias
        rows.append(scores(logits, sd.test_y))
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


@torch.no_grad()
def confusion(sd: Seed, cfg: Config, draws: int | None = None, **kw) -> np.ndarray:
    """``(10, 10)`` row-normalised confusion matrix (rows: true class in :data:`ORDER`), summed over draws."""
    m = np.zeros((len(ORDER), len(ORDER)))
    for shot_idx in sd.shots[:draws]:
        pred = cosine_logits(sd.test_f, prototypes(sd, shot_idx, cfg, **kw), cfg.scale).argmax(1)
        np.add.at(m, (sd.test_y.numpy(), pred.numpy()), 1)
    return m / m.sum(1, keepdims=True).clip(min=1)


@dataclass
class Result:
    """Per seed (backbone) and draw: ``ncm[m][r]`` and ``arm[m][r]`` are :func:`scores` dicts; ``teen`` the
    paper's TEEN on the arm's shots (equal to ``arm`` when the arm is TEEN); ``bias`` the logit-bias arm matched to
    ``teen``'s new accuracy (reported whatever the arm); ``seeds_data`` the features for the notebook."""

    cfg: Config
    seeds: list[int]
    ncm: list[list[dict]]
    arm: list[list[dict]]
    teen: list[list[dict]]
    bias: list[list[dict]]
    seeds_data: list[Seed]
    seconds_backbone: float
    seconds_eval: float

    def mean(self, which: str, key: str) -> np.ndarray:
        """``(n_seeds,)`` mean over draws of ``key`` for ``which`` in ``ncm | arm | teen | bias``."""
        return np.array([np.mean([d[key] for d in per]) for per in getattr(self, which)])


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        refresh: bool = False) -> Result:
    """Train (or load) one base backbone per seed; score NCM and the arm on ``cfg.n_samplings`` few-shot draws.

    The baseline's draws are seeded ``seed + 1`` per backbone; the arm's ``seed + 1 + arm_shot_offset`` (the same
    draws unless the offset is set). The backbone trains on ``device``; the prototype arithmetic runs on the CPU.
    """
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    t0 = time.perf_counter()
    per_seed = []
    for s in seeds:
        data = load_data(cfg, s)
        model, info = backbone(cfg, s, data, progress, refresh, device)
        f_base = features(model, data.base_x)
        base_protos = F.normalize(class_means(f_base, data.base_y, N_BASE), dim=-1)       # replace_base_fc
        test_f, pool_f = features(model, data.test_x), features(model, data.pool_x)
        is_base = data.test_y < N_BASE
        acc0 = (cosine_logits(test_f[is_base], base_protos, cfg.scale).argmax(1) == data.test_y[is_base]).float()
        shots = draw_shots(data.pool_y, cfg.shots, cfg.n_samplings, s + 1)
        arm_shots = shots if cfg.arm_shot_offset == 0 else draw_shots(data.pool_y, cfg.shots, cfg.n_samplings,
                                                                       s + 1 + cfg.arm_shot_offset)
        per_seed.append(Seed(s, base_protos, test_f, data.test_y, pool_f, data.pool_y, shots, arm_shots,
                             acc0.mean().item(), info.source))
    t1 = time.perf_counter()
    ncm, arm, teen, bias = [], [], [], []
    for sd in per_seed:
        g = torch.Generator().manual_seed(sd.seed + 2)
        rows = {"ncm": [], "arm": [], "teen": [], "bias": []}
        for r in range(cfg.n_samplings):
            rows["ncm"].append(evaluate(sd, cfg, sd.shots[r], alpha=0.0)[0])
            t_scores, _ = evaluate(sd, cfg, sd.arm_shots[r], weights="similarity")
            rows["teen"].append(t_scores)
            _, ncm_arm_logits = evaluate(sd, cfg, sd.arm_shots[r], alpha=0.0)
            rows["bias"].append(match_bias(ncm_arm_logits, sd.test_y, t_scores["new"])[1])
            if cfg.arm == "logit_bias":
                rows["arm"].append(rows["bias"][-1])
            elif cfg.weights == "similarity":
                rows["arm"].append(t_scores)
            else:
                rows["arm"].append(evaluate(sd, cfg, sd.arm_shots[r], generator=g)[0])
        for k, v in rows.items():
            {"ncm": ncm, "arm": arm, "teen": teen, "bias": bias}[k].append(v)
    return Result(cfg, seeds, ncm, arm, teen, bias, per_seed, t1 - t0, time.perf_counter() - t1)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed differences arm − NCM (paired: same backbone; same shots unless ``arm_shot_offset``)."""
    d = {k: (res.mean("arm", k) - res.mean("ncm", k)).tolist() for k in ("new", "base", "hm", "n2b")}
    return {
        "new_gain": d["new"], "base_change": d["base"], "hm_gain": d["hm"], "n2b_change": d["n2b"],
        "teen_minus_bias_base": (res.mean("teen", "base") - res.mean("bias", "base")).tolist(),
        "ncm_new": float(res.mean("ncm", "new").mean()), "ncm_base": float(res.mean("ncm", "base").mean()),
        "ncm_n2b": float(res.mean("ncm", "n2b").mean()),
        "base_only_acc": float(np.mean([sd.base_acc_only for sd in res.seeds_data])),
    }


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("new_acc_gain", "new_gain", ">=", 0.01,
              "new-class accuracy after the last session, TEEN − NCM (paired, mean over backbones)",
              "qualitative: gains mainly in new-class accuracy (experiments); numbers not retrieved"),
    ClaimSpec("harmonic_mean_gain", "hm_gain", ">=", 0.006,
              "harmonic mean of base and new accuracy, TEEN − NCM: the new-class gain outweighs the base cost",
              "qualitative: better balance of base and new classes; numbers not retrieved"),
    ClaimSpec("new_to_base_drop", "n2b_change", "<=", -0.015,
              "share of new-class test images classified as a base class, TEEN − NCM",
              "qualitative: fewer new→base misclassifications (analysis and method); numbers not retrieved"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("ncm_independent_shots", {"alpha": 0.0, "arm_shot_offset": 10_000}, ("new_acc_gain", "harmonic_mean_gain", "new_to_base_drop"),
         "null", "α = 0 (NCM) on independent few-shot draws in TEEN's place: the baseline against itself"),
    Swap("shuffled_weights", {"weights": "shuffled"}, ("new_acc_gain", "harmonic_mean_gain", "new_to_base_drop"), "mechanism",
         "the same α, τ and normalisation, but each new class's similarity weights permuted across base classes"),
    Swap("uniform_weights", {"weights": "uniform"}, ("new_acc_gain", "harmonic_mean_gain", "new_to_base_drop"), "mechanism",
         "the same α and normalisation, the base mix with weights 1/6 (no similarity)"),
    Swap("logit_bias_matched_new", {"arm": "logit_bias"}, (), "baseline",
         "the sceptic: NCM plus a constant on every new-class logit, chosen per draw to match TEEN's new accuracy"),
)

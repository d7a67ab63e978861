"""SimPLe: similarity-aware propagation of labelled voxels to unlabelled ones (weakly-supervised segmentation).

Zhong, Wang et al., *SimPLe: Similarity-Aware Propagation Learning for Weakly-Supervised Breast Cancer
Segmentation in DCE-MRI*, MICCAI 2023 (LNCS 14223), arXiv:2306.16714; official code github.com/Abner228/SmileCode
(``SimPLe/stage1/train.py``, ``SimPLe/stage2/train.py``). Used by
``notebooks/07_propagating_features/06_simple_similarity_propagation.ipynb``.

**Setting (paper §2).** The only annotation of a lesion is its extreme points (six in 3-D, four in 2-D). Stage 0
turns them into a partial label map: geodesic shortest paths between opposite extreme points (on the image
gradient) are foreground scribbles; a random walker seeded by the scribbles (foreground) and everything outside
the points' bounding box (background) gives each in-box voxel a foreground probability; above 0.8 it is
foreground (label 1), otherwise **unlabelled** (label 2, ignored by the loss). Outside the box: background (0).

**Stage 1 (§2.1; official ``stage1/train.py``).** A U-Net is trained with cross-entropy that ignores label 2 plus
a pairwise contrastive loss on its last decoder features ``f``: ``N`` positive and ``N`` negative voxels are
sampled, ``s_ab = σ(cos(f_a, f_b)/τ)`` with τ = 0.1, BCE with target 1 for positive–positive and 0 for
positive–negative pairs (negative–negative pairs excluded).

**Stage 2, SimPLe (§2.2; official ``stage2/train.py``).** For ``N`` = 100 labelled-positive voxels ``P`` sampled
from the batch and every unlabelled voxel ``u`` (features detached)::

    ŷ_u = 1[ Σ_{p∈P} 1[cos(f_u, f_p) > λ] > α·N ]          (λ = α = 0.96 in the paper)
    L   = L_CE(labels) + ω · L_CE(u with ŷ_u = 1 → positive)   (ω = 0.1)

Flips go only from unlabelled to positive; unflipped voxels stay ignored; the labels themselves never change
(the vote is recomputed on every batch, 100 iterations). **Stage 3** retrains a network from scratch on the
fine-tuned network's predictions (here: ``steps3``, on in the ``full`` preset only).

**Here.** Procedural 32×32 "enhancing lesion" slices: an irregular, spiculated lesion with heterogeneous
enhancement on smooth textured tissue crossed by 1–2 thin bright vessels; 200 training images labelled only by
their four extreme points (stage 0 as above, on a 3×3-smoothed image) and 100 test images with full masks. A
small U-Net (width 16, two poolings, ≈ 53 k parameters) is trained in stage 1 (cached per seed), then fine-tuned
for 100 steps from copies of the same network by four arms that differ only in *which* unlabelled voxels are
pushed to positive: ``simple`` (the vote), ``confidence`` (the sceptic: the unlabelled voxels of highest p(fg) of
the current network, exactly the vote's count per image), ``random`` (random unlabelled voxels, the same count)
and ``continue`` (none: stage 1 continued). Each arm logs how many of its flips are truly lesion.

**What is asserted.** The voxels the similarity vote flips are lesion far more often than the unlabelled voxels
at large: flip precision − (lesion share of the unlabelled voxels) ≥ 0.25 (prototype seeds ≥ 5000: +0.33 … +0.48).
Random flips of the same count break it (≈ 0). **Reported, not asserted** (design note
``results/calibration/notes/simple_similarity_propagation.md``): (1) the sceptic's confidence flips, matched in
count, are *more* precise than the vote in every prototype seed (by 0.05–0.10) and end at the same or higher Dice,
so the claim shows that the vote is a good label-propagation rule, not that similarity beats confidence;
(2) the paper's λ = 0.96 flips nothing at this scale (λ = 0.5 here; α = 0.96, N = 100, ω = 0.1 as in the paper);
(3) SimPLe fine-tuning does **not** raise test Dice over continued training here (−0.04 … +0.00): the stage-1
network already extends well past its labelled core (recall ≈ 0.87 while the confident labels cover ≈ 0.69 of the
lesion), so flips at 75–90 % precision add about as many errors as they fix. The paper's Dice of 81 % (206
DCE-MRI patients) is not comparable with a Dice on synthetic slices and is not asserted.

Simplifications for scale (named): 2-D 32×32 synthetic slices instead of 3-D DCE-MRI volumes; four extreme points
taken from the ground-truth mask; one random-walker pass (β = 90) instead of seven iterations; whole images
instead of paired foreground / background crops; Adam (lr 3e-3 stage 1, 1e-4 stage 2) instead of SGD with
Nesterov momentum 0.99 and poly decay; 300 stage-1 steps instead of 200 epochs; λ = 0.5 instead of 0.96 (the
features of a 53 k-parameter U-Net are not concentrated enough for 0.96); no stage 3 at the small scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.sparse.linalg import spsolve
from torch import Tensor, nn

from .. import cache
from ..base import ParameterError, progress
from ..claims import ClaimSpec
from ..experiment import Knobs, Swap, knob
from ..train import fit

FG, BG, UNL = 1, 0, 2
#: What decides which unlabelled voxels become positive in stage 2.
ARMS = ("simple", "confidence", "random", "continue")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        size, n_train, n_test, noise: the synthetic lesion images (side, counts, sensor noise σ).
        width: channels of the small U-Net (its decoder features, ``width`` channels, are ``f``).
        steps1, lr1, batch1: stage 1 (CE with ignore + contrastive loss), Adam.
        contrast_weight: weight of the stage-1 contrastive term (0 = off). n_contrast: positives and negatives
            sampled per batch for it. tau_c: its temperature.
        steps2, lr2, batch2: stage 2 (fine-tuning with pseudo-labels), Adam.
        lam, alpha, n_pos: SimPLe's λ, α and N. omega: ω, the weight of the pseudo-label CE.
        arm: which unlabelled voxels are flipped to positive in stage 2: ``simple`` (the similarity vote, the
            paper), ``confidence`` (the highest p(fg) of the current network, the same count per image as the
            vote), ``random`` (random unlabelled voxels, the same count per image), ``continue`` (none: stage 1
            simply continued).
        arm_seed_offset: added to the seed of the arm's stage-2 batch order (10 000 with ``continue``: the noise
            null of "arm − continued training").
        compare: also fine-tune the other arms from the same stage-1 network (the notebook's table).
        steps3: stage 3 (retrain from scratch on the fine-tuned network's predictions); 0 = skip.
        n_seeds: seeds (one data set and one stage-1 network each).
    """

    size: int = knob(32, lo=24, hi=64, doc="image side in pixels")
    n_train: int = knob(200, lo=8, hi=4000, doc="training images")
    n_test: int = knob(100, lo=4, hi=2000, doc="test images")
    noise: float = knob(0.04, lo=0.0, hi=0.5, doc="sensor noise σ")
    width: int = knob(16, lo=2, hi=128, doc="channels of the U-Net")
    steps1: int = knob(300, lo=0, doc="stage-1 steps")
    lr1: float = knob(3e-3, lo=0.0, lo_open=True)
    batch1: int = knob(16, lo=1)
    contrast_weight: float = knob(1.0, lo=0.0, doc="weight of the stage-1 contrastive loss (0 = off)")
    n_contrast: int = knob(100, lo=1, doc="positives and negatives sampled for the contrastive loss")
    tau_c: float = knob(0.1, lo=0.0, lo_open=True, doc="temperature of the contrastive loss")
    steps2: int = knob(100, lo=0, doc="stage-2 (SimPLe) steps")
    lr2: float = knob(1e-4, lo=0.0, lo_open=True)
    batch2: int = knob(8, lo=1)
    lam: float = knob(0.5, lo=-1.0, hi=1.0, doc="λ, the cosine-similarity threshold")
    alpha: float = knob(0.96, lo=0.0, hi=1.0, doc="α, the share of positives a voxel must be similar to")
    n_pos: int = knob(100, lo=1, doc="N, positives sampled per batch for the vote")
    omega: float = knob(0.1, lo=0.0, doc="ω, weight of the pseudo-label CE")
    arm: str = knob("simple", choices=ARMS, doc="who picks the flipped voxels in stage 2")
    arm_seed_offset: int = knob(0, lo=0, doc="offset of the arm's stage-2 seed")
    compare: bool = knob(True, choices=(True, False), doc="also fine-tune the other arms (reported)")
    steps3: int = knob(0, lo=0, doc="stage-3 retraining steps (0 = skip)")
    n_seeds: int = knob(1, lo=1, doc="seeds (data + stage-1 network)")

    def validate(self) -> None:
        if self.size % 4:
            raise ParameterError(f"SIZE={self.size} must be a multiple of 4 (two poolings of the U-Net)")

    def stage1(self) -> dict:
        """The settings the stage-1 network depends on (the cache key)."""
        keys = ("size", "n_train", "noise", "width", "steps1", "lr1", "batch1", "contrast_weight", "n_contrast",
                "tau_c")
        return {k: getattr(self, k) for k in keys}


PRESETS = {
    "small": Config(),
    "full": Config(size=48, n_train=1000, n_test=300, width=24, steps1=1500, steps2=300, steps3=1500, n_seeds=3),
}
SMOKE = {"n_train": 8, "n_test": 4, "steps1": 2, "steps2": 2, "steps3": 2, "n_seeds": 1}


# ------------------------------------------------------------------------------------------------ the data
def _lowpass(g: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise: a ``cells × cells`` Gaussian grid upsampled bilinearly to ``size × size`` (unit-ish std)."""
    z = torch.from_numpy(g.standard_normal((1, 1, cells, cells))).float()
    return F.interpolate(z, size=(size, size), mode="bilinear", align_corners=True)[0, 0].numpy()


def make_lesion(seed: int, size: int = 32, noise: float = 0.04) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic "enhancing lesion" slice: ``(image (size, size) float32, mask (size, size) bool)``.

    Textured tissue, 1–2 thin bright vessels (distractors), and an irregular lesion (a lobulated radius with a
    spiculated high-frequency term) whose enhancement is heterogeneous: bright, with darker patches inside.
    """
    g = np.random.default_rng(seed)
    s = size / 32
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    img = 0.30 + 0.06 * _lowpass(g, size, 6) + 0.04 * _lowpass(g, size, 12)
    for _ in range(int(g.integers(1, 3))):
        a, b, c, w, ph = g.uniform(0, size), g.uniform(-0.6, 0.6), g.uniform(1, 3) * s, g.uniform(0.1, 0.3) / s, \
            g.uniform(0, 2 * np.pi)
        if g.random() < 0.5:
            d = yy - (a + b * (xx - size / 2) + c * np.sin(w * xx + ph))
        else:
            d = xx - (a + b * (yy - size / 2) + c * np.sin(w * yy + ph))
        img += g.uniform(0.3, 0.45) * np.exp(-d ** 2 / (2 * (0.6 * s) ** 2))
    cy, cx = g.uniform(0.35, 0.65, 2) * size
    r0 = g.uniform(5.0, 7.5) * s
    th = np.arctan2(yy - cy, xx - cx)
    rad = r0 * (1 + 0.15 * np.cos(2 * th + g.uniform(0, 6.3)) + 0.10 * np.cos(3 * th + g.uniform(0, 6.3))
                + 0.07 * np.cos(7 * th + g.uniform(0, 6.3)))
    dist = np.hypot(yy - cy, xx - cx)
    mask = dist < rad
    inside = np.clip((rad - dist) / (0.8 * s) + 0.5, 0, 1)             # a soft edge one pixel wide
    enh = g.uniform(0.35, 0.5) * (1 - 0.35 * np.clip(_lowpass(g, size, 8), 0, None))
    img = img + inside * enh + noise * g.standard_normal((size, size))
    return img.astype(np.float32), mask


def extreme_points(mask: np.ndarray) -> np.ndarray:
    """``(4, 2)`` (row, col) of the mask's left-, right-, top- and bottom-most pixels (the middle one of ties)."""
    rr, cc = np.nonzero(mask)
    out = []
    for sel in (cc == cc.min(), cc == cc.max(), rr == rr.min(), rr == rr.max()):
        r, c = rr[sel], cc[sel]
        k = np.argsort(r * 1000 + c)[len(r) // 2]
        out.append((r[k], c[k]))
    return np.array(out)


_GRAPHS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid_edges(size: int) -> tuple[np.ndarray, np.ndarray]:
    """4-neighbour edges ``(i, j)`` of a ``size × size`` grid (flat indices, each edge once)."""
    if size not in _GRAPHS:
        idx = np.arange(size * size).reshape(size, size)
        i = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
        j = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
        _GRAPHS[size] = (i, j)
    return _GRAPHS[size]


def geodesic_path(img: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> np.ndarray:
    """The shortest 4-connected path from ``a`` to ``b`` whose edge cost is ``0.05 + |ΔI|·10`` (the image
    gradient), as ``(K,)`` flat pixel indices (the paper's geodesic scribble between two extreme points)."""
    size = img.shape[0]
    i, j = _grid_edges(size)
    v = img.ravel().astype(np.float64)
    w = 0.05 + 10 * np.abs(v[i] - v[j])
    graph = csr_matrix((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))),
                       shape=(size * size, size * size))
    src, dst = a[0] * size + a[1], b[0] * size + b[1]
    _, pred = dijkstra(graph, indices=src, return_predecessors=True)
    path = [dst]
    while path[-1] != src and pred[path[-1]] >= 0:
        path.append(pred[path[-1]])
    return np.array(path)


def random_walker(img: np.ndarray, fg_seeds: np.ndarray, bg_seeds: np.ndarray, beta: float = 90.0) -> np.ndarray:
    """Grady's random walker: ``(size, size)`` probability that a walker from each pixel reaches a foreground
    seed first. Edge weights ``exp(−β (I_i − I_j)²)``; ``fg_seeds``, ``bg_seeds`` are bool masks."""
    size = img.shape[0]
    n = size * size
    i, j = _grid_edges(size)
    v = img.ravel().astype(np.float64)
    w = np.exp(-beta * (v[i] - v[j]) ** 2) + 1e-6
    W = coo_matrix((np.concatenate([w, w]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)).tocsr()
    L = csr_matrix((np.asarray(W.sum(1)).ravel(), (np.arange(n), np.arange(n))), shape=(n, n)) - W
    seeded = (fg_seeds | bg_seeds).ravel()
    x_m = fg_seeds.ravel()[seeded].astype(np.float64)
    free = ~seeded
    rhs = -L[free][:, seeded] @ x_m
    prob = np.zeros(n)
    prob[seeded] = x_m
    prob[free] = spsolve(L[free][:, free].tocsc(), rhs)
    return prob.reshape(size, size)


def pseudo_mask(img: np.ndarray, points: np.ndarray, threshold: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Stage 0: labels from four extreme points. Returns ``(labels (size, size) int64 in {0, 1, 2}, scribble)``.

    Geodesic paths left↔right and top↔bottom are foreground scribbles; pixels outside the points' box are
    background; a random walker from these seeds gives each in-box pixel a foreground probability; above
    ``threshold`` it is foreground (1), otherwise it stays unlabelled (2). Outside the box: background (0).
    """
    size = img.shape[0]
    smooth = F.avg_pool2d(torch.from_numpy(img)[None, None], 3, 1, 1, count_include_pad=False)[0, 0].numpy()
    scrib = np.zeros(size * size, bool)
    scrib[geodesic_path(smooth, tuple(points[0]), tuple(points[1]))] = True
    scrib[geodesic_path(smooth, tuple(points[2]), tuple(points[3]))] = True
    scrib = scrib.reshape(size, size)
    r0, r1, c0, c1 = points[2, 0], points[3, 0], points[0, 1], points[1, 1]
    box = np.zeros((size, size), bool)
    box[r0:r1 + 1, c0:c1 + 1] = True
    prob = random_walker(smooth, scrib, ~box)
    labels = np.where(box, UNL, BG)
    labels[box & (prob > threshold)] = FG
    labels[scrib] = FG
    return labels.astype(np.int64), scrib


@dataclass
class Data:
    """``x`` ``(N, 1, H, W)`` standardised images, ``gt`` ``(N, H, W)`` bool masks, ``labels`` ``(N, H, W)`` int64
    weak labels (0 bg, 1 fg, 2 unlabelled; training images only), ``points`` ``(N, 4, 2)`` extreme points."""

    x: Tensor
    gt: Tensor
    labels: Tensor | None
    points: np.ndarray | None


def make_data(cfg: Config, seed: int, split: str = "train") -> Data:
    """Training images (with weak labels) or test images (``split="test"``, seeds disjoint) of ``seed``."""
    n, base = (cfg.n_train, 0) if split == "train" else (cfg.n_test, 500_000)
    imgs, masks, labels, pts = [], [], [], []
    for k in range(n):
        img, m = make_lesion(seed * 1_000_000 + base + k, cfg.size, cfg.noise)
        imgs.append(img)
        masks.append(m)
        if split == "train":
            p = extreme_points(m)
            pts.append(p)
            labels.append(pseudo_mask(img, p)[0])
    x = torch.from_numpy(np.stack(imgs))[:, None]
    x = (x - 0.45) / 0.2
    gt = torch.from_numpy(np.stack(masks))
    if split != "train":
        return Data(x, gt, None, None)
    return Data(x, gt, torch.from_numpy(np.stack(labels)), np.stack(pts))


# ------------------------------------------------------------------------------------------------ the network
class UNet(nn.Module):
    """A small 2-D U-Net (two poolings). ``forward`` → logits ``(N, 2, H, W)``; ``features`` → the last decoder
    features ``(N, width, H, W)`` (the ``f`` of the contrastive loss and the similarity vote)."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width

        def block(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.ReLU(), nn.Conv2d(o, o, 3, padding=1), nn.ReLU())

        self.enc1, self.enc2, self.mid = block(1, w), block(w, 2 * w), block(2 * w, 2 * w)
        self.dec2, self.dec1 = block(4 * w, w), block(2 * w, w)
        self.head = nn.Conv2d(w, 2, 1)

    def features(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([F.interpolate(m, scale_factor=2.0), e2], 1))
        return self.dec1(torch.cat([F.interpolate(d2, scale_factor=2.0), e1], 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def both(self, x: Tensor) -> tuple[Tensor, Tensor]:
        f = self.features(x)
        return self.head(f), f


# ------------------------------------------------------------------------------------------------ the mechanism
def contrastive_loss(feats: Tensor, labels: Tensor, n: int = 100, tau: float = 0.1,
                     generator: torch.Generator | None = None) -> Tensor:
    """Stage-1 pairwise loss (official ``stage1/train.py``): ``n`` positive and ``n`` negative voxels are sampled;
    ``s_ab = σ(cos(f_a, f_b) / τ)``; BCE with target 1 for positive–positive pairs and 0 for positive–negative
    pairs (negative–negative pairs excluded). ``feats`` ``(B, D, H, W)``, ``labels`` ``(B, H, W)``."""
    f = feats.permute(0, 2, 3, 1).reshape(-1, feats.shape[1])
    lab = labels.reshape(-1)
    pos, neg = f[lab == FG], f[lab == BG]
    if len(pos) == 0 or len(neg) == 0:
        return feats.sum() * 0.0
    pos = pos[torch.randperm(len(pos), generator=generator)[:n]]
    neg = neg[torch.randperm(len(neg), generator=generator)[:n]]
    pn, nn_ = F.normalize(pos, dim=1), F.normalize(neg, dim=1)
    s_pp = torch.sigmoid(pn @ pn.T / tau)
    s_pn = torch.sigmoid(pn @ nn_.T / tau)
    return F.binary_cross_entropy(torch.cat([s_pp.flatten(), s_pn.flatten()]),
                                  torch.cat([torch.ones(s_pp.numel()), torch.zeros(s_pn.numel())]))


def similarity_vote(unlabelled: Tensor, positives: Tensor, lam: float, alpha: float) -> Tensor:
    """SimPLe's rule (paper §2.2; official ``stage2/train.py``): an unlabelled voxel ``u`` becomes positive when

        ŷ_u = 1[ Σ_{p ∈ P} 1[cos(f_u, f_p) > λ] > α·N ],     N = |P|

    ``unlabelled`` ``(U, D)``, ``positives`` ``(N, D)`` (features, detached). Returns ``(U,)`` bool."""
    sim = F.normalize(unlabelled, dim=1) @ F.normalize(positives, dim=1).T
    return (sim > lam).sum(1) > alpha * positives.shape[0]


def pick_flips(arm: str, feats: Tensor, logits: Tensor, labels: Tensor, cfg: Config,
               generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The voxels of one batch that become positive in stage 2, and the vote's own choice.

    The vote (:func:`similarity_vote`) runs on every arm: its per-image count ``k_i`` is what the other arms
    match. ``simple`` flips the vote's voxels; ``confidence`` the ``k_i`` unlabelled voxels of image ``i`` with the
    highest p(fg) of the current network; ``random`` ``k_i`` random unlabelled voxels of image ``i``; ``continue``
    none. Positives ``P``: ``N`` voxels sampled from the whole batch's labelled foreground (as the official code).
    Returns ``(flip (B, H, W) bool, vote (B, H, W) bool)``.
    """
    f = feats.detach().permute(0, 2, 3, 1)                               # (B, H, W, D)
    unl, pos = labels == UNL, labels == FG
    vote = torch.zeros_like(unl)
    p = f[pos]
    if len(p) and unl.any():
        p = p[torch.randperm(len(p), generator=generator)[:cfg.n_pos]]
        vote[unl] = similarity_vote(f[unl], p, cfg.lam, cfg.alpha)
    if arm == "simple":
        return vote, vote
    flip = torch.zeros_like(unl)
    if arm == "continue":
        return flip, vote
    pfg = torch.softmax(logits.detach(), 1)[:, 1]
    for b in range(labels.shape[0]):
        k = int(vote[b].sum())
        cand = torch.nonzero(unl[b].flatten()).flatten()
        if k == 0 or len(cand) == 0:
            continue
        if arm == "confidence":
            chosen = cand[pfg[b].flatten()[cand].topk(min(k, len(cand))).indices]
        elif arm == "random":
            chosen = cand[torch.randperm(len(cand), generator=generator)[:k]]
        else:
            raise ParameterError(f"arm must be one of {', '.join(ARMS)}, got {arm!r}")
        flip[b].view(-1)[chosen] = True
    return flip, vote


# ------------------------------------------------------------------------------------------------ training
def train_stage1(model: UNet, data: Data, cfg: Config, seed: int, progress_bar: bool | None = None) -> dict:
    """Stage 1: ``CE(ignore = unlabelled) + contrast_weight · contrastive`` with the course's :func:`fit`."""
    if cfg.steps1 == 0:
        return {"final_loss": float("nan")}
    g = torch.Generator().manual_seed(seed + 7)

    def loss(m: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
        logits, f = m.both(xb)
        out = F.cross_entropy(logits, yb, ignore_index=UNL)
        if cfg.contrast_weight > 0:
            out = out + cfg.contrast_weight * contrastive_loss(f, yb, cfg.n_contrast, cfg.tau_c, g)
        return out

    hist = fit(model, data.x, data.labels, steps=cfg.steps1, batch_size=cfg.batch1, lr=cfg.lr1, batch_loss=loss,
               seed=seed, progress_bar=progress_bar, desc=f"stage 1 (seed {seed})")
    return {"final_loss": hist.loss[-1] if hist.loss else float("nan")}


def stage1_model(cfg: Config, seed: int, data: Data | None = None, progress_bar: bool | None = None,
                 device: torch.device | str = "cpu") -> tuple[UNet, str]:
    """The stage-1 network of ``seed`` from the course's model cache (trained and cached when missing)."""
    def build() -> UNet:
        torch.manual_seed(seed)
        return UNet(cfg.width)

    def train(m: UNet) -> dict:
        return train_stage1(m, data if data is not None else make_data(cfg, seed), cfg, seed, progress_bar)

    model, info = cache.load_or_train("simple_stage1", cfg.stage1(), seed, build, train, version=1, device=device)
    return model, info.source


@dataclass
class FlipLog:
    """Stage-2 bookkeeping: per step, flipped voxels, how many of them are truly lesion, and the unlabelled
    voxels of the batch; ``vote_*`` the same for the similarity vote (equal to the flips for ``simple``)."""

    flips: list[int]
    correct: list[int]
    unlabelled: list[int]
    vote: list[int]
    vote_correct: list[int]

    @property
    def precision(self) -> float:
        return float(sum(self.correct) / max(1, sum(self.flips)))

    @property
    def vote_precision(self) -> float:
        return float(sum(self.vote_correct) / max(1, sum(self.vote)))

    @property
    def rate(self) -> float:
        """Flipped voxels per unlabelled voxel (mean over the run)."""
        return float(sum(self.flips) / max(1, sum(self.unlabelled)))


def fine_tune(model: UNet, data: Data, cfg: Config, arm: str, seed: int,
              progress_bar: bool | None = None) -> FlipLog:
    """Stage 2 in place: ``L = CE(labels) + ω · CE(flipped voxels → positive)`` (official: the pseudo term is a
    CE over the unlabelled voxels with the unflipped ones ignored, so it is the mean over the flipped ones).
    Which voxels flip: :func:`pick_flips` with ``arm``. Labels never change; flips are recomputed every batch."""
    g = torch.Generator().manual_seed(seed + 11)
    log = FlipLog([], [], [], [], [])
    y = torch.stack([data.labels, data.gt.long()], 1)                     # gt only for the bookkeeping

    def loss(m: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
        labels, gt = yb[:, 0], yb[:, 1].bool()
        logits, f = m.both(xb)
        flip, vote = pick_flips(arm, f, logits, labels, cfg, g)
        log.flips.append(int(flip.sum()))
        log.correct.append(int((flip & gt).sum()))
        log.unlabelled.append(int((labels == UNL).sum()))
        log.vote.append(int(vote.sum()))
        log.vote_correct.append(int((vote & gt).sum()))
        out = F.cross_entropy(logits, labels, ignore_index=UNL)
        if flip.any():
            out = out + cfg.omega * F.cross_entropy(logits.permute(0, 2, 3, 1)[flip], torch.full(
                (int(flip.sum()),), FG, dtype=torch.long))
        return out

    if cfg.steps2:
        fit(model, data.x, y, steps=cfg.steps2, batch_size=cfg.batch2, lr=cfg.lr2, batch_loss=loss, seed=seed,
            progress_bar=progress_bar, desc=f"stage 2 {arm} (seed {seed})")
    return log


def retrain(model_from: UNet, data: Data, cfg: Config, seed: int, progress_bar: bool | None = None) -> UNet:
    """Stage 3: a fresh network trained with CE on the fine-tuned network's hard predictions (no ignore)."""
    targets = predict_masks(model_from, data.x).long()
    torch.manual_seed(seed + 3)
    m = UNet(cfg.width)
    fit(m, data.x, targets, steps=cfg.steps3, batch_size=cfg.batch1, lr=cfg.lr1, seed=seed + 3,
        progress_bar=progress_bar, desc=f"stage 3 (seed {seed})")
    return m


# ------------------------------------------------------------------------------------------------ metrics
@torch.no_grad()
def predict_masks(model: UNet, x: Tensor) -> Tensor:
    """``(N, H, W)`` bool: argmax of the two logits."""
    model.eval()
    return model(x).argmax(1).bool()


def dice(pred: Tensor, gt: Tensor) -> Tensor:
    """``(N,)`` Dice ``2|P∩G| / (|P| + |G|)`` per image (1 when both are empty)."""
    inter = (pred & gt).flatten(1).sum(1).float()
    tot = (pred.flatten(1).sum(1) + gt.flatten(1).sum(1)).float()
    return torch.where(tot > 0, 2 * inter / tot.clamp(min=1), torch.ones_like(tot))


def recall(pred: Tensor, gt: Tensor) -> Tensor:
    """``(N,)`` share of lesion pixels predicted as lesion."""
    return (pred & gt).flatten(1).sum(1).float() / gt.flatten(1).sum(1).clamp(min=1).float()


@torch.no_grad()
def vote_sweep(model: UNet, data: Data, cfg: Config, lams: tuple[float, ...] | list[float], n_images: int = 64,
               seed: int = 0) -> dict[str, np.ndarray]:
    """One pass of a network over ``n_images`` training images in batches of ``batch2`` (no training): for each λ
    the vote's flip rate (flips per unlabelled voxel), its precision (share of flips that are lesion), and the
    precision of the sceptic's and the random choice at the same count per image. Returns arrays over ``lams``
    plus ``chance`` (lesion share of the unlabelled voxels). The notebook's widget and λ plot use it."""
    model.eval()
    x, lab, gt = data.x[:n_images], data.labels[:n_images], data.gt[:n_images]
    logits, f = model.both(x)
    out = {k: [] for k in ("rate", "simple", "confidence", "random")}
    for lam in lams:
        c = Config(**{**{k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "lam": float(lam)})
        tot = {k: [0, 0] for k in ("simple", "confidence", "random")}
        n_unl = 0
        for b0 in range(0, len(x), cfg.batch2):
            sl = slice(b0, b0 + cfg.batch2)
            for arm in tot:
                g = torch.Generator().manual_seed(seed + b0)
                flip, _ = pick_flips(arm, f[sl], logits[sl], lab[sl], c, g)
                tot[arm][0] += int(flip.sum())
                tot[arm][1] += int((flip & gt[sl]).sum())
            n_unl += int((lab[sl] == UNL).sum())
        out["rate"].append(tot["simple"][0] / max(1, n_unl))
        for arm, (k, ok) in tot.items():
            out[arm].append(ok / k if k else float("nan"))
    unl = lab == UNL
    res = {k: np.array(v) for k, v in out.items()}
    res["chance"] = np.array(float((unl & gt).sum() / unl.sum().clamp(min=1)))
    return res


# ------------------------------------------------------------------------------------------------ the run
@dataclass
class SeedResult:
    """One seed. ``dice[name]``, ``recall[name]``: mean over the test images for ``stage1``, ``continue`` (stage 1
    continued, the baseline), ``arm`` (the method slot) and, with ``compare``, every arm of :data:`ARMS`; also
    ``stage3`` when ``steps3``. ``logs[name]``: the stage-2 :class:`FlipLog`. ``pseudo_dice``: Dice of the stage-0
    pseudo-masks (fg = 1) on the training images; ``unlabelled_lesion``: share of unlabelled voxels that are
    lesion (the precision of a random flip)."""

    seed: int
    dice: dict[str, float]
    recall: dict[str, float]
    logs: dict[str, FlipLog]
    pseudo_dice: float
    unlabelled_lesion: float
    source: str
    models: dict[str, UNet]
    test: Data
    train: Data


@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    per_seed: list[SeedResult]
    seconds: float

    def values(self, what: str, name: str) -> np.ndarray:
        """``(n_seeds,)`` of ``dice`` / ``recall`` / ``precision`` / ``rate`` for arm ``name``."""
        if what in ("dice", "recall"):
            return np.array([getattr(sr, what)[name] for sr in self.per_seed])
        return np.array([getattr(sr.logs[name], what) for sr in self.per_seed])


def _copy(model: UNet, cfg: Config) -> UNet:
    m = UNet(cfg.width)
    m.load_state_dict(model.state_dict())
    return m


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """For each seed: data and weak labels, the cached stage-1 network, then stage 2 from copies of it with the
    baseline (``continue``), the arm, and (``compare``) the other arms; Dice on the test images.

    Seed ``s``: images ``10⁶ s + k`` (train) and ``10⁶ s + 500 000 + k`` (test); stage-1 seed ``s``; stage-2 batch
    order seed ``s + 1`` for every arm (paired), ``s + 1 + arm_seed_offset`` for the arm.
    """
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    t0 = time.perf_counter()
    out = []
    for s in seeds:
        train, test = make_data(cfg, s), make_data(cfg, s, "test")
        base, source = stage1_model(cfg, s, train, progress, device)
        base = base.cpu()
        names = ["continue", "arm"] + (["simple", "confidence", "random"] if cfg.compare else [])
        models, logs = {"stage1": base}, {}
        for name in names:
            arm = cfg.arm if name == "arm" else name
            if name == cfg.arm and cfg.arm_seed_offset == 0 and "arm" in models:
                models[name], logs[name] = models["arm"], logs["arm"]
                continue
            m = _copy(base, cfg)
            logs[name] = fine_tune(m, train, cfg, arm, s + 1 + (cfg.arm_seed_offset if name == "arm" else 0), progress)
            models[name] = m
        if cfg.steps3:
            models["stage3"] = retrain(models["arm"], train, cfg, s, progress)
        d, r = {}, {}
        for name, m in models.items():
            pred = predict_masks(m, test.x)
            d[name], r[name] = float(dice(pred, test.gt).mean()), float(recall(pred, test.gt).mean())
        pm = train.labels == FG
        unl = train.labels == UNL
        out.append(SeedResult(s, d, r, logs, float(dice(pm, train.gt).mean()),
                              float((unl & train.gt).sum() / unl.sum().clamp(min=1)), source, models, test, train))
    return Result(cfg, seeds, out, time.perf_counter() - t0)


def claim_values(res: Result) -> dict:
    """Per-seed paired values (same stage-1 network, same stage-2 batch order unless a swap says otherwise)."""
    arm, cont = res.values("dice", "arm"), res.values("dice", "continue")
    vals = {
        "dice_gain": (arm - cont).tolist(),
        "recall_gain": (res.values("recall", "arm") - res.values("recall", "continue")).tolist(),
        "flip_precision": res.values("precision", "arm").tolist(),
        "precision_over_chance": (res.values("precision", "arm")
                                  - np.array([sr.unlabelled_lesion for sr in res.per_seed])).tolist(),
        "flip_rate": res.values("rate", "arm").tolist(),
        "dice_stage1": float(res.values("dice", "stage1").mean()),
        "dice_continue": float(cont.mean()), "dice_arm": float(arm.mean()),
        "pseudo_dice": float(np.mean([sr.pseudo_dice for sr in res.per_seed])),
        "unlabelled_lesion": float(np.mean([sr.unlabelled_lesion for sr in res.per_seed])),
    }
    if res.cfg.compare:
        for a in ARMS:
            vals[f"dice_{a}"] = float(res.values("dice", a).mean())
        for a in ("simple", "confidence", "random"):
            vals[f"precision_{a}"] = float(res.values("precision", a).mean())
    return vals


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("flips_are_lesion", "precision_over_chance", ">=", 0.25,
              "share of stage-2 flipped voxels that are truly lesion − share of lesion among the unlabelled voxels "
              "(the precision of a random flip)",
              "qualitative (§2.2): similar features propagate the lesion label; no flip precision reported"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("random_flips", {"arm": "random", "compare": False}, ("flips_are_lesion",), "mechanism",
         "the similarity vote replaced by random unlabelled voxels, the vote's count per image"),
    Swap("confidence_flips", {"arm": "confidence", "compare": False}, (), "baseline",
         "the sceptic: the vote's count per image, the unlabelled voxels of highest p(fg) of the current network"),
    Swap("no_contrastive", {"contrast_weight": 0.0, "compare": False}, (), "mechanism",
         "stage 1 without the contrastive loss (the features the vote compares are then trained by CE only)"),
)

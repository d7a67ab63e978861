"""Feature transformation for contrastive learning: extrapolated positives and interpolated negatives.

Zhu, Zhao, Liu, Sun & Chen, *Improving Contrastive Learning by Visualizing Feature Transformation*, ICCV 2021
(oral), arXiv:2108.02982; official code github.com/DTennant/CL-Visualizing-Feature-Transformation
(``memory/mem_moco.py``, class ``RGBMoCo_dropmix_norm``). Used by the notebook
``notebooks/03_reading_features/06_contrastive_feature_transformation.ipynb``.

The paper starts from MoCo (:mod:`featurelab.contrastive`): a query ``q``, its positive key ``k`` (another view
of the same image, from the momentum encoder, no gradient) and ``K`` queued negatives ``n_j``, all unit vectors,
with logits ``[qᵀk, qᵀn_1 … qᵀn_K]/τ``. It plots the distributions of the *scores* — the positive score
``qᵀk`` and the mean and variance of the negative scores ``qᵀn_j`` — during training (Sec. 3), and from those
plots designs two transformations of the features that enter the loss (Sec. 4):

* **Positive extrapolation** (Sec. 4.1): ``λ = 1 + Beta(α⁺, α⁺) ∈ [1, 2]``,

      q̂ = λ·q + (1 − λ)·k,      k̂ = λ·k + (1 − λ)·q,

  which pushes the pair apart (lower positive score: a *harder* positive). Gradient flows into ``q`` through
  both ``q̂`` and ``k̂`` (``k`` is detached), as in the official code.
* **Negative interpolation** (Sec. 4.2): ``μ = Beta(α⁻, α⁻)`` and a random permutation ``π`` of the queue,

      n̂_j = μ·n_j + (1 − μ)·n_π(j),

  which makes the negatives more diverse.

The loss is InfoNCE on ``(q̂, k̂, {n̂_j})``; the queue then receives the *mixed* key ``k̂`` (official default,
:attr:`Config.queue_mixed`). The official recipe (README commands: ``--sep_alpha --pos_alpha 2.0 --neg_alpha
1.6 --mask_distribution beta --expolation_mask``, ``--dim_mask`` left at ``none``) draws λ and μ as **scalars
once per batch** and does **not** renormalise after mixing; :attr:`Config.dim_mask` and
:attr:`Config.postmix_norm` expose the alternatives. τ = 0.2 is the official MoCo-v2 preset.

The paper's headline claim is accuracy: +1.3 (MoCo) and +2.1 (MoCo-v2) points of ImageNet-1K linear accuracy
(official README table, ResNet-50, 200 epochs) and "at least +6.0 %" over MoCo on ImageNet-100 (abstract). Its
stated reason is view-invariance from harder positives. What this module asserts (at small scale, a tiny
MLP encoder trained for a few hundred steps on Fashion-MNIST): **alignment** — the *untransformed* positive score
of the trained encoder on held-out augmented pairs is higher with feature transformation than for plain MoCo
trained from the same initialisation on the same batches (the paper's "more view-invariant", measured without the
transformation).

Reported, not asserted: the linear-probe accuracy of the frozen features (at this scale FT lands 1–4 points
*below* MoCo, interpolated positives 5–10 below; a non-inferiority claim on it had too thin a margin to hold on
every seed, so it was dropped — design note ``results/calibration/notes/contrastive_feature_transformation.md``).
The swaps also show that interpolated positives raise raw alignment as much as extrapolated ones, and that
up-weighting the positive logit without any mixing passes the alignment claim too: at this scale extrapolation
acts like a re-weighted positive term.

Simplifications for scale (named): a 3-layer MLP encoder (784 → 256 → 128 features → 32-d embedding) instead of
a ResNet-50; a few hundred steps on 4k Fashion-MNIST images with grey-scale augmentations (affine crop, erasing,
brightness, noise) instead of 200 ImageNet epochs; queue 1,024 instead of 65,536; momentum 0.99 instead of
0.999 (few steps); a 1k-image linear probe on frozen features instead of full-ImageNet linear evaluation;
every arm and seed is one member of one batched ensemble (:mod:`featurelab.ensemble`), so all arms see the same
augmented views in the same order.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import contrastive as cl
from ..base import ParameterError
from ..claims import ClaimSpec
from ..data import Split, load_fashion_mnist
from ..ensemble import EnsembleMLP
from ..experiment import Knobs, Swap, knob
from ..probes import fit_linear_probe, probe_accuracy, standardize
from ..train import fit

POS_MODES = ("extrapolate", "interpolate", "none")
DIM_MASKS = ("none", "pos", "neg", "both")
OBJECTIVES = ("infonce", "align_only")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Every run trains ``2 · n_seeds`` members in one batched ensemble: members ``0 … n_seeds−1`` are plain MoCo
    (the baseline), members ``n_seeds … 2·n_seeds−1`` the *method arm*, configured by the ``pos_mode`` …
    ``objective`` knobs (the preset: the paper's feature transformation). Baseline ``i`` and method ``i`` start
    from the same initialisation (seed ``seeds[i]``) unless ``method_init_offset`` moves the method's.

    Attributes:
        n_train: unlabelled Fashion-MNIST training images. n_probe: labelled images the linear probe is fit on
            (taken from the same training set). n_test: held-out test images (probe accuracy and alignment pairs).
        hidden, feat_dim, embed_dim: encoder widths 784 → hidden → feat_dim (the probed features) → embed_dim.
        steps, batch_size, lr: Adam steps of :func:`featurelab.train.fit` on the InfoNCE loss.
        queue_size, momentum, tau: MoCo's dictionary size, key-encoder momentum and temperature.
        pos_mode: the method arm's positives: ``extrapolate`` (λ = 1 + Beta(α⁺, α⁺), the paper),
            ``interpolate`` (λ = Beta(α⁺, α⁺), the same draws: easier positives) or ``none`` (λ = 1).
        pos_alpha, neg_alpha: α⁺ and α⁻ of the Beta draws (official 2.0 and 1.6).
        neg_mix: interpolate the method arm's negatives (μ = Beta(α⁻, α⁻), random permutation of the queue).
        dim_mask: which draws are per dimension (official default ``none``: scalars once per batch).
        postmix_norm: renormalise q̂ and k̂ after mixing (off in the official recipe).
        queue_mixed: enqueue the mixed key k̂ (official) rather than the raw key k.
        pos_scale: multiplies the method arm's positive logit (1 = InfoNCE; the sceptic's "harder positives
            without any transformation" raises it).
        objective: the method arm's loss: ``infonce`` or ``align_only`` (−q̂ᵀk̂/τ, no negatives: the collapse
            sceptic).
        method_init_offset: added to the method arm's init seeds (10 000 with ``pos_mode="none"`` and
            ``neg_mix=False`` = the baseline rerun from independent seeds: the noise null).
        log_every: steps between logged score statistics (the paper's visualisation).
    """

    n_train: int = knob(4000, lo=256, hi=60000, doc="unlabelled training images")
    n_probe: int = knob(1000, lo=20, doc="labelled images of the linear probe")
    n_test: int = knob(2000, lo=20, hi=10000, doc="held-out test images")
    hidden: int = knob(256, lo=1)
    feat_dim: int = knob(128, lo=1, doc="width of the probed features")
    embed_dim: int = knob(32, lo=2, doc="width of the contrastive embedding")
    steps: int = knob(300, lo=0, doc="Adam steps (0 leaves every encoder at its initialisation)")
    batch_size: int = knob(128, lo=2)
    lr: float = knob(2e-3, lo=0.0, lo_open=True)
    queue_size: int = knob(1024, lo=2, doc="MoCo queue of negatives")
    momentum: float = knob(0.99, lo=0.0, hi=1.0, doc="key-encoder momentum m")
    tau: float = knob(0.2, lo=0.0, lo_open=True, doc="temperature τ")
    pos_mode: str = knob("extrapolate", choices=POS_MODES, doc="method arm's positive transformation")
    pos_alpha: float = knob(2.0, lo=0.0, lo_open=True, doc="α⁺ of λ's Beta draw")
    neg_alpha: float = knob(1.6, lo=0.0, lo_open=True, doc="α⁻ of μ's Beta draw")
    neg_mix: bool = knob(True, choices=(True, False), doc="interpolate the method arm's negatives")
    dim_mask: str = knob("none", choices=DIM_MASKS, doc="which draws are per dimension")
    postmix_norm: bool = knob(False, choices=(True, False), doc="renormalise q̂, k̂ after mixing")
    queue_mixed: bool = knob(True, choices=(True, False), doc="enqueue the mixed key")
    pos_scale: float = knob(1.0, lo=0.0, lo_open=True, doc="weight of the method arm's positive logit")
    objective: str = knob("infonce", choices=OBJECTIVES, doc="method arm's loss")
    method_init_offset: int = knob(0, lo=0, doc="offset of the method arm's init seeds")
    n_seeds: int = knob(3, lo=1, doc="seeds per arm (paired baseline/method members)")
    log_every: int = knob(10, lo=1)

    def validate(self) -> None:
        if self.batch_size > self.queue_size:
            raise ParameterError(f"BATCH_SIZE={self.batch_size} must not exceed QUEUE_SIZE={self.queue_size}")
        if self.batch_size > self.n_train:
            raise ParameterError(f"BATCH_SIZE={self.batch_size} must not exceed N_TRAIN={self.n_train}")
        if self.n_probe > self.n_train:
            raise ParameterError(f"N_PROBE={self.n_probe} must not exceed N_TRAIN={self.n_train}")


PRESETS = {
    "small": Config(),
    "full": Config(n_train=60000, n_test=10000, n_probe=5000, hidden=1024, feat_dim=512, embed_dim=128,
                   steps=6000, batch_size=256, queue_size=8192, momentum=0.99, n_seeds=3, log_every=100),
}
SMOKE = {"n_train": 512, "n_test": 100, "n_probe": 100, "steps": 2, "batch_size": 64, "queue_size": 256,
         "n_seeds": 2}


# ----------------------------------------------------------------------------------------------- the mechanism
def transform_features(q: Tensor, k: Tensor, queue: Tensor, lam: Tensor | float, mu: Tensor | float,
                       perm: Tensor | None = None, postmix_norm: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """The paper's feature transformation (Sec. 4; ``RGBMoCo_dropmix_norm.forward`` with ``mix_target='posneg'``).

    Args:
        q, k: ``(..., N, d)`` queries and positive keys (``k`` detached by the caller).
        queue: ``(..., K, d)`` negatives.
        lam: λ, broadcastable to ``q`` — ``(..., 1, 1)`` for one scalar per batch (official), ``(..., N, d)``
            per dimension; ``λ ∈ [1, 2]`` extrapolates, ``λ ∈ [0, 1]`` interpolates, ``λ = 1`` leaves them.
        mu: μ, broadcastable to ``queue``; ``μ = 1`` leaves the negatives.
        perm: ``(..., K)`` a permutation of the queue per member (``None``: no negative mixing).
        postmix_norm: renormalise q̂ and k̂ (the official flag renormalises the positives only).

    Returns:
        ``(q̂, k̂, n̂)`` with ``q̂ = λq + (1−λ)k``, ``k̂ = λk + (1−λ)q``, ``n̂_j = μ n_j + (1−μ) n_π(j)``.
    """
    q_hat = lam * q + (1 - lam) * k
    k_hat = lam * k + (1 - lam) * q
    if perm is not None:
        shuffled = torch.gather(queue, -2, perm.unsqueeze(-1).expand_as(queue))
        queue = mu * queue + (1 - mu) * shuffled
    if postmix_norm:
        q_hat, k_hat = F.normalize(q_hat, dim=-1), F.normalize(k_hat, dim=-1)
    return q_hat, k_hat, queue


@dataclass
class Draws:
    """One batch's random draws for every member: ``lam`` ``(M, 1|N, 1|d)``, ``mu`` ``(M, 1|K, 1|d)``, ``perm``
    ``(M, K)``."""

    lam: Tensor
    mu: Tensor
    perm: Tensor


class MoCoFT(nn.Module):
    """``M`` MoCo encoders trained in one batch; ``transform[m]`` says whether member ``m`` is the method arm.

    ``forward(x)`` is one training step's loss (summed over members), so :func:`featurelab.train.fit` trains it:
    two augmented views, momentum update of the key encoder, the feature transformation, InfoNCE against the
    queue, enqueue. Every ``log_every`` calls it logs the paper's score statistics, raw and transformed.
    """

    def __init__(self, cfg: Config, init_seeds: list[int], transform: list[bool], draw_seeds: list[int],
                 aug_seed: int, in_dim: int):
        super().__init__()
        if not (len(init_seeds) == len(transform) == len(draw_seeds)):
            raise ParameterError("init_seeds, transform and draw_seeds need one entry per member")
        self.cfg = cfg
        self.members = len(init_seeds)
        self.transform = torch.tensor(transform)
        self.encoder = EnsembleMLP(init_seeds, [in_dim, cfg.hidden, cfg.feat_dim, cfg.embed_dim])
        self.key_encoder = copy.deepcopy(self.encoder)
        for p in self.key_encoder.parameters():
            p.requires_grad_(False)
        self.queue = cl.NegativeQueue(cfg.queue_size, cfg.embed_dim, self.members,
                                      torch.Generator().manual_seed(aug_seed + 1))
        self.aug_gen = torch.Generator().manual_seed(aug_seed)
        self.draw_gens = [torch.Generator().manual_seed(s) for s in draw_seeds]
        self.calls = 0
        self.log: dict[str, list] = {"step": [], "pos_raw": [], "pos": [], "neg_mean": [], "neg_var": [],
                                     "neg_mean_raw": []}

    def embed(self, x: Tensor, key: bool = False) -> Tensor:
        """Unit-norm embeddings ``(M, N, embed_dim)`` of images ``(N, 1, S, S)``."""
        enc = self.key_encoder if key else self.encoder
        return F.normalize(enc(x.flatten(1)), dim=-1)

    def features(self, x: Tensor) -> Tensor:
        """The probed features ``(M, N, feat_dim)`` (the last hidden layer of the online encoder)."""
        return self.encoder.features(x.flatten(1))

    def draws(self, n: int) -> Draws:
        """λ, μ and π of one batch for every member (baseline members get λ = μ = 1); every method member draws
        from its own generator, identically whatever ``pos_mode`` is (so the swaps share the paper's draws)."""
        cfg, d, K = self.cfg, self.cfg.embed_dim, self.cfg.queue_size
        lam_shape = (n, d) if cfg.dim_mask in ("pos", "both") else (1, 1)
        mu_shape = (K, d) if cfg.dim_mask in ("neg", "both") else (1, 1)
        lams, mus, perms = [], [], []
        for m, g in enumerate(self.draw_gens):
            b = cl.beta_draws(cfg.pos_alpha, lam_shape, g)
            mu = cl.beta_draws(cfg.neg_alpha, mu_shape, g)
            perm = torch.randperm(K, generator=g)
            if not self.transform[m]:
                b, mu = None, torch.ones(mu_shape)
            lam = (torch.ones(lam_shape) if b is None else
                   {"extrapolate": 1 + b, "interpolate": b, "none": torch.ones(lam_shape)}[cfg.pos_mode])
            if not cfg.neg_mix:
                mu = torch.ones(mu_shape)
            lams.append(lam), mus.append(mu), perms.append(perm)
        return Draws(torch.stack(lams), torch.stack(mus), torch.stack(perms))

    def forward(self, x: Tensor) -> Tensor:
        cfg = self.cfg
        v1 = cl.augment(x, self.aug_gen)
        v2 = cl.augment(x, self.aug_gen)
        q = self.embed(v1)
        with torch.no_grad():
            cl.momentum_update(self.encoder, self.key_encoder, cfg.momentum)
            k = self.embed(v2, key=True)
        dr = self.draws(x.shape[0])
        dev = q.device
        lam, mu, perm = dr.lam.to(dev), dr.mu.to(dev), dr.perm.to(dev)
        queue = self.queue.keys.clone()
        q_hat, k_hat, n_hat = transform_features(q, k, queue, lam, mu, perm, cfg.postmix_norm)
        t = self.transform.to(dev).view(-1, 1, 1)
        pos_scale = torch.where(t, torch.tensor(cfg.pos_scale, device=dev), torch.tensor(1.0, device=dev))
        loss = cl.info_nce(q_hat, k_hat, n_hat, cfg.tau, pos_scale)
        if cfg.objective == "align_only":
            align_loss = -(q_hat * k_hat).sum(-1).mean(-1) / cfg.tau
            loss = torch.where(self.transform.to(dev), align_loss, loss)
        if self.calls % cfg.log_every == 0:
            raw = cl.score_stats(q.detach(), k, queue)
            mixed = cl.score_stats(q_hat.detach(), k_hat.detach(), n_hat)
            self.log["step"].append(self.calls)
            self.log["pos_raw"].append(raw["pos"].cpu())
            self.log["neg_mean_raw"].append(raw["neg_mean"].cpu())
            self.log["pos"].append(mixed["pos"].cpu())
            self.log["neg_mean"].append(mixed["neg_mean"].cpu())
            self.log["neg_var"].append(mixed["neg_var"].cpu())
        self.queue.enqueue(k_hat.detach() if cfg.queue_mixed else k)
        self.calls += 1
        return loss.sum()


@dataclass
class Result:
    """Everything the notebook plots and checks. Members ``[:n]`` are MoCo, ``[n:]`` the method arm.

    Attributes:
        align: ``(2n,)`` mean raw positive score (cosine of the two views' embeddings, no transformation) of the
            trained online encoder on held-out augmented pairs. align_feat: the same in the probed feature space.
        pos_scores: ``(2n, n_test)`` those raw positive scores; neg_scores: ``(2n, n_test)`` the score of each
            held-out query against a *different* image's view (a negative).
        probe_acc: ``(2n,)`` linear-probe test accuracy on frozen features.
        log: ``{"step": [..], "pos_raw" | "pos" | "neg_mean" | "neg_mean_raw" | "neg_var": (T, 2n, B)}`` —
            training-time score statistics (``pos``/``neg_*``: after the transformation, as the paper logs them).
        loss: the summed training loss per logged step. images: a few training images (for the data plot).
        seconds_train, seconds_eval: wall-clock time of each phase.
    """

    n_seeds: int
    align: np.ndarray
    align_feat: np.ndarray
    pos_scores: np.ndarray
    neg_scores: np.ndarray
    probe_acc: np.ndarray
    log: dict[str, np.ndarray]
    loss: list[float]
    views: Tensor
    seconds_train: float
    seconds_eval: float

    def arm(self, values: np.ndarray, method: bool) -> np.ndarray:
        """The baseline's (``method=False``) or the method arm's rows of a per-member array."""
        n = self.n_seeds
        return values[n:] if method else values[:n]

    def gain(self, values: np.ndarray) -> list[float]:
        """Per-seed method − baseline (paired: same init, same batches)."""
        return [float(v) for v in self.arm(values, True) - self.arm(values, False)]


def load_data(cfg: Config, seeds: list[int]) -> Split:
    """Fashion-MNIST: ``cfg.n_train`` training and ``cfg.n_test`` test images (class-balanced, by ``seeds[0]``)."""
    return load_fashion_mnist(n_train=cfg.n_train, n_test=cfg.n_test, seed=seeds[0])


@torch.no_grad()
def evaluate_encoders(model: MoCoFT, data: Split, cfg: Config, seed: int) -> dict[str, np.ndarray]:
    """Raw alignment on held-out augmented pairs (fixed views, ``seed``) and linear-probe accuracy per member."""
    model.eval()
    g = torch.Generator().manual_seed(seed + 777)
    dev = next(model.parameters()).device
    xt = data.x_test.to(dev)
    v1, v2 = cl.augment(xt, g), cl.augment(xt, g)
    z1, z2 = model.embed(v1), model.embed(v2)
    pos = (z1 * z2).sum(-1)
    neg = (z1 * z2.roll(1, dims=1)).sum(-1)
    f1, f2 = model.features(v1), model.features(v2)
    ftr = model.features(data.x_train[: cfg.n_probe].to(dev))
    fte = model.features(xt)
    ftr, fte = standardize(ftr, fte)
    probe = fit_linear_probe(ftr, data.y_train[: cfg.n_probe].to(dev).expand(model.members, -1), n_classes=10,
                             l2=1e-3, max_iter=100)
    acc = probe_accuracy(probe, fte, data.y_test.to(dev))
    return {"align": cl.alignment(z1, z2).cpu().numpy(), "align_feat": cl.alignment(f1, f2).cpu().numpy(),
            "pos": pos.cpu().numpy(), "neg": neg.cpu().numpy(), "probe_acc": acc.cpu().numpy()}


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
        data: Split | None = None) -> Result:
    """Train MoCo (members ``0 … n−1``) and the method arm (``n … 2n−1``) as one ensemble; evaluate both.

    Baseline ``i`` and method ``i`` share init seed ``seeds[i]`` (method: ``+ method_init_offset``); every member
    sees the same augmented views in the same order (one augmentation stream, seeded by ``seeds[0]``); method
    member ``i`` draws λ, μ, π from a generator seeded ``seeds[i] + 5_000``. ``data`` defaults to :func:`load_data`.
    """
    seeds = list(seeds)
    n = len(seeds)
    if n < 1:
        raise ParameterError("need at least one seed")
    if data is None:
        data = load_data(cfg, seeds)
    device = torch.device(device)
    init = seeds + [s + cfg.method_init_offset for s in seeds]
    model = MoCoFT(cfg, init, [False] * n + [True] * n, [s + 5_000 for s in seeds * 2], seeds[0] + 9_000,
                   data.x_train[0].numel()).to(device)
    x = data.x_train.to(device)
    t0 = time.perf_counter()
    hist = fit(model, x, torch.arange(len(x), device=device), steps=cfg.steps, batch_size=cfg.batch_size,
               lr=cfg.lr, loss_fn=lambda loss, _y: loss, seed=seeds[0], progress_bar=progress,
               desc="MoCo + FT ensemble")
    t1 = time.perf_counter()
    ev = evaluate_encoders(model, data, cfg, seeds[0])
    log = {k: (np.stack([t.numpy() for t in v]) if k != "step" else np.array(v)) for k, v in model.log.items()}
    views = torch.stack([cl.augment(data.x_train[:8], torch.Generator().manual_seed(seeds[0] + 3)) for _ in range(2)])
    return Result(n, ev["align"], ev["align_feat"], ev["pos"], ev["neg"], ev["probe_acc"], log, list(hist.loss),
                  torch.cat([data.x_train[:8].unsqueeze(0), views]), t1 - t0, time.perf_counter() - t1)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed method − MoCo differences (paired), and reported-only extras."""
    lg = res.log
    return {
        "align_gain": res.gain(res.align),
        "probe_diff": res.gain(res.probe_acc),
        "align_feat_gain": res.gain(res.align_feat),
        "neg_score_gain": res.gain(res.neg_scores.mean(1)),
        # alignment measured against the negatives: mean positive − mean negative score (reported)
        "align_margin_gain": res.gain(res.pos_scores.mean(1) - res.neg_scores.mean(1)),
        "probe_acc_moco": float(res.arm(res.probe_acc, False).mean()),
        "probe_acc_method": float(res.arm(res.probe_acc, True).mean()),
        # training-time: how much the transformation lowers the method arm's positive score (by construction)
        "pos_drop_by_transform": float((lg["pos_raw"] - lg["pos"])[:, res.n_seeds:].mean()),
    }


# Thresholds chosen from prototypes on seeds 100–105 (design note), before calibrating on SEED = 0 … 11.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("raw_alignment_gain", "align_gain", ">=", 0.06,
              "trained encoder's untransformed positive score on held-out augmented pairs, FT − MoCo (paired)",
              "qualitative: extrapolated positives give more view-invariance (Sec. 4.1, score plots Sec. 3); no number"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("interpolate_positives", {"pos_mode": "interpolate"}, (), "mechanism",
         "λ = Beta(2, 2) ∈ [0, 1] instead of 1 + Beta(2, 2): the same draws, queue update and batches, but the "
         "positives are made easier instead of harder (reported: it raises raw alignment as much, see the note)"),
    Swap("no_positive_transform", {"pos_mode": "none"}, ("raw_alignment_gain",), "mechanism",
         "λ = 1: negative interpolation only (isolates the positive part)"),
    Swap("moco_independent_seeds", {"pos_mode": "none", "neg_mix": False, "method_init_offset": 10_000},
         ("raw_alignment_gain",), "null",
         "no transformation at all, from independent init seeds: the baseline against itself (noise null)"),
    Swap("upweighted_positive", {"pos_mode": "none", "neg_mix": False, "pos_scale": 2.5}, (), "baseline",
         "the sceptic's harder positives without any feature transformation: the positive logit ×2.5 "
         "(reported; it passes both claims, see the design note)"),
)

"""Reprogramming lottery tickets: transfer accuracy and calibration of sparse vs dense source models.

Misra, Goyal, Runwal & Chen, *Reprogramming under constraints: Revisiting efficient and reliable transferability
of lottery tickets*, preprint 2023, arXiv:2308.14969 (a later version, with Chaudhary, is titled *Uncovering the
Hidden Cost of Model Compression*). Official code github.com/landskape-ai/Reprogram_LT, built on ILM-VP
(github.com/OPTML-Group/ILM-VP). Used by ``notebooks/04_transferring_features/09_reprogram_lottery_tickets.ipynb``.

**Setting (the paper's setup as the official code runs it; section numbers not verified).** A source model is pre-trained, then transferred to target tasks while
frozen, in two ways: *linear probing* (LP), ``ŷ = softmax(W φ(x) + b)`` on penultimate features, and *visual
prompting* (VP, ILM-VP): the target image is padded into the source input and a learnable frame is added,

    x̃ = pad(x) + M ⊙ sigmoid(δ)        (δ = 0 at the start; ILM-VP ``ExpansiveVisualPrompt``)

the target logits are the source logits at the mapped classes, ``logit_t = f_s(x̃)_{π(t)}``, and the mapping π is
recomputed at the start of every epoch by *iterative label mapping* (ILM): count (source argmax, target label)
pairs on the prompted training set, then greedily take the largest count, map that pair, strike its row and column
(official ``generate_label_mapping_by_frequency``). Prompt training: Adam, lr × 0.1 at 50 % and 72 % of the epochs.
Source models are dense or *lottery tickets* (LTs) from iterative magnitude pruning (IMP) with weight rewinding:
prune a share of the surviving weights by global magnitude, rewind survivors to an early iteration, retrain, repeat.
Calibration is the expected calibration error ``ECE = Σ_b |B_b|/n · |acc(B_b) − conf(B_b)|`` (15 bins). The
official scripts pass raw logits per batch to their ECE helper; here ECE is the standard one, from softmax
probabilities over the whole test set, so the paper's ECE magnitudes are not comparable and are not quoted.

**Paper's claims (abstract, v1 and v3):** LTs are not universal reprogrammers (for some targets VP on an LT is much
worse than on the dense model at similar upstream accuracy), worst in low-data regimes; dense models are always
better calibrated than their LTs under LP and VP. Table values were not retrieved.

**What this module asserts** (mean over the run's seeds): (1) ``vp_ilm_beats_random_map``: VP with ILM is more
accurate than VP with a random fixed one-to-one mapping (full regime, mean over ticket and dense control);
(2) ``ticket_matches_dense_upstream``: the 87.5 %-sparse ticket's Fashion-MNIST accuracy is ≥ the dense control's
− 0.02 (the premise of the paper's comparison; random masks at the same sparsity fail it). **Reported, not
asserted:** the ECE gap ECE(ticket) − ECE(dense control), mean over LP/VP × few/full: at this scale it does not
clear the dense-vs-dense noise floor (design note ``results/calibration/notes/reprogram_lottery_tickets.md``);
under LP alone the ticket was less well calibrated than the control in every prototype set (the paper's
direction), measured after the claims were fixed and so not asserted.

**The sceptic's control.** A ticket is rewound and retrained once per round; the dense control goes through the
identical schedule (same rewind point, same data order per round) with 0 % pruning, so a gap cannot come from
extra training. With nothing pruned every round rewinds to the same weights, so only its last round is run.

**Simplifications for scale (named):** a 2-conv LeNet-style CNN (:func:`featurelab.models.cnn`) on 16×16
Fashion-MNIST (4,000 images, 2 Adam epochs, rewind to iteration 30) instead of ResNets on ImageNet/CIFAR; 3 IMP
rounds of 50 % (87.5 % sparsity); the target is a procedural printed-digit task (20 matplotlib fonts, random
affine, 12×12 padded to 16×16: a 112-pixel frame) with a fixed 2,000-image test set, instead of CIFAR-10/100,
Flowers, DTD etc.; 10-shot and 100-per-class regimes; VP 15 (few) / 6 (full) epochs with lr 0.01 instead of 100
epochs; LP by 100 full-batch Adam steps. Source models are trained once per seed and cached (:mod:`featurelab.cache`),
so the swap arms cost only the transfer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import prune as tprune

from .. import cache
from ..base import ParameterError
from ..claims import ClaimSpec
from ..data import balanced_indices, load_fashion_mnist
from ..experiment import Knobs, Swap, knob
from ..models import cnn
from ..train import fit, make_optimizer

PRUNINGS = ("imp", "random", "none")
MAPPINGS = ("ilm", "random")
TARGETS = ("digits", "noise")
METHODS = ("lp", "vp")
REGIMES = ("few", "full")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Per seed a run trains (or loads) a dense source CNN on Fashion-MNIST, the *reference* (the dense model put
    through the IMP schedule with 0 % pruning) and the *arm* (the preset: the IMP lottery ticket), then transfers
    both to the target task with linear probing (LP) and visual prompting (VP) in a few-shot and a full regime.

    Attributes:
        image_size: side of the source images (Fashion-MNIST downsampled). target_size: side of the target image
            before padding (the VP frame is ``image_size² − target_size²`` pixels).
        n_source_train: Fashion-MNIST training images. widths, hidden: the CNN. batch_size, lr: source training (Adam).
        epochs: dense pre-training epochs; every IMP round retrains from the rewind point to the same end.
        rewind_step: the iteration whose weights IMP rewinds to. rounds, prune_frac: IMP rounds, share of the
        surviving weights pruned per round.
        pruning: the arm's source model: ``imp`` (lottery ticket), ``random`` (random masks, same schedule and
            sparsity) or ``none`` (dense, same schedule). arm_seed_offset: added to the arm's training seed.
        shots: target images per class (few-shot regime). full_per_class: per class in the full regime.
        n_test: target test images (fixed set). target: ``digits`` (printed digits) or ``noise`` (images replaced by noise).
        vp_epochs_full / vp_epochs_few, vp_lr, vp_batch: visual-prompt training (Adam, lr × 0.1 at 50 % and 72 %).
        mapping: ``ilm`` (iterative label mapping, the paper) or ``random`` (a random fixed one-to-one mapping).
        lp_epochs, lp_lr: linear probe (Adam, full batch).
    """

    image_size: int = knob(16, lo=12, hi=28, doc="side of the source images")
    target_size: int = knob(12, lo=6, hi=26, doc="side of the target image inside the frame")
    n_source_train: int = knob(4000, lo=100, hi=60000, doc="Fashion-MNIST training images")
    widths: tuple = knob((8, 16), lo=1, doc="conv widths of the CNN")
    hidden: int = knob(64, lo=2, doc="feature width")
    batch_size: int = knob(64, lo=1)
    lr: float = knob(3e-3, lo=0.0, lo_open=True)
    epochs: int = knob(2, lo=1, doc="training epochs: dense pre-training, and each IMP round from the rewind point on")
    rewind_step: int = knob(30, lo=0, doc="iteration IMP rewinds to")
    rounds: int = knob(3, lo=1, hi=8, doc="IMP rounds")
    prune_frac: float = knob(0.5, lo=0.0, hi=0.95, doc="share of remaining weights pruned per round")
    pruning: str = knob("imp", choices=PRUNINGS, doc="the arm's source model")
    arm_seed_offset: int = knob(0, lo=0, doc="offset of the arm's training seed")
    shots: int = knob(10, lo=1, hi=100, doc="target images per class, few-shot regime")
    full_per_class: int = knob(100, lo=1, hi=200, doc="target images per class, full regime")
    n_test: int = knob(2000, lo=100, hi=2500, doc="target test images")
    target: str = knob("digits", choices=TARGETS, doc="target task")
    vp_epochs_full: int = knob(6, lo=1, doc="VP epochs, full regime")
    vp_epochs_few: int = knob(15, lo=1, doc="VP epochs, few-shot regime")
    vp_lr: float = knob(0.01, lo=0.0, lo_open=True, doc="VP learning rate")
    vp_batch: int = knob(64, lo=1)
    mapping: str = knob("ilm", choices=MAPPINGS, doc="label mapping of VP")
    lp_epochs: int = knob(100, lo=1, doc="linear-probe full-batch steps")
    lp_lr: float = knob(0.01, lo=0.0, lo_open=True)
    n_seeds: int = knob(3, lo=1, doc="source models (seeds) per run")

    def validate(self) -> None:
        if self.target_size >= self.image_size:
            raise ParameterError(f"TARGET_SIZE={self.target_size} must be smaller than IMAGE_SIZE={self.image_size}")
        if (self.image_size - self.target_size) % 2:
            raise ParameterError(f"IMAGE_SIZE − TARGET_SIZE must be even, got {self.image_size}−{self.target_size}")
        if self.image_size // 2 ** len(self.widths) < 1:
            raise ParameterError(f"IMAGE_SIZE={self.image_size} is too small for {len(self.widths)} pooling stages")
        if self.shots > self.full_per_class:
            raise ParameterError(f"SHOTS={self.shots} must not exceed FULL_PER_CLASS={self.full_per_class}")

    def source(self) -> dict:
        """The settings the dense pre-training depends on (cache key)."""
        keys = ("image_size", "n_source_train", "widths", "hidden", "batch_size", "lr", "epochs", "rewind_step")
        return {k: getattr(self, k) for k in keys}

    def schedule(self) -> dict:
        """The settings of the IMP schedule (cache key of tickets and controls, with the pruning kind)."""
        return {**self.source(), "rounds": self.rounds, "prune_frac": self.prune_frac}


PRESETS = {
    "small": Config(),
    "full": Config(image_size=28, target_size=20, n_source_train=30000, widths=(16, 32), hidden=128, epochs=4,
                   rewind_step=100, vp_epochs_full=20, vp_epochs_few=60, n_seeds=6),
}
SMOKE = {"n_source_train": 300, "epochs": 1, "rewind_step": 1, "rounds": 1, "n_test": 200,
         "vp_epochs_full": 1, "vp_epochs_few": 1, "lp_epochs": 5, "full_per_class": 10, "n_seeds": 1}


# ----------------------------------------------------------------------------------------------- pruning (IMP)
def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """The ``(module, "weight")`` pairs IMP prunes: every conv and linear weight (biases kept)."""
    return [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def global_magnitude_masks(model: nn.Module, frac: float) -> list[Tensor]:
    """Masks that remove the ``frac`` smallest-magnitude *surviving* weights, ranked globally over all layers.

    Weights already zero (pruned in an earlier round) stay pruned; ``frac`` is the share of the survivors removed.
    """
    ws = [getattr(m, n).detach() for m, n in prunable(model)]
    alive = torch.cat([(w != 0).flatten() for w in ws])
    mags = torch.cat([w.abs().flatten() for w in ws])
    k = int(round(frac * int(alive.sum())))
    if k == 0:
        return [(w != 0).float() for w in ws]
    thresh = torch.kthvalue(mags[alive], k).values
    return [((w.abs() > thresh) & (w != 0)).float() for w in ws]


def random_masks(model: nn.Module, frac: float, generator: torch.Generator) -> list[Tensor]:
    """Masks that remove a random ``frac`` of the surviving weights (globally, like IMP but blind to magnitude)."""
    ws = [getattr(m, n).detach() for m, n in prunable(model)]
    alive = torch.cat([(w != 0).flatten() for w in ws])
    idx = torch.nonzero(alive).flatten()
    drop = idx[torch.randperm(len(idx), generator=generator)[: int(round(frac * len(idx)))]]
    keep = alive.float()
    keep[drop] = 0.0
    out, start = [], 0
    for w in ws:
        out.append(keep[start:start + w.numel()].view_as(w))
        start += w.numel()
    return out


def sparsity(model: nn.Module) -> float:
    """Share of prunable weights that are exactly zero."""
    ws = [getattr(m, n).detach() for m, n in prunable(model)]
    return float(sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws))


def train_masked(model: nn.Module, masks: list[Tensor], x: Tensor, y: Tensor, cfg: Config, seed: int,
                 progress: bool | None = None, desc: str = "retrain") -> None:
    """Retrain ``model`` from the rewind point to the end of the schedule with pruned weights held at zero (``torch.nn.utils.prune``)."""
    pairs = prunable(model)
    for (m, n), mask in zip(pairs, masks):
        tprune.custom_from_mask(m, n, mask)
    per_epoch = -(-len(x) // cfg.batch_size)
    fit(model, x, y, steps=cfg.epochs * per_epoch - cfg.rewind_step, batch_size=cfg.batch_size, lr=cfg.lr,
        seed=seed, progress_bar=progress, desc=desc)
    for m, n in pairs:
        tprune.remove(m, n)


def build_cnn(cfg: Config) -> nn.Module:
    """The course's LeNet-style CNN (:func:`featurelab.models.cnn`), 10 Fashion-MNIST classes."""
    return cnn(in_channels=1, n_classes=10, widths=cfg.widths, image_size=cfg.image_size, hidden=cfg.hidden)


def source_data(cfg: Config, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_train, y_train, x_test, y_test)``: a class-balanced Fashion-MNIST subset (by ``seed``), full test set."""
    full = load_fashion_mnist(size=cfg.image_size)
    idx = balanced_indices(full.y_train.numpy(), cfg.n_source_train, seed=seed)
    return full.x_train[idx], full.y_train[idx], full.x_test, full.y_test


def pretrained(cfg: Config, seed: int, progress: bool | None = None, device="cpu") -> tuple[nn.ModuleDict, str]:
    """Dense pre-training (cached): ``{"rewind": weights at iteration rewind_step, "trained": final weights}``."""
    def build() -> nn.Module:
        torch.manual_seed(seed)
        net = build_cnn(cfg)
        return nn.ModuleDict({"rewind": build_cnn(cfg), "trained": net})

    def train(md: nn.ModuleDict) -> dict:
        x, y, xt, yt = source_data(cfg, seed)
        dev = next(md.parameters()).device
        x, y = x.to(dev), y.to(dev)
        net = md["trained"]
        opt = make_optimizer(net.parameters(), "adam", cfg.lr)
        if cfg.rewind_step:
            fit(net, x, y, steps=cfg.rewind_step, batch_size=cfg.batch_size, optimizer=opt, seed=seed,
                progress_bar=progress, desc=f"dense pre-training (seed {seed})")
        md["rewind"].load_state_dict(net.state_dict())
        per_epoch = -(-len(x) // cfg.batch_size)
        fit(net, x, y, steps=cfg.epochs * per_epoch - cfg.rewind_step, batch_size=cfg.batch_size,
            optimizer=opt, seed=seed + 1, progress_bar=progress, desc=f"dense pre-training (seed {seed})")
        return {}

    md, info = cache.load_or_train("reprogram_lt_dense", cfg.source(), seed, build, train, version=1, device=device)
    return md, info.source


def source_model(cfg: Config, seed: int, pruning: str, progress: bool | None = None,
                 device="cpu") -> tuple[nn.Module, str]:
    """The source model after the IMP schedule (cached): ``rounds`` rounds of prune → rewind → retrain.

    ``pruning="imp"``: global magnitude pruning of ``prune_frac`` of the surviving weights of the previous round's
    trained model, weights rewound to iteration ``rewind_step`` (lottery ticket with rewinding). ``"random"``: the
    same schedule with random masks. ``"none"``: the same schedule with nothing pruned (the dense control).
    All three use the same rewind point and the same data order in every round.
    """
    if pruning not in PRUNINGS:
        raise ParameterError(f"pruning must be one of {', '.join(PRUNINGS)}, got {pruning!r}")

    def build() -> nn.Module:
        return build_cnn(cfg)

    def train(net: nn.Module) -> dict:
        md, _ = pretrained(cfg, seed, progress, device)
        x, y, xt, yt = source_data(cfg, seed)
        dev = next(net.parameters()).device
        x, y = x.to(dev), y.to(dev)
        prev = md["trained"]
        g = torch.Generator().manual_seed(seed + 7)
        masks = [(getattr(m, n) != 0).float() for m, n in prunable(prev)]
        # without pruning every round rewinds to the same weights, so only the last round shapes the result
        first = cfg.rounds - 1 if pruning == "none" else 0
        for r in range(first, cfg.rounds):
            if pruning == "imp":
                masks = global_magnitude_masks(prev, cfg.prune_frac)
            elif pruning == "random":
                masks = random_masks(prev, cfg.prune_frac, g)
            net.load_state_dict(md["rewind"].state_dict())                          # rewind
            with torch.no_grad():
                for (m, n), mask in zip(prunable(net), masks):
                    getattr(m, n).mul_(mask.to(dev))
            train_masked(net, [mk.to(dev) for mk in masks], x, y, cfg, seed + 100 + r, progress,
                         f"{pruning} round {r + 1} (seed {seed})")
            prev = net
        return {"sparsity": sparsity(net)}

    net, info = cache.load_or_train(f"reprogram_lt_{pruning}", cfg.schedule(), seed, build, train, version=1,
                                    device=device)
    return net, info.source


@torch.no_grad()
def source_accuracy(net: nn.Module, cfg: Config) -> float:
    """Fashion-MNIST test accuracy (upstream accuracy)."""
    full = load_fashion_mnist(size=cfg.image_size)
    dev = next(net.parameters()).device
    net.eval()
    return float((torch.cat([net(full.x_test[i:i + 4096].to(dev)).argmax(1).cpu()
                             for i in range(0, len(full.x_test), 4096)]) == full.y_test).float().mean())


# ----------------------------------------------------------------------------------------------- target task
FONTS = ("DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique", "DejaVuSansMono",
         "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique", "DejaVuSerif",
         "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic", "STIXGeneral", "STIXGeneralBol",
         "STIXGeneralItalic", "STIXGeneralBolIta", "cmr10", "cmss10", "cmtt10", "cmb10")
"""The TrueType fonts shipped with matplotlib that the printed-digit generator draws from."""


@lru_cache(maxsize=1)
def digit_templates(res: int = 48) -> Tensor:
    """``(len(FONTS), 10, res, res)`` the digits 0–9 drawn in every font of :data:`FONTS`, centred, in [0, 1]."""
    from pathlib import Path

    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    out = np.zeros((len(FONTS), 10, res, res), dtype=np.float32)
    for i, name in enumerate(FONTS):
        font = ImageFont.truetype(str(folder / f"{name}.ttf"), int(res * 0.8))
        for d in range(10):
            img = Image.new("L", (res, res), 0)
            draw = ImageDraw.Draw(img)
            l, t, r, b = draw.textbbox((0, 0), str(d), font=font)
            draw.text(((res - (r - l)) / 2 - l, (res - (b - t)) / 2 - t), str(d), fill=255, font=font)
            out[i, d] = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(out)


def printed_digits(n: int, size: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` procedural printed digits ``(n, 1, size, size)`` in [0, 1] and their labels ``(n,)`` (balanced).

    Each image: a digit in a random font of :data:`FONTS`, randomly rotated (±20°), scaled (0.7–1.0), sheared
    (±0.25) and shifted (±10 %), area-downsampled to ``size``, plus Gaussian pixel noise (σ = 0.05), clipped."""
    g = torch.Generator().manual_seed(seed)
    tmpl = digit_templates()
    y = torch.arange(n) % 10
    y = y[torch.randperm(n, generator=g)]
    font = torch.randint(0, len(FONTS), (n,), generator=g)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g)      # noqa: E731
    ang, sc, sh = u(-0.35, 0.35), u(0.7, 1.0), u(-0.25, 0.25)
    tx, ty = u(-0.1, 0.1), u(-0.1, 0.1)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin + sh, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    src = tmpl[font, y].unsqueeze(1)
    grid = F.affine_grid(theta, list(src.shape), align_corners=False)
    img = F.interpolate(F.grid_sample(src, grid, align_corners=False), size=(size, size), mode="area")
    img = (img + 0.05 * torch.randn(img.shape, generator=g)).clamp(0, 1)
    return img, y


@dataclass
class Target:
    """The target task, images already padded into the source frame: ``pool_x (P, 1, S, S)``, ``pool_y``,
    ``test_x``, ``test_y`` (the fixed test set of ``n_test`` images)."""

    pool_x: Tensor
    pool_y: Tensor
    test_x: Tensor
    test_y: Tensor


def pad(x: Tensor, size: int) -> Tensor:
    """Centre ``(N, 1, t, t)`` images on a zero ``(N, 1, size, size)`` canvas (ILM-VP's padding)."""
    p = (size - x.shape[-1]) // 2
    return F.pad(x, (p, p, p, p))


@lru_cache(maxsize=4)
def target_task(image_size: int, target_size: int, n_test: int, target: str) -> Target:
    """Procedural printed digits (:func:`printed_digits`, fixed generator seed), padded into the source frame: a
    pool of 2,000 training images and ``n_test`` test images. ``target="noise"`` replaces every image by uniform
    noise (labels kept): a null where nothing can transfer."""
    x, y = printed_digits(2000 + n_test, target_size, seed=2024)
    if target == "noise":
        x = torch.rand(x.shape, generator=torch.Generator().manual_seed(3))
    x = pad(x, image_size)
    return Target(x[:2000], y[:2000], x[2000:], y[2000:])


def frame_mask(image_size: int, target_size: int) -> Tensor:
    """``(1, 1, S, S)`` mask M: 1 on the frame around the centred target image, 0 inside."""
    m = torch.ones(1, 1, image_size, image_size)
    p = (image_size - target_size) // 2
    m[..., p:p + target_size, p:p + target_size] = 0.0
    return m


# ----------------------------------------------------------------------------------------------- reprogramming
class VisualPrompt(nn.Module):
    """ILM-VP's ``ExpansiveVisualPrompt``: ``x̃ = pad(x) + M ⊙ sigmoid(δ)``, δ = 0 at the start (frame at 0.5)."""

    def __init__(self, mask: Tensor):
        super().__init__()
        self.register_buffer("mask", mask)
        self.delta = nn.Parameter(torch.zeros_like(mask))

    def forward(self, x_padded: Tensor) -> Tensor:
        return x_padded + self.mask * torch.sigmoid(self.delta)


def greedy_mapping(counts: Tensor) -> Tensor:
    """ILM's one-to-one mapping from ``counts[s, t]`` (source class ``s`` predicted for images of target class
    ``t``): repeatedly take the largest entry, map ``t → s``, strike row ``s`` and column ``t``. Returns
    ``(T,)`` source index per target class (official ``generate_label_mapping_by_frequency``)."""
    c = counts.clone().double()
    n_src, n_tgt = c.shape
    out = torch.full((n_tgt,), -1, dtype=torch.long)
    for _ in range(n_tgt):
        flat = int(torch.argmax(c))
        s, t = divmod(flat, n_tgt)
        out[t] = s
        c[s, :] = -1.0
        c[:, t] = -1.0
    return out


@torch.no_grad()
def ilm_counts(net: nn.Module, prompt: VisualPrompt, x: Tensor, y: Tensor, n_target: int = 10) -> Tensor:
    """``(10, n_target)`` counts of (source argmax, target label) on the prompted training images."""
    pred = net(prompt(x)).argmax(1)
    counts = torch.zeros(net.head.out_features, n_target)
    counts.index_put_((pred.cpu(), y.cpu()), torch.ones(len(y)), accumulate=True)
    return counts


def train_vp(net: nn.Module, x: Tensor, y: Tensor, cfg: Config, epochs: int, seed: int,
             mapping: str | None = None) -> tuple[VisualPrompt, Tensor]:
    """Train a visual prompt on the frozen ``net`` (ILM-VP recipe: Adam, lr × 0.1 at 50 % and 72 % of the epochs).

    With ``mapping="ilm"`` the label mapping is recomputed by :func:`greedy_mapping` at the start of every epoch;
    with ``"random"`` one random permutation (drawn from ``seed``) is fixed. Returns ``(prompt, mapping)``.
    """
    mapping = cfg.mapping if mapping is None else mapping
    g = torch.Generator().manual_seed(seed)
    prompt = VisualPrompt(frame_mask(cfg.image_size, cfg.target_size)).to(x.device)
    for p in net.parameters():
        p.requires_grad_(False)
    net.eval()
    opt = torch.optim.Adam(prompt.parameters(), lr=cfg.vp_lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.5 * epochs), int(0.72 * epochs)], 0.1)
    lm = torch.randperm(net.head.out_features, generator=g)[:10]
    for _ in range(epochs):
        if mapping == "ilm":
            lm = greedy_mapping(ilm_counts(net, prompt, x, y))
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), cfg.vp_batch):
            idx = order[i:i + cfg.vp_batch]
            loss = F.cross_entropy(net(prompt(x[idx]))[:, lm.to(x.device)], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    for p in net.parameters():
        p.requires_grad_(True)
    return prompt, lm


@torch.no_grad()
def vp_logits(net: nn.Module, prompt: VisualPrompt, lm: Tensor, x: Tensor) -> Tensor:
    """``(N, 10)`` target logits: the source logits of the prompted images at the mapped source classes."""
    net.eval()
    return net(prompt(x))[:, lm.to(x.device)]


@torch.no_grad()
def features(net: nn.Module, x: Tensor) -> Tensor:
    """``(N, hidden)`` penultimate features of the frozen source model."""
    net.eval()
    return net.features(x)


def train_lp(f: Tensor, y: Tensor, cfg: Config, seed: int) -> nn.Linear:
    """Linear probe ``softmax(W φ(x) + b)`` on frozen features (Adam, full batch, ``lp_epochs`` steps)."""
    torch.manual_seed(seed)
    head = nn.Linear(f.shape[1], 10).to(f.device)
    fit(head, f, y, epochs=cfg.lp_epochs, batch_size=len(f), lr=cfg.lp_lr, seed=seed, progress_bar=False)
    return head


# ----------------------------------------------------------------------------------------------- calibration
def ece(probs: Tensor, y: Tensor, n_bins: int = 15) -> float:
    """Expected calibration error ``Σ_b |B_b|/n · |acc(B_b) − conf(B_b)|`` with ``n_bins`` equal-width bins of the
    top-1 confidence (softmax probabilities ``(N, K)``, the whole test set at once)."""
    conf, pred = probs.max(1)
    correct = (pred == y).double()
    conf = conf.double()
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)        # (b/n, (b+1)/n]
    total = torch.zeros(n_bins, dtype=torch.double).index_add_(0, bins, torch.ones_like(conf))
    acc = torch.zeros(n_bins, dtype=torch.double).index_add_(0, bins, correct)
    cf = torch.zeros(n_bins, dtype=torch.double).index_add_(0, bins, conf)
    return float((acc - cf).abs().sum() / len(y))


def reliability(probs: Tensor, y: Tensor, n_bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: ``(mean confidence, accuracy, count)`` (NaN where a bin is empty), for reliability diagrams."""
    conf, pred = probs.max(1)
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1).numpy()
    cnt = np.bincount(bins, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore"):
        c = np.bincount(bins, conf.numpy(), minlength=n_bins) / cnt
        a = np.bincount(bins, (pred == y).float().numpy(), minlength=n_bins) / cnt
    return c, a, cnt


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class Transfer:
    """One source model transferred to the target: ``probs[(method, regime)]`` ``(n_test, 10)`` test softmax."""

    probs: dict
    prompts: dict
    mappings: dict
    upstream_acc: float
    sparsity: float
    source: str


def transfer(net: nn.Module, tgt: Target, cfg: Config, seed: int, mapping: str | None = None,
             methods: tuple = METHODS, regimes: tuple = REGIMES) -> dict:
    """LP and VP of ``net`` on the target, few-shot and full; ``{(method, regime): (probs, prompt, mapping)}``.

    The training images are drawn by ``seed`` (the same for every source model of that seed)."""
    dev = next(net.parameters()).device
    full_idx = balanced_indices(tgt.pool_y.numpy(), 10 * cfg.full_per_class, seed=seed + 11)
    few_idx = full_idx[balanced_indices(tgt.pool_y[full_idx].numpy(), 10 * cfg.shots, seed=seed + 12)]
    xt, yt = tgt.test_x.to(dev), tgt.test_y.to(dev)
    out = {}
    for regime, idx in (("few", few_idx), ("full", full_idx)):
        if regime not in regimes:
            continue
        x, y = tgt.pool_x[idx].to(dev), tgt.pool_y[idx].to(dev)
        if "lp" in methods:
            head = train_lp(features(net, x), y, cfg, seed + 13)
            with torch.no_grad():
                out[("lp", regime)] = (torch.softmax(head(features(net, xt)), 1).cpu(), None, None)
        if "vp" in methods:
            epochs = cfg.vp_epochs_few if regime == "few" else cfg.vp_epochs_full
            prompt, lm = train_vp(net, x, y, cfg, epochs, seed + 14, mapping)
            out[("vp", regime)] = (torch.softmax(vp_logits(net, prompt, lm, xt), 1).cpu(), prompt.cpu(), lm)
    return out


def _transfer(net, tgt, cfg, seed, source, mapping=None) -> Transfer:
    t = transfer(net, tgt, cfg, seed, mapping)
    return Transfer({k: v[0] for k, v in t.items()}, {k: v[1] for k, v in t.items() if v[1] is not None},
                    {k: v[2] for k, v in t.items() if v[2] is not None}, source_accuracy(net, cfg), sparsity(net),
                    source)


@dataclass
class Result:
    """Per seed: ``ref[i]`` the dense same-schedule model's :class:`Transfer`, ``arm[i]`` the arm's (the ticket),
    ``rand_map[i]`` ``[ref, arm]`` of ``{regime: probs}``: VP with a random fixed label mapping; ``test_y`` the labels."""

    cfg: Config
    seeds: list[int]
    ref: list[Transfer]
    arm: list[Transfer]
    rand_map: list[list[dict]]
    test_y: Tensor
    seconds_source: float
    seconds_transfer: float

    def metric(self, which: str, fn: str, method: str, regime: str) -> np.ndarray:
        """``(n_seeds,)`` accuracy (``fn="acc"``) or ECE (``fn="ece"``) of ``ref`` or ``arm``."""
        out = []
        for tr in getattr(self, which):
            p = tr.probs[(method, regime)]
            out.append(ece(p, self.test_y) if fn == "ece" else float((p.argmax(1) == self.test_y).float().mean()))
        return np.array(out)


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """Per seed: load or train the dense same-schedule reference and the arm (IMP ticket by default), transfer both
    with LP and VP (few-shot and full), and the reference's VP with a random fixed label mapping."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    tgt = target_task(cfg.image_size, cfg.target_size, cfg.n_test, cfg.target)
    t0 = time.perf_counter()
    models = []
    for s in seeds:
        ref, src_r = source_model(cfg, s, "none", progress, device)
        arm, src_a = source_model(cfg, s + cfg.arm_seed_offset, cfg.pruning, progress, device)
        models.append((ref, src_r, arm, src_a))
    t1 = time.perf_counter()
    refs, arms, rand = [], [], []
    for s, (ref, src_r, arm, src_a) in zip(seeds, models):
        refs.append(_transfer(ref, tgt, cfg, s, src_r))
        arms.append(_transfer(arm, tgt, cfg, s, src_a))
        rand.append([{r: v[0] for (_, r), v in transfer(m, tgt, cfg, s + 500, "random", methods=("vp",),
                                                       regimes=("full",)).items()} for m in (ref, arm)])
    return Result(cfg, seeds, refs, arms, rand, tgt.test_y.clone(), t1 - t0, time.perf_counter() - t1)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed values: ECE gap arm − reference (mean over LP/VP × few/full); VP accuracy gain of ILM over a random
    fixed mapping (mean over reference and arm × few and full); upstream accuracy gap arm − reference."""
    gaps = [res.metric("arm", "ece", m, r) - res.metric("ref", "ece", m, r) for m in METHODS for r in REGIMES]
    vp_ilm = np.mean([res.metric(w, "acc", "vp", "full") for w in ("ref", "arm")], axis=0)
    rand = np.array([np.mean([float((pair[k]["full"].argmax(1) == res.test_y).float().mean()) for k in range(2)])
                     for pair in res.rand_map])
    out = {
        "ece_gap": np.mean(gaps, axis=0).tolist(),
        "vp_map_gain": (vp_ilm - rand).tolist(),
        "vp_ilm_acc": vp_ilm.tolist(),
        "vp_rand_acc": rand.tolist(),
        "upstream_gap": [a.upstream_acc - r.upstream_acc for a, r in zip(res.arm, res.ref)],
        "arm_sparsity": float(np.mean([a.sparsity for a in res.arm])),
    }
    for m in METHODS:
        for r in REGIMES:
            out[f"ece_gap_{m}_{r}"] = (res.metric("arm", "ece", m, r) - res.metric("ref", "ece", m, r)).tolist()
            out[f"acc_gap_{m}_{r}"] = (res.metric("arm", "acc", m, r) - res.metric("ref", "acc", m, r)).tolist()
    return out


CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("vp_ilm_beats_random_map", "vp_map_gain", ">=", 0.015,
              "VP target accuracy (full regime), ILM − random fixed label mapping, mean over ticket and dense control",
              "qualitative: VP with ILM transfers both dense models and LTs (abstract; ILM-VP, CVPR 2023, shows ILM "
              "above random/frequency mappings); table values not retrieved"),
    ClaimSpec("ticket_matches_dense_upstream", "upstream_gap", ">=", -0.02,
              "Fashion-MNIST test accuracy, 87.5 %-sparse IMP ticket − dense control (same schedule)",
              "premise: LTs with upstream accuracy similar to the dense model (abstract); numbers not retrieved"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("random_label_mapping", {"mapping": "random"}, ("vp_ilm_beats_random_map",), "mechanism",
         "VP with a random fixed one-to-one label mapping in ILM's place (compared with another random mapping)"),
    Swap("noise_target", {"target": "noise"}, ("vp_ilm_beats_random_map",), "null",
         "target images replaced by uniform noise, labels kept: nothing to transfer"),
    Swap("random_pruning", {"pruning": "random"}, ("ticket_matches_dense_upstream",), "mechanism",
         "random masks (same per-round rate, rewind and schedule) in the IMP ticket's place"),
)

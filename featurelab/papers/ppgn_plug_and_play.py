"""Plug & Play Generative Networks (PPGN): classifier-guided Langevin sampling in a generator's latent space.

Nguyen, Clune, Bengio, Dosovitskiy & Yosinski, *Plug & Play Generative Networks: Conditional Iterative Generation
of Images in Latent Space*, CVPR 2017, arXiv:1612.00005; official code github.com/Evolving-AI-Lab/ppgn (Caffe,
``sampler.py``, ``1_class_conditional_sampling.sh``). Used by the notebook
``notebooks/03_reading_features/02_ppgn_plug_and_play.ipynb``.

A PPGN has a **generator** ``G: h ↦ x`` and a replaceable **condition network** ``C`` (here a classifier). Sampling
is approximate Metropolis-adjusted Langevin dynamics on ``p(h | y = c) ∝ p(h) p(y = c | h)`` (Sec. 2; in the code space
the update is the paper's Eq. 11, the equation the official ``sampler.py`` implements)::

    h ← h + ε1 ∂log p(h)/∂h + ε2 ∂log p_C(y = c | G(h))/∂h + N(0, ε3²)

The prior gradient comes from a denoising autoencoder (Alain & Bengio 2014): ``∂log p(h)/∂h ∝ R(h) − h``; the
official sampler uses the "upside-down" autoencoder ``R(h) = E(G(h))`` (Sec. 3.4–3.5; the official
model is the noiseless joint PPGN-h of Sec. 3.5). Setting ``ε1 = 0`` gives
DGN-AM (Nguyen et al. 2016), which the paper argues drifts to unrealistic, low-diversity codes.

This module follows the official sampler (``sampler.py``, verified in the card's review):

* condition term ``d_cond = (1 − p_c) · ∂logit_c/∂h`` (the code writes ``1 − p_c`` into the target fc8 unit only
  and back-propagates; it is *not* autograd of ``log softmax``, which would add ``−p_j ∂logit_j/∂h``);
* ``d_h = ε1 · (E(G(h)) − h) + ε2 · d_cond + ε3 · noise`` (ε2 = 1, ε3 = 0 as the official 1e-17);
* normalised step ``h ← h + lr · d_h / mean|d_h|`` (one normalisation per chain:
  :func:`featurelab.actmax.normalized_step`), then ``h`` clipped to the range of the data codes (official [0, 30],
  the fc6 ReLU range).

Because of the normalisation only the ratio of ``ε1‖prior‖`` to ``‖d_cond‖`` matters: ``ε1`` is in this scale's own
units (0.3 gives a median prior:condition norm ratio of about 1.2–2.7), not the official 1e-5 for Caffe fc6 magnitudes.

**What is measured** (the card's review; thresholds in :data:`CLAIMS` were fixed on prototype seeds 5000+ before
calibration). Each seed trains, on *separate* splits of the 8×8 digits: the autoencoder ``E``/``G`` and the guide
``C_g`` (split A, 60 %), the evaluator ``C_e`` (logistic regression on pixels, split B, 20 %), and keeps split C
(20 %) as held-out real digits. Then 10 classes × ``n_chains`` chains run from random codes, once for DGN-AM
(``ε1 = 0``, the baseline) and once for the method arm (the learned prior, or a swap). Judged by measures the
prior does not optimise:

* **realism** — the 5-fold cross-validated accuracy of a logistic-regression classifier that separates held-out
  real digits from the same number of generated ones (0.5 = indistinguishable); the claim is the drop from
  DGN-AM to the method;
* **diversity of recognised samples** — the mean pairwise pixel distance among the final samples of a class that
  the evaluator assigns to that class, across chains, averaged over classes; the claim is the ratio method / DGN-AM.

Reported, not asserted: the evaluator's agreement with the target class (at this scale the prior *costs*
recognisability: DGN-AM is recognised more often — the paper's "better quality" does not show as agreement), a
kNN evaluator, the guide's confidence, within-chain diversity (the paper's sense: samples saved along one chain,
which does not separate the arms here), the share of samples judged real, and the prior:condition ratio.

Simplifications for scale (named): sklearn's 8×8 digits instead of 227×227 ImageNet; an MLP autoencoder
(64 → 128 → 16 ReLU code → 128 → 64 sigmoid) trained with reconstruction loss only, instead of the paper's Joint
PPGN-h generator (image, feature-matching and adversarial losses, fc6 codes of CaffeNet); a 2-layer MLP guide
instead of CaffeNet; batches of chains from random starts rather than one long chain per class; no
Metropolis-Hastings acceptance step (the paper drops it too, Sec. 2.1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..actmax import normalized_step
from ..base import ParameterError
from ..claims import ClaimSpec
from ..experiment import Knobs, Swap, knob
from ..models import mlp
from ..train import fit

PRIORS = ("learned", "none", "untrained", "gaussian", "l2")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Every seed trains its own networks and runs two arms from random codes: DGN-AM (``ε1 = 0``, the baseline, starts
    seeded by the seed) and the method arm (``prior``, ``eps1``, ``noise``; starts seeded by seed + ``start_offset``).

    Attributes:
        code_dim, hidden: the autoencoder 64 → hidden → code_dim (ReLU code) → hidden → 64 (sigmoid).
        ae_epochs, ae_lr, batch_size: its MSE training (:func:`featurelab.train.fit`, Adam).
        guide_hidden, guide_epochs: the guide classifier C_g, an MLP on pixels 64 → guide_hidden → 10.
        n_chains: chains per class (10 classes, all in one batch). steps: sampler iterations (official 200).
        lr_frac: the normalised step, as a fraction of the mean data code (official lr = 1 in fc6 units).
        eps1: the prior weight ε1 (in this scale's units; 0 = DGN-AM). eps2 is fixed at 1 as in the official code.
        prior: the method arm's prior term: ``learned`` (E(G(h)) − h, the paper), ``none`` (DGN-AM),
            ``untrained`` (E'(G'(h)) − h with untrained E', G' of the same shapes), ``gaussian`` (−Σ⁻¹(h − μ)
            of a Gaussian fitted to the data codes) or ``l2`` (−h, DGN-AM's L2 decay). The non-learned priors are
            rescaled so their median norm at the starting codes equals the learned prior's (same strength).
        noise: ε3 in units of each chain's mean|d_cond| (0 as the official 1e-17).
        start_offset: added to the method arm's start seed (10 000 with ``prior="none"`` = DGN-AM against itself
            from independent starts: the noise null).
        save_every: steps between saved samples along each chain (within-chain diversity, trajectories).
        cv_folds: folds of the real-vs-generated classifier.
        n_seeds: seeds per run (each its own split, networks and chains).
    """

    code_dim: int = knob(16, lo=2, hi=256, doc="width of the latent code h")
    hidden: int = knob(128, lo=4, hi=2048)
    ae_epochs: int = knob(100, lo=1, hi=5000, doc="epochs of the autoencoder")
    ae_lr: float = knob(2e-3, lo=0.0, lo_open=True)
    batch_size: int = knob(128, lo=8)
    guide_hidden: int = knob(64, lo=4, hi=2048)
    guide_epochs: int = knob(40, lo=1, hi=5000)
    n_chains: int = knob(50, lo=2, hi=5000, doc="chains per class")
    steps: int = knob(200, lo=0, hi=5000, doc="sampler iterations")
    lr_frac: float = knob(0.1, lo=0.0, lo_open=True, hi=10.0, doc="normalised step / mean data code")
    eps1: float = knob(0.3, lo=0.0, hi=100.0, doc="prior weight ε1 (0 = DGN-AM)")
    prior: str = knob("learned", choices=PRIORS, doc="the method arm's prior term")
    noise: float = knob(0.0, lo=0.0, hi=100.0, doc="ε3 in units of mean|d_cond|")
    start_offset: int = knob(0, lo=0, doc="offset of the method arm's start seeds")
    save_every: int = knob(5, lo=1)
    cv_folds: int = knob(5, lo=2, hi=20)
    n_seeds: int = knob(3, lo=1, hi=20)

    def validate(self) -> None:
        if self.steps and self.save_every > self.steps:
            raise ParameterError(f"SAVE_EVERY={self.save_every} must not exceed STEPS={self.steps}")


PRESETS = {
    "small": Config(),
    "full": Config(n_chains=200, steps=400, n_seeds=10, ae_epochs=300, batch_size=64),
}
SMOKE = {"ae_epochs": 1, "guide_epochs": 1, "n_chains": 4, "steps": 10, "n_seeds": 2}


# ----------------------------------------------------------------------------------------------- networks
class AutoEncoder(nn.Module):
    """``E``: 64 → hidden → code_dim (ReLU code, like fc6) and ``G``: code_dim → hidden → 64 (sigmoid pixels)."""

    def __init__(self, n_pixels: int = 64, hidden: int = 128, code_dim: int = 16):
        super().__init__()
        self.E = nn.Sequential(nn.Linear(n_pixels, hidden), nn.ReLU(), nn.Linear(hidden, code_dim), nn.ReLU())
        self.G = nn.Sequential(nn.Linear(code_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_pixels), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.G(self.E(x))


@dataclass
class Nets:
    """One seed's trained pieces (all on the CPU).

    Attributes:
        ae: the trained E/G. ae_random: untrained E'/G' (the ``untrained`` prior). guide: C_g (MLP, split A).
        evaluator: C_e (sklearn logistic regression on pixels, split B). knn: a kNN-5 evaluator (split B).
        codes: ``(N_A, d)`` data codes E(x_A). h_max: the clip bound (max data code). lr: the step size.
        mu, prec: mean and precision of the Gaussian fitted to the codes. x_real, y_real: held-out split C.
        eval_acc: C_e's accuracy on split C. guide_acc: C_g's accuracy on split C.
    """

    ae: AutoEncoder
    ae_random: AutoEncoder
    guide: nn.Module
    evaluator: object
    knn: object
    codes: Tensor
    h_max: float
    lr: float
    mu: Tensor
    prec: Tensor
    x_real: Tensor
    y_real: Tensor
    eval_acc: float
    guide_acc: float
    recon_err: float


def split_digits(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """sklearn's 8×8 digits in [0, 1], stratified 60/20/20 into ``A`` (E/G, guide), ``B`` (evaluators), ``C`` (real)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    xa, xr, ya, yr = train_test_split(x, y, test_size=0.4, random_state=seed, stratify=y)
    xb, xc, yb, yc = train_test_split(xr, yr, test_size=0.5, random_state=seed + 1, stratify=yr)
    return {"A": (xa, ya), "B": (xb, yb), "C": (xc, yc)}


def train_nets(cfg: Config, seed: int, progress: bool | None = None) -> Nets:
    """Train E/G and the guide on split A, the evaluators on split B; fit the code statistics (one seed)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    parts = split_digits(seed)
    xa, ya = (torch.from_numpy(a) for a in parts["A"])
    xb, yb = parts["B"]
    xc, yc = parts["C"]
    torch.manual_seed(seed)
    ae = AutoEncoder(xa.shape[1], cfg.hidden, cfg.code_dim)
    fit(ae, xa, xa, epochs=cfg.ae_epochs, batch_size=cfg.batch_size, lr=cfg.ae_lr, loss_fn=F.mse_loss,
        seed=seed, progress_bar=progress, desc="autoencoder E/G")
    torch.manual_seed(seed + 1)
    guide = mlp([xa.shape[1], cfg.guide_hidden, 10])
    fit(guide, xa, ya, epochs=cfg.guide_epochs, batch_size=cfg.batch_size, lr=2e-3, seed=seed + 1,
        progress_bar=progress, desc="guide C_g")
    torch.manual_seed(seed + 2)
    ae_random = AutoEncoder(xa.shape[1], cfg.hidden, cfg.code_dim)
    for m in (ae, ae_random, guide):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    evaluator = LogisticRegression(max_iter=2000).fit(xb, yb)
    knn = KNeighborsClassifier(5).fit(xb, yb)
    with torch.no_grad():
        codes = ae.E(xa)
        recon = F.mse_loss(ae(torch.from_numpy(xc)), torch.from_numpy(xc)).item()
        guide_acc = (guide(torch.from_numpy(xc)).argmax(1).numpy() == yc).mean()
    mu = codes.mean(0)
    cov = torch.cov(codes.T)
    cov = cov + 1e-2 * cov.diagonal().mean() * torch.eye(cov.shape[0])
    return Nets(ae, ae_random, guide, evaluator, knn, codes, float(codes.max()), cfg.lr_frac * float(codes.mean()),
                mu, torch.linalg.inv(cov), torch.from_numpy(xc), torch.from_numpy(yc),
                float(evaluator.score(xc, yc)), float(guide_acc), recon)


# ----------------------------------------------------------------------------------------------- the sampler
def condition_grad(guide: nn.Module, G: nn.Module, h: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """The official condition term ``(1 − p_c) · ∂logit_c(G(h))/∂h`` ``(N, d)`` and ``p_c`` ``(N,)``.

    ``sampler.py`` writes ``1 − p_c`` into the target unit of fc8 only and back-propagates to ``h``; the other
    classes' ``−p_j`` terms of ``∂log softmax_c`` are dropped.
    """
    h = h.detach().requires_grad_(True)
    logits = guide(G(h))
    logit_c = logits.gather(1, target.view(-1, 1)).squeeze(1)
    (g,) = torch.autograd.grad(logit_c.sum(), h)
    p_c = logits.detach().softmax(1).gather(1, target.view(-1, 1)).squeeze(1)
    return (1 - p_c).unsqueeze(1) * g, p_c


def prior_grad(nets: Nets, h: Tensor, prior: str) -> Tensor:
    """The prior term ``∂log p(h)/∂h`` (up to scale) ``(N, d)``.

    ``learned``: ``E(G(h)) − h`` (the upside-down DAE of the official code); ``untrained``: the same with untrained
    E', G'; ``gaussian``: ``−Σ⁻¹(h − μ)``; ``l2``: ``−h``; ``none``: zeros.
    """
    with torch.no_grad():
        if prior == "learned":
            return nets.ae.E(nets.ae.G(h)) - h
        if prior == "untrained":
            return nets.ae_random.E(nets.ae_random.G(h)) - h
        if prior == "gaussian":
            return -(h - nets.mu) @ nets.prec
        if prior == "l2":
            return -h
        if prior == "none":
            return torch.zeros_like(h)
    raise ParameterError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")


def start_codes(nets: Nets, n: int, seed: int) -> Tensor:
    """``(n, d)`` random starting codes ``clip(σ · N(0, I), 0, h_max)`` with σ the std of the data codes (the
    official start is N(0, 1) clipped to the fc6 range)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, nets.codes.shape[1], generator=g)
    return (float(nets.codes.std()) * z).clamp(0, nets.h_max)


@dataclass
class Chains:
    """One arm's chains: ``saved`` ``(T, N, d)`` codes at steps ``steps`` (every ``save_every``, the last one final),
    ``p_c`` ``(T, N)`` the guide's probability of the target, ``ratio`` the median prior:condition norm ratio
    (ε1‖prior‖ / ‖d_cond‖) over steps and chains, ``target`` ``(N,)``."""

    saved: Tensor
    step: list[int]
    p_c: Tensor
    ratio: float
    target: Tensor

    @property
    def final(self) -> Tensor:
        return self.saved[-1]


def sample(nets: Nets, target: Tensor, *, steps: int, eps1: float, prior: str = "learned", noise: float = 0.0,
           start_seed: int = 0, save_every: int = 5, eps2: float = 1.0) -> Chains:
    """Run one chain per entry of ``target`` ``(N,)`` (class indices) with the official PPGN update.

    Each step: ``d_h = ε1·prior(h)·κ + ε2·d_cond + ε3·mean|d_cond|·z``; ``h ← clip(h + lr·d_h/mean|d_h|, 0, h_max)``.
    ``κ`` = 1 for the learned prior; for the other priors it makes their median norm at the starting codes equal
    to the learned prior's (the same strength, another shape).
    """
    h = start_codes(nets, len(target), start_seed)
    kappa = 1.0
    if prior not in ("learned", "none"):
        ref = prior_grad(nets, h, "learned").norm(dim=1).median()
        kappa = float(ref / prior_grad(nets, h, prior).norm(dim=1).median().clamp_min(1e-12))
    gen = torch.Generator().manual_seed(start_seed + 31)
    saved, when, pcs, ratios = [h.clone()], [0], [], []
    for t in range(1, steps + 1):
        d_cond, p_c = condition_grad(nets.guide, nets.ae.G, h, target)
        if t == 1:
            pcs.append(p_c)
        d_prior = eps1 * kappa * prior_grad(nets, h, prior) if eps1 else torch.zeros_like(h)
        d_h = d_prior + eps2 * d_cond
        if noise:
            scale = d_cond.abs().mean(1, keepdim=True)
            d_h = d_h + noise * scale * torch.randn(h.shape, generator=gen)
        if eps1:
            ratios.append(d_prior.norm(dim=1) / d_cond.norm(dim=1).clamp_min(1e-12))
        h = normalized_step(h, d_h, nets.lr).clamp(0, nets.h_max).detach()
        if t % save_every == 0 or t == steps:
            saved.append(h.clone())
            when.append(t)
            with torch.no_grad():
                pcs.append(nets.guide(nets.ae.G(h)).softmax(1).gather(1, target.view(-1, 1)).squeeze(1))
    if steps == 0:
        with torch.no_grad():
            pcs.append(nets.guide(nets.ae.G(h)).softmax(1).gather(1, target.view(-1, 1)).squeeze(1))
    ratio = float(torch.cat(ratios).median()) if ratios else 0.0
    return Chains(torch.stack(saved), when, torch.stack(pcs[-len(saved):]), ratio, target)


# ----------------------------------------------------------------------------------------------- the judges
def realism_accuracy(x_real: np.ndarray, x_gen: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression telling real ``(n, 64)`` from generated pixels (equal
    numbers; ``x_gen`` is subsampled to ``len(x_real)``). 0.5 = indistinguishable, 1.0 = always told apart."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    rng = np.random.default_rng(seed)
    n = min(len(x_real), len(x_gen))
    xr = x_real[rng.choice(len(x_real), n, replace=False)]
    xg = x_gen[rng.choice(len(x_gen), n, replace=False)]
    x = np.concatenate([xr, xg])
    y = np.r_[np.ones(n), np.zeros(n)]
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(LogisticRegression(max_iter=2000), x, y, cv=cv).mean())


def judged_real(x_real: np.ndarray, x_gen: np.ndarray, seed: int = 0) -> float:
    """The share of generated images a logistic regression (fit on half of each) calls real on the other half."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed + 1)
    n = min(len(x_real), len(x_gen))
    xr = x_real[rng.permutation(len(x_real))[:n]]
    xg = x_gen[rng.permutation(len(x_gen))[:n]]
    h = n // 2
    clf = LogisticRegression(max_iter=2000).fit(np.concatenate([xr[:h], xg[:h]]), np.r_[np.ones(h), np.zeros(h)])
    return float(clf.predict(xg[h:]).mean())


def class_diversity(x: Tensor, y: Tensor, keep: Tensor | None = None) -> float:
    """Mean pairwise pixel distance among the images of each class (``keep`` selects, e.g., the recognised ones),
    averaged over classes with at least two images; NaN when none has two."""
    vals = []
    for c in torch.unique(y):
        m = y == c
        if keep is not None:
            m = m & keep
        if int(m.sum()) >= 2:
            vals.append(float(torch.pdist(x[m]).mean()))
    return float(np.mean(vals)) if vals else float("nan")


def within_chain_diversity(xs: Tensor, keep: Tensor) -> float:
    """Mean pairwise pixel distance among the recognised samples saved along each chain ``xs`` ``(T, N, 64)``,
    ``keep`` ``(T, N)``; averaged over chains with at least two recognised samples (NaN when none)."""
    vals = []
    for i in range(xs.shape[1]):
        m = keep[:, i]
        if int(m.sum()) >= 2:
            vals.append(float(torch.pdist(xs[m, i]).mean()))
    return float(np.mean(vals)) if vals else float("nan")


@dataclass
class ArmStats:
    """What the judges say about one arm of one seed (final samples unless stated)."""

    realism_acc: float
    judged_real: float
    agreement: float
    agreement_knn: float
    guide_conf: float
    diversity: float
    diversity_all: float
    within_chain: float
    ratio: float
    agreement_trace: np.ndarray
    p_c_trace: np.ndarray


def judge(nets: Nets, chains: Chains, seed: int, cv_folds: int = 5, burn_in: float = 0.5) -> ArmStats:
    """Score one arm's chains with the evaluator, the kNN evaluator and the real-vs-generated classifier.

    Within-chain diversity uses the samples saved after ``burn_in`` of the chain.
    """
    with torch.no_grad():
        xs = nets.ae.G(chains.saved)                                   # (T, N, 64)
    T, N, P = xs.shape
    pred = torch.from_numpy(nets.evaluator.predict(xs.reshape(-1, P).numpy())).view(T, N)
    hit = pred == chains.target.view(1, -1)
    x_final = xs[-1]
    ok = hit[-1]
    late = torch.tensor(chains.step) >= burn_in * chains.step[-1]
    return ArmStats(
        realism_acc=realism_accuracy(nets.x_real.numpy(), x_final.numpy(), cv_folds, seed),
        judged_real=judged_real(nets.x_real.numpy(), x_final.numpy(), seed),
        agreement=float(ok.float().mean()),
        agreement_knn=float((nets.knn.predict(x_final.numpy()) == chains.target.numpy()).mean()),
        guide_conf=float(chains.p_c[-1].mean()),
        diversity=class_diversity(x_final, chains.target, ok),
        diversity_all=class_diversity(x_final, chains.target),
        within_chain=within_chain_diversity(xs[late], hit[late]),
        ratio=chains.ratio,
        agreement_trace=hit.float().mean(1).numpy(),
        p_c_trace=chains.p_c.mean(1).numpy(),
    )


# ----------------------------------------------------------------------------------------------- the experiment
@dataclass
class Result:
    """Everything the notebook plots and checks; lists have one entry per seed.

    Attributes:
        seeds: the seeds. nets: each seed's trained pieces. dgn, method: each seed's :class:`Chains` for DGN-AM
            and the method arm. dgn_stats, method_stats: their :class:`ArmStats`. real_diversity: per-seed class
            diversity of the held-out real digits. seconds_train, seconds_sample: wall-clock time.
    """

    cfg: Config
    seeds: list[int]
    nets: list[Nets] = field(repr=False)
    dgn: list[Chains] = field(repr=False)
    method: list[Chains] = field(repr=False)
    dgn_stats: list[ArmStats]
    method_stats: list[ArmStats]
    real_diversity: list[float]
    seconds_train: float
    seconds_sample: float

    def stat(self, name: str, method: bool = True) -> np.ndarray:
        """Per-seed values of one :class:`ArmStats` field for the method arm (or DGN-AM)."""
        return np.array([getattr(s, name) for s in (self.method_stats if method else self.dgn_stats)])


def targets(n_chains: int) -> Tensor:
    """``(10 · n_chains,)`` class indices: ``n_chains`` chains for each digit, in one batch."""
    return torch.arange(10).repeat_interleave(n_chains)


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """For each seed: train the networks, run DGN-AM and the method arm from random codes, judge both.

    DGN-AM's starts are seeded ``seed + 7``, the method's ``seed + 7 + start_offset`` (the same starts unless the
    offset is set). Everything runs on the CPU (the networks are tiny; ``device`` is accepted for the contract).
    """
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    tgt = targets(cfg.n_chains)
    nets, dgn, meth, ds, ms, real_div = [], [], [], [], [], []
    t_train = t_sample = 0.0
    for s in seeds:
        t0 = time.perf_counter()
        n = train_nets(cfg, s, progress)
        t1 = time.perf_counter()
        base = sample(n, tgt, steps=cfg.steps, eps1=0.0, prior="none", start_seed=s + 7, save_every=cfg.save_every)
        arm = sample(n, tgt, steps=cfg.steps, eps1=cfg.eps1 if cfg.prior != "none" else 0.0, prior=cfg.prior,
                     noise=cfg.noise, start_seed=s + 7 + cfg.start_offset, save_every=cfg.save_every)
        ds.append(judge(n, base, s, cfg.cv_folds))
        ms.append(judge(n, arm, s, cfg.cv_folds))
        real_div.append(class_diversity(n.x_real, n.y_real))
        nets.append(n), dgn.append(base), meth.append(arm)
        t_train += t1 - t0
        t_sample += time.perf_counter() - t1
    return Result(cfg, seeds, nets, dgn, meth, ds, ms, real_div, t_train, t_sample)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    """Per-seed realism gain and diversity ratio (claimed), and reported extras."""
    def ratio(a: np.ndarray, b: np.ndarray) -> list[float]:
        return [float(x / y) if y > 0 and np.isfinite(x) and np.isfinite(y) else float("nan") for x, y in zip(a, b)]

    return {
        "realism_gain": [float(v) for v in res.stat("realism_acc", False) - res.stat("realism_acc")],
        "diversity_ratio": ratio(res.stat("diversity"), res.stat("diversity", False)),
        "realism_acc_method": [float(v) for v in res.stat("realism_acc")],
        "realism_acc_dgn": [float(v) for v in res.stat("realism_acc", False)],
        "agreement_gain": [float(v) for v in res.stat("agreement") - res.stat("agreement", False)],
        "agreement_method": [float(v) for v in res.stat("agreement")],
        "agreement_dgn": [float(v) for v in res.stat("agreement", False)],
        "within_chain_ratio": ratio(res.stat("within_chain"), res.stat("within_chain", False)),
        "diversity_vs_real": ratio(res.stat("diversity"), np.array(res.real_diversity)),
        "prior_condition_ratio": [float(v) for v in res.stat("ratio")],
    }


# Thresholds fixed from prototype seeds 5000+ (design note) before calibrating on SEED = 0 … 11.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("realism_gain", "realism_gain", ">=", 0.03,
              "real-vs-generated classifier accuracy (5-fold CV, held-out real digits), DGN-AM − PPGN: the learned "
              "prior makes samples harder to tell from real ones",
              "qualitative: 'better quality than DGN-AM' (abstract, Sec. 3, Fig. 3); no number found"),
    ClaimSpec("recognised_diversity", "diversity_ratio", ">=", 1.3,
              "mean pairwise pixel distance among final samples the independent evaluator recognises, per class, "
              "PPGN / DGN-AM",
              "qualitative: 'more diverse than DGN-AM' (abstract, Sec. 3.3); no number found"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("prior_off", {"prior": "none", "start_offset": 10_000}, ("realism_gain", "recognised_diversity"), "null",
         "ε1 = 0 (DGN-AM) in the method's place, from independent starts: the paper's ablation, which against the "
         "DGN-AM baseline is the noise null"),
    Swap("untrained_prior", {"prior": "untrained"}, ("realism_gain", "recognised_diversity"), "mechanism",
         "the same update with E'(G'(h)) − h from untrained E', G' (what was learned removed, same form and strength)"),
    Swap("gaussian_prior", {"prior": "gaussian"}, ("recognised_diversity",), "baseline",
         "the sceptic's prior: −Σ⁻¹(h − μ) of a Gaussian fitted to the data codes, at the learned prior's strength"),
    Swap("l2_prior", {"prior": "l2"}, ("realism_gain", "recognised_diversity"), "baseline",
         "DGN-AM's L2 decay on h (−h) as the prior, at the learned prior's strength"),
    Swap("dgn_am_noise", {"prior": "none", "noise": 3.0}, ("realism_gain",), "baseline",
         "no prior, but Langevin noise ε3 = 3 × mean|d_cond|: diversity from noise alone"),
)

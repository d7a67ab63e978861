"""Domain-Adversarial Training of Neural Networks (DANN) — the mechanism, small enough to read.

Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand, Lempitsky, JMLR 17 (2016),
arXiv:1505.07818. Used by ``notebooks/04_transferring_features/01_dann.ipynb``.

DANN splits one network into three parts (paper Sec. 4.2, Fig. 1)::

    x ──► G_f (features) ──► f ──► G_y (label predictor)                     ──► class logits
                             │
                             └──► R_λ (gradient reversal) ──► G_d (domain classifier) ──► domain logit

and trains all of it with ordinary SGD on ``L_y + L_d``. The gradient reversal layer ``R_λ`` is the whole
trick: identity in the forward pass (Eq. 16), multiply the gradient by ``-λ`` in the backward pass (Eq. 17,
with the λ of Sec. 5.2.2). ``G_d`` learns to tell source from target, while ``G_f`` receives the *opposite* of
that gradient and learns features that ``G_d`` cannot separate — the saddle point of Eqs. (9)-(11).

What is here: :func:`grad_reverse` and the schedules :func:`grl_lambda`, :func:`learning_rate` (Sec. 5.2.2);
:func:`make_moons_domains` (Sec. 5.1.1); :class:`DANNNet` — ``G_f``/``G_y``/``G_d`` for ``M`` independent members
(``featurelab.ensemble``); :func:`train_dann`, whose alignment term is a parameter (:func:`adversarial_alignment`
= the paper, :func:`mmd_alignment`, or your own); :func:`proxy_a_distance` with a *fresh* probe (Sec. 3.2, 5.1.5);
the paper contract (:class:`Config`, :data:`PRESETS`, :func:`run`, :func:`claim_values`, :data:`CLAIMS`,
:data:`SWAPS`); :func:`predict_grid`, :func:`member_features`, :func:`rotation_sweep` for the plots. The
Fashion-MNIST → "FMNIST-M" illustration is :mod:`featurelab.papers.dann_images`. The source-only baseline is the
*same* network and run with ``λ = 0`` (the paper's "standard NN", Sec. 5.1.1): its domain head still trains.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from featurelab.base import ParameterError, progress as progress_bar
from featurelab.claims import ClaimSpec
from featurelab.ensemble import EnsembleMLP, member_losses
from featurelab.experiment import Knobs, Swap, knob


# ----------------------------------------------------------------------------------------------------------
# 1. The gradient reversal layer (Sec. 4.2, Eqs. 16-17) and the schedules (Sec. 5.2.2)
# ----------------------------------------------------------------------------------------------------------
class GradientReversal(torch.autograd.Function):
    """``R_λ``: identity forward, ``-λ · grad`` backward. ``lambd``: a float or a tensor broadcasting against
    ``x`` (``(M, 1, 1)`` gives each ensemble member its own λ); it gets no gradient."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, lambd: float | Tensor) -> Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        return -ctx.lambd * grad_output, None


def grad_reverse(x: Tensor, lambd: float | Tensor = 1.0) -> Tensor:
    """The gradient reversal layer as a function: returns ``x``; its gradient gets multiplied by ``-lambd``."""
    return GradientReversal.apply(x, lambd)


def grl_lambda(p: float, gamma: float = 10.0) -> float:
    """Adaptation factor ``λ_p = 2 / (1 + exp(-γ p)) - 1`` (γ = 10): 0 at progress p = 0, → 1 at p = 1.
    Starting at 0 keeps the domain classifier's early, noisy gradient away from the features."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def learning_rate(p: float, mu0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Annealed learning rate ``μ_p = μ0 / (1 + α p)^β`` (paper: μ0 = 0.01, α = 10, β = 0.75)."""
    return mu0 / (1.0 + alpha * p) ** beta


# ----------------------------------------------------------------------------------------------------------
# 2. Data: two inter-twinning moons, the target rotated (Sec. 5.1.1)
# ----------------------------------------------------------------------------------------------------------
def rotate(x: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate points counter-clockwise about the origin. ``x``: ``(n, 2)`` → ``(n, 2)``."""
    a = math.radians(angle_deg)
    return x @ np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]).T


@dataclass
class MoonsDomains:
    """Labelled source, unlabelled target (``yt_train`` is for plots only) and labelled test sets of both.
    Shapes: ``x* (n, 2)`` float32, ``y* (n,)`` int64."""

    xs_train: np.ndarray
    ys_train: np.ndarray
    xt_train: np.ndarray
    yt_train: np.ndarray
    xs_test: np.ndarray
    ys_test: np.ndarray
    xt_test: np.ndarray
    yt_test: np.ndarray
    angle: float


_MOONS_CENTRE = np.array([0.5, 0.25])  # centre of sklearn's moons: the paper centres, scales by 2, rotates


def make_moons_domains(n_train: int = 300, n_test: int = 1000, noise: float = 0.1, angle: float = 35.0,
                       seed: int = 0) -> MoonsDomains:
    """Source = two moons (balanced labels); target = an independent draw rotated by ``angle`` degrees.
    Four independent draws per seed: source/target × train/test (Sec. 5.1.1)."""
    from sklearn.datasets import make_moons

    states = np.random.default_rng(seed).integers(0, 2**31 - 1, size=4)

    def draw(n: int, state: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = make_moons(n_samples=n, noise=noise, random_state=int(state))
        return 2.0 * (x - _MOONS_CENTRE), y.astype(np.int64)

    (xs, ys), (xt, yt), (xs_te, ys_te), (xt_te, yt_te) = (draw(n, s) for n, s in
                                                         zip((n_train, n_train, n_test, n_test), states))
    f32 = np.float32
    return MoonsDomains(xs.astype(f32), ys, rotate(xt, angle).astype(f32), yt, xs_te.astype(f32), ys_te,
                        rotate(xt_te, angle).astype(f32), yt_te, angle)


# ----------------------------------------------------------------------------------------------------------
# 3. The network: G_f, G_y, G_d for M independent members (featurelab.ensemble)
# ----------------------------------------------------------------------------------------------------------
class DANNNet(nn.Module):
    """The three-part DANN network (Fig. 1), ``len(seeds)`` independent members trained side by side.

    * ``G_f``: ``d_in → hidden → hidden`` (ReLU after each) and ``G_y``: ``hidden → n_classes`` — one
      :class:`~featurelab.ensemble.EnsembleMLP` whose ``features`` are ``f`` and whose ``head`` is ``G_y``;
    * ``G_d``: ``hidden → hidden → 1`` (a second EnsembleMLP), the domain logit (> 0 means "target").

    Member ``m`` is drawn from ``seeds[m]``: two members with the same seed start from identical weights.
    Any network with ``features``/``label_head``/``domain_head`` on ``(M, B, ...)`` inputs trains with
    :func:`train_dann` (the CNN of :mod:`featurelab.papers.dann_images` is one).
    """

    def __init__(self, seeds: Sequence[int], d_in: int = 2, hidden: int = 32, n_classes: int = 2):
        super().__init__()
        seeds = [int(s) for s in seeds]
        self.members = len(seeds)
        self.gy = EnsembleMLP(seeds, [d_in, hidden, hidden, n_classes])
        self.gd = EnsembleMLP([s + 7_777_777 for s in seeds], [hidden, hidden, 1])

    def features(self, x: Tensor) -> Tensor:
        """``G_f``: ``x (M, B, d_in)`` or shared ``(B, d_in)`` → ``f (M, B, hidden)``."""
        return self.gy.features(x)

    def label_head(self, f: Tensor) -> Tensor:
        """``G_y``: ``f (M, B, hidden)`` → class logits ``(M, B, n_classes)``."""
        return self.gy.head(f)

    def domain_head(self, f: Tensor) -> Tensor:
        """``G_d`` (no reversal): ``f (M, B, hidden)`` → domain logits ``(M, B)``."""
        return self.gd(f).squeeze(-1)


# ----------------------------------------------------------------------------------------------------------
# 4. The alignment term (the piece an exercise swaps) and the training step (Sec. 5.2.2)
# ----------------------------------------------------------------------------------------------------------
Alignment = Callable[[Any, Tensor, Tensor, Tensor], Tensor]


def adversarial_alignment(model: Any, f: Tensor, domain: Tensor, lam: Tensor) -> Tensor:
    """DANN's term (Eqs. 9-11 through Eqs. 16-17): ``L_d(G_d(R_λ(f)), domain)`` per member ``(M,)``.

    ``f (M, 2B, D)``: source half then target half; ``domain (M, 2B)``: 0/1; ``lam (M, 1, 1)``. Minimising it
    trains ``G_d`` to separate the domains and — through the reversal — ``G_f`` to *un*-separate them.
    """
    return member_losses(model.domain_head(grad_reverse(f, lam)).unsqueeze(-1), domain, "bce")


def mmd_alignment(model: Any, f: Tensor, domain: Tensor, lam: Tensor) -> Tensor:
    """A moment-matching alternative: ``λ · ‖mean f_source − mean f_target‖²`` (a linear-kernel MMD²).

    The domain head still trains, on *detached* features, so its accuracy can be measured as for DANN.
    """
    b = f.shape[1] // 2
    mmd = (f[:, :b].mean(1) - f[:, b:].mean(1)).pow(2).sum(-1)
    return lam.view(-1) * mmd + member_losses(model.domain_head(f.detach()).unsqueeze(-1), domain, "bce")


ALIGNMENTS: dict[str, Alignment] = {"adversarial": adversarial_alignment, "mmd": mmd_alignment}


@dataclass
class TrainLog:
    """Recorded every ``log_every`` steps: ``steps (K,)``, ``lambd (K,)``; the others ``(M, K)``.
    ``domain_acc`` is the domain head's accuracy on the training batch (a picture, not a measurement)."""

    steps: np.ndarray
    lambd: np.ndarray
    label_loss: np.ndarray
    domain_loss: np.ndarray
    domain_acc: np.ndarray


def train_dann(model: Any, xs: Tensor, ys: Tensor, xt: Tensor, lambda_max: Tensor, batch_seeds: Sequence[int],
               *, align: str | Alignment = "adversarial", steps: int = 2000, batch: int = 64, lr0: float = 0.05,
               momentum: float = 0.9, gamma: float = 10.0, log_every: int = 20, progress: bool | None = False,
               desc: str = "DANN") -> TrainLog:
    """Train every member with the paper's recipe (Sec. 5.2.2): SGD + momentum 0.9, ``μ_p`` and ``λ_p``.

    ``xs (M, n_s, ...)``, ``ys (M, n_s)`` labelled source; ``xt (M, n_t, ...)`` unlabelled target;
    member ``m`` aligns with weight ``λ = lambda_max[m] · λ_p`` (0 = source-only). Each step draws ``batch``
    source and ``batch`` target points per member (with replacement, from ``batch_seeds[m]``) and minimises
    ``CE(G_y(f_s), y_s) + align(model, f, domain, λ)`` — by default the adversarial term; ``align`` may be a
    name of :data:`ALIGNMENTS` or any function with that signature.
    """
    align_fn = ALIGNMENTS[align] if isinstance(align, str) else align
    m, device = xs.shape[0], xs.device
    lam_max = lambda_max.to(device=device, dtype=torch.float32).view(m, 1, 1)
    params = list(model.parameters())
    velocity = [torch.zeros_like(q) for q in params]  # hand-written momentum SGD (as torch.optim.SGD)
    gens = [torch.Generator().manual_seed(int(s) + 7_919) for s in batch_seeds]
    rows = torch.arange(m, device=device)[:, None]
    domain = torch.cat([torch.zeros(batch), torch.ones(batch)]).to(device).expand(m, -1)
    chunk, logs = 250, []
    for t in progress_bar(range(steps), desc=desc, enabled=progress):
        if t % chunk == 0:  # the next chunk of batch indices, member by member
            n = min(chunk, steps - t)
            idx_s = torch.stack([torch.randint(xs.shape[1], (n, batch), generator=g) for g in gens]).to(device)
            idx_t = torch.stack([torch.randint(xt.shape[1], (n, batch), generator=g) for g in gens]).to(device)
        i_s, i_t = idx_s[:, t % chunk], idx_t[:, t % chunk]
        p = t / steps  # training progress, 0 → 1
        lam_p, lr = grl_lambda(p, gamma), learning_rate(p, mu0=lr0)
        f = model.features(torch.cat([xs[rows, i_s], xt[rows, i_t]], dim=1))  # (M, 2·batch, D)
        label_loss = member_losses(model.label_head(f[:, :batch]), ys[rows, i_s], "ce")
        align_loss = align_fn(model, f, domain, lam_max * lam_p)
        grads = torch.autograd.grad((label_loss + align_loss).sum(), params, allow_unused=True,
                                    materialize_grads=True)  # members are independent; G_d may sit out
        with torch.no_grad():  # v ← m·v + g;  θ ← θ − μ_p·v
            torch._foreach_mul_(velocity, momentum)
            torch._foreach_add_(velocity, grads)
            torch._foreach_add_(params, velocity, alpha=-lr)
        if t % log_every == 0 or t == steps - 1:
            with torch.no_grad():
                acc = ((model.domain_head(f) > 0).float() == domain).float().mean(1)
            logs.append((t, lam_p, label_loss.detach(), align_loss.detach(), acc))
    stack = lambda i: torch.stack([r[i] for r in logs], 1).cpu().numpy()  # noqa: E731
    return TrainLog(np.array([r[0] for r in logs]), np.array([r[1] for r in logs]), stack(2), stack(3), stack(4))


# ----------------------------------------------------------------------------------------------------------
# 5. Measurements on held-out data
# ----------------------------------------------------------------------------------------------------------
@torch.no_grad()
def features_of(model: Any, x: Tensor, chunk: int = 1000) -> Tensor:
    """``G_f`` over ``x (M, n, ...)`` in chunks of ``chunk`` points (bounds memory for images)."""
    return torch.cat([model.features(x[:, i:i + chunk]) for i in range(0, x.shape[1], chunk)], dim=1)


@torch.no_grad()
def accuracy(model: Any, x: Tensor, y: Tensor) -> np.ndarray:
    """Label accuracy of each member: ``x (M, n, ...)``, ``y (M, n)`` → ``(M,)``."""
    return (model.label_head(features_of(model, x)).argmax(-1) == y).float().mean(1).cpu().numpy()


@torch.no_grad()
def domain_head_accuracy(model: Any, xs: Tensor, xt: Tensor) -> np.ndarray:
    """Each member's *own* ``G_d`` on held-out source and target (balanced accuracy) → ``(M,)``; 0.5 = fooled."""
    acc_s = (model.domain_head(features_of(model, xs)) <= 0).float().mean(1)
    acc_t = (model.domain_head(features_of(model, xt)) > 0).float().mean(1)
    return (0.5 * (acc_s + acc_t)).cpu().numpy()


def proxy_a_distance(feat_source: np.ndarray, feat_target: np.ndarray, *, seed: int = 0, probe: str = "linear",
                     Cs: Sequence[float] = (0.1, 1.0, 10.0)) -> float:
    """Proxy A-distance ``d_A = 2 (1 - 2 ε)`` (Ben-David et al. 2006; Sec. 3.2, Eq. 3), in [0, 2].

    Sec. 5.1.5: label source 0 and target 1, split the pooled *held-out* features in random halves, train a
    *fresh* classifier on one half, ε = its error on the other. ``probe="linear"``: standardised logistic
    regression for each C, lowest error kept (the paper: a linear SVM); ``"mlp"``: a small MLP (Sec. 3.2).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    if probe not in ("linear", "mlp"):
        raise ValueError(f"probe must be 'linear' or 'mlp', got {probe!r}")
    x = np.concatenate([feat_source, feat_target]).astype(np.float64)
    d = np.concatenate([np.zeros(len(feat_source)), np.ones(len(feat_target))])
    perm = np.random.default_rng(seed).permutation(len(x))
    tr, te = perm[: len(x) // 2], perm[len(x) // 2:]
    scaler = StandardScaler().fit(x[tr])
    x_tr, x_te = scaler.transform(x[tr]), scaler.transform(x[te])
    probes = ([LogisticRegression(C=c, max_iter=500) for c in Cs] if probe == "linear"
              else [MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=500, random_state=seed)])
    errors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for clf in probes:
            errors.append(float(np.mean(clf.fit(x_tr, d[tr]).predict(x_te) != d[te])))
    return 2.0 * (1.0 - 2.0 * min(min(errors), 0.5))


# ----------------------------------------------------------------------------------------------------------
# 6. The experiment (the paper contract)
# ----------------------------------------------------------------------------------------------------------
ARMS = ("dann", "source_only", "source_only_reseeded", "wide_source_only")
_RESEED = 1_000_003  # seed offset of an arm that must not share init or batches with the baseline


@dataclass(frozen=True)
class Config(Knobs):
    """The rotated-moons experiment (notebook knobs: the upper-case field names). Each seed trains the arm in
    DANN's place (``arm``) and the source-only baseline on the same data."""

    n_seeds: int = knob(5, lo=1, doc="seeds per run, each a DANN/baseline pair")
    n_train: int = knob(300, lo=2, doc="training points per domain")
    n_test: int = knob(1000, lo=2, doc="held-out points per domain")
    noise: float = knob(0.1, lo=0.0)
    angle: float = knob(35.0, lo=0.0, hi=180.0, doc="target rotation in degrees (paper: 35)")
    hidden: int = knob(32, lo=1)
    steps: int = knob(2000, lo=1)
    batch: int = knob(64, lo=1, doc="points per domain per step")
    lr0: float = knob(0.05, lo=0.0, lo_open=True, doc="μ0 of the learning-rate schedule (paper: 0.01)")
    momentum: float = knob(0.9, lo=0.0, hi=0.999)
    lambda_max: float = knob(1.0, lo=0.0, doc="DANN's λ_p is scaled by this (0 = source-only)")
    gamma: float = knob(10.0, lo=0.0, lo_open=True)
    alignment: str = knob("adversarial", choices=tuple(ALIGNMENTS), doc="DANN's alignment term")
    arm: str = knob("dann", choices=ARMS, doc="what trains in DANN's place (swaps change it)")
    wide_hidden: int = knob(128, lo=1, doc="width of the wide source-only arm")
    sweep_angles: tuple[float, ...] = knob((), lo=0.0, hi=180.0, doc="rotation sweep for the plots")


PRESETS = {
    "small": Config(),
    "full": Config(n_seeds=20, steps=4000, sweep_angles=(0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0)),
}
SMOKE = {"n_seeds": 1, "steps": 2, "n_test": 20, "sweep_angles": ()}


def _arm_plan(cfg: Config, seeds: list[int]) -> tuple[int, float, list[int]]:
    """(hidden width, λ_max, init/batch seeds) of the arm in DANN's place."""
    shifted = [s + _RESEED for s in seeds]
    return {"dann": (cfg.hidden, cfg.lambda_max, seeds), "source_only": (cfg.hidden, 0.0, seeds),
            "source_only_reseeded": (cfg.hidden, 0.0, shifted),
            "wide_source_only": (cfg.wide_hidden, 0.0, shifted)}[cfg.arm]


def _stack(arrays: Sequence[np.ndarray], device: Any, reps: int = 1) -> Tensor:
    return torch.cat([torch.as_tensor(np.stack(arrays))] * reps).to(device)


def _train(cfg: Config, doms: list[MoonsDomains], hidden: int, lams: list[float], inits: list[int], device: Any,
           progress: bool | None, desc: str) -> tuple[DANNNet, TrainLog]:
    """One ensemble: member ``j`` trains on ``doms[j % len(doms)]`` with λ_max ``lams[j]`` from seed ``inits[j]``."""
    reps = len(inits) // len(doms)
    xs, ys = _stack([d.xs_train for d in doms], device, reps), _stack([d.ys_train for d in doms], device, reps)
    model = DANNNet(inits, hidden=hidden).to(device)
    log = train_dann(model, xs, ys, _stack([d.xt_train for d in doms], device, reps), torch.tensor(lams), inits,
                     align=cfg.alignment, steps=cfg.steps, batch=cfg.batch, lr0=cfg.lr0, momentum=cfg.momentum,
                     gamma=cfg.gamma, progress=progress, desc=desc)
    return model, log


@dataclass
class Result:
    """Per-seed arrays ``(n_seeds,)``; ``*_dann`` is the arm in DANN's place (``cfg.arm``).

    ``acc_target_*``/``acc_source_*``: held-out label accuracy; ``domain_head_acc_*``: the member's own
    ``G_d`` on held-out points (0.5 = fooled); ``pad_*``: proxy A-distance of the features with a fresh
    linear probe (``pad_input``: of the raw inputs). ``nets[arm] = (model, first member)``; ``logs[arm]``.
    """

    cfg: Config
    seeds: list[int]
    acc_target_dann: np.ndarray
    acc_target_source_only: np.ndarray
    acc_source_dann: np.ndarray
    acc_source_source_only: np.ndarray
    domain_head_acc_dann: np.ndarray
    domain_head_acc_source_only: np.ndarray
    pad_dann: np.ndarray
    pad_source_only: np.ndarray
    pad_input: np.ndarray
    seconds: float
    nets: dict[str, tuple[DANNNet, int]] = field(repr=False)
    logs: dict[str, np.ndarray] = field(repr=False)
    log_steps: np.ndarray = field(repr=False)
    domains: list[MoonsDomains] = field(repr=False)

    @property
    def margin(self) -> np.ndarray:
        """Per-seed target-accuracy gain, DANN − source-only."""
        return self.acc_target_dann - self.acc_target_source_only

    def net(self, arm: str, i: int = 0) -> tuple[DANNNet, int]:
        """(model, member index) of seed number ``i`` for ``arm`` in {"dann", "source_only"}."""
        model, first = self.nets[arm]
        return model, first + i


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None
        ) -> Result:
    """Train the arm in DANN's place and the source-only baseline on rotated moons for each seed; measure.

    Seed ``s`` fixes the data, and (for DANN and the source-only baseline) the initial weights and batch order,
    so a DANN/baseline pair differs only in λ. Arms of equal width train as one ensemble of ``2 · n_seeds``.
    """
    t0 = time.perf_counter()
    seeds, n = [int(s) for s in seeds], len(seeds)
    doms = [make_moons_domains(cfg.n_train, cfg.n_test, cfg.noise, cfg.angle, seed=s) for s in seeds]
    hidden, lam, inits = _arm_plan(cfg, seeds)
    if hidden == cfg.hidden:
        model, log = _train(cfg, doms, hidden, [lam] * n + [0.0] * n, inits + seeds, device, progress,
                            f"{cfg.arm} + source-only, {n} seed(s)")
        nets, logs = {"dann": (model, 0), "source_only": (model, n)}, {"dann": log.domain_acc[:n],
                                                                      "source_only": log.domain_acc[n:]}
    else:
        nets, logs = {}, {}
        for arm, (h, la, ini) in (("dann", (hidden, lam, inits)), ("source_only", (cfg.hidden, 0.0, seeds))):
            model, log = _train(cfg, doms, h, [la] * n, ini, device, progress, f"{arm}, {n} seed(s)")
            nets[arm], logs[arm] = (model, 0), log.domain_acc
    out: dict[str, Any] = {}
    xs_te, ys_te = _stack([d.xs_test for d in doms], device), _stack([d.ys_test for d in doms], device)
    xt_te, yt_te = _stack([d.xt_test for d in doms], device), _stack([d.yt_test for d in doms], device)
    for arm, (model, first) in nets.items():
        reps = model.members // n
        sl = slice(first, first + n)
        xs_r, xt_r = xs_te.repeat(reps, 1, 1), xt_te.repeat(reps, 1, 1)
        out[f"acc_source_{arm}"] = accuracy(model, xs_r, ys_te.repeat(reps, 1))[sl]
        out[f"acc_target_{arm}"] = accuracy(model, xt_r, yt_te.repeat(reps, 1))[sl]
        out[f"domain_head_acc_{arm}"] = domain_head_accuracy(model, xs_r, xt_r)[sl]
        fs, ft = features_of(model, xs_r)[sl].cpu().numpy(), features_of(model, xt_r)[sl].cpu().numpy()
        out[f"pad_{arm}"] = np.array([proxy_a_distance(fs[i], ft[i], seed=seeds[i]) for i in range(n)])
    out["pad_input"] = np.array([proxy_a_distance(d.xs_test, d.xt_test, seed=s) for d, s in zip(doms, seeds)])
    return Result(cfg=cfg, seeds=seeds, **out, seconds=time.perf_counter() - t0, nets=nets, logs=logs,
                  log_steps=log.steps, domains=doms)


def claim_values(res: Result) -> dict[str, np.ndarray]:
    """Per-seed values ``(S,)``: ``dann_target_gain`` = acc_T(DANN) − acc_T(source-only) on held-out target
    points; ``dann_domain_head_fooled`` = own-``G_d`` held-out accuracy, source-only − DANN; ``pad_gap``
    (reported, not asserted) = PAD(source-only) − PAD(DANN)."""
    return {"dann_target_gain": res.margin,
            "dann_domain_head_fooled": res.domain_head_acc_source_only - res.domain_head_acc_dann,
            "pad_gap": res.pad_source_only - res.pad_dann}


# Calibrated by `featurelab calibrate dann` (results/calibration/dann.md): means over the run's 5 seeds.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("dann_target_gain", "dann_target_gain", ">=", 0.10,
              "held-out target accuracy, DANN − source-only (same data, init, batches), mean over seeds",
              "toy moons 35°: qualitative (Fig. 2); MNIST→MNIST-M 0.523 → 0.767 (+0.24), Table 2"),
    ClaimSpec("dann_domain_head_fooled", "dann_domain_head_fooled", ">=", 0.10,
              "own domain head's held-out accuracy, source-only − DANN (DANN's features fool it)",
              "qualitative: the domain classifier is driven towards chance (Sec. 4.2)"),
)

_BOTH = ("dann_target_gain", "dann_domain_head_fooled")
SWAPS: tuple[Swap, ...] = (
    Swap("noise_null", {"arm": "source_only_reseeded"}, _BOTH, "null",
         "the source-only baseline, rerun with independent init and batch seeds, in DANN's place"),
    Swap("wide_source_only", {"arm": "wide_source_only"}, _BOTH, "baseline",
         "a 4× wider source-only network (hidden 128), trained as long, in DANN's place"),
    Swap("no_reversal", {"lambda_max": 0.0}, _BOTH, "sanity",
         "DANN with λ = 0: identical to the baseline by construction (both differences exactly 0)"),
)


# ----------------------------------------------------------------------------------------------------------
# 7. For the plots: decision boundaries, features, rotation sweep
# ----------------------------------------------------------------------------------------------------------
@torch.no_grad()
def predict_grid(model: DANNNet, member: int, xlim: tuple[float, float] = (-3.5, 3.5),
                 ylim: tuple[float, float] = (-3.0, 3.0), n: int = 150, head: str = "label"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One member on an ``n × n`` grid: ``xx, yy, prob`` ``(n, n)``; P(class 1) (``head="label"``) or
    P(target) (``head="domain"``)."""
    if head not in ("label", "domain"):
        raise ValueError(f"head must be 'label' or 'domain', got {head!r}")
    xx, yy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    dev = next(model.parameters()).device
    f = model.features(torch.as_tensor(np.c_[xx.ravel(), yy.ravel()], dtype=torch.float32, device=dev))
    prob = (torch.softmax(model.label_head(f), -1)[member, :, 1] if head == "label"
            else torch.sigmoid(model.domain_head(f))[member])
    return xx, yy, prob.cpu().numpy().reshape(n, n)


@torch.no_grad()
def member_features(model: DANNNet, member: int, x: np.ndarray) -> np.ndarray:
    """``G_f(x)`` of one member, for PCA plots: ``(n, d)`` → ``(n, hidden)``."""
    dev = next(model.parameters()).device
    return model.features(torch.as_tensor(x, dtype=torch.float32, device=dev))[member].cpu().numpy()


def rotation_sweep(cfg: Config, seeds: Sequence[int], angles: Sequence[float], *, device: Any = "cpu",
                   progress: bool | None = None) -> dict[str, np.ndarray]:
    """Mean held-out target accuracy of DANN and source-only per rotation angle: ``{"angle", "acc_target_dann",
    "acc_target_source_only"}``, each ``(A,)``. All (angle, seed) pairs train as one ensemble."""
    angles = [float(a) for a in angles]
    if not angles:
        raise ParameterError("no angles to sweep: pass angles=... (e.g. cfg.sweep_angles)")
    pairs = [(a, int(s)) for a in angles for s in seeds]
    doms = [make_moons_domains(cfg.n_train, cfg.n_test, cfg.noise, a, seed=s) for a, s in pairs]
    k = len(pairs)
    inits = [s for _, s in pairs] * 2
    model, _ = _train(replace(cfg, arm="dann"), doms, cfg.hidden, [cfg.lambda_max] * k + [0.0] * k, inits, device,
                      progress, f"rotation sweep, {len(angles)} angles × {len(seeds)} seed(s)")
    xt, yt = _stack([d.xt_test for d in doms], device, 2), _stack([d.yt_test for d in doms], device, 2)
    acc = accuracy(model, xt, yt).reshape(2, len(angles), len(seeds)).mean(-1)
    return {"angle": np.array(angles), "acc_target_dann": acc[0], "acc_target_source_only": acc[1]}

"""Feature Learning in Infinite-Width Neural Networks (Yang & Hu, ICML 2021) — abc-parametrizations and μP.

arXiv:2011.14522 · official code: https://github.com/edwardjhu/TP4
Used by: ``notebooks/01_how_networks_learn/04_mup_feature_learning.ipynb``.

The paper (Sec. 3, "abc-parametrizations") describes an ``L``-hidden-layer MLP of width ``n`` by three
exponents per layer ``l``::

    W^l = n^{-a_l} w^l            the weight the forward pass uses (a "multiplier" times a stored tensor)
    w^l_ij ~ N(0, n^{-2 b_l})     how the *stored* tensor is initialised
    lr = eta * n^{-c}             SGD updates the stored tensor w^l with this learning rate

Three members of the family (SGD, input dimension fixed, ``l = 1`` input layer, ``l = L+1`` readout):

=========  =========================  =========================  ======
name       a (input, hidden, output)  b (input, hidden, output)  c
=========  =========================  =========================  ======
SP         0, 0, 0                    0, 1/2, 1/2                0
NTK        0, 1/2, 1/2                0, 0, 0                    0
μP         -1/2, 0, 1/2               1/2, 1/2, 1/2              0
=========  =========================  =========================  ======

The NTK parametrization is stable but its hidden features move by ``Θ(n^{-1/2})`` in a step, so they
freeze as ``n → ∞`` (kernel regime). SP with a width-independent learning rate blows up as ``n`` grows.
μP (the Maximal Update Parametrization) scales the input layer up and the readout down so that
every layer's features move by ``Θ(1)`` at any width: it is the parametrization that learns features.

Base width. Constants do not change an abc-parametrization, so here every scaling is written relative to
a base width ``n0`` (``n/n0`` instead of ``n``), with base multipliers ``1/sqrt(fan_in)`` at ``n0``
(``1/sqrt(d)``, ``1/sqrt(n0)``, ``1/sqrt(n0)``) and unit init at ``n0``. Then SP, NTK and μP are *the same
network* at ``n = n0`` and differ only in how they change with width, so one learning rate tuned once at
``n0`` serves all three (this is also the idea behind μTransfer). Concretely for μP this gives effective
per-``W`` init variances ``1/d, 1/n, n0/n^2`` and learning rates ``∝ n, 1, 1/n``, as in the paper's table.

What is here: :data:`PARAMETRIZATIONS`, :class:`AbcMLP` (the network in abc form), :func:`train_abc`
(plain SGD on the stored tensors, recording feature movement), :class:`MupConfig` / :data:`PRESETS`,
:func:`run_width_sweep` (the experiment) and :func:`fit_slope`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from featurelab.run import ParameterError

__all__ = [
    "Abc",
    "PARAMETRIZATIONS",
    "AbcMLP",
    "TrainRecord",
    "train_abc",
    "relative_movement",
    "fit_slope",
    "MupConfig",
    "PRESETS",
    "SweepResult",
    "run_width_sweep",
    "abc_table",
    "claim_values",
    "load_digits_data",
]


# ----------------------------------------------------------------------------------------------------------
# 1. abc-parametrizations (Sec. 3) and the three members compared here
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Abc:
    """Exponents of one abc-parametrization of a 2-hidden-layer MLP: ``a``/``b`` per layer (input, hidden, output)."""

    name: str
    a: tuple[float, float, float]
    b: tuple[float, float, float]
    c: float


PARAMETRIZATIONS: dict[str, Abc] = {
    "SP": Abc("SP", a=(0.0, 0.0, 0.0), b=(0.0, 0.5, 0.5), c=0.0),
    "NTK": Abc("NTK", a=(0.0, 0.5, 0.5), b=(0.0, 0.0, 0.0), c=0.0),
    "muP": Abc("muP", a=(-0.5, 0.0, 0.5), b=(0.5, 0.5, 0.5), c=0.0),
}


def abc_table() -> list[dict[str, str]]:
    """The table of exponents, one row per parametrization (for display)."""
    rows = []
    for p in PARAMETRIZATIONS.values():
        rows.append({"parametrization": p.name, "a (in, hid, out)": ", ".join(f"{v:+.1f}" for v in p.a),
                     "b (in, hid, out)": ", ".join(f"{v:.1f}" for v in p.b), "c": f"{p.c:.0f}"})
    return rows


class AbcMLP:
    """``d → n → n → k`` ReLU MLP without biases, in abc form relative to a base width ``n0``.

    Forward (``x``: ``(B, d)``)::

        h1 = m1 * x  @ w1.T      (B, n)   first pre-activation
        h2 = m2 * relu(h1) @ w2.T  (B, n)   second pre-activation (the "features" we track)
        f  = m3 * relu(h2) @ w3.T  (B, k)   logits

    with multipliers ``m_l = base_l * (n/n0)^{-a_l}`` (``base = 1/sqrt(d), 1/sqrt(n0), 1/sqrt(n0)``) and stored
    tensors ``w_l ~ N(0, (n/n0)^{-2 b_l})``. The stored tensors are the only trainable parameters; the
    learning rate on them is ``lr * (n/n0)^{-c}`` (see :func:`train_abc`).
    """

    def __init__(self, d: int, n: int, k: int, param: Abc | str, n0: int = 128,
                 generator: torch.Generator | None = None, device: torch.device | str = "cpu"):
        if isinstance(param, str):
            if param not in PARAMETRIZATIONS:
                raise ParameterError(f"unknown parametrization {param!r}; use one of {', '.join(PARAMETRIZATIONS)}")
            param = PARAMETRIZATIONS[param]
        for name, v in (("d", d), ("n", n), ("k", k), ("n0", n0)):
            if not isinstance(v, int) or v < 1:
                raise ParameterError(f"{name} must be a positive integer, got {v!r}")
        self.param, self.n, self.n0, self.d, self.k = param, n, n0, d, k
        r = n / n0
        base = (1 / math.sqrt(d), 1 / math.sqrt(n0), 1 / math.sqrt(n0))
        self.mult = tuple(base[i] * r ** (-param.a[i]) for i in range(3))
        self.init_std = tuple(r ** (-param.b[i]) for i in range(3))
        shapes = ((n, d), (n, n), (k, n))
        self.w = [
            (torch.randn(s, generator=generator) * std).to(device).requires_grad_(True)
            for s, std in zip(shapes, self.init_std)
        ]

    @property
    def lr_scale(self) -> float:
        """``(n/n0)^{-c}``: the factor on the base learning rate."""
        return (self.n / self.n0) ** (-self.param.c)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x``: ``(B, d)`` → ``(logits (B, k), h2 (B, n))``."""
        m1, m2, m3 = self.mult
        h1 = m1 * (x @ self.w[0].T)
        h2 = m2 * (torch.relu(h1) @ self.w[1].T)
        return m3 * (torch.relu(h2) @ self.w[2].T), h2

    __call__ = forward

    def effective(self) -> dict[str, tuple[float, float, float]]:
        """Per-layer variance of the effective weight ``W`` at init, and its effective SGD learning rate.

        For a stored ``w`` updated with rate ``lr``, ``W = m w`` moves by ``m^2 * lr * dL/dW`` — so the
        effective rate on ``W`` is ``m^2 * lr_scale`` (per unit base learning rate).
        """
        return {"init_var": tuple((m * s) ** 2 for m, s in zip(self.mult, self.init_std)),
                "lr": tuple(m ** 2 * self.lr_scale for m in self.mult)}


# ----------------------------------------------------------------------------------------------------------
# 2. Training with plain SGD, recording how far the features move
# ----------------------------------------------------------------------------------------------------------
def relative_movement(h_t: Tensor, h_0: Tensor) -> float:
    """``||h_t - h_0||_rms / ||h_0||_rms`` for ``(B, n)`` features: the relative change of a typical coordinate."""
    return float((h_t - h_0).pow(2).mean().sqrt() / h_0.pow(2).mean().sqrt())


@dataclass
class TrainRecord:
    """What :func:`train_abc` measured. ``movement[t]`` after ``t+1`` steps; ``loss`` on the full training set."""

    movement: list[float]
    train_loss: float
    test_acc: float
    diverged: bool
    logit_rms: float = float("nan")  # rms of the logits on the eval batch after training


def train_abc(model: AbcMLP, x: Tensor, y: Tensor, x_eval: Tensor, batches: Tensor, lr: float,
              x_test: Tensor | None = None, y_test: Tensor | None = None) -> TrainRecord:
    """Plain SGD (no momentum) on the stored tensors ``w`` with learning rate ``lr * (n/n0)^{-c}``.

    Args:
        x: ``(N, d)`` training inputs, y: ``(N,)`` labels.
        x_eval: ``(E, d)`` a fixed batch on which the second pre-activation ``h2`` is tracked.
        batches: ``(T, B)`` int indices into ``x``: the sample sequence (the same for every width).
    Returns a :class:`TrainRecord`; a non-finite loss marks the run ``diverged`` (movement/loss = ``nan``).
    """
    eta = lr * model.lr_scale
    with torch.no_grad():
        h0 = model(x_eval)[1]
    movement: list[float] = []
    diverged = False
    for idx in batches:
        logits, _ = model(x[idx])
        loss = F.cross_entropy(logits, y[idx])
        if not torch.isfinite(loss):
            diverged = True
            break
        grads = torch.autograd.grad(loss, model.w)
        with torch.no_grad():
            for w, g in zip(model.w, grads):
                w.sub_(eta * g)
            movement.append(relative_movement(model(x_eval)[1], h0))
    if diverged:
        movement += [float("nan")] * (len(batches) - len(movement))
        return TrainRecord(movement, float("nan"), float("nan"), True, float("inf"))
    with torch.no_grad():
        train_loss = float(F.cross_entropy(model(x)[0], y))
        acc = float((model(x_test)[0].argmax(1) == y_test).float().mean()) if x_test is not None else float("nan")
        logit_rms = float(model(x_eval)[0].pow(2).mean().sqrt())
    bad = not math.isfinite(train_loss) or not math.isfinite(movement[-1])
    return TrainRecord(movement, float("nan") if bad else train_loss, acc, bad, logit_rms)


def fit_slope(widths: np.ndarray | list[int], values: np.ndarray | list[float]) -> float:
    """Least-squares slope of ``log(values)`` against ``log(widths)`` (both ``(W,)``); ``nan`` if any value is bad."""
    v = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        return float("nan")
    return float(np.polyfit(np.log(np.asarray(widths, dtype=float)), np.log(v), 1)[0])


# ----------------------------------------------------------------------------------------------------------
# 3. The experiment: feature movement and loss against width
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MupConfig:
    """Every knob of the width sweep. Each seed trains every width in every parametrization."""

    n_seeds: int = 3
    widths: tuple[int, ...] = (64, 128, 256, 512, 1024)
    n0: int = 128  # base width: SP, NTK and μP coincide here
    lr: float = 16.0  # one learning rate, tuned once at n0 and shared by all parametrizations
    steps: int = 20
    batch: int = 256
    n_train: int = 1200
    n_eval: int = 128  # fixed batch on which feature movement is measured
    params: tuple[str, ...] = ("NTK", "muP")  # parametrizations in the claim sweep
    sp_widths: tuple[int, ...] = (64, 128, 256, 512)  # SP illustration (one seed); () to skip

    def __post_init__(self) -> None:
        for name in ("n_seeds", "n0", "steps", "batch", "n_train", "n_eval"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ParameterError(f"MupConfig.{name} must be a positive integer, got {v!r}")
        if len(self.widths) < 2 or any(not isinstance(w, int) or w < 1 for w in self.widths):
            raise ParameterError(f"MupConfig.widths needs at least two positive integer widths, got {self.widths!r}")
        if list(self.widths) != sorted(set(self.widths)):
            raise ParameterError(f"MupConfig.widths must be strictly increasing, got {self.widths!r}")
        if any(not isinstance(w, int) or w < 1 for w in self.sp_widths):
            raise ParameterError(f"MupConfig.sp_widths must be positive integers, got {self.sp_widths!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ParameterError(f"MupConfig.lr must be a positive number, got {self.lr!r}")
        unknown = [p for p in self.params if p not in PARAMETRIZATIONS]
        if unknown or not self.params:
            raise ParameterError(f"MupConfig.params must name some of {', '.join(PARAMETRIZATIONS)}, got {self.params!r}")
        if not 10 <= self.n_train <= 1203:
            raise ParameterError(f"MupConfig.n_train must lie in [10, 1203] (the digits training split), got {self.n_train}")
        if self.batch > self.n_train or self.n_eval > self.n_train:
            raise ParameterError("MupConfig.batch and n_eval must not exceed n_train")


PRESETS: dict[str, MupConfig] = {
    "small": MupConfig(),
    "full": MupConfig(n_seeds=10, widths=(64, 128, 256, 512, 1024, 2048, 4096, 8192),
                      sp_widths=(64, 128, 256, 512, 1024, 2048, 4096, 8192)),
}


@dataclass
class SweepResult:
    """Per parametrization ``p``: ``movement[p]`` is ``(S, W, T)`` (seeds, widths, steps), ``loss[p]`` and
    ``acc[p]`` are ``(S, W)``; ``slopes[p]`` is ``(S,)``, the fitted log-log slope of the final movement."""

    widths: np.ndarray
    seeds: list[int]
    movement: dict[str, np.ndarray] = field(default_factory=dict)
    loss: dict[str, np.ndarray] = field(default_factory=dict)
    acc: dict[str, np.ndarray] = field(default_factory=dict)
    slopes: dict[str, np.ndarray] = field(default_factory=dict)
    sp_widths: np.ndarray | None = None
    sp_movement: np.ndarray | None = None  # (W_sp, T), one seed
    sp_loss: np.ndarray | None = None  # (W_sp,)
    sp_logit_rms: np.ndarray | None = None  # (W_sp,)
    logit_rms: dict[str, np.ndarray] = field(default_factory=dict)  # (S, W)
    seconds: float = 0.0


def load_digits_data(n_train: int, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Digits from the course's data layer (:func:`featurelab.data.load_digits_split`: pixels in [0, 1], a
    stratified 67/33 split shuffled by ``seed``): the first ``n_train`` (≤ 1203) training images ``(n_train, 64)``
    with labels ``(n_train,)``, and the 594 test images."""
    from featurelab.data import load_digits_split

    split = load_digits_split(test_size=0.33, seed=seed)
    return split.x_train[:n_train], split.y_train[:n_train], split.x_test, split.y_test


def run_width_sweep(cfg: MupConfig, seeds: list[int], device: torch.device | str = "cpu",
                    progress_bar: bool | None = None) -> SweepResult:
    """Train every (seed, parametrization, width) for ``cfg.steps`` SGD steps; see :class:`SweepResult`.

    Per seed: one data split, one sample sequence and one eval batch shared by all widths and
    parametrizations, so that width is the only thing that changes along a curve.
    """
    from featurelab.train import progress

    start = time.perf_counter()
    widths = np.array(cfg.widths)
    res = SweepResult(widths=widths, seeds=list(seeds))
    S, W, T = len(seeds), len(widths), cfg.steps
    for p in cfg.params:
        res.movement[p] = np.full((S, W, T), np.nan)
        res.loss[p] = np.full((S, W), np.nan)
        res.acc[p] = np.full((S, W), np.nan)
        res.logit_rms[p] = np.full((S, W), np.nan)
    jobs = len(seeds) * len(cfg.params) * W + len(cfg.sp_widths)
    bar = progress(total=jobs, desc="width sweep", enabled=progress_bar)

    data: dict[int, tuple[Tensor, ...]] = {}

    def one(seed: int, p: str, n: int) -> TrainRecord:
        if seed not in data:  # one split, one sample sequence and one eval batch per seed
            x, y, xt, yt = load_digits_data(cfg.n_train, seed)
            g = torch.Generator().manual_seed(seed)
            batches = torch.stack([torch.randperm(cfg.n_train, generator=g)[: cfg.batch] for _ in range(cfg.steps)])
            data[seed] = tuple(t.to(device) for t in (x, y, xt, yt, x[: cfg.n_eval], batches))
        x, y, xt, yt, x_eval, batches = data[seed]
        model = AbcMLP(x.shape[1], int(n), 10, p, n0=cfg.n0,
                       generator=torch.Generator().manual_seed(seed * 7919 + int(n)), device=device)
        return train_abc(model, x, y, x_eval, batches, cfg.lr, xt, yt)

    for i, seed in enumerate(seeds):
        for p in cfg.params:
            for j, n in enumerate(widths):
                rec = one(seed, p, n)
                res.movement[p][i, j] = rec.movement
                res.loss[p][i, j] = rec.train_loss
                res.acc[p][i, j] = rec.test_acc
                res.logit_rms[p][i, j] = rec.logit_rms
                bar.update(1)
    for p in cfg.params:
        res.slopes[p] = np.array([fit_slope(widths, res.movement[p][i, :, -1]) for i in range(S)])
    if cfg.sp_widths:
        res.sp_widths = np.array(cfg.sp_widths)
        recs = []
        for n in cfg.sp_widths:
            recs.append(one(seeds[0], "SP", n))
            bar.update(1)
        res.sp_movement = np.array([r.movement for r in recs])
        res.sp_loss = np.array([r.train_loss for r in recs])
        res.sp_logit_rms = np.array([r.logit_rms for r in recs])
    bar.close()
    res.seconds = time.perf_counter() - start
    return res


# ----------------------------------------------------------------------------------------------------------
# 4. The measured quantities behind the notebook's claim checks
# ----------------------------------------------------------------------------------------------------------
def claim_values(res: SweepResult, method: str = "muP", baseline: str = "NTK") -> dict[str, np.ndarray]:
    """Per-seed values ``(S,)`` that the claims check (pass ``method="NTK"`` for the baseline swap).

    * ``ntk_slope_dev``: ``|slope_baseline + 1/2|`` — the kernel-regime features move like ``n^{-1/2}``.
    * ``mup_slope_abs``: ``|slope_method|`` — μP's features move by the same amount at every width.
    * ``mup_gain_at_max_width``: ``loss_baseline(n_max) - loss_method(n_max)`` — at the largest width the
      feature-learning network fits better than the kernel-regime one after the same steps.
    * ``mup_loss_max_vs_min``: ``loss_method(n_min) - loss_method(n_max)`` (reported, not asserted).
    """
    return {
        "ntk_slope_dev": np.abs(res.slopes[baseline] + 0.5),
        "mup_slope_abs": np.abs(res.slopes[method]),
        "mup_gain_at_max_width": res.loss[baseline][:, -1] - res.loss[method][:, -1],
        "mup_loss_max_vs_min": res.loss[method][:, 0] - res.loss[method][:, -1],
    }

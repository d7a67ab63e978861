"""Rich Feature Construction (RFC, "Bonsai") — the mechanism, small enough to read.

Zhang, Lopez-Paz & Bottou, *Rich Feature Construction for the Optimization-Generalization Dilemma*, ICML 2022,
arXiv:2203.15516. Used by ``notebooks/02_which_features/04_rich_feature_construction.ipynb``.

OoD penalties (IRMv1, V-REx, ...) are hard to optimise from a random start and weak from an ERM start, which
has already committed to the easy, spurious feature. RFC first builds a *rich* representation Φ that holds
several predictive features, then runs the OoD method on top of it (the paper's RFC / Bonsai algorithm; section numbers not verified here):

* **Discovery episodes.** Round 1 is ERM, giving ``f_1``. Round ``k`` splits the training set by the mistakes
  of the earlier models (here, two rounds: ``A`` = examples ``f_1`` gets right, ``B`` = the ones it gets
  wrong) and trains a fresh network on the robust objective ``max(L_A, L_B)``, which ``f_1``'s features alone
  cannot make small — the new network must find another feature.
* **Synthesis episode.** Distil every discovered model into one trunk with one head per model:
  ``min_{Φ, h_1..K} Σ_k KL(f_k(x) ‖ h_k(Φ(x)))``.
* **Downstream.** Freeze Φ and train a fresh linear head with the OoD objective (here V-REx, Krueger et al.).

Simplifications (named in the notebook): two discovery rounds, a frozen trunk downstream (the paper fine-tunes
end to end), full-batch Adam, no model selection (a fixed budget), 7×7 two-channel coloured Fashion-MNIST.

Every network is trained as a batched ensemble: weights carry a leading member dimension ``M`` and member
``m`` is exactly the network that training it alone would give (Adam is element-wise, losses are summed over
members).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurelab.claims import ClaimSpec
from featurelab.environments import Environment, irmv1_penalty, make_coloured_fashion_mnist, vrex_penalty
from featurelab.run import ParameterError
from featurelab.train import progress as progress_bar

__all__ = [
    "CLAIMS",
    "PRESETS",
    "EnsembleMLP",
    "RFCConfig",
    "RFCResult",
    "TRUNKS",
    "accuracy",
    "claim_values",
    "discovery_loss",
    "distillation_loss",
    "env_risks",
    "irm_objective",
    "l2_per_member",
    "run_rfc",
    "train_members",
    "vrex_objective",
]


# ----------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------
@dataclass
class RFCConfig:
    """Everything the experiment needs; ``PRESETS`` holds one per scale."""

    n_seeds: int = 3
    n_per_env: int = 1250  # training examples per environment (card: 2500; halved for the 30 s budget)
    n_test: int = 2500
    size: int = 7  # image side (7×7×2 = 98 inputs)
    label_noise: float = 0.25
    p_agree: tuple[float, ...] = (0.9, 0.8)  # P(colour = label) per training environment
    p_test: float = 0.1
    hidden: int = 32  # card: 64; halved for the 30 s budget
    steps: int = 300  # per network (ERM, discovery, synthesis)
    lr: float = 3e-3  # the card's prototype: 1e-3 makes the margin thin and the control pass
    weight_decay: float = 1e-3  # Adam's L2, as in the official code
    head_steps: int = 500  # do not shorten (prototype: 300 inflates the gap)
    head_lr: float = 1e-2
    vrex_lambda: float = 1e3
    sweep_lambdas: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1e3, 1e4)  # for the Explore widget
    irm_lambdas: tuple[float, ...] = (1.0, 1e2, 1e4)
    irm_steps: int = 200

    def __post_init__(self) -> None:
        for name in ("n_seeds", "n_per_env", "n_test", "size", "hidden", "steps", "head_steps", "irm_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ParameterError(f"RFCConfig.{name} must be a positive integer, got {v!r}")
        if not 2 <= self.size <= 28:
            raise ParameterError(f"RFCConfig.size must lie in [2, 28], got {self.size}")
        if self.n_per_env < 10 or self.n_test < 10:
            raise ParameterError("RFCConfig.n_per_env and n_test must be at least 10")
        if not 0 <= self.label_noise < 0.5:
            raise ParameterError(f"RFCConfig.label_noise must lie in [0, 0.5), got {self.label_noise}")
        if len(self.p_agree) < 2 or not all(0 <= p <= 1 for p in (*self.p_agree, self.p_test)):
            raise ParameterError(f"RFCConfig needs >= 2 training environments with p_agree in [0, 1], got "
                                 f"{self.p_agree}, p_test={self.p_test}")
        if not (self.lr > 0 and self.head_lr > 0 and self.weight_decay >= 0):
            raise ParameterError("RFCConfig needs lr > 0, head_lr > 0, weight_decay >= 0")
        if self.vrex_lambda < 0 or any(v < 0 for v in (*self.sweep_lambdas, *self.irm_lambdas)):
            raise ParameterError("penalty weights must be non-negative")
        if self.vrex_lambda not in self.sweep_lambdas:
            raise ParameterError(f"vrex_lambda={self.vrex_lambda:g} must be one of sweep_lambdas "
                                 f"{self.sweep_lambdas} (the main result is read from the sweep)")
        if not self.irm_lambdas:
            raise ParameterError("irm_lambdas must not be empty")


PRESETS: dict[str, RFCConfig] = {
    "small": RFCConfig(),
    "full": RFCConfig(n_seeds=5, n_per_env=25000, n_test=10000, size=14, hidden=256, steps=600,
                      irm_steps=600),  # not yet run on a GPU
}


# ----------------------------------------------------------------------------------------------------------
# The network: trunk Φ (d → h → h, ReLU) and K linear heads, for M members at once
# ----------------------------------------------------------------------------------------------------------
class EnsembleMLP(nn.Module):
    """``M`` independent MLPs. ``features: x (M, N, d) → (M, N, h)``; ``forward: → logits (M, N, K)``.

    Member ``m`` is initialised like ``nn.Linear`` from ``torch.Generator().manual_seed(init_seeds[m])``.
    """

    def __init__(self, init_seeds: Sequence[int], d_in: int, hidden: int, n_heads: int = 1):
        super().__init__()
        m = len(init_seeds)
        shapes = [(d_in, hidden), (hidden, hidden), (hidden, n_heads)]
        self.weights = nn.ParameterList([nn.Parameter(torch.empty(m, a, b)) for a, b in shapes])
        self.biases = nn.ParameterList([nn.Parameter(torch.empty(m, 1, b)) for _, b in shapes])
        with torch.no_grad():
            for i, s in enumerate(init_seeds):
                gen = torch.Generator().manual_seed(int(s))
                for w, b in zip(self.weights, self.biases):
                    bound = 1.0 / math.sqrt(w.shape[1])
                    w[i].copy_(torch.rand(w.shape[1:], generator=gen) * 2 * bound - bound)
                    b[i].copy_(torch.rand(b.shape[1:], generator=gen) * 2 * bound - bound)

    def features(self, x: Tensor) -> Tensor:
        """Φ: ``(M, N, d)`` → ``(M, N, h)``."""
        h = torch.relu(torch.baddbmm(self.biases[0], x, self.weights[0]))
        return torch.relu(torch.baddbmm(self.biases[1], h, self.weights[1]))

    def forward(self, x: Tensor) -> Tensor:
        """``(M, N, d)`` → logits ``(M, N, K)``."""
        return torch.baddbmm(self.biases[2], self.features(x), self.weights[2])


def train_members(
    params: Sequence[Tensor], loss_fn: Callable[[], Tensor], steps: int, lr: float, weight_decay: float,
    progress: bool | None = False, desc: str = "",
) -> None:
    """Full-batch Adam (L2 via ``weight_decay``) on ``loss_fn().sum()``; ``loss_fn`` returns ``(M,)``."""
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    for _ in progress_bar(range(steps), desc=desc, enabled=progress):
        opt.zero_grad(set_to_none=True)
        loss_fn().sum().backward()
        opt.step()


# ----------------------------------------------------------------------------------------------------------
# The RFC episodes (Sec. 3) and the OoD objectives
# ----------------------------------------------------------------------------------------------------------
def discovery_loss(logits: Tensor, y: Tensor, in_b: Tensor) -> Tensor:
    """Discovery round 2: ``max(L_A, L_B)`` with ``A`` = examples the earlier model got right, ``B`` = wrong.

    ``logits (M, N)``, ``y (M, N)``, ``in_b (M, N)`` bool → ``(M,)``. A model using only the earlier model's
    feature cannot make both losses small at once, so minimising the max forces a new feature.
    """
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    b = in_b.float()
    loss_b = (ce * b).sum(1) / b.sum(1).clamp_min(1.0)
    loss_a = (ce * (1 - b)).sum(1) / (1 - b).sum(1).clamp_min(1.0)
    return torch.maximum(loss_a, loss_b)


def distillation_loss(student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
    """Synthesis: ``Σ_k KL(f_k(x) ‖ h_k(Φ(x)))``, averaged over examples.

    ``student_logits (M, N, K)``, ``teacher_probs (M, N, K)`` = P(y = 1) of each discovered model → ``(M,)``.
    For Bernoulli outputs KL = cross-entropy with soft targets − the teacher's entropy (a constant).
    """
    p = teacher_probs.clamp(1e-6, 1 - 1e-6)
    ce = F.binary_cross_entropy_with_logits(student_logits, p, reduction="none")
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())
    return (ce - entropy).sum(-1).mean(-1)


def env_risks(logits: Tensor, y: Tensor, env: Tensor, n_envs: int) -> Tensor:
    """Per-environment BCE risk. ``logits, y (M, N)``, ``env (N,)`` long → ``(M, n_envs)``."""
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return torch.stack([ce[:, env == e].mean(1) for e in range(n_envs)], dim=1)


def vrex_objective(logits: Tensor, y: Tensor, env: Tensor, n_envs: int, lam: Tensor, l2: Tensor | float = 0.0
                   ) -> Tensor:
    """V-REx (Krueger et al. 2021, Eq. 6): ``Σ_e R_e + l2 + λ Var_e(R_e)``, divided by λ when λ > 1 (as the
    official code does, L2 term included). ``lam (M,)``, ``l2`` a per-member ``(M,)`` weight penalty → ``(M,)``."""
    r = env_risks(logits, y, env, n_envs)
    loss = r.sum(1) + l2 + lam * vrex_penalty(r)
    return loss / lam.clamp_min(1.0)


def irm_objective(logits: Tensor, y: Tensor, env: Tensor, n_envs: int, lam: Tensor, l2: Tensor | float = 0.0
                  ) -> Tensor:
    """IRMv1 (Arjovsky et al. 2019, Eq. IRMv1): ``Σ_e [R_e + λ ‖∇_w R_e(w·Φ)‖²] + l2``, divided by λ when
    λ > 1 (official code). ``logits, y (M, N)``, ``env (N,)``, ``lam (M,)`` → ``(M,)``."""
    r = env_risks(logits, y, env, n_envs)
    pen = sum(irmv1_penalty(logits[:, env == e], y[:, env == e]) for e in range(n_envs))
    return (r.sum(1) + l2 + lam * pen) / lam.clamp_min(1.0)


def l2_per_member(params: Sequence[Tensor], weight_decay: float) -> Tensor:
    """``(weight_decay / 2) · ‖θ_m‖²`` per member (params carry the member dimension first) → ``(M,)``.

    Its gradient is ``weight_decay · θ``, what Adam's ``weight_decay`` adds; written into the loss so that it is
    divided by λ together with the rest, as in the official code."""
    return 0.5 * weight_decay * sum(p.pow(2).flatten(1).sum(1) for p in params)


def accuracy(logits: Tensor, y: Tensor) -> np.ndarray:
    """``logits (M, N)``, ``y (M, N)`` → per-member accuracy ``(M,)``."""
    return ((logits > 0).float() == y).float().mean(1).detach().cpu().numpy()


# ----------------------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------------------
TRUNKS = ("random", "erm", "control", "bonsai")  # control = RFC with round 2 replaced by a second ERM run


@dataclass
class RFCResult:
    """Measured values of :func:`run_rfc`. Arrays ``(n_seeds,)`` unless noted.

    ``ood[trunk]``: test-environment accuracy of the V-REx head (λ = ``config.vrex_lambda``) on that trunk;
    ``sweep_ood[trunk]``: ``(n_lambdas, n_seeds)`` over ``config.sweep_lambdas``; ``irm_ood``:
    ``(n_irm_lambdas, n_seeds)`` end-to-end IRMv1 from random init; ``train_acc``/``ood_model`` for
    the round-1 and round-2 networks themselves.
    """

    config: RFCConfig
    seeds: list[int]
    ood: dict[str, np.ndarray]
    iid: dict[str, np.ndarray]
    sweep_ood: dict[str, np.ndarray]
    irm_ood: np.ndarray
    irm_train: np.ndarray
    round_acc: dict[str, np.ndarray]
    b_fraction: np.ndarray
    seconds: float
    examples: dict[str, Tensor] = field(repr=False, default_factory=dict)


def _stack(envs_per_seed: list[list[Environment]], device) -> tuple[Tensor, Tensor, Tensor]:
    x = torch.stack([torch.cat([e.flat for e in envs]) for envs in envs_per_seed]).to(device)
    y = torch.stack([torch.cat([e.y for e in envs]) for envs in envs_per_seed]).to(device)
    env = torch.cat([torch.full((len(e.y),), i, dtype=torch.long) for i, e in enumerate(envs_per_seed[0])])
    return x, y, env.to(device)


def run_rfc(
    cfg: RFCConfig, seeds: Sequence[int], *, device: torch.device | str = "cpu", progress: bool | None = None,
    round2: str = "max",
) -> RFCResult:
    """Run RFC (two discovery rounds + synthesis), its "round 2 := ERM" control, the V-REx heads on the
    random / ERM / control / Bonsai trunks, and end-to-end IRMv1 from random init, for every seed.

    ``round2="erm"`` replaces the discovery objective by plain ERM in the *Bonsai* arm too (a whole-run
    baseline swap, used in calibration).
    """
    if round2 not in ("max", "erm"):
        raise ParameterError(f"round2 must be 'max' or 'erm', got {round2!r}")
    t0 = time.perf_counter()
    seeds = [int(s) for s in seeds]
    S, E = len(seeds), len(cfg.p_agree)
    data = [make_coloured_fashion_mnist(cfg.p_agree, cfg.p_test, cfg.n_per_env, cfg.n_test, cfg.size,
                                        cfg.label_noise, seed=s) for s in seeds]
    x, y, env = _stack([tr for tr, _ in data], device)  # (S, N, d), (S, N), (N,)
    xt = torch.stack([te.flat for _, te in data]).to(device)
    yt = torch.stack([te.y for _, te in data]).to(device)
    d = x.shape[-1]
    two = lambda t: torch.cat([t, t])
    kw = {"lr": cfg.lr, "weight_decay": cfg.weight_decay, "progress": progress}

    # Round 1: ERM f_1 (members 0..S-1) and, for the control, a second ERM run f_1' (S..2S-1)
    r1 = EnsembleMLP([s * 10 + 1 for s in seeds] + [s * 10 + 2 for s in seeds], d, cfg.hidden).to(device)
    train_members(list(r1.parameters()),
                  lambda: F.binary_cross_entropy_with_logits(r1(two(x))[..., 0], two(y), reduction="none").mean(1),
                  cfg.steps, desc="round 1: ERM (+ control's 2nd ERM)", **kw)
    with torch.no_grad():
        lg1 = r1(two(x))[..., 0]
        p1 = torch.sigmoid(lg1)
        in_b = ((lg1[:S] > 0).float() != y)  # B = examples f_1 gets wrong

    # Round 2: discovery on max(L_A, L_B), fresh init
    r2 = EnsembleMLP([s * 10 + 3 for s in seeds], d, cfg.hidden).to(device)
    if round2 == "max":
        loss2 = lambda: discovery_loss(r2(x)[..., 0], y, in_b)
    else:
        loss2 = lambda: F.binary_cross_entropy_with_logits(r2(x)[..., 0], y, reduction="none").mean(1)
    train_members(list(r2.parameters()), loss2, cfg.steps, desc="round 2: discovery max(L_A, L_B)", **kw)
    with torch.no_grad():
        lg2 = r2(x)[..., 0]
        p2 = torch.sigmoid(lg2)

    # Synthesis: Bonsai distils (f_1, f_2); the control distils (f_1, f_1')
    teachers = torch.cat([torch.stack([p1[:S], p2], -1), torch.stack([p1[:S], p1[S:]], -1)])  # (2S, N, 2)
    syn = EnsembleMLP([s * 10 + 4 for s in seeds] * 2, d, cfg.hidden, n_heads=2).to(device)
    train_members(list(syn.parameters()), lambda: distillation_loss(syn(two(x)), teachers), cfg.steps,
                  desc="synthesis: distil into one trunk", **kw)

    # Downstream: frozen trunks, fresh linear V-REx heads over the λ sweep
    rand = EnsembleMLP([s * 10 + 5 for s in seeds], d, cfg.hidden).to(device)
    with torch.no_grad():
        xt2 = torch.cat([xt, xt])
        f_r1, f_r1t = r1.features(two(x))[:S], r1.features(xt2)[:S]
        f_syn, f_synt = syn.features(two(x)), syn.features(xt2)
        feats = [rand.features(x), f_r1, f_syn[S:], f_syn[:S]]  # order of TRUNKS
        feats_t = [rand.features(xt), f_r1t, f_synt[S:], f_synt[:S]]
    lams = list(cfg.sweep_lambdas)
    L, T = len(lams), len(TRUNKS)
    F_tr = torch.stack(feats)[:, None].expand(T, L, S, *feats[0].shape[1:]).reshape(T * L * S, -1, cfg.hidden)
    F_te = torch.stack(feats_t)[:, None].expand(T, L, S, *feats_t[0].shape[1:]).reshape(T * L * S, -1, cfg.hidden)
    lam_vec = torch.tensor(lams, dtype=x.dtype, device=device)[None, :, None].expand(T, L, S).reshape(-1)
    y_rep = y[None, None].expand(T, L, S, -1).reshape(T * L * S, -1)
    yt_rep = yt[None, None].expand(T, L, S, -1).reshape(T * L * S, -1)
    gen = torch.Generator().manual_seed(seeds[0] * 10 + 6)
    bound = 1.0 / math.sqrt(cfg.hidden)
    w = ((torch.rand(T * L * S, cfg.hidden, 1, generator=gen) * 2 - 1) * bound).to(device).requires_grad_()
    b = ((torch.rand(T * L * S, 1, 1, generator=gen) * 2 - 1) * bound).to(device).requires_grad_()
    head = lambda f: torch.baddbmm(b, f, w)[..., 0]
    train_members([w, b], lambda: vrex_objective(head(F_tr), y_rep, env, E, lam_vec,
                                                 l2_per_member([w, b], cfg.weight_decay)),
                  cfg.head_steps, lr=cfg.head_lr, weight_decay=0.0, progress=progress, desc="V-REx heads")
    with torch.no_grad():
        ood_all = accuracy(head(F_te), yt_rep).reshape(T, L, S)
        iid_all = accuracy(head(F_tr), y_rep).reshape(T, L, S)
    li = lams.index(cfg.vrex_lambda)

    # End-to-end IRMv1 from random init over a λ sweep
    K = len(cfg.irm_lambdas)
    irm = EnsembleMLP([s * 10 + 7 for s in seeds] * K, d, cfg.hidden).to(device)
    xk, yk = x.repeat(K, 1, 1), y.repeat(K, 1)
    lam_irm = torch.tensor(cfg.irm_lambdas, dtype=x.dtype, device=device).repeat_interleave(S)
    train_members(list(irm.parameters()),
                  lambda: irm_objective(irm(xk)[..., 0], yk, env, E, lam_irm,
                                        l2_per_member(list(irm.parameters()), cfg.weight_decay)),
                  cfg.irm_steps, lr=cfg.lr, weight_decay=0.0, progress=progress, desc="IRMv1 from random init")
    with torch.no_grad():
        irm_ood = accuracy(irm(xt.repeat(K, 1, 1))[..., 0], yt.repeat(K, 1)).reshape(K, S)
        irm_train = accuracy(irm(xk)[..., 0], yk).reshape(K, S)
        round_acc = {
            "f1_train": accuracy(lg1[:S], y), "f1_ood": accuracy(r1(two(xt))[:S, :, 0], yt),
            "f2_train": accuracy(lg2, y), "f2_ood": accuracy(r2(xt)[..., 0], yt),
        }
    tr0 = data[0][0]
    return RFCResult(
        config=cfg, seeds=seeds,
        ood={t: ood_all[i, li] for i, t in enumerate(TRUNKS)},
        iid={t: iid_all[i, li] for i, t in enumerate(TRUNKS)},
        sweep_ood={t: ood_all[i] for i, t in enumerate(TRUNKS)},
        irm_ood=irm_ood, irm_train=irm_train, round_acc=round_acc,
        b_fraction=in_b.float().mean(1).cpu().numpy(), seconds=time.perf_counter() - t0,
        examples={"x": torch.cat([e.x[:8] for e in tr0] + [data[0][1].x[:8]]),
                  "y": torch.cat([e.y[:8] for e in tr0] + [data[0][1].y[:8]])},
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# Claims (thresholds from results/calibration/rich_feature_construction.md)
# ----------------------------------------------------------------------------------------------------------
def claim_values(res: RFCResult) -> dict[str, np.ndarray]:
    """Per-seed measured values for :data:`CLAIMS`, and their swaps (``*_swap``: the same quantity with
    Bonsai replaced by the control, i.e. with the discovery objective switched off)."""
    best_irm = res.irm_ood.max(0)
    return {
        "bonsai_minus_erm": res.ood["bonsai"] - res.ood["erm"],
        "bonsai_minus_erm_swap": res.ood["control"] - res.ood["erm"],
        "bonsai_minus_control": res.ood["bonsai"] - res.ood["control"],
        "bonsai_minus_control_swap": res.ood["control"] - res.ood["control"],
        "bonsai_minus_best_irm": res.ood["bonsai"] - best_irm,
        "bonsai_minus_best_irm_swap": res.ood["control"] - best_irm,
    }


# Bonsai − best IRMv1-from-scratch is reported, not asserted: the control beats IRMv1 from scratch as well
# (calibration record), so that gap does not test the discovery mechanism.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("bonsai_beats_erm_init", "bonsai_minus_erm", ">=", 0.02,
              "V-REx head: OOD accuracy from the Bonsai trunk − from the ERM trunk (mean over seeds)",
              paper="ColoredMNIST: Bonsai init beats ERM init for vREx and five other OoD methods (table numbers not retrieved)",
              swap="bonsai_minus_erm_swap"),
    ClaimSpec("discovery_beats_control", "bonsai_minus_control", ">=", 0.015,
              "OOD accuracy, Bonsai trunk − control trunk (round 2 := ERM, same distillation and budget)",
              swap="bonsai_minus_control_swap"),
)

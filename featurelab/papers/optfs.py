"""OptFS: learnable gates over individual feature values, trained by continuation (Jia et al., WWW 2023).

Used by ``notebooks/05_tabular_sequence_spatial/01_optfs.ipynb``; tested in ``tests/test_paper_optfs.py``.

A CTR model embeds every *feature value* (one row of the embedding table per value of every field). OptFS
(arXiv 2301.10909, §3) gives each value ``i`` a gate and feeds the model ``e'_i = g_i e_i``, so any interaction
operator sees ``g_i g_j <e_i, e_j>``: an interaction survives only if both of its values survive (§3.1).
The gate is relaxed with a temperature ``β`` (§3.2, "learning by continuation")::

    g_i = σ(β m_i) / σ(m_0),          L = BCE + λ Σ_i σ(β m_i),

``m_i`` starts at ``m_0`` (so every gate starts at 1), ``β`` grows exponentially from 1 to ``β_T`` over the
search epochs, and the gates polarise towards 0 or ``1/σ(m_0)``. After the search the hard mask
``1[m_i > 0]`` is fixed, the weights are rewound to an early epoch, and the model is retrained with the mask
(§3.3). Two optimizers, as in the official code: weights with L2, masks without.

The backbone here is a factorisation machine (FM) with a gated linear term. The course's click-log generator
(:mod:`featurelab.clicklog`) supplies the data and the planted ground truth.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..clicklog import ClickLog, auc, make_clicklog
from ..run import ParameterError

__all__ = ["Config", "PRESETS", "THRESHOLDS", "GatedFM", "beta_schedule", "search", "retrain", "run_seed",
           "run_experiment", "planted_values", "frequency_mask", "claim_values", "SeedResult"]


@dataclass(frozen=True)
class Config:
    """Experiment settings (one preset per scale; notebook knobs override fields).

    Attributes:
        n_seeds: seeds of the claim experiment (one fresh click log each).
        n_rows: rows of each log (75 % train, 25 % test).
        dim: embedding dimension ``d`` of the FM.
        search_epochs: epochs of the gate search (β goes 1 → beta_final over them).
        retrain_epochs: epochs of retraining with the hard mask (also the budget of the full baseline).
        beta_final: final temperature ``β_T``.
        lam: λ of the value-level regulariser (the claim's operating point).
        lam_field: λ of the field-level baseline (one gate per field).
        lam_sweep: λ values of the trade-off sweep (first seed only; the Explore widget redraws from it).
        rewind_epoch: weights are rewound to the state after this many search epochs (0 = initial weights).
        lr: Adam learning rate of the weights; lr_mask: Adam learning rate of the mask logits.
        weight_decay: L2 on the weights (not on the masks).
        batch_size: rows per step.
        min_count: "frequent" planted values are those seen at least this often in the training rows.
    """

    n_seeds: int = 2
    n_rows: int = 30_000
    dim: int = 8
    search_epochs: int = 6
    retrain_epochs: int = 3
    beta_final: float = 200.0
    lam: float = 1e-4
    lam_field: float = 1e-4
    lam_sweep: tuple[float, ...] = (1e-5, 1e-4, 1e-3)
    rewind_epoch: int = 1
    lr: float = 3e-3
    lr_mask: float = 1e-2
    weight_decay: float = 1e-6
    batch_size: int = 512
    min_count: int = 10

    def __post_init__(self) -> None:
        for name in ("n_seeds", "n_rows", "dim", "search_epochs", "retrain_epochs", "batch_size", "min_count"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ParameterError(f"{name} must be a positive integer, got {v!r}")
        if self.n_rows < 1000:
            raise ParameterError(f"n_rows must be >= 1000 (a test split needs clicks), got {self.n_rows}")
        if not self.beta_final >= 1.0:
            raise ParameterError(f"beta_final must be >= 1 (β anneals from 1 upwards), got {self.beta_final}")
        for name in ("lam", "lam_field"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.lam_sweep or any(not v > 0 for v in self.lam_sweep):
            raise ParameterError(f"lam_sweep must be a non-empty tuple of positive values, got {self.lam_sweep}")
        if not 0 <= self.rewind_epoch < self.search_epochs:
            raise ParameterError(f"rewind_epoch must be in 0..search_epochs-1 = {self.search_epochs - 1}, "
                                 f"got {self.rewind_epoch}")
        for name in ("lr", "lr_mask"):
            if not getattr(self, name) > 0:
                raise ParameterError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ParameterError(f"weight_decay must be >= 0, got {self.weight_decay}")


PRESETS = {
    "small": Config(),
    "full": Config(n_seeds=5, n_rows=200_000, dim=16, search_epochs=10, retrain_epochs=5,
                   lam_sweep=(1e-5, 3e-5, 1e-4, 3e-4, 1e-3), batch_size=2048),
}

#: Claim thresholds (mean over the run's seeds), calibrated over SEED = 0..11 at scale small
#: (results/calibration/optfs.md).
THRESHOLDS = {
    "optfs_kept_ratio": 0.5,
    "optfs_auc_vs_full": -0.002,
    "optfs_precision_vs_frequency": 0.03,
    "optfs_recall_vs_frequency": 0.01,
}

#: Fields of the log: informative fields (every value has its own weight), one interaction pair, noise.
LOG_SPEC = dict(informative=(20, 50, 200, 1000), interaction=((20, 20),), id_noise=(2000,), noise=(5, 20, 100),
                zipf=1.1, effect=0.6, interaction_effect=0.8)


def make_log(n_rows: int, seed: int) -> ClickLog:
    """The notebook's click log: 10 fields, ≈ 3.4k feature values (see :data:`LOG_SPEC`)."""
    return make_clicklog(n_rows, seed=seed, **LOG_SPEC)


def planted_values(log: ClickLog) -> np.ndarray:
    """``(V,)`` bool over all feature values (fields concatenated): True where the value carries a planted effect.

    Values of informative fields (own weight) and interaction fields (±1 sign) are planted; noise values are not.
    """
    kinds = log.kinds()
    return np.concatenate([np.full(f.cardinality, k in ("informative", "interaction"))
                           for f, k in zip(log.fields, kinds)])


def offsets(card: np.ndarray) -> np.ndarray:
    """``(F,)`` start of each field's block in the concatenated value table."""
    return np.concatenate([[0], np.cumsum(card)[:-1]]).astype(np.int64)


def value_counts(x: np.ndarray, card: np.ndarray) -> np.ndarray:
    """``(V,)`` how often each feature value occurs in the ``(N, F)`` rows ``x``."""
    return np.bincount((x + offsets(card)).ravel(), minlength=int(card.sum()))


class GatedFM(nn.Module):
    """A factorisation machine whose value embeddings (and linear weights) are gated, OptFS §3.1.

    Input ``(B, F)`` global value ids; output ``(B,)`` logits. ``gate_of[v]`` maps value ``v`` to its gate:
    ``arange(V)`` for OptFS (value-level), the field index for the field-level baseline. ``mode`` is
    ``"soft"`` (search: ``σ(β m)/σ(m_0)``), ``"hard"`` (retrain/eval: a fixed 0/1 ``mask``) or ``"none"``.
    """

    def __init__(self, n_values: int, dim: int, gate_of: np.ndarray | None = None, m0: float = 0.5) -> None:
        super().__init__()
        self.emb = nn.Embedding(n_values, dim)
        self.lin = nn.Embedding(n_values, 1)
        self.bias = nn.Parameter(torch.zeros(1))
        nn.init.xavier_uniform_(self.emb.weight)
        nn.init.zeros_(self.lin.weight)
        gate_of = np.arange(n_values) if gate_of is None else np.asarray(gate_of)
        self.register_buffer("gate_of", torch.as_tensor(gate_of, dtype=torch.long))
        n_gates = int(gate_of.max()) + 1
        self.m0 = m0
        self.mask_logit = nn.Parameter(torch.full((n_gates,), m0))  # m_i, initialised to m_0 (official code)
        self.register_buffer("mask", torch.ones(n_gates))  # the hard mask, used in mode "hard"
        self.mode = "none"
        self.beta = 1.0

    def gates(self) -> torch.Tensor:
        """``(G,)`` current gate values: soft ``σ(β m)/σ(m_0)``, the hard mask, or ones."""
        if self.mode == "soft":
            return torch.sigmoid(self.beta * self.mask_logit) / torch.sigmoid(torch.tensor(self.m0))
        if self.mode == "hard":
            return self.mask
        return torch.ones_like(self.mask)

    def penalty(self) -> torch.Tensor:
        """The continuation regulariser ``Σ_i σ(β m_i)`` (scalar), OptFS Eq. (L = BCE + λ·this)."""
        return torch.sigmoid(self.beta * self.mask_logit).sum()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        g = self.gates()[self.gate_of[idx]].unsqueeze(-1)  # (B, F, 1)
        e = g * self.emb(idx)  # (B, F, d): e'_i = g_i e_i
        inter = 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1)).sum(-1)  # Σ_{i<j} <e'_i, e'_j>, (B,)
        lin = (g * self.lin(idx)).sum((1, 2))  # gated linear term, (B,)
        return self.bias + lin + inter

    def hard_mask(self) -> torch.Tensor:
        """``(G,)`` the ticket ``1[m_i > 0]`` (OptFS §3.3; official code ``mask_weight > 0``)."""
        return (self.mask_logit.detach() > 0).float()


def beta_schedule(step: int, total: int, beta_final: float) -> float:
    """Exponential continuation ``β_t = β_T^{t/(T-1)}``: 1 at the first step, ``β_T`` at the last."""
    return float(beta_final ** (step / max(total - 1, 1)))


def _batches(n: int, bs: int, gen: torch.Generator) -> list[torch.Tensor]:
    return list(torch.randperm(n, generator=gen).split(bs))


def _weights(model: GatedFM) -> list[nn.Parameter]:
    return [p for n, p in model.named_parameters() if n != "mask_logit"]


@dataclass
class SearchResult:
    """Gate search output: ``mask`` ``(G,)`` 0/1; ``rewind`` the weights to restart from; ``history``
    ``(search_epochs, G)`` soft gates ``σ(β m)`` at the end of each epoch (for the polarisation plot)."""

    mask: torch.Tensor
    rewind: dict
    history: np.ndarray


def search(model: GatedFM, xtr: torch.Tensor, ytr: torch.Tensor, cfg: Config, lam: float,
           gen: torch.Generator) -> SearchResult:
    """OptFS search by continuation (§3.2): BCE + λ Σ σ(β m), β annealed 1 → β_T, two Adam optimizers.

    ``xtr`` ``(N, F)`` global value ids, ``ytr`` ``(N,)`` float labels. The weights after ``cfg.rewind_epoch``
    epochs are kept for rewinding (§3.3).
    """
    model.mode = "soft"
    opt_w = torch.optim.Adam(_weights(model), lr=cfg.lr, weight_decay=cfg.weight_decay)
    opt_m = torch.optim.Adam([model.mask_logit], lr=cfg.lr_mask)  # masks: no weight decay
    steps_per_epoch = math.ceil(len(xtr) / cfg.batch_size)
    total, step = cfg.search_epochs * steps_per_epoch, 0
    rewind = copy.deepcopy(model.state_dict()) if cfg.rewind_epoch == 0 else None
    history = []
    for epoch in range(cfg.search_epochs):
        for b in _batches(len(xtr), cfg.batch_size, gen):
            model.beta = beta_schedule(step, total, cfg.beta_final)
            loss = F.binary_cross_entropy_with_logits(model(xtr[b]), ytr[b]) + lam * model.penalty()
            opt_w.zero_grad()
            opt_m.zero_grad()
            loss.backward()
            opt_w.step()
            opt_m.step()
            step += 1
        history.append(torch.sigmoid(model.beta * model.mask_logit.detach()).cpu().numpy())
        if epoch + 1 == cfg.rewind_epoch:
            rewind = copy.deepcopy(model.state_dict())
    return SearchResult(mask=model.hard_mask(), rewind=rewind, history=np.stack(history))


def retrain(model: GatedFM, mask: torch.Tensor, xtr: torch.Tensor, ytr: torch.Tensor, cfg: Config,
            gen: torch.Generator, rewind: dict | None = None) -> GatedFM:
    """Retrain with the fixed hard ``mask`` ``(G,)`` (§3.3), from the ``rewind`` weights if given."""
    if rewind is not None:
        model.load_state_dict(rewind)
    model.mask.copy_(mask)
    model.mode = "hard" if mask is not None else "none"
    opt = torch.optim.Adam(_weights(model), lr=cfg.lr, weight_decay=cfg.weight_decay)
    for _ in range(cfg.retrain_epochs):
        for b in _batches(len(xtr), cfg.batch_size, gen):
            loss = F.binary_cross_entropy_with_logits(model(xtr[b]), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@torch.no_grad()
def predict(model: GatedFM, x: torch.Tensor) -> np.ndarray:
    """``(N,)`` logits (in batches)."""
    return torch.cat([model(x[i:i + 8192]) for i in range(0, len(x), 8192)]).cpu().numpy()


def frequency_mask(counts: np.ndarray, n_keep: int) -> torch.Tensor:
    """``(V,)`` 0/1 mask keeping the ``n_keep`` most frequent values (the trivial baseline; ties by index)."""
    keep = np.argsort(-counts, kind="stable")[:n_keep]
    mask = torch.zeros(len(counts))
    mask[torch.as_tensor(keep)] = 1.0
    return mask


@dataclass
class SeedResult:
    """One seed's numbers. Masks are ``(V,)`` bool over feature values; ``auc`` maps arm → test AUC."""

    seed: int
    auc: dict[str, float]
    kept: dict[str, float]
    recall_freq: dict[str, float]
    recall_all: dict[str, float]
    precision: dict[str, float]
    masks: dict[str, np.ndarray]
    history: np.ndarray
    planted: np.ndarray
    counts: np.ndarray
    sweep: dict[float, dict[str, float]] = field(default_factory=dict)
    sweep_masks: dict[float, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0


def _scores(mask: np.ndarray, planted: np.ndarray, frequent: np.ndarray) -> tuple[float, float, float, float]:
    kept = float(mask.mean())
    rec_f = float(mask[planted & frequent].mean())
    rec_all = float(mask[planted].mean())
    prec = float(planted[mask].mean()) if mask.any() else 0.0
    return kept, rec_f, rec_all, prec


def run_seed(cfg: Config, seed: int, device: torch.device | str = "cpu", sweep: bool = False,
             arms: tuple[str, ...] = ("field",)) -> SeedResult:
    """One log, all arms: OptFS (search → rewind → retrain with the hard mask); from the same rewound weights and
    with the same retraining budget the full FM (no mask) and the frequency baseline (OptFS's kept count, most
    frequent values); optional ``arms``: ``"field"`` (one gate per field, own search) and ``"random"`` (random
    values at OptFS's kept count). ``sweep`` adds OptFS at every λ of ``cfg.lam_sweep`` (kept ratio, AUC, masks)."""
    t0 = time.perf_counter()
    log = make_log(cfg.n_rows, seed)
    tr, te = log.split()
    card = log.cardinalities
    off = offsets(card)
    dev = torch.device(device)
    xtr = torch.as_tensor(tr.x + off, device=dev)
    xte = torch.as_tensor(te.x + off, device=dev)
    ytr = torch.as_tensor(tr.y, dtype=torch.float32, device=dev)
    V = int(card.sum())
    planted = planted_values(log)
    counts = value_counts(tr.x, card)
    frequent = counts >= cfg.min_count
    field_of = np.repeat(np.arange(len(card)), card)

    def new_model(gate_of: np.ndarray | None = None) -> GatedFM:
        torch.manual_seed(seed)
        return GatedFM(V, cfg.dim, gate_of).to(dev)

    gen = torch.Generator().manual_seed(seed)
    res = SeedResult(seed, {}, {}, {}, {}, {}, {}, np.zeros((0, V)), planted, counts)

    def evaluate(model: GatedFM) -> float:
        return auc(te.y, predict(model, xte))

    # OptFS: search by continuation, then rewind and retrain with the hard mask (§3.2-3.3)
    model = new_model()
    s = search(model, xtr, ytr, cfg, cfg.lam, gen)
    rewind = s.rewind
    retrain(model, s.mask, xtr, ytr, cfg, gen, rewind=rewind)
    arm_masks: dict[str, np.ndarray] = {"optfs": s.mask.bool().cpu().numpy()}
    res.auc["optfs"], res.history = evaluate(model), s.history
    n_keep = int(arm_masks["optfs"].sum())
    # baselines retrain from the SAME rewound weights with the same budget; only the mask differs
    baselines = {"full": torch.ones(V), "frequency": frequency_mask(counts, n_keep)}
    if "random" in arms:
        r = torch.zeros(V)
        r[torch.randperm(V, generator=torch.Generator().manual_seed(seed))[:n_keep]] = 1.0
        baselines["random"] = r
    for name, mask in baselines.items():
        m = retrain(new_model(), mask.to(dev), xtr, ytr, cfg, gen, rewind=rewind)
        res.auc[name] = evaluate(m)
        if name != "full":
            arm_masks[name] = mask.bool().numpy()
    if "field" in arms:
        model = new_model(field_of)
        s = search(model, xtr, ytr, cfg, cfg.lam_field, gen)
        retrain(model, s.mask, xtr, ytr, cfg, gen, rewind=s.rewind)
        arm_masks["field"] = s.mask.bool().cpu().numpy()[field_of]
        res.auc["field"] = evaluate(model)

    def optfs_arm(lam: float) -> tuple[np.ndarray, float]:
        model = new_model()
        s = search(model, xtr, ytr, cfg, lam, gen)
        retrain(model, s.mask, xtr, ytr, cfg, gen, rewind=s.rewind)
        return s.mask.bool().cpu().numpy(), evaluate(model)

    for name, mask in arm_masks.items():
        k, rf, ra, p = _scores(mask, planted, frequent)
        res.kept[name], res.recall_freq[name], res.recall_all[name], res.precision[name] = k, rf, ra, p
    res.masks = arm_masks
    if sweep:
        for lam in cfg.lam_sweep:
            if lam == cfg.lam and "optfs" in arm_masks:
                mask, a = arm_masks["optfs"], res.auc["optfs"]
            else:
                mask, a = optfs_arm(lam)
            k, rf, ra, p = _scores(mask, planted, frequent)
            res.sweep[lam] = {"kept": k, "auc": a, "recall_freq": rf, "recall_all": ra, "precision": p}
            res.sweep_masks[lam] = mask
    res.seconds = time.perf_counter() - t0
    return res


def run_experiment(cfg: Config, seeds: list[int], device: torch.device | str = "cpu",
                   progress: bool = True) -> list[SeedResult]:
    """All arms on every seed; the λ sweep on the first seed only."""
    from tqdm.auto import tqdm

    return [run_seed(cfg, s, device, sweep=(i == 0)) for i, s in
            enumerate(tqdm(seeds, desc="seeds", disable=not progress))]


def claim_values(results: list[SeedResult]) -> dict[str, list[float]]:
    """Per-seed claim values: kept ratio, AUC(OptFS) − AUC(full), and OptFS − frequency baseline in recall of
    planted values seen ≥ ``min_count`` times and in precision (fraction of kept values that are planted)."""
    return {
        "optfs_kept_ratio": [r.kept["optfs"] for r in results],
        "optfs_auc_vs_full": [r.auc["optfs"] - r.auc["full"] for r in results],
        "optfs_recall_vs_frequency": [r.recall_freq["optfs"] - r.recall_freq["frequency"] for r in results],
        "optfs_precision_vs_frequency": [r.precision["optfs"] - r.precision["frequency"] for r in results],
    }

"""Unified Embedding (feature multiplexing) — the mechanism, small enough to read.

Coleman, Kang, Fahrbach, Wang, Hong, Chi & Cheng, "Unified Embedding: Battle-Tested Feature Representations
for Web-Scale ML Systems", NeurIPS 2023, arXiv:2305.12102. Used by
``notebooks/05_tabular_sequence_spatial/03_unified_embedding.ipynb``.

A CTR model embeds each categorical field ``f`` with a table; at web scale the tables must share a fixed
parameter budget of ``B`` rows (of ``d`` numbers each). The usual answer is one hashed table per field, with the
budget split between fields. **Feature multiplexing** (the paper's Unified Embedding) puts *every* field in one
shared table of ``B`` rows, with an independent hash per field::

    per-field hashing:  e_f(v) = T_f[ h(v) mod B_f ],             Σ_f B_f = B
    unified:            e_f(v) = T[ h_f(v) mod B ],              h_f salted by the field id

A field's vectors then collide with other fields' values (*inter-feature* collisions) as well as its own. The
paper's analysis: each field enters the first dense layer through its own weight block, so the network can
learn projections that separate inter-feature collisions; only intra-feature collisions are unrecoverable. And
large fields are no longer starved by a fixed share: every field can use the whole table.

Every budgeted variant here is "one table of ``B`` rows plus a map (field, value) → row", so the variants
differ only in :func:`row_index`. That lets all variants and seeds train at once as a batched ensemble
(every weight has a leading member dimension); member ``m`` is the model training it alone would give.

What is here
------------
* :func:`salted_hash` — the hash ``h_f``; :func:`split_budget` — the equal and the fair (cardinality-aware)
  split; :func:`row_index` — the (field, value) → row map of each strategy; :func:`collision_rates`.
* :class:`EmbeddingMLP`, :func:`train_ensemble` — embedding → concat → MLP → logit, trained with Adam.
* :class:`UEConfig`, :data:`PRESETS`, :func:`make_log`, :func:`run_budgets` — the experiment;
  :data:`THRESHOLDS`, :func:`claim_values` (``results/calibration/unified_embedding.md``).

Simplified vs the paper: one chunk per field (no variable dimensions, no multi-table sharding), a plain MLP
instead of the production models, synthetic data instead of Criteo/Avazu/Movielens.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurelab.clicklog import ClickLog, auc, make_clicklog
from featurelab.run import ParameterError
from featurelab.train import progress as progress_bar

__all__ = [
    "PRESETS",
    "STRATEGIES",
    "THRESHOLDS",
    "BudgetResult",
    "EmbeddingMLP",
    "UEConfig",
    "claim_values",
    "collision_rates",
    "make_log",
    "row_index",
    "run_budgets",
    "salted_hash",
    "split_budget",
    "train_ensemble",
]

STRATEGIES = ("equal", "fair", "unified", "unsalted", "full")


# ----------------------------------------------------------------------------------------------------------
# 1. Hashing and budget splits
# ----------------------------------------------------------------------------------------------------------
def salted_hash(values: np.ndarray, salt: int, buckets: int) -> np.ndarray:
    """``h_salt(v) mod buckets`` for int ``values`` of any shape: a 64-bit multiply–xorshift mix of
    ``(v, salt)``. Different salts give (practically) independent hashes; ``salt = 0`` for every field is the
    *unsalted* ablation, where equal raw ids of different fields always share a row."""
    if buckets < 1:
        raise ParameterError(f"buckets must be >= 1, got {buckets}")
    with np.errstate(over="ignore"):
        h = np.asarray(values, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt) * np.uint64(
            0xC2B2AE3D27D4EB4F)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(29)
    return (h % np.uint64(buckets)).astype(np.int64)


def split_budget(cardinalities: np.ndarray, budget: int, how: str) -> np.ndarray:
    """``(F,)`` rows per field summing to at most ``budget``.

    ``"equal"``: ``budget // F`` each (a field with fewer values leaves rows unused). ``"fair"`` (a
    cardinality-aware split): water-filling — a field whose cardinality fits in an equal share of what is
    left gets an exact table, and the rest of the budget is split equally among the remaining fields.
    """
    card = np.asarray(cardinalities, dtype=np.int64)
    n = len(card)
    if budget < n:
        raise ParameterError(f"budget {budget} is smaller than the number of fields {n}")
    if how == "equal":
        return np.full(n, budget // n, dtype=np.int64)
    if how != "fair":
        raise ParameterError(f"split must be 'equal' or 'fair', got {how!r}")
    rows = np.zeros(n, dtype=np.int64)
    left, open_ = budget, list(np.argsort(card, kind="stable"))
    while open_ and card[open_[0]] <= left // len(open_):
        f = open_.pop(0)
        rows[f] = card[f]
        left -= card[f]
    for f in open_:
        rows[f] = left // len(open_)
    return rows


def row_index(x: np.ndarray, cardinalities: np.ndarray, budget: int, strategy: str) -> np.ndarray:
    """``(N, F)`` row of the embedding table for each (row, field) of ``x`` ``(N, F)``, under ``strategy``.

    * ``"equal"`` / ``"fair"``: per-field tables (``split_budget``) laid out one after another in a table of
      ``budget`` rows; field ``f`` uses ``offset_f + h_f(v) mod B_f``, or the value itself when its table is
      exact (``B_f ≥ K_f``).
    * ``"unified"``: one shared table, ``h_f(v) mod budget`` with a per-field salt (the paper's multiplexing).
    * ``"unsalted"``: the same without the salt (ablation).
    * ``"full"``: an exact row for every (field, value) — the unbudgeted reference (``Σ K_f`` rows).
    """
    card = np.asarray(cardinalities, dtype=np.int64)
    if strategy not in STRATEGIES:
        raise ParameterError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    out = np.empty_like(x)
    if strategy == "full":
        offsets = np.concatenate([[0], np.cumsum(card)[:-1]])
        return x + offsets[None, :]
    if strategy in ("unified", "unsalted"):
        for f in range(x.shape[1]):
            out[:, f] = salted_hash(x[:, f], f + 1 if strategy == "unified" else 0, budget)
        return out
    rows = split_budget(card, budget, strategy)
    offsets = np.concatenate([[0], np.cumsum(rows)[:-1]])
    for f in range(x.shape[1]):
        local = x[:, f] if rows[f] >= card[f] else salted_hash(x[:, f], f + 1, int(rows[f]))
        out[:, f] = offsets[f] + local
    return out


def collision_rates(x: np.ndarray, index: np.ndarray) -> dict[str, float]:
    """Fraction of rows' (field, value) lookups whose table row is shared with another value.

    ``"intra"``: shared with another value of the same field; ``"inter"``: shared only with other fields'
    values. Counted over the distinct (field, value) pairs that occur in ``x``, weighted by frequency.
    """
    _n, n_f = x.shape
    n_rows = int(index.max()) + 1
    key = x * n_f + np.arange(n_f)[None, :]  # a distinct id per (field, value)
    pairs, counts = np.unique((key * n_rows + index).ravel(), return_counts=True)  # distinct (value, row) pairs
    rows, fields = pairs % n_rows, (pairs // n_rows) % n_f
    users = np.bincount(rows, minlength=n_rows)  # distinct (field, value) per table row
    _, inv, same = np.unique(rows * n_f + fields, return_inverse=True, return_counts=True)
    intra = same[inv] > 1  # another value of the same field shares the row
    shared = users[rows] > 1
    w = counts / counts.sum()
    return {"intra": float((w * intra).sum()), "inter": float((w * (shared & ~intra)).sum())}


# ----------------------------------------------------------------------------------------------------------
# 2. The model: embedding → concat → MLP, batched over ensemble members
# ----------------------------------------------------------------------------------------------------------
class EmbeddingMLP(nn.Module):
    """``M`` independent models, each: table ``(rows, d)`` → concat of ``F`` field vectors → MLP → logit.

    ``forward(idx)``: ``idx`` ``(M, n, F)`` long rows into each member's table → ``(M, n)`` logits. The first
    dense layer sees field ``f`` in its own block of ``d`` inputs — the slot structure the paper's analysis uses.
    """

    def __init__(self, members: int, rows: int, n_fields: int, dim: int = 8, hidden: tuple[int, ...] = (64, 32),
                 seeds: list[int] | None = None):
        super().__init__()
        seeds = seeds if seeds is not None else list(range(members))
        if len(seeds) != members:
            raise ParameterError(f"need one seed per member, got {len(seeds)} for {members}")
        sizes = [n_fields * dim, *hidden, 1]
        tables, ws, bs = [], [[] for _ in sizes[1:]], [[] for _ in sizes[1:]]
        for s in seeds:
            g = torch.Generator().manual_seed(int(s))
            tables.append(torch.randn(rows, dim, generator=g) * 0.05)
            for j, (a, b) in enumerate(itertools.pairwise(sizes)):
                ws[j].append((torch.rand(a, b, generator=g) * 2 - 1) / a**0.5)
                bs[j].append(torch.zeros(1, b))
        self.table = nn.Parameter(torch.stack(tables))  # (M, rows, d)
        self.weights = nn.ParameterList([nn.Parameter(torch.stack(w)) for w in ws])  # (M, in, out)
        self.biases = nn.ParameterList([nn.Parameter(torch.stack(b)) for b in bs])  # (M, 1, out)
        self.dim = dim

    def forward(self, idx: Tensor) -> Tensor:
        m, n, f = idx.shape
        emb = torch.gather(self.table, 1, idx.reshape(m, n * f, 1).expand(m, n * f, self.dim))  # (M, n·F, d)
        h = emb.reshape(m, n, f * self.dim)
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if j < len(self.weights) - 1:
                h = F.relu(h)
        return h.squeeze(-1)


def train_ensemble(idx_train: Tensor, y_train: Tensor, idx_eval: list[Tensor], rows: int, seeds: list[int],
                   epochs: int = 3, batch: int = 512, lr: float = 3e-3, dim: int = 8,
                   hidden: tuple[int, ...] = (64, 32), device: torch.device | str = "cpu",
                   desc: str = "train") -> list[np.ndarray]:
    """Train ``M`` members (Adam, BCE) on their own row indices; return eval logits after every epoch.

    Args:
        idx_train: ``(M, N, F)`` int (int32 or int64); y_train: ``(M, N)`` float labels (each member may
            have its own log); idx_eval: list of ``(M, N_e, F)``.
        rows: table rows per member (≥ every index + 1); seeds: one init seed per member (the batch order
            is seeded by ``seeds[0]`` and shared, so members differ only in init and indices).

    Returns:
        For each eval set, ``(epochs, M, N_e)`` logits.
    """
    m, n, f = idx_train.shape
    model = EmbeddingMLP(m, rows, f, dim, hidden, seeds).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    g = torch.Generator().manual_seed(int(seeds[0]))  # one batch order for all members
    idx_train, y_train = idx_train.to(device), y_train.to(device)
    outs = [np.zeros((epochs, m, e.shape[1])) for e in idx_eval]
    for ep in progress_bar(range(epochs), desc=desc):
        perm = torch.randperm(n, generator=g).to(device)
        for s in range(0, n, batch):
            b = perm[s:s + batch]
            logit = model(idx_train[:, b].long())
            loss = F.binary_cross_entropy_with_logits(logit, y_train[:, b], reduction="sum") / len(b)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            for out, e in zip(outs, idx_eval):
                out[ep] = torch.cat([model(e[:, i:i + 8192].to(device).long()) for i in range(0, e.shape[1], 8192)],
                                    1).cpu().numpy()
    return outs


# ----------------------------------------------------------------------------------------------------------
# 3. The experiment
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UEConfig:
    """One scale's experiment (notebook knobs are the upper-case names).

    cardinalities: the informative fields (each value has a planted weight); n_rows: rows (train/valid/test
    = 70/10/20 %); budgets: table rows as fractions of the total vocabulary ``Σ K_f``; strategies: compared
    at every budget; epochs, batch, lr, dim, hidden: the model and its training; n_seeds: seeds per run;
    full_reference: also train exact (unbudgeted) tables, ``Σ K_f`` rows.
    """

    cardinalities: tuple[int, ...] = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 40000)
    n_rows: int = 40_000
    budgets: tuple[float, ...] = (0.01, 0.05)
    strategies: tuple[str, ...] = ("equal", "fair", "unified", "unsalted")
    n_seeds: int = 2
    epochs: int = 3
    batch: int = 1024
    lr: float = 5e-3
    dim: int = 8
    hidden: tuple[int, ...] = (64, 32)
    effect: float = 0.5
    zipf: float = 1.1
    full_reference: bool = False

    def __post_init__(self) -> None:
        if len(self.cardinalities) < 2 or min(self.cardinalities) < 2:
            raise ParameterError("need at least 2 fields, each with cardinality >= 2")
        if self.n_rows < 1000:
            raise ParameterError(f"n_rows must be >= 1000, got {self.n_rows}")
        if not self.budgets or not all(0 < b <= 1 for b in self.budgets):
            raise ParameterError(f"budgets are fractions of the vocabulary in (0, 1], got {self.budgets}")
        bad = [s for s in self.strategies if s not in STRATEGIES or s == "full"]
        if bad:
            raise ParameterError(f"unknown budgeted strategies {bad}; use {', '.join(STRATEGIES[:-1])}")
        for name in ("n_seeds", "epochs", "batch", "dim"):
            if getattr(self, name) < 1:
                raise ParameterError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ParameterError(f"lr must be positive, got {self.lr}")

    @property
    def vocabulary(self) -> int:
        return int(sum(self.cardinalities))


PRESETS = {
    "small": UEConfig(),
    "full": UEConfig(cardinalities=(10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
                                    200000), n_rows=400_000, budgets=(0.005, 0.01, 0.02, 0.05, 0.1),
                     n_seeds=3, epochs=4, batch=2048, full_reference=True),
}

# calibrated over 12 seed sets (results/calibration/unified_embedding.md); each is a mean over the run's seeds
# salting_5pct is reported, not asserted (its 2-seed mean fell to +0.004 in one of 20 sets)
THRESHOLDS = {"unified_vs_equal_1pct": 0.010, "unified_vs_fair_1pct": 0.005}


def make_log(cfg: UEConfig, seed: int) -> ClickLog:
    """The click log of one seed: ``cfg.cardinalities`` informative fields, nothing else."""
    return make_clicklog(cfg.n_rows, informative=cfg.cardinalities, interaction=(), id_noise=(), noise=(),
                         effect=cfg.effect, zipf=cfg.zipf, seed=seed)


@dataclass
class BudgetResult:
    """Test AUC per (budget, strategy) and seed, read at the epoch with the best validation AUC.

    ``auc[(budget, strategy)]``: ``(S,)``; ``auc_full``: ``(S,)`` (exact tables); ``bayes``: ``(S,)`` AUC of the
    true logit; ``collisions[(budget, strategy)]``: intra/inter rates on the first seed's training rows.
    """

    seeds: list[int]
    budgets: tuple[float, ...]
    strategies: tuple[str, ...]
    rows: dict[float, int]
    auc: dict[tuple[float, str], np.ndarray] = field(default_factory=dict)
    auc_full: np.ndarray | None = None
    bayes: np.ndarray | None = None
    collisions: dict[tuple[float, str], dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0


def run_budgets(cfg: UEConfig, seeds: list[int], device: torch.device | str = "cpu",
                with_full: bool | None = None) -> BudgetResult:
    """Train every (seed, budget, strategy) as members of one ensemble (each seed with its own log), plus the
    exact-table reference per seed; read test AUC at each member's best validation epoch.

    All members of one seed start from the same initial weights, so the arms differ only in their row
    indices (a paired comparison).
    """
    start = time.perf_counter()
    with_full = cfg.full_reference if with_full is None else with_full
    card = np.asarray(cfg.cardinalities)
    rows = {b: max(len(card), round(b * cfg.vocabulary)) for b in cfg.budgets}
    combos = [(b, s) for b in cfg.budgets for s in cfg.strategies]
    res = BudgetResult(list(seeds), cfg.budgets, cfg.strategies, rows)
    res.auc = {c: np.zeros(len(seeds)) for c in combos}
    res.auc_full, res.bayes = np.zeros(len(seeds)), np.zeros(len(seeds))
    n_tr, n_va = int(0.7 * cfg.n_rows), int(0.8 * cfg.n_rows)
    parts = [slice(0, n_tr), slice(n_tr, n_va), slice(n_va, None)]
    members: dict[str, list] = {"budgeted": [], "full": []}  # (seed position, arm, idx (N, F), y (N,))
    for i, seed in enumerate(seeds):
        log = make_log(cfg, seed)
        res.bayes[i] = auc(log.y[parts[2]], log.logit[parts[2]])
        for c in combos:
            idx = row_index(log.x, card, rows[c[0]], c[1])
            if i == 0:
                res.collisions[c] = collision_rates(log.x[parts[0]], idx[parts[0]])
            members["budgeted"].append((i, c, idx, log.y))
        if with_full:
            members["full"].append((i, (1.0, "full"), row_index(log.x, card, cfg.vocabulary, "full"), log.y))
    for group, table_rows in (("budgeted", max(rows.values())), ("full", cfg.vocabulary)):
        mem = members[group]
        if not mem:
            continue
        idx = torch.from_numpy(np.stack([m[2] for m in mem]).astype(np.int32))  # (M, N, F); int32 saves memory
        y = np.stack([m[3] for m in mem])  # (M, N)
        val, test = train_ensemble(idx[:, parts[0]], torch.from_numpy(y[:, parts[0]].astype(np.float32)),
                                   [idx[:, parts[1]], idx[:, parts[2]]], table_rows,
                                   [seeds[m[0]] for m in mem], cfg.epochs, cfg.batch, cfg.lr, cfg.dim,
                                   cfg.hidden, device, desc=f"{group}: {len(mem)} models")
        for j, (i, c, _, _) in enumerate(mem):
            best = int(np.argmax([auc(y[j, parts[1]], val[e, j]) for e in range(cfg.epochs)]))
            a = auc(y[j, parts[2]], test[best, j])
            if c[1] == "full":
                res.auc_full[i] = a
            else:
                res.auc[c][i] = a
    res.seconds = time.perf_counter() - start
    return res


def claim_values(res: BudgetResult, method: str = "unified") -> dict[str, np.ndarray]:
    """Per-seed AUC gains of ``method`` over the equal and the fair split at the smallest budget (1 % at small),
    and over its unsalted ablation at the largest budget (5 % at small; reported, not asserted).

    ``method="equal"`` (the baseline in unified's place) or ``"unsalted"`` (the salt switched off) give the
    swaps of the calibration record.
    """
    lo, hi = min(res.budgets), max(res.budgets)
    return {"unified_vs_equal_1pct": res.auc[(lo, method)] - res.auc[(lo, "equal")],
            "unified_vs_fair_1pct": res.auc[(lo, method)] - res.auc[(lo, "fair")],
            "salting_5pct": res.auc[(hi, method)] - res.auc[(hi, "unsalted")]}

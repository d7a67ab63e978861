"""Unified Embedding (feature multiplexing) — the mechanism, small enough to read.

Coleman, Kang, Fahrbach, Wang, Hong, Chi & Cheng, "Unified Embedding: Battle-Tested Feature Representations
for Web-Scale ML Systems", NeurIPS 2023, arXiv:2305.12102. Used by
``notebooks/05_tabular_sequence_spatial/03_unified_embedding.ipynb``.

A CTR model embeds each categorical field ``f`` with a table; at web scale the tables must share a fixed
parameter budget of ``B`` rows (of ``d`` numbers each). The usual answer is one hashed table per field, with the
budget split between fields. **Feature multiplexing** (the paper's §3; Unified Embedding is its production
form, §4) puts *every* field in one shared table of ``B`` rows, with an independent hash per field::

    per-field hashing:  e_f(v) = T_f[ h(v) mod B_f ],             Σ_f B_f = B
    unified:            e_f(v) = T[ h_f(v) mod B ],              h_f salted by the field id

A field's vectors then collide with other fields' values (*inter-feature* collisions) as well as its own. The
paper's analysis: each field enters the first dense layer through its own weight block, so the network can
learn projections that separate inter-feature collisions; only intra-feature collisions are unrecoverable. And
large fields are no longer starved by a fixed share: every field can use the whole table.

Every budgeted variant here is "one table of ``B`` rows plus a map (field, value) → row", so the variants
differ only in :func:`row_index`. That lets all variants and seeds train at once: each member has its own
table ``(rows, d)``, and the MLP on top is :class:`featurelab.ensemble.EnsembleMLP` (member ``m`` is the model
training it alone would give).

What is here
------------
* :func:`salted_hash` — the hash ``h_f``; :func:`split_budget` — the equal and the fair (cardinality-aware)
  split; :func:`row_index` — the (field, value) → row map of each strategy; :func:`collision_rates`.
* :class:`EmbeddingMLP`, :func:`train_ensemble` — embedding → concat → MLP → logit, trained with Adam.
* The paper contract (:mod:`featurelab.experiment`): :class:`Config`, :data:`PRESETS`, :data:`SMOKE`,
  :func:`run`, :func:`claim_values`, :data:`CLAIMS`, :data:`SWAPS` (``featurelab calibrate unified_embedding``).

Simplified vs the paper: one chunk per field (no variable dimensions, no multi-table sharding), a plain MLP
instead of the production models, synthetic data instead of Criteo/Avazu/Movielens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from featurelab.base import ParameterError, progress
from featurelab.claims import ClaimSpec
from featurelab.clicklog import ClickLog, auc, make_clicklog
from featurelab.ensemble import EnsembleMLP
from featurelab.experiment import Knobs, Swap, knob

__all__ = [
    "CLAIMS",
    "PRESETS",
    "SMOKE",
    "STRATEGIES",
    "SWAPS",
    "Config",
    "EmbeddingMLP",
    "Result",
    "claim_values",
    "collision_rates",
    "make_log",
    "row_index",
    "run",
    "salted_hash",
    "split_budget",
    "train_ensemble",
]

STRATEGIES = ("equal", "fair", "unified", "unsalted", "full")
BUDGETED = STRATEGIES[:-1]


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
# 2. The model: one table per member → concat of the field vectors → batched MLP
# ----------------------------------------------------------------------------------------------------------
class EmbeddingMLP(nn.Module):
    """``M`` independent models, each: table ``(rows, d)`` → concat of ``F`` field vectors → MLP → logit.

    ``forward(idx)``: ``idx`` ``(M, n, F)`` long rows into each member's table → ``(M, n)`` logits. The first
    dense layer sees field ``f`` in its own block of ``d`` inputs — the slot structure the paper's analysis uses.
    Member ``m``'s table and MLP are drawn from ``seeds[m]`` alone.
    """

    def __init__(self, members: int, rows: int, n_fields: int, dim: int = 8, hidden: tuple[int, ...] = (64, 32),
                 seeds: list[int] | None = None):
        super().__init__()
        seeds = seeds if seeds is not None else list(range(members))
        if len(seeds) != members:
            raise ParameterError(f"need one seed per member, got {len(seeds)} for {members}")
        tables = [torch.randn(rows, dim, generator=torch.Generator().manual_seed(int(s))) * 0.05 for s in seeds]
        self.table = nn.Parameter(torch.stack(tables))  # (M, rows, d)
        self.mlp = EnsembleMLP(seeds, [n_fields * dim, *hidden, 1])
        self.dim = dim

    def forward(self, idx: Tensor) -> Tensor:
        m, n, f = idx.shape
        emb = torch.gather(self.table, 1, idx.reshape(m, n * f, 1).expand(m, n * f, self.dim))  # (M, n·F, d)
        return self.mlp(emb.reshape(m, n, f * self.dim)).squeeze(-1)  # field f in input slot f·d … f·d + d


def train_ensemble(idx_train: Tensor, y_train: Tensor, idx_eval: list[Tensor], rows: int, seeds: list[int],
                   epochs: int = 3, batch: int = 512, lr: float = 3e-3, dim: int = 8,
                   hidden: tuple[int, ...] = (64, 32), device: torch.device | str = "cpu",
                   desc: str = "train", enabled: bool | None = None) -> list[np.ndarray]:
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
    for ep in progress(range(epochs), desc=desc, enabled=enabled):
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
# 3. The experiment (the paper contract)
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config(Knobs):
    """One scale's experiment (notebook knobs are the upper-case names).

    cardinalities: the informative fields (each value has a planted weight); n_rows: rows (train/valid/test
    = 70/10/20 %); budgets: table rows as fractions of the total vocabulary ``Σ K_f``; strategies: compared
    at every budget; epochs, batch, lr, dim, hidden: the model and its training; n_seeds: seeds per run;
    full_reference: also train exact (unbudgeted) tables, ``Σ K_f`` rows. method: the strategy the claims are
    measured on (the swaps put a per-field split in its place); fresh_init: train the method's arm at the
    smallest budget from initial weights independent of the other arms (the noise null: with ``method="equal"``
    the claim then compares two equal splits that differ only in their random initialisation).
    """

    cardinalities: tuple[int, ...] = knob((10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 40000), lo=2,
                                          doc="values per informative field")
    n_rows: int = knob(40_000, lo=1000, doc="rows per log")
    budgets: tuple[float, ...] = knob((0.01, 0.05), lo=0.0, lo_open=True, hi=1.0,
                                      doc="table rows as a fraction of the vocabulary")
    strategies: tuple[str, ...] = knob(("equal", "fair", "unified", "unsalted"), choices=BUDGETED)
    n_seeds: int = knob(2, lo=1, doc="independent logs per run")
    epochs: int = knob(3, lo=1)
    batch: int = knob(1024, lo=1)
    lr: float = knob(5e-3, lo=0.0, lo_open=True)
    dim: int = knob(8, lo=1, doc="embedding dimension")
    hidden: tuple[int, ...] = knob((64, 32), lo=1)
    effect: float = knob(0.5, lo=0.0, lo_open=True, doc="std of the planted per-field logit")
    zipf: float = knob(1.1, lo=0.0, lo_open=True)
    full_reference: bool = False
    method: str = knob("unified", choices=BUDGETED, doc="the strategy the claims are measured on")
    fresh_init: bool = False

    def validate(self) -> None:
        if len(self.cardinalities) < 2:
            raise ParameterError(f"CARDINALITIES needs at least 2 fields, got {self.cardinalities}")
        if not self.budgets or not self.strategies:
            raise ParameterError("BUDGETS and STRATEGIES must not be empty")
        missing = [s for s in ("equal", "fair", self.method) if s not in self.strategies]
        if missing:
            raise ParameterError(f"STRATEGIES must include {missing} (the claims compare them)")

    @property
    def vocabulary(self) -> int:
        return int(sum(self.cardinalities))


PRESETS = {
    "small": Config(),
    "full": Config(cardinalities=(10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000,
                                  200000), n_rows=400_000, budgets=(0.005, 0.01, 0.02, 0.05, 0.1),
                   n_seeds=3, epochs=4, batch=2048, full_reference=True),
}
SMOKE = {"n_rows": 4000, "n_seeds": 1, "epochs": 1}


def make_log(cfg: Config, seed: int) -> ClickLog:
    """The click log of one seed: ``cfg.cardinalities`` informative fields, nothing else."""
    return make_clicklog(cfg.n_rows, informative=cfg.cardinalities, interaction=(), id_noise=(), noise=(),
                         effect=cfg.effect, zipf=cfg.zipf, seed=seed)


@dataclass
class Result:
    """Test AUC per (budget, strategy) and seed, read at the epoch with the best validation AUC.

    ``auc[(budget, strategy)]``: ``(S,)``; ``auc_method``: ``(S,)`` the claims' arm (``cfg.method`` at the
    smallest budget; its own members when ``cfg.fresh_init``); ``auc_full``: ``(S,)`` (exact tables, or NaN);
    ``bayes``: ``(S,)`` AUC of the true logit; ``collisions[(budget, strategy)]``: intra/inter rates on the first
    seed's training rows.
    """

    cfg: Config
    seeds: list[int]
    rows: dict[float, int]
    auc: dict[tuple[float, str], np.ndarray] = field(default_factory=dict)
    auc_method: np.ndarray | None = None
    auc_full: np.ndarray | None = None
    bayes: np.ndarray | None = None
    collisions: dict[tuple[float, str], dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def budgets(self) -> tuple[float, ...]:
        return self.cfg.budgets

    @property
    def strategies(self) -> tuple[str, ...]:
        return self.cfg.strategies


FRESH = 1_000_003  # offset of the fresh-init seeds (an independent stream)


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None
        ) -> Result:
    """Train every (seed, budget, strategy) as members of one ensemble (each seed with its own log), plus the
    exact-table reference per seed if ``cfg.full_reference``; read test AUC at each member's best validation
    epoch. All members of one seed start from the same initial weights (so the arms differ only in their row
    indices: a paired comparison), except the fresh-init arm of the noise null."""
    start = time.perf_counter()
    card = np.asarray(cfg.cardinalities)
    rows = {b: max(len(card), round(b * cfg.vocabulary)) for b in cfg.budgets}
    lo = min(cfg.budgets)
    combos = [(b, s) for b in cfg.budgets for s in cfg.strategies]
    res = Result(cfg, list(seeds), rows)
    res.auc = {c: np.zeros(len(seeds)) for c in combos}
    res.auc_full, res.bayes = np.full(len(seeds), np.nan), np.zeros(len(seeds))
    n_tr, n_va = int(0.7 * cfg.n_rows), int(0.8 * cfg.n_rows)
    parts = [slice(0, n_tr), slice(n_tr, n_va), slice(n_va, None)]
    members: dict[str, list] = {"budgeted": [], "full": []}  # (seed position, arm, idx (N, F), y (N,), init seed)
    for i, seed in enumerate(seeds):
        log = make_log(cfg, seed)
        res.bayes[i] = auc(log.y[parts[2]], log.logit[parts[2]])
        for c in combos:
            idx = row_index(log.x, card, rows[c[0]], c[1])
            if i == 0:
                res.collisions[c] = collision_rates(log.x[parts[0]], idx[parts[0]])
            members["budgeted"].append((i, c, idx, log.y, seed))
        if cfg.fresh_init:
            idx = row_index(log.x, card, rows[lo], cfg.method)
            members["budgeted"].append((i, (lo, "method"), idx, log.y, seed + FRESH))
        if cfg.full_reference:
            members["full"].append((i, (1.0, "full"), row_index(log.x, card, cfg.vocabulary, "full"), log.y, seed))
    method_auc = np.zeros(len(seeds))
    for group, table_rows in (("budgeted", max(rows.values())), ("full", cfg.vocabulary)):
        mem = members[group]
        if not mem:
            continue
        idx = torch.from_numpy(np.stack([m[2] for m in mem]).astype(np.int32))  # (M, N, F); int32 saves memory
        y = np.stack([m[3] for m in mem])  # (M, N)
        val, test = train_ensemble(idx[:, parts[0]], torch.from_numpy(y[:, parts[0]].astype(np.float32)),
                                   [idx[:, parts[1]], idx[:, parts[2]]], table_rows, [m[4] for m in mem],
                                   cfg.epochs, cfg.batch, cfg.lr, cfg.dim, cfg.hidden, device,
                                   desc=f"{group}: {len(mem)} models", enabled=progress)
        for j, (i, c, _, _, _) in enumerate(mem):
            best = int(np.argmax([auc(y[j, parts[1]], val[e, j]) for e in range(cfg.epochs)]))
            a = auc(y[j, parts[2]], test[best, j])
            if c[1] == "full":
                res.auc_full[i] = a
            elif c[1] == "method":
                method_auc[i] = a
            else:
                res.auc[c][i] = a
    res.auc_method = method_auc if cfg.fresh_init else res.auc[(lo, cfg.method)].copy()
    res.seconds = time.perf_counter() - start
    return res


def claim_values(res: Result) -> dict[str, np.ndarray]:
    """Per-seed AUC gains of the claims' arm (``cfg.method``, the unified table unless a swap changed it) over the
    equal and the fair split at the smallest budget (1 % at small); reported, not asserted: the same at the
    largest budget and the salting gain (unified − unsalted) there."""
    lo, hi = min(res.budgets), max(res.budgets)
    out = {"unified_vs_equal_1pct": res.auc_method - res.auc[(lo, "equal")],
           "unified_vs_fair_1pct": res.auc_method - res.auc[(lo, "fair")],
           "unified_vs_fair_5pct": res.auc[(hi, res.cfg.method)] - res.auc[(hi, "fair")]}
    if "unsalted" in res.strategies:
        out["salting_5pct"] = res.auc[(hi, res.cfg.method)] - res.auc[(hi, "unsalted")]
    return out


# calibrated over 12 seed sets (results/calibration/unified_embedding.md); each is a mean over the run's seeds.
# The 5 % comparisons (unified − fair, salting) are reported, not asserted: too close to 0 in some sets.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("unified_vs_equal_1pct", "unified_vs_equal_1pct", ">=", 0.010,
              "test AUC of the unified table minus per-field hashing with an equal split, budget 1 % of the "
              "vocabulary (mean over the run's logs)",
              "Pareto-better than per-feature hashing on Criteo, Avazu, Movielens (§5, Pareto figures; gains read "
              "off plots, no table number)"),
    ClaimSpec("unified_vs_fair_1pct", "unified_vs_fair_1pct", ">=", 0.005,
              "test AUC of the unified table minus a fair cardinality-aware split (small fields exact), budget 1 %"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("equal_null", {"method": "equal", "fresh_init": True}, ("unified_vs_equal_1pct", "unified_vs_fair_1pct"),
         "null", "the equal split, retrained from independent initial weights, in the unified table's place"),
    Swap("fair_null", {"method": "fair", "fresh_init": True}, ("unified_vs_equal_1pct", "unified_vs_fair_1pct"),
         "null", "the fair split, retrained from independent initial weights, in the unified table's place "
         "(the strongest per-field split)"),
    Swap("unsalted", {"method": "unsalted"}, (), "mechanism",
         "the shared table without the per-field salt (reported: at 1 % the gain comes from sharing, not salting)"),
    Swap("equal_split", {"method": "equal"}, ("unified_vs_equal_1pct",), "sanity",
         "the equal split's own arm in unified's place (its gain over itself is 0 by construction)"),
)

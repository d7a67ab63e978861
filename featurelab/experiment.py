"""The paper contract: how every ``featurelab.papers.<slug>`` module is shaped, checked and calibrated.

A paper module is the paper's mechanism plus one small experiment that tests its headline claim. Every
module exposes the same names, so that a notebook, ``featurelab calibrate`` and the tests treat all papers
alike::

    Config            frozen dataclass subclassing :class:`Knobs`; every knob declared with :func:`knob` (bounds / choices / doc);
                      must have ``n_seeds`` (how many seeds one run averages over)
    PRESETS           {"small": Config(...), "full": Config(...)}
    SMOKE             {field: value}: changes that cut a ``full`` run to a step or two, keeping every shape
                      (the smoke test runs ``PRESETS["full"]`` with them on the CPU)
    run(cfg, seeds, *, device="cpu", progress=None) -> Result
                      the whole experiment for ``seeds`` (a list of ``cfg.n_seeds`` ints)
    claim_values(result) -> {key: per-seed values or one value}
    CLAIMS            tuple of :class:`featurelab.claims.ClaimSpec` — thresholds and the paper's numbers live
                      here, never in the notebook
    SWAPS             tuple of :class:`Swap` — executable changes that remove the paper's mechanism (or put the
                      sceptic's strongest baseline, or a noise null, in its place) and the claims each must break

A notebook then reads::

    run = fl.setup(SCALE, SEED, paper.PRESETS, steps=STEPS)        # validates knobs, seeds, device
    result = paper.run(run.cfg, run.seeds(run.cfg.n_seeds), device=run.device)
    ...
    fl.check_claims(paper, result)                                  # the claim cell: one call

and ``featurelab calibrate SLUG`` runs the same ``run`` over 12 seed sets (SEED = 0..11) with the method and
with every swap (:mod:`featurelab.calibrate`).

Knob bounds: ``knob(64, lo=1)`` declares a field whose value (or, for a tuple, every element) must be ≥ 1;
:func:`check_config` (called on construction by the base class :class:`Knobs`) raises a
:class:`ParameterError` that names the notebook knob (upper case) and its allowed range. Cross-field rules
go in the config's :meth:`Knobs.validate`.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib
import inspect
import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

from .base import ParameterError
from .claims import REDUCERS, Claim, ClaimFailed, ClaimSpec, check, strict_mode

CONTRACT = ("Config", "PRESETS", "SMOKE", "run", "claim_values", "CLAIMS", "SWAPS")
SWAP_KINDS = ("mechanism", "baseline", "null", "sanity")


# ----------------------------------------------------------------------------------------------------------
# Knobs with declared bounds
# ----------------------------------------------------------------------------------------------------------
def knob(default: Any, *, lo: float | None = None, hi: float | None = None, choices: Sequence[Any] | None = None,
         doc: str = "", lo_open: bool = False) -> Any:
    """A dataclass field with bounds: ``lo ≤ value ≤ hi`` (``lo < value`` with ``lo_open``), or ``value in choices``.

    Tuples are checked element by element. ``doc`` is the one-line meaning shown in error messages.
    """
    meta = {"lo": lo, "hi": hi, "choices": tuple(choices) if choices is not None else None, "doc": doc,
            "lo_open": lo_open}
    if isinstance(default, (list, dict, set)):
        raise TypeError("knob defaults must be immutable (use a tuple)")
    return field(default=default, metadata={"knob": meta})


def _allowed(meta: Mapping[str, Any]) -> str:
    if meta["choices"] is not None:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    lo, hi = meta["lo"], meta["hi"]
    left = f"> {lo}" if meta["lo_open"] else f">= {lo}"
    if lo is not None and hi is not None:
        return f"{'(' if meta['lo_open'] else '['}{lo}, {hi}]"
    if lo is not None:
        return left
    return f"<= {hi}"


def check_config(cfg: Any) -> None:
    """Check every :func:`knob` field of the dataclass ``cfg``; raise :class:`ParameterError` naming the knob."""
    for f in dataclasses.fields(cfg):
        meta = f.metadata.get("knob")
        if not meta:
            continue
        value = getattr(cfg, f.name)
        items = value if isinstance(value, tuple) else (value,)
        default = f.default[0] if isinstance(f.default, tuple) and f.default else f.default
        integer = isinstance(default, int) and not isinstance(default, bool)
        for v in items:
            ok = True
            if integer and meta["choices"] is None and isinstance(v, float):
                raise ParameterError(f"{f.name.upper()}={value!r} must be an integer")
            if meta["choices"] is not None:
                ok = v in meta["choices"]
            else:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and math.isnan(v)):
                    ok = False
                else:
                    if meta["lo"] is not None:
                        ok &= v > meta["lo"] if meta["lo_open"] else v >= meta["lo"]
                    if meta["hi"] is not None:
                        ok &= v <= meta["hi"]
            if not ok:
                what = f" ({meta['doc']})" if meta["doc"] else ""
                elem = ": every element" if isinstance(value, tuple) else ""
                raise ParameterError(f"{f.name.upper()}={value!r}{what}{elem} must be {_allowed(meta)}")


@dataclass(frozen=True)
class Knobs:
    """Base of every paper's ``Config``: bounds of :func:`knob` fields are checked on construction (and on every
    ``dataclasses.replace``, which is how notebook knobs and swaps are applied); override :meth:`validate` for
    rules that tie several fields together."""

    def __post_init__(self) -> None:
        check_config(self)
        self.validate()

    def validate(self) -> None:
        """Cross-field rules; raise :class:`ParameterError` with a message that says what to change."""


def knob_table(cfg_cls: type) -> list[tuple[str, Any, str, str]]:
    """``[(KNOB, default, allowed, doc)]`` for every :func:`knob` field (for docs and the sweep CLI)."""
    rows = []
    for f in dataclasses.fields(cfg_cls):
        meta = f.metadata.get("knob")
        if meta:
            rows.append((f.name.upper(), f.default, _allowed(meta), meta["doc"]))
    return rows


# ----------------------------------------------------------------------------------------------------------
# Swaps
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Swap:
    """An executable change that removes the paper's mechanism, and the claims it must break.

    Attributes:
        name: short identifier (``"ipnn_converged"``).
        change: ``{field: value}`` applied to the config, or a function ``cfg -> cfg``.
        breaks: names of the claims this swap must fail (calibration counts in how many seed sets it does).
        kind: ``"mechanism"`` (the paper's mechanism off, all else equal), ``"baseline"`` (the strongest simple
            alternative a sceptic would try, in the method's place), ``"null"`` (the baseline rerun with
            independent seeds in the method's place) or ``"sanity"`` (a row that is fixed by construction,
            e.g. a baseline compared with itself: reported, never counted as breaking a claim).
        description: what the swap does, in words.
    """

    name: str
    change: Mapping[str, Any] | Callable[[Any], Any]
    breaks: tuple[str, ...]
    kind: str = "mechanism"
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SWAP_KINDS:
            raise ParameterError(f"swap {self.name!r}: kind must be one of {', '.join(SWAP_KINDS)}")
        if isinstance(self.breaks, str):
            raise ParameterError(f"swap {self.name!r}: breaks must be a tuple of claim names")

    def apply(self, cfg: Any) -> Any:
        """The swapped config (validated like any other)."""
        if callable(self.change):
            return self.change(cfg)
        return dataclasses.replace(cfg, **dict(self.change))


# ----------------------------------------------------------------------------------------------------------
# The claim cell
# ----------------------------------------------------------------------------------------------------------
class ClaimReport(list):
    """The claims a notebook checked (a list of :class:`Claim`); shows nothing itself (the lines were printed)."""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self)

    def _ipython_display_(self) -> None:  # the lines are already printed once by check_claims
        pass


def check_claims(paper: ModuleType, result: Any, values: Mapping[str, Any] | None = None,
                 strict: bool | None = None) -> ClaimReport:
    """Check every claim of ``paper.CLAIMS`` on ``paper.claim_values(result)``: one printed line per claim.

    All claims are checked and printed first; then, in strict mode (CI, ``featurelab run``), a failure raises
    :class:`ClaimFailed`. Returns a :class:`ClaimReport` that a notebook cell does not display again.
    """
    values = paper.claim_values(result) if values is None else values
    report = ClaimReport(spec.check(values, strict=False) for spec in paper.CLAIMS)
    failed = [c for c in report if not c.passed]
    if failed and (strict if strict is not None else strict_mode()):
        raise ClaimFailed("claim(s) failed: " + ", ".join(f"{c.name} measured {c.measured:.4f}" for c in failed))
    return report


def measure(spec: ClaimSpec, values: Mapping[str, Any]) -> float:
    """The claim's measured value (``reduce`` over per-seed values) without printing or recording."""
    v = values[spec.key]
    if hasattr(v, "__len__") and not isinstance(v, str):
        return float(REDUCERS[spec.reduce]([float(x) for x in v]))
    return float(v)


def holds(spec: ClaimSpec, value: float) -> bool:
    """Whether ``value`` passes ``spec`` (NaN never passes)."""
    from .claims import OPS

    return (not math.isnan(value)) and bool(OPS[spec.op](value, spec.threshold))


# ----------------------------------------------------------------------------------------------------------
# Loading and checking a paper module
# ----------------------------------------------------------------------------------------------------------
def paper_module(slug: str) -> ModuleType:
    """``featurelab.papers.<slug>``; a clear error when there is none."""
    try:
        return importlib.import_module(f"featurelab.papers.{slug}")
    except ModuleNotFoundError as exc:
        if exc.name == f"featurelab.papers.{slug}":
            raise ParameterError(f"no paper module featurelab/papers/{slug}.py; `featurelab list` shows the "
                                 "papers with a notebook") from None
        raise


def contract_errors(paper: ModuleType) -> list[str]:
    """What ``paper`` lacks of the contract (empty when it implements it)."""
    errs = [f"missing {name}" for name in CONTRACT if not hasattr(paper, name)]
    if errs:
        return errs
    cfg_cls = paper.Config
    if not (dataclasses.is_dataclass(cfg_cls) and cfg_cls.__dataclass_params__.frozen):
        errs.append("Config must be a frozen dataclass")
    elif "n_seeds" not in {f.name for f in dataclasses.fields(cfg_cls)}:
        errs.append("Config needs an n_seeds field")
    for scale in ("small", "full"):
        if not isinstance(paper.PRESETS.get(scale), cfg_cls):
            errs.append(f"PRESETS[{scale!r}] must be a Config")
    sig = inspect.signature(paper.run)
    for p in ("cfg", "seeds", "device", "progress"):
        if p not in sig.parameters:
            errs.append(f"run() needs a parameter {p!r}")
    names = [c.name for c in paper.CLAIMS]
    if not names or len(set(names)) != len(names):
        errs.append("CLAIMS must be a non-empty tuple of ClaimSpec with distinct names")
    if any(not isinstance(c, ClaimSpec) for c in paper.CLAIMS):
        errs.append("CLAIMS must hold ClaimSpec objects")
    if not paper.SWAPS:
        errs.append("SWAPS is empty: every claim needs a swap that breaks it")
    for s in paper.SWAPS:
        unknown = [b for b in s.breaks if b not in names]
        if unknown:
            errs.append(f"swap {s.name!r} breaks unknown claim(s) {unknown}")
    broken = {b for s in paper.SWAPS if s.kind != "sanity" for b in s.breaks}
    for n in names:
        if n not in broken:
            errs.append(f"claim {n!r} has no (non-sanity) swap that should break it")
    if len({s.name for s in paper.SWAPS}) != len(paper.SWAPS):
        errs.append("swap names must be distinct")
    return errs


def source_hash(paper: ModuleType) -> str:
    """A hash of the paper module's code, ignoring comments and docstrings (prose edits do not stale a record)."""
    tree = ast.parse(inspect.getsource(paper))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


__all__ = ["CONTRACT", "Claim", "ParameterError", "ClaimReport", "ClaimSpec", "Swap", "check", "check_claims", "check_config",
           "contract_errors", "holds", "knob", "knob_table", "Knobs", "measure", "paper_module", "source_hash"]

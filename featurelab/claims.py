"""Claim checks: compare what a notebook measured with the paper's qualitative claim.

``check`` prints one stable line per claim and records it::

    PASS  dann_target_gain: measured 0.287 >= threshold 0.100 (mean of 4 seeds)
          per seed: 0.27, 0.29, 0.31, 0.28 | paper: +0.24 (MNIST→MNIST-M, Table 2)

In strict mode (``CI`` or ``FEATURELAB_STRICT`` set, as in the test suite and ``featurelab run``) a failing
claim raises :class:`ClaimFailed`, so a run fails. When ``FEATURELAB_RECORD`` names a file, every claim is
appended to it as one JSON line, which ``featurelab run`` collects into ``summary.json``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
REDUCERS = {"mean": statistics.fmean, "min": min, "max": max, "median": statistics.median}


class ClaimFailed(AssertionError):
    """A claim check failed in strict mode."""


@dataclass
class Claim:
    """One checked claim. ``measured`` is ``reduce(values)`` when per-seed ``values`` were given."""

    name: str
    measured: float
    threshold: float
    op: str
    passed: bool
    values: list[float] | None = None
    reduce: str | None = None
    paper: str | None = None
    description: str = ""

    def __repr__(self) -> str:  # a notebook cell ending in fl.check(...) shows the stable line, not the fields
        return self.line()

    def line(self) -> str:
        """The stable report line(s): ``PASS|FAIL  name: measured X op threshold T``."""
        head = (f"{'PASS' if self.passed else 'FAIL'}  {self.name}: measured {self.measured:.3f} "
                f"{self.op} threshold {self.threshold:.3f}")
        if self.values is not None:
            head += f" ({self.reduce} of {len(self.values)} seeds)"
        extra = []
        if self.values is not None:
            extra.append("per seed: " + ", ".join(f"{v:.3f}" for v in self.values))
        if self.paper:
            extra.append(f"paper: {self.paper}")
        return head + ("\n      " + " | ".join(extra) if extra else "")


@dataclass
class _Registry:
    claims: list[Claim] = field(default_factory=list)


_REGISTRY = _Registry()


def strict_mode() -> bool:
    """True when failing claims should raise: ``FEATURELAB_STRICT`` or ``CI`` set to a truthy value."""
    for var in ("FEATURELAB_STRICT", "CI"):
        if os.environ.get(var, "").lower() in ("1", "true", "yes"):
            return True
    return False


def check(
    name: str,
    measured: float | Sequence[float],
    threshold: float,
    op: str = ">=",
    *,
    reduce: str = "mean",
    paper: str | None = None,
    description: str = "",
    strict: bool | None = None,
) -> Claim:
    """Check ``reduce(measured) op threshold``, print the result line, record it, raise if strict and failed.

    Args:
        name: a stable identifier (``snake_case``), unique within the notebook.
        measured: one value, or one value per seed (then ``reduce`` combines them: mean/min/max/median).
        threshold: the margin the claim must clear, chosen by calibration over many seeds.
        op: one of ``>=``, ``>``, ``<=``, ``<``.
        paper: the paper's own number for this claim, shown beside ours.
        strict: override :func:`strict_mode`.
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    values = None
    if isinstance(measured, (list, tuple)) or (hasattr(measured, "__len__") and not isinstance(measured, str)):
        values = [float(v) for v in measured]
        if not values:
            raise ValueError(f"claim {name!r}: no measured values")
        if reduce not in REDUCERS:
            raise ValueError(f"reduce must be one of {', '.join(REDUCERS)}, got {reduce!r}")
        value = float(REDUCERS[reduce](values))
    else:
        value = float(measured)
    passed = bool(OPS[op](value, threshold)) and not math.isnan(value)
    claim = Claim(name, value, float(threshold), op, passed, values, reduce if values is not None else None,
                  paper, description)
    _REGISTRY.claims = [c for c in _REGISTRY.claims if c.name != name] + [claim]
    print(claim.line())
    record = os.environ.get("FEATURELAB_RECORD")
    if record:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(claim)) + "\n")
    if not passed and (strict if strict is not None else strict_mode()):
        raise ClaimFailed(f"claim {name!r} failed: measured {value:.4f} is not {op} {threshold}")
    return claim


@dataclass(frozen=True)
class ClaimSpec:
    """A calibrated claim as a paper module declares it: ``values[key] op threshold`` must hold.

    Paper modules list their claims as ``CLAIMS = (ClaimSpec(...), ...)`` beside a ``claim_values(result)``
    function, so the thresholds live next to the calibration that chose them, and the notebook checks them all
    with ``for c in CLAIMS: c.check(values)``.

    Attributes:
        name: stable claim identifier. key: which entry of the measured ``values`` is checked.
        op, threshold: the comparison (see :func:`check`). reduce: how per-seed values are combined.
        description: the claim in words. paper: the paper's own number, shown beside ours.
        The swaps that must break a claim are declared in the module's ``SWAPS`` (:class:`featurelab.experiment.Swap`).
    """

    name: str
    key: str
    op: str
    threshold: float
    description: str = ""
    paper: str | None = None
    reduce: str = "mean"

    def check(self, values: Mapping[str, Any], **kwargs: Any) -> Claim:
        """Run :func:`check` on ``values[self.key]``."""
        return check(self.name, values[self.key], self.threshold, self.op, reduce=self.reduce, paper=self.paper,
                     description=self.description, **kwargs)

    def holds_on(self, values: Mapping[str, Any], key: str | None = None) -> bool:
        """Whether the claim would pass on ``values[key or self.key]`` (no printing, no record): for calibration,
        which runs it on the method's and every swap's values."""
        v = values[key or self.key]
        if hasattr(v, "__len__") and not isinstance(v, str):
            v = REDUCERS[self.reduce]([float(x) for x in v])
        return bool(OPS[self.op](float(v), self.threshold)) and not math.isnan(float(v))


def recorded() -> list[Claim]:
    """Claims checked so far in this process (latest per name)."""
    return list(_REGISTRY.claims)


def read_record(path: str | os.PathLike[str]) -> list[dict]:
    """Claims from a ``FEATURELAB_RECORD`` file (latest per name, in order of first appearance)."""
    out: dict[str, dict] = {}
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                c = json.loads(line)
                out[c["name"]] = c
    return list(out.values())

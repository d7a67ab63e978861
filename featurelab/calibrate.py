"""``featurelab calibrate``: rerun a paper's experiment over many seed sets, with the method and with every swap.

For seed set ``k`` (``k = 0 … N−1``, the same seeds a notebook uses with ``SEED = k``) and for every *arm* — the
method (the preset as it is) and each :class:`featurelab.experiment.Swap` — calibration seeds everything with
``k``, calls ``paper.run(cfg, seed_set(k, cfg.n_seeds))`` at Python level (no kernel), and measures every
claim. It writes ``<out>/<slug>.json`` (every value, thresholds, pass counts, seconds per run, the machine, the
git commit and a hash of the paper's code) and renders ``<out>/<slug>.md`` from it, followed by the
hand-written design note ``<out>/notes/<slug>.md`` (what differs from the paper and why).

The course's criteria, reported in the record's ``verdict``:

* the method passes every claim in every seed set;
* every claim is broken by at least one counting swap in at least ``ceil(10/12 · N)`` seed sets (10 of 12);
* a swap of kind ``"sanity"``, or one whose value is identical in every seed set (a difference that is fixed
  by construction, e.g. a baseline compared with itself), is reported but never counts.

Runs are spread over a local Dask cluster of ``workers`` processes, one torch thread each (default: one per
core; ``workers=1`` runs serially), or sent to an existing Dask scheduler (:mod:`featurelab.cluster`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import ParameterError, progress
from .cluster import Executor
from .experiment import contract_errors, holds, measure, paper_module, source_hash

BREAK_FRACTION = 10 / 12


def default_out() -> Path:
    """``results/calibration`` of the repository this package lives in (else of the working directory)."""
    repo = Path(__file__).resolve().parents[1]
    base = repo if (repo / "results").is_dir() else Path.cwd()
    return base / "results" / "calibration"


def needed_breaks(seed_sets: int) -> int:
    """How many seed sets a swap must break a claim in: 10 of 12, scaled to ``seed_sets``."""
    return math.ceil(BREAK_FRACTION * seed_sets - 1e-9)


def arms_of(paper: Any, scale: str) -> list[tuple[str, Any, dict]]:
    """``[(arm name, config, info)]``: the method first, then every swap."""
    base = paper.PRESETS[scale]
    arms = [("method", base, {"kind": "method", "breaks": [], "description": "the paper's mechanism (preset)"})]
    for s in paper.SWAPS:
        arms.append((s.name, s.apply(base), {"kind": s.kind, "breaks": list(s.breaks), "description": s.description}))
    return arms


def run_arm(module: str, scale: str, arm: str, seed_set_index: int, threads: int = 1) -> dict:
    """One run: the arm's config at seed set ``seed_set_index``; returns each claim's measured value and seconds."""
    import torch

    from .run import pick_device, seed_everything, seed_set

    os.environ.setdefault("FEATURELAB_PROGRESS", "0")
    os.environ["FEATURELAB_NO_STORE"] = "1"  # train as the record did: the store's fp16 copies would shift seed set 0
    torch.set_num_threads(threads)
    paper = _import(module)
    cfg = dict((name, c) for name, c, _ in arms_of(paper, scale))[arm]
    seeds = seed_set(seed_set_index, cfg.n_seeds)
    seed_everything(seed_set_index)
    start = time.perf_counter()
    result = paper.run(cfg, seeds, device=pick_device(), progress=False)
    values = paper.claim_values(result)
    seconds = time.perf_counter() - start
    return {"arm": arm, "set": seed_set_index, "seconds": seconds,
            "values": {c.name: measure(c, values) for c in paper.CLAIMS}}


def _import(module: str) -> Any:
    import importlib

    return importlib.import_module(module)


def calibrate(slug_or_module: str, seed_sets: int = 12, scale: str = "small", workers: int | None = None,
              out: Path | None = None, echo: Callable[[str], Any] = print, show_progress: bool | None = None,
              scheduler: str | None = None, executor: Any = None) -> dict:
    """Calibrate one paper; write ``<slug>.json`` and ``<slug>.md`` under ``out``; return the record.

    ``slug_or_module``: a catalog slug (``"outrank"``) or a dotted module name implementing the contract.
    """
    (record,) = calibrate_many([slug_or_module], seed_sets=seed_sets, scale=scale, workers=workers, out=out,
                               echo=echo, show_progress=show_progress, scheduler=scheduler, executor=executor)
    return record


def _prepare(slug_or_module: str, scale: str) -> tuple[str, Any, str, list[tuple[str, Any, dict]]]:
    """``(module name, paper module, slug, arms)``; raises :class:`ParameterError` if the contract is broken."""
    if "." in slug_or_module:
        module, paper = slug_or_module, _import(slug_or_module)
    else:
        paper = paper_module(slug_or_module)
        module = paper.__name__
    slug = module.rsplit(".", 1)[-1]
    errs = contract_errors(paper)
    if errs:
        raise ParameterError(f"{slug} does not implement the paper contract (featurelab/experiment.py): "
                             + "; ".join(errs))
    return module, paper, slug, arms_of(paper, scale)


def calibrate_many(slugs: Sequence[str], seed_sets: int = 12, scale: str = "small", workers: int | None = None,
                   out: Path | None = None, echo: Callable[[str], Any] = print, show_progress: bool | None = None,
                   scheduler: str | None = None, executor: Any = None) -> list[dict]:
    """Calibrate several papers as one batch of tasks; return their records in the order given.

    Every run (paper × arm × seed set) is one task, and all papers' tasks are submitted together, so a cluster
    with more workers than one paper has runs keeps them all busy. A paper's record is written as soon as its
    last run finishes; its ``seconds_total`` is the wall time from the start of the batch to that moment.
    """
    if seed_sets < 1:
        raise ParameterError(f"--seed-sets must be >= 1, got {seed_sets}")
    if scale not in ("small", "full"):
        raise ParameterError(f"--scale must be 'small' or 'full', got {scale!r}")
    prepared = [_prepare(s, scale) for s in slugs]
    tasks: list[tuple[str, str, str, int]] = []
    owner: list[int] = []
    for j, (module, _, _, arms) in enumerate(prepared):
        for arm, _, _ in arms:
            for k in range(seed_sets):
                tasks.append((module, scale, arm, k))
                owner.append(j)
    own = executor is None
    ex = Executor(workers=workers, scheduler=scheduler) if own else executor
    for _, _, slug, arms in prepared:
        echo(f"calibrating {slug}: {len(arms)} arms × {seed_sets} seed sets at scale {scale}, {ex.describe()}")
    out = Path(out) if out is not None else default_out()
    start = time.perf_counter()
    runs: list[list[dict]] = [[] for _ in prepared]
    left = [owner.count(j) for j in range(len(prepared))]
    records: list[dict | None] = [None] * len(prepared)
    desc = f"calibrate {prepared[0][2]}" if len(prepared) == 1 else f"calibrate {len(prepared)} papers"
    bar = progress(total=len(tasks), desc=desc, enabled=show_progress)
    if own:
        ex.__enter__()
    try:
        for i, out_i in ex.map(run_arm, tasks):
            j = owner[i]
            if isinstance(out_i, Exception):
                raise RuntimeError(f"{prepared[j][2]}: arm {tasks[i][2]!r}, seed set {tasks[i][3]} raised "
                                   f"{type(out_i).__name__}: {out_i}") from out_i
            runs[j].append(out_i)
            left[j] -= 1
            bar.update(1)
            if left[j] == 0:
                _, paper, slug, arms = prepared[j]
                n_workers = ex.workers if not ex.scheduler else 0
                record = build_record(paper, slug, scale, seed_sets, arms, runs[j], time.perf_counter() - start,
                                      n_workers)
                write_record(record, out)
                records[j] = record
                v = record["verdict"]
                echo(f"  {'OK ' if v['ok'] else 'NOT OK'} {slug}: {record['seconds_total']:.0f} s; "
                     + "; ".join(v["problems"] or ["method passes every claim in every set; "
                                                   "every claim broken by a swap"]))
    finally:
        bar.close()
        if own:
            ex.__exit__(None, None, None)
    return [r for r in records if r is not None]


def build_record(paper: Any, slug: str, scale: str, seed_sets: int, arms: Sequence[tuple[str, Any, dict]],
                 runs: Sequence[dict], seconds_total: float, workers: int) -> dict:
    """The calibration record (see the module docstring), with the verdict against the course's criteria."""
    from .run import git_commit
    from .runner import machine_description

    by_arm: dict[str, list[dict]] = {name: sorted((r for r in runs if r["arm"] == name), key=lambda r: r["set"])
                                     for name, _, _ in arms}
    claims = [{"name": c.name, "key": c.key, "op": c.op, "threshold": c.threshold, "reduce": c.reduce,
               "paper": c.paper, "description": c.description} for c in paper.CLAIMS]
    need = needed_breaks(seed_sets)
    arm_rows = []
    for name, cfg, info in arms:
        rs = by_arm[name]
        values = {c.name: [r["values"][c.name] for r in rs] for c in paper.CLAIMS}
        passes = {c.name: sum(holds(c, v) for v in values[c.name]) for c in paper.CLAIMS}
        constant = {c.name: len(values[c.name]) > 1 and max(values[c.name]) - min(values[c.name]) <= 1e-12
                    for c in paper.CLAIMS}
        arm_rows.append({"name": name, **info, "n_seeds": cfg.n_seeds, "values": values, "passes": passes,
                         "constant": constant, "seconds": [round(r["seconds"], 2) for r in rs]})
    problems = []
    method = arm_rows[0]
    for c in paper.CLAIMS:
        if method["passes"][c.name] < seed_sets:
            problems.append(f"method passes {c.name} in only {method['passes'][c.name]}/{seed_sets} sets")
    broken_by: dict[str, dict[str, int]] = {}
    for c in paper.CLAIMS:
        counting = {}
        for a in arm_rows[1:]:
            if c.name in a["breaks"]:
                n_broken = seed_sets - a["passes"][c.name]
                counts = a["kind"] != "sanity" and not a["constant"][c.name]
                counting[a["name"]] = {"broken": n_broken, "counts": counts}
        broken_by[c.name] = counting
        best = max((v["broken"] for v in counting.values() if v["counts"]), default=0)
        if best < need:
            problems.append(f"no counting swap breaks {c.name} in ≥ {need}/{seed_sets} sets (best {best})")
    return {
        "slug": slug,
        "scale": scale,
        "seed_sets": seed_sets,
        "seed_rule": "seed set k = seeds [100k, ..., 100k + n_seeds - 1], the notebook's SEED = k",
        "needed_breaks": need,
        "source_hash": source_hash(paper),
        "commit": git_commit(),
        "date": _dt.date.today().isoformat(),
        "machine": machine_description(),
        "workers": workers,
        "seconds_total": round(seconds_total, 1),
        "claims": claims,
        "arms": arm_rows,
        "verdict": {"ok": not problems, "problems": problems, "broken_by": broken_by},
    }


def write_record(record: dict, out: Path) -> tuple[Path, Path]:
    """Write ``<slug>.json`` and render ``<slug>.md`` (with the design note, if one exists) under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    js = out / f"{record['slug']}.json"
    js.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    md = out / f"{record['slug']}.md"
    note = out / "notes" / f"{record['slug']}.md"
    md.write_text(render_markdown(record, note.read_text() if note.is_file() else None))
    return js, md


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.3f}"


def render_markdown(record: dict, note: str | None = None) -> str:
    """The human view of a record: per claim, the method's and every swap's min/mean/max and pass counts."""
    n = record["seed_sets"]
    lines = [f"# Calibration: {record['slug']}", "",
             f"Generated by `featurelab calibrate {record['slug']} --seed-sets {n} --scale {record['scale']}` "
             f"from `{record['slug']}.json` — do not edit by hand (the design note below is "
             f"`notes/{record['slug']}.md`).", "",
             f"- {n} seed sets ({record['seed_rule']}); {record['arms'][0]['n_seeds']} seeds per run.",
             f"- {record['machine']} {record['workers'] or 'a remote cluster of'} worker(s); {record['seconds_total']:.0f} s in all; "
             f"commit {record['commit'] or 'unknown'}; {record['date']}; code hash `{record['source_hash']}`.",
             f"- Criteria: the method passes every claim in all {n} sets; a counting swap breaks each claim in "
             f"≥ {record['needed_breaks']} sets. **Verdict: {'meets the criteria' if record['verdict']['ok'] else 'does NOT meet the criteria'}.**"]
    for p in record["verdict"]["problems"]:
        lines.append(f"  - {p}")
    lines += ["", "| arm | kind | seconds per run (mean) | what it changes |", "|---|---|---|---|"]
    for a in record["arms"]:
        secs = a["seconds"]
        lines.append(f"| {a['name']} | {a['kind']} | {sum(secs) / max(len(secs), 1):.1f} | {a['description']} |")
    for c in record["claims"]:
        lines += ["", f"## `{c['name']}`: {c['reduce']} of `{c['key']}` {c['op']} {c['threshold']}", "",
                  c["description"] or "", ""]
        if c["paper"]:
            lines += [f"Paper: {c['paper']}", ""]
        lines += ["| arm | must break it | min | mean | max | passes | counts as a break |", "|---|---|---|---|---|---|---|"]
        for a in record["arms"]:
            vals = a["values"][c["name"]]
            finite = [v for v in vals if not math.isnan(v)] or [float("nan")]
            must = "—" if a["kind"] == "method" else ("yes" if c["name"] in a["breaks"] else "no")
            counts = "—"
            if a["kind"] != "method" and c["name"] in a["breaks"]:
                info = record["verdict"]["broken_by"][c["name"]][a["name"]]
                why = "" if info["counts"] else (" (sanity row)" if a["kind"] == "sanity" else " (same value in every set)")
                counts = f"{'yes' if info['counts'] else 'no'}{why}: broke {info['broken']}/{n}"
            lines.append(f"| {a['name']} | {must} | {_fmt(min(finite))} | {_fmt(sum(finite) / len(finite))} | "
                         f"{_fmt(max(finite))} | {a['passes'][c['name']]}/{n} | {counts} |")
    if note:
        lines += ["", "---", "", note.strip()]
    return "\n".join(lines) + "\n"


def load_record(slug: str, out: Path | None = None) -> dict | None:
    """The committed record of ``slug``, or None."""
    path = (Path(out) if out else default_out()) / f"{slug}.json"
    return json.loads(path.read_text()) if path.is_file() else None

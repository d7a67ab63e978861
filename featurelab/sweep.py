"""``featurelab sweep``: run one notebook over a grid of knob values × seeds, and tabulate every claim.

    featurelab sweep outrank -p TOP_K=5,10 -p N_SEEDS=1 --seeds 0-3 --out runs/sweep_outrank

Every grid point is one papermill run of the notebook with ``SCALE``, ``SEED`` and the knobs injected, on the
execution layer of :mod:`featurelab.cluster` (serial, a local Dask cluster, or a real one). Knob names and
values are checked before anything runs: against the notebook's ``parameters`` cell and against the paper's
``Config`` (its declared bounds). Each finished point is written at once — ``DIR/points/<id>.ipynb`` and
``DIR/sweep.json`` — so Ctrl-C or a lost worker keeps what finished, and ``--resume`` runs only the rest.
``DIR/sweep.md`` tabulates each claim per knob setting (mean, min, max over seeds, pass count) and
``DIR/<claim>.png`` plots it against the first knob, the threshold drawn, one line per setting of the others.
"""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Sequence

from .base import ParameterError, progress
from .catalog import Paper
from .cluster import Executor

RESERVED = ("SCALE", "SEED")


def parse_value(text: str) -> Any:
    """A knob value from the command line: a Python literal (``3``, ``0.1``, ``True``, ``None``) or a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_grid(specs: Sequence[str]) -> dict[str, list[Any]]:
    """``["TOP_K=5,10", "N_SEEDS=1"]`` → ``{"TOP_K": [5, 10], "N_SEEDS": [1]}``; one-line errors for bad specs."""
    grid: dict[str, list[Any]] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ParameterError(f"-p {spec!r}: write KNOB=v1,v2,... (e.g. -p TOP_K=5,10)")
        if name in grid:
            raise ParameterError(f"-p {name} given twice; list all its values in one -p")
        grid[name] = [parse_value(v.strip()) for v in values.split(",")]
    return grid


def parse_seeds(text: str) -> list[int]:
    """``"0-9"`` → 0..9, ``"0,3,7"`` → [0, 3, 7], ``"4"`` → [4]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            a, sep, b = part.strip().partition("-")
            lo, hi = int(a), int(b) if sep else int(a)
            if lo < 0 or hi < lo:
                raise ValueError
            seeds.extend(range(lo, hi + 1))
    except ValueError:
        raise ParameterError(f"--seeds {text!r}: write a range 0-9 or a list 0,3,7 of non-negative integers") from None
    if len(set(seeds)) != len(seeds):
        raise ParameterError(f"--seeds {text!r} repeats a seed")
    return seeds


def notebook_parameters(path: Path) -> dict[str, Any]:
    """``{NAME: default}`` of the notebook's ``parameters`` cell (as papermill reads it)."""
    import nbformat
    from papermill.translators import PythonTranslator

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ParameterError(f"{path.name} has no cell tagged `parameters`")
    return {p.name: parse_value(p.default) for p in PythonTranslator.inspect(cells[0])}


def validate_grid(paper: Paper, grid: dict[str, list[Any]], scale: str, module: Any = None) -> None:
    """Every knob is a parameter of the notebook and every value gives a valid ``Config`` at ``scale``
    (``module``: the paper module, default ``featurelab.papers.<slug>``)."""
    from .experiment import paper_module

    params = notebook_parameters(paper.path)
    knobs = [k for k in params if k not in RESERVED]
    for name in grid:
        if name in RESERVED:
            raise ParameterError(f"-p {name}: use --scale / --seeds for {name}")
        if name not in params:
            raise ParameterError(f"unknown knob {name!r} for {paper.slug}; its knobs are: {', '.join(knobs)}")
    module = module if module is not None else paper_module(paper.slug)
    base = module.PRESETS[scale]
    fields = {f.name for f in dataclasses.fields(base)}
    for combo in itertools.product(*grid.values()):
        changes = {k.lower(): v for k, v in zip(grid, combo) if v is not None and k.lower() in fields}
        preset = {k: getattr(base, k) for k in changes}
        for k, v in changes.items():  # the type of the preset's value (ints for ints, floats allow ints)
            want = type(preset[k])
            if not (isinstance(v, want) or (want is float and isinstance(v, int) and not isinstance(v, bool))):
                raise ParameterError(f"-p {k.upper()}={v!r}: expected a {want.__name__} like {preset[k]!r}")
        try:
            dataclasses.replace(base, **changes)
        except ParameterError as exc:
            raise ParameterError(f"{paper.slug}: {exc}") from None


def point_id(params: dict[str, Any], seed: int) -> str:
    """A file-safe identifier of one grid point: ``TOP_K-5__N_SEEDS-1__seed-0``."""
    safe = lambda v: "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in str(v))  # noqa: E731
    return "__".join([f"{k}-{safe(v)}" for k, v in params.items()] + [f"seed-{seed}"])


def sweep(paper: Paper, grid: dict[str, list[Any]], seeds: Sequence[int], scale: str, out: Path,
          workers: int = 1, scheduler: str | None = None, resume: bool = False,
          echo: Callable[[str], Any] = print, show_progress: bool | None = None, module: Any = None) -> dict:
    """Run the grid (knob values × seeds); write ``sweep.json``, ``sweep.md``, one plot per claim; return the
    sweep record. Points that raise are recorded with their error and the sweep goes on.

    ``paper`` needs ``slug``, ``notebook`` and ``path`` (a catalog entry); ``module`` is its paper module
    (default ``featurelab.papers.<slug>``)."""
    from .runner import execute_task, status_of

    validate_grid(paper, grid, scale, module)
    out.mkdir(parents=True, exist_ok=True)
    (out / "points").mkdir(exist_ok=True)
    record_path = out / "sweep.json"
    combos = [dict(zip(grid, c)) for c in itertools.product(*grid.values())]
    points = [(c, s) for c in combos for s in seeds]
    done: dict[str, dict] = {}
    if record_path.is_file():
        old = json.loads(record_path.read_text())
        if not resume:
            raise ParameterError(f"{out} already holds a sweep; pass --resume to continue it or choose another --out")
        if old["notebook"] != paper.notebook or old["scale"] != scale or old["knobs"] != grid:
            raise ParameterError(f"--resume: {out} holds a different sweep ({old['notebook']}, {old['knobs']})")
        done = {p["id"]: p for p in old["points"] if p["status"] in ("ok", "failed")}
    record = {"notebook": paper.notebook, "slug": paper.slug, "scale": scale, "knobs": grid, "seeds": list(seeds),
              "points": list(done.values())}
    todo = [(c, s) for c, s in points if point_id(c, s) not in done]
    text = paper.path.read_text()
    ex = Executor(workers=workers, scheduler=scheduler)
    tasks = [(text, {"SCALE": scale, "SEED": s, **c}, scale, 1, 3600, paper.slug) for c, s in todo]
    echo(f"sweep {paper.slug}: {len(points)} grid points ({len(combos)} knob settings × {len(seeds)} seeds), "
         f"{len(points) - len(todo)} already done; {ex.describe()}")
    bar = progress(total=len(todo), desc=f"sweep {paper.slug}", enabled=show_progress)
    interrupted = False
    try:
        with ex:
            for i, res in ex.map(execute_task, tasks):
                combo, seed = todo[i]
                pid = point_id(combo, seed)
                if isinstance(res, Exception):
                    res = {"notebook": None, "claims": [], "seconds": 0.0, "error": f"{type(res).__name__}: {res}"}
                if res["notebook"] is not None:
                    (out / "points" / f"{pid}.ipynb").write_text(res["notebook"])
                status, error = status_of(res["claims"], res["error"])
                record["points"].append({"id": pid, "params": combo, "seed": seed, "status": status,
                                         "seconds": res["seconds"], "claims": res["claims"], "error": error})
                record_path.write_text(json.dumps(record, indent=1) + "\n")
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    order = {point_id(c, s): n for n, (c, s) in enumerate(points)}
    record["points"].sort(key=lambda p: order.get(p["id"], len(order)))
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    (out / "sweep.md").write_text(render_sweep(record))
    plot_sweep(record, out)
    n_done = sum(p["status"] in ("ok", "failed") for p in record["points"])
    echo(("interrupted: " if interrupted else "") + f"{n_done} of {len(points)} grid points finished; "
         f"{out}/sweep.json, sweep.md and one plot per claim" + ("; rerun with --resume" if n_done < len(points) else ""))
    return record


def summarise(record: dict) -> dict[str, list[dict]]:
    """Per claim: one row per knob setting with ``mean``/``min``/``max`` over seeds, passes and points."""
    rows: dict[str, list[dict]] = {}
    combos = [dict(zip(record["knobs"], c)) for c in itertools.product(*record["knobs"].values())]
    for combo in combos:
        pts = [p for p in record["points"] if p["params"] == combo]
        claims: dict[str, list[dict]] = {}
        for p in pts:
            for c in p["claims"]:
                claims.setdefault(c["name"], []).append(c)
        for name, cs in claims.items():
            vals = [c["measured"] for c in cs]
            rows.setdefault(name, []).append({
                "params": combo, "mean": statistics.fmean(vals), "min": min(vals), "max": max(vals),
                "passes": sum(c["passed"] for c in cs), "n": len(cs), "op": cs[0]["op"],
                "threshold": cs[0]["threshold"],
                "errors": sum(p["status"] == "error" for p in pts)})
    return rows


def render_sweep(record: dict) -> str:
    knobs = ", ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in record["knobs"].items())
    lines = [f"# Sweep: {record['slug']} at scale {record['scale']}", "",
             f"Knobs {knobs}; seeds {record['seeds']}. Generated by `featurelab sweep` from `sweep.json`.", ""]
    errors = [p for p in record["points"] if p["status"] == "error"]
    for name, rows in summarise(record).items():
        lines += [f"## `{name}` ({rows[0]['op']} {rows[0]['threshold']})", "",
                  "| " + " | ".join(record["knobs"]) + " | mean | min | max | passes |",
                  "|" + "---|" * (len(record["knobs"]) + 4)]
        for r in rows:
            lines.append("| " + " | ".join(str(r["params"][k]) for k in record["knobs"])
                         + f" | {r['mean']:.3f} | {r['min']:.3f} | {r['max']:.3f} | {r['passes']}/{r['n']} |")
        lines.append("")
    if errors:
        lines += ["## Grid points that raised", ""] + [f"- `{p['id']}`: {p['error']}" for p in errors]
    return "\n".join(lines).rstrip() + "\n"


def plot_sweep(record: dict, out: Path) -> list[Path]:
    """One PNG per claim: the mean over seeds (min–max band) against the first knob, threshold dashed."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    from .plot import COLORS, use_style

    use_style()
    knobs = list(record["knobs"])
    first, rest = knobs[0], knobs[1:]
    xs_all = record["knobs"][first]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs_all)
    paths = []
    palette = list(COLORS.values())
    for name, rows in summarise(record).items():
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        others = sorted({tuple(r["params"][k] for k in rest) for r in rows}, key=str)
        for j, other in enumerate(others):
            sel = [r for r in rows if tuple(r["params"][k] for k in rest) == other]
            x = [r["params"][first] if numeric else xs_all.index(r["params"][first]) for r in sel]
            color = palette[j % len(palette)]
            label = ", ".join(f"{k}={v}" for k, v in zip(rest, other)) or None
            ax.plot(x, [r["mean"] for r in sel], "o-", color=color, label=label)
            ax.fill_between(x, [r["min"] for r in sel], [r["max"] for r in sel], color=color, alpha=0.15)
        ax.axhline(rows[0]["threshold"], color="k", ls="--", lw=1, label=f"threshold {rows[0]['op']} {rows[0]['threshold']}")
        if not numeric:
            ax.set_xticks(range(len(xs_all)), [str(v) for v in xs_all])
        ax.set_xlabel(first)
        ax.set_ylabel(name)
        ax.set_title(f"{record['slug']}: {name} (mean, min–max over seeds)", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


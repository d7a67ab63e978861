"""Execute notebooks with papermill, collect their claim records, and summarise the runs.

``run_notebooks`` writes, per notebook, the executed copy ``OUT/<slug>.ipynb`` and a combined
``OUT/summary.json``: a list of ``{slug, notebook, status, seconds, scale, seed, claims, error}`` where
``status`` is ``"ok"`` (ran, every claim passed), ``"failed"`` (a claim failed) or ``"error"`` (the
notebook raised for another reason). Kernels run headless with strict claims (a failing claim raises).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .catalog import Paper
from .claims import read_record

KERNEL_NAME = "python3"


@dataclass
class Result:
    slug: str
    notebook: str
    status: str
    seconds: float
    scale: str
    seed: int
    claims: list[dict] = field(default_factory=list)
    error: str | None = None


def kernel_env(scale: str, threads: int | None = None) -> dict[str, str]:
    """Environment variables the kernels of a headless run get."""
    env = {"FEATURELAB_SCALE": scale, "FEATURELAB_HEADLESS": "1", "FEATURELAB_STRICT": "1",
           "FEATURELAB_PROGRESS": "0", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    if threads is not None:
        env["FEATURELAB_THREADS"] = str(threads)
    return env


def execute_task(notebook: str, parameters: dict[str, Any], scale: str, threads: int | None = 1,
                 timeout: int = 1200, name: str = "notebook") -> dict[str, Any]:
    """Execute one notebook (its JSON text) with papermill, headless and strict; runs on any worker.

    Returns ``{"notebook": executed JSON text, "claims": [...], "seconds": s, "error": str | None}``. The notebook
    runs in a fresh temporary folder with ``parameters`` injected (``SCALE`` and ``SEED`` among them), so a
    worker needs only the package and its data, no shared file system.
    """
    import papermill as pm

    with tempfile.TemporaryDirectory(prefix="featurelab-run-") as tmp:
        src, dst, record = Path(tmp) / f"{name}.ipynb", Path(tmp) / f"{name}.out.ipynb", Path(tmp) / "claims.jsonl"
        src.write_text(notebook)
        saved = dict(os.environ)
        os.environ.update(kernel_env(scale, threads))
        os.environ["FEATURELAB_RECORD"] = str(record)
        start = time.perf_counter()
        error = None
        try:
            pm.execute_notebook(str(src), str(dst), parameters=parameters, kernel_name=KERNEL_NAME, cwd=tmp,
                                progress_bar=False, execution_timeout=timeout, log_output=False,
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])  # no "TCP without encryption"
        except Exception as exc:  # papermill wraps the cell error; keep its last line
            error = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:500]
        finally:
            os.environ.clear()
            os.environ.update(saved)
        seconds = time.perf_counter() - start
        claims = [{k: c[k] for k in ("name", "measured", "threshold", "op", "passed", "values", "paper")}
                  for c in read_record(record)]
        executed = dst.read_text() if dst.is_file() else None
    return {"notebook": executed, "claims": claims, "seconds": round(seconds, 1), "error": error}


def status_of(claims: Sequence[dict], error: str | None) -> tuple[str, str | None]:
    """``ok`` (every claim passed), ``failed`` (a claim failed) or ``error`` (raised, or checked no claim)."""
    if any(not c["passed"] for c in claims):
        return "failed", error
    if error is not None:
        return "error", error
    if not claims:
        return "error", "the notebook checked no claim"
    return "ok", None


def run_one(paper: Paper, out_dir: Path, scale: str, seed: int, threads: int | None = None,
            timeout: int = 1200) -> Result:
    """Execute one notebook with papermill (parameters ``SCALE`` and ``SEED`` injected), in this process."""
    out = execute_task(paper.path.read_text(), {"SCALE": scale, "SEED": seed}, scale, threads, timeout, paper.slug)
    return _store(paper, out, out_dir, scale, seed)


def _store(paper: Paper, out: dict[str, Any], out_dir: Path, scale: str, seed: int) -> Result:
    out_dir.mkdir(parents=True, exist_ok=True)
    if out["notebook"] is not None:
        (out_dir / f"{paper.slug}.ipynb").write_text(out["notebook"])
    status, error = status_of(out["claims"], out["error"])
    return Result(paper.slug, paper.notebook, status, out["seconds"], scale, seed, out["claims"], error)


def run_notebooks(papers: Sequence[Paper], out_dir: Path, scale: str, seed: int, threads: int | None = None,
                  echo=print, workers: int = 1, scheduler: str | None = None) -> list[Result]:
    """Run ``papers`` (serially, or on a Dask cluster: :mod:`featurelab.cluster`); write executed notebooks and
    ``summary.json`` to ``out_dir`` as each finishes."""
    from .cluster import Executor

    results: list[Result] = []
    ex = Executor(workers=workers, scheduler=scheduler)
    if not ex.serial:
        threads = 1  # one torch thread per worker
    tasks = [(p.path.read_text(), {"SCALE": scale, "SEED": seed}, scale, threads, 1200, p.slug) for p in papers]
    with ex:
        echo(f"running {len(papers)} notebook(s) {'' if ex.serial else 'on '}{ex.describe()} "
             f"(scale {scale}, seed {seed}) ...")
        for i, out in ex.map(execute_task, tasks):
            p = papers[i]
            if isinstance(out, Exception):
                out = {"notebook": None, "claims": [], "seconds": 0.0, "error": f"{type(out).__name__}: {out}"}
            r = _store(p, out, out_dir, scale, seed)
            line = f"  {r.status.upper():6s} {r.seconds:6.1f} s  {p.slug}  " + ", ".join(
                f"{c['name']} {'PASS' if c['passed'] else 'FAIL'} {c['measured']:.3f}" for c in r.claims)
            echo(line + (f"  [{r.error}]" if r.error and r.status != "ok" else ""))
            results.append(r)
            write_summary(sorted(results, key=lambda r: [q.slug for q in papers].index(r.slug)), out_dir)
    return sorted(results, key=lambda r: [q.slug for q in papers].index(r.slug))


def write_summary(results: Sequence[Result], out_dir: Path) -> Path:
    path = out_dir / "summary.json"
    path.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    return path


def load_summary(path: Path) -> list[dict]:
    if path.is_dir():
        path = path / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"no summary at {path}; run `featurelab run ... --out DIR` first")
    return json.loads(path.read_text())


def report_markdown(summary: list[dict], title: str = "Reproduction report") -> str:
    """A markdown table of every claim and runtime in a summary."""
    lines = [f"# {title}", "", f"{machine_description()}", "",
             "| notebook | status | seconds | scale | seed | claim | measured | threshold | result |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in summary:
        claims = r["claims"] or [None]
        for i, c in enumerate(claims):
            first = i == 0
            cells = [r["slug"] if first else "", r["status"] if first else "",
                     f"{r['seconds']:.1f}" if first else "", r["scale"] if first else "",
                     str(r["seed"]) if first else ""]
            if c is None:
                cells += ["—", "—", "—", r.get("error") or "—"]
            else:
                cells += [c["name"], f"{c['measured']:.3f}", f"{c['op']} {c['threshold']:.3f}",
                          "PASS" if c["passed"] else "FAIL"]
            lines.append("| " + " | ".join(cells) + " |")
    n_ok = sum(r["status"] == "ok" for r in summary)
    lines += ["", f"{n_ok} of {len(summary)} notebooks ran with every claim passing."]
    return "\n".join(lines) + "\n"


def machine_description() -> str:
    """One line describing the machine (CPU model, cores, GPU if any, python/torch versions)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"Machine: {cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, "
            f"torch {torch.__version__}, {sys.platform}.")

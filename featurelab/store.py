"""The committed-model store: trained weights that ship with the repository (COURSE_GUIDE §5).

Most "pretrained" models in the course train inside a notebook's budget and live in the user's model cache
(:mod:`featurelab.cache`). A few (small diffusion models) need 30-45 s of CPU, more than a notebook may spend; for
those the repository commits the weights of the notebook's **default run** (scale ``small``, ``SEED = 0``):

* a file ``data/models/<recipe>-<config hash>-seed<seed>.pt`` with the same header as a cache file (recipe, config,
  seed, recipe version) and the state dict with floating tensors stored in **fp16** (≤ ~1 MB a file, ~20 MB in all);
* one row per file in ``data/models/registry.json``: recipe, config hash, seed, version, the paper that needs it,
  parameter count, size and **sha256**.

A recipe opts in with ``load_or_train(..., commit=True)``. Lookup order is then: the user cache, this store (only
a file whose sha256 matches its registry row), training. ``refresh=True`` (a paper's retrain knob) skips both and
trains. Any other seed or config trains as usual, so calibration and sweeps never depend on committed weights.

Regenerate a paper's files with ``featurelab models build SLUG`` (runs the paper's default small experiment with an
empty model cache and commits every ``commit=True`` model it trains); ``featurelab models verify`` checks sizes and
hashes; ``tests/test_store.py`` checks that each file still matches what its paper's default run asks for.

The store folder is ``$FEATURELAB_MODEL_STORE`` if set (tests), else the repository's ``data/models``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .base import ParameterError

#: Largest committed file (bytes) and largest store (bytes), COURSE_GUIDE §5.
MAX_FILE_BYTES = 1_100_000
MAX_TOTAL_BYTES = 20_000_000
#: Set to a paper slug while ``featurelab models build`` runs: ``commit=True`` models trained then are committed.
COMMIT_ENV = "FEATURELAB_COMMIT_MODELS"
#: Set to 1 to ignore the store (every model trains or comes from the user cache). ``featurelab calibrate`` sets it:
#: its records are then reproducible everywhere (the store ships fp16 copies of the default seeds' models).
SKIP_ENV = "FEATURELAB_NO_STORE"


def store_dir() -> Path:
    """The folder of committed models (read from the environment at call time)."""
    explicit = os.environ.get("FEATURELAB_MODEL_STORE", "").strip()
    return Path(explicit) if explicit else Path(__file__).resolve().parents[1] / "data" / "models"


def registry_path() -> Path:
    return store_dir() / "registry.json"


def read_registry() -> list[dict]:
    """The registry rows (an empty list when the store has none)."""
    path = registry_path()
    if not path.is_file():
        return []
    rows = json.loads(path.read_text())
    if not isinstance(rows, list):
        raise ParameterError(f"{path} must hold a JSON list of rows; regenerate it with `featurelab models build`")
    return rows


def _write_registry(rows: list[dict]) -> None:
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: (r["paper"], r["file"]))
    path.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One committed model: its registry row and the path of its file."""

    row: dict
    path: Path


def lookup(file_name: str, header: dict) -> Entry | None:
    """The committed file ``file_name`` if the registry lists it with this ``header`` (recipe, config, seed, version)
    and its bytes match the registry's sha256; else ``None`` (the caller then trains)."""
    for row in read_registry():
        if row.get("file") != file_name:
            continue
        path = store_dir() / file_name
        if not path.is_file() or any(row.get(k) != header[k] for k in ("recipe", "seed", "version")):
            return None
        if row.get("sha256") != sha256(path):
            return None
        return Entry(row, path)
    return None


def load_state(entry: Entry, header: dict) -> tuple[dict[str, torch.Tensor], dict] | None:
    """``(state dict, meta)`` of a committed file, floating tensors back in fp32; ``None`` if its header (recipe,
    config, seed, version) does not match ``header``."""
    blob = torch.load(entry.path, map_location="cpu", weights_only=True)
    if any(blob.get(k) != header[k] for k in ("recipe", "config", "seed", "version")):
        return None
    return {k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()}, blob.get("meta", {})


def half(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with floating tensors rounded to fp16 (what the store keeps)."""
    return {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu() for k, v in state.items()}


def skipped() -> bool:
    """True when the store is switched off (``FEATURELAB_NO_STORE=1``)."""
    return os.environ.get(SKIP_ENV, "").strip() == "1"


def committing() -> str | None:
    """The paper slug being built by ``featurelab models build``, or ``None``."""
    return os.environ.get(COMMIT_ENV, "").strip() or None


def commit(file_name: str, header: dict, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> Entry:
    """Write ``state`` (fp16) under ``file_name`` with ``header`` and register it for the paper being built.

    Raises ParameterError when the file would exceed :data:`MAX_FILE_BYTES` or the store :data:`MAX_TOTAL_BYTES`.
    """
    paper = committing()
    if paper is None:
        raise ParameterError(f"commit() runs only under `featurelab models build` (set {COMMIT_ENV}=SLUG)")
    folder = store_dir()
    folder.mkdir(parents=True, exist_ok=True)
    small = half(state)
    n_params = int(sum(v.numel() for v in small.values() if v.is_floating_point()))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=file_name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save({**header, "meta": meta, "state_dict": small}, tmp)
        size = os.path.getsize(tmp)
        if size > MAX_FILE_BYTES:
            raise ParameterError(f"{header['recipe']}: {n_params:,} parameters make a {size / 1e6:.2f} MB file; "
                                 f"committed models must stay under {MAX_FILE_BYTES / 1e6:.1f} MB — shrink the model")
        path = folder / file_name
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    rows = [r for r in read_registry() if r.get("file") != file_name]
    row = {"file": file_name, "paper": paper, "recipe": header["recipe"], "seed": header["seed"],
           "version": header["version"], "params": n_params, "bytes": size, "sha256": sha256(path)}
    total = sum(r["bytes"] for r in rows) + size
    if total > MAX_TOTAL_BYTES:
        path.unlink()
        raise ParameterError(f"the store would hold {total / 1e6:.1f} MB, over {MAX_TOTAL_BYTES / 1e6:.0f} MB")
    _write_registry([*rows, row])
    return Entry(row, path)


def forget(paper: str) -> int:
    """Remove a paper's committed files and rows (before rebuilding them); returns how many were removed."""
    rows = read_registry()
    keep = [r for r in rows if r["paper"] != paper]
    for r in rows:
        if r["paper"] == paper:
            (store_dir() / r["file"]).unlink(missing_ok=True)
    if len(keep) != len(rows):
        _write_registry(keep)
    return len(rows) - len(keep)


def verify() -> list[str]:
    """Problems with the store: missing files, wrong hashes, oversize files or store, unregistered files."""
    problems = []
    rows = read_registry()
    total = 0
    for r in rows:
        path = store_dir() / r["file"]
        if not path.is_file():
            problems.append(f"{r['file']}: listed in the registry but missing")
            continue
        total += path.stat().st_size
        if sha256(path) != r["sha256"]:
            problems.append(f"{r['file']}: sha256 differs from the registry (rebuild: featurelab models build "
                            f"{r['paper']})")
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{r['file']}: {path.stat().st_size / 1e6:.2f} MB, over {MAX_FILE_BYTES / 1e6:.1f} MB")
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the store holds {total / 1e6:.1f} MB, over {MAX_TOTAL_BYTES / 1e6:.0f} MB")
    listed = {r["file"] for r in rows}
    if store_dir().is_dir():
        for f in sorted(store_dir().glob("*.pt")):
            if f.name not in listed:
                problems.append(f"{f.name}: in the store but not in the registry")
    return problems


def build(slug: str, seed: int = 0, notebook: bool = False) -> list[dict]:
    """Retrain and commit every ``commit=True`` model of ``slug``'s default run (scale small, ``seed``).

    Runs the paper's experiment once with an empty model cache, so each committed recipe trains from scratch; with
    ``notebook=True`` it then executes the paper's notebook too (same empty cache), so models that only the notebook
    trains (extra arms shown beside the run) are committed as well. Returns the paper's new registry rows.
    """
    from .experiment import paper_module
    from .run import setup

    paper = paper_module(slug)
    old = {k: os.environ.get(k) for k in (COMMIT_ENV, "FEATURELAB_MODEL_CACHE")}
    forget(slug)
    with tempfile.TemporaryDirectory() as empty:
        os.environ[COMMIT_ENV] = slug
        os.environ["FEATURELAB_MODEL_CACHE"] = empty
        try:
            run = setup("small", seed, paper.PRESETS)
            paper.run(run.cfg, run.seeds(run.cfg.n_seeds), device="cpu")
            if notebook:
                from . import catalog
                from .runner import execute_task

                nb = catalog.get(slug).path
                out = execute_task(nb.read_text(), {"SCALE": "small", "SEED": seed}, "small", None, 1200, slug)
                if out["error"]:
                    raise ParameterError(f"{nb.name} failed while committing its models: {out['error']}")
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return [r for r in read_registry() if r["paper"] == slug]

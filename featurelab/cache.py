"""The course's model cache: anything "pretrained" is trained by the course and cached — "load if present, else train"
(COURSE_GUIDE §5). Nothing is ever downloaded.

A cached model is keyed by a **recipe name**, a hash of the recipe's **config** (a dataclass or a JSON-able dict)
and the **seed**; the file also records the recipe ``version`` and the featurelab version it was written with::

    model, info = load_or_train("fmnist_cnn", cfg, seed=0, build=lambda: make_cnn(cfg), train=lambda m: fit(m, ...))
    info.source   # "cache", "committed" or "trained";  info.seconds  # time to load or to train

Location: ``$FEATURELAB_MODEL_CACHE`` if set (``featurelab bench`` points it at an empty folder, so runtimes include
training, as in CI), else ``$FEATURELAB_CACHE/models`` if ``FEATURELAB_CACHE`` is set (the variable the data layer
uses too), else ``~/.cache/featurelab/models``. A file that is missing, unreadable, or whose recipe / config / seed /
version does not match is rebuilt (trained again and overwritten). Writes are atomic (temporary file + rename),
so two kernels training the same recipe at once cannot leave a half-written file.

Used by ``notebooks/01_how_networks_learn/01_cnn_offtheshelf.ipynb`` (the course's first pretrained model).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import store
from .run import ParameterError

#: Bump when the file layout changes: older files are rebuilt.
FORMAT = 1


@dataclass(frozen=True)
class CacheInfo:
    """What :func:`load_or_train` did. ``source`` is ``"cache"``, ``"committed"`` (the repository's store) or
    ``"trained"``; ``reason`` says why it trained
    (``"missing"``, ``"stale: ..."``, ``"unreadable"``, ``"refresh"``); ``seconds`` is the load or training time."""

    source: str
    path: Path
    seconds: float
    reason: str = ""
    meta: dict | None = None


def cache_dir() -> Path:
    """The folder holding cached models (read from the environment at call time)."""
    explicit = os.environ.get("FEATURELAB_MODEL_CACHE", "").strip()
    if explicit:
        return Path(explicit)
    root = os.environ.get("FEATURELAB_CACHE", "").strip()
    return Path(root) / "models" if root else Path.home() / ".cache" / "featurelab" / "models"


def config_dict(config: Any) -> dict:
    """A dataclass or dict as a plain JSON-able dict (tuples become lists)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, dict):
        raise ParameterError(f"config must be a dataclass instance or a dict, got {type(config).__name__}")
    try:
        return json.loads(json.dumps(config, sort_keys=True))
    except TypeError as exc:
        raise ParameterError(f"config must be JSON-serialisable: {exc}") from None


def config_hash(config: Any) -> str:
    """12 hex digits of sha256 over the canonical JSON of the config."""
    text = json.dumps(config_dict(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_path(recipe: str, config: Any, seed: int) -> Path:
    """``<cache_dir>/<recipe>-<config hash>-seed<seed>.pt``."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", recipe or ""):
        raise ParameterError(f"recipe name {recipe!r} must be non-empty and use only letters, digits, '_', '.', '-'")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ParameterError(f"seed must be a non-negative int, got {seed!r}")
    return cache_dir() / f"{recipe}-{config_hash(config)}-seed{seed}.pt"


def _expected(recipe: str, config: Any, seed: int, version: int) -> dict:
    from . import __version__

    return {"format": FORMAT, "recipe": recipe, "config": config_dict(config), "seed": seed, "version": version,
            "featurelab": __version__}


def load_or_train(
    recipe: str,
    config: Any,
    seed: int,
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], dict | None],
    *,
    version: int = 1,
    refresh: bool = False,
    device: torch.device | str = "cpu",
    commit: bool = False,
) -> tuple[nn.Module, CacheInfo]:
    """Return the recipe's trained model: loaded from the cache when a matching file exists, else trained and saved.

    Args:
        recipe: a stable name for the training recipe (file-name safe).
        config: the recipe's settings (dataclass or dict); any change gives a new key.
        seed: the training seed (part of the key).
        build: makes the untrained model (its architecture must follow from ``config``).
        train: trains the model in place; may return a small JSON-able dict (e.g. accuracies) kept as ``meta``.
        version: bump when the recipe's code changes meaning without a config change: old files become stale.
        refresh: train even when a matching file exists.
        device: where the returned model lives.
        commit: the recipe may be served from the repository's committed-model store (``data/models``, see
            :mod:`featurelab.store`) when the user cache has no matching file — for models that cannot train
            inside a notebook's budget. ``refresh=True`` ignores the store and retrains.

    The training is seeded by the caller (``train`` should seed itself from ``seed``).
    """
    path = cache_path(recipe, config, seed)
    want = _expected(recipe, config, seed, version)
    reason = "refresh" if refresh else "missing"
    if not refresh and path.is_file():
        start = time.perf_counter()
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            header = {k: blob.get(k) for k in want}
        except Exception:  # noqa: BLE001 - any unreadable file is rebuilt
            blob, header, reason = None, None, "unreadable"
        if header is not None:
            diff = [k for k in want if header[k] != want[k]]
            if not diff:
                model = build()
                try:
                    model.load_state_dict(blob["state_dict"])
                except (RuntimeError, KeyError):
                    reason = "stale: state does not fit the model"
                else:
                    return model.to(device).eval(), CacheInfo("cache", path, time.perf_counter() - start, "",
                                                              blob.get("meta"))
            else:
                reason = "stale: " + ", ".join(diff)
    if commit and not refresh and store.committing() is None and not store.skipped():
        start = time.perf_counter()
        entry = store.lookup(path.name, want)
        loaded = store.load_state(entry, want) if entry is not None else None
        if loaded is not None:
            model = build()
            model.load_state_dict(loaded[0])
            return model.to(device).eval(), CacheInfo("committed", entry.path, time.perf_counter() - start, "",
                                                      loaded[1])
        if os.environ.get("FEATURELAB_REQUIRE_COMMITTED", "").strip() == "1":
            raise ParameterError(f"{recipe} (seed {seed}) is not in the committed-model store {store.store_dir()}; "
                                 "rebuild the paper's committed models with `featurelab models build SLUG`")
    model = build().to(device)
    start = time.perf_counter()
    meta = train(model) or {}
    seconds = time.perf_counter() - start
    if commit and store.committing() is not None:
        # the run that commits uses the fp16-rounded weights it ships, so a later run loading them agrees with it
        store.commit(path.name, want, model.state_dict(), config_dict(meta))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in store.half(model.state_dict()).items()})
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _save_atomic(path, {**want, "meta": config_dict(meta), "state_dict": state, "train_seconds": seconds})
    return model.eval(), CacheInfo("trained", path, seconds, reason, config_dict(meta))


def _save_atomic(path: Path, blob: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def clear(recipe: str | None = None) -> int:
    """Delete cached models (all, or one recipe's); returns how many files were removed."""
    folder = cache_dir()
    if not folder.is_dir():
        return 0
    n = 0
    for f in folder.glob(f"{recipe}-*.pt" if recipe else "*.pt"):
        f.unlink()
        n += 1
    return n

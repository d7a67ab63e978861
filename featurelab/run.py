"""Run setup: validate the notebook parameters, apply the scale preset, seed, pick device and threads.

Every notebook calls :func:`setup` once, right after its ``parameters`` cell::

    run = fl.setup(SCALE, SEED, PRESETS, steps=STEPS, width=WIDTH)
    cfg = run.cfg          # the preset for run.scale with the non-None knobs applied

Scales (COURSE_GUIDE §3): ``small`` runs on 2 CPU cores in ≤ 30 s per notebook; ``full`` targets one GPU
for ≤ 10 min; ``auto`` reads ``FEATURELAB_SCALE`` from the environment (how nbval and CI pick a scale,
since nbval cannot inject parameters), else ``full`` on a GPU and ``small`` on a CPU.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

SCALES = ("small", "full")


from .base import ParameterError  # noqa: E402  (re-exported: fl.ParameterError)


@dataclass(frozen=True)
class Run:
    """The resolved settings of one notebook run.

    Attributes:
        scale: ``"small"`` or ``"full"`` (never ``"auto"``).
        seed: the run's base seed (non-negative int).
        device: the torch device experiments should use.
        cfg: the preset of ``scale`` with the notebook's non-None knobs applied (any dataclass).
        threads: the number of torch CPU threads in use.
    """

    scale: str
    seed: int
    device: torch.device
    cfg: Any
    threads: int

    def seeds(self, n: int) -> list[int]:
        """``n`` distinct seeds derived from the run's seed (see :func:`seed_set`)."""
        return seed_set(self.seed, n)

    def report(self) -> str:
        """One line: versions, device, scale, seed, threads, git commit (if any)."""
        return env_report(scale=self.scale, seed=self.seed, device=self.device, threads=self.threads)


def seed_set(seed: int, n: int) -> list[int]:
    """The seed set a notebook's ``SEED`` selects: ``[100*seed, 100*seed + 1, ..., 100*seed + n - 1]``.

    Changing ``SEED`` gives a disjoint seed set (for ``n`` ≤ 100), which is how CI checks that a claim holds "for
    any seed" and not only for the default.
    """
    if n < 1:
        raise ParameterError(f"need at least one seed, got n={n}")
    return [100 * validate_seed(seed) + i for i in range(n)]


def resolve_scale(scale: str | None) -> str:
    """Map ``"auto"``/``None`` to a concrete scale; reject unknown names with the allowed values."""
    if scale is None or scale == "auto":
        env = os.environ.get("FEATURELAB_SCALE", "").strip().lower()
        if env:
            if env not in SCALES:
                raise ParameterError(
                    f"FEATURELAB_SCALE={env!r} is not a scale; use one of {', '.join(SCALES)} (or unset it)"
                )
            return env
        return "full" if torch.cuda.is_available() else "small"
    if not isinstance(scale, str) or scale.lower() not in SCALES:
        raise ParameterError(f"SCALE={scale!r} is not a scale; use one of 'auto', {', '.join(map(repr, SCALES))}")
    return scale.lower()


def validate_seed(seed: Any) -> int:
    """Seeds are non-negative integers (bools are rejected)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParameterError(f"SEED must be a non-negative integer, got {seed!r}")
    if seed < 0:
        raise ParameterError(f"SEED must be a non-negative integer, got {seed}")
    return int(seed)


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and CUDA)."""
    seed = validate_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """``cuda`` if available, else ``mps`` (Apple), else ``cpu``. ``prefer`` (or ``FEATURELAB_DEVICE``) forces one."""
    prefer = prefer or os.environ.get("FEATURELAB_DEVICE") or None
    if prefer:
        if prefer.startswith("cuda") and not torch.cuda.is_available():
            raise ParameterError(f"device {prefer!r} requested but CUDA is not available; use 'cpu'")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def choose_threads() -> int:
    """Torch CPU threads from the environment: ``FEATURELAB_THREADS``, else ``OMP_NUM_THREADS``, else all cores.

    When two kernels run in parallel on 2 cores (xdist in CI), each must use one thread: the test suite sets
    ``FEATURELAB_THREADS=1`` (COURSE_GUIDE §6; oversubscription was measured 3.6x slower).
    """
    for var in ("FEATURELAB_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ParameterError(f"{var}={value!r} must be a positive integer") from None
            if n < 1:
                raise ParameterError(f"{var}={value!r} must be a positive integer")
            return n
    return max(1, os.cpu_count() or 1)


def apply_knobs(cfg: Any, knobs: Mapping[str, Any]) -> Any:
    """Return ``cfg`` (a dataclass) with every non-None knob replaced; unknown knob names raise.

    Knobs are the notebook's scalar parameters; ``None`` means "take the preset's value". The dataclass's
    own ``__post_init__`` validates the result (negative sizes etc. raise :class:`ParameterError`).
    """
    if not dataclasses.is_dataclass(cfg):
        raise TypeError(f"presets must map scale names to dataclass instances, got {type(cfg).__name__}")
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes = {}
    for name, value in knobs.items():
        if value is None:
            continue
        key = name.lower()
        if key not in fields:
            raise ParameterError(f"unknown knob {name!r}; this notebook's knobs are: {', '.join(sorted(fields))}")
        changes[key] = value
    return dataclasses.replace(cfg, **changes)


def setup(
    scale: str | None = "auto",
    seed: int = 0,
    presets: Mapping[str, Any] | None = None,
    device: str | None = None,
    **knobs: Any,
) -> Run:
    """Validate parameters, choose the preset for the scale, apply knobs, seed everything, pick device/threads.

    Args:
        scale: ``"auto"``, ``"small"`` or ``"full"``.
        seed: non-negative int.
        presets: ``{"small": Config(...), "full": Config(...)}``; ``None`` for notebooks without knobs.
        device: force a device (``"cpu"``, ``"cuda"``...); default picks the best available.
        **knobs: notebook parameters that override preset fields when not ``None``.

    Returns:
        A :class:`Run`. Also sets the torch thread count and seeds python/numpy/torch with ``seed``.
    """
    scale = resolve_scale(scale)
    seed = validate_seed(seed)
    cfg = None
    if presets is not None:
        missing = [s for s in SCALES if s not in presets]
        if missing:
            raise ParameterError(f"presets lack scale(s) {missing}; define one config per scale in {SCALES}")
        cfg = apply_knobs(presets[scale], knobs)
    elif any(v is not None for v in knobs.values()):
        raise ParameterError("knobs were given but no presets to apply them to")
    threads = choose_threads()
    torch.set_num_threads(threads)
    seed_everything(seed)
    from .plot import use_style

    use_style()
    return Run(scale=scale, seed=seed, device=pick_device(device), cfg=cfg, threads=threads)


def git_commit(path: str | os.PathLike[str] | None = None) -> str | None:
    """The short git commit of the repo containing ``path`` (default: this package), or None."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def env_report(scale: str, seed: int, device: torch.device | str, threads: int | None = None) -> str:
    """A one-line environment report: python, torch, numpy versions, device, scale, seed, threads, commit."""
    from . import __version__

    dev = str(device)
    if dev.startswith("cuda") and torch.cuda.is_available():
        dev += f" ({torch.cuda.get_device_name(0)})"
    parts = [
        f"featurelab {__version__}",
        f"python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"numpy {np.__version__}",
        f"device {dev}",
        f"scale {scale}",
        f"seed {seed}",
    ]
    if threads is not None:
        parts.append(f"threads {threads}")
    commit = git_commit()
    if commit:
        parts.append(f"commit {commit}")
    return " | ".join(parts)


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules

"""The two things every part of featurelab may import: :class:`ParameterError` and :func:`progress`.

This module imports nothing else from featurelab, so the core modules, the paper modules and the runner can
all depend on it without an import cycle.
"""

from __future__ import annotations

import os
from typing import Iterable


class ParameterError(ValueError):
    """A notebook parameter or a config value is invalid. The message says what is allowed."""


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "",
             enabled: bool | None = None, **kw):
    """A ``tqdm.auto`` progress bar; off when ``enabled=False`` or ``FEATURELAB_PROGRESS=0``.

    ``enabled=None`` (the default everywhere) follows ``FEATURELAB_PROGRESS``; headless runs set it to 0, so a
    committed notebook never shows a frozen "0/60" bar.
    """
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = os.environ.get("FEATURELAB_PROGRESS", "1") not in ("0", "false", "no")
    return tqdm(iterable, total=total, desc=desc, disable=not enabled, mininterval=0.5, leave=False, **kw)

"""Widgets that also work headless.

``explore(fn, **controls)`` shows an ipywidgets control in JupyterLab/Colab; in a headless run (papermill,
nbval, ``featurelab run`` — all set ``FEATURELAB_HEADLESS=1``) it calls ``fn`` once with the controls'
current values, so the executed notebook still shows a static result.
"""

from __future__ import annotations

import os
from typing import Any, Callable


def is_headless() -> bool:
    """True when no person is looking: ``FEATURELAB_HEADLESS`` is set, or we are not inside IPython."""
    if os.environ.get("FEATURELAB_HEADLESS", "").lower() in ("1", "true", "yes"):
        return True
    try:
        from IPython import get_ipython
    except ImportError:
        return True
    shell = get_ipython()
    return shell is None or not hasattr(shell, "kernel")


def explore(fn: Callable[..., Any], **controls: Any) -> Any:
    """Interactive ``fn`` over ``controls`` (ipywidgets widgets or plain values); static when headless.

    Keep ``fn`` cheap: it should redraw from precomputed results, not retrain (COURSE_GUIDE §2.11).
    """
    if is_headless():
        values = {k: getattr(w, "value", w) for k, w in controls.items()}
        return fn(**values)
    import ipywidgets as widgets

    return widgets.interact(fn, **controls)

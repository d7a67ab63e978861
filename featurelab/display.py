"""Show the real code of a paper's mechanism inside a notebook (COURSE_GUIDE §2.7: no black boxes)."""

from __future__ import annotations

import inspect
from typing import Any


def show_source(*objs: Any) -> None:
    """Display the source of functions/classes with syntax highlighting (plain text outside Jupyter).

    Returns nothing, so a cell ending in ``fl.show_source(...)`` shows the listing once.
    """
    src = "\n\n".join(inspect.getsource(o).rstrip() for o in objs) + "\n"
    try:
        from IPython.display import Code, display
    except ImportError:
        print(src)
        return None
    display(Code(src, language="python"))
    return None

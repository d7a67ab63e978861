"""featurelab: the helper package of the featurelab course.

Import as ``import featurelab as fl``. The pieces a notebook uses:

- :func:`setup` — validate parameters, apply the scale preset, seed, pick device and threads (``run.py``)
- :mod:`featurelab.data` — datasets (Fashion-MNIST, digits, MNIST-1D) and procedural generators
- :mod:`featurelab.models`, :mod:`featurelab.train` — small models and the one training loop ``fit``
- :func:`check_claims` — the claim cell (``experiment.py``: the paper contract); :func:`check` — one claim; :mod:`featurelab.plot`, :func:`explore` — one visual style
- :mod:`featurelab.papers` — one module per paper holding its core mechanism, tested
"""

__version__ = "0.1.0"

from .claims import check  # noqa: E402
from .display import show_source  # noqa: E402
from .experiment import check_claims  # noqa: E402
from .run import ParameterError, Run, setup  # noqa: E402
from .widgets import explore  # noqa: E402

__all__ = ["ParameterError", "Run", "check", "check_claims", "explore", "setup", "show_source", "__version__"]

"""Shared test settings: every kernel started by the tests runs headless, strict, small and single-threaded.

Set at import so that pytest-xdist workers and the notebook kernels they start (nbval, papermill) inherit
them. One torch thread per kernel: two kernels share the 2 CI cores (COURSE_GUIDE §6).
"""

import os

os.environ.update({
    "FEATURELAB_SCALE": "small",
    "FEATURELAB_THREADS": "1",
    "FEATURELAB_HEADLESS": "1",
    "FEATURELAB_STRICT": "1",
    "FEATURELAB_PROGRESS": "0",
})
os.environ.pop("FEATURELAB_RECORD", None)
os.environ.pop("FEATURELAB_DOWNLOAD", None)

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


import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """In-process tests use one torch thread too (two xdist workers share 2 cores); restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

"""Execute notebooks in place at scale small with SEED 0 (their committed defaults), headless and strict,
so the committed outputs are exactly what a learner without a GPU sees. nbval then checks them in CI.

    python scripts/refresh_outputs.py notebooks/04_transferring_features/01_dann.ipynb [...]
"""

import os
import sys
import time

import nbformat
from nbclient import NotebookClient

from featurelab.runner import KERNEL_NAME, kernel_env


def main(paths: list[str]) -> int:
    os.environ.update(kernel_env("small", threads=int(os.environ.get("FEATURELAB_THREADS", "1"))))
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name=KERNEL_NAME, extra_arguments=["--IPKernelApp.log_level=ERROR"],
                       resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}}).execute()
        nb.metadata.pop("papermill", None)
        nbformat.write(nb, path)
        print(f"{path}: executed in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""One execution layer for ``featurelab run``, ``calibrate`` and ``sweep``: serial, a local Dask cluster, or a
real one.

    with Executor(workers=2) as ex:                          # a local cluster: 2 worker processes
        for index, outcome in ex.map(task, argument_tuples):  # results as they finish (any order)
            ...

* ``workers=1`` (and no scheduler) runs the tasks one after another in this process — no Dask at all.
* ``workers=N`` starts a ``distributed.LocalCluster`` of ``N`` worker processes with one thread each; each task
  sets one torch thread itself, so ``N`` workers on ``N`` cores never oversubscribe.
* ``scheduler="tcp://HOST:PORT"`` (or ``$FEATURELAB_SCHEDULER``) sends the same tasks to an existing cluster —
  started by hand (``dask scheduler`` / ``dask worker``), by dask-jobqueue on SLURM/PBS, or by Kubernetes.

What travels: a task is a plain function of ``featurelab`` plus small arguments (a paper's module name, a seed
set, a notebook's text and parameters); what comes back is a small dict (claim values, seconds, the executed
notebook's JSON). Workers need the package and their data (``FEATURELAB_DATA``) installed, not a shared file
system: the client writes every result to the output folder as it arrives, so results that finished are on
disk even if a worker dies or the user presses Ctrl-C. A task on a worker that dies is rerun on another
worker by the scheduler (up to ``retries`` more times). Exceptions raised by a task come back as the outcome
(an ``Exception`` instance), so one failing grid point does not stop the others.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

from .base import ParameterError


def default_scheduler() -> str | None:
    """``$FEATURELAB_SCHEDULER`` if set (the address of an existing Dask scheduler), else None."""
    return os.environ.get("FEATURELAB_SCHEDULER") or None


class Executor:
    """Run tasks serially, on a local Dask cluster, or on the Dask scheduler at ``scheduler``.

    Args:
        workers: processes of a local cluster (default: one per core); 1 = serial in this process.
        scheduler: address of an existing scheduler (``tcp://HOST:PORT``); overrides ``workers``.
        retries: how often a task is retried after its worker died (or it raised) before it counts as failed.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, retries: int = 2):
        if workers is not None and workers < 1:
            raise ParameterError(f"--workers must be a positive integer, got {workers}")
        self.scheduler = scheduler if scheduler is not None else default_scheduler()
        self.workers = workers or (os.cpu_count() or 1)
        self.retries = retries
        self.client = None
        self._cluster = None

    @property
    def serial(self) -> bool:
        return self.scheduler is None and self.workers == 1

    def describe(self) -> str:
        if self.scheduler:
            return f"the Dask scheduler at {self.scheduler}"
        return "serially in this process" if self.serial else f"a local Dask cluster of {self.workers} workers"

    def __enter__(self) -> "Executor":
        if self.serial:
            return self
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ParameterError("parallel runs need Dask: pip install 'dask[distributed]' "
                                 "(or use --workers 1)") from None
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="20s")
            except OSError as exc:
                raise ParameterError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}; start one with "
                                     "`dask scheduler` (see README, Running on a cluster)") from None
        else:
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                         host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=40,
                                         env={"FEATURELAB_THREADS": "1", "OMP_NUM_THREADS": "1"})
            self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def map(self, fn: Callable[..., Any], args: Sequence[tuple]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, outcome)`` for every argument tuple as its task finishes; ``outcome`` is ``fn(*args[i])``
        or the exception it raised."""
        if self.serial or self.client is None:
            for i, a in enumerate(args):
                try:
                    yield i, fn(*a)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:  # one failed task does not stop the others
                    yield i, exc
            return
        from distributed import as_completed

        futures = [self.client.submit(fn, *a, pure=False, retries=self.retries, key=f"{fn.__name__}-{i}-{os.urandom(4).hex()}")
                   for i, a in enumerate(args)]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):
                try:
                    yield index[fut.key], fut.result()
                except Exception as exc:
                    yield index[fut.key], exc
        finally:
            for f in futures:
                if not f.done():
                    f.cancel()

"""The execution layer (featurelab.cluster) and `featurelab sweep`, with real components: a Dask scheduler and
two workers started as subprocesses on 127.0.0.1, a tiny notebook on the fake paper (tests/fakes), and a worker
killed in the middle of a sweep."""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

FAKES = Path(__file__).parent / "fakes"
sys.path.insert(0, str(FAKES.parent))

from fakes import fake_paper  # noqa: E402

from featurelab import ParameterError  # noqa: E402
from featurelab.calibrate import calibrate  # noqa: E402
from featurelab.cluster import Executor  # noqa: E402
from featurelab.sweep import parse_grid, parse_seeds, point_id, sweep, validate_grid  # noqa: E402


@dataclasses.dataclass
class FakeEntry:  # what sweep needs of a catalog entry
    slug: str = "fake_paper"
    notebook: str = "tests/fakes/fake_notebook.nb.json"
    path: Path = FAKES / "fake_notebook.nb.json"


def _square(x):
    if x == 3:
        raise ValueError("three")
    return x * x


def test_grid_and_seed_parsing():
    assert parse_grid(["EFFECT=0.5,1", "N_SEEDS=2"]) == {"EFFECT": [0.5, 1], "N_SEEDS": [2]}
    assert parse_grid(["MODE=a,b"]) == {"MODE": ["a", "b"]}
    assert parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("5,7") == [5, 7] and parse_seeds("4") == [4]
    for bad in (["EFFECT"], ["=1"], ["EFFECT="], ["A=1", "A=2"]):
        with pytest.raises(ParameterError):
            parse_grid(bad)
    for bad in ("3-1", "x", "-2", "1,1"):
        with pytest.raises(ParameterError, match="--seeds"):
            parse_seeds(bad)


def test_grid_validation_against_notebook_and_config():
    validate_grid(FakeEntry(), {"EFFECT": [0.5, 1.0]}, "small", fake_paper)
    with pytest.raises(ParameterError, match="unknown knob 'STEPS'.*EFFECT, N_SEEDS"):
        validate_grid(FakeEntry(), {"STEPS": [1]}, "small", fake_paper)
    with pytest.raises(ParameterError, match="EFFECT=-1.0"):
        validate_grid(FakeEntry(), {"EFFECT": [-1.0]}, "small", fake_paper)
    with pytest.raises(ParameterError, match="expected a int"):
        validate_grid(FakeEntry(), {"N_SEEDS": [1.5]}, "small", fake_paper)
    with pytest.raises(ParameterError, match="--scale / --seeds"):
        validate_grid(FakeEntry(), {"SEED": [1]}, "small", fake_paper)


def test_serial_executor_returns_exceptions_as_outcomes():
    with Executor(workers=1) as ex:
        out = dict(ex.map(_square, [(i,) for i in range(5)]))
    assert out[2] == 4 and isinstance(out[3], ValueError)
    with pytest.raises(ParameterError):
        Executor(workers=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster():
    """`dask scheduler` and two `dask worker` processes on loopback; yields (address, worker processes)."""
    pytest.importorskip("distributed")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(FAKES.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "FEATURELAB_THREADS": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"}
    import shutil

    exe = Path(sys.executable).parent / "dask"
    dask = [str(exe) if exe.exists() else shutil.which("dask") or "dask"]
    sched = subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = [subprocess.Popen([*dask, "worker", addr, "--nthreads", "1", "--nworkers", "1", "--no-dashboard",
                                 "--name", f"w{i}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
               for i in range(2)]
    from distributed import Client

    deadline = time.time() + 60
    while True:
        try:
            with Client(addr, timeout="5s") as c:
                if len(c.scheduler_info()["workers"]) == 2:
                    break
        except OSError:
            pass
        assert time.time() < deadline, "the Dask workers did not come up"
        time.sleep(1)
    yield addr, workers
    for p in [*workers, sched]:
        if p.poll() is None:
            p.terminate()
    for p in [*workers, sched]:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


def test_calibrate_on_a_real_cluster_equals_serial(dask_cluster, tmp_path):
    addr, _ = dask_cluster
    quiet = dict(echo=lambda s: None, show_progress=False)
    remote = calibrate("fakes.fake_paper", seed_sets=3, scheduler=addr, out=tmp_path / "remote", **quiet)
    serial = calibrate("fakes.fake_paper", seed_sets=3, workers=1, out=tmp_path / "serial", **quiet)
    assert [a["values"] for a in remote["arms"]] == [a["values"] for a in serial["arms"]]


def test_sweep_on_a_real_cluster_equals_serial(dask_cluster, tmp_path, monkeypatch):
    addr, _ = dask_cluster
    monkeypatch.setenv("PYTHONPATH", str(FAKES.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    grid = {"EFFECT": [0.8, 1.2]}
    quiet = dict(echo=lambda s: None, show_progress=False, module=fake_paper)
    remote = sweep(FakeEntry(), grid, [0, 1], "small", tmp_path / "remote", scheduler=addr, **quiet)
    serial = sweep(FakeEntry(), grid, [0, 1], "small", tmp_path / "serial", workers=1, **quiet)
    key = lambda rec: {p["id"]: [(c["name"], c["measured"]) for c in p["claims"]] for p in rec["points"]}  # noqa: E731
    assert key(remote) == key(serial) and len(key(remote)) == 4
    assert all(p["status"] == "ok" for p in remote["points"])
    out = tmp_path / "remote"
    assert (out / "sweep.md").read_text().count("| 0.8 |") == 2 and (out / "gain.png").is_file()
    assert (out / "points" / f"{point_id({'EFFECT': 0.8}, 1)}.ipynb").is_file()
    with pytest.raises(ParameterError, match="--resume"):
        sweep(FakeEntry(), grid, [0, 1], "small", out, workers=1, **quiet)
    again = sweep(FakeEntry(), grid, [0, 1], "small", out, workers=1, resume=True, **quiet)  # nothing left to run
    assert key(again) == key(remote)


def test_sweep_survives_a_killed_worker(dask_cluster, tmp_path, monkeypatch):
    addr, workers = dask_cluster
    monkeypatch.setenv("PYTHONPATH", str(FAKES.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = tmp_path / "kill"
    grid = {"EFFECT": [0.7, 0.9, 1.1]}
    result = {}

    def go():
        result["rec"] = sweep(FakeEntry(), grid, [0, 1], "small", out, scheduler=addr, echo=lambda s: None,
                              show_progress=False, module=fake_paper)

    t = threading.Thread(target=go)
    t.start()
    record = out / "sweep.json"
    deadline = time.time() + 120
    while not (record.is_file() and json.loads(record.read_text())["points"]):
        assert time.time() < deadline, "no grid point finished"
        time.sleep(0.2)
    first = json.loads(record.read_text())["points"][0]["id"]
    os.killpg(workers[0].pid, signal.SIGKILL)  # a worker dies mid-sweep
    t.join(timeout=300)
    assert not t.is_alive(), "the sweep did not finish on the remaining worker"
    rec = result["rec"]
    assert len(rec["points"]) == 6 and all(p["status"] == "ok" for p in rec["points"])
    assert first in {p["id"] for p in rec["points"]}

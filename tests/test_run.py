from dataclasses import dataclass

import numpy as np
import pytest
import torch

import featurelab as fl
from featurelab.run import (ParameterError, apply_knobs, choose_threads, env_report, pick_device, resolve_scale,
                            seed_everything, validate_seed)


@dataclass(frozen=True)
class Cfg:
    steps: int = 10
    width: int = 4

    def __post_init__(self):
        if self.steps < 0:
            raise ParameterError(f"steps must be non-negative, got {self.steps}")


PRESETS = {"small": Cfg(), "full": Cfg(steps=100, width=64)}


def test_resolve_scale_explicit_and_auto(monkeypatch):
    assert resolve_scale("small") == "small"
    assert resolve_scale("FULL") == "full"
    monkeypatch.setenv("FEATURELAB_SCALE", "full")
    assert resolve_scale("auto") == "full"
    monkeypatch.delenv("FEATURELAB_SCALE")
    assert resolve_scale("auto") == ("full" if torch.cuda.is_available() else "small")


@pytest.mark.parametrize("bad", ["medium", "", 3])
def test_unknown_scale_names_allowed_values(bad):
    with pytest.raises(ParameterError, match="small"):
        resolve_scale(bad)


def test_bad_env_scale(monkeypatch):
    monkeypatch.setenv("FEATURELAB_SCALE", "huge")
    with pytest.raises(ParameterError, match="FEATURELAB_SCALE"):
        resolve_scale("auto")


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True, None])
def test_bad_seed(bad):
    with pytest.raises(ParameterError, match="SEED"):
        validate_seed(bad)


def test_setup_applies_preset_and_knobs():
    run = fl.setup("small", 3, PRESETS, steps=None, width=8)
    assert run.scale == "small" and run.seed == 3
    assert run.cfg == Cfg(steps=10, width=8)
    assert run.device.type in ("cpu", "cuda", "mps")
    assert run.seeds(3) == [300, 301, 302]
    assert "scale small" in run.report() and "seed 3" in run.report()


def test_setup_rejects_unknown_knob_and_bad_values():
    with pytest.raises(ParameterError, match="unknown knob 'depth'.*steps, width"):
        fl.setup("small", 0, PRESETS, depth=3)
    with pytest.raises(ParameterError, match="steps must be non-negative"):
        fl.setup("small", 0, PRESETS, steps=-5)
    with pytest.raises(ParameterError, match="presets lack"):
        fl.setup("small", 0, {"small": Cfg()})
    with pytest.raises(ParameterError, match="no presets"):
        fl.setup("small", 0, None, steps=1)
    with pytest.raises(TypeError):
        apply_knobs({"steps": 1}, {})


def test_seeds_needs_positive_count():
    with pytest.raises(ParameterError):
        fl.setup("small", 0).seeds(0)


def test_seed_everything_is_reproducible():
    seed_everything(5)
    a = (np.random.rand(), torch.rand(1).item())
    seed_everything(5)
    assert (np.random.rand(), torch.rand(1).item()) == a


def test_threads_from_environment(monkeypatch):
    monkeypatch.setenv("FEATURELAB_THREADS", "1")
    assert choose_threads() == 1
    fl.setup("small", 0)
    assert torch.get_num_threads() == 1
    monkeypatch.setenv("FEATURELAB_THREADS", "zero")
    with pytest.raises(ParameterError, match="FEATURELAB_THREADS"):
        choose_threads()


def test_pick_device_cpu_and_unavailable_cuda(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="CUDA"):
            pick_device("cuda")


def test_env_report_is_one_line():
    line = env_report("small", 0, "cpu", 1)
    assert "\n" not in line and "torch" in line and "threads 1" in line

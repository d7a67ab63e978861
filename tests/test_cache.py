"""Unit tests of featurelab.cache: load if present, else train; rebuild when missing or stale (no network)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from featurelab import cache
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_CACHE", str(tmp_path))


@dataclass(frozen=True)
class Cfg:
    width: int = 3
    sizes: tuple[int, ...] = (1, 2)


def _recipe(calls: list):
    def build():
        torch.manual_seed(123)
        return torch.nn.Linear(2, 3)

    def train(m):
        calls.append(1)
        with torch.no_grad():
            m.weight.fill_(float(len(calls)))
        return {"acc": 0.5}

    return build, train


def test_cache_dir_follows_the_environment(tmp_path):
    assert cache.cache_dir() == tmp_path / "models"
    p = cache.cache_path("toy", Cfg(), 0)
    assert p.parent == tmp_path / "models" and p.name.startswith("toy-") and p.name.endswith("-seed0.pt")


def test_trains_once_then_loads_from_cache():
    calls: list = []
    build, train = _recipe(calls)
    m1, info1 = cache.load_or_train("toy", Cfg(), 0, build, train)
    assert info1.source == "trained" and info1.reason == "missing" and info1.path.is_file()
    m2, info2 = cache.load_or_train("toy", Cfg(), 0, build, train)
    assert info2.source == "cache" and len(calls) == 1 and info2.meta == {"acc": 0.5}
    assert torch.equal(m1.weight, m2.weight) and float(m2.weight[0, 0].detach()) == 1.0


def test_config_seed_and_version_are_part_of_the_key():
    calls: list = []
    build, train = _recipe(calls)
    cache.load_or_train("toy", Cfg(), 0, build, train)
    assert cache.config_hash(Cfg()) != cache.config_hash(Cfg(width=4))
    cache.load_or_train("toy", Cfg(width=4), 0, build, train)     # other config: new file
    cache.load_or_train("toy", Cfg(), 1, build, train)            # other seed: new file
    assert len(calls) == 3
    _, info = cache.load_or_train("toy", Cfg(), 0, build, train, version=2)   # same file, stale version
    assert info.source == "trained" and info.reason == "stale: version" and len(calls) == 4
    _, info = cache.load_or_train("toy", Cfg(), 0, build, train, version=2)
    assert info.source == "cache"
    _, info = cache.load_or_train("toy", Cfg(), 0, build, train, version=2, refresh=True)
    assert info.source == "trained" and info.reason == "refresh"


def test_corrupt_or_mismatched_files_are_rebuilt():
    calls: list = []
    build, train = _recipe(calls)
    _, info = cache.load_or_train("toy", Cfg(), 0, build, train)
    info.path.write_bytes(b"not a torch file")
    _, info2 = cache.load_or_train("toy", Cfg(), 0, build, train)
    assert info2.source == "trained" and info2.reason == "unreadable"
    bigger = lambda: torch.nn.Linear(2, 5)   # same key, different architecture
    _, info3 = cache.load_or_train("toy", Cfg(), 0, bigger, train)
    assert info3.source == "trained" and info3.reason.startswith("stale")
    assert cache.clear("toy") == 1 and cache.clear() == 0


@pytest.mark.parametrize("recipe, seed, config, match", [
    ("bad name", 0, Cfg(), "recipe"),
    ("toy", -1, Cfg(), "seed"),
    ("toy", 0, [1, 2], "dataclass"),
    ("toy", 0, {"f": object()}, "JSON"),
])
def test_bad_arguments_fail_clearly(recipe, seed, config, match):
    with pytest.raises(ParameterError, match=match):
        cache.cache_path(recipe, config, seed)


def test_model_cache_env_override(tmp_path, monkeypatch):
    from featurelab import cache

    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path / "cold"))
    assert cache.cache_dir() == tmp_path / "cold"
    monkeypatch.delenv("FEATURELAB_MODEL_CACHE")
    monkeypatch.setenv("FEATURELAB_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "models"

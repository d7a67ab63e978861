"""The committed-model store (featurelab.store) and its use by featurelab.cache.load_or_train(commit=True)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from featurelab import cache, store
from featurelab.base import ParameterError
from featurelab.cli import main


@pytest.fixture
def places(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(store.COMMIT_ENV, raising=False)
    monkeypatch.delenv("FEATURELAB_REQUIRE_COMMITTED", raising=False)
    return tmp_path


def _recipe(width: int = 4, commit: bool = True, seed: int = 0, refresh: bool = False):
    calls = []

    def build() -> nn.Module:
        return nn.Linear(width, 3)

    def train(m: nn.Module) -> dict:
        torch.manual_seed(seed + 1 + len(calls))  # a different result each time it trains
        calls.append(1)
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn_like(p) / 3)
        return {"acc": 0.5}

    model, info = cache.load_or_train("toy", {"width": width}, seed, build, train, commit=commit, refresh=refresh)
    return model, info, len(calls)


def test_commit_then_serve_from_store(places, monkeypatch):
    monkeypatch.setenv(store.COMMIT_ENV, "some_paper")
    trained, info, n = _recipe()
    assert info.source == "trained" and n == 1
    rows = store.read_registry()
    assert len(rows) == 1 and rows[0]["paper"] == "some_paper" and rows[0]["params"] == 4 * 3 + 3
    blob = torch.load(store.store_dir() / rows[0]["file"], weights_only=True)
    assert all(v.dtype == torch.float16 for v in blob["state_dict"].values())
    # the committing run itself uses the fp16-rounded weights it ships
    assert torch.equal(trained.weight, trained.weight.half().float())

    monkeypatch.delenv(store.COMMIT_ENV)
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(places / "fresh_cache"))
    served, info, n = _recipe()
    assert info.source == "committed" and n == 0 and info.meta == {"acc": 0.5}
    assert torch.equal(served.weight, trained.weight) and torch.equal(served.bias, trained.bias)
    assert store.verify() == []


def test_store_is_only_for_its_key_and_opt_in(places, monkeypatch):
    monkeypatch.setenv(store.COMMIT_ENV, "some_paper")
    _recipe()
    monkeypatch.delenv(store.COMMIT_ENV)
    for kwargs in ({"seed": 1}, {"width": 5}, {"commit": False}, {"refresh": True}):
        monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(places / f"cache_{len(kwargs)}_{list(kwargs)[0]}"))
        _, info, n = _recipe(**kwargs)
        assert info.source == "trained" and n == 1, kwargs


def test_no_store_switch_trains_instead(places, monkeypatch):
    monkeypatch.setenv(store.COMMIT_ENV, "some_paper")
    _recipe()
    monkeypatch.delenv(store.COMMIT_ENV)
    monkeypatch.setenv(store.SKIP_ENV, "1")
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(places / "fresh_cache"))
    _, info, n = _recipe()
    assert info.source == "trained" and n == 1


def test_calibration_runs_do_not_use_the_store(monkeypatch):
    import featurelab.calibrate as cal

    import os

    monkeypatch.delenv(store.SKIP_ENV, raising=False)
    try:
        with pytest.raises(Exception):
            cal.run_arm("featurelab.papers.nosuchpaper", "small", "method", 0)
        assert store.skipped()
    finally:
        os.environ.pop(store.SKIP_ENV, None)


def test_tampered_file_is_not_served_and_verify_says_so(places, monkeypatch):
    monkeypatch.setenv(store.COMMIT_ENV, "some_paper")
    _recipe()
    monkeypatch.delenv(store.COMMIT_ENV)
    row = store.read_registry()[0]
    path = store.store_dir() / row["file"]
    path.write_bytes(path.read_bytes() + b"x")
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(places / "fresh"))
    _, info, n = _recipe()
    assert info.source == "trained" and n == 1
    assert any("sha256" in p for p in store.verify())


def test_require_committed_raises_with_the_fix(places, monkeypatch):
    monkeypatch.setenv("FEATURELAB_REQUIRE_COMMITTED", "1")
    with pytest.raises(ParameterError, match="featurelab models build"):
        _recipe()


def test_oversize_model_is_refused(places, monkeypatch):
    monkeypatch.setenv(store.COMMIT_ENV, "some_paper")
    with pytest.raises(ParameterError, match="shrink the model"):
        _recipe(width=400_000)  # 1.2 M parameters = 2.4 MB in fp16
    assert store.read_registry() == []
    assert list(store.store_dir().glob("*")) == []


def test_commit_outside_build_and_forget(places, monkeypatch):
    with pytest.raises(ParameterError, match="models build"):
        store.commit("x.pt", {"recipe": "x", "seed": 0, "version": 1}, {}, {})
    monkeypatch.setenv(store.COMMIT_ENV, "p1")
    _recipe()
    monkeypatch.setenv(store.COMMIT_ENV, "p2")
    _recipe(seed=3)
    assert sorted(r["paper"] for r in store.read_registry()) == ["p1", "p2"]
    assert store.forget("p1") == 1
    assert [r["paper"] for r in store.read_registry()] == ["p2"]
    assert len(list(store.store_dir().glob("*.pt"))) == 1
    (store.store_dir() / "stray.pt").write_bytes(b"")
    assert any("not in the registry" in p for p in store.verify())


def test_cli_models(places, monkeypatch, capsys):
    assert main(["models"]) == 0
    assert "0 committed model(s)" in capsys.readouterr().out
    assert main(["models", "verify"]) == 0
    assert main(["models", "build"]) == 2
    assert "give the paper" in capsys.readouterr().err
    assert main(["models", "list", "dann"]) == 2


# ---- the repository's own store -------------------------------------------------------------------------------

_REGISTRY = Path(store.__file__).resolve().parents[1] / "data" / "models" / "registry.json"
REAL = json.loads(_REGISTRY.read_text()) if _REGISTRY.is_file() else []


def test_repository_store_is_sound(monkeypatch):
    monkeypatch.delenv("FEATURELAB_MODEL_STORE", raising=False)
    assert store.verify() == []


@pytest.mark.parametrize("slug", sorted({r["paper"] for r in REAL}))
def test_committed_models_match_their_recipe(slug, tmp_path, monkeypatch):
    """The paper's default run (scale small, SEED 0) with an empty cache finds every commit=True model in the store:
    a recipe or config change that would need retraining fails here (fix: `featurelab models build SLUG`)."""
    from featurelab.experiment import paper_module
    from featurelab.run import setup

    monkeypatch.delenv("FEATURELAB_MODEL_STORE", raising=False)
    monkeypatch.delenv(store.COMMIT_ENV, raising=False)
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))
    monkeypatch.setenv("FEATURELAB_REQUIRE_COMMITTED", "1")
    paper = paper_module(slug)
    run = setup("small", 0, paper.PRESETS)
    paper.run(run.cfg, run.seeds(run.cfg.n_seeds), device="cpu")

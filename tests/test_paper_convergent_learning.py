"""Unit tests of featurelab.papers.convergent_learning (Li et al. 2016): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.data import Split
from featurelab.papers import convergent_learning as cl
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(n_seeds=1), dict(epochs=-1), dict(lr=0.0), dict(lasso_alpha=0.0),
                                 dict(n_analysis=5), dict(width=0), dict(image_size=4), dict(alphas=(0.1, 0.01)),
                                 dict(alphas=(-1.0,)), dict(alphas=())])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(cl.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob_and_range():
    with pytest.raises(ParameterError, match=r"IMAGE_SIZE=4 .* must be \[8, 28\]"):
        dataclasses.replace(cl.PRESETS["small"], image_size=4)


def test_swaps_only_change_training():
    base = cl.PRESETS["small"]
    for swap in cl.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert changed <= {"epochs", "n_train"}, (swap.name, changed)
        assert set(swap.breaks) == {c.name for c in cl.CLAIMS}


def test_presets_and_layer_names():
    assert set(cl.PRESETS) == {"small", "full"}
    assert cl.PRESETS["small"].widths == (8, 16, 32)
    assert cl.PRESETS["small"].alpha_grid == sorted(cl.PRESETS["small"].alpha_grid)
    from featurelab.models import cnn
    assert cl.layer_modules(cnn(1, 10, (4, 8, 16), image_size=14)) == {
        "conv1": "features.1", "conv2": "features.4", "conv3": "features.7"}


def test_sparse_prediction_finds_a_few_to_one_map_and_is_held_out():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(1200, 10))
    b = np.c_[a[:, 2] + a[:, 7], rng.normal(size=1200), np.zeros(1200)]  # mix of 2, noise, dead
    r2, nz = cl.sparse_prediction(a[:800], b[:800], a[800:], b[800:], alpha=0.01)
    assert r2[0] > 0.95 and nz[0] <= 4          # two units predict it: few-to-one
    assert r2[1] < 0.05                          # held-out R² of noise is ~0 (in-sample it would be > 0)
    assert np.isnan(r2[2]) and nz[2] == 0        # dead target skipped
    r2_strong, nz_strong = cl.sparse_prediction(a[:800], b[:800], a[800:], b[800:], alpha=0.3)
    assert nz_strong[0] <= nz[0] and r2_strong[0] < r2[0]  # a larger λ is sparser and fits worse
    with pytest.raises(ParameterError):
        cl.sparse_prediction(a, b, a, b, alpha=0)


def test_compare_pair_on_a_permuted_copy_and_on_unrelated_units():
    torch.manual_seed(0)
    acts = torch.relu(torch.randn(40, 6, 4, 4))
    cfg = dataclasses.replace(cl.PRESETS["small"], lasso_rows=400)
    same = cl.compare_pair(acts, acts[:, [3, 1, 5, 0, 2, 4]], cfg, grid=True)
    assert np.allclose(same.matched, 1.0) and np.isclose(same.cka, 1.0)
    assert np.nanmean(same.r2) > 0.95 and set(same.r2_grid) == set(cfg.alpha_grid)
    other = cl.compare_pair(acts, torch.relu(torch.randn(40, 6, 4, 4)), cfg)
    assert np.mean(other.matched) < 0.3 and np.nanmean(other.r2) < 0.1


def _tiny_split(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    x = (torch.rand(n, 1, 8, 8, generator=g) * 0.3 + y.view(-1, 1, 1, 1) / 10.0).clamp(0, 1)
    return Split(x, y, x[:20], y[:20], classes=tuple(str(i) for i in range(10)))


def test_run_experiment_end_to_end_tiny_and_seeded():
    cfg = dataclasses.replace(cl.PRESETS["small"], n_train=64, n_analysis=20, image_size=8, width=4,
                              hidden=8, n_seeds=2, epochs=1, lasso_rows=100, alphas=(0.01, 0.1))
    res = cl.run(cfg, [0, 1], data=_tiny_split(), progress=False)
    assert set(res.tt) == set(cl.LAYER_NAMES) and set(res.tt["conv1"]) == {(0, 1), (1, 0)}
    assert set(res.ut["conv3"]) == {0, 1} and len(res.accs) == 2
    assert res.acts["conv1"][0].shape == (20, 4, 8, 8)
    assert np.isfinite(res.matching_gap())
    again = cl.run(cfg, [0, 1], data=_tiny_split(), progress=False)
    assert res.matching_gap() == again.matching_gap()
    values = cl.claim_values(res)
    assert {c.key for c in cl.CLAIMS} <= set(values) and values["matching_gap"] == res.matching_gap()
    with pytest.raises(ParameterError, match="seeds"):
        cl.run(cfg, [0], data=_tiny_split())

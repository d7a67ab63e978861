"""Unit tests of featurelab.papers.feature_complexity_ifm (Chen, Zhou & Yan 2024): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch

from featurelab.data import Split
from featurelab.papers import feature_complexity_ifm as fi
from featurelab.run import ParameterError


def _net_with_duplicates(seed=0):
    """A 5→6→4→3 MLP whose hidden units 1 and 4 are positive rescalings of units 0 and 2."""
    g = torch.Generator().manual_seed(seed)
    layers = fi.init_mlp([5, 6, 4, 3], generator=g)
    (w, b), rest = layers[0], layers[1:]
    w, b = w.clone(), b.clone()
    w[1], b[1] = 2.5 * w[0], 2.5 * b[0]
    w[4], b[4] = 0.3 * w[2], 0.3 * b[2]
    return [(w, b), *rest]


@pytest.mark.parametrize("bad", [dict(widths="32"), dict(widths="64,32"), dict(widths="a,b"), dict(betas="0,0.1"),
                                 dict(n_seeds=0), dict(steps=-1), dict(init_scale=0.0), dict(lr=0.0),
                                 dict(weight_decay=-1.0), dict(beta=0.0), dict(beta=2.5), dict(test_size=1.0),
                                 dict(n_train=1), dict(contrast_seeds=9)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(fi.PRESETS["small"], **bad)


def test_init_scale_and_forward_shapes():
    g = torch.Generator().manual_seed(0)
    small = fi.init_mlp([64, 16, 16, 10], 0.01, torch.Generator().manual_seed(0))
    big = fi.init_mlp([64, 16, 16, 10], 1.0, g)
    assert torch.allclose(small[0][0], 0.01 * big[0][0])
    assert small[0][0].shape == (16, 64) and small[2][0].shape == (10, 16)
    assert fi.forward(big, torch.rand(7, 64)).shape == (7, 10)


def test_merging_a_rescaled_duplicate_is_exact():
    layers = _net_with_duplicates()
    x = torch.randn(50, 5)
    merged = fi.merge_units(layers, 0, 1, 0)  # unit 1 = 2.5 × unit 0
    assert merged[0][0].shape == (5, 5) and merged[1][0].shape == (4, 5)
    assert torch.allclose(fi.forward(merged, x), fi.forward(layers, x), atol=1e-5)
    assert layers[0][0].shape == (6, 5)  # the input was not modified


def test_ifm_finds_exactly_the_duplicates_and_keeps_the_function():
    layers = _net_with_duplicates()
    x = torch.randn(100, 5)
    merged, kept = fi.ifm(layers, beta=1e-4)
    assert kept[0] == 4  # the two rescaled copies are merged, nothing else
    assert torch.allclose(fi.forward(merged, x), fi.forward(layers, x), atol=1e-5)
    _, dists = fi.ifm_layer(layers, 0, beta=1e-4)
    assert len(dists) == 2 and max(dists) < 1e-6
    # max_ratio caps the merges; a huge β merges everything down to one unit
    assert fi.ifm_layer(layers, 0, beta=1e-4, max_ratio=1 / 6)[0][0][0].shape[0] == 5
    assert fi.ifm(layers, beta=2.0)[1] == [1, 1]


def test_ifm_errors():
    layers = _net_with_duplicates()
    with pytest.raises(ParameterError):
        fi.ifm_layer(layers, 2, beta=0.1)  # the output layer is not hidden
    with pytest.raises(ParameterError):
        fi.ifm_layer(layers, 0, beta=-1)
    with pytest.raises(ParameterError):
        fi.ifm_layer(layers, 0, beta=0.1, max_ratio=1.5)


def test_random_merge_removes_the_requested_number_of_units():
    layers = fi.init_mlp([5, 8, 8, 3], generator=torch.Generator().manual_seed(1))
    out = fi.random_merge(layers, [3, 2], torch.Generator().manual_seed(0))
    assert out[0][0].shape == (5, 5) and out[1][0].shape == (6, 5) and out[2][0].shape == (3, 6)


def test_batched_training_equals_training_alone():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    kw = dict(init_scale=0.5, steps=5, lr=1e-2, weight_decay=1e-4, progress_bar=False)
    both = fi.train_mlps([6, 8, 8, 3], [1, 2], x, y, **kw)
    alone = fi.train_mlps([6, 8, 8, 3], [2], x, y, **kw)
    for (w1, b1), (w2, b2) in zip(both[1], alone[0]):
        assert torch.allclose(w1, w2, atol=1e-5) and torch.allclose(b1, b2, atol=1e-5)


def test_run_experiment_tiny_end_to_end():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 8, generator=g) + y.view(-1, 1).float()
    data = Split(x, y, x[:30], y[:30], classes=("a", "b", "c"))
    cfg = dataclasses.replace(fi.PRESETS["small"], widths="4,8", n_seeds=2, steps=20, betas="0.3,0.6", n_train=0)
    res = fi.run_experiment(cfg, [0, 1], data=data, progress_bar=False)
    assert set(res.frac_merged) == {4, 8} and len(res.frac_merged[8]) == 2
    assert len(res.redundancy_gain()) == 2 and len(res.drop(random=True)) == 2
    assert set(res.sweep[8]) == {0.3, 0.6} and len(res.default_frac) == 1
    assert all(0 <= f <= 1 for f in res.frac_merged[4] + res.untrained_frac[8])
    with pytest.raises(ParameterError, match="seeds"):
        fi.run_experiment(cfg, [0], data=data)

"""Unit tests of featurelab.features (activation capture, unit correlations, matching, linear CKA)."""

import numpy as np
import pytest
import torch

from featurelab import features as ft
from featurelab.models import cnn
from featurelab.run import ParameterError


def test_capture_returns_named_layer_outputs_and_removes_hooks():
    torch.manual_seed(0)
    net = cnn(1, 10, (4, 8), image_size=12, hidden=16)
    x = torch.rand(5, 1, 12, 12)
    acts = ft.capture(net, x, {"c1": "features.1", "c2": "features.4"}, batch_size=2)
    assert list(acts) == ["c1", "c2"]
    assert acts["c1"].shape == (5, 4, 12, 12) and acts["c2"].shape == (5, 8, 6, 6)
    assert torch.allclose(acts["c1"], net.features[:2](x))
    assert all(not m._forward_hooks for m in net.modules())
    net.train()
    ft.capture(net, x, ["features.1"])
    assert net.training  # the training flag is restored


def test_capture_rejects_unknown_layers_and_bad_batch():
    net = cnn(1, 10, (4,), image_size=8, hidden=8)
    with pytest.raises(ParameterError, match="unknown layer"):
        ft.capture(net, torch.rand(2, 1, 8, 8), ["nope"])
    with pytest.raises(ParameterError, match="batch_size"):
        ft.capture(net, torch.rand(2, 1, 8, 8), ["features.1"], batch_size=0)
    with pytest.raises(ParameterError):
        ft.capture(net, torch.rand(2, 1, 8, 8), [])


def test_unit_matrix_flattens_positions_into_samples():
    a = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    m = ft.unit_matrix(a)
    assert m.shape == (8, 3)
    assert m[0].tolist() == [0.0, 4.0, 8.0]  # image 0, position (0, 0), channels 0..2
    assert ft.unit_matrix(np.ones((4, 5))).shape == (4, 5)
    with pytest.raises(ParameterError):
        ft.unit_matrix(np.ones((2, 3, 4)))


def test_correlation_matches_numpy_and_marks_dead_units_nan():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 3))
    b = np.c_[a[:, 1] * 2 + 1, -a[:, 0], np.zeros(200)]
    c = ft.correlation(a, b)
    assert c.shape == (3, 3)
    assert np.isclose(c[1, 0], 1.0) and np.isclose(c[0, 1], -1.0)
    assert np.isnan(c[:, 2]).all()
    assert np.allclose(ft.correlation(a), np.corrcoef(a.T))
    with pytest.raises(ParameterError):
        ft.correlation(a, b[:10])


def test_live_units_drops_dead_and_nearly_dead_relus():
    a = np.zeros((1000, 3))
    a[:, 0] = np.random.default_rng(0).random(1000)
    a[:3, 1] = 1.0  # fires on 0.3 % of samples
    assert ft.live_units(a).tolist() == [True, False, False]
    assert ft.live_units(a, min_active=0.0).tolist() == [True, True, False]


def test_hungarian_finds_the_permutation_and_beats_greedy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 5))
    perm = np.array([3, 0, 4, 1, 2])
    b = a[:, perm] + 0.1 * rng.normal(size=(500, 5))  # b_j = a_perm[j]
    rows, cols, vals = ft.hungarian_match(ft.correlation(a, b))
    assert dict(zip(rows, cols)) == {p: j for j, p in enumerate(perm)}
    assert (np.diff(vals) <= 0).all() and vals.min() > 0.9
    # A matrix where greedy semi-matching picks the same column twice; one-to-one cannot.
    corr = np.array([[0.9, 0.8], [0.85, 0.1]])
    cols_semi, _ = ft.semi_match(corr)
    assert cols_semi.tolist() == [0, 0]
    r, c, v = ft.hungarian_match(corr)
    assert sorted(zip(r, c)) == [(0, 1), (1, 0)] and np.isclose(v.sum(), 1.65)


def test_matching_skips_dead_units():
    corr = np.array([[0.5, np.nan, 0.2], [np.nan, np.nan, np.nan], [0.1, np.nan, 0.7]])
    rows, cols, vals = ft.hungarian_match(corr)
    assert set(rows) == {0, 2} and set(cols) == {0, 2} and np.allclose(sorted(vals), [0.5, 0.7])
    assert ft.hungarian_match(np.full((2, 2), np.nan))[2].size == 0
    c, v = ft.semi_match(corr)
    assert c.tolist() == [0, -1, 2] and np.isnan(v[1])


def test_linear_cka_invariances():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 6))
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert np.isclose(ft.linear_cka(x, x), 1.0)
    assert np.isclose(ft.linear_cka(x, 3.0 * x @ q + 5.0), 1.0)  # rotation, scale, shift
    assert ft.linear_cka(x, rng.normal(size=(300, 6))) < 0.2
    conv = torch.randn(10, 4, 3, 3)
    assert np.isclose(ft.linear_cka(conv, conv), 1.0)
    with pytest.raises(ParameterError):
        ft.linear_cka(x, x[:10])
    with pytest.raises(ParameterError):
        ft.linear_cka(np.ones((5, 2)), x[:5])

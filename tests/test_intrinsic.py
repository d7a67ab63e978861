"""featurelab.intrinsic: TwoNN, Levina–Bickel MLE, label sharpness."""

import numpy as np
import pytest
import torch

from featurelab import intrinsic
from featurelab.run import ParameterError


def _plane(n=600, d=3, big=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(size=(n, d)) @ rng.normal(size=(d, big))


@pytest.mark.parametrize("d", [2, 5])
def test_estimators_recover_the_dimension_of_a_linear_manifold(d):
    x = _plane(d=d)
    assert abs(intrinsic.twonn(x) - d) < 0.2 * d + 0.3
    assert abs(intrinsic.twonn(x, fit="linear") - d) < 0.2 * d + 0.3
    assert abs(intrinsic.mle(x, k=20) - d) < 0.2 * d + 0.3


def test_estimators_accept_images_and_torch_tensors():
    x = torch.from_numpy(_plane(d=2)).reshape(600, 1, 5, 8)
    assert abs(intrinsic.mle(x) - 2) < 0.5


def test_knn_distances_are_sorted_and_exclude_self():
    x = np.array([[0.0], [1.0], [3.0]])
    t = intrinsic.knn_distances(x, 2)
    np.testing.assert_allclose(t, [[1, 3], [1, 2], [2, 3]])


def test_label_sharpness_matches_brute_force_on_its_pairs():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(50, 4)), rng.integers(0, 2, 50)
    s = intrinsic.label_sharpness(x, y, n_pairs=300, seed=3)
    j, k = s.pairs.T
    assert (j != k).all()
    expect = (y[j] != y[k]) / np.linalg.norm(x[j] - x[k], axis=1)
    np.testing.assert_allclose(s.ratios, expect)
    assert s.k_f == pytest.approx(expect.max())
    a, b = s.argmax
    assert y[a] != y[b]
    assert s.quantile <= s.k_f


def test_label_sharpness_is_zero_for_constant_labels_and_scales_inversely_with_pixels():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    assert intrinsic.label_sharpness(x, np.zeros(40, int)).k_f == 0.0
    assert intrinsic.label_sharpness(2 * x, y).k_f == pytest.approx(intrinsic.label_sharpness(x, y).k_f / 2)


def test_bad_arguments_fail_with_a_clear_message():
    x = _plane(n=30)
    with pytest.raises(ParameterError):
        intrinsic.mle(x, k=1)
    with pytest.raises(ParameterError):
        intrinsic.mle(x, k=30)
    with pytest.raises(ParameterError):
        intrinsic.twonn(x, fit="spline")
    with pytest.raises(ParameterError):
        intrinsic.twonn(np.ones((5, 3)))
    with pytest.raises(ParameterError):
        intrinsic.label_sharpness(x, np.zeros(29, int))
    with pytest.raises(ParameterError):
        intrinsic.label_sharpness(x, np.zeros(30, int), n_pairs=0)
    with pytest.raises(ParameterError):
        intrinsic.knn_distances(np.ones(5), 1)

"""Unit tests of featurelab.clicklog, the shared synthetic click-log generator: fast, seeded."""

import numpy as np
import pytest

from featurelab import clicklog
from featurelab.run import ParameterError


def small_log(seed=0, **kw):
    args = {"informative": (5, 50), "interaction": ((6, 6),), "id_noise": (500,), "noise": (3,), "copies": (1,),
                "hashes": ((1, 8),), "seed": seed}
    args.update(kw)
    return clicklog.make_clicklog(4000, **args)


def test_shapes_kinds_and_value_ranges():
    log = small_log()
    assert log.x.shape == (4000, 8) and log.y.shape == (4000,) and log.logit.shape == (4000,)
    assert list(log.kinds()) == ["informative", "informative", "interaction", "interaction", "id_noise", "noise",
                                 "copy", "hash"]
    assert np.all(log.x >= 0) and np.all(log.x.max(0) < log.cardinalities)
    assert set(np.unique(log.y)) <= {0, 1}
    assert list(log.marginally_relevant()) == [0, 1, 6, 7]
    assert log.fields[6].source == 1 and log.fields[2].source == 3


def test_seeded_and_base_rate():
    a, b, c = small_log(1), small_log(1), small_log(2)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.x, c.x)
    assert abs(clicklog.make_clicklog(20000, base_rate=0.1, seed=3).y.mean() - 0.1) < 0.015


def test_copy_is_a_relabelling_and_hash_a_function_of_the_source():
    log = small_log()
    src, cp, hs = log.x[:, 1], log.x[:, 6], log.x[:, 7]
    pairs = np.unique(np.stack([src, cp], 1), axis=0)
    assert len(pairs) == len(np.unique(src)) == len(np.unique(cp))  # one-to-one
    hpairs = np.unique(np.stack([src, hs], 1), axis=0)
    assert len(hpairs) == len(np.unique(src)) and hs.max() < 8  # a function of the source


def test_informative_weights_are_standardised_and_drive_the_logit():
    log = small_log(effect=0.6)
    x0, w0 = log.x[:, 0], log.weights[0]
    assert abs(w0[x0].mean()) < 1e-9 and abs(w0[x0].std() - 0.6) < 1e-6
    assert clicklog.auc(log.y, log.logit) > 0.6  # labels follow the planted logit


def test_interaction_signs_are_balanced_so_each_field_alone_is_uninformative():
    log = clicklog.make_clicklog(20000, informative=(), interaction=((8, 8),), id_noise=(), noise=(),
                                 interaction_effect=1.5, seed=4)
    sa, sb = log.weights[0], log.weights[1]
    assert abs((sa[log.x[:, 0]] > 0).mean() - 0.5) < 0.05
    rate_by_value = [log.y[log.x[:, 0] == v].mean() for v in np.unique(log.x[:, 0]) if (log.x[:, 0] == v).sum() > 500]
    assert np.ptp(rate_by_value) < 0.05  # the marginal click rate barely depends on one field of the pair
    joint = sa[log.x[:, 0]] * sb[log.x[:, 1]]
    assert log.y[joint > 0].mean() - log.y[joint < 0].mean() > 0.3  # but the pair matters a lot


def test_zipf_is_skewed_and_exponent_zero_is_uniform():
    rng = np.random.default_rng(0)
    counts = np.sort(np.bincount(clicklog.zipf_sample(rng, 20000, 50, 1.2), minlength=50))[::-1]
    assert counts[0] > 10 * counts[25]
    flat = np.bincount(clicklog.zipf_sample(rng, 20000, 10, 0.0), minlength=10)
    assert flat.min() > 1700


def test_split_and_metrics():
    log = small_log()
    tr, te = log.split(0.25)
    assert tr.n_rows == 3000 and te.n_rows == 1000 and tr.fields is log.fields
    assert clicklog.auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert clicklog.logloss([0, 1], [0.5, 0.5]) == pytest.approx(np.log(2))


@pytest.mark.parametrize("kw", [{"n_rows": 1}, {"base_rate": 1.0}, {"informative": (1,)}, {"copies": (5,)},
                                {"hashes": ((0, 1),)}, {"effect": -1.0}])
def test_bad_parameters_raise(kw):
    n = kw.pop("n_rows", 100)
    with pytest.raises(ParameterError):
        clicklog.make_clicklog(n, **kw)
    with pytest.raises(ParameterError):
        small_log().indices("nonsense")
    with pytest.raises(ParameterError):
        small_log().split(1.5)

"""Unit tests of featurelab.papers.outrank (Škrlj & Mramor 2023): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest

from featurelab.clicklog import auc, make_clicklog
from featurelab.papers import outrank
from featurelab.run import ParameterError


def test_entropy_terms_and_plugin_mi_on_a_hand_example():
    x = np.array([0, 0, 1, 1])
    y = np.array([0, 0, 1, 1])
    assert outrank.entropy_terms(x, y) == pytest.approx(0.0)
    assert outrank.plugin_mi(x, y) == pytest.approx(np.log(2))  # X determines Y: I = H(Y)
    y2 = np.array([0, 1, 0, 1])
    assert outrank.plugin_mi(x, y2) == pytest.approx(0.0, abs=1e-12)
    # singletons: skipped by OutRank's conditional entropy, zero anyway in the plug-in one
    x3, y3 = np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0])
    assert outrank.entropy_terms(x3, y3) == pytest.approx(0.5 * np.log(2))
    assert outrank.entropy_terms(x3, y3, skip_singletons=False) == pytest.approx(0.5 * np.log(2))


def test_outrank_roll_background_matches_the_official_loop():
    """The vectorised roll equals the per-value loop of ranking_mi_numba.compute_entropies."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 30, 500), rng.integers(0, 2, 500)
    n = len(y)
    cond = bg = 0.0
    for v in np.unique(x):
        rows = np.where(x == v)[0]
        c = len(rows)
        if c == 1:
            continue
        for labels, acc in ((y[rows], "c"), (np.roll(y, c)[rows], "b")):
            p = np.bincount(labels, minlength=2) / c
            h = -sum(q * np.log(q) for q in p if q > 0)
            if acc == "c":
                cond += c / n * h
            else:
                bg += c / n * h
    assert outrank.outrank_mi(x, y) == pytest.approx(bg - cond, abs=1e-12)


def test_plugin_mi_is_biased_by_cardinality_and_outrank_is_not():
    rng = np.random.default_rng(1)
    y = (rng.random(20000) < 0.2).astype(int)
    x = rng.integers(0, 5000, 20000)  # pure noise, many values
    mi = outrank.plugin_mi(x, y)
    assert mi > 0.05  # ≈ (K − 1) / (2N) ≈ 0.1 nats of pure bias
    assert abs(outrank.outrank_mi(x, y)) < 0.01
    assert abs(outrank.outrank_mi(x, y, "permutation", n_perm=3, rng=rng)) < 0.01
    x_inf = (y + (rng.random(20000) < 0.3)) % 2  # an informative binary field
    assert outrank.outrank_mi(x_inf, y) > 0.05


def test_precision_at_k():
    assert outrank.precision_at_k(np.array([0.9, 0.1, 0.8, 0.2]), np.array([0, 2])) == 1.0
    assert outrank.precision_at_k(np.array([0.9, 0.1, 0.8, 0.2]), np.array([1, 3])) == 0.0
    assert outrank.precision_at_k(np.array([0.9, 0.1, 0.8, 0.2]), np.array([0, 1]), k=4) == 0.5
    with pytest.raises(ParameterError):
        outrank.precision_at_k(np.zeros(3), np.array([], dtype=int))


def test_outrank_ranks_planted_fields_above_id_noise_and_plain_mi_does_not():
    log = make_clicklog(20000, informative=(5, 20), interaction=(), id_noise=(3000, 8000), noise=(3,),
                        copies=(1,), effect=0.8, seed=2)
    rel = log.marginally_relevant()
    s_or = outrank.score_fields(log.x, log.y, "outrank")
    s_mi = outrank.score_fields(log.x, log.y, "plugin")
    assert outrank.precision_at_k(s_or, rel) == 1.0
    assert outrank.precision_at_k(s_mi, rel) < 1.0
    assert outrank.score_fields(log.x, log.y, "rf").shape == (log.x.shape[1],)


def test_batched_hashed_lr_equals_separate_fits_and_learns():
    log = make_clicklog(6000, informative=(5, 20), interaction=(), id_noise=(), noise=(4,), effect=1.0, seed=3)
    tr, va = log.split()
    both = outrank.fit_hashed_lr(tr.x, tr.y, va.x, [[0], [2]], max_iter=40)
    one = outrank.fit_hashed_lr(tr.x, tr.y, va.x, [[0]], max_iter=40)
    assert both.shape == (2, va.n_rows)
    assert np.allclose(both[0], one[0], atol=2e-3)
    assert auc(va.y, both[0]) > 0.6 and abs(auc(va.y, both[1]) - 0.5) < 0.08
    res = outrank.greedy_forward(tr, va, [0, 1, 2], max_fields=3)
    assert set(res.selected[:2]) == {0, 1} and res.fits >= 3 and len(res.path) == len(res.selected)
    with pytest.raises(ParameterError):
        outrank.fit_hashed_lr(tr.x, tr.y, va.x, [[0], [0, 1]])


def test_claim_values_and_swaps():
    cfg = dataclasses.replace(outrank.PRESETS["small"], n_rows=20000, n_seeds=1, automl_seeds=0, automl_rows=5000)
    rank = outrank.run_ranking(cfg, [0], methods=("outrank", "outrank_nobg", "plugin"), enabled=False)
    fake = outrank.AutoMLResult([], [], [], 0.70, 1, 0.0)
    automl = {"all": [dataclasses.replace(fake, auc=0.78)], "outrank": [dataclasses.replace(fake, auc=0.781)],
              "outrank_nobg": [fake], "plugin": [fake]}
    vals = outrank.claim_values(outrank.Result(cfg, rank, automl))
    specs = {c.key: c for c in outrank.CLAIMS}
    for key, v in vals.items():
        assert specs[key].holds_on(vals), key
    # the mechanism off (no background term) fails the ranking claims on the same log
    off = outrank.claim_values(outrank.Result(dataclasses.replace(cfg, ranker="outrank_nobg"), rank, automl))
    assert not specs["outrank_precision"].holds_on(off) and not specs["outrank_vs_plain_mi"].holds_on(off)


def test_background_none_is_plugin_on_repeated_values():
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, 2000), rng.integers(0, 2, 2000)  # no singletons: "none" equals plug-in MI
    assert outrank.outrank_mi(x, y, "none") == pytest.approx(outrank.plugin_mi(x, y), abs=1e-12)


@pytest.mark.parametrize("kw", [{"n_rows": 10}, {"n_seeds": 0}, {"automl_seeds": 9}, {"automl_rows": 10},
                                {"top_k": 0}, {"sweep_cardinalities": (1,)},
                                {"ranker": "magic"}])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ParameterError):
        dataclasses.replace(outrank.PRESETS["small"], **kw)


def test_bad_method_and_background_raise():
    with pytest.raises(ParameterError):
        outrank.score_fields(np.zeros((4, 1), dtype=int), np.zeros(4, dtype=int), "magic")
    with pytest.raises(ParameterError):
        outrank.outrank_mi(np.zeros(4, dtype=int), np.zeros(4, dtype=int), "shuffle")

"""Unit tests of featurelab.papers.dna_restriction_sites (Moyer & Das 2020): sites, labels, features, models."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import dna_restriction_sites as dna
from featurelab.base import ParameterError
from featurelab.experiment import contract_errors

TINY = dataclasses.replace(dna.PRESETS["small"], n_train=200, n_test=100, rf_trees=10, svm_pca=10,
                           cnn_epochs=1, cnn_seeds=1, svm_seeds=1, n_seeds=1)


def test_enzyme_table_is_real_and_consistent():
    assert dna.ENZYMES["EcoRI"][0] == "GAATTC" and dna.ENZYMES["BamHI"][0] == "GGATCC"
    assert dna.ENZYMES["BsaI"][0] == "GGTCTC" and dna.ENZYMES["NotI"][0] == "GCGGCCGC"
    assert len(dna.RULE_ENZYMES) == 9 and len(dna.NAMES) == 24
    assert all(set(s) <= set("ACGT") for s, _ in dna.ENZYMES.values())
    assert dna.revcomp("GGTCTC") == "GAGACC" and dna.revcomp("GAATTC") == "GAATTC"


def test_site_scanning_finds_both_strands_and_counts_palindromes_once():
    seq = "A" * 10 + "GAGACC" + "A" * 10 + "GAATTC" + "A" * 10  # BsaI on the bottom strand, EcoRI (palindrome)
    codes = dna.encode([seq])
    assert dna.decode(codes) == [seq]
    assert dna.site_starts(codes, "BsaI").sum() == 1 and dna.site_starts(codes, "BsaI")[0, 10]
    assert dna.site_starts(codes, "EcoRI").sum() == 1
    assert dna.site_starts(codes, "BamHI").sum() == 0


def test_windows_and_rule_label():
    L, W = 120, 30
    base = ["T" * L]

    def with_site(site, pos):
        s = list(base[0])
        s[pos: pos + len(site)] = site
        return "".join(s)

    seqs = [with_site("GGTCTC", 0), with_site("GGTCTC", 60), with_site("GGTCTC", L - 6),
            with_site("GGTCTC", 25)]  # start, middle, end, straddling the start window's border (→ middle)
    table = dna.site_table(dna.encode(seqs), W)
    bsa = dna.NAMES.index("BsaI")
    assert table[:, bsa].tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
    assert dna.rule_label(table).tolist() == [1, 0, 1, 0]
    # an illegal site anywhere makes it inapplicable
    s = with_site("GGTCTC", 0)
    s = s[:60] + "CTGCAG" + s[66:]
    assert dna.rule_label(dna.site_table(dna.encode([s]), W)).tolist() == [0]


def test_make_data_labels_match_scan_and_noise_rate():
    cfg = dataclasses.replace(TINY, label_noise=0.1)
    d = dna.make_data(cfg, 2000, seed=1)
    assert d.codes.shape == (2000, 120) and d.table.shape == (2000, 24, 3)
    assert np.array_equal(d.y_clean, dna.rule_label(dna.site_table(d.codes, cfg.end_window)))
    assert 0.07 < (d.y != d.y_clean).mean() < 0.13
    assert 0.25 < d.y_clean.mean() < 0.75
    assert np.array_equal(dna.make_data(cfg, 50, seed=2).codes, dna.make_data(cfg, 50, seed=2).codes)


def test_features_kmers_importance():
    d = dna.make_data(TINY, 30, seed=0)
    x, names = dna.site_features(d, windows=True)
    assert x.shape == (30, 24 * 3 + 1) and names[-1] == "GC" and names[0] == "EcoRI@start"
    x2, _names2 = dna.site_features(d, windows=False)
    assert x2.shape == (30, 25) and np.allclose(x2[:, :24], x[:, :72].reshape(30, 24, 3).sum(-1))
    k = dna.kmer_spectrum(d.codes, (2, 3))
    assert k.shape == (30, 16 + 64) and np.allclose(k[:, :16].sum(1), 119)
    imp = dna.enzyme_importance(np.ones(len(names)), names)
    assert imp["EcoRI"] == 3 and imp["GC"] == 1
    ranked = {n: (10.0 if n in dna.RULE_ENZYMES else 1.0) for n in dna.NAMES}
    assert dna.rule_enzymes_in_top(ranked) == 9
    share = dna.rule_enzyme_share({**ranked, "GC": 100.0})  # GC left out: 9·10 / (9·10 + 15·1)
    assert share == pytest.approx(90 / 105)


def test_cnn_is_reverse_complement_invariant():
    torch.manual_seed(0)
    model = dna.SiteCNN(4, 8, 30).eval()
    x = dna.one_hot(dna.make_data(TINY, 5, seed=3).codes)
    assert x.shape == (5, 4, 120)
    with torch.no_grad():
        assert torch.allclose(model(x), model(x.flip(1, 2)), atol=1e-5)


def test_shuffled_positions_keep_counts_and_destroy_position():
    d = dna.make_data(dna.PRESETS["small"], 400, seed=5)
    shuffled = dna.site_table(d.codes, d.end_window, np.random.default_rng(0))
    assert np.array_equal(shuffled.sum(-1), d.table.sum(-1))  # same sites per enzyme, moved
    assert not np.array_equal(shuffled, d.table)
    x, names = dna.site_features(d, shuffle_seed=0)
    assert x.shape == (400, 24 * 3 + 1) and np.array_equal(x[:, :72].reshape(400, 24, 3).sum(-1), d.table.sum(-1))
    assert np.array_equal(x, dna.site_features(d, shuffle_seed=0)[0])  # seeded
    # the rule cannot be read off the shuffled windows as it can off the true ones
    iis = [dna.NAMES.index(n) for n in dna.TYPE_IIS]
    at_end = lambda t: (t[:, iis][:, :, [0, 2]].sum((1, 2)) > 0)
    assert (at_end(shuffled) != at_end(d.table)).mean() > 0.1
    xk, nk = dna.forest_features(TINY, d, "kmer", 0)
    assert xk.shape == (400, 25 + 256 + 1024) and len(nk) == xk.shape[1]
    assert np.array_equal(dna.forest_features(TINY, d, "totals", 0)[0], dna.site_features(d, windows=False)[0])


def test_sens_spec_and_tiny_run():
    assert dna.sens_spec(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])) == (0.5, 1.0)
    res = dna.run(TINY, [0], progress=False)
    assert set(res.sens) == set(dna.MODELS) and res.rule_top9.shape == (1,)
    vals = dna.claim_values(res)
    assert {c.key for c in dna.CLAIMS} <= set(vals)
    np.testing.assert_allclose(vals["rf_window_gain"], res.balanced_accuracy("rf") - res.balanced_accuracy("rf_no_windows"))
    with pytest.raises(ParameterError):
        dna.run(TINY, [0], models=("rf", "xgboost"), progress=False)


def test_contract_and_swaps():
    assert contract_errors(dna) == []
    small = dna.PRESETS["small"]
    arms = {s.name: s.apply(small) for s in dna.SWAPS}
    assert arms["shuffled_positions"].rf_features == "windows_shuffled" and arms["kmer_forest"].rf_features == "kmer"
    assert arms["shuffled_labels"].labels == "shuffled" and arms["shuffled_labels"].rf_features == "windows"
    assert {s.name for s in dna.SWAPS if s.kind == "sanity"} == {"no_windows"}
    # the sanity row: the window-free forest against itself is exactly 0
    res = dna.run(dataclasses.replace(TINY, rf_features="totals"), [0], models=("rf", "rf_no_windows"), progress=False)
    assert dna.claim_values(res)["rf_window_gain"][0] == 0.0


@pytest.mark.parametrize("change", [
    {"n_train": 10}, {"length": 50}, {"end_window": 4}, {"label_noise": 0.6}, {"p_illegal": 1.5},
    {"svm_k": (9,)}, {"svm_c": 0.0}, {"cnn_width": 40}, {"n_seeds": 0}, {"cnn_seeds": 5}, {"svm_seeds": 3},
    {"rf_features": "positions"}, {"labels": "random"},
])
def test_bad_config_raises(change):
    with pytest.raises(ParameterError):
        dataclasses.replace(dna.PRESETS["small"], **change)

"""Unit tests of featurelab.papers.feature_complexity_ifm (Chen, Zhou & Yan 2024): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch

from featurelab.data import Split
from featurelab.papers import feature_complexity_ifm as fi
from featurelab.run import ParameterError


def _net_with_duplicates(seed=0, scale=2.5):
    """A 5→6→4→3 MLP whose hidden unit 1 is ``scale`` × unit 0 (incoming weights and bias) and unit 4 is 0.3 ×
    unit 2; with ``scale=1`` unit 1 is an exact copy of unit 0, outgoing weights included."""
    g = torch.Generator().manual_seed(seed)
    layers = fi.init_mlp([5, 6, 4, 3], generator=g)
    (w, b), (v, c), head = layers
    w, b, v = w.clone(), b.clone(), v.clone()
    w[1], b[1] = scale * w[0], scale * b[0]
    w[4], b[4] = 0.3 * w[2], 0.3 * b[2]
    if scale == 1:
        v[:, 1] = v[:, 0]
    return [(w, b), (v, c), head]


@pytest.mark.parametrize("bad, match", [
    (dict(widths=(32,)), "WIDTHS"), (dict(widths=(64, 32)), "WIDTHS"), (dict(thresholds=(0.0, 0.1)), "THRESHOLDS"),
    (dict(n_seeds=0), "N_SEEDS"), (dict(steps=-1), "STEPS"), (dict(init_scale=0.0), "INIT_SCALE"),
    (dict(lr=0.0), "LR"), (dict(weight_decay=-1.0), "WEIGHT_DECAY"), (dict(beta=2.5), "BETA"),
    (dict(threshold=1.5), r"THRESHOLD=1.5 .* \(0.0, 1.0\]"), (dict(test_size=1.0), "TEST_SIZE"),
    (dict(n_train=1), "N_TRAIN"), (dict(contrast_seeds=9), "CONTRAST_SEEDS"), (dict(rule="cosine"), "RULE"),
    (dict(selection="worst"), "SELECTION")])
def test_config_rejects_bad_values(bad, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(fi.PRESETS["small"], **bad)


def test_init_scale_and_forward_shapes():
    g = torch.Generator().manual_seed(0)
    small = fi.init_mlp([64, 16, 16, 10], 0.01, torch.Generator().manual_seed(0))
    big = fi.init_mlp([64, 16, 16, 10], 1.0, g)
    assert torch.allclose(small[0][0], 0.01 * big[0][0])
    assert fi.forward(big, torch.rand(7, 64)).shape == (7, 10)


def test_official_distance_is_squared_distance_over_incoming_and_outgoing_weights():
    layers = _net_with_duplicates()
    (w, _), (v, _) = layers[0], layers[1]
    d = fi.distances(layers, 0, "official")
    want = ((w[2] - w[3]) ** 2).sum() + ((v[:, 2] - v[:, 3]) ** 2).sum()
    assert torch.isclose(d[2, 3], want, atol=1e-6) and torch.isinf(d.diag()).all()
    u = fi.distances(layers, 0, "normalised")
    assert u[0, 1] < 1e-6 and u[2, 4] < 1e-6        # rescaled copies point the same way


def test_official_merge_sums_incoming_and_count_averages_outgoing():
    layers = _net_with_duplicates(scale=1.0)         # unit 1 is an exact copy of unit 0
    x = torch.randn(50, 5)
    merged, counts = fi.merge_pair(layers, 0, 1, 0, torch.ones(6), "official")
    assert merged[0][0].shape == (5, 5) and counts.tolist() == [2, 1, 1, 1, 1]
    assert torch.allclose(merged[0][0][0], 2 * layers[0][0][0])
    assert torch.allclose(fi.forward(merged, x), fi.forward(layers, x), atol=1e-5)   # exact for a copy
    # count weighting: merging unit 2 into the 2-unit cluster weights the cluster's outgoing column by 2
    again, c2 = fi.merge_pair(merged, 0, 1, 0, counts, "official")
    v0, v2 = merged[1][0][:, 0], merged[1][0][:, 1]
    assert torch.allclose(again[1][0][:, 0], (2 * v0 + v2) / 3) and c2[0] == 3


def test_normalised_merge_of_a_rescaled_duplicate_is_exact():
    layers = _net_with_duplicates()
    x = torch.randn(50, 5)
    merged, _ = fi.merge_pair(layers, 0, 1, 0, torch.ones(6), "normalised")  # unit 1 = 2.5 × unit 0
    assert torch.allclose(fi.forward(merged, x), fi.forward(layers, x), atol=1e-5)
    assert layers[0][0].shape == (6, 5)  # the input was not modified


def test_ifm_finds_exactly_the_duplicates_and_keeps_the_function():
    x = torch.randn(100, 5)
    layers = _net_with_duplicates()
    merged, kept = fi.ifm(layers, 1e-4, "normalised")
    assert kept[0] == 4 and torch.allclose(fi.forward(merged, x), fi.forward(layers, x), atol=1e-5)
    exact = _net_with_duplicates(scale=1.0)
    merged, kept = fi.ifm(exact, 1e-9, "official")   # relative threshold: only the exact copy is at d² = 0
    assert kept[0] == 5 and torch.allclose(fi.forward(merged, x), fi.forward(exact, x), atol=1e-5)
    # max_ratio caps the merges; threshold 1 (official: d²min ≤ d²max always) merges down to one unit
    assert fi.ifm(layers, 1e-4, "normalised", max_ratio=1 / 6)[1][0] == 5
    assert fi.ifm(layers, 1.0, "official")[1] == [1, 1]
    with pytest.raises(ParameterError):
        fi.ifm(layers, -1.0)
    with pytest.raises(ParameterError):
        fi.ifm(layers, 0.1, max_ratio=1.5)


def test_random_merge_removes_the_requested_number_of_units():
    layers = fi.init_mlp([5, 8, 8, 3], generator=torch.Generator().manual_seed(1))
    out = fi.random_merge(layers, [3, 2], torch.Generator().manual_seed(0))
    assert out[0][0].shape == (5, 5) and out[1][0].shape == (6, 5) and out[2][0].shape == (3, 6)


def test_batched_training_equals_training_alone():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 6, generator=g), torch.randint(0, 3, (40,), generator=g)
    kw = dict(init_scale=0.5, steps=5, lr=1e-2, weight_decay=1e-4, progress=False)
    both, init_both = fi.train_mlps([6, 8, 8, 3], [1, 2], x, y, **kw)
    alone, init_alone = fi.train_mlps([6, 8, 8, 3], [2], x, y, **kw)
    assert torch.equal(init_both[1][0][0], init_alone[0][0][0])
    for (w1, b1), (w2, b2) in zip(both[1], alone[0]):
        assert torch.allclose(w1, w2, atol=1e-5) and torch.allclose(b1, b2, atol=1e-5)


def test_swaps_change_one_knob_each():
    base = fi.PRESETS["small"]
    assert {tuple(s.change) for s in fi.SWAPS} == {("selection",), ("init_scale",)}
    assert all(s.kind != "sanity" for s in fi.SWAPS)
    names = {c.name for c in fi.CLAIMS}
    assert {b for s in fi.SWAPS for b in s.breaks} == names and base.rule == "official"


def test_run_tiny_end_to_end_and_claims_tie_to_merging():
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    x = torch.randn(60, 8, generator=g) + y.view(-1, 1).float()
    data = Split(x, y, x[:30], y[:30], classes=("a", "b", "c"))
    cfg = dataclasses.replace(fi.PRESETS["small"], widths=(4, 8), n_seeds=2, steps=20, thresholds=(0.05, 0.2),
                              n_train=0)
    res = fi.run(cfg, [0, 1], data=data, progress=False)
    assert set(res.frac_merged) == {4, 8} and len(res.frac_merged[8]) == 2
    assert set(res.sweep[8]) == {0.05, 0.2} and len(res.default_frac) == 1 and len(res.other_frac) == 2
    v = fi.claim_values(res)
    assert {c.key for c in fi.CLAIMS} <= set(v)
    # nothing merged → the claims tied to merging cannot pass
    res.frac_merged[8] = [0.0, 0.0]
    res.acc_after[8] = res.acc_random[8] = list(res.acc_before[8])
    v = fi.claim_values(res)
    assert v["random_minus_ifm_drop"] == [0.0, 0.0] and v["merged_at_no_cost"] == [0.0, 0.0]

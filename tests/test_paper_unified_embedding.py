"""Unit tests of featurelab.papers.unified_embedding (Coleman et al. 2023): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import unified_embedding as ue
from featurelab.base import ParameterError


def test_salted_hash_range_determinism_and_salt():
    v = np.arange(5000)
    h1, h2 = ue.salted_hash(v, 1, 97), ue.salted_hash(v, 2, 97)
    assert h1.min() >= 0 and h1.max() < 97 and np.array_equal(h1, ue.salted_hash(v, 1, 97))
    assert (h1 == h2).mean() < 0.05  # different salts: (nearly) independent hashes
    assert np.bincount(h1, minlength=97).min() > 20  # spread over all buckets
    with pytest.raises(ParameterError):
        ue.salted_hash(v, 0, 0)


def test_split_budget_equal_and_fair():
    card = np.array([5, 10, 1000, 5000])
    eq = ue.split_budget(card, 400, "equal")
    assert list(eq) == [100, 100, 100, 100]
    fair = ue.split_budget(card, 400, "fair")
    assert fair[0] == 5 and fair[1] == 10 and fair[2] == fair[3] == (400 - 15) // 2  # small fields exact
    assert fair.sum() <= 400
    with pytest.raises(ParameterError):
        ue.split_budget(card, 3, "equal")
    with pytest.raises(ParameterError):
        ue.split_budget(card, 400, "proportional")


def test_row_index_stays_in_budget_and_full_is_exact():
    rng = np.random.default_rng(0)
    card = np.array([5, 50, 3000])
    x = np.stack([rng.integers(0, k, 2000) for k in card], 1)
    for s in ("equal", "fair", "unified", "unsalted"):
        idx = ue.row_index(x, card, 60, s)
        assert idx.shape == x.shape and idx.min() >= 0 and idx.max() < 60, s
    full = ue.row_index(x, card, 60, "full")
    assert len(np.unique(full)) == len(np.unique(x + np.array([0, 10_000, 20_000]), axis=None))
    fair = ue.row_index(x, card, 60, "fair")
    assert np.array_equal(fair[:, 0], x[:, 0])  # the 5-value field gets an exact table at offset 0
    # unsalted: the same raw id of two fields always lands in the same row
    same = x[:, 0] == x[:, 1]
    uns = ue.row_index(x, card, 60, "unsalted")
    assert np.all(uns[same, 0] == uns[same, 1])
    with pytest.raises(ParameterError):
        ue.row_index(x, card, 60, "magic")


def test_collision_rates_on_a_hand_example():
    x = np.array([[0, 0], [1, 1], [2, 0]])  # field 0 values 0,1,2; field 1 values 0,1
    idx = np.array([[0, 3], [0, 4], [1, 3]])  # f0:0 and f0:1 share row 0 (intra); every other value alone
    r = ue.collision_rates(x, idx)
    assert r["intra"] == pytest.approx(2 / 6) and r["inter"] == pytest.approx(0.0)
    idx2 = np.array([[0, 0], [1, 1], [2, 0]])  # f0:0 and f1:0 share row 0 (inter); f0:1 and f1:1 share row 1
    r2 = ue.collision_rates(x, idx2)
    assert r2["intra"] == pytest.approx(0.0) and r2["inter"] == pytest.approx(5 / 6)


def test_ensemble_members_are_independent():
    torch.manual_seed(0)
    model = ue.EmbeddingMLP(2, 20, 3, dim=4, hidden=(8,), seeds=[1, 1])
    idx = torch.randint(0, 20, (2, 16, 3))
    out = model(idx)
    assert out.shape == (2, 16)
    out[0].sum().backward()
    assert model.table.grad[1].abs().sum() == 0
    assert model.mlp.layers[0].weight.grad[1].abs().sum() == 0
    same = ue.EmbeddingMLP(2, 20, 3, dim=4, hidden=(8,), seeds=[1, 1])
    assert torch.equal(same.table[0], same.table[1])  # one seed, one init: arms differ only in their indices
    assert torch.equal(same.mlp.layers[0].weight[0], same.mlp.layers[0].weight[1])


TINY = dataclasses.replace(ue.PRESETS["small"], cardinalities=(5, 20, 2000, 4000), n_rows=5000, budgets=(0.01,),
                           n_seeds=1, epochs=2, batch=256, effect=0.8)


def test_training_learns_and_unified_beats_equal_split_at_a_tiny_budget():
    res = ue.run(TINY, [0], progress=False)
    assert res.auc[(0.01, "unified")][0] > 0.6
    assert set(res.collisions) == {(0.01, s) for s in TINY.strategies}
    vals = ue.claim_values(res)
    assert {c.key for c in ue.CLAIMS} <= set(vals) and vals["unified_vs_equal_1pct"].shape == (1,)


def test_swaps_change_only_the_claims_arm():
    sw = {s.name: s for s in ue.SWAPS}
    base = ue.PRESETS["small"]
    assert sw["equal_null"].apply(base) == dataclasses.replace(base, method="equal", fresh_init=True)
    assert sw["equal_split"].kind == "sanity" and sw["unsalted"].breaks == ()
    # sanity row: the equal split's own arm in unified's place gives exactly 0
    res = ue.run(dataclasses.replace(TINY, method="equal"), [0], progress=False)
    assert ue.claim_values(res)["unified_vs_equal_1pct"][0] == 0.0
    # noise null: the same strategy from fresh initial weights is a different model (not 0 by construction)
    null = ue.run(sw["equal_null"].apply(TINY), [0], progress=False)
    assert null.auc_method[0] != null.auc[(0.01, "equal")][0]
    assert np.array_equal(null.auc[(0.01, "equal")], res.auc[(0.01, "equal")])  # the other arms are unchanged


@pytest.mark.parametrize("kw", [{"cardinalities": (5,)}, {"n_rows": 10}, {"budgets": (0.0,)},
                                {"strategies": ("full",)}, {"epochs": 0}, {"lr": -1.0}, {"method": "full"},
                                {"strategies": ("equal", "unified")}])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ParameterError):
        dataclasses.replace(ue.PRESETS["small"], **kw)

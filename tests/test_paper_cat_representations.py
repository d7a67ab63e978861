"""Unit tests of featurelab.papers.cat_representations (Zhang & Bottou 2023): fast, seeded, CPU, no data files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import cat_representations as cat
from featurelab.probes import few_shot_indices
from featurelab.base import ParameterError

TINY = cat.Config(size=4, n_source=200, n_source_test=60, n_target_pool=200, n_target_test=60,
                  member_hidden=(8, 6), wide_hidden=(16, 12), n_members=2, epochs=2, batch_size=32, shots=3,
                  n_resamples=4, n_id_train=100, explore_shots=(1, 3), n_seeds=1)


def _data(seed: int = 0) -> cat.Data:
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(10, 16, generator=g)

    def split(n: int, classes: range) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 5
        x = (centers[torch.tensor(list(classes))[y]] + 0.2 * torch.randn(n, 16, generator=g)).clamp(0, 1)
        return x, y

    return cat.Data(*split(200, range(5)), *split(60, range(5)), *split(200, range(5, 10)),
                    *split(60, range(5, 10)))


def test_batched_members_train_exactly_like_separate_networks():
    data = _data()
    nets = cat.train_networks(TINY, data, TINY.member_hidden, [3, 4])
    for k, seed in enumerate([3, 4]):
        ref = cat.train_networks(TINY, data, TINY.member_hidden, [seed])
        for p, q in zip(nets.parameters(), ref.parameters()):
            assert torch.allclose(p[k], q[0], atol=1e-5)
    assert not torch.allclose(nets.layers[-1].weight[0], nets.layers[-1].weight[1])  # seeds differ → members differ


def test_concatenation_stacks_member_features():
    data = _data()
    nets = cat.train_networks(TINY, data, TINY.member_hidden, [0, 1])
    f = cat.features(nets, data.x_target_test)
    phi = cat.concat_features(f)
    assert phi.shape == (60, 12)
    assert torch.equal(phi[:, :6], f[0]) and torch.equal(phi[:, 6:], f[1])


def test_zero_padding_does_not_change_a_probe():
    data = _data(1)
    g = torch.Generator().manual_seed(0)
    f_pool = torch.randn(200, 5, generator=g) + data.y_pool[:, None].float()
    f_test = torch.randn(60, 5, generator=g) + data.y_target_test[:, None].float()
    wide_pool, wide_test = torch.randn(200, 9, generator=g), torch.randn(60, 9, generator=g)
    idx = few_shot_indices(data.y_pool, 3, 4, generator=g)
    alone = cat.few_shot_accuracy([f_pool], data.y_pool, [f_test], data.y_target_test, idx, l2=0.1, max_iter=200)
    padded = cat.few_shot_accuracy([f_pool, wide_pool], data.y_pool, [f_test, wide_test], data.y_target_test, idx,
                                   l2=0.1, max_iter=200)
    assert alone.shape == (1, 4) and padded.shape == (2, 4)
    assert torch.allclose(alone[0], padded[0], atol=1 / 60 + 1e-6)
    assert padded[0].mean() > 0.5  # the informative representation beats chance (0.2)


def test_standardisation_floors_dead_units():
    pool = torch.cat([torch.randn(200, 3), torch.zeros(200, 2)], 1)
    idx = few_shot_indices(torch.arange(200) % 5, 3, 2)
    acc = cat.few_shot_accuracy([pool], torch.arange(200) % 5, [pool[:60]], torch.arange(60) % 5, idx, l2=0.1)
    assert torch.isfinite(acc).all()


def test_same_seed_members_make_identical_copies():
    data = _data()
    nets = cat.train_networks(TINY, data, TINY.member_hidden, [7, 7])
    f = cat.concat_features(cat.features(nets, data.x_pool))
    assert torch.equal(f[:, :6], f[:, 6:])


def test_id_accuracy_shape_and_range():
    data = _data()
    nets = cat.train_networks(TINY, data, TINY.member_hidden, [0, 1])
    tr, te = cat.features(nets, data.x_source), cat.features(nets, data.x_source_test)
    acc = cat.id_accuracy(tr, data.y_source, te, data.y_source_test, l2=0.01)
    assert acc.shape == (2,) and ((acc >= 0) & (acc <= 1)).all()


def test_claim_values_and_the_wide_swap():
    r = cat.SeedResult(seed=0, target_member=np.array([0.6, 0.7]), target_cat={2: 0.7}, target_wide=0.72,
                       target_per_resample={}, id_member=np.array([0.8, 0.82]), id_cat=0.815, id_wide=0.83,
                       source_acc=np.zeros(3), cka=np.eye(2))
    v = cat.claim_values(cat.Result(TINY, [0], [r]))
    assert v["target_gain"] == [pytest.approx(0.05)]
    assert v["id_gain"] == [pytest.approx(0.005)]
    assert v["id_share"] == pytest.approx(0.1)
    assert v["cat_minus_wide"] == [pytest.approx(-0.02)]
    assert {c.key for c in cat.CLAIMS} <= set(v)
    wide = cat.claim_values(cat.Result(cat.SWAPS[1].apply(TINY), [0], [r]))  # WIDE in CAT's place
    assert wide["target_gain"] == [pytest.approx(0.07)] and wide["id_share"] == pytest.approx(0.02 / 0.07)
    assert cat.id_share([0.001], [0.01]) == 1.0  # no target gain: nothing to apportion, the claim fails
    with pytest.raises(ParameterError):
        cat.run(TINY, [])


def test_run_tiny_explore_labels_cat1_as_the_mean_member(monkeypatch):
    monkeypatch.setattr(cat, "load_data", lambda cfg, seed: _data(seed))
    res = cat.run(TINY, [0], progress=False)
    r = res.runs[0]
    row = r.explore[TINY.shots]
    assert row["cat1"] == pytest.approx(float(r.target_member.mean()))
    assert row["cat2"] == pytest.approx(r.target_cat[2]) and row["wide"] == pytest.approx(r.target_wide)
    assert set(r.explore) == set(TINY.explore_shots)


def test_swaps_are_config_changes():
    from featurelab.experiment import contract_errors

    assert contract_errors(cat) == []
    by = {s.name: s for s in cat.SWAPS}
    assert by["same_seed_members"].apply(TINY).same_seed_members is True
    assert by["wide"].apply(TINY).representation == "wide" and by["wide"].kind == "baseline"


@pytest.mark.parametrize("change, match", [
    ({"size": 40}, "SIZE"), ({"n_source": 10}, "N_SOURCE"), ({"member_hidden": ()}, "MEMBER_HIDDEN"),
    ({"n_members": 1}, "N_MEMBERS"), ({"lr": 0.0}, "LR"), ({"shots": 0}, "SHOTS"), ({"shots": 600}, "SHOTS"),
    ({"l2": -1.0}, "L2"), ({"explore_shots": (0,)}, "EXPLORE_SHOTS"), ({"n_seeds": 0}, "N_SEEDS"),
    ({"probe_iters": 0}, "PROBE_ITERS"), ({"representation": "distill"}, "REPRESENTATION"),
])
def test_bad_config_fails_with_a_clear_message(change, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(cat.PRESETS["small"], **change)

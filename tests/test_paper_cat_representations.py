"""Unit tests of featurelab.papers.cat_representations (Zhang & Bottou 2023): fast, seeded, CPU, no data files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import cat_representations as cat
from featurelab.probes import few_shot_indices
from featurelab.run import ParameterError

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
    nets = cat.train_members(TINY, data, [3, 4])
    for net, seed in zip(nets, [3, 4]):
        ref = cat.train_network(TINY, data, TINY.member_hidden, seed)
        for p, q in zip(net.parameters(), ref.parameters()):
            assert torch.allclose(p, q, atol=1e-5)
    assert not torch.allclose(nets[0].head.weight, nets[1].head.weight)  # seeds differ → members differ


def test_concatenation_stacks_member_features():
    data = _data()
    nets = cat.train_members(TINY, data, [0, 1])
    phi = cat.concat_features(nets, data.x_target_test)
    assert phi.shape == (60, 12)
    assert torch.equal(phi[:, :6], cat.features(nets[0], data.x_target_test))
    assert torch.equal(phi[:, 6:], cat.features(nets[1], data.x_target_test))


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
    nets = cat.train_members(TINY, data, [7, 7])
    f = cat.concat_features(nets, data.x_pool)
    assert torch.equal(f[:, :6], f[:, 6:])


def test_id_accuracy_shape_and_range():
    data = _data()
    nets = cat.train_members(TINY, data, [0, 1])
    tr = [cat.features(n, data.x_source) for n in nets]
    te = [cat.features(n, data.x_source_test) for n in nets]
    acc = cat.id_accuracy(tr, data.y_source, te, data.y_source_test, l2=0.01)
    assert acc.shape == (2,) and ((acc >= 0) & (acc <= 1)).all()


def test_claim_values_from_a_result():
    cfg = TINY
    r = cat.SeedResult(seed=0, target_member=np.array([0.6, 0.7]), target_cat={2: 0.7}, target_wide=0.72,
                       target_per_resample={}, id_member=np.array([0.8, 0.82]), id_cat=0.815, id_wide=0.83,
                       source_acc=np.zeros(3), cka=np.eye(2))
    v = cat.claim_values(cat.Result(cfg, [0], [r]))
    assert v["target_gain"] == [pytest.approx(0.05)]
    assert v["id_gain"] == [pytest.approx(0.005)]
    assert v["cat_minus_wide"] == [pytest.approx(-0.02)]
    assert v["task_specific_gain"] == [pytest.approx(0.045)]
    assert {c.key for c in cat.CLAIMS} <= set(v)
    with pytest.raises(ParameterError):
        cat.run(cfg, [])


@pytest.mark.parametrize("change, match", [
    ({"size": 40}, "size"), ({"n_source": 10}, "n_source"), ({"member_hidden": ()}, "member_hidden"),
    ({"n_members": 1}, "n_members"), ({"lr": 0.0}, "lr"), ({"shots": 0}, "shots"), ({"shots": 600}, "shots"),
    ({"l2": -1.0}, "l2"), ({"explore_shots": (0,)}, "explore_shots"), ({"n_seeds": 0}, "n_seeds"),
    ({"probe_iters": 0}, "probe_iters"),
])
def test_bad_config_fails_with_a_clear_message(change, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(cat.PRESETS["small"], **change)

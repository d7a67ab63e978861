"""Unit tests of featurelab.papers.representation_bias_complexity (Lampinen et al. 2024): fast, seeded, CPU."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from featurelab.papers import representation_bias_complexity as rbc
from featurelab.base import ParameterError

TINY = rbc.Config(n_train=512, n_test=256, hidden=32, steps=300, batch_size=64, check_every=10, n_seeds=1,
                  order_seeds=1)


def test_latents_are_balanced_independent_and_embedded_along_unit_directions():
    cfg = dataclasses.replace(TINY, n_train=4000, noise=0.0)
    d = rbc.make_data(cfg, 0)
    assert d.x_train.shape == (4000, 32) and d.z_train.shape == (4000, 7)
    assert torch.allclose(d.directions.norm(dim=1), torch.ones(7), atol=1e-6)
    assert (d.z_train.float().mean(0) - 0.5).abs().max() < 0.04
    corr = torch.corrcoef(d.z_train.float().T) - torch.eye(7)
    assert corr.abs().max() < 0.06
    # noise-free inputs are exactly the signed sum of the directions
    assert torch.allclose(d.x_train, (2.0 * d.z_train.float() - 1) @ d.directions, atol=1e-5)
    # same seed, same data; another seed, other data
    assert torch.equal(rbc.make_data(cfg, 0).x_test, d.x_test)
    assert not torch.equal(rbc.make_data(cfg, 1).x_test, d.x_test)


def test_targets_define_easy_and_hard_features():
    z = torch.tensor([[1, 0, 0, 0, 0], [0, 1, 1, 0, 1], [1, 1, 1, 1, 0], [0, 1, 0, 0, 0]])
    assert rbc.targets(z, "parity3").tolist() == [[1, 0], [0, 0], [1, 1], [0, 1]]
    assert rbc.targets(z, "xor").tolist() == [[1, 0], [0, 0], [1, 0], [0, 1]]
    assert rbc.targets(z, "linear").tolist() == [[1, 0], [0, 1], [1, 1], [0, 1]]
    with pytest.raises(ParameterError, match="hard"):
        rbc.targets(z, "quadratic")


def test_parity_is_invisible_to_a_linear_readout_of_the_input():
    # the reason the hard feature is hard: its VE in the *input* is ≈ 0, the easy one's is ≈ 1/K
    from featurelab.probes import variance_explained

    cfg = dataclasses.replace(TINY, n_train=3000)
    d = rbc.make_data(cfg, 3)
    y = rbc.targets(d.z_train, "parity3")
    assert variance_explained(d.x_train, y[:, 1]) < 0.01
    assert variance_explained(d.x_train, y[:, 0]) > 0.08


def test_training_stops_at_ceiling_and_reports_the_bias():
    r = rbc.train_one(TINY, seed=1)
    assert r.converged and min(r.train_acc) > TINY.stop_acc
    assert r.steps % TINY.check_every == 0 and r.steps < TINY.steps
    assert min(r.test_acc) > 0.9
    assert r.ve["easy"] == pytest.approx(r.ve["a"])  # the easy output *is* latent a
    assert r.ratio > 3  # the easy feature dominates even in a tiny network
    assert 0.4 < min(r.acc_init) and max(r.acc_init) < 0.6  # untrained: chance
    assert r.curve[0][0] == 0 and r.curve[-1][0] == r.steps
    assert r.pcs.shape == (256, 2) and r.labels.shape == (256, 2)


def test_matched_control_is_balanced():
    r = rbc.train_one(TINY, seed=1, hard="linear")
    assert r.converged and 0.6 < r.ratio < 1.6


def test_schedules_train_one_output_first():
    r = rbc.train_one(TINY, seed=1, schedule="hard_first")
    assert r.schedule == "hard_first" and r.converged
    assert rbc._phases("easy_first") == [(1.0, 0.0), (1.0, 1.0)]


def test_run_and_claim_values_shapes():
    res = rbc.run(TINY, [0, 1], progress=False)
    v = rbc.claim_values(res)
    assert len(v["learned_ratio"]) == 2 and len(v["control_ratio"]) == 2 and len(v["min_test_acc"]) == 2
    assert set(res.order) == {"easy_first", "hard_first"} and len(res.order["hard_first"]) == 1
    assert len(v["hard_first_gain"]) == 1 and v["hard_first_gain"][0] > 1  # learned first, represented more
    assert rbc.claim_values(rbc.run(TINY, [0], progress=False, order=False))["hard_first_gain"] == []
    assert {c.key for c in rbc.CLAIMS} <= set(v)
    with pytest.raises(ParameterError):
        rbc.run(TINY, [])


def test_learned_ratio_subtracts_the_untrained_network():
    r = rbc.train_one(TINY, seed=1)
    d_easy, d_hard = r.ve["easy"] - r.ve_init["easy"], r.ve["hard"] - r.ve_init["hard"]
    assert rbc.learned_ratio(r) == pytest.approx(d_easy / d_hard)
    untrained = rbc.train_one(dataclasses.replace(TINY, learning=False), seed=1)
    assert untrained.steps == 0 and not untrained.converged and untrained.ve == untrained.ve_init
    assert rbc.learned_ratio(untrained) == 0.0 and untrained.ratio > 3  # the plain ratio is large without learning


def test_swaps_change_only_what_they_say():
    base = rbc.PRESETS["small"]
    cfgs = {s.name: s.apply(base) for s in rbc.SWAPS}
    assert cfgs["untrained"] == dataclasses.replace(base, learning=False)
    assert cfgs["matched_complexity"] == dataclasses.replace(base, hard="linear")
    assert cfgs["order_noise_null"] == dataclasses.replace(base, order_schedule="joint")
    # the noise null is joint training from another initialisation: not identical to the joint run
    res = rbc.run(dataclasses.replace(TINY, order_schedule="joint"), [0], progress=False, control=False)
    assert res.order["hard_first"][0].schedule == "joint"
    assert res.order["hard_first"][0].ve_init != res.main[0].ve_init


@pytest.mark.parametrize("change, match", [
    ({"hard": "cubic"}, "HARD"), ({"schedule": "random"}, "SCHEDULE"), ({"n_train": 10}, "N_TRAIN"),
    ({"input_dim": 5}, "INPUT_DIM"), ({"noise": -1.0}, "NOISE"), ({"lr": 0.0}, "LR"),
    ({"stop_acc": 0.3}, "STOP_ACC"), ({"n_seeds": 0}, "N_SEEDS"), ({"steps": 0}, "STEPS"),
    ({"order_seeds": 4}, "ORDER_SEEDS"), ({"learning": "yes"}, "LEARNING"),
])
def test_bad_config_fails_with_a_clear_message(change, match):
    with pytest.raises(ParameterError, match=match):
        dataclasses.replace(rbc.PRESETS["small"], **change)

"""Unit tests of featurelab.papers.rich_feature_construction (RFC / Bonsai)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import rich_feature_construction as rfc
from featurelab.base import ParameterError


def test_ensemble_members_are_independent():
    net = rfc.trunk_net([5, 6], d_in=4, hidden=8, n_heads=2)
    alone = rfc.trunk_net([6], d_in=4, hidden=8, n_heads=2)
    x = torch.randn(2, 10, 4)
    assert net(x).shape == (2, 10, 2) and net.features(x).shape == (2, 10, 8)
    assert torch.allclose(net(x)[1], alone(x[1:])[0])


def test_discovery_loss_is_max_of_group_losses():
    logits = torch.tensor([[2.0, -2.0, 0.5, 0.0]])
    y = torch.tensor([[1.0, 1.0, 0.0, 1.0]])
    in_b = torch.tensor([[False, True, True, False]])
    ce = F.binary_cross_entropy_with_logits(logits, y, reduction="none")[0]
    la, lb = ce[[0, 3]].mean(), ce[[1, 2]].mean()
    assert torch.allclose(rfc.discovery_loss(logits, y, in_b), torch.maximum(la, lb)[None])


def test_distillation_loss_is_kl_and_zero_at_teacher():
    p = torch.tensor([[[0.2, 0.9], [0.6, 0.5]]])
    logit = torch.log(p / (1 - p))
    assert rfc.distillation_loss(logit, p).abs().max() < 1e-5
    q = torch.sigmoid(torch.zeros_like(p))
    kl = (p * (p / q).log() + (1 - p) * ((1 - p) / (1 - q)).log()).sum(-1).mean(-1)
    assert torch.allclose(rfc.distillation_loss(torch.zeros_like(p), p), kl, atol=1e-5)


def test_objectives_divide_by_lambda_and_penalise():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(2, 20, generator=g), (torch.rand(2, 20, generator=g) < 0.5).float()
    env = torch.arange(20) % 2
    lam = torch.tensor([0.0, 100.0])
    v = rfc.vrex_objective(logits, y, env, 2, lam)
    r = rfc.env_risks(logits, y, env, 2)
    assert torch.allclose(v[0], r[0].sum())
    assert torch.allclose(v[1], (r[1].sum() + 100 * r[1].var(unbiased=False)) / 100)
    i = rfc.irm_objective(logits, y, env, 2, lam)
    assert torch.all(i > 0) and i.shape == (2,)
    w = torch.ones(2, 3, 4)
    assert torch.allclose(rfc.l2_per_member([w], 0.1), torch.full((2,), 0.6))


def test_train_members_reduces_loss():
    torch.manual_seed(0)
    net = rfc.trunk_net([0, 1], 5, 8)
    x = torch.randn(2, 64, 5)
    y = (x[..., 0] > 0).float()
    loss = lambda: F.binary_cross_entropy_with_logits(net(x)[..., 0], y, reduction="none").mean(1)
    before = loss().detach()
    rfc.train_members(list(net.parameters()), loss, 100, 1e-2, 0.0)
    assert torch.all(loss() < 0.5 * before)


@pytest.mark.parametrize("kw", [{"n_seeds": 0}, {"hidden": -1}, {"label_noise": 0.6}, {"p_agree": (0.9,)},
                                {"lr": 0.0}, {"claim_lambdas": (5.0,)}, {"claim_lambdas": ()}, {"irm_lambdas": ()},
                                {"size": 40}, {"round2": "jtt"}, {"method_trunk": "random"}])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ParameterError):
        dataclasses.replace(rfc.PRESETS["small"], **kw)


TINY = dataclasses.replace(rfc.PRESETS["small"], n_seeds=1, n_per_env=60, n_test=60, hidden=8, steps=5,
                           head_steps=5, irm_steps=5, sweep_lambdas=(1.0, 1e3, 1e4), irm_lambdas=(1.0,))


def test_run_tiny_and_swaps_change_only_what_they_name():
    res = rfc.run(TINY, [0], progress=False)
    assert set(res.ood) == set(rfc.TRUNKS) and res.sweep_ood["bonsai"].shape == (3, 1)
    assert res.ood["bonsai"] == pytest.approx(res.sweep_ood["bonsai"][1:].mean(0))  # mean over claim λs
    v = rfc.claim_values(res)
    assert {c.key for c in rfc.CLAIMS} <= set(v)
    swapped = {s.name: s.apply(TINY) for s in rfc.SWAPS}
    assert swapped["discovery_off"].round2 == "erm" and swapped["erm_rerun"].method_trunk == "erm2"
    # the in-place swaps reuse the same run: only the trunk read in Bonsai's place changes
    res.cfg = swapped["erm_rerun"]
    assert rfc.claim_values(res)["bonsai_minus_erm"] == pytest.approx(res.ood["erm2"] - res.ood["erm"])
    res.cfg = dataclasses.replace(TINY, method_trunk="control")
    assert rfc.claim_values(res)["bonsai_minus_control"] == pytest.approx(0.0)


def test_every_claim_has_a_counting_swap():
    from featurelab.experiment import contract_errors

    assert contract_errors(rfc) == []

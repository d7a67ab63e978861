"""Unit tests of featurelab.papers.rich_feature_construction (RFC / Bonsai)."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import rich_feature_construction as rfc
from featurelab.run import ParameterError


def test_ensemble_members_are_independent():
    net = rfc.EnsembleMLP([5, 6], d_in=4, hidden=8, n_heads=2)
    alone = rfc.EnsembleMLP([6], d_in=4, hidden=8, n_heads=2)
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
    net = rfc.EnsembleMLP([0, 1], 5, 8)
    x = torch.randn(2, 64, 5)
    y = (x[..., 0] > 0).float()
    loss = lambda: F.binary_cross_entropy_with_logits(net(x)[..., 0], y, reduction="none").mean(1)
    before = loss().detach()
    rfc.train_members(list(net.parameters()), loss, 100, 1e-2, 0.0)
    assert torch.all(loss() < 0.5 * before)


@pytest.mark.parametrize("kw", [{"n_seeds": 0}, {"hidden": -1}, {"label_noise": 0.6}, {"p_agree": (0.9,)},
                                {"lr": 0.0}, {"vrex_lambda": 5.0}, {"irm_lambdas": ()}, {"size": 40}])
def test_config_rejects_bad_values(kw):
    with pytest.raises(ParameterError):
        dataclasses.replace(rfc.PRESETS["small"], **kw)


def test_run_rejects_unknown_round2():
    with pytest.raises(ParameterError):
        rfc.run_rfc(rfc.PRESETS["small"], [0], round2="jtt")


def test_claims_reference_measured_keys():
    keys = {"bonsai_minus_erm", "bonsai_minus_erm_swap", "bonsai_minus_control", "bonsai_minus_control_swap",
            "bonsai_minus_best_irm", "bonsai_minus_best_irm_swap"}
    for c in rfc.CLAIMS:
        assert c.key in keys and c.swap in keys

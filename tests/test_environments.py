"""Unit tests of featurelab.environments: the coloured-environment builder and the OoD penalties."""

import pytest
import torch
import torch.nn.functional as F

from featurelab.environments import (
    colour_environment,
    group_dro_update,
    irmv1_penalty,
    irmv1_penalty_autograd,
    vrex_penalty,
    worst_group_loss,
)
from featurelab.run import ParameterError


def _images(n=4000, s=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, s, s, generator=g), (torch.rand(n, generator=g) < 0.5).long()


def test_colour_environment_sets_agreement_and_noise():
    x, y = _images()
    env = colour_environment(x, y, p_agree=0.9, label_noise=0.25, generator=torch.Generator().manual_seed(1))
    assert env.x.shape == (4000, 2, 3, 3)
    assert abs(env.colour_agreement() - 0.9) < 0.02
    assert abs(float((env.clean.float() == env.y).float().mean()) - 0.75) < 0.02
    # the image sits in the channel of its colour, the other channel is empty
    idx = torch.arange(4000)
    assert torch.equal(env.x[idx, env.colour], x[:, 0])
    assert env.x[idx, 1 - env.colour].abs().sum() == 0


def test_colour_environment_is_seeded():
    x, y = _images()
    a = colour_environment(x, y, 0.1, 0.25, torch.Generator().manual_seed(3))
    b = colour_environment(x, y, 0.1, 0.25, torch.Generator().manual_seed(3))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert abs(a.colour_agreement() - 0.1) < 0.02


@pytest.mark.parametrize("kw", [{"p_agree": 1.5, "label_noise": 0.1}, {"p_agree": 0.5, "label_noise": 0.5}])
def test_colour_environment_rejects_bad_parameters(kw):
    x, y = _images(10)
    with pytest.raises(ParameterError):
        colour_environment(x, y, generator=torch.Generator(), **kw)
    with pytest.raises(ParameterError):
        colour_environment(x[:, 0], y, 0.5, 0.1, torch.Generator())


def test_irmv1_closed_form_equals_autograd_and_trains():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 50, generator=g, requires_grad=True)
    y = (torch.rand(3, 50, generator=g) < 0.5).float()
    a, b = irmv1_penalty(logits, y), irmv1_penalty_autograd(logits, y)
    assert a.shape == (3,) and torch.allclose(a, b, atol=1e-6)
    ga, = torch.autograd.grad(a.sum(), logits, retain_graph=True)
    gb, = torch.autograd.grad(b.sum(), logits)
    assert torch.allclose(ga, gb, atol=1e-6)
    # zero for a calibrated scale: the optimal logistic fit of y on z has dR/dw = 0
    z = torch.linspace(-3, 3, 201)
    w = torch.tensor(1.0, requires_grad=True)
    yb = (torch.rand(201, generator=g) < torch.sigmoid(2 * z)).float()
    opt = torch.optim.LBFGS([w], max_iter=100)
    opt.step(lambda: (opt.zero_grad(), (l := F.binary_cross_entropy_with_logits(w * z, yb)).backward(), l)[2])
    assert irmv1_penalty((w * z).detach(), yb) < 1e-8


def test_vrex_and_group_dro():
    r = torch.tensor([[1.0, 3.0], [2.0, 2.0]])
    assert torch.allclose(vrex_penalty(r), torch.tensor([1.0, 0.0]))
    with pytest.raises(ParameterError):
        vrex_penalty(torch.ones(2, 1))
    assert torch.equal(worst_group_loss(r), torch.tensor([3.0, 2.0]))
    q = torch.full((2, 2), 0.5)
    q2, loss = group_dro_update(r, q, eta=1.0)
    assert torch.allclose(q2.sum(1), torch.ones(2)) and q2[0, 1] > q2[0, 0] and torch.allclose(q2[1], q[1])
    assert torch.allclose(loss, (q2 * r).sum(1))
    with pytest.raises(ParameterError):
        group_dro_update(r, q, eta=0.0)

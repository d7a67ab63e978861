import pytest
import torch

from featurelab import ParameterError
from featurelab.ensemble import EnsembleLinear, EnsembleMLP, member_losses


def test_members_are_independent_of_each_other():
    a = EnsembleMLP([3, 7, 11], [5, 8, 2])
    b = EnsembleMLP([7], [5, 8, 2])
    x = torch.randn(4, 5)
    assert torch.allclose(a(x)[1], b(x)[0])


def test_member_copy_matches_batched_forward_and_shapes():
    ens = EnsembleMLP(4, [6, 9, 9, 3], activation="tanh")
    x = torch.randn(10, 6)
    out = ens(x)
    assert out.shape == (4, 10, 3) and ens.features(x).shape == (4, 10, 9)
    for m in range(4):
        assert torch.allclose(ens.member(m)(x), out[m], atol=1e-6)
    xm = torch.randn(4, 10, 6)  # each member its own batch
    assert torch.allclose(ens(xm)[2], ens.member(2)(xm[2]), atol=1e-6)


def test_summed_loss_gives_each_member_its_own_gradient():
    ens = EnsembleMLP(3, [4, 5, 2])
    x, y = torch.randn(8, 4), torch.randint(0, 2, (8,))
    member_losses(ens(x), y).sum().backward()
    g_batched = ens.layers[0].weight.grad[1].clone()
    single = ens.member(1)
    torch.nn.functional.cross_entropy(single(x), y).backward()
    assert torch.allclose(g_batched, single[1].weight.grad.T, atol=1e-6)


def test_linear_init_bound_and_errors():
    lin = EnsembleLinear(2, 100, 4)
    assert lin.weight.abs().max() <= 0.1 and lin.weight.shape == (2, 100, 4)
    assert not torch.equal(lin.weight[0], lin.weight[1])
    with pytest.raises(ParameterError, match="sizes"):
        EnsembleMLP(2, [4])
    with pytest.raises(ParameterError, match="activation"):
        EnsembleMLP(2, [4, 2], activation="swish")
    with pytest.raises(ParameterError, match="loss"):
        member_losses(torch.zeros(2, 3, 1), torch.zeros(3), loss="hinge")


def test_bce_and_mse_losses():
    logits = torch.zeros(2, 5, 1)
    assert torch.allclose(member_losses(logits, torch.ones(5), "bce"), torch.full((2,), 0.6931), atol=1e-4)
    assert torch.allclose(member_losses(logits, torch.ones(2, 5), "mse"), torch.ones(2))

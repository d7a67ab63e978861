"""Unit tests of featurelab.actmax (activation maximisation: objectives, normalised steps, TV / blur / jitter priors)."""

import pytest
import torch

from featurelab import actmax as am
from featurelab.models import cnn
from featurelab.run import ParameterError


def _tv(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()


def _net(seed=0):
    torch.manual_seed(seed)
    return cnn(1, 4, (4, 8), image_size=12, hidden=16).eval()


def test_unit_objective_reads_logits_and_hooked_layers_and_removes_hooks():
    net = _net()
    x = torch.rand(3, 1, 12, 12)
    assert torch.allclose(am.unit_objective(net, 2)(x), net(x)[:, 2])
    conv = am.unit_objective(net, 1, layer="features.1")(x)
    ref = net.features[:2](x)[:, 1]
    assert torch.allclose(conv, ref.flatten(1).mean(1))
    centre = am.unit_objective(net, 1, layer="features.1", reduce="center")(x)
    assert torch.allclose(centre, ref[:, 6, 6])
    assert all(not m._forward_hooks for m in net.modules())
    # the same unit without gradients, via featurelab.features.capture
    assert torch.allclose(am.unit_activations(net, x, 1, layer="features.1"), conv.detach())
    assert torch.allclose(am.unit_activations(net, x, 2), net(x)[:, 2].detach())


def test_unit_objective_error_paths():
    net = _net()
    with pytest.raises(ParameterError, match="unknown layer"):
        am.unit_objective(net, 0, layer="nope")
    with pytest.raises(ParameterError, match="reduce"):
        am.unit_objective(net, 0, reduce="max")
    with pytest.raises(ParameterError, match="out of range"):
        am.unit_objective(net, 7)(torch.rand(2, 1, 12, 12))


def test_normalized_step_has_mean_abs_step_equal_to_step_size_per_image():
    x = torch.zeros(2, 1, 4, 4)
    g = torch.randn(2, 1, 4, 4)
    g[1] *= 1000.0
    out = am.normalized_step(x, g, 0.01)
    assert torch.allclose(out.abs().flatten(1).mean(1), torch.full((2,), 0.01))
    assert torch.equal(am.normalized_step(x, torch.zeros_like(g), 0.01), x)  # zero gradient: no move
    with pytest.raises(ParameterError):
        am.normalized_step(x, g, -1.0)


def test_tv_denoise_smooths_keeps_the_mean_and_constants():
    torch.manual_seed(0)
    clean = torch.zeros(2, 1, 16, 16)
    clean[:, :, 4:12, 4:12] = 1.0
    noisy = clean + 0.2 * torch.randn_like(clean)
    weak, strong = am.tv_denoise(noisy, 0.05), am.tv_denoise(noisy, 0.3)
    assert _tv(strong) < _tv(weak) < _tv(noisy)
    assert (weak - clean).pow(2).mean() < (noisy - clean).pow(2).mean()  # denoising helps
    assert torch.allclose(strong.mean((-2, -1)), noisy.mean((-2, -1)), atol=1e-5)  # mean preserved
    const = torch.full((1, 1, 5, 5), 0.3)
    assert torch.allclose(am.tv_denoise(const, 0.5), const)
    assert torch.equal(am.tv_denoise(noisy, 0.0), noisy)
    # images are denoised independently
    assert torch.allclose(am.tv_denoise(noisy, 0.1)[1:], am.tv_denoise(noisy[1:], 0.1))
    with pytest.raises(ParameterError):
        am.tv_denoise(noisy, -0.1)


def test_gaussian_blur_and_jitter():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    b = am.gaussian_blur(x, 1.0)
    assert torch.isclose(b.sum(), torch.tensor(1.0), atol=1e-5) and b[0, 0, 4, 4] < 0.5
    assert torch.equal(am.gaussian_blur(x, 0.0), x)
    with pytest.raises(ParameterError):
        am.gaussian_blur(x, -1.0)
    y = torch.rand(3, 1, 6, 6)
    shifts = torch.tensor([[1, 0], [0, -1], [1, 1]])
    moved = am.jitter(y, shifts)
    assert torch.equal(moved[0], torch.roll(y[0], 1, dims=-2))
    assert torch.equal(am.jitter(moved, -shifts), y)
    with pytest.raises(ParameterError):
        am.jitter(y, torch.zeros(2, 2, dtype=torch.long))


def test_regularizer_validates_and_clips():
    with pytest.raises(ParameterError):
        am.Regularizer(tv_weight=-1)
    with pytest.raises(ParameterError):
        am.Regularizer(l2_decay=1.0)
    with pytest.raises(ParameterError):
        am.Regularizer(clip=(1.0, 0.0))
    out = am.Regularizer(l2_decay=0.5, clip=(0.0, 1.0)).apply(torch.tensor([[[[4.0, -2.0]]]]), 1)
    assert out.tolist() == [[[[1.0, 0.0]]]]


def test_maximize_raises_the_unit_stays_in_range_and_is_seeded():
    net = _net(1)
    obj = am.unit_objective(net, 0)
    x0 = torch.rand(4, 1, 12, 12) * 0.2
    reg = am.Regularizer(tv_weight=0.001, clip=(0.0, 1.0), jitter=1)
    params = [p.clone() for p in net.parameters()]
    res = am.maximize(obj, x0, steps=30, step_size=0.02, regularizer=reg, seed=3, model=net)
    assert res.images.shape == x0.shape and res.trace.shape == (31, 4)
    assert (res.final > res.start).all()
    assert res.images.min() >= 0.0 and res.images.max() <= 1.0
    assert all(torch.equal(p, q) for p, q in zip(params, net.parameters()))  # the model is not trained
    again = am.maximize(obj, x0, steps=30, step_size=0.02, regularizer=reg, seed=3, model=net)
    assert torch.equal(res.images, again.images)
    # each image is optimised independently of the others in the batch (without jitter)
    plain = am.Regularizer(clip=(0.0, 1.0))
    both = am.maximize(obj, x0, steps=5, step_size=0.02, regularizer=plain)
    one = am.maximize(obj, x0[:1], steps=5, step_size=0.02, regularizer=plain)
    assert torch.allclose(both.images[:1], one.images, atol=1e-6)
    assert torch.equal(am.maximize(obj, x0, steps=0, step_size=0.1).images, x0)
    with pytest.raises(ParameterError):
        am.maximize(obj, x0[0], steps=1, step_size=0.1)
    with pytest.raises(ParameterError):
        am.maximize(obj, x0, steps=-1, step_size=0.1)

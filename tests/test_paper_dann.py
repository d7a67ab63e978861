"""Unit tests of featurelab.papers.dann (Ganin et al. 2016): fast, seeded, CPU only."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from featurelab.base import ParameterError
from featurelab.papers import dann

TINY = dict(n_seeds=2, n_train=40, n_test=40, hidden=8, steps=10, batch=8, wide_hidden=16)


# --- gradient reversal layer -------------------------------------------------------------------------------
def test_grl_is_identity_forward_and_minus_lambda_backward():
    x = torch.randn(3, 4, requires_grad=True)
    y = dann.grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.allclose(x.grad, -0.7 * torch.arange(4.0).expand(3, 4))


def test_grl_per_member_lambda_and_zero_lambda_blocks_gradient():
    x = torch.randn(2, 5, 3, requires_grad=True)
    dann.grad_reverse(x, torch.tensor([1.0, 0.0]).view(2, 1, 1)).sum().backward()
    assert torch.allclose(x.grad[0], -torch.ones(5, 3))
    assert torch.count_nonzero(x.grad[1]) == 0


def test_adversarial_term_reaches_features_reversed():
    """Through the GRL, G_f gets exactly minus the domain-loss gradient it would get without it."""
    net = dann.DANNNet([0])
    x = torch.randn(1, 16, 2)
    domain = torch.cat([torch.zeros(8), torch.ones(8)]).expand(1, -1)
    grads = []
    for lam in (1.0, -1.0):  # -1 undoes the reversal: the plain gradient
        net.zero_grad()
        dann.adversarial_alignment(net, net.features(x), domain, torch.full((1, 1, 1), lam)).sum().backward()
        grads.append(net.gy.layers[0].weight.grad.clone())
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], -grads[1])


def test_mmd_term_is_zero_for_equal_means_and_trains_domain_head_only_on_detached_features():
    net = dann.DANNNet([0], hidden=4)
    f = torch.randn(1, 6, 4)
    f = torch.cat([f[:, :3], f[:, :3]], dim=1).requires_grad_(True)  # target half = source half
    domain = torch.cat([torch.zeros(3), torch.ones(3)]).expand(1, -1)
    lam = torch.full((1, 1, 1), 5.0)
    plain = dann.mmd_alignment(net, f, domain, torch.zeros(1, 1, 1))
    assert torch.allclose(dann.mmd_alignment(net, f, domain, lam), plain)
    dann.mmd_alignment(net, f, domain, lam).sum().backward()
    assert f.grad is None or torch.count_nonzero(f.grad) == 0  # equal means: no alignment gradient


# --- schedules, data, PAD -----------------------------------------------------------------------------------
def test_schedules_at_start_and_end():
    assert dann.grl_lambda(0.0) == 0.0
    assert dann.grl_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann.learning_rate(0.0) == pytest.approx(0.01)
    assert dann.learning_rate(1.0) == pytest.approx(0.01 / 11**0.75)
    ps = np.linspace(0, 1, 11)
    assert np.all(np.diff([dann.grl_lambda(p) for p in ps]) > 0)
    assert np.all(np.diff([dann.learning_rate(p) for p in ps]) < 0)


def test_rotate_and_moons_domains():
    x = np.random.default_rng(0).normal(size=(50, 2))
    r = dann.rotate(x, 35.0)
    assert np.allclose(np.linalg.norm(r, axis=1), np.linalg.norm(x, axis=1))
    turn = np.degrees(np.arctan2(r[:, 1], r[:, 0]) - np.arctan2(x[:, 1], x[:, 0])) % 360
    assert np.allclose(turn, 35.0)
    d = dann.make_moons_domains(n_train=40, n_test=30, angle=40.0, seed=3)
    assert d.xs_train.shape == d.xt_train.shape == (40, 2) and d.xs_test.shape == (30, 2)
    assert d.xs_train.dtype == np.float32 and d.ys_train.dtype == np.int64
    assert np.bincount(d.ys_train).tolist() == [20, 20]
    assert np.array_equal(d.xt_train, dann.make_moons_domains(n_train=40, n_test=30, angle=40.0, seed=3).xt_train)


def test_pad_identical_distributions_near_zero_and_separable_near_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 5)), rng.normal(size=(400, 5))
    assert dann.proxy_a_distance(a, b) < 0.25
    assert dann.proxy_a_distance(a, b + 10.0) > 1.95
    with pytest.raises(ValueError, match="probe"):
        dann.proxy_a_distance(a, b, probe="svm")


# --- network, ensemble, training ----------------------------------------------------------------------------
def test_ensemble_member_equals_training_it_alone():
    d = [dann.make_moons_domains(n_train=40, n_test=10, seed=s) for s in (0, 1)]
    xs, ys, xt = (torch.as_tensor(np.stack([getattr(x, k) for x in d])) for k in ("xs_train", "ys_train", "xt_train"))
    both = dann.DANNNet([0, 1], hidden=8)
    dann.train_dann(both, xs, ys, xt, torch.tensor([1.0, 0.0]), [0, 1], steps=15, batch=8)
    alone = dann.DANNNet([1], hidden=8)
    dann.train_dann(alone, xs[1:], ys[1:], xt[1:], torch.tensor([0.0]), [1], steps=15, batch=8)
    for a, b in zip(both.parameters(), alone.parameters()):
        assert torch.allclose(a[1], b[0], atol=1e-5)


def test_custom_alignment_function_is_used():
    d = dann.make_moons_domains(n_train=20, n_test=10, seed=0)
    xs, ys, xt = (torch.as_tensor(getattr(d, k))[None] for k in ("xs_train", "ys_train", "xt_train"))
    calls = []

    def none_term(model, f, domain, lam):
        calls.append(f.shape)
        return torch.zeros(f.shape[0])

    dann.train_dann(dann.DANNNet([0], hidden=4), xs, ys, xt, torch.tensor([1.0]), [0], steps=3, batch=4,
                    align=none_term)
    assert calls == [torch.Size([1, 8, 4])] * 3


def test_run_shapes_and_plot_helpers():
    r = dann.run(dann.Config(**TINY), [5, 6], progress=False)
    for name in ("acc_target_dann", "acc_target_source_only", "acc_source_dann", "domain_head_acc_dann",
                 "domain_head_acc_source_only", "pad_dann", "pad_source_only", "pad_input"):
        v = getattr(r, name)
        assert v.shape == (2,) and np.all((v >= 0) & (v <= 2)), name
    model, member = r.net("source_only", 1)
    assert member == 3 and model.members == 4
    assert r.logs["dann"].shape == (2, len(r.log_steps))
    xx, yy, prob = dann.predict_grid(model, member, n=20)
    assert xx.shape == prob.shape == (20, 20) and np.all((prob >= 0) & (prob <= 1))
    assert dann.predict_grid(model, 0, n=10, head="domain")[2].shape == (10, 10)
    assert dann.member_features(model, 2, r.domains[0].xs_test).shape == (40, 8)
    assert set(dann.claim_values(r)) == {"dann_target_gain", "dann_domain_head_fooled", "pad_gap"}


# --- swaps ----------------------------------------------------------------------------------------------------
def test_sanity_swap_makes_both_arms_identical():
    """λ = 0 turns DANN into the baseline: same init, data, batches → differences exactly 0."""
    swap = {s.name: s for s in dann.SWAPS}["no_reversal"]
    assert swap.kind == "sanity"
    r = dann.run(swap.apply(dann.Config(**TINY)), [1, 2], progress=False)
    v = dann.claim_values(r)
    assert np.all(v["dann_target_gain"] == 0) and np.all(v["dann_domain_head_fooled"] == 0)


def test_noise_null_and_wide_arm_are_independent_networks():
    swaps = {s.name: s for s in dann.SWAPS}
    null = swaps["noise_null"].apply(dann.Config(**TINY))
    assert null.arm == "source_only_reseeded" and swaps["noise_null"].kind == "null"
    r = dann.run(null, [1, 2], progress=False)
    model, _ = r.net("dann")
    assert not torch.equal(model.gy.layers[0].weight[0], model.gy.layers[0].weight[2])  # other init
    wide = dann.run(swaps["wide_source_only"].apply(dann.Config(**TINY)), [1], progress=False)
    assert wide.net("dann")[0].gy.sizes[1] == 16 and wide.net("source_only")[0].gy.sizes[1] == 8
    assert all(s.kind != "sanity" for s in dann.SWAPS if s.name != "no_reversal")


# --- configuration ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("knob, value, message", [
    ("steps", 0, "STEPS"), ("n_seeds", 0, "N_SEEDS"), ("lr0", 0.0, "LR0"), ("momentum", 1.0, "MOMENTUM"),
    ("lambda_max", -1.0, "LAMBDA_MAX"), ("angle", 200.0, "ANGLE"), ("noise", -0.1, "NOISE"),
    ("alignment", "coral", "ALIGNMENT"), ("arm", "bogus", "ARM"), ("sweep_angles", (10.0, 190.0), "SWEEP_ANGLES"),
])
def test_bad_config_raises(knob, value, message):
    with pytest.raises(ParameterError, match=message):
        dann.Config(**{knob: value})


def test_presets_and_smoke():
    assert set(dann.PRESETS) == {"small", "full"}
    cfg = replace(dann.PRESETS["full"], **dann.SMOKE)
    assert cfg.steps <= 5 and cfg.hidden == dann.PRESETS["full"].hidden


def test_rotation_sweep_shapes():
    sw = dann.rotation_sweep(dann.Config(**TINY), [0], (10.0, 50.0), progress=False)
    assert sw["angle"].tolist() == [10.0, 50.0] and sw["acc_target_dann"].shape == (2,)
    with pytest.raises(ParameterError, match="angles"):
        dann.rotation_sweep(dann.Config(**TINY), [0], ())


def test_image_net_shapes_and_member_independence():
    from featurelab.papers import dann_images

    for size in (14, 28):
        net = dann_images.DANNConvNet([0, 1], size=size, c1=4, c2=6)
        x = torch.randn(2, 3, 3, size, size)
        f = net.features(x)
        assert f.shape == (2, 3, net.feature_dim)
        assert net.label_head(f).shape == (2, 3, 10) and net.domain_head(f).shape == (2, 3)
        x2 = x.clone()
        x2[0] += 1.0
        assert torch.allclose(net.features(x2)[1], f[1])
    with pytest.raises(ParameterError, match="SIZE"):
        dann_images.ImagesConfig(size=40)


def test_run_images_smoke():
    from featurelab.data import DataError, find_dataset
    from featurelab.papers import dann_images

    try:
        find_dataset("fashion_mnist", download=False)
    except DataError:
        pytest.skip("Fashion-MNIST files not installed")
    cfg = dann_images.ImagesConfig(n_train=20, n_test=20, size=14, channels=(4, 6), steps=3, batch=4)
    r = dann_images.run_images(cfg, [0], progress=False)
    assert r.acc_target_dann.shape == r.margin.shape == (1,)
    assert np.isnan(r.acc_target_train_on_target[0])
    assert r.examples["target"].shape == (8, 3, 14, 14)

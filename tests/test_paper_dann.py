"""Unit tests of featurelab.papers.dann (Ganin et al. 2016): fast, seeded, CPU only."""

import math

import numpy as np
import pytest
import torch

from featurelab.papers import dann


# --- gradient reversal layer -------------------------------------------------------------------------------
def test_grl_is_identity_forward_and_minus_lambda_backward():
    x = torch.randn(3, 4, requires_grad=True)
    y = dann.grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    (y * torch.arange(4.0)).sum().backward()
    assert torch.allclose(x.grad, -0.7 * torch.arange(4.0).expand(3, 4))


def test_grl_per_member_lambda_and_zero_lambda_blocks_gradient():
    x = torch.randn(2, 5, 3, requires_grad=True)
    lam = torch.tensor([1.0, 0.0]).view(2, 1, 1)
    dann.grad_reverse(x, lam).sum().backward()
    assert torch.allclose(x.grad[0], -torch.ones(5, 3))
    assert torch.count_nonzero(x.grad[1]) == 0


def test_domain_gradient_reaches_features_reversed():
    """Through the GRL, G_f gets exactly minus the domain-loss gradient it would get without it."""
    net = dann.DANNNet(init_seeds=[0])
    x = torch.randn(1, 16, 2)
    grads = []
    for lam in (1.0, -1.0):  # -1 undoes the reversal: the plain gradient
        net.zero_grad()
        _, dom = net(x, lam)
        dom.sum().backward()
        grads.append(net.f1.weight.grad.clone())
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], -grads[1])


# --- schedules ----------------------------------------------------------------------------------------------
def test_schedules_at_start_and_end():
    assert dann.grl_lambda(0.0) == 0.0
    assert dann.grl_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann.grl_lambda(1.0) > 0.999
    assert dann.learning_rate(0.0) == pytest.approx(0.01)
    assert dann.learning_rate(1.0) == pytest.approx(0.01 / 11**0.75)
    assert dann.learning_rate(0.0, mu0=0.05) == pytest.approx(0.05)
    ps = np.linspace(0, 1, 11)
    assert np.all(np.diff([dann.grl_lambda(p) for p in ps]) > 0)
    assert np.all(np.diff([dann.learning_rate(p) for p in ps]) < 0)


# --- data ---------------------------------------------------------------------------------------------------
def test_rotate_preserves_shape_norm_and_turns_by_the_angle():
    x = np.random.default_rng(0).normal(size=(50, 2))
    r = dann.rotate(x, 35.0)
    assert r.shape == x.shape
    assert np.allclose(np.linalg.norm(r, axis=1), np.linalg.norm(x, axis=1))
    turn = np.degrees(np.arctan2(r[:, 1], r[:, 0]) - np.arctan2(x[:, 1], x[:, 0])) % 360
    assert np.allclose(turn, 35.0)


def test_moons_domains_shapes_and_labels():
    d = dann.make_moons_domains(n_train=40, n_test=30, angle=40.0, seed=3)
    assert d.xs_train.shape == d.xt_train.shape == (40, 2)
    assert d.xs_test.shape == d.xt_test.shape == (30, 2)
    assert d.xs_train.dtype == np.float32 and d.ys_train.dtype == np.int64
    assert np.bincount(d.ys_train).tolist() == [20, 20]
    again = dann.make_moons_domains(n_train=40, n_test=30, angle=40.0, seed=3)
    assert np.array_equal(d.xt_train, again.xt_train)


# --- proxy A-distance ---------------------------------------------------------------------------------------
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
    xs = torch.as_tensor(np.stack([x.xs_train for x in d]))
    ys = torch.as_tensor(np.stack([x.ys_train for x in d]))
    xt = torch.as_tensor(np.stack([x.xt_train for x in d]))
    both = dann.DANNNet(init_seeds=[0, 1], hidden=8)
    dann.train_dann(both, xs, ys, xt, torch.tensor([1.0, 0.0]), [0, 1], steps=15, batch=8)
    alone = dann.DANNNet(init_seeds=[1], hidden=8)
    dann.train_dann(alone, xs[1:], ys[1:], xt[1:], torch.tensor([0.0]), [1], steps=15, batch=8)
    assert torch.allclose(both.f1.weight[1], alone.f1.weight[0], atol=1e-5)
    assert torch.allclose(both.d2.weight[1], alone.d2.weight[0], atol=1e-5)


def test_run_moons_smoke():
    cfg = dann.MoonsConfig(n_seeds=2, n_train=60, n_test=50, hidden=8, steps=40, batch=16)
    r = dann.run_moons(cfg, seeds=[5, 6], progress=False)
    for name in (
        "acc_target_dann",
        "acc_target_source_only",
        "acc_source_dann",
        "domain_head_acc_dann",
        "domain_head_acc_source_only",
        "pad_dann",
        "pad_source_only",
        "pad_input",
    ):
        v = getattr(r, name)
        assert v.shape == (2,), name
        assert np.all((v >= 0) & (v <= 2)), name
    assert r.margin.shape == (2,)
    assert r.member("source_only", 1) == 3
    assert r.log.domain_acc.shape == (4, len(r.log.steps))
    s = r.summary()
    assert set(s) >= {"margin_mean", "margin_min", "seconds"}
    xx, yy, prob = dann.predict_grid(r.model, r.member("dann", 0), n=20)
    assert xx.shape == yy.shape == prob.shape == (20, 20)
    assert np.all((prob >= 0) & (prob <= 1))
    _, _, pdom = dann.predict_grid(r.model, 0, n=10, head="domain")
    assert pdom.shape == (10, 10)
    assert dann.member_features(r.model, 2, r.domains[0].xs_test).shape == (50, 8)


def test_swap_makes_both_arms_identical():
    """dann_lambda=0 turns the DANN arm into the baseline: same init, data, batches → same numbers."""
    cfg = dann.MoonsConfig(n_seeds=1, n_train=40, n_test=40, hidden=8, steps=20, batch=8)
    r = dann.run_moons(cfg, seeds=[1], progress=False, dann_lambda=0.0)
    assert r.margin[0] == pytest.approx(0.0, abs=1e-6)
    assert r.domain_head_acc_dann[0] == pytest.approx(r.domain_head_acc_source_only[0], abs=1e-6)
    values = dann.claim_values(r)
    for name in dann.THRESHOLDS:  # every asserted claim fails under the swap
        assert np.mean(values[name]) < dann.THRESHOLDS[name]


def test_conv_net_shapes_and_member_independence():
    for size in (14, 28):
        net = dann.DANNConvNet(init_seeds=[0, 1], size=size, c1=4, c2=6)
        x = torch.randn(2, 3, 3, size, size)
        logits, dom = net(x, 1.0)
        assert logits.shape == (2, 3, 10) and dom.shape == (2, 3)
        assert net.features(x).shape == (2, 3, net.feature_dim)
        x2 = x.clone()
        x2[0] += 1.0  # change member 0's input only
        assert torch.allclose(net.features(x2)[1], net.features(x)[1])


def test_run_images_smoke():
    from featurelab.data import DataError, find_dataset

    try:
        find_dataset("fashion_mnist", download=False)
    except DataError:
        pytest.skip("Fashion-MNIST files not installed")
    cfg = dann.ImagesConfig(n_train=20, n_test=20, size=14, channels=(4, 6), steps=3, batch=4)
    r = dann.run_images(cfg, seeds=[0], progress=False)
    assert r.acc_target_dann.shape == r.margin.shape == (1,)
    assert np.isnan(r.acc_target_train_on_target[0])
    assert r.examples["target"].shape == (8, 3, 14, 14)


def test_bad_images_config_raises():
    with pytest.raises(ValueError, match="size"):
        dann.ImagesConfig(size=40)
    with pytest.raises(ValueError, match="steps"):
        dann.ImagesConfig(steps=0)
    assert set(dann.IMAGE_PRESETS) == {"small", "full"}


# --- configuration ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "knob, value, message",
    [
        ("steps", 0, "steps"),
        ("n_seeds", 1.5, "n_seeds"),
        ("lr0", -0.1, "lr0"),
        ("momentum", 1.0, "momentum"),
        ("lambda_max", -1.0, "lambda_max"),
        ("angle", 200.0, "angle"),
        ("noise", -0.1, "noise"),
    ],
)
def test_bad_config_raises(knob, value, message):
    with pytest.raises(ValueError, match=message):
        dann.MoonsConfig(**{knob: value})


def test_presets_and_overrides():
    assert set(dann.PRESETS) == {"small", "full"}
    cfg = dann.moons_config("small", steps=None, angle=30.0)
    assert cfg.steps == dann.PRESETS["small"].steps and cfg.angle == 30.0
    with pytest.raises(ValueError, match="allowed"):
        dann.moons_config("huge")
    with pytest.raises(ValueError, match="unknown MoonsConfig knob"):
        dann.moons_config("small", bogus=1)
    assert dann.seeds_for(2, 3) == [200, 201, 202]


def test_rotation_sweep_is_one_batched_run():
    cfg = dann.MoonsConfig(n_seeds=1, n_train=20, n_test=20, steps=5, hidden=4)
    out = dann.run_rotation_sweep(cfg, [3], angles=(0.0, 45.0), progress=False)
    assert out["angle"].tolist() == [0.0, 45.0]
    assert out["acc_target_dann"].shape == (2,) and out["acc_target_source_only"].shape == (2,)
    with pytest.raises(ValueError, match="no angles"):
        dann.run_rotation_sweep(cfg, [3], angles=())

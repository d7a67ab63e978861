"""Unit tests of featurelab.papers.mup_feature_learning (Yang & Hu 2021): fast, seeded, CPU only."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from featurelab.papers import mup_feature_learning as mup
from featurelab.base import ParameterError


def _model(p, n, seed=0, n0=128, d=64, k=10):
    return mup.AbcMLP(d, n, k, p, n0=n0, generator=torch.Generator().manual_seed(seed))


def test_table_matches_the_paper_exponents():
    sp, ntk, mu = (mup.PARAMETRIZATIONS[k] for k in ("SP", "NTK", "muP"))
    assert sp.a == (0, 0, 0) and sp.b == (0, 0.5, 0.5) and sp.c == 0
    assert ntk.a == (0, 0.5, 0.5) and ntk.b == (0, 0, 0) and ntk.c == 0
    assert mu.a == (-0.5, 0, 0.5) and mu.b == (0.5, 0.5, 0.5) and mu.c == 0
    assert [r["parametrization"] for r in mup.abc_table()] == ["SP", "NTK", "muP"]


def test_all_parametrizations_coincide_at_the_base_width():
    x = torch.randn(5, 64)
    outs = [_model(p, 128)(x)[0] for p in ("SP", "NTK", "muP")]
    assert torch.allclose(outs[0], outs[1]) and torch.allclose(outs[0], outs[2])


@pytest.mark.parametrize("n", [64, 512, 2048])
def test_effective_scalings(n):
    d, n0 = 64, 128
    mu = _model("muP", n).effective()
    # μP: init variance of W is 1/d, 1/n, n0/n^2; effective SGD rate on W scales like n, 1, 1/n
    assert np.allclose(mu["init_var"], (1 / d, 1 / n, n0 / n**2))
    assert np.allclose(mu["lr"], (n / (n0 * d), 1 / n0, 1 / n))
    ntk = _model("NTK", n).effective()
    assert np.allclose(ntk["init_var"], (1 / d, 1 / n, 1 / n))
    assert np.allclose(ntk["lr"], (1 / d, 1 / n, 1 / n))
    sp = _model("SP", n).effective()
    assert np.allclose(sp["init_var"], (1 / d, 1 / n, 1 / n))
    assert np.allclose(sp["lr"], (1 / d, 1 / n0, 1 / n0))


def test_stored_init_std_follows_b():
    m = _model("muP", 2048)
    for w in m.w[:2]:
        assert abs(float(w.detach().std()) - math.sqrt(128 / 2048)) < 0.02


def test_one_sgd_step_updates_stored_tensors_by_lr_times_grad():
    torch.manual_seed(0)
    m = _model("NTK", 32)
    x, y = torch.randn(8, 64), torch.randint(0, 10, (8,))
    before = [w.detach().clone() for w in m.w]
    loss = torch.nn.functional.cross_entropy(m(x)[0], y)
    grads = torch.autograd.grad(loss, m.w)
    mup.train_abc(m, x, y, x, torch.arange(8).view(1, 8), lr=0.5)
    for b, w, g in zip(before, m.w, grads):
        assert torch.allclose(w.detach(), b - 0.5 * g, atol=1e-6)


def _movement(p, n, steps=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(256, 64, generator=g)  # synthetic digits-like inputs in [0, 1] (no sklearn import: fast)
    y = (x @ torch.randn(64, 10, generator=g)).argmax(1)
    batches = torch.stack([torch.randperm(256, generator=g)[:64] for _ in range(steps)])
    return mup.train_abc(_model(p, n, seed), x, y, x[:64], batches, lr=16.0).movement[-1]


@pytest.mark.parametrize("seed", [0, 1])
def test_ntk_features_freeze_with_width_but_mup_features_do_not(seed):
    ntk = _movement("NTK", 64, seed=seed) / _movement("NTK", 1024, seed=seed)
    mu = _movement("muP", 64, seed=seed) / _movement("muP", 1024, seed=seed)
    assert 2.0 < ntk < 6.5  # ≈ sqrt(16) = 4 (μP: ≈ 1)
    assert 0.5 < mu < 1.6  # ≈ 1


def test_divergence_is_reported():
    x, y = torch.rand(100, 64), torch.randint(0, 10, (100,))
    m = _model("SP", 256)
    with torch.no_grad():
        m.w[2].mul_(float("inf"))  # logits overflow at the first step
    rec = mup.train_abc(m, x, y, x[:10], torch.arange(100).view(1, 100).repeat(5, 1), lr=1.0)
    assert rec.diverged and math.isnan(rec.train_loss) and len(rec.movement) == 5


def test_fit_slope_recovers_a_power_law():
    w = np.array([64, 128, 256, 512])
    assert abs(mup.fit_slope(w, 3.0 * w**-0.5) + 0.5) < 1e-9
    assert math.isnan(mup.fit_slope(w, [1.0, float("nan"), 1.0, 1.0]))


def _fake_result():
    res = mup.SweepResult(widths=np.array([64, 128, 1024]), seeds=[0, 1], n0=128)
    res.slopes = {"baseline": np.array([-0.5, -0.4]), "method": np.array([0.0, 0.1])}
    res.loss = {"baseline": np.array([[1.0, 1.2, 1.5], [1.0, 1.2, 1.6]]), "method": np.array([[1.4, 1.4, 1.3], [1.5, 1.2, 1.3]])}
    res.acc = {"baseline": np.array([[0.8, 0.8, 0.83], [0.8, 0.8, 0.82]]), "method": np.array([[0.8, 0.8, 0.84], [0.8, 0.8, 0.84]])}
    return res


def test_claim_values():
    cv = mup.claim_values(_fake_result())
    assert np.allclose(cv["ntk_slope_dev"], [0, 0.1]) and np.allclose(cv["mup_slope_abs"], [0, 0.1])
    assert np.allclose(cv["ntk_minus_mup_train_loss"], [0.2, 0.3])  # NTK − μP: positive when μP fits better
    assert np.allclose(cv["mup_wider_vs_base"], [0.1, -0.1])  # loss at n0 = 128 minus at n_max
    assert np.allclose(cv["mup_loss_min_vs_max"], [0.1, 0.2])
    assert np.allclose(cv["mup_minus_ntk_test_acc"], [0.01, 0.02])


def test_claims_and_swaps_are_declared_in_the_module():
    names = {c.name for c in mup.CLAIMS}
    assert names == {"ntk_slope_deviation", "mup_slope_abs", "ntk_minus_mup_train_loss_at_max_width"}
    loss = next(c for c in mup.CLAIMS if c.key == "ntk_minus_mup_train_loss")
    assert loss.reduce == "min" and loss.threshold == 0.15  # worst seed, not the mean
    swaps = {s.name: s.apply(mup.PRESETS["small"]) for s in mup.SWAPS}
    assert swaps["ntk_in_mup_place"].method == "NTK" and swaps["mup_in_ntk_place"].baseline == "muP"
    null = swaps["ntk_noise_null"]
    assert null.method == "NTK" and null.method_init == 1 and null.baseline == "NTK"


def test_noise_null_changes_only_the_initial_weights():
    cfg = dataclasses.replace(mup.PRESETS["small"], n_seeds=1, widths=(32, 64), steps=2, n_train=300, batch=64,
                              n_eval=32, sp_widths=(), method="NTK")
    same = mup.run(cfg, [0], progress=False)
    assert np.allclose(same.loss["method"], same.loss["baseline"])  # the baseline compared with itself: exactly 0
    null = mup.run(dataclasses.replace(cfg, method_init=1), [0], progress=False)
    assert not np.allclose(null.loss["method"], null.loss["baseline"])
    assert np.allclose(null.loss["baseline"], same.loss["baseline"])


@pytest.mark.parametrize("change", [
    {"n_seeds": 0}, {"widths": (64,)}, {"widths": (128, 64)}, {"lr": -1.0}, {"lr": float("nan")},
    {"method": "XYZ"}, {"baseline": "mean-field"}, {"n_train": 1300}, {"batch": 2000}, {"steps": 0},
    {"sp_widths": (0,)}, {"method_init": -1},
])
def test_bad_config_raises_parameter_error(change):
    with pytest.raises(ParameterError):
        dataclasses.replace(mup.PRESETS["small"], **change)


def test_bad_model_arguments_raise():
    with pytest.raises(ParameterError, match="parametrization"):
        mup.AbcMLP(64, 128, 10, "mean-field")
    with pytest.raises(ParameterError):
        mup.AbcMLP(64, 0, 10, "muP")

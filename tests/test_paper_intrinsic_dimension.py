"""Unit tests of featurelab.papers.intrinsic_dimension (Li et al. 2018): fast, seeded, CPU only."""

from __future__ import annotations

import math

from dataclasses import replace

import pytest
import torch

from featurelab.base import ParameterError

from featurelab.papers import intrinsic_dimension as idm


def _model(width: int = 16) -> torch.nn.Module:
    torch.manual_seed(0)
    return idm.make_mlp(64, width, depth=2)


def test_parameter_count_of_the_core_mlp():
    # 64·W + W + W·W + W + W·10 + 10
    from featurelab.models import Net, count_parameters

    assert isinstance(idm.make_mlp(64, 64), Net)
    assert count_parameters(idm.make_mlp(64, 64)) == 8970
    assert count_parameters(idm.make_mlp(64, 32)) == 3466


def test_gaussian_projection_has_unit_norm_columns():
    g = torch.Generator().manual_seed(0)
    P = idm.gaussian_projection(2000, 50, g)
    assert P.shape == (2000, 50)
    assert torch.allclose(P.norm(dim=0), torch.ones(50), atol=1e-6)
    raw = idm.gaussian_projection(2000, 50, torch.Generator().manual_seed(0), normalize=False)
    assert raw.norm(dim=0).mean() > 40  # ≈ sqrt(2000) without normalisation


@pytest.mark.parametrize("kind", idm.KINDS)
def test_zero_theta_d_reproduces_theta0_exactly(kind):
    model = _model()
    x = torch.rand(7, 64)
    sub = idm.SubspaceModel(model, d=32, kind=kind, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sub.theta_d, torch.zeros(32))
    assert torch.equal(sub(x), model(x))


@pytest.mark.parametrize("kind", idm.KINDS)
def test_gradients_reach_only_theta_d(kind):
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    sub = idm.SubspaceModel(model, d=24, kind=kind, generator=torch.Generator().manual_seed(2))
    theta0 = sub.theta0.clone()
    x, y = torch.rand(16, 64), torch.randint(0, 10, (16,))
    loss = torch.nn.functional.cross_entropy(sub(x), y)
    loss.backward()
    assert sub.theta_d.grad is not None and sub.theta_d.grad.abs().sum() > 0
    assert [name for name, p in sub.named_parameters() if p.requires_grad] == ["theta_d"]
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():  # one SGD step on the only trainable tensor
        sub.theta_d -= 0.1 * sub.theta_d.grad
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert torch.equal(sub.theta0, theta0)
    assert not torch.equal(sub.theta(), theta0)  # the step moved theta, through theta_d only


def test_gradient_is_P_transpose_times_full_gradient():
    model = _model()
    sub = idm.SubspaceModel(model, d=10, generator=torch.Generator().manual_seed(3))
    x, y = torch.rand(5, 64), torch.randint(0, 10, (5,))
    torch.nn.functional.cross_entropy(sub(x), y).backward()
    full = _model()
    torch.nn.functional.cross_entropy(full(x), y).backward()
    g_full = torch.cat([p.grad.reshape(-1) for p in full.parameters()])
    assert torch.allclose(sub.theta_d.grad, sub.P.T @ g_full, atol=1e-6)


def test_axis_projection_touches_exactly_d_coordinates():
    model = _model()
    d = 40
    sub = idm.SubspaceModel(model, d=d, kind="axis", generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        sub.theta_d.copy_(torch.randn(d).abs() + 0.1)
    changed = (sub.theta() != sub.theta0).sum().item()
    assert changed == d
    P = sub.projection_matrix()
    assert P.shape == (sub.D, d)
    assert torch.equal(P.sum(dim=0), torch.ones(d))  # one 1 per column
    assert P.sum(dim=1).max() == 1  # distinct coordinates
    assert torch.allclose(sub.theta(), sub.theta0 + P @ sub.theta_d)


def test_gaussian_theta_matches_the_formula_and_moves_every_coordinate():
    sub = idm.SubspaceModel(_model(), d=8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        sub.theta_d.copy_(torch.randn(8))
    assert torch.allclose(sub.theta(), sub.theta0 + sub.P @ sub.theta_d, atol=1e-6)
    assert (sub.theta() != sub.theta0).all()


def test_interpolation_is_linear_in_log_d():
    curve = {64: 0.5, 128: 0.7, 256: 0.9, 512: 0.95}
    assert idm.interpolate_d_int90(curve, 0.8) == pytest.approx(math.sqrt(128 * 256))
    assert idm.interpolate_d_int90(curve, 0.7) == pytest.approx(128)
    assert idm.interpolate_d_int90(curve, 0.4) == 64  # already solved at the smallest d: an upper bound
    assert idm.interpolate_d_int90(curve, 0.99) == math.inf


def _synthetic(d_star: float):
    """Accuracy rising linearly in log2 d, crossing 0.9 exactly at d_star; records the d's asked for."""
    calls: list[int] = []

    def acc(d: int) -> float:
        calls.append(d)
        return 0.9 + 0.1 * (math.log2(d) - math.log2(d_star))

    return acc, calls


@pytest.mark.parametrize(
    "d_star, expected_calls", [(181.0, [128, 256]), (90.0, [128, 64]), (700.0, [128, 256, 512, 1024])]
)
def test_power_of_two_search_brackets_and_interpolates(d_star, expected_calls):
    acc, calls = _synthetic(d_star)
    d_int, curve = idm.search_d_int90(acc, 0.9, d_start=128, d_max=4096)
    assert calls == expected_calls
    assert set(curve) == set(calls)
    assert d_int == pytest.approx(d_star, rel=1e-9)


def test_search_gives_up_at_d_max():
    acc, calls = _synthetic(10_000.0)
    d_int, _ = idm.search_d_int90(acc, 0.9, d_start=128, d_max=1024)
    assert d_int == math.inf and max(calls) == 1024


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"widths": (64,)}, "at least two"),
        ({"threshold": 1.5}, "THRESHOLD"),
        ({"dataset": "mnist"}, "DATASET"),
        ({"contrast_width": 48}, "CONTRAST_WIDTH"),
        ({"d_start": 0}, "D_START"),
        ({"d_start": 512, "d_max": 256}, "D_START"),
        ({"contrast": "sparse"}, "CONTRAST"),
        ({"projection": "fastfood"}, "PROJECTION"),
        ({"steps": 0}, "STEPS"),
        ({"n_train": 1790}, "N_TRAIN"),
    ],
)
def test_bad_config_raises_a_clear_parameter_error(changes, message):
    with pytest.raises(ParameterError, match=message):
        idm.Config(**changes)


def test_presets_smoke_and_contrast_width():
    assert set(idm.PRESETS) == {"small", "full"}
    assert idm.PRESETS["small"].contrast_at == 64
    assert idm.Config(contrast_width=32).contrast_at == 32
    cfg = replace(idm.PRESETS["full"], **idm.SMOKE)
    assert cfg.widths == idm.PRESETS["full"].widths and cfg.steps <= 5


def test_split_uses_the_core_digits_loader_with_n_train_images():
    from featurelab.data import load_digits_split

    a, b = idm.load_data(idm.PRESETS["small"], 0), idm.load_data(idm.PRESETS["small"], 1)
    assert a.x_train.shape == (1200, 64) and a.x_test.shape == (597, 64)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert not torch.equal(a.x_train, b.x_train)
    core = load_digits_split(test_size=(1797 - 1200 - 0.5) / 1797, seed=0)
    assert torch.equal(a.x_train, core.x_train)
    shuffled = idm.load_data(idm.Config(shuffle_labels=True), 0)
    assert torch.equal(shuffled.x_train, a.x_train) and not torch.equal(shuffled.y_train, a.y_train)
    assert torch.equal(torch.sort(shuffled.y_train).values, torch.sort(a.y_train).values)


TINY = dict(n_train=150, widths=(4, 8), steps=3, d_start=8, d_max=32, n_seeds=1)


def test_tiny_experiment_end_to_end_and_explore_curve():
    cfg = idm.Config(**TINY)
    res = idm.run(cfg, seeds=[0], progress=False)
    assert [r.width for r in res.runs] == [4, 8]
    assert all(r.curve and 0.0 <= r.baseline <= 1.0 for r in res.runs)
    assert res.at(8)[0].contrast_curve is not None  # contrast at the middle width
    values = idm.claim_values(res)
    assert {c.key for c in idm.CLAIMS} <= set(values) and "D_ratio" in values
    ds, accs = res.curve(8)
    assert ds == sorted(res.at(8)[0].curve) and len(accs) == len(ds)
    assert len(res.rows()) == 2
    d_known = ds[0]
    curve = idm.accuracy_curve(cfg, 0, (d_known, 3, 10_000), res)
    assert curve[8][0] == accs[0]  # reused from the search: same keys, same run
    assert curve[8][1] == idm.train_subspace(cfg, idm.load_data(cfg, 0), 8, 3, 0)
    assert math.isnan(curve[4][2])  # d > D


def test_swaps_are_config_changes_that_run():
    swaps = {s.name: s for s in idm.SWAPS}
    assert swaps["axis_projection"].apply(idm.Config()).projection == "axis"
    assert swaps["second_gaussian"].apply(idm.Config()).contrast == "gaussian"
    assert swaps["unnormalised_P"].apply(idm.Config()).normalize is False
    res = idm.run(swaps["second_gaussian"].apply(idm.Config(**TINY)), [0], progress=False)
    r = res.at(8)[0]
    assert r.contrast_curve != r.curve  # an independent Gaussian draw, not the same P again
    axis = idm.run(swaps["axis_projection"].apply(idm.Config(**TINY)), [0], progress=False)
    assert axis.at(4)[0].curve != res.at(4)[0].curve
    none = idm.run(idm.Config(**TINY, contrast="none"), [0], progress=False)
    assert math.isnan(idm.claim_values(none)["contrast_ratio"])

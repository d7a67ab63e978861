"""Unit tests of featurelab.papers.shortcut_availability: generator, reliance, Bayes reference, models."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import shortcut_availability as sa


def test_generator_shapes_and_pairing():
    d = sa.make_two_latent_dataset(300, rho_s=0.7, rho_c=0.9, alpha_s=4.0, dim=30, seed=1)
    assert d.x.shape == (300, 30) and d.y.shape == (300,) and d.z.shape == (300, 2)
    assert d.embedding.shape == (2, 30) and d.x.dtype == torch.float32
    assert set(d.y.unique().tolist()) == {-1.0, 1.0}
    assert torch.allclose(d.embedding.norm(dim=1), torch.ones(2), atol=1e-5)
    # noise-free inputs are exactly the amplified latents along the two directions
    assert torch.allclose(d.embed(d.z), d.x, atol=1e-4)
    # changing only the amplification keeps labels, latents and directions (a paired sweep)
    d1 = sa.make_two_latent_dataset(300, rho_s=0.7, rho_c=0.9, alpha_s=1.0, dim=30, seed=1)
    assert torch.equal(d1.z, d.z) and torch.equal(d1.y, d.y) and torch.equal(d1.embedding, d.embedding)
    assert torch.allclose((d.x - d1.x).norm(dim=1), 3.0 * d.z[:, 0].abs(), atol=1e-3)


@pytest.mark.parametrize("rho_s,rho_c", [(0.7, 0.9), (0.8, 0.95)])
def test_predictivity_is_single_feature_bayes_accuracy(rho_s, rho_c):
    d = sa.make_two_latent_dataset(20_000, rho_s=rho_s, rho_c=rho_c, seed=0, dim=4)
    for col, rho in ((0, rho_s), (1, rho_c)):
        lda = sa.fit_lda(d.z[:, col:col + 1], d.y)
        acc = lda.score(d.z[:, col:col + 1].numpy(), d.y.numpy())
        assert abs(acc - rho) < 0.01, (col, acc, rho)
    assert abs(sa.predictivity_to_mean(0.5)) < 1e-12


def test_reliance_of_single_feature_classifiers():
    mu = torch.tensor([0.8, 1.3])
    g = sa.latent_grid(mu, size=40)
    assert g.shape == (1600, 2) and (g != 0).all()
    assert sa.reliance(torch.sign(g[:, 0]), g) == pytest.approx(1.0)     # uses only the shortcut
    assert sa.reliance(torch.sign(g[:, 1]), g) == pytest.approx(-1.0)    # uses only the core
    # equal weight on the grid's scale -> 0; a constant classifier relies on nothing -> 0
    assert sa.reliance(torch.sign(g[:, 0] / mu[0] + g[:, 1] / mu[1]), g) == pytest.approx(0.0, abs=0.01)
    assert sa.reliance(torch.ones(1600), g) == pytest.approx(0.0)
    # batched decisions (..., m) -> (...)
    both = torch.stack([torch.sign(g[:, 0]), torch.sign(g[:, 1])])
    np.testing.assert_allclose(sa.reliance(both, g), [1.0, -1.0])


def test_bayes_and_lda_have_no_bias():
    d = sa.make_two_latent_dataset(4000, rho_s=0.8, rho_c=0.9, latent_corr=0.6, seed=3, dim=4)
    g = sa.latent_grid(d.mu, 40)
    bayes = sa.bayes_decision(g, d.mu, d.cov)
    assert sa.shortcut_bias(bayes, g, d.mu, d.cov) == pytest.approx(0.0)
    lda = sa.fit_lda(d.z, d.y).predict(g.numpy())
    assert abs(sa.shortcut_bias(lda, g, d.mu, d.cov)) <= 0.05
    # with correlated latents the optimal classifier leans on the core: reliance < 0
    assert sa.reliance(bayes, g) < -0.5


def test_converged_linear_is_scale_invariant():
    """The logistic-regression MLE is not biased by amplification (what the notebook's claim rests on)."""
    biases = []
    for a in (1.0, 8.0):
        d = sa.make_two_latent_dataset(1000, alpha_s=a, dim=10, seed=2)
        g = sa.latent_grid(d.mu, 30)
        dec, _ = sa.converged_linear_decisions(d.x[None], d.y[None], d.embed(g)[None])
        biases.append(float(sa.shortcut_bias(dec, g, d.mu, d.cov)[0]))
    assert abs(biases[0] - biases[1]) <= 0.02 and max(map(abs, biases)) <= 0.15


def test_first_step_decision_follows_amplification():
    """The first GD step weights latent i by ~α_i² μ_i, so its bias grows with amplification (≈0.4 → 1.9)."""
    for a, expect in ((1.0, lambda b: b < 0.9), (8.0, lambda b: b > 1.5)):
        d = sa.make_two_latent_dataset(50, alpha_s=a, dim=10, seed=0)
        g = sa.latent_grid(d.mu, 40)
        b = float(sa.shortcut_bias(sa.first_step_decision(g, d), g, d.mu, d.cov))
        assert expect(b), (a, b)
    # one tiny GD step of a zero-initialised linear model gives exactly these decisions
    d = sa.make_two_latent_dataset(4000, alpha_s=4.0, dim=10, seed=1)
    g = sa.latent_grid(d.mu, 20)
    w = d.x.T @ d.y / len(d.y)          # -grad at w=0 (up to the factor 1/2): the class-mean difference
    mean_w = (d.alpha * d.mu) @ d.embedding
    assert torch.nn.functional.cosine_similarity(w, mean_w, dim=0) > 0.99
    assert (torch.sign(d.embed(g) @ mean_w) == sa.first_step_decision(g, d)).float().mean() > 0.99


def test_ensemble_models_and_gd_training():
    lin = sa.build_model("linear", [0, 1, 2], dim=5, width=8)
    x = torch.randn(3, 40, 5, generator=torch.Generator().manual_seed(0))
    assert lin(x).shape == (3, 40, 1)
    # depth 0 is an affine map per member, and member m does not depend on the other members
    layer = lin.layers[0]
    assert torch.allclose(lin(x), x @ layer.weight + layer.bias, atol=1e-6)
    assert torch.equal(sa.build_model("linear", [2], 5, 8).layers[0].weight[0], layer.weight[2])
    mlp = sa.build_model("mlp2", [0, 1, 2], dim=5, width=8)
    y = torch.sign(x[..., 0] + 0.1)
    tr = sa.train_gd(mlp, x, y, x[:, :10], steps=50, lr=0.5, checkpoints=[0, 10, 50])
    assert tr.loss.shape == (3, 3) and tr.decisions.shape == (3, 3, 10)
    assert (tr.loss[:, -1] < tr.loss[:, 0]).all()
    with pytest.raises(ValueError, match="unknown model"):
        sa.build_model("transformer", [0], 5, 8)


def test_bias_at_matched_loss_interpolates_and_masks():
    loss = np.array([0.7, 0.5, 0.3, 0.2])
    bias = np.array([1.0, 0.8, 0.4, 0.1])
    out = sa.bias_at_matched_loss(loss, bias, np.array([0.4, 0.25, 0.1, 0.9]))
    np.testing.assert_allclose(out[:2], [0.6, 0.25])
    assert np.isnan(out[2]) and np.isnan(out[3])


TINY = dict(n_train=60, dim=6, width=8, steps=20, early_step=5, n_seeds=2, alphas=(1.0, 4.0), grid_size=8,
            n_checkpoints=4, depth_models=("mlp2",))


def test_tiny_run_shapes_and_claim_values():
    cfg = dataclasses.replace(sa.PRESETS["small"], **TINY, heatmap_rhos=(0.6, 0.8), heatmap_alphas=(1.0, 2.0, 4.0))
    r = sa.run(cfg, [0, 1], progress=False)
    assert r.heatmap["mlp1_early"].shape == (2, 2, 3) and r.heatmap["linear_final"].shape == (2, 2, 3)
    assert r.bias["linear"].shape == (2, 2, len(r.steps)) and r.bias["mlp2"].shape == (2, 1, len(r.steps))
    assert r.early_bias("mlp1").shape == (2, 2) and r.converged_linear_bias.shape == (2, 2)
    assert r.first_step_bias.shape == (2, 2) and r.bayes_surface.shape == (8, 8) and r.grid_axes.shape == (2, 8)
    assert r.surfaces["mlp1"].shape == (2, len(r.steps), 8, 8) and r.surfaces["mlp2"].shape == (1, len(r.steps), 8, 8)
    assert r.steps[r.early_index] == 5 and r.steps[-1] == 20
    v = sa.claim_values(r)
    for c in sa.CLAIMS:
        assert len(v[c.key]) == 2
    assert v["matched_gap"].min() >= 0  # a mean of |gap|: signs cannot cancel
    assert {"late_matched_gap_mlp1", "early_loss_mlp1", "first_step_bias"} <= set(v)


def test_matched_gap_is_mean_absolute_and_step_pairing_differs():
    r = sa.run(dataclasses.replace(sa.PRESETS["small"], **TINY), [0, 1], progress=False)
    gaps = sa.matched_gaps(r, "mlp1", 1)
    np.testing.assert_allclose(sa.claim_values(r)["matched_gap"], np.nanmean(np.abs(gaps), axis=1), equal_nan=True)
    r.cfg = dataclasses.replace(r.cfg, compare_at="step")
    assert not np.allclose(sa.matched_gaps(r, "mlp1", 1), gaps, equal_nan=True)


def test_swaps_are_config_changes_that_validate():
    base = sa.PRESETS["small"]
    cfgs = {s.name: s.apply(base) for s in sa.SWAPS}
    assert cfgs["no_amplification"].alphas == (1.0,)
    assert cfgs["trained_on"].early_step == base.steps
    assert cfgs["stopped_early"].steps == base.early_step + 20
    assert cfgs["matched_step"].compare_at == "step"
    assert sa.normalised_bias(0.97, -0.94) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "change,match",
    [
        ({"rho_s": 0.4}, "RHO_S"),
        ({"rho_s": 0.95}, "must not exceed RHO_C"),
        ({"alphas": (1.0, -2.0)}, "ALPHAS"),
        ({"models": ("mlp1",)}, "must include 'linear'"),
        ({"models": ("linear", "transformer")}, "MODELS"),
        ({"early_step": 700}, "EARLY_STEP"),
        ({"heatmap_rhos": (0.6,)}, "HEATMAP_RHOS and HEATMAP_ALPHAS"),
        ({"compare_at": "epoch"}, "COMPARE_AT"),
    ],
)
def test_bad_config_raises(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(sa.PRESETS["small"], **change)


def test_bad_generator_arguments_raise():
    with pytest.raises(ValueError, match="predictivity must be in"):
        sa.make_two_latent_dataset(10, rho_s=1.0)
    with pytest.raises(ValueError, match="latent_corr"):
        sa.make_two_latent_dataset(10, latent_corr=1.0)
    with pytest.raises(ValueError, match="amplifications must be > 0"):
        sa.make_two_latent_dataset(10, alpha_s=0.0)

"""Unit tests of featurelab.papers.diffusion_classifier_features (a frozen denoiser as a feature extractor): fast,
seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab import diffusion as D
from featurelab.papers import diffusion_classifier_features as P
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(readout="unet"), dict(image_size=16), dict(probe_t=1000), dict(probe_t=-1),
                                 dict(sweep_ts=(0, 1000)), dict(n_probe=20_000), dict(steps=0), dict(n_seeds=0),
                                 dict(pca_k=0), dict(pca_k=197), dict(depth=1), dict(lr=0.0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(P.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"READOUT='unet'.*one of 'denoiser'"):
        dataclasses.replace(P.PRESETS["small"], readout="unet")
    with pytest.raises(ParameterError, match="N_PROBE"):
        dataclasses.replace(P.PRESETS["small"], n_probe=20_000)


def _tiny(seed=0):
    cfg = dataclasses.replace(P.PRESETS["small"], hidden=16, emb_dim=8)
    return cfg, P.untrained(cfg, seed)


def test_read_is_one_forward_pass_and_x0_hat_is_the_formula():
    cfg, model = _tiny()
    sched = P.schedule()
    g = torch.Generator().manual_seed(1)
    x0, eps = torch.rand(4, cfg.dim, generator=g) * 2 - 1, torch.randn(4, cfg.dim, generator=g)
    t = 250
    out = P.read(model, x0, t, eps, sched)
    ab = sched.alpha_bar[t]
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    assert torch.allclose(out["x_t"], x_t, atol=1e-6)
    e_hat = model(x_t, torch.full((4,), t), None)
    assert torch.allclose(out["x0_hat"], (x_t - (1 - ab).sqrt() * e_hat) / ab.sqrt(), atol=1e-5)
    assert set(out) == {"x_t", "x0_hat", "block0", "block1"} and out["block1"].shape == (4, 16)


def test_a_perfect_noise_predictor_recovers_x0():
    sched = P.schedule()
    g = torch.Generator().manual_seed(2)
    x0, eps = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g)

    class Oracle(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def features(self, x, t, y):
            return {}

        def forward(self, x, t, y=None):
            return eps

    out = P.read(Oracle(), x0, 400, eps, sched)
    assert torch.allclose(out["x0_hat"], x0, atol=1e-4)


def test_wiener_is_the_gaussian_posterior_mean_and_pca_a_projection():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(6, 6, generator=g)
    x = torch.randn(4000, 6, generator=g) @ a + 0.5
    prior = P.GaussianPrior.fit(x)
    mu, cov = x.double().mean(0), torch.cov(x.double().T)
    ab = 0.6
    s2 = (1 - ab) / ab
    x_t = torch.randn(7, 6, generator=g)
    want = mu + (x_t.double() / ab ** 0.5 - mu) @ torch.linalg.solve(cov + s2 * torch.eye(6, dtype=torch.float64), cov)
    assert torch.allclose(prior.wiener(x_t, ab).double(), want, atol=1e-5)
    # almost no noise: the Wiener filter hands back the rescaled input
    assert torch.allclose(prior.wiener(x_t, 1 - 1e-9), x_t, atol=1e-3)
    # PCA with every component is the identity on x_t/√ᾱ; with k < d it is idempotent
    assert torch.allclose(prior.pca(x_t, ab, 6), x_t / ab ** 0.5, atol=1e-5)
    once = prior.pca(x_t, ab, 2)
    assert torch.allclose(prior.pca(once, 1.0 - 1e-12, 2), once, atol=1e-4)


def test_probe_reads_linear_class_information():
    g = torch.Generator().manual_seed(4)
    y = torch.arange(200) % 4
    centres = torch.randn(4, 10, generator=g) * 3
    x = centres[y] + torch.randn(200, 10, generator=g)
    assert P.probe_accuracy(x[:150], y[:150], x[150:], y[150:]) > 0.95
    noise = torch.randn(200, 10, generator=g)
    assert P.probe_accuracy(noise[:150], y[:150], noise[150:], y[150:]) < 0.5


def _fake_result(cfg, accs):
    per = [P.Seed(s, a, a[cfg.probe_t][cfg.readout], a[cfg.probe_t]["x_t"], None, None, None, "cache")
           for s, a in enumerate(accs)]
    return P.Result(cfg, list(range(len(accs))), per, 0.0, 0.0, sorted(accs[0]))


def test_claim_values_read_the_swapped_readout():
    base = {arm: 0.5 for arm in P.PIXEL_ARMS + P.HIDDEN_ARMS}
    acc = {0: dict(base), 250: dict(base, denoiser=0.6, random_init=0.51, wiener=0.52, noisy_pixels=0.49)}
    for readout, gain in [("denoiser", 0.1), ("random_init", 0.01), ("wiener", 0.02), ("noisy_pixels", -0.01)]:
        cfg = dataclasses.replace(P.PRESETS["small"], probe_t=250, readout=readout)
        vals = P.claim_values(_fake_result(cfg, [acc]))
        assert np.isclose(vals["denoise_gain"][0], gain)
        assert np.isclose(vals["denoiser_minus_wiener"], 0.08)


def test_swaps_change_only_the_readout():
    cfg = P.PRESETS["small"]
    for s in P.SWAPS:
        new = s.apply(cfg)
        diff = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(new, f.name)}
        assert diff == {"readout"}, s.name


def test_untrained_is_the_denoisers_initialisation_and_training_is_cached(tmp_path):
    cfg = dataclasses.replace(P.PRESETS["small"], **P.SMOKE, hidden=16, emb_dim=8)
    data = P.load_data(cfg, 0)
    assert data.x_train.shape == (300, 196) and data.x_test.shape == (100, 196)
    assert float(data.x_train.min()) >= -1 and float(data.x_train.max()) <= 1
    assert torch.bincount(data.y_train).tolist() == [30] * 10
    fresh = P.untrained(cfg, 0)
    trained, info = P.denoiser(cfg, 0, data)
    assert info.source == "trained"
    moved = any(not torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), trained.state_dict().values()))
    assert moved
    again, info2 = P.denoiser(cfg, 0, data)
    assert info2.source == "cache"
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), again.state_dict().values()))


def test_smoke_run_has_every_arm():
    cfg = dataclasses.replace(P.PRESETS["small"], **P.SMOKE, hidden=16, emb_dim=8)
    res = P.run(cfg, [3])
    acc = res.per_seed[0].acc
    assert res.timesteps == sorted({cfg.probe_t, *cfg.sweep_ts})
    assert set(acc[cfg.probe_t]) == set(P.PIXEL_ARMS + P.HIDDEN_ARMS) | {"noisy_pixels"}
    vals = P.claim_values(res)
    assert len(vals["denoise_gain"]) == 1 and -1 <= vals["denoise_gain"][0] <= 1
    # the kit's MLPDenoiser is what is probed
    assert isinstance(res.per_seed[0].model, D.MLPDenoiser) and res.per_seed[0].model.n_classes == 0

"""Unit tests of featurelab.papers.gcrl (Bagi et al. 2023, GCRL): fast, seeded, CPU only."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from featurelab.papers import gcrl
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(prior="mixture"), dict(s_dim=0), dict(z_dim=0), dict(sigma=0.0),
                                 dict(prior_var=-1.0), dict(n_seeds=0), dict(epochs=-1), dict(adapt_batch=0),
                                 dict(train_seps=(0.3,)), dict(ood_sep=0.0), dict(n_per_env=2.5)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(gcrl.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"PRIOR='mixture'.*one of 'env', 'shared'"):
        dataclasses.replace(gcrl.PRESETS["small"], prior="mixture")


def test_simulator_keeps_the_separation_and_shapes():
    rng = np.random.default_rng(0)
    for sep in (0.2, 0.6, 1.0):
        x, y, full = gcrl.crossing(200, sep, rng, noise=0.0)
        assert x.shape == (200, 32) and y.shape == (200, 48) and full.shape == (200, 20, 2, 2)
        d = (full[:, :, 0] - full[:, :, 1]).norm(dim=-1)
        assert d.min() >= sep - 1e-4                                  # the rule: never closer than min_sep
        last = full[:, gcrl.T_OBS - 1].reshape(200, 1, 4)
        assert torch.allclose(y.view(200, 12, 4), full[:, gcrl.T_OBS:].reshape(200, 12, 4) - last, atol=1e-5)
    with pytest.raises(ParameterError):
        gcrl.crossing(3, np.array([0.1, 0.2]), rng)


def test_gauss_kl_matches_the_closed_form_and_torch():
    g = torch.Generator().manual_seed(0)
    mu, lv, pm, plv = (torch.randn(5, 3, generator=g) for _ in range(4))
    want = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * lv).exp()), torch.distributions.Normal(pm, (0.5 * plv).exp())).sum(1)
    assert torch.allclose(gcrl.gauss_kl(mu, lv, pm, plv), want, atol=1e-5)
    assert torch.allclose(gcrl.gauss_kl(pm, plv, pm, plv), torch.zeros(5), atol=1e-6)


def _model(prior="env", seed=0):
    cfg = dataclasses.replace(gcrl.PRESETS["small"], hidden=8, prior=prior)
    return cfg, gcrl.GCRL(cfg, 3, torch.Generator().manual_seed(seed))


def test_elbo_is_reconstruction_plus_kls_with_the_environment_prior():
    cfg, m = _model()
    g = torch.Generator().manual_seed(1)
    x, y, env = torch.randn(6, 32, generator=g), torch.randn(6, 48, generator=g), torch.tensor([0, 1, 2, 0, 1, 2])
    loss = gcrl.elbo_loss(m, x, y, env, "env", cfg.sigma, 0.5, torch.Generator().manual_seed(3))
    mz, lz, ms, ls = m.posteriors(x)
    gg = torch.Generator().manual_seed(3)
    ez, es = torch.randn(mz.shape, generator=gg), torch.randn(ms.shape, generator=gg)
    h = torch.cat([mz + ez * (0.5 * lz).exp(), ms + es * (0.5 * ls).exp()], 1)
    rec = (((m.dec_x(h) - x) ** 2).sum(1) + ((m.dec_y(h) - y) ** 2).sum(1)) / (2 * cfg.sigma ** 2)
    kl_z = gcrl.gauss_kl(mz, lz, torch.zeros_like(mz), torch.zeros_like(lz))
    kl_s = gcrl.gauss_kl(ms, ls, m.prior_mu[env], torch.full_like(ls, math.log(cfg.prior_var)))
    assert torch.allclose(loss, (rec + 0.5 * (kl_z + kl_s)).mean(), rtol=1e-5)
    shared = gcrl.elbo_loss(m, x, y, env, "shared", cfg.sigma, 0.5, torch.Generator().manual_seed(3))
    kl_s0 = gcrl.gauss_kl(ms, ls, torch.zeros_like(ms), torch.zeros_like(ls))
    assert torch.allclose(shared, (rec + 0.5 * (kl_z + kl_s0)).mean(), rtol=1e-5)
    with pytest.raises(ParameterError):
        gcrl.elbo_loss(m, x, y, env, "mixture", cfg.sigma)


def test_prior_means_are_distinct_and_equidistant():
    m = gcrl.prior_means(3, 2, 2.0, torch.Generator().manual_seed(0))
    assert torch.allclose(m.norm(dim=1), torch.full((3,), 2.0), atol=1e-5)
    d = torch.cdist(m, m)[torch.triu(torch.ones(3, 3, dtype=torch.bool), 1)]
    assert torch.allclose(d, torch.full((3,), 2.0 * math.sqrt(3)), atol=1e-4)
    assert gcrl.prior_means(3, 1, 1.0, torch.Generator()).flatten().tolist() == [-1.0, 0.0, 1.0]


def test_adapt_side_touches_only_that_encoder():
    cfg, m = _model()
    x, y = torch.randn(8, 32), torch.randn(8, 48)
    for side, moved in (("s", "enc_s"), ("z", "enc_z")):
        a = gcrl.adapt_side(m, side, x, y, dataclasses.replace(cfg, adapt_steps=3), 0)
        for name in ("enc_s", "enc_z", "dec_x", "dec_y"):
            same = all(torch.equal(p, q) for p, q in zip(getattr(m, name).parameters(), getattr(a, name).parameters()))
            assert same == (name != moved), (side, name)


def test_probe_r2_and_ade():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(200, 2, generator=g)
    t = 3 * f[:, 0] - f[:, 1] + 0.5
    assert gcrl.probe_r2(f, t, 100) == pytest.approx(1.0, abs=1e-9)
    assert gcrl.probe_r2(torch.randn(200, 2, generator=g), t, 100) < 0.2
    y = torch.zeros(4, 48)
    assert gcrl.ade(y + torch.tensor([3.0, 4.0]).repeat(24), y) == pytest.approx(5.0)


def test_swaps_and_run_end_to_end_tiny():
    names = {c.name for c in gcrl.CLAIMS}
    base = gcrl.PRESETS["small"]
    for swap in gcrl.SWAPS:
        assert set(swap.breaks) <= names
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert len(changed) == 1, swap.name                    # each swap changes one thing
    cfg = dataclasses.replace(base, n_per_env=32, n_test=32, epochs=1, adapt_steps=2, hidden=8, mlp_hidden=8,
                              n_seeds=1)
    res = gcrl.run(cfg, [7], progress=False)
    again = gcrl.run(cfg, [7], progress=False)
    v = gcrl.claim_values(res)
    w = gcrl.claim_values(again)                               # seeded (equal up to float round-off: BLAS
    assert v.keys() == w.keys()                                # may sum in another order under load)
    for k in v:
        assert v[k] == pytest.approx(w[k], rel=1e-6, abs=1e-9), k
    assert {c.key for c in gcrl.CLAIMS} <= set(v) and len(v["r2_s_minus_z"]) == 1
    assert set(res.per_seed[0].ade) >= {"gcrl_id", "gcrl_ood", "mlp_ood", "adapt_s", "adapt_z", "mlp_adapt_all"}
    with pytest.raises(ParameterError):
        gcrl.run(cfg, [])

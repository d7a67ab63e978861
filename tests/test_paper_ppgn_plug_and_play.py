"""Unit tests of featurelab.papers.ppgn_plug_and_play (Nguyen et al. 2017): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import ppgn_plug_and_play as pp
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(prior="dae"), dict(eps1=-0.1), dict(lr_frac=0.0), dict(n_chains=1),
                                 dict(steps=-1), dict(save_every=500), dict(n_seeds=0), dict(cv_folds=1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(pp.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"PRIOR='dae'.*one of 'learned'"):
        dataclasses.replace(pp.PRESETS["small"], prior="dae")


def _tiny_nets(seed=0):
    cfg = dataclasses.replace(pp.PRESETS["small"], ae_epochs=2, guide_epochs=2, hidden=16, code_dim=4, guide_hidden=8)
    return cfg, pp.train_nets(cfg, seed, progress=False)


def test_split_is_disjoint_stratified_and_60_20_20():
    parts = pp.split_digits(3)
    sizes = {k: len(v[0]) for k, v in parts.items()}
    assert sum(sizes.values()) == 1797 and abs(sizes["A"] - 0.6 * 1797) < 2 and abs(sizes["B"] - sizes["C"]) <= 1
    rows = {k: {tuple(r) for r in v[0]} for k, v in parts.items()}
    # digits has a few duplicate images; the splits are disjoint up to those
    assert len(rows["A"] & rows["B"]) + len(rows["A"] & rows["C"]) + len(rows["B"] & rows["C"]) < 10
    for _, y in parts.values():
        assert set(np.unique(y)) == set(range(10))


def test_condition_grad_is_official_one_minus_p_times_logit_gradient():
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Sigmoid())
    guide = torch.nn.Linear(6, 3)
    h = torch.rand(5, 4)
    target = torch.tensor([0, 1, 2, 1, 0])
    d, p_c = pp.condition_grad(guide, G, h, target)
    hh = h.clone().requires_grad_(True)
    logits = guide(G(hh))
    for i in range(5):
        (g,) = torch.autograd.grad(logits[i, target[i]], hh, retain_graph=True)
        p = logits[i].softmax(0)[target[i]]
        assert torch.isclose(p_c[i], p.detach())
        assert torch.allclose(d[i], (1 - p.detach()) * g[i], atol=1e-6)
    # it is not the gradient of log softmax (which adds the other classes' −p_j terms)
    (gl,) = torch.autograd.grad(logits.log_softmax(1).gather(1, target.view(-1, 1)).sum(), hh)
    assert not torch.allclose(gl, d, atol=1e-4)


def test_prior_terms_and_their_fixed_points():
    _, nets = _tiny_nets()
    h = torch.rand(7, nets.codes.shape[1])
    with torch.no_grad():
        assert torch.allclose(pp.prior_grad(nets, h, "learned"), nets.ae.E(nets.ae.G(h)) - h)
        assert torch.allclose(pp.prior_grad(nets, h, "untrained"), nets.ae_random.E(nets.ae_random.G(h)) - h)
    assert torch.equal(pp.prior_grad(nets, h, "none"), torch.zeros_like(h))
    assert torch.equal(pp.prior_grad(nets, h, "l2"), -h)
    assert torch.allclose(pp.prior_grad(nets, nets.mu.expand(3, -1), "gaussian"), torch.zeros(3, h.shape[1]), atol=1e-5)
    with pytest.raises(ParameterError):
        pp.prior_grad(nets, h, "dae")


def test_sampler_clips_steps_by_lr_and_is_seeded():
    _, nets = _tiny_nets()
    tgt = pp.targets(3)
    assert tgt.tolist() == [c for c in range(10) for _ in range(3)]
    a = pp.sample(nets, tgt, steps=6, eps1=0.3, start_seed=4, save_every=2)
    b = pp.sample(nets, tgt, steps=6, eps1=0.3, start_seed=4, save_every=2)
    assert torch.equal(a.saved, b.saved) and a.step == [0, 2, 4, 6]
    assert a.saved.shape == (4, 30, nets.codes.shape[1]) and a.p_c.shape == (4, 30)
    assert (a.saved >= 0).all() and (a.saved <= nets.h_max + 1e-6).all()
    assert a.ratio > 0
    one = pp.sample(nets, tgt, steps=1, eps1=0.0, prior="none", start_seed=4, save_every=1)
    h0 = pp.start_codes(nets, 30, 4)
    moved = (one.final - h0).abs()
    free = (one.final > 0) & (one.final < nets.h_max)      # coordinates not clipped: the mean step is lr
    assert moved.max() <= nets.lr * h0.shape[1] + 1e-5
    assert one.ratio == 0.0 and free.any()
    c = pp.sample(nets, tgt, steps=6, eps1=0.3, start_seed=5, save_every=2)
    assert not torch.equal(a.final, c.final)


def test_judges_on_known_inputs():
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0], [10.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert pp.class_diversity(x, y) == pytest.approx(7.5)
    assert pp.class_diversity(x, y, torch.tensor([True, True, True, False])) == pytest.approx(5.0)
    assert np.isnan(pp.class_diversity(x, y, torch.tensor([True, False, True, False])))
    rng = np.random.default_rng(0)
    real = rng.random((200, 8))
    assert pp.realism_accuracy(real, real + 3.0) == pytest.approx(1.0)
    assert pp.realism_accuracy(real, rng.random((200, 8))) < 0.7
    xs = torch.zeros(3, 2, 2)
    xs[1, 0] = 1.0
    keep = torch.tensor([[True, False], [True, True], [False, True]])
    assert pp.within_chain_diversity(xs, keep) == pytest.approx((2 ** 0.5 + 0.0) / 2)


def test_swaps_change_only_the_method_arm():
    base = pp.PRESETS["small"]
    arm_knobs = {"prior", "noise", "start_offset", "eps1"}
    names = {c.name for c in pp.CLAIMS}
    for swap in pp.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert changed and changed <= arm_knobs, (swap.name, changed)
        assert set(swap.breaks) <= names


def test_run_end_to_end_tiny_and_claim_values():
    cfg = dataclasses.replace(pp.PRESETS["small"], ae_epochs=2, guide_epochs=2, hidden=16, code_dim=4,
                              guide_hidden=8, n_chains=4, steps=4, save_every=2, n_seeds=2)
    res = pp.run(cfg, [0, 1], progress=False)
    assert len(res.method_stats) == 2 and res.method[0].saved.shape == (3, 40, 4)
    # the two arms share their starts (start_offset = 0) and differ after sampling
    assert torch.equal(res.method[0].saved[0], res.dgn[0].saved[0])
    values = pp.claim_values(res)
    assert {c.key for c in pp.CLAIMS} <= set(values) and len(values["realism_gain"]) == 2
    assert all(0.0 <= v <= 1.0 for v in values["realism_acc_method"])
    off = pp.run(dataclasses.replace(cfg, prior="none", start_offset=10_000), [0], progress=False)
    assert not torch.equal(off.method[0].saved[0], off.dgn[0].saved[0])
    with pytest.raises(ParameterError):
        pp.run(cfg, [])

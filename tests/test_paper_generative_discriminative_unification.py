"""Unit tests of featurelab.papers.generative_discriminative_unification (one denoiser in four roles): fast,
seeded, CPU only."""

import dataclasses
import math

import pytest
import torch

from featurelab import diffusion as D
from featurelab.papers import generative_discriminative_unification as P
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(labels="random"), dict(classifier="svm"), dict(t_min=600, t_max=500),
                                 dict(n_trials=0), dict(n_test=361), dict(cfg_scale=-1.0), dict(p_uncond=1.5),
                                 dict(steps=0), dict(n_seeds=0), dict(t_max=1000)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(P.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"LABELS='random'.*one of 'true'"):
        dataclasses.replace(P.PRESETS["small"], labels="random")
    with pytest.raises(ParameterError, match="T_MIN"):
        dataclasses.replace(P.PRESETS["small"], t_min=600)


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return D.MLPDenoiser(P.DIM, P.N_CLASSES, hidden=16, depth=1, emb_dim=8).eval()


def test_kit_diffusion_errors_are_the_formula_and_the_classifier_their_mean():
    model, sched = _tiny_model(), P.schedule()
    x = torch.randn(3, P.DIM, generator=torch.Generator().manual_seed(1))
    err = D.diffusion_errors(model, x, sched, n_trials=5, timesteps=range(50, 501),
                             generator=torch.Generator().manual_seed(2))
    assert err.shape == (3, 5, 10)
    kit = D.diffusion_classifier(model, x, sched, n_trials=5, timesteps=torch.arange(50, 501),
                                 generator=torch.Generator().manual_seed(2))
    assert torch.allclose(-err.mean(1), kit, atol=1e-6)
    # the formula by hand for image 0: the same (t, ε) for every class, ‖ε − ε_θ(x_t, t, c)‖² / d
    g = torch.Generator().manual_seed(2)
    t = torch.arange(50, 501)[torch.randint(0, 451, (5,), generator=g)]
    eps = torch.randn(5, P.DIM, generator=g)
    ab = sched.alpha_bar[t][:, None]
    xt = ab.sqrt() * x[0] + (1 - ab).sqrt() * eps
    for c in (0, 7):
        want = ((eps - model(xt, t, torch.full((5,), c))) ** 2).mean(1)
        assert torch.allclose(err[0, :, c], want, atol=1e-6)
    assert 50 <= int(t.min()) and int(t.max()) <= 500


def test_accuracy_vs_draws_uses_prefixes():
    err = torch.zeros(2, 3, 10)
    err[:, 0, 1] = -1.0            # first draw favours class 1
    err[:, 1:, 2] = -5.0           # later draws favour class 2
    y = torch.tensor([1, 2])
    assert P.accuracy_vs_draws(err, y, (1, 3)) == [0.5, 0.5]
    assert P.accuracy_vs_draws(err, torch.tensor([1, 1]), (1, 3)) == [1.0, 0.0]


class _Spy(torch.nn.Module):
    """ε = label (broadcast): shows which labels the sampler asked for."""

    n_classes = 10

    def __init__(self):
        super().__init__()
        self.ys = []

    def forward(self, x, t, y=None):
        self.ys.append(None if y is None else y.clone())
        y = torch.full_like(t, 10) if y is None else y
        return y.float()[:, None].expand_as(x) * 0.0 + y.float()[:, None] * 1e-3


def test_generate_uses_cfg_and_null_class():
    spy, sched = _Spy(), P.schedule()
    y = torch.tensor([3, 4])
    P.generate(spy, y, 2.0, sched, steps=2, seed=0)
    assert all(len(v) == 4 and torch.equal(v, torch.tensor([3, 4, 10, 10])) for v in spy.ys)   # [ε_c; ε_∅]
    spy.ys.clear()
    P.generate(spy, y, 0.0, sched, steps=2, seed=0)                    # s = 0: the null class only
    assert all(v is None for v in spy.ys)
    x = torch.randn(2, P.DIM)
    e_c, e_u = spy(x, torch.zeros(2, dtype=torch.long), y), spy(x, torch.zeros(2, dtype=torch.long), None)
    got = D.epsilon_fn(spy, y, cfg_scale=2.0)(x, torch.zeros(2, dtype=torch.long))
    assert torch.allclose(got, e_u + 2.0 * (e_c - e_u))


def test_shuffled_labels_keep_counts_and_break_pairing():
    y = torch.arange(10).repeat(30)
    s = P.shuffled_labels(y, 0)
    assert torch.equal(torch.bincount(s), torch.bincount(y))
    assert (s == y).float().mean() < 0.3
    assert torch.equal(s, P.shuffled_labels(y, 0)) and not torch.equal(s, P.shuffled_labels(y, 1))


def test_nearest_ratio_detects_copies():
    g = torch.Generator().manual_seed(0)
    train, held = torch.randn(50, 4, generator=g), torch.randn(20, 4, generator=g)
    assert P.nearest_ratio(train[:10], train, held) == 0.0
    assert 0.5 < P.nearest_ratio(torch.randn(200, 4, generator=g), train, torch.randn(200, 4, generator=g)) < 2.0


def test_noisy_classifier_shapes_and_loss():
    clf = P.NoisyClassifier()
    x = torch.randn(5, P.DIM)
    assert clf(x, torch.tensor([0, 10, 100, 500, 999])).shape == (5, 10)
    loss = P.noisy_ce_loss(clf, x, torch.arange(5), P.schedule(), torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and math.isfinite(loss.item())


def test_swaps_change_only_what_they_say():
    base = P.PRESETS["small"]
    names = {c.name for c in P.CLAIMS}
    for swap in P.SWAPS:
        cfg = swap.apply(base)
        assert set(swap.breaks) <= names
        diff = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert len(diff) == 1, (swap.name, diff)
        assert cfg.denoiser() == base.denoiser()


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(P.PRESETS["small"], hidden=16, depth=1, emb_dim=8, **P.SMOKE)
    res = P.run(cfg, [3], progress=False)
    sd = res.per_seed[0]
    assert sd.sources == ("trained", "trained") and sd.errors.shape == (20, 2, 10)
    assert sd.samples.shape == (20, P.DIM) and float(sd.samples.abs().max()) <= 1.0 + 1e-6
    again = P.run(cfg, [3], progress=False)
    assert again.per_seed[0].sources == ("cache", "cache")
    assert P.claim_values(res) == pytest.approx(P.claim_values(again), nan_ok=True)
    values = P.claim_values(res)
    assert {c.key for c in P.CLAIMS} <= set(values)
    shuffled = P.run(dataclasses.replace(cfg, labels="shuffled"), [3], progress=False)
    assert shuffled.per_seed[0].sources == ("trained", "cache")             # the control is shared
    assert not torch.equal(shuffled.per_seed[0].errors, sd.control_errors)   # an independent permutation
    q = P.run(dataclasses.replace(cfg, classifier="qda"), [3], progress=False)
    assert q.per_seed[0].acc == q.per_seed[0].acc_qda
    with pytest.raises(ParameterError):
        P.run(cfg, [])

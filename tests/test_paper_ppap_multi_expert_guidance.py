"""Unit tests of featurelab.papers.ppap_multi_expert_guidance (Go et al. 2023, PPAP): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab import diffusion as D
from featurelab.models import mlp
from featurelab.papers import ppap_multi_expert_guidance as P
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(guide="clip"), dict(transfer="real"), dict(n_experts=0), dict(rank=0),
                                 dict(temperature=0.0), dict(scales=()), dict(scales=(1.0, -2.0)),
                                 dict(total_steps=3, n_experts=5), dict(n_seeds=0), dict(n_transfer=4),
                                 dict(ddim_steps=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(P.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"GUIDE='clip'.*one of 'ppap'"):
        dataclasses.replace(P.PRESETS["small"], guide="clip")
    with pytest.raises(ParameterError, match="TOTAL_STEPS"):
        dataclasses.replace(P.PRESETS["small"], total_steps=3)


def test_expert_ranges_are_uniform_and_index_matches():
    assert P.expert_ranges(5) == [(0, 200), (200, 400), (400, 600), (600, 800), (800, 1000)]
    assert P.expert_ranges(1) == [(0, 1000)]
    t = torch.tensor([0, 199, 200, 599, 600, 999])
    assert P.expert_index(t, 5).tolist() == [0, 0, 1, 2, 3, 4]
    assert P.expert_index(t, 1).tolist() == [0] * 6


def test_distill_loss_is_kl_to_the_sharpened_teacher():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 10, generator=g), torch.randn(6, 10, generator=g)
    p = F.softmax(t / 0.25, -1)
    want = (p * (p.log() - F.log_softmax(s, -1))).sum(1).mean()
    assert torch.allclose(P.distill_loss(s, t, 0.25), want, atol=1e-5)
    # zero when the student already outputs the sharpened teacher
    assert P.distill_loss(t / 0.25, t, 0.25).abs() < 1e-5
    # temperature 1 is a different loss (the official one sharpens)
    assert not torch.allclose(P.distill_loss(s, t, 1.0), want)


def _clf(seed=0):
    torch.manual_seed(seed)
    m = mlp([P.DIM, 16, 16, P.N_CLASSES]).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def test_lora_student_starts_as_the_teacher_and_trains_only_adapters_and_hidden_biases():
    clf = _clf()
    student, n = P.lora_student(clf, rank=2)
    x = torch.randn(5, P.DIM)
    assert torch.allclose(student(x), clf(x), atol=1e-6)
    want = 2 * (64 + 16) + 2 * (16 + 16) + 2 * (16 + 10) + 16 + 16       # A, B of three layers + hidden biases
    assert n == want
    names = {k for k, p in student.named_parameters() if p.requires_grad}
    assert not any(k.startswith("head.base") for k in names)
    assert all(p.requires_grad is False for p in clf.parameters())


def test_experts_train_in_sequence_on_their_own_ranges():
    clf = _clf()
    student, _ = P.lora_student(clf, rank=2)
    x0 = torch.randn(40, P.DIM)
    ex = P.distil_experts(student, clf, x0, 2, 6, batch_size=8, seed=1)
    assert len(ex) == 2
    # expert 1 continues from expert 0: both differ from the teacher, and from each other
    x = torch.randn(3, P.DIM)
    assert not torch.allclose(ex[0](x), clf(x)) and not torch.allclose(ex[0](x), ex[1](x))
    # the frozen clean teacher is untouched
    assert torch.allclose(_clf()(x), clf(x))
    guide = P.MultiExpert(ex)
    t = torch.tensor([0, 499, 500])
    out = guide(x, t)
    assert torch.allclose(out[:2], ex[0](x[:2])) and torch.allclose(out[2:], ex[1](x[2:]))


def test_supervised_experts_use_cross_entropy_on_labels():
    clf = _clf()
    student, n = P.full_student(clf)
    assert n == sum(p.numel() for p in clf.parameters())
    x0, y = torch.randn(30, P.DIM), torch.randint(0, 10, (30,))
    ex = P.distil_experts(student, clf, x0, 1, 3, labels=y, batch_size=8, seed=0)
    assert len(ex) == 1 and not torch.allclose(ex[0](x0), clf(x0))


def test_guidance_formula_and_x0_baseline_gradient():
    torch.manual_seed(0)
    dm = D.MLPDenoiser(P.DIM, 0, hidden=16, depth=1, emb_dim=8).eval()
    clf = _clf()
    sched = P.schedule()
    x, t, y = torch.randn(4, P.DIM), torch.full((4,), 700), torch.tensor([1, 2, 3, 4])
    guide = P.MultiExpert([clf])
    eps = D.epsilon_fn(dm, None, grad_fn=D.classifier_grad(guide, y), grad_scale=3.0, schedule=sched)(x, t)
    xr = x.clone().requires_grad_(True)
    g = torch.autograd.grad(F.log_softmax(clf(xr), -1).gather(1, y[:, None]).sum(), xr)[0]
    want = dm(x, t) - 3.0 * (1 - sched.alpha_bar[700]).sqrt() * g
    assert torch.allclose(eps, want, atol=1e-5)
    # x̂0 guidance: the classifier sees the denoiser's clean estimate, the gradient flows through the denoiser
    f = P.x0_classifier(dm, clf)
    x0_hat = sched.predict_x0(x, t, dm(x, t)).clamp(-1, 1)
    assert torch.allclose(f(x, t), clf(x0_hat), atol=1e-6)
    g0 = D.classifier_grad(f, y)(x, t)
    assert g0.shape == x.shape and not torch.allclose(g0, g)


def test_transfer_sets():
    torch.manual_seed(0)
    dm = D.MLPDenoiser(P.DIM, 0, hidden=16, depth=1, emb_dim=8).eval()
    a = P.transfer_set("samples", dm, 8, 2, seed=3)
    b = P.transfer_set("noise", dm, 8, 2, seed=3)
    assert a.shape == b.shape == (8, P.DIM) and a.abs().max() <= 1 and b.abs().max() <= 1
    assert torch.allclose(b, torch.randn(8, P.DIM, generator=torch.Generator().manual_seed(3)).clamp(-1, 1))
    with pytest.raises(ParameterError):
        P.transfer_set("real", dm, 8, 2, seed=3)


def test_swaps_change_only_what_they_say():
    cfg = P.PRESETS["small"]
    by = {s.name: s for s in P.SWAPS}
    assert by["single_expert"].apply(cfg) == dataclasses.replace(cfg, n_experts=1)
    assert by["noise_transfer"].apply(cfg) == dataclasses.replace(cfg, transfer="noise")
    assert by["naive_guidance"].apply(cfg).guide == "naive"
    assert by["x0_guidance"].apply(cfg).guide == "x0"


def test_smoke_run_and_claim_values():
    cfg = dataclasses.replace(P.PRESETS["small"], **P.SMOKE, dm_hidden=16, dm_depth=1, scales=(1.0, 4.0))
    res = P.run(cfg, [0])
    sd = res.per_seed[0]
    assert set(sd.curve) == set(P.ARMS) and all(len(v) == 2 for v in sd.curve.values())
    assert sd.params["method"] == 5 * sd.params["ppap1"] and sd.params["me5"] == 5 * sd.params["ft1"]
    v = P.claim_values(res)
    assert abs(v["experts_gap"][0] - (sd.auc("method") - sd.auc("ppap1"))) < 1e-12
    assert 0 <= v["auc_method"] <= 1

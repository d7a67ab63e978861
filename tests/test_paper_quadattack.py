"""Unit tests of featurelab.papers.quadattack (Paniagua, Grainger & Wu 2024, QuadAttack): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch
from torch import nn

from featurelab.attacks import ordered_topk_constraints, ordered_topk_success
from featurelab.models import mlp
from featurelab.papers import quadattack as qa
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(loss="pgd"), dict(c=0.0), dict(lr=-1.0), dict(ks=(1, 10)), dict(ks=(3, 3)),
                                 dict(steps=5, warmup=5), dict(n_images=0), dict(margin=-0.1), dict(c_decay=1.5),
                                 dict(widths=(8, 8, 8, 8, 8)), dict(n_seeds=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(qa.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"LOSS='pgd'.*one of 'quadattack'"):
        dataclasses.replace(qa.PRESETS["small"], loss="pgd")


def _brute_cw(z, t, m):
    total = []
    for zr, tr in zip(z, t):
        s = 0.0
        for i in range(len(tr)):
            rest = [zr[j] for j in range(len(zr)) if j not in tr[: i + 1].tolist()]
            s += max(max(rest) - zr[tr[i]] + m, 0.0) if rest else 0.0
        total.append(s / len(tr))
    return torch.tensor(total)


def test_cw_topk_loss_is_the_prefix_hinge_and_zero_exactly_on_margin_success():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(30, 10, generator=g)
    for k in (1, 3, 9):
        t = torch.stack([torch.randperm(10, generator=g)[:k] for _ in range(30)])
        assert torch.allclose(qa.cw_topk_loss(z, t, 0.2), _brute_cw(z, t, 0.2), atol=1e-6)
    # logits in the target order with gaps 1 > m: zero loss and exact-order success
    t = torch.stack([torch.randperm(10, generator=g)[:4] for _ in range(5)])
    z = torch.zeros(5, 10)
    z[torch.arange(5)[:, None], t] = torch.tensor([4.0, 3.0, 2.0, 1.0])
    assert (qa.cw_topk_loss(z, t, 0.2) == 0).all() and ordered_topk_success(z, t).all()


def test_feature_targets_meet_the_order_and_are_closest():
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    head = nn.Linear(8, 10)
    f = torch.randn(12, 8, generator=g)
    t = torch.stack([torch.randperm(10, generator=g)[:5] for _ in range(12)])
    G, h = ordered_topk_constraints(head.weight.detach(), head.bias.detach(), t, 0.2)
    fs, _ = qa.feature_targets(f, G, h, iters=2000)
    assert ordered_topk_success(head(fs).detach(), t).all()
    # any other feasible point (a step further into the polyhedron) is farther from f
    far, _ = qa.feature_targets(f, G, h + 0.5, iters=2000)
    assert ((fs - f).norm(dim=1) <= (far - f).norm(dim=1) + 1e-4).all()


def test_draw_targets_excludes_the_true_class():
    y = torch.arange(10).repeat(20)
    t = qa.draw_targets(y, 9, seed=3)
    assert t.shape == (200, 9) and not (t == y[:, None]).any()
    assert all(len(set(r.tolist())) == 9 for r in t)


def _toy_model():
    torch.manual_seed(0)
    m = mlp([16, 12, 10], activation="identity")   # features: a linear map 16 → 12; head: linear → 10 classes
    with torch.no_grad():
        m.head.weight.mul_(10)                     # logits that a perturbation inside [0, 1] can reorder
    return m


@pytest.mark.parametrize("loss", qa.LOSSES)
def test_attack_keeps_valid_images_and_reports_true_successes(loss):
    model = _toy_model()
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    targets = [qa.draw_targets(model(x).argmax(1)[:3], 1, 0), qa.draw_targets(model(x).argmax(1)[3:], 3, 1)]
    out = qa.attack(model, x, targets, loss, c=1000.0, lr=0.1, steps=40, warmup=3,
                    generator=torch.Generator().manual_seed(0))
    assert out.adv.min() >= 0 and out.adv.max() <= 1
    z = model(out.adv).detach()
    want = torch.cat([ordered_topk_success(z[:3], targets[0]), ordered_topk_success(z[3:], targets[1])])
    assert torch.equal(out.success, want)
    assert torch.allclose(out.l2[out.success], (out.adv - x).flatten(1).norm(dim=1)[out.success])
    assert torch.isinf(out.l2[~out.success]).all()
    if loss == "quadattack":
        assert out.success.sum() >= 4                  # a linear toy model is easy to steer


def test_attack_rejects_bad_arguments():
    model = _toy_model()
    x = torch.rand(2, 1, 4, 4)
    with pytest.raises(ParameterError, match="loss"):
        qa.attack(model, x, [torch.tensor([[0], [1]])], "fgsm", 1.0, 0.1)
    with pytest.raises(ParameterError, match="rows"):
        qa.attack(model, x, [torch.tensor([[0]])], "cw", 1.0, 0.1)


def test_smoke_run_and_claim_values():
    cfg = dataclasses.replace(qa.PRESETS["small"], **qa.SMOKE)
    res = qa.run(cfg, [7])
    v = qa.claim_values(res)
    assert set(c.key for c in qa.CLAIMS) <= set(v)
    assert len(v["gap_kmax"]) == 1 and 0 <= v["asr_arm_k1"] <= 1
    # the noise-null swap runs the tuned C&W attack in the arm's place with other initial noise
    null = next(s for s in qa.SWAPS if s.kind == "null").apply(cfg)
    assert null.loss == "cw" and null.c == cfg.cw_c and null.lr == cfg.cw_lr and null.arm_seed_offset > 0

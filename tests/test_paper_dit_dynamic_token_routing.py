"""Unit tests of featurelab.papers.dit_dynamic_token_routing (Ma et al. 2023, DiT): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch

from featurelab.papers import dit_dynamic_token_routing as dit
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(rho=0.0), dict(rho=1.5), dict(router="learned"), dict(patch=3),
                                 dict(garment=24), dict(n_seeds=0), dict(budget_weight=-1.0), dict(lr=0.0),
                                 dict(depth=1), dict(clutter=2.0), dict(gate="soft"),
                                 dict(router_init="random"), dict(router_input="both")])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(dit.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ROUTER='learned'.*one of 'token'"):
        dataclasses.replace(dit.PRESETS["small"], router="learned")
    with pytest.raises(ParameterError, match="PATCH=3 must divide CANVAS=20"):
        dataclasses.replace(dit.PRESETS["small"], patch=3)


def test_budget_loss_is_the_per_layer_squared_gap():
    g = torch.zeros(2, 3, 4)
    g[:, 0] = 1.0                       # layer 0 all open, layers 1-2 shut
    want = ((1 - 0.25) ** 2 + 2 * 0.25 ** 2) / 3
    assert float(dit.budget_loss(g, 0.25)) == pytest.approx(want)


def test_contrast_gates_pick_the_highest_contrast_patches():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 4:8, 0:4] = torch.rand(4, 4)      # patch 2 (bottom-left) is textured
    x[0, 0, 0:4, 4:8] = 0.5                    # patch 1 is bright but flat: no contrast
    x[0, 0, 4:8, 4:8] = 0.1 * torch.rand(4, 4)
    g = dit.contrast_gates(x, 4, 2, 3)
    assert g.shape == (1, 3, 4)
    assert g[0, 0].tolist() == [0.0, 0.0, 1.0, 1.0] and torch.equal(g[0, 0], g[0, 2])


def _tiny_cfg(**kw):
    return dataclasses.replace(dit.PRESETS["small"], n_train=128, n_test=64, pretrain_steps=3, finetune_steps=2,
                               batch_size=32, n_seeds=1, **kw)


def test_canvases_are_cluttered_and_object_tokens_follow_the_garment():
    cfg = _tiny_cfg()
    garments = torch.zeros(3, 1, cfg.garment, cfg.garment)
    garments[:, :, 2:8, 2:8] = 1.0
    c = dit.make_canvases(garments, torch.tensor([0, 1, 2]), torch.rand(5, 1, cfg.garment, cfg.garment), cfg, 0)
    assert c.x.shape == (3, 1, 20, 20) and c.obj.shape == (3, cfg.n_tokens)
    patches = torch.nn.functional.unfold(c.x, cfg.patch, stride=cfg.patch)      # (B, P², T)
    assert bool((patches.std(1) > 0.01).all())        # no empty patch: "skip the blank ones" does not work
    for i in range(3):
        bright = patches[i].mean(0)
        assert bright[c.obj[i]].mean() > bright[~c.obj[i]].mean()
        assert 1 <= int(c.obj[i].sum()) <= 9
    pool = torch.rand(5, 1, cfg.garment, cfg.garment)
    a = dit.make_canvases(garments, torch.tensor([0, 1, 2]), pool, cfg, 4)
    assert torch.equal(a.x, dit.make_canvases(garments, torch.tensor([0, 1, 2]), pool, cfg, 4).x)    # seeded


def test_arms_run_at_their_compute():
    cfg = _tiny_cfg()
    x = torch.rand(6, 1, 20, 20)
    k = round(cfg.rho * cfg.n_tokens)
    for kind in ("position", "contrast", "random", "static", "token"):
        torch.manual_seed(0)
        arm = dit.Arm(dit.build_vit(cfg, kind), kind, cfg).eval()
        out = arm(x)
        assert out.shape == (6, len(dit.CLASSES))
        g = arm.vit.last_gates
        if kind in ("position", "contrast", "token"):
            assert bool((g.sum(-1) == k).all())         # exactly k of N tokens per layer and image
        if kind == "static":
            assert g.shape[1] == 1
    thr = dit.Arm(dit.build_vit(dataclasses.replace(cfg, gate="threshold"), "token"), "token", cfg).eval()
    thr(x)
    assert bool((thr.vit.last_gates == 1).all())        # threshold gates start open (bias +2)


def test_at_budget_restores_the_arm():
    cfg = _tiny_cfg()
    c = dit.make_canvases(torch.rand(8, 1, 10, 10), torch.randint(0, 4, (8,)), torch.rand(4, 1, 10, 10), cfg, 0)
    thr = dit.Arm(dit.build_vit(dataclasses.replace(cfg, gate="threshold"), "token"), "token", cfg)
    assert dit.at_budget(thr, c, -10.0)["compute"] == 0.0 and dit.at_budget(thr, c, 0.0)["compute"] == 1.0
    assert float(thr.vit.gate_token[0].bias.detach()) == pytest.approx(2.0)
    tok = dit.Arm(dit.build_vit(cfg, "token"), "token", cfg)
    assert dit.at_budget(tok, c, 3)["compute"] == pytest.approx(3 / cfg.n_tokens)
    pos = dit.Arm(dit.build_vit(cfg, "position"), "position", cfg)
    assert dit.at_budget(pos, c, 5)["compute"] == pytest.approx(5 / cfg.n_tokens)
    assert pos.vit.capacity == round(cfg.rho * cfg.n_tokens)
    st = dit.Arm(dit.build_vit(cfg, "static"), "static", cfg)
    assert dit.at_budget(st, c, 2)["compute"] == pytest.approx(0.5) and st.n_static == 1


def test_run_end_to_end_tiny_seeded_and_swaps():
    cfg = _tiny_cfg()
    res = dit.run(cfg, [7], progress=False)
    values = dit.claim_values(res)
    assert {c.key for c in dit.CLAIMS} <= set(values) and len(values["gain_vs_random"]) == 1
    assert values == dit.claim_values(dit.run(cfg, [7], progress=False))          # from the cache, identical
    rnd = dit.run(dataclasses.replace(cfg, router="random"), [7], progress=False)
    assert dit.claim_values(rnd)["gain_vs_random"] == [0.0]                       # same seed: zero by construction
    names = {c.name for c in dit.CLAIMS}
    for swap in dit.SWAPS:
        swapped = swap.apply(cfg)
        assert swapped.backbone() == cfg.backbone(), swap.name                    # every arm: the same backbone
        assert set(swap.breaks) <= names
    with pytest.raises(ParameterError):
        dit.run(cfg, [])


def test_cls_attention_and_the_attention_fitted_router_start():
    cfg = _tiny_cfg()
    torch.manual_seed(0)
    x = torch.rand(16, 1, 20, 20)
    pos = dit.build_vit(cfg, "position")
    states, atts = dit.cls_attention(pos, x)
    assert len(states) == len(atts) == cfg.depth and atts[0].shape == (16, cfg.n_tokens)
    assert bool((atts[0].sum(1) < 1).all()) and bool((atts[0] > 0).all())       # CLS also attends to itself
    assert dit.warm_start_router(pos, x) == []
    t = atts[2].log()
    t = t - t.mean(1, keepdim=True)
    assert torch.allclose(pos.gate_position[2].detach(), (t / t.std()).mean(0), atol=1e-5)
    tok = dit.build_vit(cfg, "token")
    fits = dit.warm_start_router(tok, x, ridge=1.0)
    assert len(fits) == cfg.depth and all(0 < r <= 1 for r in fits)
    st, a = dit.cls_attention(tok, x)
    t = a[1].log()
    t = (t - t.mean(1, keepdim=True))
    t = (t / t.std()).reshape(-1)
    f = torch.nn.functional.pad(tok.gate_norm[1](st[1]).reshape(-1, cfg.d_model).detach(), (0, 1), value=1.0)
    w = torch.cat([tok.gate_token[1].weight.detach()[0], torch.zeros(1)])
    # w is the ridge solution (F'F + I)⁻¹F't; the intercept is dropped because a top-k gate ignores it
    full = torch.linalg.solve(f.T @ f + torch.eye(cfg.d_model + 1), f.T @ t)
    assert torch.allclose(full[:-1], w[:-1], atol=1e-5) and float(tok.gate_token[1].bias) == 0.0


def test_detached_router_input_stops_the_router_gradient_at_the_tokens():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    for detach, want in ((True, False), (False, True)):
        vit = dit.RoutedViT(8, 4, 1, 8, 2, 2, 16, 3, router="token", gate_bias=0.0, detach_router=detach)
        for lin in vit.gate_token:
            torch.nn.init.normal_(lin.weight)
        vit(x)
        vit.last_gates.sum().backward()                   # a loss on the gates alone
        grad = vit.embed.weight.grad
        assert (grad is not None and bool(grad.abs().sum() > 0)) == want
        assert bool(vit.gate_token[0].weight.grad.abs().sum() > 0)          # the router itself still learns


def test_capacity_anneals_from_all_tokens_to_k():
    cfg = _tiny_cfg()
    arm = dit.Arm(dit.build_vit(cfg, "token"), "token", cfg)
    arm.anneal = 10
    n, k = cfg.n_tokens, arm.k
    assert [arm.capacity_at(t) for t in (0, 5, 10, 50)] == [n, round(n - (n - k) * 0.5), k, k]
    arm.train()
    arm(torch.rand(2, 1, 20, 20))
    assert int(arm.vit.last_gates[0, 0].sum()) == n and arm.step == 1     # training step 0: every token runs
    arm.eval()
    arm(torch.rand(2, 1, 20, 20))
    assert int(arm.vit.last_gates[0, 0].sum()) == k and arm.step == 1     # evaluation: always k

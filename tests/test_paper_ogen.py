"""Unit tests of featurelab.papers.ogen (Zang et al. 2024, OGEN): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab.data import load_text_embeddings
from featurelab.papers import ogen
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(shots=0), dict(steps=-1), dict(lr=0.0), dict(kg_weight=-1.0),
                                 dict(arms="every"), dict(pretrain_classes="new"), dict(n_base_colours=6),
                                 dict(heads=3), dict(image_size=2), dict(n_seeds=0), dict(warmup=1.5),
                                 dict(k=40)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(ogen.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"ARMS='every'.*one of 'claims'"):
        dataclasses.replace(ogen.PRESETS["small"], arms="every")
    with pytest.raises(ParameterError, match="HEADS=3"):
        dataclasses.replace(ogen.PRESETS["small"], heads=3)


def test_texts_and_split():
    assert len(ogen.TEXTS) == 60 and ogen.TEXTS[0] == "a photo of a red T-shirt."
    base, new = ogen.split_classes(5, 3)
    assert len(base) == len(new) == 30 and not set(base) & set(new)
    # every garment has exactly 3 base colours
    assert np.bincount(base // 6, minlength=10).tolist() == [3] * 10
    emb = load_text_embeddings("ogen", ogen.TEXTS)
    assert emb.shape == (60, 384)


def test_generator_is_residual_mlp_plus_multihead_attention():
    torch.manual_seed(0)
    gen = ogen.Generator(8, 2, dropout=0.0).eval()
    q, k, v = torch.randn(3, 2, 8), torch.randn(3, 4, 8), torch.randn(3, 4, 8)
    # the same algebra with torch's reference multi-head attention
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([gen.q.weight, gen.k.weight, gen.v.weight]))
        ref.in_proj_bias.copy_(torch.cat([gen.q.bias, gen.k.bias, gen.v.bias]))
        ref.out_proj.weight.copy_(gen.o.weight)
        ref.out_proj.bias.copy_(gen.o.bias)
        attn, _ = ref(q, k, v)
        want = F.normalize(gen.ffn(q) + attn, dim=-1).flatten(0, 1)
        got = gen(q, k, v)
    assert got.shape == (6, 8)
    assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(got.norm(dim=-1), torch.ones(6), atol=1e-5)


def test_neighbours_and_derangement():
    mean = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    knn = ogen.base_neighbours(mean, 1)
    assert knn.flatten().tolist() == [1, 0, 3, 2]          # never itself, nearest by cosine
    p = ogen.derangement(7, torch.Generator().manual_seed(0))
    assert sorted(p.tolist()) == list(range(7)) and (p != torch.arange(7)).all()


def test_ogen_terms_follow_the_official_loss():
    torch.manual_seed(1)
    d, cb, cn, b, k = 8, 5, 4, 6, 2
    gen = ogen.Generator(d, 2, dropout=0.0).eval()
    w_base = F.normalize(torch.randn(cb, d), dim=-1)
    w_new = F.normalize(torch.randn(cn, d), dim=-1)
    x = F.normalize(torch.randn(b, d), dim=-1)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    mean, std = torch.randn(cb, d), torch.rand(cb, d)
    knn = ogen.base_neighbours(mean, k)
    torch.manual_seed(3)
    t = ogen.ogen_terms(gen, w_base, w_new, x, y, knn, mean, std, k, 10.0)
    torch.manual_seed(3)
    noise = torch.rand(1, d)
    with torch.no_grad():
        v_known = mean[knn[y]] + noise * std[knn[y]]
        x_held = gen(w_base[y].unsqueeze(1), w_base[knn[y]], v_known)
        lab_new = (w_base[y] @ w_new.T).topk(k, dim=1).indices
        x_new = gen(w_new[lab_new], w_base[y].unsqueeze(1), x.unsqueeze(1))
    assert t["mse_held_out"].item() == pytest.approx((F.mse_loss(x_held, x) * d).item(), rel=1e-5)
    assert t["ce_new"].item() == pytest.approx(F.cross_entropy(10 * x_new @ w_new.T, lab_new.flatten()).item(),
                                               rel=1e-5)
    # shuffled synthesis: same features, targets relabelled by the derangement
    torch.manual_seed(3)
    perm = ogen.derangement(cn, torch.Generator().manual_seed(0))
    ts = ogen.ogen_terms(gen, w_base, w_new, x, y, knn, mean, std, k, 10.0, perm)
    assert ts["mse_held_out"].item() == pytest.approx(t["mse_held_out"].item())
    assert ts["ce_new"].item() == pytest.approx(
        F.cross_entropy(10 * x_new @ w_new.T, perm[lab_new.flatten()]).item(), rel=1e-5)


def test_adapter_starts_at_zero_shot_and_accuracies():
    emb = load_text_embeddings("ogen", ogen.TEXTS)
    head = torch.nn.Linear(384, 16)
    ad = ogen.PromptAdapter(head, emb, rank=4)
    assert torch.allclose(ad(), F.normalize(head(emb), dim=-1))
    w = torch.eye(4)
    feats = torch.eye(4)[[0, 1, 2, 3, 1]]
    y = torch.tensor([0, 1, 2, 3, 1])
    acc = ogen.accuracies(w, feats, y, np.array([0, 1]), np.array([2, 3]))
    assert acc["base"] == 1.0 and acc["new"] == 1.0 and acc["hm"] == 1.0


def _tiny(**kw):
    return dataclasses.replace(ogen.PRESETS["small"], **{**ogen.SMOKE, "steps": 6, "eval_every": 3, **kw})


def test_run_is_seeded_and_swaps_apply():
    cfg = _tiny()
    r1, r2 = ogen.run(cfg, [7], progress=False), ogen.run(cfg, [7], progress=False)
    assert r1.seeds_data[0].vlm_source == "trained" and r2.seeds_data[0].vlm_source == "cache"
    assert set(r1.seeds_data[0].final) == set(ogen.ARM_SETS["main"])
    for arm in ogen.ARM_SETS["main"]:
        assert r1.acc(arm).tolist() == r2.acc(arm).tolist()
    v = ogen.claim_values(r1)
    assert {c.key for c in ogen.CLAIMS} <= set(v)
    # zero steps: every arm is the zero-shot model
    r0 = ogen.run(_tiny(steps=0), [7], progress=False)
    assert v["zeroshot_new"] == ogen.claim_values(r0)["zeroshot_new"]
    assert ogen.claim_values(r0)["pitfall_new"] == [0.0]
    # the anchor with λ = 0 on the same batches is CoOp exactly (the null adds independent batches)
    same = ogen.claim_values(ogen.run(_tiny(kg_weight=0.0, arms="claims"), [7], progress=False))
    assert same["anchor_gain_new"] == [0.0]
    for s in ogen.SWAPS:
        s.apply(cfg)

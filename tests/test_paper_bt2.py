"""Unit tests of featurelab.papers.bt2 (Zhou et al. 2023, BT²): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from featurelab.papers import bt2
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(d_extra=-1), dict(d_old=1), dict(basis="free"), dict(arm="svm"),
                                 dict(w_old_cos=-1.0), dict(epochs=0), dict(n_seeds=0), dict(lr=0.0),
                                 dict(n_old_train=7000), dict(n_query=5000, n_gallery=9000),
                                 dict(arm="concat", d_extra=64)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(bt2.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"BASIS='free'.*one of 'orthogonal'"):
        dataclasses.replace(bt2.PRESETS["small"], basis="free")


def test_basis_transformation_is_orthonormal_and_keeps_norms():
    torch.manual_seed(0)
    net = bt2.BT2Net(8, 16, 4, 3)
    w = net.B.weight
    assert torch.allclose(w.T @ w, torch.eye(7), atol=1e-5)
    x = torch.rand(5, 1, 8, 8)
    z = net.trunk(x)
    logits, psi, f = net(x)
    assert psi.shape == (5, 7) and f.shape == (5, 4) and logits.shape == (5, 10)
    assert torch.allclose(psi.norm(dim=1), z.norm(dim=1), atol=1e-5)       # B keeps all the information
    assert torch.allclose(f, z[:, :4]) and torch.allclose(net.embed(x), psi)
    ident = bt2.BT2Net(8, 16, 4, 3, basis="identity")
    assert torch.allclose(ident(x)[1], ident.trunk(x))


def test_bt2_loss_is_the_official_formula():
    g = torch.Generator().manual_seed(1)
    n, d, e = 6, 4, 3
    logits, psi, f = torch.randn(n, 10, generator=g), torch.randn(n, d + e, generator=g), torch.randn(n, d, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    phi_old, phi_new = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    w_old, b_old = torch.randn(10, d, generator=g), torch.randn(10, generator=g)
    want = (F.cross_entropy(logits, y)
            + 5 * (1 - F.cosine_similarity(phi_old, psi[:, :d])).mean()
            + 1 * (1 - F.cosine_similarity(phi_new, f)).mean()
            + 10 * F.cross_entropy(psi[:, :d] @ w_old.T + b_old, y))
    got = bt2.bt2_loss((logits, psi, f), y, phi_old, phi_new, w_old, b_old)
    assert torch.allclose(got, want, atol=1e-5)
    only_ce = bt2.bt2_loss((logits, psi, f), y, phi_old, phi_new, w_old, b_old, 0.0, 0.0, 0.0)
    assert torch.allclose(only_ce, F.cross_entropy(logits, y))
    bct = bt2.bct_loss(logits, psi[:, :d], y, w_old, b_old, 10.0)
    assert torch.allclose(bct, F.cross_entropy(logits, y) + 10 * F.cross_entropy(psi[:, :d] @ w_old.T + b_old, y))


def test_extended_old_classifier_keeps_old_rows():
    torch.manual_seed(2)
    head = torch.nn.Linear(4, bt2.N_OLD)
    feats, y = torch.randn(100, 4), torch.arange(10).repeat(10)
    w, b = bt2.extend_old_classifier(head, feats, y)
    assert w.shape == (10, 4) and b.shape == (10,)
    assert torch.equal(w[: bt2.N_OLD], head.weight.detach()) and torch.equal(b[: bt2.N_OLD], head.bias.detach())
    new_dir = F.normalize(feats[y == 7].mean(0), dim=0)
    assert torch.allclose(F.normalize(w[7], dim=0), new_dir, atol=1e-6)


def test_retrieval_matches_sklearn_average_precision():
    g = torch.Generator().manual_seed(3)
    q, g_ = torch.randn(20, 5, generator=g), torch.randn(60, 5, generator=g)
    qy, gy = torch.randint(0, 4, (20,), generator=g), torch.randint(0, 4, (60,), generator=g)
    out = bt2.retrieval(q, qy, g_, gy)
    sim = (F.normalize(q, dim=1) @ F.normalize(g_, dim=1).T).numpy()
    aps = [average_precision_score((gy == qy[i]).numpy(), sim[i]) for i in range(20)]
    assert out["map"] == pytest.approx(float(np.mean(aps)), abs=1e-5)
    top1 = (gy[sim.argmax(1)] == qy).float().mean().item()
    assert out["top1"] == pytest.approx(top1)
    perfect = bt2.retrieval(F.one_hot(qy, 4).float(), qy, F.one_hot(gy, 4).float(), gy)
    assert perfect["map"] == pytest.approx(1.0) and perfect["top1"] == 1.0


def test_pca_projection_keeps_the_top_directions():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, 6, generator=g) * torch.tensor([5.0, 3.0, 1.0, 0.1, 0.1, 0.1])
    p = bt2.pca_project(x, x, 2)
    assert p.shape == (200, 2)
    assert p.var(0).sum() > 0.95 * (x - x.mean(0)).var(0)[:2].sum()


def test_swaps_change_only_the_arm():
    base = bt2.PRESETS["small"]
    names = {c.name for c in bt2.CLAIMS}
    for swap in bt2.SWAPS:
        cfg = swap.apply(base)
        assert cfg.old_key() == base.old_key() and cfg.new_key() == base.new_key(), swap.name
        assert cfg.bct_key() == base.bct_key(), swap.name                 # every arm is scored against one BCT
        assert set(swap.breaks) <= names


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(bt2.PRESETS["small"], n_train=300, n_old_train=120, epochs=1, n_query=40,
                              n_gallery=80, n_seeds=1)
    res = bt2.run(cfg, [7], progress=False)
    sd = res.seeds_data[0]
    assert sd.sources["old"] == "trained" and sd.emb["arm"][0].shape == (40, cfg.d_old + cfg.d_extra)
    again = bt2.run(cfg, [7], progress=False)
    assert again.seeds_data[0].sources == {"old": "cache", "independent": "cache", "bct": "cache", "arm": "trained"}
    v, w = bt2.claim_values(res), bt2.claim_values(again)                  # seeded: the arm retrains identically
    assert v.keys() == w.keys()                                            # (up to float round-off)
    for k in v:
        assert v[k] == pytest.approx(w[k], rel=1e-6, abs=1e-9), k
    values = bt2.claim_values(res)
    assert {c.key for c in bt2.CLAIMS} <= set(values) and len(values["compat_map"]) == 1
    bct_self = bt2.run(dataclasses.replace(cfg, arm="bct"), [7], progress=False)
    assert bt2.claim_values(bct_self)["top1_vs_bct"] == [0.0]               # BCT against itself: zero by construction
    null = bt2.run(dataclasses.replace(cfg, arm="bct", arm_seed_offset=10_000), [7], progress=False)
    assert not torch.equal(null.seeds_data[0].emb["arm"][0], null.seeds_data[0].emb["bct"][0])
    concat = bt2.run(dataclasses.replace(cfg, arm="concat"), [7], progress=False)
    q = concat.seeds_data[0].emb["arm"][0]
    assert q.shape == (40, cfg.d_old + cfg.d_extra)
    assert torch.equal(q[:, : cfg.d_old], concat.seeds_data[0].emb["bct"][0])   # new/old of concat is BCT's
    narrow = bt2.run(dataclasses.replace(cfg, d_extra=0), [7], progress=False)
    assert narrow.seeds_data[0].emb["arm"][0].shape == (40, cfg.d_old)
    with pytest.raises(ParameterError):
        bt2.run(cfg, [])

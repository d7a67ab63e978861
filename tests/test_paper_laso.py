"""Unit tests of featurelab.papers.laso (Alfassy et al. 2019): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import laso
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(n_seen=1), dict(n_seen=10), dict(targets="shuffled"), dict(train_ops="int"),
                                 dict(operator="mlp"), dict(share_frac=1.5), dict(lr=0.0), dict(n_seeds=0),
                                 dict(batch_size=10_000), dict(steps=-1), dict(class_loss="yes")])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(laso.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"TARGETS='shuffled'.*one of 'true'"):
        dataclasses.replace(laso.PRESETS["small"], targets="shuffled")


def test_set_targets_and_analytic_ops():
    ya = torch.tensor([[1., 1., 0., 0.]])
    yb = torch.tensor([[0., 1., 1., 0.]])
    t = laso.set_targets(ya, yb)
    assert t["int"].tolist() == [[0, 1, 0, 0]] and t["uni"].tolist() == [[1, 1, 1, 0]]
    assert t["sub"].tolist() == [[1, 0, 0, 0]]
    a, b = torch.tensor([[1.0, 0.0, 2.0]]), torch.tensor([[0.5, 1.0, 3.0]])
    assert laso.analytic_op("int", a, b).tolist() == [[0.5, 0.0, 2.0]]
    assert laso.analytic_op("uni", a, b).tolist() == [[1.5, 1.0, 5.0]]
    assert laso.analytic_op("sub", a, b).tolist() == [[0.5, 0.0, 0.0]]
    with pytest.raises(ParameterError):
        laso.analytic_op("xor", a, b)


def test_setop_is_the_official_residual_block():
    torch.manual_seed(0)
    op = laso.SetOp("int", 8, layers=1).eval()
    a, b = torch.rand(5, 8), torch.rand(5, 8)
    out = op(a, b)
    assert out.shape == (5, 8) and (out >= 0).all()          # ReLU output, like the backbone's features
    h = op.net_ab(torch.cat([a, b], 1))
    h = F.leaky_relu(op.blocks[0].bn(op.blocks[0].fc(h)) + torch.minimum(a, b), 0.2)  # residual = min(a, b)
    assert torch.allclose(out, F.relu(op.fc_out(h)))
    assert sum(p.numel() for p in laso.SetOp("sub", 8, layers=2).parameters()) > \
        sum(p.numel() for p in laso.SetOp("sub", 8, layers=1).parameters())


def test_laso_forward_outputs_and_analytic_mode():
    torch.manual_seed(0)
    m = laso.LaSO(6, analytic=True)
    a, b = torch.rand(4, 6), torch.rand(4, 6)
    o = m(a, b)
    assert len(o) == 18 and all(v.shape == (4, 6) for v in o.values())
    assert torch.equal(o["a_I_b"], torch.minimum(a, b)) and torch.equal(o["b_U_a"], b + a)
    assert torch.equal(o["a_S_b_b"], F.relu(F.relu(a - b) - b))
    assert torch.allclose(o["fake_a"], F.relu(a - torch.minimum(b, a)) + torch.minimum(a, b))  # = a, analytically
    assert torch.allclose(o["fake_a"], a)
    # the learned module: batched calls give the same outputs as separate calls in eval mode
    ml = laso.LaSO(6).eval()
    o = ml(a, b)
    assert torch.allclose(o["a_S_b"], ml.synthesize("sub", a, b), atol=1e-6)
    assert torch.allclose(o["a_S_b_I_a"], ml.synthesize("sub", a, ml.synthesize("int", b, a)), atol=1e-6)


def test_loss_terms_follow_the_official_toggles():
    cfg = laso.PRESETS["small"]
    cls, mse = laso.loss_terms(cfg)
    assert len(cls) == 18 and len(mse) == 10
    cls, mse = laso.loss_terms(dataclasses.replace(cfg, class_loss=False))
    assert cls == [] and len(mse) == 10
    cls, mse = laso.loss_terms(dataclasses.replace(cfg, train_ops="uni"))
    assert {t for _, t in cls} == {"uni"} and mse == [("a_U_b", "b_U_a")]
    cls, mse = laso.loss_terms(dataclasses.replace(cfg, tautology=False, sym_recon=False, recon=False))
    assert len(cls) == 8 and mse == []


def test_batched_loss_equals_the_sum_of_official_terms():
    torch.manual_seed(0)
    cfg = laso.PRESETS["small"]
    m, C = laso.LaSO(8), torch.nn.Linear(8, 5)
    a, b = torch.rand(16, 8), torch.rand(16, 8)
    ya, yb = (torch.rand(16, 5) < 0.4).float(), (torch.rand(16, 5) < 0.4).float()
    o = m(a, b)
    t = {"ya": ya, "yb": yb, "sub_ba": yb * (1 - ya), **laso.set_targets(ya, yb)}
    feats = {**o, "a": a, "b": b}
    cls, mse = laso.loss_terms(cfg)
    ref = sum(F.multilabel_soft_margin_loss(C(o[k]), t[y]) for k, y in cls) + \
        sum(F.mse_loss(feats[x], feats[y]) for x, y in mse)
    assert torch.allclose(laso.laso_loss(o, a, b, ya, yb, C, cfg), ref, atol=1e-5)


def test_map_chance_and_evaluator():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    assert laso.mean_ap(y.astype(float), y) == pytest.approx(1.0)
    assert laso.chance_map(y) == pytest.approx((0.5 + 0.25) / 2)
    assert laso.mean_ap(np.zeros((3, 2)), np.zeros((3, 2), int)) != laso.mean_ap(np.zeros((3, 2)), np.zeros((3, 2), int))
    g = np.random.default_rng(0)
    x = g.normal(size=(300, 5)).astype(np.float32)
    yy = np.stack([x[:, 0] > 0, x[:, 1] > 0.5], 1).astype(np.float32)
    score = laso.fit_evaluator(x, yy)
    assert score(x).shape == (300, 2) and laso.mean_ap(score(x), yy) > 0.95
    nn_scores = laso.knn_scores(x[:10], x, yy, k=1)
    assert np.array_equal(nn_scores, yy[:10])


def test_canvases_and_pairs():
    rng = np.random.default_rng(0)
    train, test = laso.digit_pools(0)
    assert len(train) == 10 and train[3].shape[1:] == (8, 8) and len(train[3]) + len(test[3]) > 150
    sets = laso.random_sets(50, 7, rng)
    assert all(1 <= len(s) <= 3 and max(s) < 7 and len(set(s)) == len(s) for s in sets)
    x = laso.render(sets, train, rng)
    assert x.shape == (50, 1, 16, 16) and 0 <= x.min() and x.max() <= 1
    blank = laso.render([[]], train, rng)
    assert blank.abs().sum() == 0
    with pytest.raises(ParameterError):
        laso.render([[0, 1, 2, 3, 4]], train, rng)
    y = laso.multi_hot(sets)[:, :7]
    i, j = laso.sample_pairs(y, 400, 1.0, rng)
    assert (i != j).all() and ((y[i] * y[j]).sum(1) > 0).float().mean() > 0.95
    i, j = laso.sample_pairs(y, 400, 0.0, rng)
    assert ((y[i] * y[j]).sum(1) > 0).float().mean() < 0.7


def test_run_end_to_end_tiny_and_seeded():
    cfg = dataclasses.replace(laso.PRESETS["small"], **laso.SMOKE)
    res = laso.run(cfg, [3])
    v = laso.claim_values(res)
    assert {c.key for c in laso.CLAIMS} <= set(v) and len(v["seen_gain_refit"]) == 1
    assert res.table("refit", "laso").shape == (1, 3)
    again = laso.run(cfg, [3])
    assert np.allclose(res.table("independent", "laso"), again.table("independent", "laso"))
    sw = laso.run(dataclasses.replace(cfg, operator="analytic"), [3])
    assert np.allclose(sw.table("independent", "laso"), sw.table("independent", "analytic"))
    with pytest.raises(ParameterError):
        laso.run(cfg, [])

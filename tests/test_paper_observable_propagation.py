"""Unit tests of featurelab.papers.observable_propagation (Dunefsky & Cohan 2024): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch

from featurelab.papers import observable_propagation as op
from featurelab.run import ParameterError

TINY = dict(n_names=8, n_fillers=6, n_nat=2, n_train=256, d_model=8, n_heads=2, d_head=4, steps=3,
            shots=(1, 2), n_resamples=2, probe_k=2, n_prompts=3, n_seeds=1)


@pytest.mark.parametrize("bad", [dict(min_purity=0.4), dict(decoupled=2), dict(direction="pca"),
                                 dict(shots=(2, 4)), dict(shots=(1, 64)), dict(probe_k=40), dict(steps=-1),
                                 dict(lr=0.0), dict(n_names=4)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(op.PRESETS["small"], **bad)


def test_language_and_sequences_follow_the_rules():
    cfg = op.PRESETS["small"]
    lang = op.make_language(cfg, 3)
    assert int(lang.gender.sum()) == cfg.n_names
    assert bool(((lang.p_he > 0.5) == (lang.gender == 1)).all())
    assert torch.equal(lang.p_he, lang.p_him) and torch.equal(lang.attr, lang.gender)
    x, y = op.make_sequences(lang, 3000, 0)
    assert x.shape == (3000, cfg.seq_len)
    names = x[:, 1:4]
    is_name = names < 2 * cfg.n_names
    assert bool((is_name.sum(1) == 1).all()) and bool((x[:, 0] >= 2 * cfg.n_names).all())
    q = x[:, -1] - lang.query["S"]
    assert set(y[q == 0].tolist()) <= {op.HE, op.SHE} and set(y[q == 1].tolist()) <= {op.HIM, op.HER}
    assert bool((y[q == 2] >= 4).all())
    dec = op.make_language(dataclasses.replace(cfg, decoupled=1), 3)
    assert int(dec.attr.sum()) == cfg.n_names and not torch.equal(dec.attr, dec.gender)


def test_feature_vector_is_the_exact_ov_path_of_the_model():
    torch.manual_seed(0)
    m = op.AttnOnlyLM(20, 6, 5, d_model=16, n_heads=2, d_head=4).eval()
    with torch.no_grad():
        m.ln.weight.copy_(torch.rand(16) + 0.5)
    n = op.observable(6, op.HE, op.SHE)
    y, u = op.feature_vectors(m, n)
    toks = torch.randint(20, (4, 5))
    x = m.residual(toks)
    a = m.attention(x)
    with torch.no_grad():
        r = x[:, -1] + torch.einsum("bht,btd,hde,hef->bf", a, x, m.w_v, m.w_o)
        sigma = torch.sqrt(r.var(1, unbiased=False) + m.ln.eps)
        direct = (m(toks) @ n) - (m.ln.bias @ m.unembed.weight.T + m.unembed.bias) @ n
        pulled = (x[:, -1] @ u + torch.einsum("bht,btd,hd->b", a, x, y)) / sigma
    torch.testing.assert_close(direct, pulled, atol=1e-4, rtol=1e-4)


def test_scores_auc_r2():
    labels = torch.tensor([0, 0, 1, 1])
    assert float(op.auc(torch.tensor([0.0, 1.0, 2.0, 3.0]), labels)) == 1.0
    assert float(op.auc(torch.tensor([3.0, 2.0, 1.0, 0.0]), labels)) == 0.0
    assert float(op.auc(torch.zeros(4), labels)) == 0.5
    assert op.auc(torch.randn(5, 4), labels).shape == (5,)
    assert float(op.r2(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.0]))) == pytest.approx(1.0)
    with pytest.raises(ParameterError):
        op.auc(torch.zeros(3), torch.tensor([1, 1, 1]))


def test_probe_directions_find_a_planted_direction():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0] * 20 + [1] * 20)
    x = torch.randn(40, 6, generator=g) * 0.1
    x[:, 2] += 2.0 * labels
    idx = op.few_shot_indices(labels, 4, 3, g)
    dirs = op.probe_directions(x, labels, idx)
    for w in dirs.values():
        assert w.shape == (3, 6) and bool((w.abs().argmax(1) == 2).all())


def test_run_end_to_end_tiny_and_seeded():
    cfg = dataclasses.replace(op.PRESETS["small"], **TINY)
    res = op.run(cfg, [5], progress=False)
    v = op.claim_values(res)
    assert {c.key for c in op.CLAIMS} <= set(v) and all(len(x) == 1 for x in v.values())
    s = res.per_seed[0]
    assert s.probe_auc["logistic"].shape == (2, 2) and s.y_subj.shape == (2, 8) and s.contrib.shape == (8,)
    again = op.claim_values(op.run(cfg, [5], progress=False))
    assert v == again
    for direction in ("logit_lens", "probe"):
        assert set(op.claim_values(op.run(dataclasses.replace(cfg, direction=direction), [5]))) == set(v)
    with pytest.raises(ParameterError, match="seeds"):
        op.run(cfg, [1, 2])


def test_swaps_change_one_thing_each():
    base = op.PRESETS["small"]
    names = {c.name for c in op.CLAIMS}
    for swap in op.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert len(changed) == 1 and changed <= {"direction", "steps", "decoupled"}, (swap.name, changed)
        assert set(swap.breaks) <= names

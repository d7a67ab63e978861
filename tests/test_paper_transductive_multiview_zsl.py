"""Unit tests of featurelab.papers.transductive_multiview_zsl (Fu et al. 2015, TMV): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
from scipy.linalg import eigh

from featurelab.papers import transductive_multiview_zsl as tmv
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(alpha=1.0), dict(alpha=-0.1), dict(r=0.0), dict(views="AX"), dict(cca_fit="both"),
                                 dict(method="svm"), dict(seed_mode="random"), dict(k=0), dict(k=600),
                                 dict(n_seeds=0), dict(word_dim=40), dict(image_size=4)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(tmv.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"CCA_FIT='both'.*one of 'target'"):
        dataclasses.replace(tmv.PRESETS["small"], cca_fit="both")
    with pytest.raises(ParameterError, match=r"^K=600"):
        dataclasses.replace(tmv.PRESETS["small"], k=600)


def test_attributes_and_texts():
    a = tmv.attributes()
    assert a.shape == (30, 13) and len(tmv.TEXTS) == 30 and tmv.TEXTS[0] == "a red circle"
    assert (a[:, :5].sum(1) == 1).all() and (a[:, 5:11].sum(1) == 1).all()
    assert len({tuple(r) for r in a}) == 30                          # every class has its own prototype
    v = tmv.word_vectors(8)
    assert v.shape == (30, 8) and np.allclose(v.mean(0), 0, atol=1e-5)


def test_render_and_split():
    rng = np.random.default_rng(0)
    x = tmv.render(np.array([0, 1, 2, 3, 4]), np.array([0, 1, 2, 3, 4]), rng, 16)
    assert x.shape == (5, 3, 16, 16) and x.min() >= 0 and x.max() <= 1
    seen, unseen = tmv.split_classes(3)
    assert len(seen) == 20 and len(unseen) == 10 and not set(seen) & set(unseen)
    assert np.bincount(seen // 6, minlength=5).min() >= 2 and np.bincount(seen % 6, minlength=6).min() >= 2


def _views(seed=0, n=200):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))                          # a shared latent signal seen by all views
    return [np.c_[z, rng.normal(size=(n, 3))] @ rng.normal(size=(5, d)) + 0.1 * rng.normal(size=(n, d))
            for d in (6, 4, 3)]


def test_multiview_cca_solves_the_generalised_eigenproblem():
    views = _views()
    r = 0.1
    w, eta, stats = tmv.multiview_cca(views, r, 3)
    cols = [(v - m) / s for v, (m, s) in zip(views, stats)]
    z = np.concatenate(cols, 1)
    s = z.T @ z / len(z)
    d = np.zeros_like(s)
    o = 0
    for c in cols:
        k = c.shape[1]
        d[o:o + k, o:o + k] = s[o:o + k, o:o + k] + r * np.eye(k)
        o += k
    wall = np.concatenate(w, 0)
    assert np.allclose(s @ wall, d @ wall * eta, atol=1e-8)        # [Σij] w = η blockdiag(Σii + rI) w
    assert np.allclose(wall.T @ d @ wall, np.eye(3), atol=1e-8)
    assert np.all(np.diff(eta) <= 1e-12)                           # largest first
    ref = eigh(s, d, eigvals_only=True)[::-1][:3]
    assert np.allclose(eta, ref)
    # the embedding is Φ W D^λ
    g = tmv.cca_embed(views[1], w[1], eta, stats[1], 4.0)
    assert np.allclose(g, cols[1] @ w[1] * eta ** 4)


def test_propagation_is_the_closed_form():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(30, 4))
    w = tmv.knn_graph(z, 5)
    assert np.allclose(w, w.T) and (np.diag(w) == 0).all() and ((w > 0).sum(1) >= 5).all()
    y = np.eye(3)[rng.integers(0, 3, 30)]
    dinv = np.diag(1 / np.sqrt(w.sum(1)))
    want = np.linalg.inv(np.eye(30) - 0.9 * dinv @ w @ dinv) @ y
    assert np.allclose(tmv.propagate(w, y, 0.9), want)
    assert np.allclose(tmv.propagate(w, y, 0.0), y)                 # α = 0: no propagation


def test_propagation_follows_clusters():
    rng = np.random.default_rng(2)
    centres = np.eye(3) * 5
    z = np.concatenate([c + rng.normal(size=(20, 3)) for c in centres])
    protos = centres + 0.5
    cfg = dataclasses.replace(tmv.PRESETS["small"], k=5)
    f = tmv.propagate_labels(tmv.l2n(z), tmv.l2n(protos), cfg)
    assert (f.argmax(1) == np.repeat(np.arange(3), 20)).mean() > 0.95


def test_tmv_embed_puts_prototypes_in_the_common_space():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 8))
    proj = {"A": x[:, :4] + 0.1 * rng.normal(size=(100, 4)), "V": x[:, 2:5] + 0.1 * rng.normal(size=(100, 3))}
    protos = {"A": rng.normal(size=(4, 4)), "V": rng.normal(size=(4, 3))}
    cfg = dataclasses.replace(tmv.PRESETS["small"], cca_dim=5)
    z, zp, eta = tmv.tmv_embed(x, proj, protos, "AV", 0.1, cfg)
    assert z.shape == (100, 5) and zp.shape == (4, 5)
    assert np.allclose(np.linalg.norm(z, axis=1), 1) and np.allclose(np.linalg.norm(zp, axis=1), 1)
    # fitted on other rows (the auxiliary swap) gives a different embedding
    z2, _, _ = tmv.tmv_embed(x, proj, protos, "AV", 0.1, cfg, (x[:50] * 2 + 1, {k: v[:50] ** 2 for k, v in proj.items()}))
    assert not np.allclose(z, z2)


def test_swaps_change_what_they_say():
    cfg = tmv.PRESETS["small"]
    by = {s.name: s.apply(cfg) for s in tmv.SWAPS}
    assert by["cca_on_auxiliary"].cca_fit == "auxiliary" and by["cca_on_auxiliary"].views == "AV"
    assert by["attributes_only"].views == "A" and by["word_vectors_only"].views == "V"
    assert by["direct_independent_cnn"].method == "direct" and by["direct_independent_cnn"].feature_offset > 0
    assert by["x_propagation_independent_cnn"].method == "x_propagation"
    assert by["x_propagation"].feature_offset == 0
    for s in tmv.SWAPS:   # nothing else changes
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(by[s.name], f.name)}
        assert changed <= {"cca_fit", "views", "method", "feature_offset"}


def test_tiny_run_and_claim_values():
    cfg = dataclasses.replace(tmv.PRESETS["small"], n_train=8, n_aux=6, n_target=8, epochs=1, k=4, n_seeds=1)
    res = tmv.run(cfg, [5])
    v = tmv.claim_values(res)
    acc = res.splits[0].acc
    assert v["gain_vs_direct"] == [pytest.approx(acc["tmv"] - acc["direct_best"])]
    assert v["gain_vs_transductive"] == [pytest.approx(acc["tmv"] - acc["x_propagation"])]
    assert acc["direct_best"] == max(acc["direct_A"], acc["direct_V"], acc["direct_AV"])
    # the baseline in the method's place on the same CNN is the baseline itself
    same = tmv.run(dataclasses.replace(cfg, method="x_propagation"), [5])
    assert tmv.claim_values(same)["gain_vs_transductive"] == [0.0]

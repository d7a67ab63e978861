"""Unit tests of featurelab.papers.latent_label_shift_ddfa (Roberts et al. 2022): fast, seeded, CPU only."""

import dataclasses

import numpy as np
import pytest
import torch

from featurelab.papers import latent_label_shift_ddfa as llds
from featurelab.run import ParameterError


@pytest.mark.parametrize("bad", [dict(alpha=0.0), dict(n_domains=3), dict(n_clusters=4), dict(max_cond=0.5),
                                 dict(pairs="random"), dict(discretiser="pixels"), dict(n_seeds=0),
                                 dict(pca_dim=1000), dict(epochs=-1), dict(n_train=5)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(llds.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"DISCRETISER='pixels'.*one of 'discriminator'"):
        dataclasses.replace(llds.PRESETS["small"], discretiser="pixels")


def test_pairs_cover_every_class_once():
    for pairs in llds.PAIRS.values():
        flat = sorted(c for pair in pairs for c in pair)
        assert flat == list(range(10)) and len(pairs) == llds.K


def test_sample_priors_respects_the_condition_cap_and_fails_clearly():
    rng = np.random.default_rng(0)
    p, cond, tries = llds.sample_priors(5, 15, 0.5, 8.0, rng)
    assert p.shape == (15, 5) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    assert cond == pytest.approx(np.linalg.cond(p)) and cond <= 8.0 and tries >= 1
    with pytest.raises(ParameterError, match="MAX_COND"):
        llds.sample_priors(5, 15, 30.0, 1.5, rng, max_tries=50)


def _fake_pool(n_per_class=300, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), n_per_class)
    x = (rng.random((len(y), 784)) * 0.2 + (y[:, None] == (np.arange(784) % 10)[None]) * 0.8).astype(np.float32)
    return x, y


def test_make_domains_follows_the_priors_and_keeps_splits_disjoint():
    cfg = dataclasses.replace(llds.PRESETS["small"], n_domains=6, n_train=60, n_valid=30, n_test=30)
    data = llds.make_domains(cfg, 3, pool=_fake_pool())
    assert data.x_train.shape == (360, 784) and data.x_valid.shape == (180, 784) and data.x_test.shape == (180, 784)
    assert np.bincount(data.d_train, minlength=6).tolist() == [60] * 6
    lut = np.empty(10, dtype=int)
    for y, (a, b) in enumerate(llds.PAIRS["dissimilar"]):
        lut[a] = lut[b] = y
    assert np.array_equal(lut[data.orig_test], data.y_test)
    rows = {r.tobytes() for r in data.x_train} | {r.tobytes() for r in data.x_valid}
    assert not any(r.tobytes() in rows for r in data.x_test)           # drawn without replacement


def test_cluster_domain_matrix_is_column_stochastic():
    q = llds.cluster_domain_matrix(np.array([0, 1, 1, 2, 2, 2]), np.array([0, 0, 1, 1, 1, 1]), 3, 2)
    assert np.allclose(q.sum(0), 1) and np.allclose(q[:, 0], [0.5, 0.5, 0]) and np.allclose(q[:, 1], [0, 0.25, 0.75])


def test_factorize_recovers_an_anchored_topic_model():
    rng = np.random.default_rng(1)
    k, m, r = 3, 6, 8
    p_c_y = np.zeros((m, k))
    p_c_y[:k] = np.eye(k) * 0.5                                           # one anchor cluster per class
    p_c_y[k:] = rng.dirichlet(np.ones(m - k), size=k).T * 0.5
    p_y_d = rng.dirichlet(np.full(k, 0.5), size=r).T
    p_y_d[:, :k] = np.eye(k)                                              # pure domains too: a unique factorisation
    c, w, err = llds.factorize(p_c_y @ p_y_d, k, 0, restarts=5)
    assert np.allclose(c.sum(0), 1) and np.allclose(w.sum(0), 1) and err < 1e-3
    # the same factors up to a permutation
    perm = [int(np.argmin(np.abs(w - p_y_d[j]).sum(1))) for j in range(k)]
    assert sorted(perm) == list(range(k)) and np.abs(w[perm] - p_y_d).max() < 0.02


def test_solve_and_adjust_inverts_the_identity():
    rng = np.random.default_rng(2)
    k, r = 3, 5
    p_y_d = rng.dirichlet(np.ones(k), size=r).T                            # (k, r)
    p_d_y = p_y_d.T / p_y_d.T.sum(0, keepdims=True)
    p_y_x = rng.dirichlet(np.ones(k), size=40)
    p_d_x = p_y_x @ p_d_y.T                                               # p(d|x) = Σ_y p(d|y) p(y|x)
    domains = rng.integers(0, r, 40)
    solved, adj = llds.solve_and_adjust(p_d_x, p_y_d, domains)
    assert np.allclose(solved, p_y_x, atol=1e-8)
    expect = p_y_x * p_d_y[domains]
    assert np.allclose(adj, expect / expect.sum(1, keepdims=True))
    # a row with no positive entry falls back to the domain prior
    _, adj2 = llds.solve_and_adjust(-np.ones((1, r)), p_y_d, np.array([1]))
    assert np.allclose(adj2[0], p_y_d[:, 1])


def test_hungarian_accuracy_and_prior_mae_are_permutation_invariant():
    y = np.array([0, 0, 1, 1, 2, 2])
    acc, perm = llds.hungarian_accuracy((y + 1) % 3, y, 3)
    assert acc == 1.0 and np.array_equal(perm[(y + 1) % 3], y)
    priors = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    est = priors.T[[2, 0, 1]]                                              # estimated row j is true class perm[j]
    assert llds.prior_mae(est, priors, np.array([2, 0, 1])) == pytest.approx(0.0)


def test_temperature_scaling_softens_overconfident_logits():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (400,), generator=g)
    logits = torch.randn(400, 4, generator=g) * 0.5
    logits[torch.arange(400), labels] += 1.0
    t = llds.fit_temperature(logits * 10, labels)
    assert t > 2.0
    nll = lambda temp: torch.nn.functional.cross_entropy(logits * 10 / temp, labels)
    assert nll(t) <= nll(1.0) and nll(t) <= nll(t * 1.1) and nll(t) <= nll(t / 1.1)


def test_run_seed_end_to_end_tiny():
    cfg = dataclasses.replace(llds.PRESETS["small"], n_domains=6, n_train=40, n_valid=30, n_test=30, hidden=16,
                              epochs=1, n_clusters=6, pca_dim=5, nmf_restarts=1)
    data = llds.make_domains(cfg, 0, pool=_fake_pool())
    res = llds.run_seed(cfg, 0, progress=False, data=data)
    assert 0 <= res.method.acc <= 1 and res.method.p_y_d.shape == (5, 6) and res.method.q.shape == (6, 6)
    assert res.p_d_x_test.shape == (180, 6) and np.allclose(res.p_d_x_test.sum(1), 1)
    again = llds.run_seed(cfg, 0, progress=False, data=data)
    assert again.method.acc == res.method.acc and again.pca_nmf.acc == res.pca_nmf.acc
    # the sceptic's arm in the method's place is the pca arm itself (same seed), or a reseeded copy
    same = llds.run_seed(dataclasses.replace(cfg, discretiser="pca_kmeans"), 0, progress=False, data=data)
    assert same.method is same.pca_nmf
    shuffled = llds.run_seed(dataclasses.replace(cfg, shuffle_domains=True), 0, progress=False, data=data)
    assert shuffled.method.q.shape == (6, 6)


def test_swaps_change_only_declared_knobs_and_name_real_claims():
    base = llds.PRESETS["small"]
    names = {c.name for c in llds.CLAIMS}
    for swap in llds.SWAPS:
        cfg = swap.apply(base)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(cfg, f.name) != getattr(base, f.name)}
        assert changed <= {"discretiser", "shuffle_domains", "method_seed_offset"}, (swap.name, changed)
        assert set(swap.breaks) <= names

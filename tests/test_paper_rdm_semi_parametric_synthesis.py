"""Unit tests of featurelab.papers.rdm_semi_parametric_synthesis (retrieval-augmented diffusion): fast, seeded,
CPU only."""

import dataclasses
import math

import pytest
import torch

from featurelab import diffusion as D
from featurelab.papers import rdm_semi_parametric_synthesis as P
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(retrieval="pixels"), dict(sampler="mean"), dict(exclude_self="yes"), dict(k=0), dict(k=33),
                                 dict(embed_dim=0), dict(p_drop=1.5), dict(steps=0), dict(n_fd=5),
                                 dict(ddim_steps=0), dict(n_seeds=0), dict(lr=0.0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(P.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"RETRIEVAL='pixels'.*one of 'nearest'"):
        dataclasses.replace(P.PRESETS["small"], retrieval="pixels")
    with pytest.raises(ParameterError, match="K=0"):
        dataclasses.replace(P.PRESETS["small"], k=0)


def test_embedding_is_pca_and_retrieval_excludes_the_query():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=g) * torch.tensor([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    phi = P.fit_embedding(x, 2)
    z = phi(x)
    assert z.shape == (40, 2) and torch.allclose(z.mean(0), torch.zeros(2), atol=1e-5)
    # the components are the top eigenvectors of the covariance
    _, evecs = torch.linalg.eigh(torch.cov(x.T))
    for j in range(2):
        assert abs(float(phi.components[j] @ evecs[:, -1 - j])) == pytest.approx(1.0, abs=1e-4)
    nb = P.retrieve(z, z, 3, exclude=torch.arange(40))
    assert nb.shape == (40, 3) and not (nb == torch.arange(40)[:, None]).any()
    # by hand: nearest first, Euclidean distance in the embedding
    d = torch.cdist(z, z)
    d.fill_diagonal_(float("inf"))
    assert torch.equal(nb, d.argsort(1)[:, :3])
    assert torch.equal(P.retrieve(z, z, 1)[:, 0], torch.arange(40))   # without exclusion: itself
    with pytest.raises(ParameterError, match="K=40"):
        P.retrieve(z, z, 40, exclude=torch.arange(40))


def test_denoiser_conditions_on_the_neighbour_set_not_its_order():
    torch.manual_seed(0)
    m = P.RetrievalDenoiser(P.DIM, embed_dim=5, hidden=16, depth=1, emb_dim=8).eval()
    x, t = torch.randn(3, P.DIM), torch.tensor([0, 100, 900])
    c = torch.randn(3, 4, 5)
    out = m(x, t, c)
    assert out.shape == (3, P.DIM)
    assert torch.allclose(out, m(x, t, c[:, [2, 0, 3, 1]]), atol=1e-6)           # a set: order-invariant
    with torch.no_grad():
        m.null.normal_()
    assert not torch.allclose(out, m(x, t, c[:, :1].expand(-1, 4, -1)))           # the content matters
    # dropping the neighbours equals the null condition
    drop = torch.tensor([True, False, True])
    got = m._run(x, t, c, None, drop)
    assert torch.allclose(got[[0, 2]], m(x[[0, 2]], t[[0, 2]], None), atol=1e-6)
    assert torch.allclose(got[1], out[1], atol=1e-6)
    # the conditioning is an MLP of the mean neighbour embedding added to the time embedding
    e = m.cond(t, None) + m.neighbours(c.mean(1))
    h = m.inp(x)
    b = m.blocks[0]
    h = h + b["w2"](torch.nn.functional.silu(b["w1"](b["norm"](h)) + b["emb"](e)))
    assert torch.allclose(m.out(h), out, atol=1e-5)


def test_rdm_loss_is_the_epsilon_loss_with_retrieved_neighbours():
    torch.manual_seed(0)
    m = P.RetrievalDenoiser(P.DIM, embed_dim=3, hidden=16, depth=1, emb_dim=8)
    x = torch.randn(6, P.DIM)
    db_emb = torch.randn(6, 3)
    nb = torch.tensor([[1, 2], [0, 2], [0, 1], [4, 5], [3, 5], [3, 4]])
    sched = P.schedule()
    idx = torch.tensor([0, 3, 5])
    loss = P.rdm_loss(m, x[idx], idx, schedule=sched, db_emb=db_emb, neighbours=nb, k=2, p_drop=0.0,
                      generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(1)
    t = torch.randint(0, sched.T, (3,), generator=g)
    noise = torch.randn(3, P.DIM, generator=g)
    want = ((noise - m(sched.q_sample(x[idx], t, noise), t, db_emb[nb[idx]])) ** 2).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-5)
    rnd = P.rdm_loss(m, x[idx], idx, schedule=sched, db_emb=db_emb, neighbours=None, k=2, p_drop=0.0,
                     generator=torch.Generator().manual_seed(1))
    assert math.isfinite(rnd.item()) and rnd.item() != pytest.approx(loss.item())


def test_thicken_is_a_right_and_down_dilation():
    x = -torch.ones(1, 64)
    x[0, 3 * 8 + 4] = 1.0
    y = P.thicken(x).view(8, 8)
    on = {(int(r), int(c)) for r, c in (y > 0).nonzero()}
    assert on == {(3, 4), (2, 4), (3, 3)}   # pixel (r, c) takes the max of itself, (r, c+1), (r+1, c)
    real = P.load_data(0).x_train[:20]
    assert (P.thicken(real) >= real).all() and P.thicken(real).mean() > real.mean()


def test_novelty_ratio_is_zero_for_copies():
    g = torch.Generator().manual_seed(0)
    db, held = torch.randn(30, 4, generator=g), torch.randn(10, 4, generator=g)
    nb = torch.randint(0, 30, (12, 3), generator=g)
    held_nb = torch.randint(0, 30, (10, 3), generator=g)
    assert P.novelty_ratio(db[nb[:, 1]], nb, db, held, held_nb) == 0.0
    assert P.novelty_ratio(torch.randn(12, 4, generator=g), nb, db, held, held_nb) > 0.3


def test_sample_passes_the_neighbour_embeddings_to_the_denoiser():
    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.cs = []

        def forward(self, x, t, c=None):
            self.cs.append(c)
            return torch.zeros_like(x)

    spy, c = Spy(), torch.randn(2, 4, 16)
    out = P.sample(spy, c, steps=3, seed=0)
    assert out.shape == (2, P.DIM) and len(spy.cs) == 3 and all(torch.equal(v, c) for v in spy.cs)
    assert float(out.abs().max()) <= 1.0 + 1e-6


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
    assert sd.sources == ("trained", "trained")
    assert sd.method.fd_samples.shape == (20, P.DIM) and sd.method.query_samples.shape == (360, P.DIM)
    assert float(sd.method.fd_samples.abs().max()) <= 1.0 + 1e-6
    # pseudo-queries never condition on themselves; the method retrieves nearest neighbours
    again = P.run(cfg, [3], progress=False)
    assert again.per_seed[0].sources == ("cache", "cache")
    assert P.claim_values(res) == pytest.approx(P.claim_values(again))
    assert {c.key for c in P.CLAIMS} <= set(P.claim_values(res))
    phi = sd.phi
    te_emb, db_emb = phi(sd.data.x_test), phi(sd.data.x_train)
    assert torch.equal(sd.method.query_nb, P.retrieve(te_emb, db_emb, cfg.k))
    assert torch.equal(sd.method.thick_nb, P.retrieve(te_emb, phi(sd.thick_db), cfg.k))
    # the random-neighbour swap: an independent rerun of the control in the method's place
    rnd = P.run(dataclasses.replace(cfg, retrieval="random"), [3], progress=False)
    assert rnd.per_seed[0].sources == ("trained", "cache")
    assert not torch.equal(rnd.per_seed[0].method.fd_samples, sd.ctrl.fd_samples)
    # the copy baseline returns the nearest conditioning image: novelty 0
    cp = P.run(dataclasses.replace(cfg, sampler="copy"), [3], progress=False)
    m = cp.per_seed[0].method
    assert torch.equal(m.fd_samples, sd.data.x_train[m.fd_nb[:, 0]]) and m.novelty == 0.0
    assert cp.per_seed[0].ctrl.fd == pytest.approx(sd.ctrl.fd)
    bl = P.run(dataclasses.replace(cfg, sampler="blend"), [3], progress=False).per_seed[0].method
    assert torch.allclose(bl.fd_samples, sd.data.x_train[bl.fd_nb].mean(1)) and 0.0 < bl.novelty
    # without self-exclusion a pseudo-query is its own nearest neighbour (and the RDM is trained that way)
    ns = P.run(dataclasses.replace(cfg, exclude_self=False), [3], progress=False).per_seed[0]
    assert ns.sources == ("trained", "cache")
    assert torch.equal(ns.method.fd_nb[:, 0], P.retrieve(db_emb[ns.method.fd_nb[:, 0]], db_emb, 1)[:, 0])
    with pytest.raises(ParameterError):
        P.run(cfg, [])


def test_kit_denoiser_shape_is_reused():
    m = P.RetrievalDenoiser()
    assert isinstance(m, D.MLPDenoiser) and m.n_classes == 0
    assert 150_000 < sum(p.numel() for p in m.parameters()) < 500_000

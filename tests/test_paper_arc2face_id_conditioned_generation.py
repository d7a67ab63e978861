"""Unit tests of featurelab.papers.arc2face_id_conditioned_generation (Arc2Face at toy scale): fast, seeded, CPU."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab import diffusion as D
from featurelab.papers import arc2face_id_conditioned_generation as A
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(conditioning="text"), dict(generator="gan"), dict(encoder="imagenet"),
                                 dict(n_identities=1), dict(per_identity=0), dict(cfg_scale=-1.0),
                                 dict(samples_per_id=1), dict(n_seeds=0), dict(latent_dim=300),
                                 dict(n_identities=4, per_identity=2)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(A.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"CONDITIONING='text'.*one of 'phi'"):
        dataclasses.replace(A.PRESETS["small"], conditioning="text")
    with pytest.raises(ParameterError, match="LATENT_DIM"):
        dataclasses.replace(A.PRESETS["small"], n_identities=4, per_identity=2)


def test_pca_latent_is_whitened_and_inverts_on_its_span():
    g = torch.Generator().manual_seed(0)
    x = (0.5 + 0.1 * torch.randn(200, 1, 16, 16, generator=g)).clamp(0, 1)
    lat = A.PCALatent(256, 8).fit(x)
    z = lat.encode(x)
    assert z.shape == (200, 8)
    assert torch.allclose(z.mean(0), torch.zeros(8), atol=1e-4)
    assert torch.allclose(z.std(0), torch.ones(8), atol=1e-3)
    x2 = lat.decode(z)                      # the projection onto the top components
    z2 = lat.encode(x2)
    assert torch.allclose(z, z2, atol=1e-3)


def test_denoiser_uses_the_embedding_and_zero_is_the_null():
    torch.manual_seed(0)
    m = A.IDDenoiser(dim=8, id_dim=4, hidden=16, depth=2, emb_dim=8)
    z, t = torch.randn(3, 8), torch.tensor([5, 50, 500])
    e1, e2 = F.normalize(torch.randn(3, 4), dim=-1), F.normalize(torch.randn(3, 4), dim=-1)
    assert m(z, t, e1).shape == (3, 8)
    assert not torch.allclose(m(z, t, e1), m(z, t, e2))
    # classifier-free guidance from the kit: ε̂ = ε(z, 0) + s (ε(z, e) − ε(z, 0))
    eps = D.epsilon_fn(m, e1, cfg_scale=3.0)(z, t)
    want = m(z, t, torch.zeros_like(e1)) + 3.0 * (m(z, t, e1) - m(z, t, torch.zeros_like(e1)))
    assert torch.allclose(eps, want, atol=1e-5)


def test_id_dropout_loss_is_the_epsilon_loss_with_zeroed_embeddings():
    torch.manual_seed(0)
    m = A.IDDenoiser(dim=8, id_dim=4, hidden=16, depth=1, emb_dim=8)
    z0, e = torch.randn(6, 8), F.normalize(torch.randn(6, 4), dim=-1)
    s = A.schedule()
    # p = 1: every embedding dropped → the loss of the null condition on the same draws
    g1 = torch.Generator().manual_seed(3)
    got = A.id_dropout_loss(m, z0, e, s, 1.0, g1)
    g2 = torch.Generator().manual_seed(3)
    torch.rand(6, generator=g2)
    want = D.epsilon_loss(m, z0, torch.zeros_like(e), s, generator=g2)
    assert torch.allclose(got, want)


def test_measurements_on_hand_made_inputs():
    faces = torch.zeros(4, 1, 2, 2)
    faces[1] += 1.0                       # identity 0: two faces at distance 2 (4 pixels × 1)
    assert A.diversity(faces, 2) == pytest.approx((2.0 + 0.0) / 2)
    assert A.normalised(0.9, 0.95, 0.55) == pytest.approx(0.875)
    train = torch.rand(10, 1, 2, 2)
    assert A.copy_ratio(train[:3], train, train[3:] + 0.5) == 0.0


def test_retrieval_returns_the_nearest_training_photos():
    x = torch.arange(5.0).view(5, 1, 1, 1)
    e = F.normalize(torch.eye(5)[:, :4] + 0.01, dim=-1)
    ts = A.TrainSet(x, np.arange(5), e, e)
    photos, nearest = A.retrieve(e[:2], ts, 1)
    assert nearest.tolist() == [0, 1] and photos.flatten().tolist() == [0.0, 1.0]


def test_smoke_run_and_shuffled_conditioning(monkeypatch):
    cfg = dataclasses.replace(A.PRESETS["small"], steps=3, n_identities=20, per_identity=2, n_test=4, ddim_steps=2)
    fast = {k: dataclasses.replace(r, n_identities=20, per_identity=2, steps=2) for k, r in
            (("PHI", A.PHI), ("PHI_PRIME", A.PHI_PRIME))}
    monkeypatch.setattr(A, "PHI", fast["PHI"])
    monkeypatch.setattr(A, "PHI_PRIME", fast["PHI_PRIME"])
    res = A.run(cfg, [7])
    v = A.claim_values(res)
    assert set(v) >= {"id_score", "div_ratio", "novelty"}
    sd = res.per_seed[0]
    assert sd.samples.shape == (16, 1, 16, 16) and 0 <= float(sd.samples.min()) and float(sd.samples.max()) <= 1
    phi, _ = A.encoders(0)
    ts = A.training_set(cfg, 7, phi)
    sh = A.training_set(dataclasses.replace(cfg, conditioning="shuffled"), 7, phi)
    assert torch.equal(ts.x, sh.x) and not torch.equal(ts.e, sh.e)
    assert torch.equal(torch.sort(ts.e, 0).values, torch.sort(sh.e, 0).values)   # a permutation of the rows
    ret = A.run(dataclasses.replace(cfg, generator="retrieval"), [7])
    assert ret.per_seed[0].novelty == 0.0
    g, _ = A.train_generator(cfg, 7, ts)
    e = F.normalize(torch.randn(2, 32), dim=-1)
    single = A.generate(g, e, 2 * 3, 3.0, steps=2, seed=1).view(4, 3, 1, 16, 16).mean(1)
    assert torch.allclose(A.conditional_mean(g, e, 2, 3.0, steps=2, seed=1, draws=3), single)

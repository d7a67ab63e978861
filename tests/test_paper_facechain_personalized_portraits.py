"""Unit tests of featurelab.papers.facechain_personalized_portraits (FaceChain at toy scale).

Fast, seeded, CPU."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from featurelab import diffusion as D
from featurelab.papers import facechain_personalized_portraits as P
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(ranker="clip"), dict(tagging="maybe"), dict(lora_rank=0), dict(top_k=0),
                                 dict(n_candidates=1), dict(user_photos=1), dict(lora_weight=-0.5),
                                 dict(temperature=0.0), dict(n_seeds=0), dict(top_k=100),
                                 dict(n_tag_users=-1), dict(n_tag_users=129)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(P.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"RANKER='clip'.*one of 'phi'"):
        dataclasses.replace(P.PRESETS["small"], ranker="clip")
    with pytest.raises(ParameterError, match="TOP_K"):
        dataclasses.replace(P.PRESETS["small"], top_k=100)
    with pytest.raises(ParameterError, match="N_TAG_USERS"):
        dataclasses.replace(P.PRESETS["small"], n_tag_users=129)


def test_style_input_one_hot_and_neutral():
    s = P.style_input(np.array([0, 2]))
    assert torch.equal(s, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))
    assert torch.equal(P.style_input(np.array([0, 2]), tagged=False), torch.zeros(2, 3))


def test_neg_elbo_is_reconstruction_plus_kl():
    torch.manual_seed(0)
    vae = P.StyleVAE(latent_dim=4, hidden=8)
    x, s = torch.rand(3, 1, 16, 16), P.style_input(np.array([0, 1, 2]))
    got = P.neg_elbo(vae, x, s, torch.Generator().manual_seed(1))
    mu, logvar = vae.encode(x, s)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))
    rec = F.binary_cross_entropy_with_logits(vae.decode_logits(z, s), x.reshape(3, -1), reduction="sum")
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum()
    assert torch.allclose(got, (rec + kl) / 3, atol=1e-4)


def test_personalise_adapts_only_the_two_decoder_layers_and_starts_at_the_base():
    torch.manual_seed(0)
    vae = P.StyleVAE(latent_dim=4, hidden=8).eval()
    photos, style = torch.rand(3, 1, 16, 16), np.zeros(3, dtype=int)
    v0 = P.personalise(vae, photos, style, tagged=True, rank=2, steps=0, lr=1e-2, seed=0)
    wrapped = [n for n, m in v0.named_modules() if isinstance(m, D.LoRA)]
    assert wrapped == ["decoder.0", "decoder.2"]
    z, s = torch.randn(5, 4), P.style_input(np.zeros(5, dtype=int))
    v1 = P.personalise(vae, photos, style, tagged=True, rank=2, steps=5, lr=1e-2, seed=0)
    with torch.no_grad():
        assert torch.allclose(v0.decode(z, s), vae.decode(z, s))      # B = 0 at the start
        assert not torch.allclose(v1.decode(z, s), vae.decode(z, s))
        # W' = W + w·(α/r)·BA: the fusion weight scales the update; w = 0 is the base
        lora = v1.decoder[0]
        P.set_lora_weight(v1, 0.5)
        w = lora.base.weight + lora.delta_weight()
        inp = torch.randn(2, 7)
        assert torch.allclose(lora(inp), inp @ w.T + lora.base.bias, atol=1e-5)
        P.set_lora_weight(v1, 0.0)
        assert torch.allclose(v1.decode(z, s), vae.decode(z, s))
    adapters = (".A.", ".B.")
    assert all(not p.requires_grad for n, p in v1.named_parameters() if not any(a in n for a in adapters))
    # the base model itself is untouched
    assert not any(isinstance(m, D.LoRA) for m in vae.modules())


def test_rankers_and_top_k():
    ref = torch.zeros(1, 1, 4, 4)
    cand = torch.stack([torch.full((1, 4, 4), v) for v in (0.5, 0.1, 0.9, 0.2)])
    pix = P.rank_scores("pixel", cand, ref, None, None, 0)
    assert torch.allclose(pix, -4 * torch.tensor([0.5, 0.1, 0.9, 0.2]))
    assert P.top_k(pix, 2).tolist() == [1, 3]
    r1 = P.rank_scores("random", cand, ref, None, None, 3)
    assert torch.equal(r1, P.rank_scores("random", cand, ref, None, None, 3))


def test_phi_ranker_is_the_cosine_to_the_reference_embedding():
    enc = P.random_encoder(0)
    cand, ref = torch.rand(5, 1, 16, 16), torch.rand(1, 1, 16, 16)
    got = P.rank_scores("phi", cand, ref, enc, None, 0)
    za, zb = F.normalize(enc.features(cand), dim=-1), F.normalize(enc.features(ref), dim=-1)
    assert torch.allclose(got, (za @ zb.T)[:, 0], atol=1e-5)


def test_quality_reference_picks_the_most_typical_photo():
    class Id(torch.nn.Module):
        def features(self, x):
            return x.flatten(1)

    # unit rows at angles 0°, 10°, 20°, 90°: the 20° photo has the highest mean cosine to the others
    ang = torch.deg2rad(torch.tensor([0.0, 10.0, 20.0, 90.0]))
    photos = torch.stack([ang.cos(), ang.sin()], 1).view(4, 1, 1, 2)
    assert P.quality_reference(Id(), photos) == 2


def test_user_loras_equal_one_add_lora_model_per_user():
    torch.manual_seed(0)
    vae = P.StyleVAE(8, 16)
    ad = P.UserLoRAs(vae, 3, 2, seed=0)
    with torch.no_grad():
        for b in ad.B:
            b.normal_()
    z, s = torch.randn(3, 4, 8), P.style_input(np.array([0, 1, 2] * 4)).view(3, 4, 3)
    out = ad.decode_logits(z, s)
    for u in range(3):
        v = ad.user_vae(u)
        assert isinstance(v.decoder[0], D.LoRA) and isinstance(v.decoder[2], D.LoRA)
        assert torch.allclose(v.decode_logits(z[u], s[u]), out[u], atol=1e-5)
    # user 0's output does not depend on user 1's adapters (the summed ELBO separates per user)
    with torch.no_grad():
        ad.B[0][1].add_(1.0)
    assert torch.equal(ad.decode_logits(z, s)[0], out[0])


def test_personalise_users_zero_steps_is_the_base():
    vae = P.StyleVAE(8, 16)
    photos = torch.rand(6, 1, 16, 16)
    vs = P.personalise_users(vae, photos, np.zeros(6, int), 2, tagged=True, rank=2, steps=0, lr=1e-2, seed=0)
    z, s = torch.randn(3, 8), P.style_input(np.array([0, 1, 2]))
    for v in vs:
        assert torch.allclose(v.decode(z, s), vae.decode(z, s), atol=1e-6)


def test_swaps_change_what_they_say():
    cfg = P.PRESETS["small"]
    by = {s.name: s for s in P.SWAPS}
    null = by["pixel_ranker_null"].apply(cfg)
    assert (null.ranker, null.candidate_seed) == ("pixel", 1)
    assert by["untrained_ranker"].apply(cfg).ranker == "untrained"
    assert by["random_ranker"].apply(cfg).ranker == "random"
    for s in P.SWAPS:
        new = s.apply(cfg)
        changed = {f.name for f in dataclasses.fields(cfg) if getattr(new, f.name) != getattr(cfg, f.name)}
        assert changed <= {"ranker", "candidate_seed", "tagging", "lora_seed"}


def test_smoke_run_measures_every_arm():
    cfg = dataclasses.replace(P.PRESETS["small"], **P.SMOKE)
    res = P.run(cfg, [5])
    v = P.claim_values(res)
    assert set(v) >= {c.key for c in P.CLAIMS}
    assert all(np.isfinite(v[f"sim_{a}"]) for a in P.ARMS)
    u = res.per_seed[0].users[0]
    assert u.candidates.shape == (cfg.n_candidates, 1, 16, 16) and u.kept.shape == (cfg.top_k, 1, 16, 16)
    assert u.target != u.style
    assert torch.equal(u.kept, u.candidates[u.scores.topk(cfg.top_k).indices])
    # the untagged LoRA only for the first n_tag_users users; tag_gain compares on exactly those users
    users = res.per_seed[0].users
    assert [("untagged_phi" in us.sims) for us in users] == [i < cfg.n_tag_users for i in range(cfg.n_users)]
    tu = users[:cfg.n_tag_users]
    want = np.mean([us.styles["method"] for us in tu]) - np.mean([us.styles["untagged_phi"] for us in tu])
    assert res.per_seed[0].tag_gain == pytest.approx(want)

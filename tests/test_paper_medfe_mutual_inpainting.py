"""Unit tests of featurelab.papers.medfe_mutual_inpainting (Liu et al., ECCV 2020, MEDFE): fast, seeded, CPU."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab.papers import medfe_mutual_inpainting as md
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(hole=(9, 8)), dict(hole=(10, 30)), dict(period=(8.0, 4.0)), dict(size=36),
                                 dict(texture="plaid"), dict(arm="gan"), dict(sigma=0.0), dict(n_pconv=0),
                                 dict(n_seeds=0), dict(lr=0.0), dict(train_steps=-1), dict(range_term=2),
                                 dict(eq_div=3), dict(test_offset=-1)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(md.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"TEXTURE='plaid'.*one of 'stripes'"):
        dataclasses.replace(md.PRESETS["small"], texture="plaid")
    with pytest.raises(ParameterError, match="SIGMA"):
        dataclasses.replace(md.PRESETS["small"], sigma=-1.0)
    with pytest.raises(ParameterError, match="HOLE"):
        dataclasses.replace(md.PRESETS["small"], hole=(12, 10))


def test_patch_attention_is_softmax_of_sigmoid_patch_products():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 5, generator=g)
    y, a = md.patch_attention(x, return_attn=True)
    s = F.pad(torch.sigmoid(x), (1, 1, 1, 1))                     # zero-padded sigmoid features
    N, C, H, W = x.shape
    patches = torch.stack([s[:, :, i:i + 3, j:j + 3].reshape(N, -1) for i in range(H) for j in range(W)], 1)
    logits = torch.einsum("nid,njd->nij", patches, patches) / C  # mean over channels, sum over the 3×3 window
    want_a = torch.softmax(logits, -1)
    assert torch.allclose(a, want_a, atol=1e-5)
    want_y = torch.einsum("nij,ncj->nci", want_a, x.flatten(2)).reshape_as(x)
    assert torch.allclose(y, want_y, atol=1e-5)
    assert torch.allclose(a.sum(-1), torch.ones(N, H * W))


def test_gaussian_spatial_term_is_a_normalised_gaussian_over_the_whole_map():
    G = md.gaussian_affinity(4, 5, 1.5)
    assert G.shape == (20, 20)
    assert torch.allclose(G.sum(1), torch.ones(20))
    i, j = 6, 13                                                  # (1, 1) and (2, 3)
    raw = torch.exp(-torch.tensor((1.0 ** 2 + 2.0 ** 2) / (2 * 1.5 ** 2)))
    norm = sum(torch.exp(-torch.tensor(((1 - y) ** 2 + (1 - x) ** 2) / (2 * 1.5 ** 2))) for y in range(4)
               for x in range(5))
    assert torch.isclose(G[i, j], raw / norm, atol=1e-6)
    assert bool((G > 0).all())                                    # every position contributes (whole map)


def test_bpa_concatenates_range_and_spatial_then_projects():
    torch.manual_seed(0)
    bpa = md.BPA(3, 2, 4, 1.5)
    x = torch.randn(2, 3, 4, 4)
    spatial = (bpa.G @ x.flatten(2).transpose(1, 2)).transpose(1, 2).reshape_as(x)
    want = bpa.proj(torch.cat([md.patch_attention(x), spatial], 1))
    assert torch.allclose(bpa(x), want, atol=1e-5)
    bpa.range_term = False                                         # B−: zeros in place of the range term
    assert torch.allclose(bpa(x), bpa.proj(torch.cat([torch.zeros_like(x), spatial], 1)), atol=1e-6)


def test_se_reweights_channels_by_a_gate_in_0_1():
    torch.manual_seed(0)
    se = md.SE(8, 4)
    x = torch.rand(2, 8, 3, 3) + 0.1
    gate = se(x) / x
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-5)   # one weight per channel
    assert bool(((gate > 0) & (gate < 1)).all())


def test_images_holes_and_targets():
    cfg = md.PRESETS["small"]
    im = md.make_images(30, cfg, 3)
    assert im.image.shape == (30, 1, 32, 32) and im.image.dtype == torch.float32
    assert float(im.image.min()) >= 0 and float(im.image.max()) <= 1
    side = (1 - im.mask).flatten(1).sum(1).sqrt()
    assert bool(((side >= cfg.hole[0]) & (side <= cfg.hole[1])).all()) and bool((side == side.round()).all())
    x = im.masked_input()
    assert torch.equal(x[im.mask == 0], torch.full_like(x[im.mask == 0], md.FILL))
    lap = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean()                  # noqa: E731
    assert lap(im.smooth) < 0.5 * lap(im.image)                                      # structure target is smoother
    noise = md.make_images(30, dataclasses.replace(cfg, texture="noise"), 3)
    assert torch.equal(noise.mask, im.mask) and not torch.equal(noise.image, im.image)


def test_models_are_parameter_matched_and_shapes_fit():
    cfg = md.PRESETS["small"]
    n = {arm: md.n_params(md.build(cfg, arm)) for arm in md.MODELS}
    assert max(n.values()) / min(n.values()) < 1.1, n
    im = md.make_images(4, cfg, 0)
    for arm in md.MODELS:
        out, aux = md.build(cfg, arm)(im.masked_input(), im.mask)
        assert out.shape == im.image.shape
        assert (arm == "medfe") == bool(aux)
    no_range = md.build(dataclasses.replace(cfg, range_term=False), "medfe")
    assert md.n_params(no_range) == n["medfe"] and not no_range.bpa.range_term


def test_output_ignores_hole_pixels_of_the_input():
    cfg = md.PRESETS["small"]
    im = md.make_images(3, cfg, 1)
    torch.manual_seed(0)
    model = md.build(cfg, "medfe").eval()
    junk = im.masked_input() + 5.0 * (1 - im.mask) * torch.randn_like(im.image)
    with torch.no_grad():
        a, _ = model(im.masked_input(), im.mask)
        b, _ = model(junk, im.mask)
    # partial convs never see hole values; only the last full-resolution conv reads the raw input
    far = F.max_pool2d(1 - im.mask, 3, 1, 1) == 0
    assert torch.allclose(a[far], b[far], atol=1e-5)


def test_phase_alignment_is_one_for_self_attention_and_small_for_uniform():
    cfg = md.PRESETS["small"]
    im = md.make_images(6, cfg, 2)
    L = (cfg.size // cfg.eq_div) ** 2
    eye = torch.eye(L).expand(6, L, L)
    assert md.phase_alignment(eye, im) == pytest.approx(1.0)
    assert abs(md.phase_alignment(torch.full((6, L, L), 1.0 / L), im)) < 0.1


def test_psnr_of_the_perfect_fill_is_high_and_of_the_mean_fill_finite():
    cfg = md.PRESETS["small"]
    im = md.make_images(5, cfg, 4)
    assert md.hole_psnr(im.image, im) >= 90
    assert 5 < md.hole_psnr(im.masked_input(), im) < 40


def test_swaps_keep_data_and_budget():
    base = md.PRESETS["small"]
    names = {c.name for c in md.CLAIMS}
    for swap in md.SWAPS:
        cfg = swap.apply(base)
        assert cfg.data_key() == base.data_key(), swap.name
        assert (cfg.train_steps, cfg.batch_size, cfg.lr) == (base.train_steps, base.batch_size, base.lr)
        assert set(swap.breaks) <= names


def test_run_end_to_end_tiny_seeded():
    cfg = dataclasses.replace(md.PRESETS["small"], n_train=16, train_steps=2, n_test=6, n_seeds=1, batch_size=8)
    res = md.run(cfg, [7], progress=False)
    assert set(res.sources[0].values()) == {"trained"}
    again = md.run(cfg, [7], progress=False)
    assert set(again.sources[0].values()) == {"cache"} and md.claim_values(res) == md.claim_values(again)
    values = md.claim_values(res)
    assert {c.key for c in md.CLAIMS} <= set(values)
    assert res.align[0] == res.align[0]                                         # MEDFE arm: alignment measured
    null = md.run(dataclasses.replace(cfg, arm="meanfill", test_offset=10_000), [7], progress=False)
    assert null.psnr[0]["arm"] != null.psnr[0]["meanfill"]                      # independent test images
    same = md.run(dataclasses.replace(cfg, arm="meanfill"), [7], progress=False)
    assert md.claim_values(same)["gain_vs_meanfill"] == [0.0]                   # the baseline against itself
    a = md.run(dataclasses.replace(cfg, arm="pconv"), [7], progress=False)
    assert a.psnr[0]["arm"] == a.psnr[0]["pconv"] and a.sources[0]["arm"] == "cache"   # the run's own A
    with pytest.raises(ParameterError):
        md.run(cfg, [])

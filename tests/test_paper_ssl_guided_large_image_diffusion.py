"""Unit tests of featurelab.papers.ssl_guided_large_image_diffusion (per-step fusion of overlapping patch
diffusion conditioned on self-supervised embeddings): fast, seeded, CPU only."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from featurelab import diffusion as D
from featurelab.papers import ssl_guided_large_image_diffusion as P
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(stride=5), dict(fusion="end"), dict(conditioning="text"), dict(interp="cubic"),
                                 dict(guidance=-1.0), dict(eta=2.0), dict(p_uncond=1.5), dict(steps=0),
                                 dict(n_seeds=0), dict(n_patches=10), dict(n_refs=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(P.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"STRIDE=5.*one of 4, 8, 16"):
        dataclasses.replace(P.PRESETS["small"], stride=5)
    with pytest.raises(ParameterError, match="FUSION"):
        dataclasses.replace(P.PRESETS["small"], fusion="end")


def _tiny(z_dim=4, seed=0):
    torch.manual_seed(seed)
    return P.EmbeddingDenoiser(z_dim, hidden=16, depth=1, emb_dim=8).eval()


def test_maps_are_seeded_shaped_and_in_range():
    x, lab, o = P.make_maps(3, 5)
    x2, lab2, _ = P.make_maps(3, 5)
    assert x.shape == (3, 1, 64, 64) and lab.shape == (3, 64, 64) and o.shape == (3,)
    assert torch.equal(x, x2) and torch.equal(lab, lab2)
    assert float(x.min()) >= -1 and float(x.max()) <= 1 and set(lab.unique().tolist()) <= {0, 1, 2, 3}
    tw = P.twin(lab, o, 9)
    assert tw.shape == x.shape and not torch.equal(tw, x)


def test_fuse_is_the_coverage_average():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(2 * 49, 256, generator=g)
    fused = P.fuse(w, 2, 8)
    # by hand: pixel (20, 3) of map 1 is covered by windows at rows 8 and 16, column 0
    pos = P.window_positions(8)
    vals = []
    for i, r in enumerate(pos):
        for j, c in enumerate(pos):
            if r <= 20 < r + 16 and c <= 3 < c + 16:
                vals.append(w[49 + i * 7 + j].reshape(16, 16)[20 - r, 3 - c])
    assert len(vals) == 2
    assert torch.allclose(fused[1, 0, 20, 3], torch.stack(vals).mean(), atol=1e-6)
    # windows of a map fused back give the map exactly
    x = torch.randn(2, 1, 64, 64, generator=g)
    for s in (4, 8, 16):
        assert torch.allclose(P.fuse(P.to_windows(x, s), 2, s), x, atol=1e-6)


def test_fused_eps_averages_x0_and_equals_averaging_eps():
    model, sched = _tiny(), P.schedule()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 1, 64, 64, generator=g)
    cond = F.normalize(torch.rand(49, 4, generator=g), dim=-1)
    t = torch.full((1,), 400)
    got = P.fused_eps(model, cond, 8, 3.0, sched)(x, t)
    xw = P.to_windows(x, 8)
    tw = torch.full((49,), 400)
    e = 4.0 * model(xw, tw, cond) - 3.0 * model(xw, tw, torch.zeros_like(cond))   # (1+g) ε_c − g ε_∅
    ab = sched.alpha_bar[400]
    x0 = P.fuse((xw - (1 - ab).sqrt() * e) / ab.sqrt(), 1, 8)
    want = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
    assert torch.allclose(got, want, atol=1e-4)
    assert torch.allclose(got, P.fuse(e, 1, 8), atol=1e-4)   # averaging x̂0 = averaging ε at a shared x_t


def test_step_fusion_differs_from_final_averaging_and_tiles_are_seamless_only_by_overlap():
    model = _tiny()
    grid = F.normalize(torch.rand(1, 4, 4, 4, generator=torch.Generator().manual_seed(2)), dim=-1)
    kw = dict(g=1.0, steps=3, eta=0.0, seed=4)
    a = P.generate(model, grid, stride=8, fusion="step", **kw)
    b = P.generate(model, grid, stride=8, fusion="final", **kw)
    assert a.shape == b.shape == (1, 1, 64, 64)
    assert not torch.allclose(a, b, atol=1e-3)
    # with no overlap both are the same thing: every pixel has one window
    c = P.generate(model, grid, stride=16, fusion="step", **kw)
    d = P.generate(model, grid, stride=16, fusion="final", **kw)
    assert torch.allclose(c, d, atol=1e-4)


def test_window_conditions_interpolate_the_grid():
    g = torch.Generator().manual_seed(3)
    grid = F.normalize(torch.randn(2, 4, 4, 5, generator=g), dim=-1)
    lam = P.window_conditions(grid, 8, "slerp")
    assert lam.shape == (2, 49, 5)
    assert torch.allclose(lam[:, 0], grid[:, 0, 0], atol=1e-6)          # window (0, 0) sits on grid point (0, 0)
    assert torch.allclose(lam[:, 7 * 2 + 4], grid[:, 1, 2], atol=1e-6)  # window (16, 32) on grid point (1, 2)
    assert torch.allclose(lam.norm(dim=-1), torch.ones(2, 49), atol=1e-4)   # slerp stays on the sphere
    mid = P.slerp(grid[:, 0, 0], grid[:, 0, 1], torch.full((2, 1), 0.5))
    assert torch.allclose(lam[:, 1], mid, atol=1e-6)
    lerp = P.window_conditions(grid, 8, "lerp")
    assert torch.allclose(lerp[:, 1], (grid[:, 0, 0] + grid[:, 0, 1]) / 2, atol=1e-6)
    assert torch.equal(P.window_conditions(grid, 16), grid.reshape(2, 16, 5))


def test_epsilon_fn_null_is_the_all_zero_embedding():
    model = _tiny()
    x, t = torch.randn(3, 256), torch.full((3,), 100)
    z = F.normalize(torch.rand(3, 4), dim=-1)
    got = D.epsilon_fn(model, z, cfg_scale=2.5)(x, t)
    assert torch.allclose(got, 2.5 * model(x, t, z) - 1.5 * model(x, t, torch.zeros_like(z)), atol=1e-5)


def test_measurements_on_known_images():
    x, lab, o = P.make_maps(4, 11)
    clf = P.texture_classifier(0)
    assert P.layout_agreement(clf, x, lab).mean() > 0.85          # real maps read back as their layout
    tiles = torch.zeros(1, 1, 64, 64)
    tiles[..., 16:32, :] = 1.0                                     # steps exactly on the 16-px grid
    assert P.seam_ratio(tiles) > 10
    assert P.seam_ratio(torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))) == pytest.approx(1, abs=0.1)
    blur = F.avg_pool2d(x, 5, 1, 2)
    real = P.make_maps(4, 12)[0]
    assert P.crop_fd(blur, real, 16, 0) > P.crop_fd(P.twin(lab, o, 3), real, 16, 0)
    assert P.correlation(x, x) == pytest.approx([1.0] * 4, abs=1e-5)


def test_smoke_run_and_swaps():
    cfg = dataclasses.replace(P.PRESETS["small"], **P.SMOKE)
    res = P.run(cfg, [3])
    v = P.claim_values(res)
    assert {c.key for c in P.CLAIMS} <= set(v)
    swaps = {s.name: s for s in P.SWAPS}
    copy = P.run(swaps["copy_reference"].apply(cfg), [3])
    assert P.claim_values(copy)["copy_excess"][0] > 0.2              # a copy is caught by the guard
    assert torch.equal(copy.per_seed[0].images["O"], copy.per_seed[0].refs)
    rnd = P.run(swaps["random_encoder"].apply(cfg), [3])
    for arm in ("O_final", "T", "U", "labels", "random"):              # a swap changes only the method's arm
        assert torch.equal(copy.per_seed[0].images[arm], res.per_seed[0].images[arm])
    assert not torch.equal(rnd.per_seed[0].images["O"], res.per_seed[0].images["O"])


def test_random_encoder_embeddings_are_standardised_unit_vectors():
    cfg = dataclasses.replace(P.PRESETS["small"], **P.SMOKE)
    x = P.load_data(cfg.n_maps, cfg.n_patches, 3).patches
    raw = P.embed(P.encoder(cfg, 3, trained=False), x)
    z = P.embedder("random", cfg, 3)(x)
    assert torch.allclose(z.norm(dim=-1), torch.ones(len(z)), atol=1e-5)
    assert z.std(0).mean() > 3 * raw.std(0).mean()                  # raw unit embeddings barely vary
    with pytest.raises(P.ParameterError):
        P.embedder("labels", cfg, 3)


def test_unet_denoiser_takes_flat_patches_and_zero_is_null():
    torch.manual_seed(0)
    m = P.EmbeddingUNet(4, width=4, emb_dim=8).eval()
    x, t = torch.randn(2, 256), torch.full((2,), 10)
    z = F.normalize(torch.rand(2, 4), dim=-1)
    assert m(x, t, z).shape == (2, 256)
    assert torch.allclose(m(x, t, None), m(x, t, torch.zeros_like(z)), atol=1e-5)

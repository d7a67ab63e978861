"""Unit tests of featurelab.papers.diti_timestep_features (Yue et al. 2024, DiTi): fast, seeded, CPU only."""

import dataclasses
import math

import pytest
import torch

from featurelab.papers import diti_timestep_features as diti
from featurelab.run import ParameterError


@pytest.fixture(autouse=True)
def _private_model_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURELAB_MODEL_CACHE", str(tmp_path))


@pytest.mark.parametrize("bad", [dict(masking="random"), dict(contrast=0.0), dict(k=3), dict(z_dim=30),
                                 dict(n_seeds=0), dict(steps=-1), dict(lr=0.0), dict(ddim_steps=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ParameterError):
        dataclasses.replace(diti.PRESETS["small"], **bad)


def test_bad_knob_error_names_the_knob():
    with pytest.raises(ParameterError, match=r"MASKING='random'.*one of 'diti'"):
        dataclasses.replace(diti.PRESETS["small"], masking="random")


def test_shift_and_weight_are_the_official_formulas():
    s = diti.schedule()
    a, ab = s.alphas.double(), s.alpha_bar.double()
    for t in (0, 1, 10, 500, 999):
        prev = 1.0 if t == 0 else ab[t - 1]
        want = -math.sqrt(a[t]) * (1 - prev) / math.sqrt(1 - ab[t])
        assert float(diti.shift_coef(s)[t]) == pytest.approx(float(want), rel=1e-4, abs=1e-7)
        snr = ab[t] / (1 - ab[t])
        assert float(diti.loss_weight(s)[t]) == pytest.approx(float(snr ** 0.1 / (1 + snr)), rel=1e-4)
    assert float(diti.shift_coef(s)[0]) == 0.0 and bool((diti.shift_coef(s)[1:] < 0).all())


def test_prefix_masks_are_cumulative_and_the_time_map_is_uniform():
    m = diti.prefix_masks(4, 8)
    assert m.tolist() == [[1, 1, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0, 0], [1] * 8]
    t = torch.tensor([0, 249, 250, 499, 500, 999])
    assert diti.subset_index(t, 1000, 4).tolist() == [0, 0, 1, 1, 2, 3]
    assert diti.visible_index(t, 1000, 4, "diti").tolist() == [0, 0, 1, 1, 2, 3]
    assert diti.visible_index(t, 1000, 4, "reversed").tolist() == [3, 3, 2, 2, 1, 0]
    assert diti.visible_index(t, 1000, 4, "full").tolist() == [3] * 6
    g = torch.Generator().manual_seed(0)
    tt = torch.zeros(4000, dtype=torch.long)          # nested dropout: the same uniform lengths, whatever t is
    counts = torch.bincount(diti.visible_index(tt, 1000, 4, "nested", g), minlength=4).float() / 4000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.03)
    with pytest.raises(ParameterError):
        diti.visible_index(t, 1000, 4, "bogus")


class _ZeroDM(torch.nn.Module):
    def forward(self, x, t, y=None):
        return torch.zeros_like(x)


def test_loss_equals_the_formula_on_a_small_batch():
    torch.manual_seed(0)
    model = diti.DiTi(8, 4, 16)
    x0 = torch.randn(5, diti.DIM)
    s = diti.schedule()
    got = diti.diti_loss(model, x0, _ZeroDM(), s, "diti", torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    t = torch.randint(0, s.T, (5,), generator=g)
    noise = torch.randn(x0.shape, generator=g)
    x_t = s.q_sample(x0, t, noise)
    z = model.encoder(x0)
    zm = z * diti.prefix_masks(4, 8)[(t * 4) // 1000]
    pred = diti.shift_coef(s)[t][:, None] * model.decoder(x_t, t, zm)
    want = (diti.loss_weight(s)[t][:, None] * (noise - pred) ** 2).mean()
    assert torch.allclose(got, want, atol=1e-6)


def test_masked_code_cannot_reach_the_decoder():
    torch.manual_seed(1)
    model = diti.DiTi(8, 4, 16)
    x0 = torch.randn(3, diti.DIM, requires_grad=False)
    t = torch.full((3,), 100)                        # subset 0 only
    z = torch.randn(3, 8, requires_grad=True)
    out = model.decoder(x0, t, z * model.masks[diti.subset_index(t, 1000, 4)])
    out.sum().backward()
    assert bool((z.grad[:, 2:] == 0).all()) and bool((z.grad[:, :2] != 0).any())


def test_images_and_pairs():
    d = diti.make_data(60, 0, 0.12)
    assert d.x.shape == (60, 256) and float(d.x.min()) >= -1 and float(d.x.max()) <= 1
    a, b = diti.attribute_pairs(20, 1, 0.12, "texture")
    diff = (a - b).abs()
    assert bool(((diff == 0) | (diff - 0.24).abs().lt(1e-5)).all())      # only the pattern differs
    s = diti.schedule()
    ts = torch.tensor([0, 300, 999])
    err = diti.attribute_err(a, b, s, ts)
    assert float(err[0]) < 1e-6 and bool((err[1:] >= err[:-1]).all()) and float(err[-1]) <= 0.5
    d1 = (a - b).norm(dim=1)
    ab = s.alpha_bar[300]
    want = 0.5 * torch.erfc(ab.sqrt() * d1 / (2 * math.sqrt(2) * (1 - ab).sqrt())).mean()
    assert float(err[1]) == pytest.approx(float(want), rel=1e-5)


def test_reader_reads_clean_attributes():
    d = diti.make_data(600, 2, 0.12)
    r = diti.Reader(d.x[:400], d.shape[:400], d.texture[:400])
    for att in ("shape", "texture"):
        assert float((r(d.x[400:], att) == getattr(d, att)[400:]).float().mean()) > 0.95


def test_smoke_run_has_every_claim_value():
    cfg = dataclasses.replace(diti.PRESETS["small"], **diti.SMOKE)
    res = diti.run(cfg, [0])
    vals = diti.claim_values(res)
    for c in diti.CLAIMS:
        assert c.key in vals
    assert res.per_seed[0].tex_acc.shape == (cfg.k,)


def test_swaps_change_only_the_masking_or_seed():
    base = diti.PRESETS["small"]
    for s in diti.SWAPS:
        new = s.apply(base)
        changed = {f.name for f in dataclasses.fields(base) if getattr(base, f.name) != getattr(new, f.name)}
        assert changed in ({"masking"}, {"steps"})

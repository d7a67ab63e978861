"""The diffusion kit against closed forms: oracle denoisers for point masses and Gaussians (whose exact ε is
known), the guidance formulas on spy models, LoRA's weight update, and the 1-d Fréchet distance."""

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

from featurelab import diffusion as D
from featurelab import train
from featurelab.base import ParameterError


def test_schedules_match_their_formulas():
    s = D.linear_schedule(1000)
    assert s.T == 1000 and math.isclose(s.betas[0].item(), 1e-4, rel_tol=1e-5)
    assert math.isclose(s.betas[-1].item(), 0.02, rel_tol=1e-5)
    assert torch.allclose(s.alpha_bar, torch.cumprod(1 - s.betas.double(), 0).float())
    c = D.cosine_schedule(100, s=0.008)
    f = lambda t: math.cos((t / 100 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    for t in (0, 49, 90):   # (the last steps are clipped at max_beta)
        assert math.isclose(c.alpha_bar[t].item(), f(t + 1) / f(0), rel_tol=1e-4)
    short = D.linear_schedule(100)   # end points rescaled by 1000 / T
    assert math.isclose(short.betas[-1].item(), 0.2, rel_tol=1e-5)
    for bad in (lambda: D.linear_schedule(0), lambda: D.cosine_schedule(-1), lambda: D.Schedule(torch.tensor([0.5, 1.0]))):
        with pytest.raises(ParameterError):
            bad()


def test_q_sample_and_predict_x0_are_inverse():
    s = D.cosine_schedule(50)
    x0, noise = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    t = torch.tensor([0, 5, 10, 20, 30, 40])
    xt = s.q_sample(x0, t, noise)
    ab = s.alpha_bar[t].reshape(-1, 1, 1, 1)
    assert torch.allclose(xt, ab.sqrt() * x0 + (1 - ab).sqrt() * noise)
    assert torch.allclose(s.predict_x0(xt, t, noise), x0, atol=1e-4)


class _PointMassOracle(nn.Module):
    """The exact ε for data that is a point mass at ``centres[y]`` (and at ``centres[0]`` for the null label)."""

    def __init__(self, centres: torch.Tensor, schedule: D.Schedule):
        super().__init__()
        self.centres, self.s, self.n_classes = centres, schedule, len(centres)
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x, t, y=None):
        self.calls.append((t.clone(), None if y is None else y.clone()))
        y = torch.zeros_like(t) if y is None else y.clamp(max=self.n_classes - 1)
        ab = self.s.alpha_bar[t].reshape(-1, *([1] * (x.ndim - 1)))
        return (x - ab.sqrt() * self.centres[y]) / (1 - ab).sqrt()


def test_samplers_recover_a_point_mass_with_the_exact_epsilon():
    s = D.linear_schedule(200)
    c = torch.tensor([[1.5, -0.5, 0.25]])
    oracle = _PointMassOracle(c, s)
    eps = D.epsilon_fn(oracle)
    g = torch.Generator().manual_seed(0)
    assert torch.allclose(D.ddpm_sample(eps, (5, 3), s, generator=g), c.expand(5, 3), atol=1e-4)
    for eta in (0.0, 1.0):
        assert torch.allclose(D.ddim_sample(eps, (5, 3), s, steps=20, eta=eta, generator=g), c.expand(5, 3),
                              atol=1e-4)


def test_ddpm_reproduces_a_gaussian_with_its_exact_epsilon():
    """For data N(μ, σ²) the optimal ε is √(1−ᾱ)(x_t − √ᾱ μ)/(ᾱσ² + 1 − ᾱ); ancestral sampling must then return
    samples with mean μ and standard deviation σ (a wrong variance in the sampler fails this)."""
    s = D.linear_schedule(300)
    mu, sigma = 0.7, 0.4

    def eps(x, t):
        ab = s.alpha_bar[t][:, None]
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * sigma ** 2 + 1 - ab)

    x = D.ddpm_sample(eps, (20_000, 1), s, generator=torch.Generator().manual_seed(1))
    assert abs(x.mean().item() - mu) < 0.02 and abs(x.std().item() - sigma) < 0.02
    # DDIM (η = 0) integrates the probability-flow ODE: exact in the limit, so the error shrinks with the steps
    err = [abs(D.ddim_sample(eps, (20_000, 1), s, steps=k, generator=torch.Generator().manual_seed(2)).std().item()
               - sigma) for k in (30, 300)]
    assert err[1] < 0.01 and err[1] < err[0]


def test_ddim_eta0_is_deterministic_given_x_T():
    s = D.cosine_schedule(100)
    net = D.MLPDenoiser(2, hidden=16, depth=1)
    xT = torch.randn(4, 2)
    a = D.ddim_sample(D.epsilon_fn(net), (4, 2), s, steps=10, x_T=xT, generator=torch.Generator().manual_seed(0))
    b = D.ddim_sample(D.epsilon_fn(net), (4, 2), s, steps=10, x_T=xT, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    assert D.ddim_timesteps(100, 5) == [99, 74, 50, 25, 0]
    with pytest.raises(ParameterError):
        D.ddim_timesteps(10, 11)
    with pytest.raises(ParameterError, match="shape"):
        D.ddim_sample(D.epsilon_fn(net), (4, 2), s, x_T=torch.zeros(3, 2))


class _Spy(nn.Module):
    """ε = (label + 1) · 1 (null label → 0), to read off which labels the guidance combined."""

    n_classes = 3

    def forward(self, x, t, y=None):
        y = torch.full_like(t, 3) if y is None else y
        val = torch.where(y == 3, torch.zeros_like(y), y + 1).float()
        return val.reshape(-1, *([1] * (x.ndim - 1))) * torch.ones_like(x)


def test_classifier_free_and_gradient_guidance_formulas():
    s = D.linear_schedule(10)
    x, t, y = torch.zeros(2, 3), torch.tensor([4, 9]), torch.tensor([0, 2])
    cond = torch.tensor([1.0, 3.0])[:, None].expand(2, 3)
    assert torch.allclose(D.epsilon_fn(_Spy(), y)(x, t), cond)                     # s = 1: conditional
    assert torch.allclose(D.epsilon_fn(_Spy(), y, cfg_scale=0.0)(x, t), torch.zeros(2, 3))  # s = 0: null
    assert torch.allclose(D.epsilon_fn(_Spy(), y, cfg_scale=3.0)(x, t), 3 * cond)  # ε_u + s(ε_c − ε_u), ε_u = 0
    g = torch.full((2, 3), 2.0)
    out = D.epsilon_fn(_Spy(), y, grad_fn=lambda x, t: g, grad_scale=0.5, schedule=s)(x, t)
    ab = s.alpha_bar[t][:, None]
    assert torch.allclose(out, cond - (1 - ab).sqrt() * 0.5 * g)
    with pytest.raises(ParameterError, match="schedule"):
        D.epsilon_fn(_Spy(), y, grad_fn=lambda x, t: g)
    with pytest.raises(ParameterError, match="labels"):
        D.epsilon_fn(_Spy(), None, cfg_scale=2.0)


def test_classifier_grad_is_the_log_softmax_gradient():
    lin = nn.Linear(3, 4)
    y = torch.tensor([1, 3])
    x = torch.randn(2, 3)
    grad = D.classifier_grad(lambda x, t: lin(x), y)(x, torch.zeros(2, dtype=torch.long))
    p = torch.softmax(lin(x), -1).detach()
    expected = lin.weight[y] - p @ lin.weight          # ∇ log softmax_y = w_y − Σ_k p_k w_k
    assert torch.allclose(grad, expected.detach(), atol=1e-6)


def test_epsilon_loss_is_seeded_and_drops_labels():
    s = D.linear_schedule(50)
    spy = _PointMassOracle(torch.zeros(5, 2), s)
    x0, y = torch.randn(64, 2), torch.randint(0, 5, (64,))
    a = D.epsilon_loss(spy, x0, y, s, p_uncond=1.0, generator=torch.Generator().manual_seed(3))
    assert (spy.calls[-1][1] == 5).all()               # every label replaced by the null label
    b = D.epsilon_loss(spy, x0, y, s, p_uncond=1.0, generator=torch.Generator().manual_seed(3))
    assert a.item() == b.item()
    D.epsilon_loss(spy, x0, y, s, p_uncond=0.0)
    assert torch.equal(spy.calls[-1][1], y)
    with pytest.raises(ParameterError):
        D.epsilon_loss(spy, x0, y, s, p_uncond=1.5)


def test_denoisers_shapes_features_and_bad_sizes():
    mlp = D.MLPDenoiser(5, n_classes=3, hidden=16, depth=2)
    x, t = torch.randn(4, 5), torch.randint(0, 100, (4,))
    assert mlp(x, t, torch.tensor([0, 1, 2, 3])).shape == (4, 5)
    assert {k: v.shape for k, v in mlp.features(x, t).items()} == {"block0": (4, 16), "block1": (4, 16)}
    unet = D.UNetDenoiser(in_channels=2, n_classes=0, width=8)
    img = torch.randn(3, 2, 8, 8)
    assert unet(img, torch.zeros(3, dtype=torch.long)).shape == img.shape
    feats = unet.features(img, torch.zeros(3, dtype=torch.long))
    assert list(feats) == list(D.UNetDenoiser.BLOCKS)
    assert feats["mid"].shape == (3, 16, 2, 2) and feats["up1"].shape == (3, 8, 8, 8)
    nf = D.noisy_features(unet, img, 10, D.linear_schedule(20), batch_size=2)
    assert nf["down2"].shape == (3, 16, 4, 4)
    with pytest.raises(ParameterError, match="divisible"):
        unet(torch.randn(1, 2, 6, 6), torch.zeros(1, dtype=torch.long))
    with pytest.raises(ParameterError):
        D.MLPDenoiser(0)
    with pytest.raises(ParameterError):
        D.UNetDenoiser(n_classes=-1)
    with pytest.raises(ParameterError):
        D.noisy_features(unet, img, 20, D.linear_schedule(20))


def test_diffusion_classifier_with_an_oracle_and_shared_noise():
    s = D.linear_schedule(100)
    centres = torch.tensor([[-1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    oracle = _PointMassOracle(centres, s)
    scores = D.diffusion_classifier(oracle, centres, s, n_trials=8, generator=torch.Generator().manual_seed(0))
    assert scores.shape == (3, 3) and torch.equal(scores.argmax(1), torch.arange(3))
    t_last, y_last = oracle.calls[-1]
    assert torch.equal(t_last[:8], t_last[8:16])       # the same timesteps for every class
    assert torch.equal(y_last, torch.arange(3).repeat_interleave(8))
    with pytest.raises(ParameterError, match="class-conditional"):
        D.diffusion_classifier(D.MLPDenoiser(2), centres, s)


def test_a_trained_mlp_denoiser_classifies_two_blobs():
    """End to end: fit with the denoising loss, then classify zero-shot (two well-separated 2-d blobs)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (512,), generator=g)
    x = torch.randn(512, 2, generator=g) * 0.3 + torch.tensor([[-1.5, 0.0], [1.5, 0.0]])[y]
    s = D.linear_schedule(100)
    net = D.MLPDenoiser(2, n_classes=2, hidden=64, depth=2)
    loss = functools.partial(D.epsilon_loss, schedule=s, p_uncond=0.1, generator=torch.Generator().manual_seed(1))
    hist = train.fit(net, x, y, steps=600, batch_size=128, lr=3e-3, batch_loss=loss, seed=0, progress_bar=False)
    assert hist.loss[-1] < hist.loss[0]
    scores = D.diffusion_classifier(net, x[:100], s, n_trials=16, generator=torch.Generator().manual_seed(2))
    assert (scores.argmax(1) == y[:100]).float().mean() > 0.9
    samples = D.ddim_sample(D.epsilon_fn(net, torch.ones(200, dtype=torch.long), cfg_scale=2.0), (200, 2), s,
                            steps=25, generator=torch.Generator().manual_seed(3))
    assert (samples[:, 0] > 0).float().mean() > 0.9                 # guided towards class 1 (x > 0)


def test_lora_starts_as_the_base_and_its_update_is_low_rank():
    lin, conv = nn.Linear(6, 5), nn.Conv2d(3, 4, 3, padding=1)
    for base, x in ((lin, torch.randn(2, 6)), (conv, torch.randn(2, 3, 5, 5))):
        ref = base(x).detach()
        wrapped = D.LoRA(base, rank=2, alpha=4.0)
        assert torch.allclose(wrapped(x), ref)
        nn.init.normal_(wrapped.B.weight)
        dw = wrapped.delta_weight()
        assert dw.shape == base.weight.shape and torch.linalg.matrix_rank(dw.reshape(dw.shape[0], -1)) <= 2
        if isinstance(base, nn.Linear):
            expected = nn.functional.linear(x, base.weight + dw, base.bias)
        else:
            expected = nn.functional.conv2d(x, base.weight + dw, base.bias, padding=1)
        assert torch.allclose(wrapped(x), expected, atol=1e-5)
    net = D.MLPDenoiser(3, hidden=8, depth=1)
    names = D.add_lora(net, rank=2, select=lambda n, m: n.startswith("blocks"))
    assert names == ["blocks.0.w1", "blocks.0.emb", "blocks.0.w2"]
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(("A.weight", "B.weight")) for n in trainable)
    with pytest.raises(ParameterError):
        D.LoRA(nn.LayerNorm(3))
    with pytest.raises(ParameterError, match="no Linear"):
        D.add_lora(nn.Sequential(nn.ReLU()))


def test_frechet_distance_in_one_dimension_and_identity():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (500, 1)), rng.normal(2, 3, (400, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert math.isclose(D.frechet_distance(a, b), expected, rel_tol=1e-6)
    c = rng.normal(size=(300, 4))
    assert abs(D.frechet_distance(c, c)) < 1e-6
    assert D.frechet_distance(torch.tensor(c), torch.tensor(c + 1.0)) == pytest.approx(4.0, rel=1e-6)
    with pytest.raises(ParameterError):
        D.frechet_distance(c, c[:, :3])


def test_diffusion_errors_keep_every_draw():
    s = D.linear_schedule(100)
    centres = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
    err = D.diffusion_errors(_PointMassOracle(centres, s), centres, s, n_trials=6, timesteps=range(10, 20),
                             generator=torch.Generator().manual_seed(0))
    assert err.shape == (2, 6, 2) and (err[0, :, 0] < 1e-8).all() and (err[1, :, 1] < 1e-8).all()
    with pytest.raises(ParameterError, match="timesteps"):
        D.diffusion_errors(_PointMassOracle(centres, s), centres, s, timesteps=range(90, 110))


def test_frechet_distance_is_quiet_on_singular_covariances():
    import warnings

    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(200, 4, generator=g), 1)       # rows sum to 1: singular covariance
    q = torch.softmax(torch.randn(200, 4, generator=g) * 2, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = D.frechet_distance(p, q)
    assert np.isfinite(d) and d > 0
    assert D.frechet_distance(p, p) == pytest.approx(0, abs=1e-5)

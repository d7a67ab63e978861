"""FaceChain at toy scale: face-perception models wrapped around a LoRA-personalised generator.

Liu, Yu, Shang, He, Wu, Wang, Xu, Xie et al. (Alibaba / ModelScope), *FaceChain: A Playground for
Human-centric Artificial Intelligence Generated Content*, technical report, 2023, arXiv:2308.14256 (official
code: github.com/modelscope/facechain). Used by ``notebooks/06_generative_features/08_facechain_personalized_portraits.ipynb``.

**The mechanism** (§2 of the report; ``facechain/inference.py`` of the official code). FaceChain argues that
identity fidelity comes from wrapping a text-to-image generator with face-perception models, not from LoRA alone:
(1) data processing (face detection, rotation / alignment, parsing, quality filtering); (2) label tagging —
attribute models write accurate captions for the few training photos; (3) a face LoRA on the user photos,
``W' = W + (α/r)·BA`` with rank ``r ≪ d`` (Hu et al. 2022, eq. 3), fused with a style LoRA; (4) inference with
the fused LoRAs; (5) post-processing — the reference face is fused into every candidate, candidates without
exactly one face of the right size are dropped, and the rest are ranked by the face-recognition embedding's dot
product with the reference, keeping the top ones::

    keep = top_k ⟨φ(x̂), φ(x_ref)⟩,

where the reference ``x_ref`` is the *single* user photo with the best face-quality score. The report is
qualitative (figures, no table); LoRA-only pipelines are its own named baseline.

**Here** (:mod:`featurelab.faces`: 16×16 grey cartoon faces whose identity is five numbers; disjoint pools):

- the "pretrained text-to-image model": a style-conditioned VAE ``G(z, s)`` (:class:`StyleVAE`, MLPs, z ∈ R^16,
  0.28 M parameters) trained by the ELBO on 300 ``generator``-pool identities × 6 photos of every style; the
  style ``s`` (background: flat, stripes, checks) is the prompt, the zero input the neutral (untagged) prompt,
  used for 15 % of the training photos; trained once (``base_seed``, default 0) and shared by every run seed,
  as FaceChain personalises one pretrained base model for every user (a run's seed draws the users, their
  LoRAs and the candidates);
- φ (ranks) and φ′ (judges only): the frozen encoders of the Arc2Face notebook (imported from
  :mod:`featurelab.papers.arc2face_id_conditioned_generation`): arch "a" on the ``phi`` pool and arch "b" on the
  disjoint ``phi_prime`` pool;
- users: identities of the ``test`` pool (never seen by any model), 5 photos each, all in one style; portraits
  are generated in a *different* (unseen for the user) style;
- the face LoRA (:func:`personalise`): rank 4 on the decoder's first two layers through the course's
  :func:`featurelab.diffusion.add_lora`, fitted to the 5 photos by the ELBO (encoder frozen), with the photos'
  true style input (*tagged*: the label-tagging step) or with the neutral input (*untagged*). The run fits the
  128 users' LoRAs together (:class:`UserLoRAs`, :func:`personalise_users`: the sum of the users' ELBOs, which
  separates per user) — the same objective and optimiser as one :func:`personalise` per user, only faster; the
  untagged LoRA is fitted for the first 32 users only (the reported tagging comparison);
- the reference (:func:`quality_reference`): the user photo with the highest mean φ-cosine to the other photos
  (a typicality proxy for the face-quality model); ranking (:func:`rank_scores`, :func:`top_k`) by
  ``cos(φ(x̂), φ(x_ref))`` over ``n_candidates`` samples ``z ~ N(0, I)`` decoded with the target style tag.

**Measured.** ID-sim′ = cos(φ′(portrait), template′), template′ = the mean φ′ embedding of 4 held-out photos of
the user; style accuracy = a pixel logistic-regression style classifier (trained on real faces of identities no
generator sees) agreeing with the requested style. Decodability first: φ′'s verification AUC on the VAE's
reconstructions of the users' photos (reported beside the real photos' AUC).

**Asserted** (per seed, mean over users): ``face_model_ranking`` — ID-sim′(top-k by φ) − ID-sim′(top-k by
pixel distance to the same reference), same candidates, same k. Swaps: pixel ranking on independently drawn
candidates (null), an untrained CNN of φ's architecture as the ranker and random selection (mechanism) must
break it.
Reported, not asserted: the base model, the sceptic's no-training inversion (encode the photos, decode their
posterior means in the target style), LoRA without ranking, and the style accuracy of all candidates.

Simplifications for scale (named): 16×16 grey cartoon faces; a VAE with MLPs instead of Stable Diffusion; one
face LoRA and no style LoRA (the style is the generator's own condition); no detection / alignment / parsing
(the faces are centred by construction), no face-fusion step and no face-count filter (every candidate has
one face); the quality model is replaced by φ-typicality; 32-d CosFace encoders instead of face-recognition
networks trained on real faces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import cache
from .. import diffusion as D
from .. import faces as FC
from ..base import ParameterError
from ..claims import ClaimSpec
from ..experiment import Knobs, Swap, knob
from ..train import fit
from .arc2face_id_conditioned_generation import encoders, random_encoder

SIZE = 16
PIXELS = SIZE * SIZE
N_STYLES = FC.N_BACKGROUND      #: styles = background patterns (0 flat, 1 stripes, 2 checks)
RANKERS = ("phi", "pixel", "untrained", "random")
TAGGINGS = ("tagged", "untagged")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        n_identities, per_identity: the base generator's training set (identities × photos, all styles).
        latent_dim, hidden: the style-conditioned VAE. vae_steps, batch_size, lr: its Adam training.
        p_untagged: probability that a training photo's style input is replaced by the neutral (zero) input, so
            that the base generator also knows an untagged "prompt".
        n_users, user_photos: personalised users per seed and their photos (all in one style).
        n_tag_users: the first ``n_tag_users`` users also get an untagged face LoRA (the reported tagging
            comparison); the untagged arms and ``tag_gain`` average over these users only.
        lora_rank, lora_steps, lora_lr: the face LoRA on the decoder's first two layers. lora_weight: the
            fusion weight w of the LoRA update at inference (``W + w·(α/r)·BA``).
        tagging: the method slot's LoRA is trained with each photo's true style input (``tagged``) or with the
            neutral input (``untagged``). lora_seed: offset of the LoRA's initialisation / noise seed.
        n_candidates, top_k: candidates generated in the unseen style and portraits kept.
        ranker: what ranks the candidates in the method slot: ``phi`` (the face-recognition model), ``pixel``
            (pixel distance), ``untrained`` (an untrained CNN of φ's architecture) or ``random``.
        candidate_seed: offset of the candidates' sampling noise in the method slot (the baseline slots always
            use offset 0).
        encoder_seed: training seed of the frozen encoders φ, φ′. base_seed: training seed of the base generator,
            which, like FaceChain's pretrained base model, is the same for every user and every run seed (a run's
            seed draws the users, their LoRAs and the candidates). n_seeds: seeds per run.
    """

    n_identities: int = knob(300, lo=2, hi=50_000, doc="identities the base generator is trained on")
    per_identity: int = knob(6, lo=1, hi=1000, doc="training photos per identity")
    latent_dim: int = knob(16, lo=2, hi=PIXELS, doc="VAE latent dimensions")
    hidden: int = knob(256, lo=8, doc="VAE width")
    vae_steps: int = knob(1500, lo=1, doc="base generator training steps")
    batch_size: int = knob(128, lo=1)
    lr: float = knob(2e-3, lo=0.0, lo_open=True)
    p_untagged: float = knob(0.15, lo=0.0, hi=1.0, doc="style-input dropout while training the base generator")
    n_users: int = knob(128, lo=1, hi=1000, doc="personalised users per seed")
    n_tag_users: int = knob(32, lo=0, hi=1000, doc="users (the first ones) that also get an untagged LoRA")
    user_photos: int = knob(5, lo=2, hi=50, doc="photos of each user")
    lora_rank: int = knob(4, lo=1, hi=64, doc="LoRA rank r")
    lora_steps: int = knob(300, lo=0, doc="LoRA fine-tuning steps")
    lora_lr: float = knob(1e-2, lo=0.0, lo_open=True, doc="LoRA learning rate")
    lora_weight: float = knob(1.0, lo=0.0, hi=4.0, doc="fusion weight of the LoRA update at inference")
    tagging: str = knob("tagged", choices=TAGGINGS, doc="style input while training the face LoRA")
    lora_seed: int = knob(0, lo=0, doc="offset of the LoRA training seed")
    n_candidates: int = knob(64, lo=2, hi=1024, doc="generated candidates per user")
    top_k: int = knob(4, lo=1, doc="portraits kept per user")
    temperature: float = knob(1.0, lo=0.0, hi=4.0, lo_open=True, doc="std of the latent draws z ~ N(0, τ²I)")
    ranker: str = knob("phi", choices=RANKERS, doc="what ranks the candidates")
    candidate_seed: int = knob(0, lo=0, doc="offset of the candidates' sampling seed")
    encoder_seed: int = knob(0, lo=0, doc="training seed of the frozen encoders")
    base_seed: int = knob(0, lo=0, doc="training seed of the base generator (one pretrained model for every seed)")
    n_seeds: int = knob(1, lo=1, doc="seeds per run")

    def validate(self) -> None:
        if self.top_k > self.n_candidates:
            raise ParameterError(f"TOP_K={self.top_k} must not exceed N_CANDIDATES={self.n_candidates}")
        if self.n_tag_users > self.n_users:
            raise ParameterError(f"N_TAG_USERS={self.n_tag_users} must not exceed N_USERS={self.n_users}")
        if self.latent_dim > self.n_identities * self.per_identity:
            raise ParameterError(f"LATENT_DIM={self.latent_dim} must not exceed the number of training photos")

    def generator_key(self) -> dict:
        """The settings the base generator depends on (its cache key)."""
        keys = ("n_identities", "per_identity", "latent_dim", "hidden", "vae_steps", "batch_size", "lr",
                "p_untagged")
        return {k: getattr(self, k) for k in keys}


PRESETS = {
    "small": Config(),
    "full": Config(n_identities=2000, per_identity=6, hidden=512, vae_steps=15_000, n_users=256, n_tag_users=64,
                   n_seeds=3),
}
SMOKE = {"vae_steps": 3, "n_identities": 10, "n_users": 2, "n_tag_users": 1, "lora_steps": 2, "n_candidates": 8,
         "n_seeds": 1}


# ----------------------------------------------------------------------------------------------- base generator
class StyleVAE(nn.Module):
    """The pre-trained "text-to-image" stand-in: a style-conditioned VAE ``G(z, s)`` on 16×16 faces.

    ``s`` ``(N, 3)`` is the one-hot style (background pattern) or the neutral input ``0`` (no style tag).
    Encoder ``q(z | x, s)`` and decoder ``p(x | z, s)`` are MLPs; ``decoder.0`` and ``decoder.2`` are the two
    layers the face LoRA adapts."""

    def __init__(self, latent_dim: int = 16, hidden: int = 256):
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = nn.Sequential(nn.Linear(PIXELS + N_STYLES, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                     nn.SiLU(), nn.Linear(hidden, 2 * latent_dim))
        self.decoder = nn.Sequential(nn.Linear(latent_dim + N_STYLES, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                     nn.SiLU(), nn.Linear(hidden, PIXELS))

    def encode(self, x: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, log σ²)`` of ``q(z | x, s)``, each ``(N, latent_dim)``."""
        mu, logvar = self.encoder(torch.cat([x.reshape(len(x), -1), s], 1)).chunk(2, 1)
        return mu, logvar.clamp(-8, 4)

    def decode_logits(self, z: Tensor, s: Tensor) -> Tensor:
        return self.decoder(torch.cat([z, s], 1))

    def decode(self, z: Tensor, s: Tensor) -> Tensor:
        """Mean image ``(N, 1, 16, 16)`` in [0, 1]."""
        return torch.sigmoid(self.decode_logits(z, s)).reshape(len(z), 1, SIZE, SIZE)


def style_input(style: Tensor | np.ndarray, tagged: bool = True) -> Tensor:
    """One-hot style inputs ``(N, 3)`` of ints ``(N,)``; all zeros (the neutral input) when not ``tagged``."""
    s = F.one_hot(torch.as_tensor(np.asarray(style), dtype=torch.long), N_STYLES).float()
    return s if tagged else torch.zeros_like(s)


def neg_elbo(vae: StyleVAE, x: Tensor, s: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The negative ELBO per image, ``−E_q log p(x | z, s) + KL(q(z | x, s) ‖ N(0, I))`` (Bernoulli pixels, one
    reparameterised draw), averaged over the batch."""
    mu, logvar = vae.encode(x, s)
    eps = torch.randn(mu.shape, generator=generator).to(mu.device)
    z = mu + (0.5 * logvar).exp() * eps
    rec = F.binary_cross_entropy_with_logits(vae.decode_logits(z, s), x.reshape(len(x), -1), reduction="sum")
    kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum()
    return (rec + kl) / len(x)


def vae_batch_loss(p_untagged: float, generator: torch.Generator):
    """``fit(batch_loss=...)`` for the base generator: ``yb`` are style ints; each style input is replaced by the
    neutral 0 with probability ``p_untagged``."""
    def loss(model: StyleVAE, xb: Tensor, yb: Tensor) -> Tensor:
        s = style_input(yb.cpu()).to(xb.device)
        drop = (torch.rand(len(s), generator=generator) < p_untagged).to(xb.device)
        s = torch.where(drop[:, None], torch.zeros_like(s), s)
        return neg_elbo(model, xb, s, generator)
    return loss


def base_training_set(cfg: Config, seed: int) -> FC.FaceData:
    """``n_identities`` identities drawn by ``seed`` from the ``generator`` pool, ``per_identity`` photos each,
    every nuisance (pose, light, expression, hair) and every style."""
    pool = FC.POOLS["generator"]
    ids = pool.start + np.random.default_rng([seed, 1]).choice(len(pool), cfg.n_identities, replace=False)
    return FC.face_dataset(ids, cfg.per_identity, seed=seed + 7, size=SIZE)


def train_base(cfg: Config, seed: int, data: FC.FaceData, progress: bool | None = None,
               device: torch.device | str = "cpu") -> tuple[StyleVAE, cache.CacheInfo]:
    """The base generator, trained once for ``seed`` (``Config.base_seed``) on :func:`base_training_set` (cached)."""
    def build() -> StyleVAE:
        torch.manual_seed(seed)
        return StyleVAE(cfg.latent_dim, cfg.hidden)

    def train(vae: StyleVAE) -> dict:
        dev = next(vae.parameters()).device
        y = torch.as_tensor(data.nuisance.background)
        hist = fit(vae, data.x.to(dev), y.to(dev), steps=cfg.vae_steps, batch_size=cfg.batch_size, lr=cfg.lr,
                   batch_loss=vae_batch_loss(cfg.p_untagged, torch.Generator().manual_seed(seed + 1)), seed=seed,
                   progress_bar=progress, desc=f"style VAE (seed {seed})")
        return {"final_loss": hist.loss[-1] if hist.loss else float("nan")}

    vae, info = cache.load_or_train("facechain_style_vae", cfg.generator_key(), seed, build, train, device=device,
                                    commit=True)
    return vae.eval(), info


# ----------------------------------------------------------------------------------------------- face LoRA
def lora_layers(name: str, layer: nn.Module) -> bool:
    """The layers the face LoRA adapts: the decoder's first two (``decoder.0``, ``decoder.2``)."""
    return name in ("decoder.0", "decoder.2")


def personalise(vae: StyleVAE, photos: Tensor, style: np.ndarray, *, tagged: bool, rank: int, steps: int,
                lr: float, seed: int) -> StyleVAE:
    """FaceChain's face LoRA (§2, training): a copy of the frozen base with rank-``rank`` adapters
    ``W' = W + (α/r)·BA`` on the decoder's first two layers, fitted to the user's photos ``(n, 1, 16, 16)`` by the
    ELBO (the encoder stays frozen). ``tagged``: each photo's true style input (the label-tagging step);
    otherwise the neutral input, so the adapter has to explain the photos' style itself."""
    import copy

    torch.manual_seed(seed)
    v = copy.deepcopy(vae)
    D.add_lora(v, rank=rank, select=lora_layers)
    s = style_input(style, tagged).to(photos.device)
    g = torch.Generator().manual_seed(seed + 1)
    if steps:
        fit(v, photos, s, steps=steps, batch_size=len(photos), lr=lr, seed=seed, progress_bar=False,
            batch_loss=lambda m, xb, sb: neg_elbo(m, xb, sb, g), desc="face LoRA")
    return v.eval()


class UserLoRAs(nn.Module):
    """The face LoRAs of many users at once: for user ``u`` the decoder's first two layers are
    ``W + (α/r)·B_u A_u`` (α = r), initialised like :class:`featurelab.diffusion.LoRA` (``A`` Kaiming-uniform,
    ``B = 0``). The base VAE is frozen and shared. Fitting them together by the *sum* of the users' ELBOs is the
    same as fitting each alone (:func:`personalise`): user ``u``'s loss depends on its own adapters only and Adam
    is elementwise; only the random draws differ. Used by the run for speed; :meth:`user_vae` gives user ``u``'s
    personalised generator as a :class:`StyleVAE` with :func:`featurelab.diffusion.add_lora` adapters."""

    LAYERS = (0, 2)     # indices of decoder.0, decoder.2

    def __init__(self, vae: StyleVAE, n_users: int, rank: int, seed: int):
        super().__init__()
        self.vae, self.rank = vae, rank
        for p in vae.parameters():
            p.requires_grad_(False)
        g = torch.Generator().manual_seed(seed)
        self.A, self.B = nn.ParameterList(), nn.ParameterList()
        for i in self.LAYERS:
            lin = vae.decoder[i]
            bound = 1.0 / lin.in_features ** 0.5     # kaiming_uniform_(a=√5) of a (rank, in) weight
            self.A.append(nn.Parameter((torch.rand(n_users, rank, lin.in_features, generator=g) * 2 - 1) * bound))
            self.B.append(nn.Parameter(torch.zeros(n_users, lin.out_features, rank)))

    def decode_logits(self, z: Tensor, s: Tensor) -> Tensor:
        """``z`` ``(U, m, latent)``, ``s`` ``(U, m, 3)`` → logits ``(U, m, 256)``, user ``u`` through its adapters."""
        h = torch.cat([z, s], -1)
        for i, layer in enumerate(self.vae.decoder):
            out = layer(h)
            if i in self.LAYERS:
                j = self.LAYERS.index(i)
                out = out + (h @ self.A[j].transpose(1, 2)) @ self.B[j].transpose(1, 2)
            h = out
        return h

    def loss(self, photos: Tensor, s: Tensor, generator: torch.Generator) -> Tensor:
        """Sum over users of :func:`neg_elbo` (each a mean over the user's photos); ``photos`` ``(U·n, 1, S, S)``
        grouped by user, ``s`` ``(U·n, 3)``."""
        U = self.A[0].shape[0]
        mu, logvar = self.vae.encode(photos, s)
        z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator).to(mu.device)
        logits = self.decode_logits(z.view(U, -1, z.shape[1]), s.view(U, -1, s.shape[1]))
        rec = F.binary_cross_entropy_with_logits(logits.reshape(len(photos), -1), photos.reshape(len(photos), -1),
                                                 reduction="sum")
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum()
        return (rec + kl) / (len(photos) // U)

    def user_vae(self, u: int) -> StyleVAE:
        """User ``u``'s personalised generator: a copy of the base with :func:`featurelab.diffusion.add_lora`
        adapters holding ``A_u``, ``B_u``."""
        import copy

        v = copy.deepcopy(self.vae)
        D.add_lora(v, rank=self.rank, select=lora_layers)
        with torch.no_grad():
            for j, i in enumerate(self.LAYERS):
                v.decoder[i].A.weight.copy_(self.A[j][u])
                v.decoder[i].B.weight.copy_(self.B[j][u])
        return v.eval()


def personalise_users(vae: StyleVAE, photos: Tensor, style: np.ndarray, n_users: int, *, tagged: bool, rank: int,
                      steps: int, lr: float, seed: int) -> list[StyleVAE]:
    """:func:`personalise` for ``n_users`` users at once: ``photos`` ``(U·n, 1, S, S)`` grouped by user, ``style``
    ``(U·n,)``; one :class:`UserLoRAs` on a frozen copy of the base, fitted by the summed ELBO (full batch, Adam
    through :func:`featurelab.train.fit`), returned as one personalised :class:`StyleVAE` per user."""
    import copy

    ad = UserLoRAs(copy.deepcopy(vae), n_users, rank, seed)
    s = style_input(style, tagged).to(photos.device)
    g = torch.Generator().manual_seed(seed + 1)
    if steps:
        fit(ad, photos, s, steps=steps, batch_size=len(photos), lr=lr, seed=seed, progress_bar=False,
            batch_loss=lambda m, xb, sb: m.loss(xb, sb, g), desc="face LoRAs")
    return [ad.user_vae(u) for u in range(n_users)]


def set_lora_weight(v: nn.Module, weight: float) -> None:
    """The fusion weight ``w`` at inference: every adapter's update becomes ``w·(α/r)·BA`` (``w = 0``: the base)."""
    for m in v.modules():
        if isinstance(m, D.LoRA):
            m.scale = weight * (m.rank / m.rank)  # α = r in this notebook, so (α/r) = 1


@torch.no_grad()
def sample(v: StyleVAE, n: int, style: int, seed: int, temperature: float = 1.0) -> Tensor:
    """``n`` portraits ``(n, 1, 16, 16)`` in style ``style``: ``z ~ N(0, I)`` (drawn by ``seed``) decoded with the
    style tag."""
    z = temperature * torch.randn(n, v.latent_dim, generator=torch.Generator().manual_seed(seed))
    dev = next(v.parameters()).device
    return v.decode(z.to(dev), style_input(np.full(n, style)).to(dev)).cpu()


@torch.no_grad()
def invert(vae: StyleVAE, photos: Tensor, style: np.ndarray, target: int) -> Tensor:
    """The sceptic's no-training personalisation: posterior means of the user's photos decoded in ``target``."""
    mu, _ = vae.encode(photos, style_input(style))
    return vae.decode(mu, style_input(np.full(len(mu), target)))


# ----------------------------------------------------------------------------------------------- perception
@torch.no_grad()
def quality_reference(phi: nn.Module, photos: Tensor) -> int:
    """The reference photo (official pipeline: the single user photo with the best face-quality score). The
    quality score here is the photo's mean φ-cosine to the user's other photos (a typicality proxy)."""
    z = FC.embed(phi, photos)
    sim = z @ z.T
    n = len(z)
    return int(((sim.sum(1) - sim.diagonal()) / (n - 1)).argmax())


@torch.no_grad()
def rank_scores(ranker: str, candidates: Tensor, reference: Tensor, phi: nn.Module, untrained: nn.Module,
                seed: int) -> Tensor:
    """Scores ``(M,)`` of candidates ``(M, 1, S, S)`` against one ``reference`` photo ``(1, 1, S, S)``: FaceChain's
    ``cos(φ(x̂), φ(x_ref))`` (``phi``), ``−‖x̂ − x_ref‖`` (``pixel``), the cosine of an untrained CNN's embedding
    (``untrained``) or random scores (``random``)."""
    if ranker == "phi":
        return (FC.embed(phi, candidates) @ FC.embed(phi, reference).T)[:, 0]
    if ranker == "untrained":
        return (FC.embed(untrained, candidates) @ FC.embed(untrained, reference).T)[:, 0]
    if ranker == "pixel":
        return -(candidates - reference).flatten(1).norm(dim=1)
    if ranker == "random":
        return torch.rand(len(candidates), generator=torch.Generator().manual_seed(seed))
    raise ParameterError(f"ranker must be one of {RANKERS}, got {ranker!r}")


def top_k(scores: Tensor, k: int) -> Tensor:
    """``keep = top_k score`` (§2, post-processing): indices of the ``k`` best candidates, best first."""
    return scores.topk(k).indices


def style_classifier(seed: int):
    """A logistic-regression style (background) classifier on pixels, trained on real faces of all styles from
    identities no generator sees (the ``test`` pool's second half)."""
    from sklearn.linear_model import LogisticRegression

    pool = FC.POOLS["test"]
    data = FC.face_dataset(range(pool.start + 5000, pool.start + 5200), 3, seed=seed + 29, size=SIZE)
    clf = LogisticRegression(max_iter=500, C=1.0)
    clf.fit(data.x.flatten(1).numpy(), data.nuisance.background)
    return clf


def style_accuracy(clf, faces: Tensor, style: int) -> float:
    """Fraction of ``faces`` the style classifier assigns to ``style``."""
    return float((clf.predict(faces.flatten(1).numpy()) == style).mean())


def id_sim(judge: nn.Module, faces: Tensor, template: Tensor) -> float:
    """ID-sim′: mean ``cos(φ′(face), template′)`` for ``faces`` of one user and its unit template ``(d,)``."""
    return float((FC.embed(judge, faces) @ template).mean())


# ----------------------------------------------------------------------------------------------- the run
@dataclass
class User:
    """One personalised user: photos, the reference, the candidates and the kept portraits."""

    identity: int
    style: int              # the style of all the user's photos
    target: int             # the unseen style the portraits are generated in
    photos: Tensor          # (n, 1, S, S)
    ref: int                # index of the reference photo
    candidates: Tensor      # (C, 1, S, S) the method slot's candidates (tagged LoRA unless swapped)
    scores: Tensor          # (C,) the method slot's ranker scores
    kept: Tensor            # (k, 1, S, S) the method slot's portraits
    sims: dict              # arm → ID-sim′
    styles: dict            # arm → style accuracy


@dataclass
class Seed:
    seed: int
    users: list
    decodability_auc: float     # φ′ verification AUC on VAE reconstructions of the users' photos
    real_auc: float             # φ′ verification AUC on the real photos
    sims: dict                  # arm → mean ID-sim′ over users
    styles: dict                # arm → mean style accuracy over users
    rank_gain: float            # ID-sim′(method slot) − ID-sim′(LoRA + pixel ranking)
    tag_gain: float             # style acc.(method slot) − style acc.(untagged LoRA + φ ranking)
    style_kept: float           # style acc. of the method slot's portraits
    templates: Tensor           # (n_users, d) φ′ identity templates of the users (held-out photos)
    sources: str


@dataclass
class Result:
    cfg: Config
    seeds: list[int]
    per_seed: list[Seed]
    seconds_train: float
    seconds_eval: float

    def values(self, key: str) -> list[float]:
        return [float(getattr(s, key)) for s in self.per_seed]

    def arm(self, kind: str, name: str) -> float:
        return float(np.mean([getattr(s, kind)[name] for s in self.per_seed]))


ARMS = ("base", "inversion", "lora", "lora_pixel", "lora_phi", "lora_untrained", "untagged_phi", "tagged_all",
        "untagged_all", "lora_phi_mean", "lora_pixel_mean", "method")


def user_set(cfg: Config, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, FC.FaceData, FC.FaceData]:
    """Users from the ``test`` pool (never seen by φ, φ′ or the generator): per user ``user_photos`` photos in
    one style, the unseen target style, and 4 held-out photos in random styles (φ′'s identity template)."""
    pool = FC.POOLS["test"]
    rng = np.random.default_rng([seed, 2])
    ids = pool.start + rng.choice(5000, cfg.n_users, replace=False)
    style = rng.integers(0, N_STYLES, cfg.n_users)
    target = (style + rng.integers(1, N_STYLES, cfg.n_users)) % N_STYLES
    photos = [FC.face_dataset([i], cfg.user_photos, seed=seed * 1000 + 11 + j, size=SIZE, background=int(s))
              for j, (i, s) in enumerate(zip(ids, style))]
    x = FC.FaceData(torch.cat([p.x for p in photos]), np.concatenate([p.ids for p in photos]),
                    np.concatenate([p.params for p in photos]), photos[0].nuisance)
    held = FC.face_dataset(ids, 4, seed=seed + 13, size=SIZE)
    return ids, style, target, x, held


def run_seed(cfg: Config, seed: int, *, device: torch.device | str = "cpu",
             progress: bool | None = None) -> tuple[Seed, float, float]:
    t0 = time.perf_counter()
    phi, judge = encoders(cfg.encoder_seed, progress)
    untrained = random_encoder(seed + 5)
    vae, info = train_base(cfg, cfg.base_seed, base_training_set(cfg, cfg.base_seed), progress, device)
    vae = vae.cpu()
    clf = style_classifier(cfg.encoder_seed)
    t1 = time.perf_counter()

    ids, styles, targets, ux, held = user_set(cfg, seed)
    n, C, k = cfg.user_photos, cfg.n_candidates, cfg.top_k
    with torch.no_grad():
        mu, _ = vae.encode(ux.x, style_input(np.repeat(styles, n)))
        recon = vae.decode(mu, style_input(np.repeat(styles, n)))
    dec_auc = FC.verification_auc(FC.embed(judge, recon), ux.ids)
    real_auc = FC.verification_auc(FC.embed(judge, ux.x), ux.ids)
    templates = F.normalize(FC.embed(judge, held.x).view(cfg.n_users, 4, -1).mean(1), dim=-1)

    lora_kw = dict(rank=cfg.lora_rank, steps=cfg.lora_steps, lr=cfg.lora_lr)
    all_styles = np.repeat(styles, n)
    tagged_all = personalise_users(vae, ux.x, all_styles, cfg.n_users, tagged=True, seed=seed * 1000, **lora_kw)
    nt = cfg.n_tag_users
    untagged_all = personalise_users(vae, ux.x[:nt * n], all_styles[:nt * n], nt, tagged=False,
                                     seed=seed * 1000 + 500, **lora_kw) if nt else []
    users = []
    for u in range(cfg.n_users):
        photos, st, tg = ux.x[u * n:(u + 1) * n], int(styles[u]), int(targets[u])
        sty = np.full(n, st)
        useed = seed * 1000 + u
        tagged = tagged_all[u]
        with_untagged = u < nt
        untagged = untagged_all[u] if with_untagged else None
        for v in (tagged, untagged):
            if v is not None:
                set_lora_weight(v, cfg.lora_weight)
        ref_i = quality_reference(phi, photos)
        ref = photos[ref_i:ref_i + 1]
        cand = sample(tagged, C, tg, useed + 77, cfg.temperature)
        cand_u = sample(untagged, C, tg, useed + 77, cfg.temperature) if with_untagged else None

        def pick(r: str, c: Tensor, ref: Tensor = ref, rs: int = useed + 3) -> Tensor:
            return c[top_k(rank_scores(r, c, ref, phi, untrained, rs), k)]

        arms = {
            "base": sample(vae, k, tg, useed + 91),
            "inversion": invert(vae, photos, sty, tg)[:k],
            "lora": cand[:k],
            "lora_pixel": pick("pixel", cand),
            "lora_phi": pick("phi", cand),
            "lora_untrained": pick("untrained", cand),
            "tagged_all": cand,
        }
        if with_untagged:
            arms["untagged_phi"] = pick("phi", cand_u)
            arms["untagged_all"] = cand_u
        zm = F.normalize(FC.embed(phi, photos).mean(0, keepdim=True), dim=-1)
        arms["lora_phi_mean"] = cand[top_k((FC.embed(phi, cand) @ zm.T)[:, 0], k)]
        arms["lora_pixel_mean"] = cand[top_k(-torch.cdist(cand.flatten(1), photos.flatten(1)).mean(1), k)]
        # the method slot: the configured LoRA (tagging, seed), candidates (seed offset) and ranker
        m_lora = tagged if (cfg.tagging == "tagged" and cfg.lora_seed == 0) else (
            personalise(vae, photos, sty, tagged=cfg.tagging == "tagged", rank=cfg.lora_rank, steps=cfg.lora_steps,
                        lr=cfg.lora_lr, seed=useed + 7919 * cfg.lora_seed))
        set_lora_weight(m_lora, cfg.lora_weight)
        m_cand = cand if (m_lora is tagged and cfg.candidate_seed == 0) else \
            sample(m_lora, C, tg, useed + 77 + 4099 * cfg.candidate_seed, cfg.temperature)
        m_scores = rank_scores(cfg.ranker, m_cand, ref, phi, untrained, useed + 3)
        arms["method"] = m_cand[top_k(m_scores, k)]
        users.append(User(int(ids[u]), st, tg, photos, ref_i, m_cand, m_scores, arms["method"],
                          {a: id_sim(judge, x, templates[u]) for a, x in arms.items()},
                          {a: style_accuracy(clf, x, tg) for a, x in arms.items()}))

    def mean(kind: str, a: str, among: list) -> float:
        vals = [getattr(us, kind)[a] for us in among if a in getattr(us, kind)]
        return float(np.mean(vals)) if vals else float("nan")

    sims = {a: mean("sims", a, users) for a in ARMS}
    sty = {a: mean("styles", a, users) for a in ARMS}
    tag_users = users[:cfg.n_tag_users]  # tagging is compared on the users with both LoRAs
    tag_gain = mean("styles", "method", tag_users) - mean("styles", "untagged_phi", tag_users)
    sd = Seed(seed, users, dec_auc, real_auc, sims, sty, sims["method"] - sims["lora_pixel"],
              tag_gain, sty["method"], templates, info.source)
    return sd, t1 - t0, time.perf_counter() - t1


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """For every seed: the frozen encoders (cached), a base generator trained on the seed's identities (cached),
    then per user a tagged and an untagged face LoRA, candidates in an unseen style and their rankings."""
    seeds = list(seeds)
    if not seeds:
        raise ParameterError("need at least one seed")
    per, tt, te = [], 0.0, 0.0
    for s in seeds:
        sd, a, b = run_seed(cfg, s, device=device, progress=progress)
        per.append(sd)
        tt, te = tt + a, te + b
    return Result(cfg, seeds, per, tt, te)


def claim_values(res: Result) -> dict[str, list[float] | float]:
    out: dict[str, list[float] | float] = {k: res.values(k) for k in ("rank_gain", "tag_gain", "style_kept",
                                                                       "decodability_auc", "real_auc")}
    for a in ARMS:
        out[f"sim_{a}"] = res.arm("sims", a)
        out[f"style_{a}"] = res.arm("styles", a)
    return out


_PAPER_RANK = ("qualitative: post-processing ranks candidates by face-embedding similarity to the reference "
               "(§2; facechain/inference.py); no number reported")

CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("face_model_ranking", "rank_gain", ">=", 0.03, "ID-sim′ of the top-k portraits kept by the face "
              "model φ minus that of the top-k kept by pixel similarity to the same reference (same candidates, "
              "same k), judged by the independent face model φ′", _PAPER_RANK),
)

SWAPS: tuple[Swap, ...] = (
    Swap("pixel_ranker_null", {"ranker": "pixel", "candidate_seed": 1}, ("face_model_ranking",), "null",
         "pixel ranking on independently drawn candidates of the same LoRA in the method's place"),
    Swap("untrained_ranker", {"ranker": "untrained"}, ("face_model_ranking",), "mechanism",
         "an untrained CNN of φ's architecture (no face training) ranks the same candidates"),
    Swap("random_ranker", {"ranker": "random"}, ("face_model_ranking",), "mechanism",
         "no ranking: k of the same candidates kept at random"),
)

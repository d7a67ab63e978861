"""Observable Propagation: reading feature vectors off a transformer's weights, with no data.

Dunefsky & Cohan, *Observable Propagation: Uncovering Feature Vectors in Transformers*, ICML 2024 (PMLR 235),
arXiv:2312.16291. Official code: https://github.com/jacobdunefsky/ObservablePropagation. Used by the notebook
``notebooks/03_reading_features/03_observable_propagation.ipynb``.

The paper's objects (Sec. 3):

* an **observable** is a linear functional of the logits, ``n·logits``; here ``n_subj = e_he − e_she`` and
  ``n_obj = e_him − e_her`` (the paper's gendered-pronoun task, Sec. 4.1);
* its **feature vector** for an attention head ``h`` (attention pattern held fixed, so the path is linear) is the
  observable pulled back through the unembedding and the head's OV circuit,
  ``y_h = W_V,hᵀ W_O,hᵀ W_Uᵀ n`` (Sec. 3.1; the official ``get_attn_normal``). A token with residual vector ``x``
  that the head attends to with weight ``a`` adds ``a · y_hᵀx`` to ``n·logits``;
* nonlinearities are linearised: the final LayerNorm contributes ``J_LNᵀ`` (Sec. 3.2). With ``γ`` folded into
  ``W_U`` it is the centring projection times a positive scale, which changes no direction; the scale is left out;
* the **coupling coefficient** ``C(y1, y2) = <y1, y2>/||y1||²`` (Sec. 3.3) and the cosine similarity compare two
  tasks' feature vectors (subject vs object pronoun, Sec. 4.1: cosines 0.91–0.99 for the top heads of
  GPT-Neo-1.3B, against 0.569 for the two observables' own directions ``W_Uᵀ n``);
* Sec. 4.3: ObProp with zero labels is compared with probes (logistic regression and mean difference) trained on
  labelled examples; the paper reaches parity with a 25-example/class logistic probe (AUC ≈ 0.997) and scores
  faithfulness as the r² between a feature's score and the model's actual behaviour.

What this module does at small scale (every simplification named):

* a procedural toy language instead of GPT-Neo on natural text: 2·``n_names`` name tokens (half "male", half
  "female"), filler tokens and three query tokens. A sequence is ``seq_len − 1`` fillers with one name at a position
  in ``1..3`` and a query token last. After query S the target is he/she, after O him/her, after N the name's
  "nationality" (one of ``n_nat``, a nuisance feature that the embeddings must carry too, so that probes on them
  see more than gender). Pronouns are **noisy and graded**: a name's own-gender pronoun is drawn with a
  per-name probability in ``[min_purity, 0.97]``, so the model's behaviour on a name is graded (≈ logit of that
  probability), which labels do not carry;
* a 1-layer, attention-only transformer with a final LayerNorm and an untied unembedding (:class:`AttnOnlyLM`),
  read at the last position only. No MLP, no inner LayerNorm, so the only nonlinearity on the OV path is the final
  LayerNorm (the paper's Jacobian linearisations of MLPs are not exercised);
* the feature vector of the model is the sum over heads ``y = Σ_h y_h`` (data-free: as if every head attended to
  the name; the per-head norms ``||y_h||`` are the paper's data-free head-importance score and are reported beside
  measured head-ablation effects);
* a name's residual vector is ``x = E[name] + mean of the positional embeddings of positions 1..3`` (the same
  basis for ObProp and the probes);
* "actual contribution" of a held-out name = mean over fixed random prompts of ``n·logits`` with the name minus the
  same prompts with the name replaced by a filler (a real forward pass: attention patterns and the LayerNorm scale
  are whatever the model does, so ``yᵀx`` is not its exact decomposition).

The claims (see :data:`CLAIMS`) and their swaps (:data:`SWAPS`) are described in the design note
``results/calibration/notes/observable_propagation.md``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..base import ParameterError
from ..base import progress as _progress
from ..claims import ClaimSpec
from ..experiment import Knobs, Swap, knob
from ..probes import few_shot_indices, fit_linear_probe
from ..train import fit
from ..transformer import coupling_coefficient, ov_pullback, unembed_observable

#: Output tokens: the four pronouns, then the nationalities.
HE, SHE, HIM, HER = 0, 1, 2, 3
DIRECTIONS = ("obsprop", "logit_lens", "probe")


@dataclass(frozen=True)
class Config(Knobs):
    """Settings of one run; the notebook's knobs are the upper-case names.

    Attributes:
        n_names: names per gender (2·n_names name tokens). n_fillers: filler tokens. n_nat: nationalities.
        seq_len: tokens per sequence (the name sits at position 1, 2 or 3, the query token last).
        min_purity: each name's own-gender pronoun is drawn with a per-name probability uniform in
            ``[min_purity, 0.97]`` (graded behaviour the labels do not carry).
        n_train: training sequences (one third per query token).
        d_model, n_heads, d_head: the attention-only transformer.
        steps, batch_size, lr: Adam training with :func:`featurelab.train.fit`; ``steps = 0`` leaves the model at
            its initialisation (the "untrained" swap).
        decoupled: 1 = object pronouns follow a second binary attribute of each name, independent of gender
            (the decoupled toy: subject and object features should no longer be shared).
        direction: the data-free score whose claims are checked: ``"obsprop"`` (the paper's ``y``),
            ``"logit_lens"`` (``W_Uᵀn`` applied to the names without the OV pull-back) or ``"probe"`` (a
            mean-difference probe trained on ``probe_k`` labelled names per class, the sceptic's baseline).
        shots: labelled names per class for the probe curves. n_resamples: probe training sets per ``k``.
        probe_k: labelled names per class of the ``"probe"`` direction.
        n_prompts: prompts per held-out name for its actual contribution.
        n_seeds: models per run (one per seed; the claims average over them).
    """

    n_names: int = knob(64, lo=8, doc="names per gender")
    n_fillers: int = knob(40, lo=4)
    n_nat: int = knob(4, lo=2, doc="nationalities (the nuisance task)")
    seq_len: int = knob(8, lo=5, hi=32)
    min_purity: float = knob(0.6, lo=0.5, hi=0.97, doc="lowest probability of a name's own-gender pronoun")
    n_train: int = knob(24000, lo=30)
    d_model: int = knob(64, lo=4)
    n_heads: int = knob(2, lo=1)
    d_head: int = knob(16, lo=1)
    steps: int = knob(1200, lo=0, doc="Adam steps (0 leaves the model untrained)")
    batch_size: int = knob(128, lo=1)
    lr: float = knob(3e-3, lo=0.0, lo_open=True)
    decoupled: int = knob(0, choices=(0, 1), doc="1 = object pronouns follow an attribute independent of gender")
    direction: str = knob("obsprop", choices=DIRECTIONS, doc="the data-free score the claims check")
    shots: tuple[int, ...] = knob((1, 2, 4, 8, 16, 32), lo=1, doc="labelled names per class of the probe curves")
    n_resamples: int = knob(20, lo=1)
    probe_k: int = knob(8, lo=1, doc="labelled names per class of the 'probe' direction")
    n_prompts: int = knob(32, lo=1)
    n_seeds: int = knob(3, lo=1)

    def validate(self) -> None:
        if list(self.shots) != sorted(set(self.shots)) or 1 not in self.shots:
            raise ParameterError(f"SHOTS={self.shots!r} must be an increasing tuple that starts at 1")
        pool = self.n_names // 2
        if self.shots[-1] > pool or self.probe_k > pool:
            raise ParameterError(f"SHOTS and PROBE_K must be ≤ n_names/2 = {pool} (half the names are the probes' "
                                 "pool, the other half is held out)")


PRESETS = {
    "small": Config(),
    "full": Config(n_names=256, n_fillers=200, n_nat=8, seq_len=16, n_train=200_000, d_model=256, n_heads=8,
                   d_head=32, steps=6000, batch_size=256, lr=1e-3, shots=(1, 2, 4, 8, 16, 32, 64, 128),
                   n_resamples=50, n_prompts=64, n_seeds=4),
}
SMOKE = {"n_train": 512, "steps": 2, "n_resamples": 2, "n_prompts": 2, "n_seeds": 1}


# ----------------------------------------------------------------------------------------------------------
# The toy language
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Language:
    """One draw of the toy language.

    Attributes:
        gender: ``(2N,)`` 1 = male name, 0 = female. p_he: ``(2N,)`` probability of he (and of him) for each name.
        p_him: ``(2N,)`` probability of him (equal to p_he unless decoupled). attr: ``(2N,)`` the object-pronoun
            attribute (= gender unless decoupled). nat: ``(2N,)`` nationality.
        n_names, n_fillers, n_nat, seq_len: sizes. Token ids: names ``0..2N−1``, fillers next, then S, O, Q.
    """

    gender: Tensor
    p_he: Tensor
    p_him: Tensor
    attr: Tensor
    nat: Tensor
    n_names: int
    n_fillers: int
    n_nat: int
    seq_len: int

    @property
    def n_vocab(self) -> int:
        return 2 * self.n_names + self.n_fillers + 3

    @property
    def fillers(self) -> tuple[int, int]:
        return 2 * self.n_names, 2 * self.n_names + self.n_fillers

    @property
    def query(self) -> dict[str, int]:
        base = 2 * self.n_names + self.n_fillers
        return {"S": base, "O": base + 1, "N": base + 2}

    @property
    def n_out(self) -> int:
        return 4 + self.n_nat


def make_language(cfg: Config, seed: int) -> Language:
    """Draw the names' genders, graded pronoun probabilities and nationalities (seeded)."""
    g = torch.Generator().manual_seed(seed)
    n2 = 2 * cfg.n_names
    gender = (torch.arange(n2) < cfg.n_names).long()

    def graded(labels: Tensor) -> Tensor:
        own = cfg.min_purity + (0.97 - cfg.min_purity) * torch.rand(n2, generator=g)
        return torch.where(labels == 1, own, 1 - own)

    p_he = graded(gender)
    if cfg.decoupled:
        attr = torch.randperm(n2, generator=g)[: cfg.n_names]
        attr = torch.zeros(n2, dtype=torch.long).index_fill(0, attr, 1)
        p_him = graded(attr)
    else:
        attr, p_him = gender.clone(), p_he.clone()
    nat = torch.randint(cfg.n_nat, (n2,), generator=g)
    return Language(gender, p_he, p_him, attr, nat, cfg.n_names, cfg.n_fillers, cfg.n_nat, cfg.seq_len)


def contexts(lang: Language, n: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """``n`` filler contexts ``(n, seq_len)`` (last token still to be set) and name positions ``(n,)`` in 1..3."""
    lo, hi = lang.fillers
    toks = torch.randint(lo, hi, (n, lang.seq_len), generator=g)
    pos = torch.randint(1, 4, (n,), generator=g)
    return toks, pos


def make_sequences(lang: Language, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` training sequences ``(n, seq_len)`` and their targets ``(n,)`` (noisy pronouns, nationalities)."""
    g = torch.Generator().manual_seed(seed)
    toks, pos = contexts(lang, n, g)
    names = torch.randint(2 * lang.n_names, (n,), generator=g)
    toks[torch.arange(n), pos] = names
    kind = torch.randint(3, (n,), generator=g)
    q = lang.query
    toks[:, -1] = torch.tensor([q["S"], q["O"], q["N"]])[kind]
    u = torch.rand(n, generator=g)
    y = torch.where(u < lang.p_he[names], HE, SHE)
    y = torch.where(kind == 1, torch.where(u < lang.p_him[names], HIM, HER), y)
    y = torch.where(kind == 2, 4 + lang.nat[names], y)
    return toks, y


# ----------------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------------
class AttnOnlyLM(nn.Module):
    """One attention-only layer, a final LayerNorm and an untied unembedding, read at the last position.

    ``x_t = E[tok_t] + P[t]``; head ``h``: ``a_h = softmax(q_h·k_h,t / sqrt(d_head))`` from the last position,
    ``r = x_last + Σ_h Σ_t a_h,t · x_t W_V,h W_O,h``; ``logits = LN(r) W_Uᵀ + b`` (row convention).
    """

    def __init__(self, n_vocab: int, n_out: int, seq_len: int, d_model: int = 64, n_heads: int = 2, d_head: int = 16):
        super().__init__()
        self.embed = nn.Embedding(n_vocab, d_model)
        self.pos = nn.Parameter(torch.randn(seq_len, d_model) / math.sqrt(d_model))
        nn.init.normal_(self.embed.weight, std=1.0)
        s = 1 / math.sqrt(d_model)
        self.w_q = nn.Parameter(torch.randn(n_heads, d_model, d_head) * s)
        self.w_k = nn.Parameter(torch.randn(n_heads, d_model, d_head) * s)
        self.w_v = nn.Parameter(torch.randn(n_heads, d_model, d_head) * s)
        self.w_o = nn.Parameter(torch.randn(n_heads, d_head, d_model) / math.sqrt(d_head))
        self.ln = nn.LayerNorm(d_model)
        self.unembed = nn.Linear(d_model, n_out)

    def residual(self, tokens: Tensor) -> Tensor:
        """``(B, T)`` → ``(B, T, d)``: token plus positional embedding."""
        return self.embed(tokens) + self.pos[: tokens.shape[1]]

    def attention(self, x: Tensor) -> Tensor:
        """Attention of the last position over all positions, per head: ``(B, H, T)``."""
        q = torch.einsum("bd,hde->bhe", x[:, -1], self.w_q)
        k = torch.einsum("btd,hde->bhte", x, self.w_k)
        return torch.softmax(torch.einsum("bhe,bhte->bht", q, k) / math.sqrt(self.w_q.shape[-1]), -1)

    def forward(self, tokens: Tensor, head_mask: Tensor | None = None) -> Tensor:
        """``(B, T)`` tokens → ``(B, n_out)`` logits at the last position. ``head_mask``: ``(H,)`` multipliers."""
        x = self.residual(tokens)
        a = self.attention(x)
        v = torch.einsum("btd,hde->bhte", x, self.w_v)
        heads = torch.einsum("bht,bhte,hed->bhd", a, v, self.w_o)
        if head_mask is not None:
            heads = heads * head_mask[None, :, None]
        return self.unembed(self.ln(x[:, -1] + heads.sum(1)))


def train_model(cfg: Config, lang: Language, seed: int, progress: bool | None = None) -> AttnOnlyLM:
    """Initialise with ``seed`` and train on ``cfg.n_train`` sequences (``cfg.steps`` Adam steps; 0 = untrained)."""
    torch.manual_seed(seed)
    model = AttnOnlyLM(lang.n_vocab, lang.n_out, lang.seq_len, cfg.d_model, cfg.n_heads, cfg.d_head)
    if cfg.steps > 0:
        x, y = make_sequences(lang, cfg.n_train, seed + 10_000)
        fit(model, x, y, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed, progress_bar=progress,
            desc=f"model {seed}")
    return model.eval()


# ----------------------------------------------------------------------------------------------------------
# Observable propagation
# ----------------------------------------------------------------------------------------------------------
def observable(n_out: int, plus: int, minus: int) -> Tensor:
    """``n = e_plus − e_minus`` over the ``n_out`` output tokens."""
    n = torch.zeros(n_out)
    n[plus], n[minus] = 1.0, -1.0
    return n


@torch.no_grad()
def feature_vectors(model: AttnOnlyLM, n: Tensor) -> tuple[Tensor, Tensor]:
    """ObProp for a 1-layer attention-only model: ``(y_heads (H, d), u (d,))``.

    ``u = P(γ ⊙ W_Uᵀ n)`` is the observable's residual direction at the final LayerNorm's input (γ folded, mean
    direction removed: :func:`featurelab.transformer.unembed_observable`), and ``y_h = W_V,hᵀ W_O,hᵀ u`` its
    pull-back through head ``h``'s OV circuit (:func:`featurelab.transformer.ov_pullback`). No data is used.
    """
    u = unembed_observable(model.unembed.weight, n, model.ln.weight)
    return ov_pullback(model.w_v, model.w_o, u), u


@torch.no_grad()
def name_vectors(model: AttnOnlyLM, n_names: int) -> Tensor:
    """Residual vectors of the 2·n_names names, ``E[name] + mean(P[1..3])``: ``(2N, d)``."""
    return model.embed.weight[: 2 * n_names] + model.pos[1:4].mean(0)


@torch.no_grad()
def actual_contribution(model: AttnOnlyLM, lang: Language, n: Tensor, names: Tensor, query: str, n_prompts: int,
                        seed: int) -> Tensor:
    """Each name's measured effect on ``n·logits``: ``(len(names),)``.

    Over ``n_prompts`` fixed random contexts (query ``query`` last), the mean of ``n·logits`` with the name in
    place minus the same prompts with the name replaced by a filler token (a full forward pass each).
    """
    g = torch.Generator().manual_seed(seed)
    toks, pos = contexts(lang, n_prompts, g)
    toks[:, -1] = lang.query[query]
    base = model(toks) @ n                                   # (P,) the filler already sits at the name's slot
    m = len(names)
    batch = toks.repeat(m, 1)
    batch[torch.arange(m * n_prompts), pos.repeat(m)] = names.repeat_interleave(n_prompts)
    with_name = (model(batch) @ n).view(m, n_prompts)
    return (with_name - base[None]).mean(1)


# ----------------------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------------------
def auc(scores: Tensor, labels: Tensor) -> Tensor:
    """ROC AUC of ``scores`` ``(..., M)`` for binary ``labels`` ``(M,)`` (ties count one half): ``(...)``."""
    pos, neg = scores[..., labels == 1], scores[..., labels == 0]
    if pos.shape[-1] == 0 or neg.shape[-1] == 0:
        raise ParameterError("auc needs both classes among the labels")
    diff = pos[..., :, None] - neg[..., None, :]
    return ((diff > 0).float() + 0.5 * (diff == 0).float()).mean((-1, -2))


def r2(a: Tensor, b: Tensor) -> Tensor:
    """Squared Pearson correlation of ``a`` ``(..., M)`` with ``b`` ``(M,)``: ``(...)`` (0 for a constant)."""
    a = a - a.mean(-1, keepdim=True)
    b = b - b.mean()
    den = (a.norm(dim=-1) * b.norm()).clamp_min(1e-12)
    return ((a * b).sum(-1) / den) ** 2


def cos(a: Tensor, b: Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=0))


def probe_directions(x: Tensor, labels: Tensor, idx: Tensor) -> dict[str, Tensor]:
    """Directions of k-shot probes on name vectors: ``{"logistic": (R, d), "meandiff": (R, d)}``.

    ``idx`` ``(R, 2k)`` from :func:`featurelab.probes.few_shot_indices` (class 0 rows first). Mean difference:
    mean(class 1) − mean(class 0). Logistic regression: :func:`featurelab.probes.fit_linear_probe` (L2 1e-2, raw
    features), direction = ``w_1 − w_0``.
    """
    xs, ys = x[idx], labels[idx]
    k = idx.shape[1] // 2
    meandiff = xs[:, k:].mean(1) - xs[:, :k].mean(1)
    pr = fit_linear_probe(xs, ys, n_classes=2, l2=1e-2)
    logistic = pr.weight[:, :, 1] - pr.weight[:, :, 0]
    return {"logistic": logistic, "meandiff": meandiff}


@dataclass
class SeedResult:
    """One trained model and everything measured on it.

    Attributes:
        y_subj, y_obj, y_nat: ``(H, d)`` per-head feature vectors (``y_nat``: nationality 0 vs 1, a control).
        u_subj, u_obj: ``(d,)`` the observables' residual directions (logit lens).
        eval_names: ``(M,)`` held-out name ids; pool_names: the probes' pool.
        score: ``(M,)`` the checked direction's score ``sᵀx`` of the held-out names (``direction`` in the config).
        score_obsprop, score_lens: ``(M,)`` the ObProp and logit-lens scores (always computed, for the plots).
        contrib: ``(M,)`` actual contribution to ``n_subj·logits``.
        probe_auc, probe_r2: ``{kind: (len(shots), R)}`` held-out AUC and r² of the k-shot probes.
        head_norm: ``(H,)`` ``||y_h||`` (subject); head_ablation: ``(H,)`` mean |change| of ``n_subj·logits`` when
            head ``h`` is zeroed, over prompts.
        acc: ``{"S", "O", "N"}`` accuracy of the argmax against the names' likelier target on fresh prompts.
    """

    y_subj: Tensor
    y_obj: Tensor
    y_nat: Tensor
    u_subj: Tensor
    u_obj: Tensor
    eval_names: Tensor
    pool_names: Tensor
    score: Tensor
    score_obsprop: Tensor
    score_lens: Tensor
    contrib: Tensor
    probe_auc: dict[str, Tensor]
    probe_r2: dict[str, Tensor]
    head_norm: Tensor
    head_ablation: Tensor
    acc: dict[str, float]
    gender_eval: Tensor
    p_he_eval: Tensor


@torch.no_grad()
def accuracy_by_query(model: AttnOnlyLM, lang: Language, seed: int, n: int = 600) -> dict[str, float]:
    """Accuracy of the model's argmax against each name's likelier target, per query token, on fresh prompts."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for q in ("S", "O", "N"):
        toks, pos = contexts(lang, n, g)
        names = torch.randint(2 * lang.n_names, (n,), generator=g)
        toks[torch.arange(n), pos] = names
        toks[:, -1] = lang.query[q]
        if q == "S":
            want = torch.where(lang.p_he[names] > 0.5, HE, SHE)
        elif q == "O":
            want = torch.where(lang.p_him[names] > 0.5, HIM, HER)
        else:
            want = 4 + lang.nat[names]
        out[q] = float((model(toks).argmax(-1) == want).float().mean())
    return out


def analyse(cfg: Config, model: AttnOnlyLM, lang: Language, seed: int) -> SeedResult:
    """ObProp, logit lens and k-shot probes on one model; held-out AUC, faithfulness and head scores."""
    n_out = lang.n_out
    n_subj, n_obj = observable(n_out, HE, SHE), observable(n_out, HIM, HER)
    y_subj, u_subj = feature_vectors(model, n_subj)
    y_obj, u_obj = feature_vectors(model, n_obj)
    y_nat, _ = feature_vectors(model, observable(n_out, 4, 5))
    x = name_vectors(model, lang.n_names)
    g = torch.Generator().manual_seed(seed + 7)
    # Half of each gender is the probes' labelled pool, the other half is held out for every score.
    pool, held = [], []
    for c in (0, 1):
        ids = torch.nonzero(lang.gender == c).flatten()
        ids = ids[torch.randperm(ids.numel(), generator=g)]
        pool.append(ids[: ids.numel() // 2])
        held.append(ids[ids.numel() // 2:])
    pool_names, eval_names = torch.cat(pool), torch.cat(held)
    labels_eval = lang.gender[eval_names]
    x_eval = x[eval_names]
    contrib = actual_contribution(model, lang, n_subj, eval_names, "S", cfg.n_prompts, seed + 11)
    probe_auc: dict[str, list[Tensor]] = {"logistic": [], "meandiff": []}
    probe_r2: dict[str, list[Tensor]] = {"logistic": [], "meandiff": []}
    for k in cfg.shots:
        idx = few_shot_indices(lang.gender[pool_names], k, cfg.n_resamples, g)
        dirs = probe_directions(x[pool_names], lang.gender[pool_names], idx)
        for kind, w in dirs.items():
            s = w @ x_eval.T                                            # (R, M)
            probe_auc[kind].append(auc(s, labels_eval))
            probe_r2[kind].append(r2(s, contrib))
    score_obsprop = x_eval @ y_subj.sum(0)
    score_lens = x_eval @ u_subj
    if cfg.direction == "obsprop":
        score = score_obsprop
    elif cfg.direction == "logit_lens":
        score = score_lens
    else:
        idx = few_shot_indices(lang.gender[pool_names], cfg.probe_k, 1, g)
        score = probe_directions(x[pool_names], lang.gender[pool_names], idx)["meandiff"][0] @ x_eval.T
    # Head importance: data-free ||y_h|| vs the measured effect of zeroing each head.
    toks, pos = contexts(lang, 400, g)
    toks[torch.arange(400), pos] = torch.randint(2 * lang.n_names, (400,), generator=g)
    toks[:, -1] = lang.query["S"]
    with torch.no_grad():
        full = model(toks) @ n_subj
        abl = []
        for h in range(cfg.n_heads):
            mask = torch.ones(cfg.n_heads)
            mask[h] = 0.0
            abl.append(float((model(toks, mask) @ n_subj - full).abs().mean()))
    return SeedResult(y_subj, y_obj, y_nat, u_subj, u_obj, eval_names, pool_names, score, score_obsprop, score_lens,
                      contrib, {k: torch.stack(v) for k, v in probe_auc.items()},
                      {k: torch.stack(v) for k, v in probe_r2.items()}, y_subj.norm(dim=1), torch.tensor(abl),
                      accuracy_by_query(model, lang, seed + 13), labels_eval, lang.p_he[eval_names])


@dataclass
class Result:
    """Everything the notebook plots and checks: one :class:`SeedResult` per seed, plus timings."""

    cfg: Config
    seeds: list[int]
    per_seed: list[SeedResult]
    models: list[AttnOnlyLM] = field(repr=False)
    langs: list[Language] = field(repr=False)
    seconds_train: float = 0.0
    seconds_analysis: float = 0.0

    def values(self, fn) -> list[float]:
        return [float(fn(s)) for s in self.per_seed]


def run(cfg: Config, seeds: list[int], *, device: torch.device | str = "cpu", progress: bool | None = None) -> Result:
    """Train ``cfg.n_seeds`` models (model ``i``: language and init from ``seeds[i]``) and analyse each (CPU)."""
    if len(seeds) != cfg.n_seeds:
        raise ParameterError(f"run needs n_seeds={cfg.n_seeds} seeds, got {len(seeds)}")
    models, langs, res = [], [], []
    t_train = t_an = 0.0
    for s in _progress(seeds, desc="models", enabled=progress):
        t0 = time.perf_counter()
        lang = make_language(cfg, s)
        model = train_model(cfg, lang, s, progress=False)
        t1 = time.perf_counter()
        res.append(analyse(cfg, model, lang, s))
        t_train, t_an = t_train + (t1 - t0), t_an + (time.perf_counter() - t1)
        models.append(model)
        langs.append(lang)
    return Result(cfg, list(seeds), res, models, langs, t_train, t_an)


def median_probe_auc(s: SeedResult, shots: tuple[int, ...], k: int = 1) -> float:
    """The better of the two probes' median held-out AUC at ``k`` labelled names per class."""
    i = shots.index(k)
    return max(float(s.probe_auc[kind][i].median()) for kind in s.probe_auc)


def claim_values(res: Result) -> dict[str, list[float]]:
    """Per-seed values of the claims and of reported quantities."""
    shots = res.cfg.shots
    out = {
        "auc": res.values(lambda s: auc(s.score, s.gender_eval)),
        "auc_minus_1shot": res.values(lambda s: float(auc(s.score, s.gender_eval)) - median_probe_auc(s, shots)),
        "faithfulness_r2": res.values(lambda s: r2(s.score, s.contrib)),
        "cos_subj_obj": res.values(lambda s: cos(s.y_subj.sum(0), s.y_obj.sum(0))),
        "cos_lens": res.values(lambda s: cos(s.u_subj, s.u_obj)),
        "coupling": res.values(lambda s: coupling_coefficient(s.y_subj.sum(0), s.y_obj.sum(0))),
        "cos_subj_nat": res.values(lambda s: abs(cos(s.y_subj.sum(0), s.y_nat.sum(0)))),
        "probe_auc_k1": res.values(lambda s: median_probe_auc(s, shots)),
    }
    out["shared_beyond_lens"] = [a - b for a, b in zip(out["cos_subj_obj"], out["cos_lens"])]
    return out


# Thresholds picked from prototype runs on seed sets 50 and 51 (not among the 12 calibration sets), about
# halfway between the method's lowest mean and the swaps' highest; see the design note.
CLAIMS: tuple[ClaimSpec, ...] = (
    ClaimSpec("zero_label_auc", "auc", ">=", 0.85,
              "held-out AUC of the gender of names scored by yᵀx, y read off the weights with no data",
              "ObProp feature AUC 0.997 (C vs Python, attn16.9 of GPT-Neo-1.3B; official notebook, Sec. 4.3)"),
    ClaimSpec("zero_labels_beat_one_shot_probes", "auc_minus_1shot", ">=", 0.15,
              "ObProp AUC minus the better of the logistic / mean-difference probes' median AUC at 1 labelled name "
              "per class (20 resamples)",
              "parity with a 25-example/class logistic probe (≈ 0.997), above a 50/class mean-difference probe "
              "(0.905) (official notebook, Sec. 4.3)"),
    ClaimSpec("faithful_to_the_model", "faithfulness_r2", ">=", 0.6,
              "r² between yᵀx and each held-out name's measured contribution to he−she logit difference",
              "no ObProp r² reported; a 30/class mean-difference probe reaches r² 0.899 on gender (official notebook)"),
    ClaimSpec("subj_obj_features_shared", "shared_beyond_lens", ">=", 0.2,
              "cos(y_subj, y_obj) minus cos(W_Uᵀn_subj, W_Uᵀn_obj): the model reads both pronouns from one feature",
              "cosines 0.910–0.988 for the top heads vs 0.569 for W_Uᵀn (GPT-Neo-1.3B, Sec. 4.1; official notebook)"),
)

SWAPS: tuple[Swap, ...] = (
    Swap("logit_lens", {"direction": "logit_lens"},
         ("zero_label_auc", "zero_labels_beat_one_shot_probes", "faithful_to_the_model"), "mechanism",
         "score names by the observable's own residual direction W_Uᵀn (LayerNorm folded) without the OV pull-back"),
    Swap("untrained_model", {"steps": 0}, ("zero_label_auc", "zero_labels_beat_one_shot_probes",
                                           "subj_obj_features_shared"), "null",
         "read y off the weights of an untrained model of the same shape (the same language, no training)"),
    Swap("decoupled_toy", {"decoupled": 1}, ("subj_obj_features_shared",), "mechanism",
         "object pronouns follow a second attribute of each name, independent of gender: nothing to share"),
    Swap("mean_difference_probe", {"direction": "probe"}, ("faithful_to_the_model",), "baseline",
         "the sceptic's direction: a mean-difference probe trained on 8 labelled names per class, in y's place"),
)

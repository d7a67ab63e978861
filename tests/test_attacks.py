"""featurelab.attacks: FGSM and PGD."""

import pytest
import torch
from torch import nn

from featurelab.attacks import fgsm, pgd, robust_accuracy
from featurelab.run import ParameterError


def _linear():
    torch.manual_seed(0)
    m = nn.Linear(6, 2)
    x = torch.rand(64, 6)
    y = (m(x).argmax(1))  # the model is right on every point
    return m, x, y


def test_fgsm_is_a_signed_gradient_step_inside_the_box():
    m, x, y = _linear()
    xa = fgsm(m, x, y, 0.05)
    d = xa - x
    assert d.abs().max() <= 0.05 + 1e-6
    assert xa.min() >= 0 and xa.max() <= 1
    # for a linear 2-class model the loss gradient of every input has sign ±(w_other - w_true)
    w = m.weight.detach()
    s = torch.where(y[:, None] == 0, w[1] - w[0], w[0] - w[1]).sign()
    inside = (x > 0.05) & (x < 0.95)
    assert torch.equal(d.sign()[inside], s[inside])
    assert torch.equal(fgsm(m, x, y, 0.0), x)


def test_attacks_lower_accuracy_and_pgd_is_at_least_as_strong():
    m, x, y = _linear()
    clean = robust_accuracy(m, x, y, 0.0)
    a_f = robust_accuracy(m, x, y, 0.1)
    a_p = robust_accuracy(m, x, y, 0.1, attack="pgd", steps=10, generator=torch.Generator().manual_seed(0))
    assert clean == 1.0 and a_f < clean and a_p <= a_f + 1e-6
    xa = pgd(m, x, y, 0.1, steps=5, random_start=False)
    assert (xa - x).abs().max() <= 0.1 + 1e-6


def test_bad_arguments_fail():
    m, x, y = _linear()
    with pytest.raises(ParameterError):
        fgsm(m, x, y, -0.1)
    with pytest.raises(ParameterError):
        pgd(m, x, y, 0.1, steps=0)
    with pytest.raises(ParameterError):
        robust_accuracy(m, x, y, 0.1, attack="cw")


# ---------------------------------------------------------------- ordered top-K: constraints, QP projection, metric
import itertools  # noqa: E402

import numpy as np  # noqa: E402

from featurelab.attacks import (  # noqa: E402
    batched_qp_projection,
    ordered_topk_constraints,
    ordered_topk_difference,
    ordered_topk_success,
)


def _brute_force_projection(x0, G, h):
    """Exact projection onto {x : G x ≥ h} by enumerating active sets (tiny problems only), in float64."""
    x0, G, h = x0.double(), G.double(), h.double()
    best, best_d = None, float("inf")
    m = G.shape[0]
    for r in range(m + 1):
        for act in itertools.combinations(range(m), r):
            if act:
                Ga, ha = G[list(act)], h[list(act)]
                lam = torch.linalg.lstsq(0.5 * Ga @ Ga.T, ha - Ga @ x0).solution
                x = x0 + 0.5 * Ga.T @ lam
            else:
                x = x0.clone()
            if (G @ x - h).min() >= -1e-9:
                d = float((x - x0).pow(2).sum())
                if d < best_d:
                    best, best_d = x, d
    return best


def test_difference_matrix_encodes_the_ordered_constraints():
    t = torch.tensor([[2, 0], [3, 1]])
    D = ordered_topk_difference(t, 4)
    assert D.shape == (2, 3, 4)
    # row 0: z_2 − z_0 ; rows 1, 2: z_0 − z_1, z_0 − z_3 (t_K over every non-target, in class order)
    assert D[0].tolist() == [[-1, 0, 1, 0], [1, -1, 0, 0], [1, 0, 0, -1]]
    assert D[1].tolist() == [[0, -1, 0, 1], [-1, 1, 0, 0], [0, 1, -1, 0]]
    # K = C: only the chain, no non-target rows
    assert ordered_topk_difference(torch.tensor([[1, 0, 2]]), 3)[0].tolist() == [[-1, 1, 0], [1, 0, -1]]


def test_success_metric_is_the_exact_order_of_the_top_k():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(200, 6, generator=g)
    for k in (1, 2, 4, 6):
        t = torch.stack([torch.randperm(6, generator=g)[:k] for _ in range(200)])
        t[:50] = z[:50].argsort(1, descending=True)[:, :k]         # the first 50 rows are hits by construction
        want = torch.tensor([z[i].argsort(descending=True)[:k].tolist() == t[i].tolist() for i in range(200)])
        got = ordered_topk_success(z, t)
        assert torch.equal(got, want) and got[:50].all()
    # a tie is a failure, whatever order topk would choose
    assert not ordered_topk_success(torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[0, 1]])).item()


def test_qp_projection_matches_brute_force_and_slsqp():
    from scipy.optimize import minimize

    g = torch.Generator().manual_seed(1)
    C, d, B = 5, 6, 8
    W, b = torch.randn(C, d, generator=g), torch.randn(C, generator=g)
    f0 = torch.randn(B, d, generator=g)
    for k in (1, 2, 3, 5):
        t = torch.stack([torch.randperm(C, generator=g)[:k] for _ in range(B)])
        G, h = ordered_topk_constraints(W, b, t, margin=0.3)
        x, lam = batched_qp_projection(f0, G, h, iters=3000, tol=1e-10)
        assert (lam >= 0).all()
        # the projected features give exactly the requested order with every gap ≥ margin
        z = x @ W.T + b
        assert ordered_topk_success(z, t).all()
        assert (torch.einsum("bmc,bc->bm", ordered_topk_difference(t, C), z) >= 0.3 - 1e-3).all()
        for i in range(B):
            want = _brute_force_projection(f0[i], G[i], h[i])
            assert torch.allclose(x[i].double(), want, atol=1e-3)
        i = 0
        Gi, hi, fi = G[i].double().numpy(), h[i].double().numpy(), f0[i].double().numpy()
        res = minimize(lambda v: ((v - fi) ** 2).sum(), fi, jac=lambda v: 2 * (v - fi), method="SLSQP",
                       constraints=[{"type": "ineq", "fun": lambda v: Gi @ v - hi, "jac": lambda v: Gi}],
                       options={"ftol": 1e-12, "maxiter": 500})
        assert np.abs(res.x - x[i].double().numpy()).max() < 1e-3


def test_qp_projection_leaves_feasible_points_and_uses_warm_starts():
    g = torch.Generator().manual_seed(2)
    G = torch.randn(4, 3, 5, generator=g)
    x0 = torch.randn(4, 5, generator=g)
    h = torch.einsum("bmd,bd->bm", G, x0) - 1.0                       # x0 strictly inside: the projection is x0
    x, lam = batched_qp_projection(x0, G, h)
    assert torch.allclose(x, x0) and (lam == 0).all()
    h2 = h + 2.0                                                        # now outside
    x_cold, lam_cold = batched_qp_projection(x0, G, h2, iters=2000, tol=1e-10)
    x_warm, _ = batched_qp_projection(x0, G, h2, iters=1, lam0=lam_cold)   # warm start at the optimum stays there
    assert torch.allclose(x_warm, x_cold, atol=1e-4)
    # KKT: complementary slackness λ_i (G x − h)_i = 0
    slack = torch.einsum("bmd,bd->bm", G, x_cold) - h2
    assert (lam_cold * slack).abs().max() < 1e-3 and slack.min() > -1e-3


def test_ordered_topk_bad_arguments_fail():
    W, b = torch.randn(4, 3), torch.randn(4)
    with pytest.raises(ParameterError, match="distinct"):
        ordered_topk_constraints(W, b, torch.tensor([[1, 1]]))
    with pytest.raises(ParameterError, match="class indices"):
        ordered_topk_difference(torch.tensor([[0, 4]]), 4)
    with pytest.raises(ParameterError, match="margin"):
        ordered_topk_constraints(W, b, torch.tensor([[0, 1]]), margin=-1.0)
    with pytest.raises(ParameterError, match="shapes"):
        batched_qp_projection(torch.zeros(2, 3), torch.zeros(2, 4, 5), torch.zeros(2, 4))
    with pytest.raises(ParameterError):
        ordered_topk_success(torch.zeros(3, 4), torch.zeros(2, 1, dtype=torch.long))

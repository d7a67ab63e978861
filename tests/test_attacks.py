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

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.distill.loss import DistillationLoss


def _logits(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(6, 5, generator=g, dtype=torch.float64) * 3
    t = torch.randn(6, 5, generator=g, dtype=torch.float64) * 3
    return s, t, torch.randint(0, 5, (6,), generator=g)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_lambda_zero_is_cross_entropy() -> None:
    s, t, y = _logits(0)
    ce = F.cross_entropy(s, y)
    assert torch.equal(DistillationLoss(0.0, 4.0)(s, y, t), ce)
    assert torch.equal(DistillationLoss(0.7, 4.0)(s, y, None), ce)


@pytest.mark.parametrize(("lam", "temperature"), [(0.7, 4.0), (0.3, 1.0), (1.0, 2.5)])
def test_matches_a_hand_computation(lam: float, temperature: float) -> None:
    s, t, y = _logits(1)
    sn, tn, yn = s.numpy(), t.numpy(), y.numpy()
    ce = -np.log(_softmax(sn)[np.arange(6), yn]).mean()
    p_t, p_s = _softmax(tn / temperature), _softmax(sn / temperature)
    kl = (p_t * (np.log(p_t) - np.log(p_s))).sum(axis=1).mean()  # KL(teacher || student), per sample
    expected = (1 - lam) * ce + lam * temperature**2 * kl
    assert DistillationLoss(lam, temperature)(s, y, t).item() == pytest.approx(expected, rel=1e-10)


def test_t_squared_scaling_keeps_soft_gradients_comparable() -> None:
    """With lambda=1 the loss is T^2 KL_T; the T^2 factor keeps the gradient scale roughly constant in
    T (Hinton et al.), where plain KL_T shrinks like 1/T^2."""
    s, t, y = _logits(2)
    s = s * 0.1  # small logits: the high-temperature regime where the 1/T^2 law holds
    t = t * 0.1
    norms, plain = [], []
    for temperature in (4.0, 8.0, 16.0):
        st = s.clone().requires_grad_()
        DistillationLoss(1.0, temperature)(st, y, t).backward()
        assert st.grad is not None
        norms.append(st.grad.norm().item())
        kl = F.kl_div(F.log_softmax(s / temperature, 1), F.log_softmax(t / temperature, 1), reduction="batchmean",
                      log_target=True)
        loss = DistillationLoss(1.0, temperature)(s, y, t)
        assert loss.item() == pytest.approx(temperature**2 * kl.item(), rel=1e-12)
        plain.append(kl.item())
    assert max(norms) / min(norms) < 1.1
    assert plain[0] / plain[2] > 10  # without the factor the soft term would vanish as T grows


def test_identical_teacher_leaves_only_cross_entropy() -> None:
    s, _, y = _logits(3)
    assert DistillationLoss(0.4, 3.0)(s, y, s.clone()).item() == pytest.approx(0.6 * F.cross_entropy(s, y).item())


def test_bad_settings_are_user_errors() -> None:
    with pytest.raises(Cnn2GnnError, match="lambda"):
        DistillationLoss(1.5, 4.0)
    with pytest.raises(Cnn2GnnError, match="temperature"):
        DistillationLoss(0.5, 0.0)


@pytest.mark.parametrize(("lam", "temperature", "message"), [
    (float("nan"), 4.0, r"lambda, the distillation weight \(--lambda\) must be a finite number in \[0, 1\], got nan"),
    (-0.1, 4.0, r"--lambda\) must be a finite number in \[0, 1\], got -0\.1"),
    (0.5, float("nan"), r"temperature \(--temperature\) must be a finite number in \(0, 1000\], got nan"),
    (0.5, float("inf"), r"temperature \(--temperature\) must be a finite number in \(0, 1000\], got inf"),
    (0.5, -2.0, r"temperature \(--temperature\) must be a finite number in \(0, 1000\], got -2\.0"),
])
def test_nan_inf_and_out_of_range_settings_name_the_range(lam: float, temperature: float, message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=message):
        DistillationLoss(lam, temperature)

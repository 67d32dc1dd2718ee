from __future__ import annotations

import numpy as np
import pytest
import torch

from cnn2gnn.toolchain.distill.contrastive_loss import supervised_contrastive_loss


def _by_hand(features: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    losses = []
    for i in range(len(unit)):
        others = [a for a in range(len(unit)) if a != i]
        positives = [p for p in others if labels[p] == labels[i]]
        if not positives:
            continue
        denominator = sum(np.exp(unit[i] @ unit[a] / temperature) for a in others)
        losses.append(-np.mean([np.log(np.exp(unit[i] @ unit[p] / temperature) / denominator) for p in positives]))
    return float(np.mean(losses))


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_matches_a_hand_computation(temperature: float) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(7, 4)) + 1.0  # norms well above the floor
    labels = np.array([0, 0, 1, 1, 1, 2, 3])  # classes 2 and 3 have no positive: left out of the mean
    got = supervised_contrastive_loss(torch.from_numpy(features), torch.from_numpy(labels), temperature)
    assert got.item() == pytest.approx(_by_hand(features, labels, temperature), rel=1e-9)


def test_is_lower_when_the_classes_form_clusters() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    clustered = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0], [0.1, 1.0], [-0.1, 1.0], [0.0, 1.0]])
    mixed = clustered[torch.tensor([0, 3, 1, 4, 2, 5])]
    assert supervised_contrastive_loss(clustered, labels, 0.1) < supervised_contrastive_loss(mixed, labels, 0.1)


def test_a_batch_without_positive_pairs_gives_zero_and_a_finite_gradient() -> None:
    features = torch.randn(3, 5, requires_grad=True)
    loss = supervised_contrastive_loss(features, torch.tensor([0, 1, 2]), 0.1)
    loss.backward()
    assert loss.item() == 0.0
    assert features.grad is not None and torch.equal(features.grad, torch.zeros(3, 5))


def test_a_batch_of_one_gives_zero_and_a_zero_gradient() -> None:
    """The last batch of an epoch can hold one sample: its only pair is with itself."""
    features = torch.randn(1, 5, requires_grad=True)
    loss = supervised_contrastive_loss(features, torch.tensor([4]), 0.1)
    loss.backward()
    assert loss.item() == 0.0
    assert features.grad is not None and torch.equal(features.grad, torch.zeros(1, 5))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_features_give_the_float32_loss(dtype: torch.dtype) -> None:
    """Computed in float32 whatever the features come in (autocast): 1 / tau is out of float16's range for a
    small tau, and bfloat16 would round s / tau to steps of ~0.06."""
    features = torch.randn(16, 8) + 0.5
    labels = torch.arange(16) % 3
    expected = supervised_contrastive_loss(features, labels, 0.01)
    got = supervised_contrastive_loss(features.to(dtype), labels, 0.01)
    assert got.dtype == torch.float32 and torch.isfinite(got)
    assert got.item() == pytest.approx(expected.item(), rel=0.05)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the training loop's --amp: the loss opts out of it
        assert torch.equal(supervised_contrastive_loss(features, labels, 0.01), expected)


def test_dead_relu_rows_get_finite_bounded_gradients() -> None:
    """All-zero and tiny rows (ReLU outputs) are scaled as if of the floor norm: no 0/0, no 1/||h|| blow-up."""
    features = torch.tensor([[0.0, 0.0, 0.0], [1e-6, 0.0, 0.0], [1.0, 0.5, 0.0], [0.9, 0.4, 0.1]], requires_grad=True)
    loss = supervised_contrastive_loss(features, torch.tensor([0, 0, 1, 1]), 0.1)
    loss.backward()
    assert torch.isfinite(loss)
    assert features.grad is not None and torch.isfinite(features.grad).all()
    assert features.grad.abs().max() < 1e3

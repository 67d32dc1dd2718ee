from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.graph.anchors import select_anchors


def _labels(counts: list[int], seed: int = 0) -> np.ndarray:
    labels = np.concatenate([np.full(c, i) for i, c in enumerate(counts)])
    return np.random.default_rng(seed).permutation(labels)


@pytest.mark.parametrize("method", ["class-balanced", "random"])
def test_reproducible_and_seed_dependent(method: str) -> None:
    labels = _labels([50] * 6)
    a = select_anchors(labels, 30, method, seed=3)
    assert np.array_equal(a, select_anchors(labels, 30, method, seed=3))
    assert not np.array_equal(a, select_anchors(labels, 30, method, seed=4))
    assert len(a) == 30 and len(np.unique(a)) == 30
    assert np.array_equal(a, np.sort(a)) and a.min() >= 0 and a.max() < len(labels)
    assert a.dtype == np.int64


def test_class_balanced_takes_equal_shares() -> None:
    labels = _labels([40, 90, 60, 45, 70])
    chosen = select_anchors(labels, 23, "class-balanced", seed=0)
    counts = np.bincount(labels[chosen], minlength=5)
    assert counts.sum() == 23
    assert counts.tolist() == [5, 5, 5, 4, 4]  # 23 // 5 each, the remainder one each to the lowest labels


def test_class_balanced_gives_a_small_class_all_it_has() -> None:
    labels = _labels([3, 100, 100, 100])
    chosen = select_anchors(labels, 40, "class-balanced", seed=0)
    counts = np.bincount(labels[chosen], minlength=4)
    assert counts[0] == 3  # every sample of the small class
    assert counts.sum() == 40 and counts[1:].max() - counts[1:].min() <= 1


def test_random_is_not_class_balanced() -> None:
    # 95 % of the samples are class 0: uniform draws follow that, class-balanced does not
    labels = _labels([950, 50])
    random_counts = np.bincount(labels[select_anchors(labels, 100, "random", seed=0)], minlength=2)
    balanced_counts = np.bincount(labels[select_anchors(labels, 100, "class-balanced", seed=0)], minlength=2)
    assert random_counts[0] > 80
    assert balanced_counts.tolist() == [50, 50]


@pytest.mark.parametrize("method", ["class-balanced", "random"])
@pytest.mark.parametrize("m", [10, 11, 500])
def test_asking_for_at_least_n_returns_everything(method: str, m: int) -> None:
    labels = _labels([4, 6])
    assert select_anchors(labels, m, method, seed=0).tolist() == list(range(10))


def test_bad_arguments_are_user_errors() -> None:
    with pytest.raises(Cnn2GnnError, match="unknown"):
        select_anchors(np.zeros(5, dtype=int), 2, "nearest", seed=0)
    with pytest.raises(Cnn2GnnError, match="at least 1"):
        select_anchors(np.zeros(5, dtype=int), 0, "random", seed=0)


def test_kmeans_medoids_are_class_balanced_distinct_training_samples() -> None:
    import torch

    from cnn2gnn.toolchain.graph.anchors import kmeans_medoids

    labels = np.arange(300) % 10
    ids = kmeans_medoids(torch.randn(300, 8, generator=torch.Generator().manual_seed(0)), labels, 64, seed=0)
    assert len(ids) == len(set(ids.tolist())) == 64 and (np.diff(ids) > 0).all()
    assert np.bincount(labels[ids]).tolist() == [7] * 4 + [6] * 6  # the class-balanced shares
    assert select_anchors(labels, 64, "kmeans", 0).tolist() == select_anchors(labels, 64, "class-balanced", 0).tolist()

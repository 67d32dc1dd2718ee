"""Class-balanced, reproducible picks of calibration images, with unusable images replaced."""

from __future__ import annotations

import numpy as np

from cnn2gnn.calibration.stratified_selection import select_stratified

LABELS = np.repeat(np.arange(4), [30, 30, 5, 30])  # class 2 is short


def test_classes_are_balanced_and_a_short_class_is_topped_up_by_the_others() -> None:
    picked, failed = select_stratified(LABELS, 40, seed=0)
    counts = np.bincount(LABELS[picked], minlength=4)
    assert len(picked) == 40 and not failed
    assert counts[2] == 5  # all it has
    assert counts.sum() == 40 and max(counts[[0, 1, 3]]) - min(counts[[0, 1, 3]]) <= 1
    assert len(set(picked.tolist())) == 40 and np.all(np.diff(picked) > 0)


def test_even_split_when_every_class_has_enough() -> None:
    picked, _ = select_stratified(LABELS, 12, seed=3)
    assert np.bincount(LABELS[picked], minlength=4).tolist() == [3, 3, 3, 3]


def test_reproducible_for_a_seed_and_different_for_another() -> None:
    a, _ = select_stratified(LABELS, 20, seed=1)
    b, _ = select_stratified(LABELS, 20, seed=1)
    c, _ = select_stratified(LABELS, 20, seed=2)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()


def test_fewer_available_than_asked_returns_everything() -> None:
    picked, _ = select_stratified(LABELS, 1000, seed=0)
    assert sorted(picked.tolist()) == list(range(len(LABELS)))


def test_unusable_images_are_reported_and_replaced_from_the_same_class() -> None:
    bad = {int(i) for i in np.flatnonzero(LABELS == 0)[:10]}
    picked, failed = select_stratified(LABELS, 40, seed=0, try_use=lambda i: "corrupt" if i in bad else None)
    assert not bad & set(picked.tolist())
    assert failed and {i for i, _ in failed} <= bad and all(why == "corrupt" for _, why in failed)
    counts = np.bincount(LABELS[picked], minlength=4)
    assert len(picked) == 40
    # Class 0 still gets its share (35 // 3 or one more): its bad images were replaced, not dropped.
    assert counts[0] >= 35 // 3 and np.ptp(counts[[0, 1, 3]]) <= 1

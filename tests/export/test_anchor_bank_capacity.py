"""Empty slots of a padded anchor bank are never neighbours: checked exactly in numpy and on ONNX Runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.export.anchor_bank_capacity import (
    EMPTY_SLOT_Z_SQ,
    bank_rows,
    padded_bank,
    unpadded_bank,
    with_bank_capacity,
)
from cnn2gnn.export.anchor_bank_onnx import bank_constants
from cnn2gnn.export.anchor_rows import closed_form_neighbours
from tests.export._real_data import checkpoint_test_split

K, USED, CAPACITY, PROJ = 5, 40, 64, 8


def _bank(rng: np.random.Generator) -> dict[str, np.ndarray]:
    z = rng.normal(0, 3, (USED, PROJ))
    return {"anchor_dist_weight": (-2.0 * z).T.astype(np.float32), "anchor_z_sq": (z * z).sum(1).astype(np.float32),
            "anchor_values": rng.normal(size=(USED, 12)).astype(np.float32),
            "anchor_targets": np.eye(4, dtype=np.float32)[rng.integers(0, 4, USED)],
            "label_scale": np.array(0.7, np.float32)}


def _distances(c: dict[str, np.ndarray], z: np.ndarray) -> np.ndarray:
    """The exported Gemm's float32 result, ||z_a||^2 - 2 z.z_a, summed element by element so that every entry is
    computed the same way whatever the number of columns."""
    return c["anchor_z_sq"] + (z[:, :, None] * c["anchor_dist_weight"][None]).sum(axis=1, dtype=np.float32)


def test_empty_slots_never_enter_the_k_plus_one_nearest_and_change_nothing() -> None:
    rng = np.random.default_rng(0)
    bank = _bank(rng)
    padded = padded_bank(bank, CAPACITY, K)
    # queries from near the anchors' mean to far beyond any image (|z| up to 1e12), including directions that push
    # every real distance up (z opposite to the anchors) and projections equal to an anchor
    directions = rng.normal(size=(200, PROJ))
    scales = 10.0 ** rng.uniform(-3, 12, (200, 1))
    opposite = -np.outer(10.0 ** np.arange(0, 13), bank["anchor_dist_weight"][:, :USED].mean(1) * -0.5)
    z = np.concatenate([directions * scales, opposite, -0.5 * bank["anchor_dist_weight"].T]).astype(np.float32)
    near_padded, near = _distances(padded, z), _distances(bank, z)
    assert np.isfinite(near_padded).all() and (near_padded[:, USED:] == EMPTY_SLOT_Z_SQ).all()
    assert near_padded[:, :USED].max() < EMPTY_SLOT_Z_SQ / 1e6  # far from the empty slots even at |z| = 1e12
    order = np.argsort(near_padded, axis=1, kind="stable")[:, : K + 1]
    assert order.max() < USED  # the k neighbours and the threshold distance are real anchors
    assert np.array_equal(near_padded[:, :USED], near)
    w_padded, i_padded = closed_form_neighbours(near_padded, K, 1e-6)
    w, i = closed_form_neighbours(near, K, 1e-6)
    assert np.array_equal(i_padded, i) and np.array_equal(w_padded, w) and np.isfinite(w_padded).all()


def test_padding_keeps_the_used_rows_and_strips_back_exactly() -> None:
    bank = _bank(np.random.default_rng(1))
    padded = padded_bank(bank, CAPACITY, K)
    assert bank_rows(padded) == CAPACITY and padded["anchor_dist_weight"].shape == (PROJ, CAPACITY)
    assert all(a.dtype == np.float32 for a in padded.values())
    assert not padded["anchor_dist_weight"][:, USED:].any() and not padded["anchor_values"][USED:].any()
    assert not padded["anchor_targets"][USED:].any() and padded["label_scale"] is bank["label_scale"]
    back = unpadded_bank(padded, USED)
    assert all(np.array_equal(back[n], bank[n]) for n in bank)


@pytest.mark.parametrize(("capacity", "used", "message"), [
    (USED - 1, USED, r"--bank-capacity 39: give 40 \(the anchors the bank holds\) to 1000000"),
    (10**7, USED, r"--bank-capacity 10000000: give 40"),
    (CAPACITY, K, r"holds 5 anchors; reserved room needs at least k\+1 = 6 real ones"),
])
def test_impossible_capacities_are_refused(capacity: int, used: int, message: str) -> None:
    bank = unpadded_bank(_bank(np.random.default_rng(2)), used)
    with pytest.raises(Cnn2GnnError, match=message):
        padded_bank(bank, capacity, K)


def _outputs(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x})))


def test_a_padded_model_computes_what_the_unpadded_one_does(exported_lp_student: dict[str, Any]) -> None:
    model = onnx.load(exported_lp_student["output"])
    used, k = exported_lp_student["graph"]["num_anchors"], exported_lp_student["graph"]["k"]
    padded = with_bank_capacity(model, used + 37, k, "lp.onnx")
    onnx.checker.check_model(padded, full_check=True)
    assert bank_rows(bank_constants(padded, "padded")) == used + 37
    x = checkpoint_test_split(Path(exported_lp_student["checkpoint"])).x.numpy()
    want, got = _outputs(model, x), _outputs(padded, x)
    assert np.array_equal(got["neighbour_index"], want["neighbour_index"]) and got["neighbour_index"].max() < used
    assert np.abs(got["logits"] - want["logits"]).max() <= 1e-5
    assert np.abs(got["neighbour_weight"] - want["neighbour_weight"]).max() <= 1e-6
    assert np.abs(got["novelty"] - want["novelty"]).max() <= 1e-6

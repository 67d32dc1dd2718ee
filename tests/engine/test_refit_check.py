"""The refit check on real models run by ONNX Runtime: the same model passes, a distance Gemm without its bias (the
known TensorRT 11.3 refit issue) and FP32-sized errors do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort

from cnn2gnn.contracts.anchor_bank import NEIGHBOUR_INDEX
from cnn2gnn.contracts.anchor_thumbnails import inputs_from_thumbnails, thumbnails_from_inputs
from cnn2gnn.engine.onnx_facts import read_onnx_facts
from cnn2gnn.engine.refit_check import CHECK_IMAGES, compare_refit_outputs, refit_check_images
from cnn2gnn.export.anchor_bank_onnx import with_bank_constants


def _outputs(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x})))


def test_the_check_images_are_the_models_anchors(bank_models: dict[str, Path]) -> None:
    metadata = read_onnx_facts(bank_models["append"]).metadata
    x = refit_check_images(bank_models["append"], metadata)
    assert 84 <= CHECK_IMAGES and x.shape == (84, *metadata.preprocessing.input_shape) and x.dtype == np.float32
    # the thumbnails are the anchors' inputs rounded to uint8: undoing them is exact up to that rounding
    step = 1 / 255 / min(metadata.preprocessing.std)
    assert np.abs(inputs_from_thumbnails(thumbnails_from_inputs(x, metadata.preprocessing),
                                         metadata.preprocessing) - x).max() <= step


def test_the_same_model_passes_and_a_dropped_distance_bias_does_not(bank_models: dict[str, Path]) -> None:
    path = bank_models["append"]
    metadata = read_onnx_facts(path).metadata
    x = refit_check_images(path, metadata)
    model = onnx.load(str(path))
    reference = _outputs(model, x)
    same = compare_refit_outputs(_outputs(model, x), reference, "logits", 84, "fp32")
    assert same["passed"] and same["problems"] == [] and same["max_abs_logit_diff"] == 0.0
    assert same["top1_agreement"] == 1.0 and same["neighbour_agreement"] == 1.0
    # the distance Gemm's bias is anchor_z_sq: without it the distances rank anchors by -2 z.z_a alone
    without_bias = with_bank_constants(model, {"anchor_z_sq": np.zeros(100, np.float32)})
    dropped = compare_refit_outputs(_outputs(without_bias, x), reference, "logits", 84, "fp32")
    assert not dropped["passed"] and dropped["neighbour_agreement"] < 0.5
    assert any("max |Δlogit|" in p for p in dropped["problems"])


def test_empty_slots_as_neighbours_fail_at_every_precision(bank_models: dict[str, Path]) -> None:
    path = bank_models["append"]
    x = refit_check_images(path, read_onnx_facts(path).metadata)
    reference = _outputs(onnx.load(str(path)), x)
    engine = {**reference, NEIGHBOUR_INDEX: reference[NEIGHBOUR_INDEX].copy()}
    engine[NEIGHBOUR_INDEX][0, -1] = 99  # an empty slot of the 100-row bank
    for precision in ("fp32", "fp16", "int8"):
        result = compare_refit_outputs(engine, reference, "logits", 84, precision)
        assert not result["passed"] and result["neighbours_outside_bank"] == 1
        assert "1 neighbour indices lie outside the 84 used anchors" in result["problems"][0]


def test_fp16_and_int8_engines_are_not_held_to_fp32_tolerances(bank_models: dict[str, Path]) -> None:
    path = bank_models["append"]
    x = refit_check_images(path, read_onnx_facts(path).metadata)
    reference = _outputs(onnx.load(str(path)), x)
    engine = {**reference, "logits": reference["logits"] + np.float32(0.01)}
    assert not compare_refit_outputs(engine, reference, "logits", 84, "fp32")["passed"]
    assert compare_refit_outputs(engine, reference, "logits", 84, "fp16")["passed"]
    broken = {**reference, "logits": np.full_like(reference["logits"], np.nan)}
    assert compare_refit_outputs(broken, reference, "logits", 84, "int8")["problems"][0] == (
        "the engine's logits hold inf or NaN")


def test_a_wrong_novelty_bank_fails_an_fp32_engine(bank_models: dict[str, Path]) -> None:
    path = bank_models["append"]
    x = refit_check_images(path, read_onnx_facts(path).metadata)
    model = onnx.load(str(path))
    reference = _outputs(model, x)
    source = onnx.load(str(bank_models["source"]))  # a refit that left the source's novelty bank: no new anchors in it
    stale = onnx.numpy_helper.to_array(next(i for i in source.graph.initializer if i.name == "anchor_hidden"))
    wrong = compare_refit_outputs(_outputs(with_bank_constants(model, {"anchor_hidden": stale}), x), reference,
                                  "logits", 84, "fp32")
    assert wrong["max_abs_logit_diff"] == 0.0 and wrong["max_abs_novelty_diff"] > 1e-3  # the logits cannot tell
    assert not wrong["passed"] and any("max |Δnovelty|" in p for p in wrong["problems"])
    assert compare_refit_outputs(reference, reference, "logits", 84, "fp32")["max_abs_novelty_diff"] == 0.0

"""Real refits of a refittable engine on a GPU, checked against ONNX Runtime on the CPU.

Needs TensorRT, an NVIDIA GPU and cuda-python or pycuda; skipped (with the reason) where any is absent.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import tensorrt_available

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not tensorrt_available(), reason="needs TensorRT (not installed here)"),
]
EDITED = {"anchor_dist_weight", "anchor_targets", "anchor_values", "anchor_z_sq"}


@pytest.fixture(scope="module")
def refittable(bank_models, tmp_path_factory, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx

    return engine_from_onnx(bank_models["source"], tmp_path_factory.mktemp("refittable"), "fp32", max_batch=64,
                            refittable=True, progress=False)


def _outputs(engine_path, onnx_path, x):
    from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
    from cnn2gnn.runtime.backends.tensorrt.runner import TensorRTRunner

    with TensorRTRunner(engine_path) as engine, OnnxRuntimeRunner(onnx_path, ["CPUExecutionProvider"]) as onnx:
        return engine.infer_outputs(x), onnx.infer_outputs(x)


def _images(onnx_path):
    from cnn2gnn.engine.onnx_facts import read_onnx_facts
    from cnn2gnn.engine.refit_check import refit_check_images

    return refit_check_images(onnx_path, read_onnx_facts(onnx_path).metadata)


def test_a_refittable_build_records_its_flag_key_and_refit_layout(refittable, bank_models):
    from cnn2gnn.engine.refit_check import compare_refit_outputs
    from cnn2gnn.engine.refit_weights import refit_problems, refit_weights_from_onnx

    sidecar = refittable.sidecar
    assert sidecar.refittable and sidecar.key["refittable"] and "REFIT" in sidecar.build_options["builder_flags"]
    assert refittable.engine_path.name.endswith("-refit.engine")
    assert refit_problems(sidecar, refit_weights_from_onnx(bank_models["append"])) == []
    # the REFIT build itself, before any refit (TensorRT 11.3's GEMM-bias issue would show here already)
    got, want = _outputs(refittable.engine_path, bank_models["source"], _images(bank_models["source"]))
    built = compare_refit_outputs(got, want, "logits", 64, "fp32")
    assert built["passed"], built["problems"]


def test_a_refit_computes_the_enrolled_model_and_keys_it_apart(refittable, bank_models, tmp_path):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx
    from cnn2gnn.engine.engine_key import engine_reuse_problems
    from cnn2gnn.engine.engine_refit import refit_engine

    result = refit_engine(refittable.engine_path, bank_models["append"], tmp_path)
    assert not result.reused and result.check is not None and result.check["passed"], result.check
    assert EDITED <= set(result.weights_set)
    got, want = _outputs(result.engine_path, bank_models["append"], _images(bank_models["append"]))
    assert np.abs(got["logits"] - want["logits"]).max() <= 1e-3 and got["neighbour_index"].max() < 84
    assert (np.sort(got["neighbour_index"], 1) == np.sort(want["neighbour_index"], 1)).all(1).mean() >= 0.99
    # the old engine is untouched and keyed to the old bank; neither key matches the other engine
    assert sha256_file(refittable.engine_path) == refittable.sidecar.engine_sha256
    assert engine_reuse_problems(refittable.engine_path, result.sidecar.key)
    assert engine_reuse_problems(result.engine_path, refittable.sidecar.key)
    # a refittable build of the enrolled model with the same options finds the refitted engine to be it
    again = engine_from_onnx(bank_models["append"], result.engine_path, "fp32", max_batch=64, refittable=True,
                             progress=False)
    assert again.reused


def test_a_refit_in_place_replaces_the_engine(refittable, bank_models, tmp_path):
    from cnn2gnn.engine.engine_refit import refit_engine

    copy = tmp_path / "copy.engine"
    shutil.copy(refittable.engine_path, copy)
    shutil.copy(refittable.sidecar_path, tmp_path / "copy.engine.json")
    result = refit_engine(copy, bank_models["append"], copy)
    assert result.engine_path == copy and sha256_file(copy) == result.sidecar.engine_sha256
    assert result.sidecar.source_onnx == "more3.onnx" and not list(tmp_path.glob(".refitting-*"))


def test_plain_engines_and_new_classes_are_refused(refittable, bank_models, tmp_path, gpu):
    from cnn2gnn.engine.engine_from_onnx import engine_from_onnx
    from cnn2gnn.engine.engine_refit import refit_engine

    plain = engine_from_onnx(bank_models["source"], tmp_path, "fp32", max_batch=8, progress=False)
    with pytest.raises(Cnn2GnnError, match="built without --refittable"):
        refit_engine(plain.engine_path, bank_models["append"])
    with pytest.raises(Cnn2GnnError, match="a refit keeps each weight's element count and type"):
        refit_engine(refittable.engine_path, bank_models["new_class"])

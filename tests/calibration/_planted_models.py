"""Hand-built digits classifiers with one planted INT8-sensitive node, for the float-fallback tests.

The classifier is a ridge fit on the digits training split. The planted node's weights carry, in
every output row, one huge weight on a pixel that is constant over the data (its contribution is
cancelled by the bias, so FP32 is unaffected). Per-channel INT8 gives that row a scale of
outlier/127, which rounds every ordinary weight of the row to 0: INT8 destroys the layer.

* :func:`write_planted_chain`: Flatten -> ``sensitive`` (identity + outliers) -> ``rotate`` (a random
  orthogonal map) -> ``classify`` (the ridge weights, rotated back). ``rotate`` and ``classify``
  quantise harmlessly.
* :func:`write_all_sensitive`: one 8x8 convolution (the ridge weights + outliers) then ReduceSum:
  the convolution is the only quantisable node, so no mixed configuration can meet any budget.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_images
from tests._onnx_files import save_test_onnx

OUTLIER = 1000.0
SPEC = Preprocessing.default_for(1, 8)
CLASSES = [str(d) for d in range(10)]


def _metadata() -> ModelMetadata:
    return ModelMetadata(kind="teacher", class_names=CLASSES, preprocessing=SPEC, run_config={"data": "digits"})


def _digits() -> tuple[np.ndarray, np.ndarray, int, float]:
    """(train x flattened, train labels, index of a constant pixel, its value)."""
    from cnn2gnn.toolchain.data import load_dataset

    data = load_dataset("digits", seed=0)
    x = np.concatenate([preprocess_images(split.images, SPEC) for split in (data.train, data.val, data.test)])
    flat = x.reshape(len(x), -1)
    constant = int(np.flatnonzero(flat.std(axis=0) == 0)[0])
    train = preprocess_images(data.train.images, SPEC).reshape(len(data.train.labels), -1)
    return train.astype(np.float64), np.asarray(data.train.labels), constant, float(flat[0, constant])


def _ridge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xa = np.hstack([x, np.ones((len(x), 1))])
    reg = np.eye(xa.shape[1])
    reg[-1, -1] = 0.0
    wb = np.linalg.solve(xa.T @ xa + reg, xa.T @ np.eye(10)[y])
    return wb[:-1].T, wb[-1]


def _with_outliers(weight: np.ndarray, bias: np.ndarray, column: int, value: float) -> tuple[np.ndarray, np.ndarray]:
    weight, bias = weight.copy(), bias.copy()
    weight[:, column] += OUTLIER
    bias -= OUTLIER * value  # the constant pixel's contribution cancels in FP32
    return weight, bias


def _save(nodes: list, inits: dict[str, np.ndarray], path: Path) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "planted", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=[numpy_helper.from_array(v if v.dtype == np.int64 else v.astype(np.float32), k)
                     for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save_test_onnx(model, path, _metadata())


def write_planted_chain(path: Path) -> Path:
    from onnx import helper

    x, y, column, value = _digits()
    w, b = _ridge(x, y)
    s_w, s_b = _with_outliers(np.eye(64), np.zeros(64), column, value)
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(64, 64)))
    nodes = [
        helper.make_node("Flatten", ["images"], ["flat"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["flat", "S_W", "S_b"], ["s"], transB=1, name="sensitive"),
        helper.make_node("Gemm", ["s", "R_W", "R_b"], ["r"], transB=1, name="rotate"),
        helper.make_node("Gemm", ["r", "C_W", "C_b"], ["logits"], transB=1, name="classify"),
    ]
    inits = {"S_W": s_w, "S_b": s_b, "R_W": q, "R_b": np.zeros(64), "C_W": w @ q.T, "C_b": b}
    return _save(nodes, inits, path)


def write_all_sensitive(path: Path) -> Path:
    from onnx import helper

    x, y, column, value = _digits()
    w, b = _with_outliers(*_ridge(x, y), column, value)
    nodes = [
        helper.make_node("Conv", ["images", "W", "B"], ["scores"], kernel_shape=[8, 8], name="sensitive"),
        helper.make_node("ReduceSum", ["scores", "axes"], ["logits"], keepdims=0, name="squeeze"),
    ]
    return _save(nodes, {"W": w.reshape(10, 1, 8, 8), "B": b, "axes": np.array([2, 3], np.int64)}, path)


def write_fp16_overflow(path: Path) -> Path:
    """Flatten -> ``up`` (x 60000) -> ``amplify`` (x 4) -> ``classify`` (the ridge weights / 240000): exact in
    FP32, but FP16 (largest value 65504) turns most intermediate values into inf."""
    from onnx import helper

    x, y, _, _ = _digits()
    w, b = _ridge(x, y)
    nodes = [
        helper.make_node("Flatten", ["images"], ["flat"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["flat", "U_W", "U_b"], ["u"], transB=1, name="up"),
        helper.make_node("Mul", ["u", "four"], ["a"], name="amplify"),
        helper.make_node("Gemm", ["a", "C_W", "C_b"], ["logits"], transB=1, name="classify"),
    ]
    inits = {"U_W": 60000.0 * np.eye(64), "U_b": np.zeros(64), "four": np.array(4.0), "C_W": w / 240000.0, "C_b": b}
    return _save(nodes, inits, path)

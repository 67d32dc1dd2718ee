"""Tiny cnn2gnn-style ONNX models for the builder's tests, written with onnx.helper.

- a linear classifier (Flatten + Gemm, "images" [N,1,8,8] -> "logits"), optionally behind a Q/DQ
  pair (an explicitly quantized model) or computing in FP16 (Casts around FP16 weights);
- an anchor-mode classifier shaped like the exported student: projection, squared distances to a
  bank of anchors as MatMul, TopK, Gather of the anchors' messages, plus the sample's own transform.
  Its weights are fitted in closed form on the digits data (PCA projection, ridge classifier, one-hot
  anchor messages), so agreements measured on it are real numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing
from tests._onnx_files import save_test_onnx

SPEC = Preprocessing(height=8, width=8, channels=1, mean=(0.5,), std=(0.5,))
CLASSES = [str(i) for i in range(10)]


def tiny_metadata(precision: str = "fp32") -> ModelMetadata:
    return ModelMetadata(
        kind="student",
        class_names=CLASSES,
        preprocessing=SPEC,
        precision=precision,
        graph={"mode": "anchor", "k": 5, "num_anchors": 40},
    )


def write_linear_onnx(
    path: Path,
    metadata: ModelMetadata | None,
    *,
    batch: int | str = "N",
    qdq: bool = False,
    fp16: bool = False,
    embed: bool = True,
    sidecar: bool = True,
    seed: int = 0,
) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 0.1, (10, 64)).astype(np.float16 if fp16 else np.float32)
    bias = rng.normal(0, 0.1, (10,)).astype(weight.dtype)
    nodes, inits = [], [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")]
    x = "images"
    if qdq:
        inits += [
            numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
            numpy_helper.from_array(np.array(0, np.int8), "x_zero"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", [x, "x_scale", "x_zero"], ["x_q"]),
            helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        ]
        x = "x_dq"
    if fp16:
        nodes.append(helper.make_node("Cast", [x], ["x_half"], to=TensorProto.FLOAT16))
        x = "x_half"
    nodes.append(helper.make_node("Flatten", [x], ["flat"], axis=1))
    nodes.append(helper.make_node("Gemm", ["flat", "W", "b"], ["logits_half" if fp16 else "logits"], transB=1))
    if fp16:
        nodes.append(helper.make_node("Cast", ["logits_half"], ["logits"], to=TensorProto.FLOAT))
    graph = helper.make_graph(
        nodes,
        "tiny_linear",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save_test_onnx(model, path, metadata, embed, sidecar)


def digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_x, train_y, test_x, test_y): the digits split, preprocessed to float32 (N, 1, 8, 8)."""
    from cnn2gnn.contracts.preprocessing import preprocess_images
    from cnn2gnn.toolchain.data.digits import load_digits_dataset

    data = load_digits_dataset()
    return (
        preprocess_images(data.train.images, SPEC),
        np.asarray(data.train.labels),
        preprocess_images(data.test.images, SPEC),
        np.asarray(data.test.labels),
    )


def write_anchor_onnx(path: Path, train_x: np.ndarray, train_y: np.ndarray, k: int = 5, per_class: int = 4) -> Path:
    """The anchor-mode classifier (see the module docstring); returns ``path``."""
    from onnx import TensorProto, helper, numpy_helper

    flat = train_x.reshape(len(train_x), -1).astype(np.float64)
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    proj_w = vt[:16]  # (16, 64)
    proj_b = -proj_w @ mean
    xa = np.hstack([flat, np.ones((len(flat), 1))])
    reg = np.eye(xa.shape[1])
    reg[-1, -1] = 0.0
    wb = np.linalg.solve(xa.T @ xa + reg, xa.T @ np.eye(10)[train_y])
    own_w, own_b = wb[:-1].T, wb[-1]
    anchor_idx = np.concatenate([np.flatnonzero(train_y == c)[:per_class] for c in range(10)])
    anchors = flat[anchor_idx] @ proj_w.T + proj_b  # (M, 16)
    messages = np.eye(10)[train_y[anchor_idx]]  # (M, 10)
    f32 = np.float32
    inits = [
        numpy_helper.from_array(proj_w.astype(f32), "proj_W"),
        numpy_helper.from_array(proj_b.astype(f32), "proj_b"),
        numpy_helper.from_array(anchors.T.astype(f32), "anchors_T"),
        numpy_helper.from_array((anchors**2).sum(1)[None, :].astype(f32), "anchors_sq"),
        numpy_helper.from_array(np.array(2.0, f32), "two"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
        numpy_helper.from_array(np.array([k], np.int64), "k"),
        numpy_helper.from_array(messages.astype(f32), "messages"),
        numpy_helper.from_array(own_w.astype(f32), "own_W"),
        numpy_helper.from_array(own_b.astype(f32), "own_b"),
    ]
    nodes = [
        helper.make_node("Flatten", ["images"], ["flat"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["flat", "proj_W", "proj_b"], ["z"], transB=1, name="projection"),
        helper.make_node("Mul", ["z", "z"], ["zz"], name="z_squared"),
        helper.make_node("ReduceSum", ["zz", "axis1"], ["z_sq"], keepdims=1, name="z_norm"),
        helper.make_node("MatMul", ["z", "anchors_T"], ["za"], name="z_dot_anchors"),
        helper.make_node("Mul", ["za", "two"], ["za2"], name="twice_dot"),
        helper.make_node("Sub", ["z_sq", "za2"], ["partial"], name="minus_dot"),
        helper.make_node("Add", ["partial", "anchors_sq"], ["dist"], name="distances"),
        helper.make_node("TopK", ["dist", "k"], ["near_d", "near_i"], largest=0, name="neighbours"),
        helper.make_node("Gather", ["messages", "near_i"], ["near_msg"], axis=0, name="gather_messages"),
        helper.make_node("ReduceMean", ["near_msg"], ["agg"], axes=[1], keepdims=0, name="aggregate"),
        helper.make_node("Gemm", ["flat", "own_W", "own_b"], ["own"], transB=1, name="own_transform"),
        helper.make_node("Add", ["own", "agg"], ["logits"], name="mix"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_anchor_student",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save_test_onnx(model, path, tiny_metadata())

"""Tiny cnn2gnn-style ONNX classifiers for runtime tests: Flatten + Gemm, "images" [N,C,H,W] -> "logits".

The weights are a ridge-regression fit on the digits training split (closed form, milliseconds), so
accuracies and agreements measured through the runtime are real numbers a bug would change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_images
from tests._onnx_files import save_test_onnx


def fit_linear(images: list[np.ndarray], labels: np.ndarray, spec: Preprocessing, num_classes: int,
               ridge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(W (classes, C*H*W), b (classes,)) minimising ||[X 1] [W b]^T - onehot||^2 + ridge ||W||^2."""
    x = preprocess_images(images, spec).reshape(len(images), -1).astype(np.float64)
    xa = np.hstack([x, np.ones((len(x), 1))])
    y = np.eye(num_classes)[labels]
    reg = ridge * np.eye(xa.shape[1])
    reg[-1, -1] = 0.0
    wb = np.linalg.solve(xa.T @ xa + reg, xa.T @ y)
    return wb[:-1].T.astype(np.float32), wb[-1].astype(np.float32)


def linear_logits(batch: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """What the ONNX model computes, in numpy: the reference the runtime is checked against."""
    return batch.reshape(len(batch), -1) @ weight.T + bias


def write_linear_onnx(
    path: Path,
    weight: np.ndarray,
    bias: np.ndarray,
    metadata: ModelMetadata | None,
    *,
    embed: bool = True,
    sidecar: bool = True,
    input_chw: tuple[int, int, int] | None = None,
    batch_dim: int | str = "N",
) -> Path:
    """Write the model; ``metadata`` goes into metadata_props["cnn2gnn"] (``embed``) and/or the sidecar."""
    from onnx import TensorProto, helper, numpy_helper

    chw = input_chw if input_chw is not None else metadata.preprocessing.input_shape  # type: ignore[union-attr]
    in_name = metadata.input_name if metadata else "images"
    out_name = metadata.output_name if metadata else "logits"
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", [in_name], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "b"], [out_name], transB=1),
        ],
        "tiny_linear",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [batch_dim, *chw])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [batch_dim, weight.shape[0]])],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return save_test_onnx(model, path, metadata, embed, sidecar)


def quantized_copy(src: Path, dst: Path, calibration: np.ndarray, metadata: ModelMetadata) -> Path:
    """An INT8 Q/DQ copy made by ONNX Runtime's static quantiser, with int8-qdq metadata."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            name = metadata.input_name
            self._batches = iter([{name: calibration[i : i + 16]} for i in range(0, len(calibration), 16)])

        def get_next(self):  # noqa: ANN201 - ORT's interface
            return next(self._batches, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    import onnx

    meta = ModelMetadata.from_dict({**metadata.to_dict(), "precision": "int8-qdq"})
    model = onnx.load(str(dst))
    del model.metadata_props[:]
    return save_test_onnx(model, dst, meta)

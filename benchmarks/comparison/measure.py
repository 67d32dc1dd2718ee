"""Per-model measurements: test accuracy at batch 1 and 64, ONNX export, INT8 Q/DQ accuracy on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnn2gnn.contracts.errors import Cnn2GnnError


class SeedTestSplits:
    """The test split's tensors per (seed, preprocessing), each made once: the split may depend on the seed
    (a dataset that draws its split draws it from the seed), and a model sees the split through its own
    checkpoint's preprocessing."""

    def __init__(self, data: str) -> None:
        self.data = data
        self._datasets: dict[int, Any] = {}
        self._tensors: dict[tuple[int, str], Any] = {}

    def dataset(self, seed: int) -> Any:
        from cnn2gnn.toolchain.data import load_dataset

        if seed not in self._datasets:
            self._datasets[seed] = load_dataset(self.data, seed=seed)
        return self._datasets[seed]

    def tensors(self, seed: int, pre: Any) -> Any:
        import json

        from cnn2gnn.toolchain.data.tensors import tensors_from_split

        key = (seed, json.dumps(pre.to_dict(), sort_keys=True))
        if key not in self._tensors:
            self._tensors[key] = tensors_from_split(self.dataset(seed).split("test"), pre)
        return self._tensors[key]


def checkpoint_test_accuracy(checkpoint: Path, tests: SeedTestSplits, seed: int,
                             batches: tuple[int, ...] = (1, 64)) -> dict[str, float | None]:
    """Test accuracy at each of ``batches`` of a checkpoint trained with ``seed``. A batch-mode student has no
    batch-1 value (a lone image has no graph) and is measured with the test images in a seeded random
    order (``"64"``) and in the split's file order (``"64_file_order"``)."""
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint

    payload = load_checkpoint(checkpoint)
    model = model_from_checkpoint(payload)
    test = tests.tensors(seed, payload.preprocessing)
    graph = payload.graph
    if graph is not None and graph.mode == "batch":
        return {"1": None, "64": shuffled_test_accuracy(model, test.x, test.y, 64, seed, graph.min_nodes),
                "64_file_order": module_test_accuracy(model, test.x, test.y, 64, graph.min_batch)}
    return {str(b): module_test_accuracy(model, test.x, test.y, b) for b in batches}


def module_test_accuracy(module: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                         min_last: int = 1) -> float:
    from cnn2gnn.toolchain.training.evaluate import predict_logits

    logits = predict_logits(module, x, batch_size, "cpu", min_last)
    return int((logits.argmax(1) == y).sum()) / len(y)


def shuffled_test_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int,
                           min_batch: int) -> float:
    """Accuracy over the test images in a seeded random order: for a model whose prediction depends on the
    rest of its batch (batch graph mode), so batches are random mixes, as in training, not file order."""
    from cnn2gnn.toolchain.training.evaluate import predict_logits

    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    logits = predict_logits(model, x[order], batch_size, "cpu", min_batch)
    return int((logits.argmax(1) == y[order]).sum()) / len(y)


def export_checkpoint(checkpoint: Path, output: Path, parity_samples: int, progress: bool) -> dict[str, Any]:
    from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint

    report = onnx_from_checkpoint(checkpoint, output, parity_samples=parity_samples, progress=progress)
    return {"output": str(output), "parity": report["parity"], "onnx_bytes": output.stat().st_size,
            "onnx_sha256": report["onnx_sha256"]}


def int8_test_comparison(fp32_path: Path, int8_path: Path, x_test: np.ndarray, y_test: np.ndarray,
                         calibration_images: int, seed: int, progress: bool) -> dict[str, Any]:
    """Calibrate ``fp32_path`` into the Q/DQ ``int8_path`` (calibration module, training images, graph
    path kept float), then compare both on the TEST split: accuracy, drop, agreement."""
    import onnx

    from cnn2gnn.calibration.calibrate_onnx import calibrate_onnx
    from cnn2gnn.calibration.neighbour_outputs import run_model
    from cnn2gnn.calibration.precision_comparison import compare_to_fp32
    from cnn2gnn.export.onnx_metadata import read_onnx_metadata

    report = calibrate_onnx(fp32_path, int8_path, None, num_images=calibration_images, seed=seed,
                            latency_iterations=0, allow_over_budget=True, progress=progress)
    metadata = read_onnx_metadata(fp32_path)
    if tuple(x_test.shape[1:]) != metadata.preprocessing.input_shape:
        raise Cnn2GnnError(
            f"{fp32_path} takes {metadata.preprocessing.input_shape}, the test tensors are {x_test.shape}")
    fp32 = run_model(onnx.load(str(fp32_path)), metadata, x_test)
    int8 = run_model(onnx.load(str(int8_path)), metadata, x_test)
    return {
        "output": str(int8_path),
        "test": compare_to_fp32(fp32, int8, y_test),
        "over_budget": report["over_budget"],
        "fallback_float_nodes": report["calibration"]["fallback_float_nodes"],
        "calibration_images": report["calibration"]["num_images"],
        "quantized_nodes": len(report["qdq"]["quantized_nodes"]),
        "excluded_nodes": len(report["calibration"]["excluded_nodes"]),
        "warnings": report["warnings"],
    }

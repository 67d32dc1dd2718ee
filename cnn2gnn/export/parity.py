"""Export parity: ONNX Runtime (CPU) against the checkpoint's PyTorch model on real images, per batch size.

The reference is the model's eval-mode forward in float64: float32 PyTorch is itself only accurate
to ~1e-4 on a student's logits (its batch-1 and batch-64 kernels round differently), so it cannot
referee a 1e-4 tolerance. An export is accepted only if, at every batch size, no ONNX logit differs
from the reference by more than ``PARITY_MAX_ABS_DIFF``, every top-1 prediction agrees, and an
image's logits are the same alone as in a batch. Agreement with the float32 PyTorch model the
accuracy was measured on is reported too.
"""

from __future__ import annotations

import copy
import sys
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.progress import progress_bar

if TYPE_CHECKING:
    from cnn2gnn.toolchain.training.checkpoint import Checkpoint

PARITY_MAX_ABS_DIFF = 1e-4
PARITY_MIN_TOP1_AGREEMENT = 1.0
PARITY_BATCH_SIZES = (1, 64)


def parity_images(checkpoint: "Checkpoint", limit: int | None) -> tuple[np.ndarray, dict[str, Any]]:
    """The first ``limit`` (all with None) images of the checkpoint's own test split (val when it has
    none), preprocessed as the checkpoint says.

    The split seed is the training run's, so these are images the model never trained on.
    """
    from cnn2gnn.toolchain.data import load_dataset
    from cnn2gnn.toolchain.data.tensors import tensors_from_split

    if limit is not None and limit < 1:
        raise Cnn2GnnError(f"parity samples (--parity-samples) must be at least 1, got {limit}")
    spec = checkpoint.dataset_spec
    seed = checkpoint.train_seed
    dataset = load_dataset(spec, seed=seed)
    split_name = "test" if dataset.test is not None else "val"
    split = dataset.split(split_name)
    count = len(split) if limit is None else min(limit, len(split))
    subset = split.subset(np.arange(count))
    x = tensors_from_split(subset, checkpoint.preprocessing).x.numpy()
    return x, {"data": spec, "split": split_name, "seed": seed, "num_images": int(len(x))}


def _batched(x: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [x[i : i + batch_size] for i in range(0, len(x), batch_size)]


def _agreement(got: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    return {
        "max_abs_diff": float(np.abs(got - want).max()),
        "top1_agreement": float((got.argmax(1) == want.argmax(1)).mean()),
        "num_images": int(len(got)),
    }


def onnx_parity(
    model_bytes: bytes,
    torch_model: Any,
    x: np.ndarray,
    batch_sizes: Sequence[int] = PARITY_BATCH_SIZES,
    progress: bool = True,
) -> dict[str, Any]:
    """ONNX Runtime vs ``torch_model`` (eval mode; float64 reference, float32 reported) at each batch size."""
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    # ONNX Runtime's spinning worker threads starve PyTorch's, which runs in between: parity is not a speed test.
    options.intra_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    model64 = copy.deepcopy(torch_model).double().eval()
    chunks = {b: _batched(x, b) for b in batch_sizes}
    onnx_out: dict[int, np.ndarray] = {}
    vs64: dict[str, Any] = {}
    vs32: dict[str, Any] = {}
    torch_threads = torch.get_num_threads()
    # Small batches run several times faster on one thread than on threads competing with ONNX Runtime's.
    torch.set_num_threads(1)
    try:
        with progress_bar(total=sum(len(c) for c in chunks.values()), desc="export parity", unit="batch",
                          file=sys.stderr, enabled=progress) as bar, torch.no_grad():
            for b, batches in chunks.items():
                ours, ref64, ref32 = [], [], []
                for batch in batches:
                    tensor = torch.from_numpy(batch)
                    ours.append(session.run(None, {input_name: batch})[0])
                    ref64.append(model64(tensor.double()).numpy())
                    ref32.append(torch_model(tensor).numpy())
                    bar.update()
                onnx_out[b] = np.concatenate(ours)
                vs64[str(b)] = _agreement(onnx_out[b], np.concatenate(ref64))
                vs32[str(b)] = _agreement(onnx_out[b], np.concatenate(ref32))
    finally:
        torch.set_num_threads(torch_threads)
    first = onnx_out[batch_sizes[0]]
    return {
        "reference": "PyTorch eval mode, float64",
        "batch_sizes": vs64,
        "max_abs_diff": max(v["max_abs_diff"] for v in vs64.values()),
        "top1_agreement": min(v["top1_agreement"] for v in vs64.values()),
        "batch_dependence_max_abs": max(float(np.abs(first - other).max()) for other in onnx_out.values()),
        "vs_pytorch_float32": vs32,
        "tolerance": {"max_abs_diff": PARITY_MAX_ABS_DIFF, "min_top1_agreement": PARITY_MIN_TOP1_AGREEMENT},
    }


def parity_passed(parity: dict[str, Any]) -> bool:
    return (parity["max_abs_diff"] <= PARITY_MAX_ABS_DIFF and parity["top1_agreement"] >= PARITY_MIN_TOP1_AGREEMENT
            and parity["batch_dependence_max_abs"] <= PARITY_MAX_ABS_DIFF)


def format_parity(parity: dict[str, Any]) -> str:
    lines = []
    for b, v in parity["batch_sizes"].items():
        v32 = parity["vs_pytorch_float32"][b]
        lines.append(f"  batch {b:>3}: max |Δlogit| {v['max_abs_diff']:.3g}, top-1 agreement "
                     f"{100 * v['top1_agreement']:.2f}% ({v['num_images']} images); vs float32 PyTorch: "
                     f"{v32['max_abs_diff']:.3g}, {100 * v32['top1_agreement']:.2f}%")
    lines.append(f"  same image alone vs in a batch: max |Δlogit| {parity['batch_dependence_max_abs']:.3g}")
    return "\n".join(lines)

"""A Triton Inference Server model repository entry for a built engine.

Layout Triton expects: ``<repo>/<model>/config.pbtxt`` and ``<repo>/<model>/1/model.plan`` (the
engine, unchanged). The engine has an explicit, dynamic batch axis, so ``max_batch_size`` is 0 and
the dims carry the batch as -1; Triton reads names and shapes from this config, the rest from the plan.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from cnn2gnn.contracts.atomic_io import atomic_write_bytes, atomic_write_text
from cnn2gnn.contracts.engine_sidecar import EngineSidecar
from cnn2gnn.contracts.errors import Cnn2GnnError

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _dims(values: Sequence[int]) -> str:
    return "[ " + ", ".join(str(int(v)) for v in values) + " ]"


def triton_config_pbtxt(
    model_name: str,
    input_name: str,
    input_dims: Sequence[int],
    output_name: str,
    output_dims: Sequence[int],
) -> str:
    """config.pbtxt text for a TensorRT plan with full (batch-included) dims; -1 marks the batch."""
    if not _MODEL_NAME.match(model_name):
        raise Cnn2GnnError(f"Triton model name {model_name!r} must use letters, digits, '_', '-' or '.' only")
    return (
        f'name: "{model_name}"\n'
        'platform: "tensorrt_plan"\n'
        "max_batch_size: 0\n"
        "input [\n"
        "  {\n"
        f'    name: "{input_name}"\n'
        "    data_type: TYPE_FP32\n"
        f"    dims: {_dims(input_dims)}\n"
        "  }\n"
        "]\n"
        "output [\n"
        "  {\n"
        f'    name: "{output_name}"\n'
        "    data_type: TYPE_FP32\n"
        f"    dims: {_dims(output_dims)}\n"
        "  }\n"
        "]\n"
    )


def write_triton_repo(repo: str | Path, model_name: str, engine_path: str | Path, sidecar: EngineSidecar) -> Path:
    """Write ``<repo>/<model_name>/config.pbtxt`` and ``1/model.plan``; returns the model folder."""
    num_classes = len(sidecar.model_metadata.get("class_names", []))
    if num_classes < 1:
        raise Cnn2GnnError(f"{engine_path}: its sidecar lists no class names, so the output shape is unknown")
    batch = -1 if sidecar.min_batch != sidecar.max_batch else sidecar.max_batch
    config = triton_config_pbtxt(
        model_name,
        sidecar.input_name,
        [batch, *sidecar.input_shape[1:]],
        sidecar.output_name,
        [batch, num_classes],
    )
    folder = Path(repo) / model_name
    atomic_write_bytes(folder / "1" / "model.plan", Path(engine_path).read_bytes())
    atomic_write_text(folder / "config.pbtxt", config)
    return folder

"""A Triton Inference Server model repository entry for an exported ONNX model or a built engine.

Layout Triton expects::

    <repo>/<name>/config.pbtxt     names, dtypes, dims, batching
    <repo>/<name>/labels.txt       one class name per line, in output order (the classification extension)
    <repo>/<name>/README.md        the preprocessing a client must apply (Triton receives the tensor)
    <repo>/<name>/1/model.onnx     or 1/model.plan: the model file, unchanged

With ``max_batch_size`` > 0 Triton owns the batch axis: dims leave it out and the dynamic batcher
groups requests up to that size. That needs a model that accepts every batch from 1 up; an engine
whose profile starts above 1 gets ``max_batch_size: 0`` and its full dims instead (no batcher).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from cnn2gnn.contracts.atomic_io import atomic_path, atomic_write_text
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.export.serving.served_model import ServedModel
from cnn2gnn.export.serving.triton_readme import triton_readme

# Not dots alone: the name is a folder in the repository, and "." or ".." would put the entry in the repository
# itself or outside it.
_MODEL_NAME = re.compile(r"(?!\.+\Z)[A-Za-z0-9_.-]+")
LABELS_FILE = "labels.txt"
# Triton's default is 0 (send a batch as soon as one is ready); a short wait lets concurrent requests join.
DEFAULT_MAX_QUEUE_DELAY_US = 100


@dataclass(frozen=True)
class TritonEntry:
    folder: Path
    platform: str
    max_batch_size: int
    notes: list[str] = field(default_factory=list)  # where the entry differs from a plain batched classifier


def _dims(values: Sequence[int]) -> str:
    return "[ " + ", ".join(str(int(v)) for v in values) + " ]"


def check_model_name(name: str) -> str:
    if not _MODEL_NAME.fullmatch(name):  # not match(): its $ lets a trailing newline through
        raise Cnn2GnnError(f"Triton model name {name!r} must use letters, digits, '_', '-' or '.' only, and not "
                           "dots alone (--name NAME; its default is the model file's name)")
    return name


def triton_labels_text(class_names: Sequence[str]) -> str:
    bad = [c for c in class_names if not c.strip() or "\n" in c or "\r" in c]
    if bad or not class_names:
        raise Cnn2GnnError(f"class names {bad or list(class_names)!r} cannot be written one per line to a Triton "
                           "labels file; re-export the model with non-empty single-line class names")
    return "".join(f"{c}\n" for c in class_names)


def triton_config_pbtxt(name: str, model: ServedModel, max_batch: int,
                        max_queue_delay_us: int = DEFAULT_MAX_QUEUE_DELAY_US) -> tuple[str, int, list[str]]:
    """The ``config.pbtxt`` text, the ``max_batch_size`` it declares, and notes on anything unusual."""
    check_model_name(name)
    if max_queue_delay_us < 0:
        raise Cnn2GnnError(f"--max-queue-delay-us must be >= 0, got {max_queue_delay_us}")
    chw = list(model.metadata.preprocessing.input_shape)
    classes = model.metadata.num_classes
    notes = []
    if model.min_batch == 1:
        max_batch_size, batch_dims, batching = max_batch, [], (
            f"dynamic_batching {{\n  max_queue_delay_microseconds: {int(max_queue_delay_us)}\n}}\n")
    else:
        batch = model.fixed_batch if model.fixed_batch is not None else -1
        max_batch_size, batch_dims, batching = 0, [batch], ""
        notes.append(
            f"{model.path}: the engine's batch profile starts at {model.min_batch}, so Triton cannot batch requests "
            f"for it (max_batch_size 0, dims with the batch, no dynamic_batching) and its classification extension, "
            "which needs 1-D outputs, will refuse class_count; rebuild with `cnn2gnn build --min-batch 1`")
    text = (
        f'name: "{name}"\n'
        f'platform: "{model.format.triton_platform}"\n'
        f"max_batch_size: {max_batch_size}\n"
        "input [\n"
        "  {\n"
        f'    name: "{model.input_name}"\n'
        "    data_type: TYPE_FP32\n"
        f"    dims: {_dims([*batch_dims, *chw])}\n"
        "  }\n"
        "]\n"
        "output [\n"
        "  {\n"
        f'    name: "{model.output_name}"\n'
        "    data_type: TYPE_FP32\n"
        f"    dims: {_dims([*batch_dims, classes])}\n"
        f'    label_filename: "{LABELS_FILE}"\n'
        "  }\n"
        "]\n"
        + batching
    )
    return text, max_batch_size, notes


def _copy_atomically(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def write_triton_model(repo: str | Path, model: ServedModel, name: str | None = None, max_batch: int | None = None,
                       max_queue_delay_us: int = DEFAULT_MAX_QUEUE_DELAY_US) -> TritonEntry:
    """Write ``<repo>/<name>/`` (name default: the model file's stem); every file atomically, config last,
    so a Triton polling the repository never sees a config without its model and labels."""
    name = name or model.path.stem
    batch_limit = model.server_max_batch(max_batch)
    config, max_batch_size, notes = triton_config_pbtxt(name, model, batch_limit, max_queue_delay_us)
    folder = Path(repo) / name
    labels = triton_labels_text(model.metadata.class_names)
    _copy_atomically(model.path, folder / "1" / model.format.triton_file_name)
    atomic_write_text(folder / LABELS_FILE, labels)
    atomic_write_text(folder / "README.md", triton_readme(name, model, max_batch_size))
    atomic_write_text(folder / "config.pbtxt", config)
    return TritonEntry(folder, model.format.triton_platform, max_batch_size, notes)

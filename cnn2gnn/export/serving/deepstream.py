"""A DeepStream ``nvinfer`` config (the ``[property]`` group) that runs the model as a classifier.

nvinfer scales the frame (or object crop) to the network size itself, converts it to
``model-color-format`` and normalises the 0-255 pixels as ``net-scale-factor * (x - offset)``; see
:mod:`~cnn2gnn.export.serving.nvinfer_normalisation` for how our mean/std map onto that and how far
off it is. Paths in the file are relative to the file's folder, which is how nvinfer resolves them.
The labels file is nvinfer's classifier format: one line per output layer, class names split by ';'.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from cnn2gnn.contracts.atomic_io import atomic_write_text
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.export.serving.nvinfer_normalisation import NvinferNormalisation, nvinfer_normalisation
from cnn2gnn.export.serving.served_model import ServedModel

# nvinfer's enums, as its config parser reads them.
_NETWORK_MODES = {"fp32": 0, "int8": 1, "int8-qdq": 1, "fp16": 2}
_COLOR_FORMATS = {"RGB": 0, "BGR": 1}
_GRAY_COLOR_FORMAT = 2
_PROCESS_MODES = {"primary": 1, "secondary": 2}
# NvBufSurfTransform_Inter: 0 nearest, 1 bilinear, 2 GPU-cubic / VIC 5-tap. OpenCV's area has no counterpart.
_SCALING_FILTERS = {"nearest": 0, "linear": 1, "cubic": 2}
_BILINEAR = 1
# nvinfer attaches a class only when its output value exceeds classifier-threshold. Our output is logits, which
# may be negative, so by default the threshold is below any logit and the top class is always attached.
ATTACH_TOP_CLASS_THRESHOLD = -1e30


@dataclass(frozen=True)
class DeepStreamConfig:
    path: Path
    labels_path: Path
    normalisation: NvinferNormalisation
    notes: list[str] = field(default_factory=list)  # where nvinfer cannot reproduce our preprocessing exactly


def deepstream_labels_text(class_names: Sequence[str]) -> str:
    bad = [c for c in class_names if not c.strip() or ";" in c or "\n" in c or "\r" in c]
    if bad or not class_names:
        raise Cnn2GnnError(f"class names {bad or list(class_names)!r} cannot be written to an nvinfer classifier "
                           "labels file (';'-separated on one line); re-export the model with class names free of "
                           "';' and line breaks")
    return ";".join(class_names) + "\n"


def _model_color_format(spec: Preprocessing) -> int:
    return _GRAY_COLOR_FORMAT if spec.channels == 1 else _COLOR_FORMATS[spec.color_order]


def preprocessing_notes(spec: Preprocessing, normalisation: NvinferNormalisation) -> list[str]:
    """Where nvinfer's preprocessing differs from ours: what differs and by how much, when measured."""
    notes = []
    if not normalisation.exact:
        notes.append(
            f"per-channel std {spec.std} cannot be one net-scale-factor: closest form written (midpoint scale, "
            f"re-centred offsets); max |difference| in the normalised tensor {normalisation.max_abs_error:.6g} over "
            "every pixel value 0..255 of an image at the network size")
    if spec.interpolation not in _SCALING_FILTERS:
        notes.append(f"interpolation {spec.interpolation!r} has no nvinfer scaling-filter; bilinear (1) written")
    notes.append(
        f"resizing to {spec.height}x{spec.width} is nvinfer's own scaler (scaling-filter), not OpenCV's: exact only "
        "for frames / crops already at the network size; other sizes differ slightly (not measured)")
    if spec.channels == 1:
        notes.append("GRAY input is nvinfer's conversion of the frame (from NV12: its luma plane), not our ITU-R 601 "
                     "luma of RGB; they agree only for gray sources (not measured)")
    return notes


def _network_mode(model: ServedModel) -> int:
    try:
        return _NETWORK_MODES[model.precision]
    except KeyError:
        raise Cnn2GnnError(f"{model.path}: precision {model.precision!r} has no nvinfer network-mode "
                           f"({', '.join(_NETWORK_MODES)})") from None


def check_nvinfer_options(process_mode: str, gie_unique_id: int, gpu_id: int, classifier_threshold: float) -> None:
    if not math.isfinite(classifier_threshold):
        raise Cnn2GnnError(f"--classifier-threshold must be a finite logit value, got {classifier_threshold}")
    if process_mode not in _PROCESS_MODES:
        raise Cnn2GnnError(f"--process-mode {process_mode!r} unknown; use one of {', '.join(_PROCESS_MODES)}")
    if gie_unique_id < 1:
        raise Cnn2GnnError(f"--gie-unique-id must be at least 1, got {gie_unique_id}")
    if gpu_id < 0:
        raise Cnn2GnnError(f"--gpu-id must be a GPU index (0 for the first GPU), got {gpu_id}")


def deepstream_config_text(model: ServedModel, model_file: str, labels_file: str, batch_size: int,
                           normalisation: NvinferNormalisation, notes: Sequence[str], *,
                           classifier_threshold: float = ATTACH_TOP_CLASS_THRESHOLD, gie_unique_id: int = 1,
                           process_mode: str = "primary", gpu_id: int = 0) -> str:
    check_nvinfer_options(process_mode, gie_unique_id, gpu_id, classifier_threshold)
    spec = model.metadata.preprocessing
    how = "exact (one scale; float32 rounding only)" if normalisation.exact else "closest form, not exact"
    comments = [
        f"DeepStream nvinfer config for {model.path.name}, a cnn2gnn {model.metadata.kind} classifier "
        f"({model.metadata.num_classes} classes), written by `cnn2gnn serve-config`.",
        f"Our preprocessing: resize to {spec.height}x{spec.width} ({spec.interpolation}), x/255, "
        f"{'gray' if spec.channels == 1 else spec.color_order}, (x - mean) / std with mean={spec.mean} std={spec.std}.",
        f"nvinfer computes net-scale-factor * (x - offset) on 0-255 pixels: {how}; measured max |difference| "
        f"{normalisation.max_abs_error:.6g} over every pixel value 0..255.",
        *(f"Not exact: {note}." for note in notes),
        f"Output {model.output_name} holds raw logits (no softmax): nvinfer compares classifier-threshold with "
        f"logits, not probabilities (the default, {ATTACH_TOP_CLASS_THRESHOLD!r}, attaches the top class always).",
    ]
    if model.precision == "int8-qdq":
        comments.append("Q/DQ ONNX: the INT8 scales are in the model (no int8-calib-file); if your DeepStream asks for "
                        "one, build the engine with `cnn2gnn build --precision int8` and use model-engine-file.")
    properties = {
        "gpu-id": gpu_id,
        "network-type": 1,  # classifier
        model.format.nvinfer_model_key: model_file,
        "labelfile-path": labels_file,
        "net-scale-factor": repr(normalisation.net_scale_factor),
        "offsets": ";".join(repr(o) for o in normalisation.offsets),
        "model-color-format": _model_color_format(spec),
        "infer-dims": ";".join(str(d) for d in spec.input_shape),
        "batch-size": batch_size,
        "network-mode": _network_mode(model),
        "process-mode": _PROCESS_MODES[process_mode],
        "gie-unique-id": gie_unique_id,
        "output-blob-names": model.output_name,
        "classifier-threshold": repr(float(classifier_threshold)),
        "maintain-aspect-ratio": 0,  # we stretch to the network size
        "scaling-filter": _SCALING_FILTERS.get(spec.interpolation, _BILINEAR),
    }
    return ("".join(f"# {line}\n" for line in comments) + "[property]\n"
            + "".join(f"{key}={value}\n" for key, value in properties.items()))


def _relative_to(target: Path, folder: Path) -> str:
    try:
        return os.path.relpath(target.resolve(), folder.resolve())
    except ValueError:  # another drive on Windows
        return str(target.resolve())


def deepstream_labels_path(config_path: str | Path) -> Path:
    """``ds/classifier.txt`` -> ``ds/classifier.labels.txt``: where the config's labels file goes."""
    p = Path(config_path)
    return p.with_name(p.stem + ".labels.txt")


def write_deepstream_config(path: str | Path, model: ServedModel, max_batch: int | None = None,
                            classifier_threshold: float = ATTACH_TOP_CLASS_THRESHOLD, gie_unique_id: int = 1,
                            process_mode: str = "primary", gpu_id: int = 0) -> DeepStreamConfig:
    """Write the config at ``path`` and its labels at ``<path stem>.labels.txt`` beside it."""
    config_path = Path(path)
    labels_path = deepstream_labels_path(config_path)
    spec = model.metadata.preprocessing
    normalisation = nvinfer_normalisation(spec)
    notes = preprocessing_notes(spec, normalisation)
    text = deepstream_config_text(
        model, _relative_to(model.path, config_path.parent), labels_path.name, model.server_max_batch(max_batch),
        normalisation, notes, classifier_threshold=classifier_threshold, gie_unique_id=gie_unique_id,
        process_mode=process_mode, gpu_id=gpu_id)
    atomic_write_text(labels_path, deepstream_labels_text(model.metadata.class_names))
    atomic_write_text(config_path, text)
    return DeepStreamConfig(config_path, labels_path, normalisation, notes)

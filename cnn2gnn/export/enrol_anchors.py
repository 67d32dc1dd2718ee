"""``cnn2gnn enroll``: add labelled anchors to (or remove a label from) an exported student, without retraining.

Only the anchor bank's constants change (``anchor_dist_weight``, ``anchor_z_sq``, ``anchor_values``,
``anchor_targets``, ``anchor_hidden``), plus, for a class enrolled after training, its column of the last layer's weight, and
the logits' shape when a new label grows the class dimension. A trained class's logit would otherwise beat
the new class's share of the label vote, so the enrolled class's column (weight, bias, vote scale) is fitted
on the bank by leave-one-out (``cnn2gnn.export.enrolled_class_fit``). The inferred intermediate shapes
(``value_info``, which name the old bank size) are dropped. Every other node, weight and attribute is kept
bit-identical, and so are the training anchors' rows in the trained classes' columns. The metadata gets the
new class names, bank size, bank checksum and a provenance entry (with the class's fit); the model, its anchor
thumbnails and its sidecar are written together. Needs onnx, ONNX Runtime, numpy and OpenCV; no torch.

A bank exported with reserved room (``--bank-capacity``) is edited without its empty slots and padded back
to its capacity, so new anchors fill slots and the constants keep their shapes: an engine built from the
source model with ``build --refittable`` can then take the new bank by ``cnn2gnn refit``, as long as the last
layer is unchanged (images of a trained class; more images of an enrolled class fit its column again). A full
bank is refused (``capacity`` writes a larger one, whose engines must be rebuilt).
"""

from __future__ import annotations

import datetime
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn import __version__
from cnn2gnn.contracts.anchor_bank import (
    BANK_KEY,
    MAX_BANK_SIZE,
    bank_capacity,
    bank_checksum,
    bank_record,
    has_label_term,
)
from cnn2gnn.contracts.anchor_thumbnails import (
    inputs_from_thumbnails,
    read_thumbnails,
    thumbnails_bytes,
    thumbnails_from_inputs,
    thumbnails_path,
)
from cnn2gnn.contracts.atomic_io import sha256_bytes, sha256_file
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.graph_spec import min_graph_nodes
from cnn2gnn.contracts.images import is_image_file, read_image
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import preprocess_images
from cnn2gnn.export.anchor_bank_capacity import ROW_AXIS, bank_rows, padded_bank, unpadded_bank
from cnn2gnn.export.anchor_bank_onnx import bank_constants, with_bank_constants
from cnn2gnn.export.anchor_embedding import embed_images
from cnn2gnn.export.anchor_rows import new_anchor_rows
from cnn2gnn.export.enrolled_class_fit import anchor_logits, bank_graph, fit_class_column
from cnn2gnn.export.onnx_metadata import load_onnx_model, metadata_from_onnx_model, write_onnx_with_metadata

# What enrolment rewrites, each along its anchor axis (anchor_hidden where the model has it); label_scale (beta) and
# every other initializer are left byte for byte.
EDITED_CONSTANTS = tuple(ROW_AXIS)
MIN_IMAGE_SIDE = 4  # as training refuses: nothing below this is a picture of an object
MAX_CLASS_WEIGHT = 100.0  # beyond this the fit ignores the other classes altogether
LOW_LOO_ACCURACY = 0.5  # an enrolled class whose own images are mostly classified as others gets a warning


class _Bank:
    """The editable state: constants, last-layer weight, metadata record, class names, thumbnails."""

    def __init__(self, model: Any, metadata: ModelMetadata, path: Path) -> None:
        source = str(path)
        if metadata.precision != "fp32":
            raise Cnn2GnnError(f"{path} is a {metadata.precision} model: enrol into the FP32 model it was made "
                               "from, then calibrate / build again")
        self.record = dict(bank_record(metadata, source))
        stored = bank_constants(model, source)
        rows = bank_rows(stored)
        if rows != bank_capacity(self.record):
            raise Cnn2GnnError(f"{path}: its bank constants hold {rows} rows but its metadata records "
                               f"{bank_capacity(self.record)}: the model was edited after export; re-export it with "
                               "`cnn2gnn export`")
        # None: a bank without reserved room, which grows row by row.
        self.capacity: int | None = rows if "capacity" in self.record else None
        self.stored_shapes = {name: array.shape for name, array in stored.items()}
        self.constants = unpadded_bank(stored, int(self.record["size"]))
        if not has_label_term(self.record) or "anchor_targets" not in self.constants:
            raise Cnn2GnnError(
                f"{path}: its student has label_mode {self.record.get('label_mode')!r}, with no label term, so a "
                "new class could never be predicted; distil a student with --label-mode lp (or both), export it "
                "and enrol into that")
        inits = {i.name: i for i in model.graph.initializer}
        self.last_weight_name = f"layer_weight_{len(self.record['layer_bias']) - 1}"
        from onnx import numpy_helper

        self.layer_weights = [numpy_helper.to_array(inits[f"layer_weight_{i}"]).copy()
                              for i in range(len(self.record["layer_bias"]))]
        self.source_last_weight = self.layer_weights[-1].copy()
        self.class_names = list(metadata.class_names)
        self.labels = np.asarray(self.record["anchor_labels"], dtype=np.int64)
        self.ids = list(self.record["anchor_ids"])
        self.thumbnails = read_thumbnails(path, self.record["thumbnails_sha256"])
        self.k = int((metadata.graph or {})["k"])
        self.label_scale = float(numpy_helper.to_array(inits["label_scale"]))

    @property
    def last_start(self) -> int:
        """The first column of the last layer's part of ``anchor_values``."""
        return sum(w.shape[1] for w in self.layer_weights[:-1])

    def add_class(self, name: str) -> int:
        """Grow every class-indexed tensor by a zero column; returns the new class index."""
        c = self.constants
        c["anchor_values"] = np.pad(c["anchor_values"], ((0, 0), (0, 1)))
        c["anchor_targets"] = np.pad(c["anchor_targets"], ((0, 0), (0, 1)))
        self.layer_weights[-1] = np.pad(self.layer_weights[-1], ((0, 0), (0, 1)))
        self.record["layer_bias"] = [*self.record["layer_bias"][:-1], [*self.record["layer_bias"][-1], 0.0]]
        if self.record.get("label_embedding") is not None:
            self.record["label_embedding"] = [[*row, 0.0] for row in self.record["label_embedding"]]
        self.class_names.append(name)
        return len(self.class_names) - 1

    def remove_class(self, index: int) -> None:
        """Drop class ``index``: its anchors, and its column everywhere (no logit for it remains)."""
        keep = self.labels != index
        c = self.constants
        for name, axis in ROW_AXIS.items():
            if name in c:
                c[name] = np.compress(keep, c[name], axis=axis)
        c["anchor_values"] = np.delete(c["anchor_values"], self.last_start + index, axis=1)
        c["anchor_targets"] = np.delete(c["anchor_targets"], index, axis=1)
        self.layer_weights[-1] = np.delete(self.layer_weights[-1], index, axis=1)
        bias = list(self.record["layer_bias"][-1])
        self.record["layer_bias"] = [*self.record["layer_bias"][:-1], bias[:index] + bias[index + 1 :]]
        if self.record.get("label_embedding") is not None:
            self.record["label_embedding"] = [row[:index] + row[index + 1 :] for row in self.record["label_embedding"]]
        self.labels = self.labels[keep]
        self.labels = self.labels - (self.labels > index)
        self.ids = [i for i, kept in zip(self.ids, keep) if kept]
        self.thumbnails = self.thumbnails[keep]
        del self.class_names[index]

    def append(self, rows: dict[str, np.ndarray], label: int, thumbnails: np.ndarray) -> None:
        c = self.constants
        for name, axis in ROW_AXIS.items():
            if name in c:
                c[name] = np.concatenate([c[name], rows[name]], axis=axis)
        self.labels = np.concatenate([self.labels, np.full(len(thumbnails), label)])
        self.ids += [-1] * len(thumbnails)  # not a training-split image
        self.thumbnails = np.concatenate([self.thumbnails, thumbnails])

    def is_enrolled(self, name: str) -> bool:
        """Class ``name`` was added by enrolment (its provenance says so), not trained: a trained class keeps its
        column even where it has no anchor."""
        return any(e.get("action") == "enrol" and e.get("label") == name for e in self.record.get("enrolments", []))

    def fit_enrolled_class(self, index: int, model: Any, metadata: ModelMetadata, source: str,
                           newest: np.ndarray, class_weight: float) -> dict[str, float | None]:
        """Fit the column of the enrolled class ``index``: its last-layer weight, bias and vote scale
        (``cnn2gnn.export.enrolled_class_fit``), against the bank as it now is. Other columns are left alone.
        ``newest``: the node features of the anchors just appended (the bank's last rows), embedded from the
        images themselves; the other anchors' come from their thumbnails."""
        names = self.class_names
        others = (np.bincount(self.labels, minlength=len(names)) > 0) & (np.arange(len(names)) != index)
        reference = others & np.array([not self.is_enrolled(n) for n in names])  # the prior: trained classes
        if not reference.any():  # every trained class was removed: the other enrolled classes set the prior
            reference = others
        c, alpha, last = self.constants, float(self.record["alpha"]), self.layer_weights[-1]
        older = inputs_from_thumbnails(self.thumbnails[: len(self.thumbnails) - len(newest)], metadata.preprocessing)
        h = np.concatenate([embed_images(model, older, metadata.input_name, source)[0] if len(older) else
                            newest[:0], newest])
        graph = bank_graph(h, -0.5 * c["anchor_dist_weight"].T, c["anchor_values"], self.layer_weights, self.k,
                           float(self.record["eps"]))
        logits = anchor_logits(graph, c["anchor_values"], last, c["anchor_targets"], self.label_scale)
        biases = np.asarray(self.record["layer_bias"][-1], dtype=np.float64)
        column = fit_class_column(graph, logits, self.labels, index, reference, alpha, self.label_scale,
                                  biases[reference], last[:, reference], class_weight=class_weight)
        last[:, index] = column.weight
        c["anchor_values"][:, self.last_start + index] = (1.0 - alpha) / alpha * (graph.hidden @ column.weight) + column.bias
        rows = self.labels == index
        c["anchor_targets"][rows] = 0.0
        c["anchor_targets"][rows, index] = column.target_scale
        bias = list(self.record["layer_bias"][-1])
        bias[index] = column.bias
        self.record["layer_bias"] = [*self.record["layer_bias"][:-1], bias]
        loo = None if column.loo_accuracy is None else round(column.loo_accuracy, 4)
        return {"class_weight": class_weight, "weight_norm": round(float(np.linalg.norm(column.weight)), 6),
                "bias": round(column.bias, 6),
                "label_vote_scale": round(column.target_scale, 6), "loo_accuracy": loo,
                "others_loo_accuracy": round(column.others_loo_accuracy, 4)}


def _images(folder: Path, metadata: ModelMetadata) -> tuple[list[Path], np.ndarray]:
    """The folder's images (sorted by name), checked, and preprocessed as the model's inputs."""
    if not folder.is_dir():
        raise Cnn2GnnError(f"--images {folder} is not a folder; give a folder of the new label's images")
    files = sorted(p for p in folder.iterdir() if is_image_file(p))
    if not files:
        raise Cnn2GnnError(f"--images {folder} holds no image files (.png, .jpg, ...)")
    spec = metadata.preprocessing
    images = []
    for path in files:
        image = read_image(path)
        channels = 1 if image.ndim == 2 else 3
        if channels != spec.channels:
            what = "gray" if spec.channels == 1 else "colour"
            raise Cnn2GnnError(f"{path} has {channels} channel(s) but the model takes {what} images "
                               f"({spec.channels} channel(s)); convert the enrolment images to {what}")
        if min(image.shape[:2]) < MIN_IMAGE_SIDE:
            raise Cnn2GnnError(f"{path} is {image.shape[1]}x{image.shape[0]} pixels, under {MIN_IMAGE_SIDE}x"
                               f"{MIN_IMAGE_SIDE}: not a usable picture; the model takes {spec.width}x{spec.height}")
        images.append(image)
    return files, preprocess_images(images, spec, input_order="RGB")


def _rewritten(model: Any, constants: dict[str, np.ndarray], bank: _Bank, num_classes_before: int) -> Any:
    arrays = {name: constants[name] for name in EDITED_CONSTANTS if name in constants}
    arrays[bank.last_weight_name] = bank.layer_weights[-1]
    out = with_bank_constants(model, arrays)
    if len(bank.class_names) != num_classes_before:
        dims = out.graph.output[0].type.tensor_type.shape.dim
        if len(dims) == 2:
            dims[1].ClearField("dim_param")
            dims[1].dim_value = len(bank.class_names)
    # Inferred intermediate shapes name the old bank size (and class count); runtimes infer them again.
    del out.graph.value_info[:]
    return out


def _room_for(bank: _Bank, needed: int, capacity: int | None, model_path: Path) -> None:
    """Refuse a bank of ``needed`` anchors that its (reserved or requested) capacity cannot hold."""
    if capacity is not None and needed > capacity:
        raise Cnn2GnnError(f"--capacity {capacity} is below the {needed} anchors the bank would hold; give at least "
                           f"{needed}")
    if capacity is None and bank.capacity is not None and needed > bank.capacity:
        free = bank.capacity - len(bank.labels)
        raise Cnn2GnnError(
            f"{model_path}: its anchor bank is full for this enrolment: it holds {len(bank.labels)} anchors in a "
            f"capacity of {bank.capacity} rows (`cnn2gnn export --bank-capacity`), and {needed - len(bank.labels)} "
            f"more need {needed}; enrol at most {free} image(s), or write a larger bank with --capacity {needed} or "
            "more (its shapes change, so engines built from the model must be rebuilt with `cnn2gnn build`, "
            "not refitted)")
    if needed > MAX_BANK_SIZE:
        raise Cnn2GnnError(f"the bank would hold {needed} anchors, above the limit of {MAX_BANK_SIZE}; enrol fewer "
                           "images or remove a label first")


def _require_class_name(label: str) -> None:
    """A class name is written one per line (class-name files) and compared exactly: a stray space would make a
    second class beside the intended one, a newline would break those files."""
    def clean(name: str) -> bool:
        # control characters and line/paragraph separators; format characters (the zero-width joiner of emoji) are fine
        return name == name.strip() and not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name)

    if not clean(label):
        stripped = label.strip()
        # Suggest the stripped name only where it is one: "   " or "a\nb" stripped is still no class name.
        example = f"e.g. {stripped!r}" if stripped and clean(stripped) else "a name on one line, without spaces around it"
        raise Cnn2GnnError(f"--label {label!r} has leading or trailing spaces or control characters (a newline, a "
                           f"tab); give the class name alone, {example}")


def enrolment_warnings(fits: dict[str, dict[str, Any]]) -> list[str]:
    """A fitted class whose own images are mostly not classified as it (leave-one-out) will rarely be predicted."""
    return [f"{name!r}: only {100 * fit['loo_accuracy']:.0f}% of its own images are classified as it (leave-one-out): "
            "it will rarely be predicted; enrol more, or more varied, images of it (or check they show that class)"
            for name, fit in fits.items() if fit["loo_accuracy"] is not None and fit["loo_accuracy"] < LOW_LOO_ACCURACY]


def enrol_anchors(model_path: Path, output: Path, images: Path | None = None, label: str | None = None,
                  append: bool = False, remove_label: str | None = None, capacity: int | None = None,
                  class_weight: float = 1.0) -> dict[str, Any]:
    """Enrol ``images`` under ``label`` (or remove ``remove_label``) into a copy of ``model_path``; returns a report.

    ``capacity``: the rows of the output's bank (used anchors plus empty slots); default: the source's
    reserved capacity, or none (the bank grows by the enrolled rows). ``class_weight``: an enrolled class's share
    of its fit's loss against an average class's (1: equal priors; lower guards the other classes more)."""
    model_path, output = Path(model_path), Path(output)
    if output.suffix.lower() != ".onnx":
        raise Cnn2GnnError(f"-o {output} must end in .onnx")
    if (images is None) == (remove_label is None) or (images is not None and not label):
        raise Cnn2GnnError("give either --images DIR with --label NAME, or --remove-label NAME")
    if label is not None:
        _require_class_name(label)
    if not 0.0 < class_weight <= MAX_CLASS_WEIGHT:
        raise Cnn2GnnError(f"--class-weight {class_weight:g}: give a weight above 0 and at most {MAX_CLASS_WEIGHT:g} "
                           "(1: the enrolled class counts as much as an average trained class; lower keeps the "
                           "trained classes' accuracy at the new class's expense)")
    model = load_onnx_model(model_path, load_external_data=True)  # the bank may sit in an external weights file
    metadata = metadata_from_onnx_model(model, str(model_path))
    bank = _Bank(model, metadata, model_path)
    before = {"classes": len(bank.class_names), "anchors": len(bank.labels), "capacity": bank.capacity}
    entry: dict[str, Any] = {"source_onnx_sha256": sha256_file(model_path), "source_bank_sha256": bank.record["sha256"],
                             "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                             "cnn2gnn_version": __version__}
    if remove_label is not None:
        if remove_label not in bank.class_names:
            raise Cnn2GnnError(f"--remove-label {remove_label!r} is not a class of {model_path} "
                               f"(its classes: {', '.join(bank.class_names)})")
        index = bank.class_names.index(remove_label)
        remaining = int((bank.labels != index).sum())
        if remaining < min_graph_nodes(bank.k) or len(bank.class_names) <= 2:
            raise Cnn2GnnError(f"removing {remove_label!r} would leave {remaining} anchors and "
                               f"{len(bank.class_names) - 1} classes; the model needs at least "
                               f"{min_graph_nodes(bank.k)} anchors (k={bank.k}) and 2 classes")
        bank.remove_class(index)
        _room_for(bank, len(bank.labels), capacity, model_path)
        entry.update(action="remove", label=remove_label)
    else:
        assert images is not None and label is not None
        exists = label in bank.class_names
        if exists and not append:
            raise Cnn2GnnError(f"--label {label!r} is already a class of {model_path}; add --append to enrol more "
                               "images of it, or choose a new name")
        if append and not exists:
            raise Cnn2GnnError(f"--append: {label!r} is not a class of {model_path} (its classes: "
                               f"{', '.join(bank.class_names)}); drop --append to enrol it as a new class")
        files, x = _images(Path(images), metadata)
        _room_for(bank, len(bank.labels) + len(files), capacity, model_path)
        index = bank.class_names.index(label) if exists else bank.add_class(label)
        h, z = embed_images(model, x, metadata.input_name, str(model_path))
        targets = np.eye(len(bank.class_names))[np.full(len(files), index)]
        old_z = -0.5 * bank.constants["anchor_dist_weight"].T  # exact: a power-of-two scale
        rows = new_anchor_rows(old_z, bank.constants["anchor_values"], bank.layer_weights, bank.record, h, z,
                               targets, bank.k)
        bank.append(rows, index, thumbnails_from_inputs(x, metadata.preprocessing))
        entry.update(action="append" if exists else "enrol", label=label,
                     images=[{"file": p.name, "sha256": sha256_file(p)} for p in files])
    fits = {}
    # the record's provenance does not hold this call's entry yet: a new class is enrolled by this very call
    if entry["action"] == "enrol" or (entry["action"] == "append" and bank.is_enrolled(entry["label"])):
        fits[entry["label"]] = entry["class_fit"] = bank.fit_enrolled_class(index, model, metadata, str(model_path), h,
                                                                            class_weight)
    out_capacity = capacity if capacity is not None else bank.capacity
    constants = bank.constants if out_capacity is None else padded_bank(bank.constants, out_capacity, bank.k,
                                                                         "--capacity")
    new_model = _rewritten(model, constants, bank, before["classes"])
    thumbs = thumbnails_bytes(bank.thumbnails)
    record = {**bank.record, "size": len(bank.labels), "sha256": bank_checksum(bank.constants),
              "anchor_labels": [int(v) for v in bank.labels], "anchor_ids": bank.ids,
              "thumbnails_sha256": sha256_bytes(thumbs),
              "enrolments": [*bank.record.get("enrolments", []), entry]}
    record.pop("capacity", None)
    if out_capacity is not None:
        record["capacity"] = out_capacity
    data = metadata.to_dict()
    data.update(class_names=bank.class_names, num_classes=len(bank.class_names),
                graph={**(metadata.graph or {}), "num_anchors": len(bank.labels)},
                extra={**metadata.extra, BANK_KEY: record})
    new_metadata = ModelMetadata.from_dict(data, source=str(output))
    sidecar = write_onnx_with_metadata(new_model, output, new_metadata,
                                       extra_files=[(thumbnails_path(output), thumbs)])
    # A refit sets new values into bank weights of unchanged shapes; a new or removed class, or another capacity,
    # changes shapes, and a refitted enrolled class's column changes the last layer: only a rebuild takes those.
    same_shapes = all(constants[name].shape == shape for name, shape in bank.stored_shapes.items())
    return {"model": str(model_path), "output": str(output), "action": entry["action"], "label": entry["label"],
            "before": before, "after": {"classes": len(bank.class_names), "anchors": len(bank.labels),
                                        "capacity": out_capacity},
            "images": len(entry.get("images", [])), "bank_sha256": record["sha256"], "class_fits": fits,
            "warnings": enrolment_warnings(fits),
            "onnx_sha256": sidecar["extra"]["onnx_sha256"],
            "refittable_from_model": same_shapes and np.array_equal(bank.layer_weights[-1], bank.source_last_weight)}

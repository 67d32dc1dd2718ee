"""What a deployed model carries about itself: the runtime reads only this, never a checkpoint.

Stored as JSON under the ``cnn2gnn`` key of an ONNX model's ``metadata_props`` and in a sidecar
``<model>.json`` next to every ONNX model and engine. Torch-free: the Jetson runtime imports it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnn2gnn import __version__
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.contracts.record_fields import require_fields

METADATA_FORMAT = "cnn2gnn-model/1"
METADATA_KEY = "cnn2gnn"
PRECISIONS = ("fp32", "fp16", "int8-qdq", "int8")
MODEL_KINDS = ("teacher", "student")
_REQUIRED_FIELDS = ("kind", "class_names", "preprocessing")
# The JSON types from_dict insists on, so a damaged or hand-edited field is named when the model is read
# rather than failing later (at the first prediction).
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "kind": (str,), "class_names": (list,), "preprocessing": (dict,), "num_classes": (int,), "input_name": (str,),
    "output_name": (str,), "precision": (str,), "graph": (dict, type(None)), "source_checkpoint_sha256": (str,),
    "cnn2gnn_version": (str,), "run_config": (dict,), "extra": (dict,),
}


@dataclass
class ModelMetadata:
    kind: str  # one of MODEL_KINDS
    class_names: list[str]
    preprocessing: Preprocessing
    input_name: str = "images"
    output_name: str = "logits"
    precision: str = "fp32"
    graph: dict[str, Any] | None = None  # student: {"mode", "k", "num_anchors"}
    source_checkpoint_sha256: str = ""
    cnn2gnn_version: str = __version__
    run_config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # stage-specific (e.g. calibration, export parity)
    format: str = METADATA_FORMAT

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> list[int]:
        """NCHW with -1 for the dynamic batch axis."""
        return [-1, *self.preprocessing.input_shape]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["preprocessing"] = self.preprocessing.to_dict()
        out["input_shape"] = self.input_shape
        out["num_classes"] = self.num_classes
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "metadata") -> "ModelMetadata":
        if not isinstance(data, dict):
            raise Cnn2GnnError(
                f"{source}: cnn2gnn metadata must be a JSON object, got a JSON {type(data).__name__}; "
                "re-export the model with `cnn2gnn export`"
            )
        found = data.get("format")
        family = METADATA_FORMAT.split("/")[0] + "/"
        if isinstance(found, str) and found.startswith(family) and found != METADATA_FORMAT:
            raise Cnn2GnnError(  # another version of the format: made by another cnn2gnn release
                f"{source}: its metadata is format {found!r}, this cnn2gnn {__version__} reads "
                f"{METADATA_FORMAT!r}; use the cnn2gnn release that exported it (upgrade with "
                "`pip install -U cnn2gnn`), or re-export the model with this one (`cnn2gnn export`)"
            )
        if data.get("format") != METADATA_FORMAT:
            raise Cnn2GnnError(
                f"{source}: not cnn2gnn model metadata (format {data.get('format')!r}, expected {METADATA_FORMAT!r}); "
                "export the model with `cnn2gnn export`"
            )
        _check_fields(data, source)
        try:
            preprocessing = Preprocessing.from_dict(data["preprocessing"])
        except Cnn2GnnError as exc:
            raise Cnn2GnnError(f"{source}: {exc}; re-export the model with `cnn2gnn export`") from exc
        return cls(
            kind=data["kind"],
            class_names=list(data["class_names"]),
            preprocessing=preprocessing,
            input_name=data.get("input_name", "images"),
            output_name=data.get("output_name", "logits"),
            precision=data.get("precision", "fp32"),
            graph=data.get("graph"),
            source_checkpoint_sha256=data.get("source_checkpoint_sha256", ""),
            cnn2gnn_version=data.get("cnn2gnn_version", ""),
            run_config=data.get("run_config", {}),
            extra=data.get("extra", {}),
        )

    @classmethod
    def from_json(cls, text: str, source: str = "metadata") -> "ModelMetadata":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Cnn2GnnError(f"{source}: metadata is not valid JSON ({exc})") from exc
        return cls.from_dict(data, source)


def _check_fields(data: dict[str, Any], source: str) -> None:
    """Refuse metadata with a missing field, a field of the wrong JSON type or a value cnn2gnn never writes."""
    damaged = "the model's metadata is damaged or was edited: re-export the model with `cnn2gnn export`"
    require_fields(data, _REQUIRED_FIELDS, _FIELD_TYPES, f"{source}: the metadata", damaged)
    names = data["class_names"]
    if not names or not all(isinstance(c, str) and c.strip() for c in names):
        raise Cnn2GnnError(f"{source}: the metadata field 'class_names' must be a list of class names (non-empty "
                           f"strings), one per logit, got {names!r}; {damaged}")
    if data.get("num_classes", len(names)) != len(names):
        raise Cnn2GnnError(f"{source}: the metadata says num_classes {data['num_classes']} but lists {len(names)} "
                           f"class_names; {damaged}")
    if data["kind"] not in MODEL_KINDS:
        raise Cnn2GnnError(f"{source}: the metadata's kind {data['kind']!r} is unknown, expected one of "
                           f"{', '.join(MODEL_KINDS)}; {damaged}")
    if data.get("precision", PRECISIONS[0]) not in PRECISIONS:
        raise Cnn2GnnError(f"{source}: the metadata's precision {data['precision']!r} is unknown, expected one of "
                           f"{', '.join(PRECISIONS)}; {damaged}")


def sidecar_path(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``; ``model.engine`` -> ``model.engine.json``."""
    p = Path(model_path)
    return p.with_name(p.name + ".json")


def sidecar_if_readable(model_path: str | Path) -> dict[str, Any] | None:
    """The sidecar's JSON object, or None where it is missing, unreadable or not an object: for callers that only
    ask whose file a model is (and treat anything else as foreign), never to use the model."""
    try:
        data = json.loads(sidecar_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_sidecar(model_path: str | Path) -> dict[str, Any]:
    path = sidecar_path(model_path)
    if not path.is_file():
        raise Cnn2GnnError(f"{model_path}: its metadata sidecar {path} is missing; re-export or rebuild the model")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:  # not JSON, or bytes that are not even UTF-8 text (a damaged or foreign file)
        raise Cnn2GnnError(f"{path}: corrupt metadata sidecar ({exc}); re-export or rebuild the model") from exc
    if not isinstance(data, dict):  # every reader looks fields up in it
        raise Cnn2GnnError(f"{path}: corrupt metadata sidecar (a JSON {type(data).__name__}, expected an object); "
                           "re-export or rebuild the model")
    return data

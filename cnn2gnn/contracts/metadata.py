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

METADATA_FORMAT = "cnn2gnn-model/1"
METADATA_KEY = "cnn2gnn"
PRECISIONS = ("fp32", "fp16", "int8-qdq", "int8")


@dataclass
class ModelMetadata:
    kind: str  # "teacher" | "student"
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
        try:
            return cls(
                kind=data["kind"],
                class_names=[str(c) for c in data["class_names"]],
                preprocessing=Preprocessing.from_dict(data["preprocessing"]),
                input_name=data.get("input_name", "images"),
                output_name=data.get("output_name", "logits"),
                precision=data.get("precision", "fp32"),
                graph=data.get("graph"),
                source_checkpoint_sha256=data.get("source_checkpoint_sha256", ""),
                cnn2gnn_version=data.get("cnn2gnn_version", ""),
                run_config=data.get("run_config", {}),
                extra=data.get("extra", {}),
            )
        except KeyError as exc:
            raise Cnn2GnnError(f"{source}: cnn2gnn metadata lacks the field {exc}") from exc

    @classmethod
    def from_json(cls, text: str, source: str = "metadata") -> "ModelMetadata":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Cnn2GnnError(f"{source}: metadata is not valid JSON ({exc})") from exc
        return cls.from_dict(data, source)


def sidecar_path(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``; ``model.engine`` -> ``model.engine.json``."""
    p = Path(model_path)
    return p.with_name(p.name + ".json")


def read_sidecar(model_path: str | Path) -> dict[str, Any]:
    path = sidecar_path(model_path)
    if not path.is_file():
        raise Cnn2GnnError(f"{model_path}: its metadata sidecar {path} is missing; re-export or rebuild the model")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise Cnn2GnnError(f"{path}: corrupt metadata sidecar ({exc}); re-export or rebuild the model") from exc

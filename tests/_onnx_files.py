"""Writing hand-built test ONNX models the way `cnn2gnn export` lays them out: metadata embedded
in metadata_props["cnn2gnn"] and/or in the sidecar, each switchable so tests can remove either."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnn2gnn.contracts.metadata import METADATA_KEY, ModelMetadata, sidecar_path


def save_test_onnx(model: Any, path: Path, metadata: ModelMetadata | None, embed: bool = True,
                   sidecar: bool = True) -> Path:
    import onnx
    from onnx import helper

    if metadata is not None and embed:
        helper.set_model_props(model, {METADATA_KEY: metadata.to_json()})
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    if metadata is not None and sidecar:
        sidecar_path(path).write_text(json.dumps(metadata.to_dict()))
    return path

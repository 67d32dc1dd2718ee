"""A deployed model's :class:`ModelMetadata`, read without torch and without the ``onnx`` package.

A Jetson may have neither, so the sources are the sidecar ``<model>.json`` (plain JSON) and, for ONNX,
the ``cnn2gnn`` entry of the custom metadata map that ONNX Runtime already exposes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Mapping

from cnn2gnn.contracts.engine_sidecar import ENGINE_SIDECAR_FORMAT, EngineSidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import lazy_import
from cnn2gnn.contracts.metadata import METADATA_FORMAT, METADATA_KEY, ModelMetadata, read_sidecar, sidecar_path
from cnn2gnn.runtime.backends.onnxruntime import INSTALL_HINT
from cnn2gnn.runtime.backends.registry import require_model_file


def metadata_from_sidecar(model_path: str | Path) -> ModelMetadata | None:
    """The metadata in ``<model>.json``, or None when there is no sidecar or it holds no cnn2gnn metadata.

    An ONNX sidecar is the ModelMetadata dict itself; an engine sidecar (``cnn2gnn build``) wraps the
    source ONNX's metadata and records the engine's own precision, which is what ran.
    """
    if not sidecar_path(model_path).is_file():
        return None
    data = read_sidecar(model_path)
    source = str(sidecar_path(model_path))
    if data.get("format") == METADATA_FORMAT:
        return ModelMetadata.from_dict(data, source=source)
    if data.get("format") != ENGINE_SIDECAR_FORMAT:
        return None
    engine = EngineSidecar.from_dict(data, source=source)
    if not engine.model_metadata:
        return None
    metadata = ModelMetadata.from_dict(engine.model_metadata, source=source)
    metadata.precision = engine.precision
    return metadata


def metadata_from_onnx_custom_map(custom_map: Mapping[str, str], source: str) -> ModelMetadata | None:
    """The metadata ONNX Runtime reports under ``session.get_modelmeta().custom_metadata_map["cnn2gnn"]``."""
    text = custom_map.get(METADATA_KEY)
    if text is None:
        return None
    return ModelMetadata.from_json(text, source=source)


def onnx_custom_metadata_map(path: str | Path) -> dict[str, str]:
    """Open ``path`` with ONNX Runtime only to read its custom metadata (no ``onnx`` package needed)."""
    ort = lazy_import("onnxruntime", INSTALL_HINT, f"reading the metadata embedded in {path}")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf types
        raise Cnn2GnnError(f"{path}: ONNX Runtime cannot open it ({exc}); is it an ONNX model?") from exc
    return dict(session.get_modelmeta().custom_metadata_map)


def read_model_metadata(path: str | Path, onnx_custom_map: Mapping[str, str] | None = None) -> ModelMetadata:
    """The metadata of the model at ``path``.

    For ONNX the embedded copy wins (it travels with the file, a sidecar can go stale); pass
    ``onnx_custom_map`` when a session is already open. Engines, and ONNX files on a machine without
    ONNX Runtime, use the sidecar. Neither present: the model was not made by cnn2gnn.
    """
    p = require_model_file(path)
    if onnx_custom_map is None and p.suffix.lower() == ".onnx" and importlib.util.find_spec("onnxruntime"):
        onnx_custom_map = onnx_custom_metadata_map(p)
    if onnx_custom_map is not None:
        embedded = metadata_from_onnx_custom_map(onnx_custom_map, source=str(p))
        if embedded is not None:
            return embedded
    from_sidecar = metadata_from_sidecar(p)
    if from_sidecar is not None:
        return from_sidecar
    raise Cnn2GnnError(
        f"{p}: no cnn2gnn metadata (neither an embedded '{METADATA_KEY}' entry nor a sidecar "
        f"{sidecar_path(p).name}): it was not made by cnn2gnn export. Export it with `cnn2gnn export` "
        "(and build engines with `cnn2gnn build`), keeping the .json sidecar next to the model."
    )

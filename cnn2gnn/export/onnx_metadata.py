"""Read and write the cnn2gnn metadata an ONNX model carries: embedded ``metadata_props`` + sidecar.

Every stage that writes an ONNX model (export, calibration) goes through
:func:`write_onnx_with_metadata`, so the embedded copy and the sidecar ``<model>.onnx.json`` always
agree and both files appear atomically. The sidecar additionally records the ONNX file's sha256,
which the embedded copy cannot (it would change the hash it describes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from cnn2gnn.contracts.atomic_io import atomic_write_together, json_text, sha256_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNX_HINT, lazy_import
from cnn2gnn.contracts.metadata import METADATA_KEY, ModelMetadata, sidecar_path


def load_onnx_model(path: str | os.PathLike[str], load_external_data: bool = False) -> Any:
    """``onnx.load`` with user-facing errors: a missing, corrupt or truncated file names itself.

    External weight files (models over 2 GiB) are read only when asked: metadata does not need them.
    """
    onnx = lazy_import("onnx", ONNX_HINT, "reading ONNX models")
    p = Path(path)
    require_onnx_file(p)
    try:
        model = onnx.load(str(p), load_external_data=load_external_data)
    except Exception as exc:  # protobuf DecodeError and friends
        raise Cnn2GnnError(
            f"{p} is corrupt, truncated or not an ONNX model ({type(exc).__name__}: {str(exc).strip()[:200]}); "
            "re-export it with `cnn2gnn export`"
        ) from exc
    # A cut that happens to land on a field boundary still parses; what follows the graph is then missing.
    if not model.HasField("graph") or not model.opset_import:
        missing = "opset_import" if model.HasField("graph") else "graph"
        raise Cnn2GnnError(
            f"{p} is truncated or not an ONNX model (it has no {missing}); re-export it with `cnn2gnn export`")
    return model


def require_onnx_file(path: Path) -> None:
    """Refuse a missing path, or a folder, before anything tries to parse it."""
    if path.is_dir():
        raise Cnn2GnnError(f"{path} is a folder, not an ONNX model; give the path of the .onnx file inside it")
    if not path.is_file():
        raise Cnn2GnnError(f"ONNX model {path} does not exist")


def metadata_from_onnx_model(model_proto: Any, source: str) -> ModelMetadata:
    """The :class:`ModelMetadata` embedded in an in-memory ``onnx.ModelProto``."""
    for prop in model_proto.metadata_props:
        if prop.key == METADATA_KEY:
            return ModelMetadata.from_json(prop.value, source=source)
    raise Cnn2GnnError(
        f"{source}: not made by cnn2gnn export (no cnn2gnn metadata under the '{METADATA_KEY}' key of its "
        "metadata_props); export the checkpoint with `cnn2gnn export CKPT -o model.onnx`"
    )


def read_onnx_metadata(path: str | os.PathLike[str]) -> ModelMetadata:
    """The metadata embedded in the ONNX file at ``path`` (uses the ``onnx`` package)."""
    return metadata_from_onnx_model(load_onnx_model(path), source=str(path))


def write_onnx_with_metadata(
    model_proto: Any,
    path: str | os.PathLike[str],
    metadata: ModelMetadata,
    extra_sidecar: dict[str, Any] | None = None,
    extra_files: Sequence[tuple[Path, bytes]] = (),
) -> dict[str, Any]:
    """Embed ``metadata`` and write ``path`` and its sidecar ``<path>.json``, each atomically.

    ``model_proto`` is not modified (a copy carries the metadata). Other ``metadata_props`` entries are
    kept. The sidecar holds the same metadata with ``extra`` extended by ``extra_sidecar`` and the
    written file's ``onnx_sha256``. Returns the sidecar dict. Both are written in full first, then the
    model is renamed into place before the sidecar (:func:`atomic_write_together`): a failure or a kill never
    leaves a sidecar without its model, nor one describing an older model. ``extra_files`` (e.g. the anchor
    thumbnails) are written in the same step, after the model and before the sidecar.
    """
    onnx = lazy_import("onnx", ONNX_HINT, "writing ONNX models")
    model = onnx.ModelProto()
    model.CopyFrom(model_proto)
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    model.metadata_props.add(key=METADATA_KEY, value=metadata.to_json())
    try:
        data = model.SerializeToString()
    except ValueError as exc:  # protobuf refuses messages over 2 GiB
        raise Cnn2GnnError(f"{path}: the model is too large for a single ONNX file ({exc})") from exc
    sidecar = metadata.to_dict()
    sidecar["extra"] = {**sidecar.get("extra", {}), **(extra_sidecar or {}), "onnx_sha256": sha256_bytes(data)}
    target = Path(path)
    atomic_write_together((target, data), *extra_files, (sidecar_path(target), json_text(sidecar).encode("utf-8")))
    return json.loads(json.dumps(sidecar, default=str))

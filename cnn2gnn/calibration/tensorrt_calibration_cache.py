"""Implicit-INT8 calibration caches, stored with the key of what made them.

TensorRT's cache file stays byte-for-byte what TensorRT wrote (trtexec ``--calib`` reads it), and a
``<cache>.json`` beside it records the key (source ONNX, calibration set, batch shape, TensorRT
version) plus the cache's sha256. A cache whose key differs from the build's, that has no key file,
or whose bytes changed after the key was written, is refused with the reason: a silently reused
stale cache is a classic cause of INT8 accuracy collapse.

The cache is written before its key file, so an interrupted write leaves a cache without a (matching)
key, which is refused, never a new key beside an old cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from cnn2gnn.contracts.atomic_io import atomic_write_bytes, atomic_write_json, sha256_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import sidecar_path

CALIBRATION_CACHE_FORMAT = "cnn2gnn-calibration-cache/1"
_FIX = "delete it, pass another --calibration-cache path, or pass --force to recalibrate and overwrite it"


def calibration_cache_key_path(cache_path: str | Path) -> Path:
    return sidecar_path(cache_path)


def calibration_cache_key(
    *,
    source_onnx_sha256: str,
    calibration_set_key: Mapping[str, Any],
    batch_shape: tuple[int, ...],
    tensorrt_version: str,
    algorithm: str = "entropy2",
) -> dict[str, Any]:
    """What a calibration cache depends on: the network, the data, how it was fed, and TensorRT."""
    return {
        "source_onnx_sha256": source_onnx_sha256,
        "calibration_set": dict(calibration_set_key),
        "batch_shape": list(batch_shape),
        "tensorrt_version": tensorrt_version,
        "algorithm": algorithm,
    }


def _as_json(key: Mapping[str, Any]) -> dict[str, Any]:
    """The key as it reads back from JSON (tuples become lists), so a stored and a fresh key compare equal."""
    return json.loads(json.dumps(dict(key), sort_keys=True, default=str))


def write_calibration_cache(path: str | Path, cache_bytes: bytes, key: Mapping[str, Any]) -> Path:
    """Write TensorRT's cache bytes, then its key file; both atomically."""
    target = atomic_write_bytes(path, bytes(cache_bytes))
    atomic_write_json(
        calibration_cache_key_path(target),
        {
            "format": CALIBRATION_CACHE_FORMAT,
            "key": _as_json(key),
            "cache_sha256": sha256_bytes(bytes(cache_bytes)),
            "cache_size": len(cache_bytes),
        },
    )
    return target


def _differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(stored) | set(wanted)):
        if stored.get(name) != wanted.get(name):
            out.append(f"{name}: cache has {stored.get(name)!r}, wanted {wanted.get(name)!r}")
    return out


def read_calibration_cache(path: str | Path, key: Mapping[str, Any]) -> bytes | None:
    """The cache bytes when ``path`` holds a cache made with exactly ``key``; None when there is no
    cache yet (calibrate and write one). Anything else raises :class:`Cnn2GnnError` naming why."""
    cache = Path(path)
    if not cache.is_file():
        return None
    key_path = calibration_cache_key_path(cache)
    if not key_path.is_file():
        raise Cnn2GnnError(
            f"calibration cache {cache} has no key file {key_path.name}, so nothing says which model and "
            f"calibration set made it; {_FIX}"
        )
    try:
        record = json.loads(key_path.read_text())
    except json.JSONDecodeError as exc:
        raise Cnn2GnnError(f"calibration cache key {key_path} is not valid JSON ({exc}); {_FIX}") from exc
    if not isinstance(record, dict) or record.get("format") != CALIBRATION_CACHE_FORMAT:
        raise Cnn2GnnError(f"{key_path} is not a cnn2gnn calibration cache key; {_FIX}")
    differences = _differences(record.get("key") or {}, _as_json(key))
    if differences:
        raise Cnn2GnnError(
            f"calibration cache {cache} was made for another build ({'; '.join(differences)}); "
            f"refusing to reuse it: {_FIX}"
        )
    data = cache.read_bytes()
    if sha256_bytes(data) != record.get("cache_sha256"):
        raise Cnn2GnnError(f"calibration cache {cache} changed after its key {key_path.name} was written; {_FIX}")
    return data

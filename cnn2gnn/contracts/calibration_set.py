"""Calibration sets: preprocessed calibration tensors saved with the key of what made them.

One ``.npz`` holds the float32 (N, C, H, W) tensors, their sha256 and the key as JSON. The key names the model,
the dataset (spec and content fingerprint), the preprocessing, the number of images asked for and
the sampling seed. A set whose key differs from the one expected is refused with the differing fields
named: a stale calibration set silently reused is a classic cause of INT8 accuracy collapse. Tensors that do not
match their checksum (edited or damaged) or are not finite are refused the same way.

Both ``cnn2gnn calibrate`` (explicit Q/DQ) and TensorRT's implicit entropy calibrator
(``cnn2gnn build --calibration-set``) read these files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_write_bytes, sha256_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError

CALIBRATION_SET_FORMAT = "cnn2gnn-calibration-set/1"
_FIX = "delete it (`cnn2gnn calibrate --calibration-set PATH` makes a new one there) or give another path"
_ZIP_MAGIC = b"PK\x03\x04"  # every .npz is a zip archive
# For a file that is not ours: never suggest deleting it (it may be the user's model).
_NOT_OURS_FIX = ("pass the .npz `cnn2gnn calibrate` wrote, or a --calibration-set path that does not exist yet "
                 "to create a new set there")


def _as_json(key: Mapping[str, Any]) -> dict[str, Any]:
    """The key as it reads back from JSON (tuples become lists), so stored and fresh keys compare equal."""
    return json.loads(json.dumps(dict(key), sort_keys=True, default=str))


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def key_differences(stored: Mapping[str, Any], expected: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``field: stored X, expected Y`` for every field (nested dicts as ``a.b``) whose value differs."""
    out = []
    for name in sorted(set(stored) | set(expected)):
        label = f"{prefix}{name}"
        a, b = stored.get(name, "<absent>"), expected.get(name, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += key_differences(a, b, prefix=f"{label}.")
        elif a != b:
            out.append(f"{label}: stored {_short(a)}, expected {_short(b)}")
    return out


def calibration_set_key(
    *,
    model_sha256: str,
    model_hash_of: str,
    dataset: str,
    dataset_fingerprint: str,
    split: str,
    split_seed: int,
    preprocessing: Mapping[str, Any],
    num_images: int,
    seed: int,
) -> dict[str, Any]:
    """Everything a calibration set's tensors depend on.

    ``model_sha256`` is the source checkpoint's sha256 when the model's metadata records one
    (``model_hash_of="checkpoint"``: a re-export of the same weights keeps its set), else the
    FP32 ONNX file's (``"onnx"``). ``num_images`` is the number asked for; a split with fewer usable
    images gives a smaller set, the same one every time.
    """
    return _as_json({
        "model_sha256": model_sha256,
        "model_hash_of": model_hash_of,
        "dataset": dataset,
        "dataset_fingerprint": dataset_fingerprint,
        "split": split,
        "split_seed": int(split_seed),
        "preprocessing": dict(preprocessing),
        "num_images": int(num_images),
        "seed": int(seed),
    })


def _tensors_sha256(x: np.ndarray) -> str:
    return sha256_bytes(np.ascontiguousarray(x).tobytes())


def save_calibration_set(path: str | Path, tensors: np.ndarray, key: Mapping[str, Any]) -> Path:
    """Write ``tensors`` (float32 N, C, H, W, finite) and ``key`` to the ``.npz`` at ``path``, atomically."""
    x = np.asarray(tensors)
    if x.ndim != 4 or x.shape[0] == 0:
        raise Cnn2GnnError(f"a calibration set holds preprocessed images (N>0, C, H, W), got shape {x.shape}")
    if x.dtype != np.float32:
        raise Cnn2GnnError(f"a calibration set holds float32 tensors, got {x.dtype}")
    if not np.isfinite(x).all():
        raise Cnn2GnnError("the calibration images preprocess to non-finite values (NaN or Inf): check the model's "
                           "preprocessing (a std of 0?) and the images")
    buf = io.BytesIO()
    # Passing a file object, not a name: np.savez would append ".npz" to the temporary name.
    np.savez(
        buf,
        tensors=np.ascontiguousarray(x),
        tensors_sha256=np.array(_tensors_sha256(x)),
        key_json=np.array(json.dumps(_as_json(key), sort_keys=True)),
        format=np.array(CALIBRATION_SET_FORMAT),
    )
    return atomic_write_bytes(path, buf.getvalue())


def load_calibration_set(
    path: str | Path, expected_key: Mapping[str, Any] | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(tensors, key)`` from ``path``; with ``expected_key``, refuse a set whose key differs."""
    p = Path(path)
    if p.is_dir():
        raise Cnn2GnnError(f"calibration set {p} is a folder; pass a file path (e.g. {p / 'calibration.npz'})")
    if not p.is_file():
        raise Cnn2GnnError(
            f"calibration set {p} does not exist; create it with `cnn2gnn calibrate --calibration-set {p}`")
    with open(p, "rb") as fh:
        if fh.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC:
            raise Cnn2GnnError(f"{p} is not a calibration set (not a .npz archive); {_NOT_OURS_FIX}")
    try:
        with np.load(p, allow_pickle=False) as npz:
            fmt = str(npz["format"]) if "format" in npz.files else None
            if fmt != CALIBRATION_SET_FORMAT:
                raise Cnn2GnnError(f"{p} is not a cnn2gnn calibration set (format {fmt!r}, expected "
                                   f"{CALIBRATION_SET_FORMAT!r}); {_NOT_OURS_FIX}")
            tensors = npz["tensors"]
            stored_sha256 = str(npz["tensors_sha256"]) if "tensors_sha256" in npz.files else None
            key = json.loads(str(npz["key_json"]))
    except Cnn2GnnError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, KeyError, EOFError from a damaged set of ours
        raise Cnn2GnnError(
            f"calibration set {p} is corrupt or truncated ({type(exc).__name__}: {exc}); {_FIX}") from exc
    if tensors.ndim != 4 or tensors.shape[0] == 0 or tensors.dtype != np.float32:
        raise Cnn2GnnError(
            f"calibration set {p} holds {tensors.dtype} tensors of shape {tensors.shape}, expected float32 "
            f"(N>0, C, H, W); {_FIX}"
        )
    if stored_sha256 is None:
        raise Cnn2GnnError(f"calibration set {p} has no checksum of its tensors (made by an older cnn2gnn), so an "
                           f"edited or damaged set could not be told apart; {_FIX}")
    if _tensors_sha256(tensors) != stored_sha256:
        raise Cnn2GnnError(f"calibration set {p}'s tensors do not match their checksum (edited or damaged); {_FIX}")
    if not np.isfinite(tensors).all():
        raise Cnn2GnnError(f"calibration set {p} holds non-finite values (NaN or Inf); {_FIX}")
    if expected_key is not None:
        differences = key_differences(key, _as_json(expected_key))
        if differences:
            raise Cnn2GnnError(
                f"calibration set {p} was made for something else ({'; '.join(differences)}); "
                f"refusing to reuse it: {_FIX}"
            )
    return tensors, key

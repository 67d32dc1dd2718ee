"""Anchor thumbnails: the bank's images as uint8, in one checksummed ``<model>.anchors.npy`` beside the model.

Explanations (``run --explain``, ``evaluate --explain``) show the anchors a prediction was built from;
this file lets them do so on a device without the training data. The thumbnails are the anchors'
model inputs with the normalisation undone (height x width x channels, uint8), in bank order; the
model's metadata records the file's sha256, so a thumbnail file from another bank is refused.
Torch-free.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cnn2gnn.contracts.atomic_io import sha256_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing


def thumbnails_path(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.anchors.npy``."""
    p = Path(model_path)
    return p.with_name(p.name + ".anchors.npy")


def thumbnails_from_inputs(inputs: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """Preprocessed (N, C, H, W) float32 model inputs -> (N, H, W, C) uint8 images (normalisation undone)."""
    x = np.asarray(inputs, dtype=np.float32).transpose(0, 2, 3, 1)
    pixels = x * np.asarray(spec.std, np.float32) + np.asarray(spec.mean, np.float32)
    return np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)


def inputs_from_thumbnails(thumbnails: np.ndarray, spec: Preprocessing) -> np.ndarray:
    """(N, H, W, C) uint8 thumbnails -> (N, C, H, W) float32 model inputs: :func:`thumbnails_from_inputs`
    undone, up to its rounding to uint8 (the anchors as images a model can be run on)."""
    pixels = np.asarray(thumbnails, dtype=np.float32) / 255.0
    x = (pixels - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def thumbnails_bytes(thumbnails: np.ndarray) -> bytes:
    """The .npy file content (deterministic: no timestamps, so equal thumbnails give equal checksums)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(thumbnails, dtype=np.uint8), allow_pickle=False)
    return buffer.getvalue()


def read_thumbnails(model_path: str | Path, sha256: str) -> np.ndarray:
    """The thumbnails beside ``model_path``, checked against the ``sha256`` its metadata records."""
    return np.load(io.BytesIO(thumbnails_file_bytes(model_path, sha256)), allow_pickle=False)


def thumbnails_file_bytes(model_path: str | Path, sha256: str) -> bytes:
    """The thumbnail file beside ``model_path`` as stored, checked against the ``sha256`` its metadata records."""
    path = thumbnails_path(model_path)
    if not path.is_file():
        raise Cnn2GnnError(f"{model_path}: its anchor thumbnails {path} are missing; keep the file that "
                           "`cnn2gnn export` / `cnn2gnn enroll` wrote beside the model (or re-export it)")
    data = path.read_bytes()
    if sha256_bytes(data) != sha256:
        try:
            np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError):
            raise Cnn2GnnError(f"{path} is damaged (truncated, or not a thumbnails file): copy the thumbnails written "
                               f"with {model_path} again (or re-export it)") from None
        raise Cnn2GnnError(f"{path}: its sha256 is not the one {model_path}'s metadata records: it belongs to "
                           "another anchor bank; copy the thumbnails written with this model (or re-export it)")
    return data

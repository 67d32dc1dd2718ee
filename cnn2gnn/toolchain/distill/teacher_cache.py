"""Teacher logits computed once per (dataset, preprocessing, teacher) and cached on disk.

The cache file name is the key's hash and the key is stored inside: a file whose stored key
differs from the wanted one is refused, never reused.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_write_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.training.world import World

CACHE_FILE_PREFIX = "teacher-logits-"


def teacher_cache_key(dataset_fingerprint: str, preprocessing: dict[str, Any], teacher_sha256: str, split: str) -> dict[str, Any]:
    return {"dataset": dataset_fingerprint, "preprocessing": preprocessing, "teacher": teacher_sha256, "split": split}


def _key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def cached_teacher_logits(cache_dir: Path | None, key: dict[str, Any], compute: Callable[[], np.ndarray],
                          world: World = World()) -> tuple[np.ndarray, str]:
    """Return (logits, status) where status is 'hit', 'miss' or 'off'.

    In a distributed run ``compute`` is collective (every rank computes its share); rank 0 alone reads and
    writes the file (a node-local cache on another node is never consulted) and broadcasts what it read."""
    if cache_dir is None:
        return compute(), "off"
    from cnn2gnn.toolchain.training.distributed import broadcast_object  # torch: only once logits are wanted

    path = Path(cache_dir) / f"{CACHE_FILE_PREFIX}{_key_hash(key)}.npz"
    if broadcast_object(path.is_file() if world.is_main else None, world):
        if not world.is_main:
            return broadcast_object(None, world), "hit"
        try:
            with np.load(path, allow_pickle=False) as data:
                stored_key = json.loads(str(data["key"]))
                logits = data["logits"]
        except Exception as exc:
            raise Cnn2GnnError(f"teacher-logit cache {path} is corrupt ({exc}); delete it or pass --no-cache") from exc
        if stored_key != key:
            raise Cnn2GnnError(f"teacher-logit cache {path} was made for another dataset/teacher; delete it or pass --no-cache")
        return broadcast_object(logits, world), "hit"
    logits = compute()
    if not world.is_main:
        return logits, "miss"
    buf = io.BytesIO()
    np.savez(buf, logits=logits, key=np.array(json.dumps(key, sort_keys=True)))
    atomic_write_bytes(path, buf.getvalue())
    return logits, "miss"


def teacher_cache_files(cache_dir: Path) -> list[Path]:
    """The teacher-logit files in ``cache_dir`` (none when it does not exist)."""
    folder = Path(cache_dir)
    return sorted(folder.glob(f"{CACHE_FILE_PREFIX}*.npz")) if folder.is_dir() else []


def describe_teacher_cache(path: Path) -> dict[str, Any]:
    """What ``path`` holds (its key and logit shape), for ``cnn2gnn cache --list``; a corrupt file says so."""
    entry: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size}
    try:
        with np.load(path, allow_pickle=False) as data:
            key = json.loads(str(data["key"]))
            entry.update(shape=list(data["logits"].shape), split=key.get("split"),
                         teacher_sha256=key.get("teacher"), dataset=key.get("dataset"))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        entry["problem"] = f"corrupt ({type(exc).__name__}: {exc}); --clear removes it"
    return entry

"""Teacher logits computed once per (dataset, preprocessing, teacher) and cached on disk.

An entry is ``teacher-logits-<key hash>.npy``, a float32 (images, classes) array written through a
memory map row batch by row batch and read back memory-mapped (a million-image split's logits need
not fit in memory), plus ``.json`` beside it holding the key. Both are written to temporary files and
renamed, the array first: an entry without its key file is an interrupted write and is recomputed;
an array whose stored key or shape differs from the wanted one is refused, never reused.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_paths, json_text
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.training.world import World

CACHE_FILE_PREFIX = "teacher-logits-"
LEGACY_SUFFIX = ".npz"  # the in-memory format before the memory-mapped one: listed so --clear removes it


def teacher_cache_key(dataset_fingerprint: str, preprocessing: dict[str, Any], teacher_sha256: str, split: str) -> dict[str, Any]:
    return {"dataset": dataset_fingerprint, "preprocessing": preprocessing, "teacher": teacher_sha256, "split": split}


def _key_hash(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def cached_teacher_logits(cache_dir: Path | None, key: dict[str, Any], shape: tuple[int, int],
                          fill: Callable[[np.ndarray], None], world: World = World()) -> tuple[np.ndarray, str]:
    """Return (logits, status) where status is 'hit', 'miss' or 'off'; ``fill(out)`` writes the float32 logits
    of ``shape`` into ``out`` (with a cache, the file's memory map). Cached logits come back memory-mapped.

    In a distributed run ``fill`` is collective (every rank computes its share); rank 0 alone reads and
    writes the file (a node-local cache on another node is never consulted) and broadcasts what it read."""
    if cache_dir is None:
        return _filled(shape, fill), "off"
    from cnn2gnn.toolchain.training.distributed import broadcast_object  # torch: only once logits are wanted

    path = Path(cache_dir) / f"{CACHE_FILE_PREFIX}{_key_hash(key)}.npy"
    key_path = path.with_suffix(".json")
    if broadcast_object(key_path.is_file() if world.is_main else None, world):
        if not world.is_main:
            return broadcast_object(None, world), "hit"
        logits = _read(path, key_path, key, shape)
        # Pickled for the other ranks as a plain array: they hold it in memory.
        return (broadcast_object(np.asarray(logits), world) if world.distributed else logits), "hit"
    if not world.is_main:
        return _filled(shape, fill), "miss"
    with atomic_paths(path, key_path) as (tmp, tmp_key):
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        fill(out)  # a failure (a broken teacher) deletes the temporary files: no cache entry is left
        out.flush()
        del out  # closes the map before the file is renamed
        tmp_key.write_text(json_text({"key": key, "shape": list(shape)}), encoding="utf-8")
    return _read(path, key_path, key, shape), "miss"


def _filled(shape: tuple[int, int], fill: Callable[[np.ndarray], None]) -> np.ndarray:
    out = np.empty(shape, dtype=np.float32)
    fill(out)
    return out


def _read(path: Path, key_path: Path, key: dict[str, Any], shape: tuple[int, int]) -> np.ndarray:
    """The cached array, memory-mapped copy-on-write: writable for torch in this process, never written back."""
    try:
        stored_key = json.loads(key_path.read_text(encoding="utf-8"))["key"]
        logits = np.load(path, mmap_mode="c", allow_pickle=False)
    except Exception as exc:
        raise Cnn2GnnError(f"teacher-logit cache {path} is corrupt ({exc}); delete it or pass --no-cache") from exc
    if stored_key != key:
        raise Cnn2GnnError(f"teacher-logit cache {path} was made for another dataset/teacher; delete it or pass --no-cache")
    if logits.dtype != np.float32 or logits.shape != tuple(shape):
        raise Cnn2GnnError(f"teacher-logit cache {path} is corrupt (it holds {logits.dtype} {logits.shape}, expected "
                           f"float32 {tuple(shape)}); delete it or pass --no-cache")
    return logits


def teacher_cache_files(cache_dir: Path) -> list[Path]:
    """The teacher-logit arrays in ``cache_dir`` (none when it does not exist), old-format files included."""
    folder = Path(cache_dir)
    if not folder.is_dir():
        return []
    return sorted(p for suffix in (".npy", LEGACY_SUFFIX) for p in folder.glob(f"{CACHE_FILE_PREFIX}*{suffix}"))


def remove_teacher_cache_entry(path: Path) -> None:
    """Delete a cached array and its key file."""
    path.with_suffix(".json").unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def describe_teacher_cache(path: Path) -> dict[str, Any]:
    """What ``path`` holds (its key and logit shape), for ``cnn2gnn cache --list``; a corrupt file says so."""
    entry: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size}
    if path.suffix == LEGACY_SUFFIX:
        entry["problem"] = "an old-format cache file, no longer read; --clear removes it"
        return entry
    try:
        key = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))["key"]
        entry.update(shape=list(np.load(path, mmap_mode="r", allow_pickle=False).shape), split=key.get("split"),
                     teacher_sha256=key.get("teacher"), dataset=key.get("dataset"))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        entry["problem"] = f"corrupt or incomplete ({type(exc).__name__}: {exc}); --clear removes it"
    return entry

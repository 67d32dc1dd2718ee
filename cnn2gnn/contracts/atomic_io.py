"""Atomic artifact writes and checksums: an artifact is either complete or absent, never half-written.

Temporary files are named ``.<name>.<pid>.<random>.tmp`` beside their target. A writer killed before
its rename (kill -9, power loss) leaves one behind; the next write to the same target deletes those
whose process is gone (a live writer's, e.g. a concurrent run's, is left alone).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

from cnn2gnn.contracts.errors import Cnn2GnnError

# The errors of a write that ran out of room: no space, the file-size limit (ulimit -f), the disk quota.
_STORAGE_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files of ``path`` left by writers that no longer run; returns them."""
    target = Path(path)
    # The optional last suffix: video writers keep the container's extension after ".tmp" (OpenCV needs it).
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp(\.[A-Za-z0-9]+)?$")
    removed = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match and not _pid_running(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):  # another run cleaned it up first
                entry.unlink()
            removed.append(entry)
    return removed


def _temporary_beside(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    # mkstemp makes the file 0600; give the artifact the permissions a plain open() would.
    os.chmod(tmp_name, 0o666 & ~_umask())
    return Path(tmp_name)


class ArtifactWriteError(Cnn2GnnError, OSError):
    """An artifact could not be written. Also an ``OSError``, so a caller that handles its own write
    failures (``cnn2gnn run`` gives them their own exit code) still catches it."""

    @classmethod
    def of(cls, target: Path, exc: OSError) -> "ArtifactWriteError":
        if exc.errno in _STORAGE_FULL:
            reason, fix = ("the disk or your quota is full, or the file is larger than allowed",
                           "any earlier file there is unchanged: free some space or choose another path")
        elif target.is_dir():
            reason, fix = "a folder has its name", "remove the folder or choose another path"
        elif isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            reason, fix = f"no permission to write in {target.parent}", "choose a folder you can write to"
        elif isinstance(exc, (FileExistsError, NotADirectoryError)):
            blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), target.parent)
            reason, fix = f"{blocking} is a file, not a folder", "choose a path in a folder"
        else:
            return cls(f"cannot write {target}: {exc.strerror or exc}; check the path or choose another one")
        return cls(f"cannot write {target}: {exc.strerror or exc} ({reason}); {fix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path``, else delete it.

    The temporary file lives in the same directory so the final ``os.replace`` is atomic.
    """
    with atomic_paths(path) as (tmp,):
        yield tmp


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Temporary paths for files that belong together in one folder (a model, then its sidecar).

    On success the old versions of all but the first are removed, then each temporary file is renamed
    into place in the given order, while holding a lock on the folder: a kill at any moment never
    leaves a later file (a sidecar) describing a first one (the model) that is not there, and two
    concurrent writers cannot interleave their files. On failure every temporary file is deleted.

    Failing to create, write or rename the files (a folder in the way, no permission, a full disk)
    raises :class:`ArtifactWriteError` naming the file.
    """
    targets = [Path(p) for p in paths]
    if len({t.parent.resolve() for t in targets}) > 1:
        raise ValueError(f"atomic_paths needs files in one folder, got {targets}")
    temporaries: list[Path] = []
    current: Path | None = None  # the file being prepared or put in place; None while the caller writes
    try:
        for current in targets:
            temporaries.append(_temporary_beside(current))
        current = None
        yield temporaries
        current = targets[0]
        with _folder_lock(targets[0].parent):
            for current in targets[1:]:
                current.unlink(missing_ok=True)
            for tmp, current in zip(temporaries, targets):
                os.replace(tmp, current)
    except OSError as exc:
        # The caller's other OSErrors (reading its inputs) are not about these files: they stay its own.
        if current is None and exc.errno not in _STORAGE_FULL:
            raise
        raise ArtifactWriteError.of(current or targets[0], exc) from exc
    finally:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` (released by the kernel if the process dies)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_together(*files: tuple[str | os.PathLike[str], bytes]) -> None:
    """Write files that belong together (an artifact, then its sidecar) through :func:`atomic_paths`: each is
    written in full and synced first, then they are renamed into place in the given order."""
    with atomic_paths(*(path for path, _ in files)) as temporaries:
        for tmp, (_, content) in zip(temporaries, files):
            with open(tmp, "wb") as fh:
                fh.write(content)
                fh.flush()
                os.fsync(fh.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_text(obj: Any) -> str:
    """The JSON form every artifact is written in: indented, sorted keys, paths as strings."""
    return json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return atomic_write_text(path, json_text(obj))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()

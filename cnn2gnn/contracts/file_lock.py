"""An exclusive lock on a file, held across processes, so check-build-publish happens once at a time.

``fcntl.flock`` locks are released by the kernel when the holder exits or crashes, so a killed build
never leaves the lock held (a lock *file* existing means nothing by itself). POSIX only, like the
Linux desktops and Jetsons the engine cache serves.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def exclusive_file_lock(path: str | os.PathLike[str], on_wait: Callable[[], None] | None = None) -> Iterator[Path]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block.

    When another process (or thread, through another open file) holds it, ``on_wait`` is called once
    before blocking until the lock is free, so the user learns why nothing happens.
    """
    import fcntl

    lock_path = Path(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield lock_path
    finally:
        os.close(fd)  # closing the descriptor releases the lock

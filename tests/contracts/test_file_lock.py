"""The cross-process lock around the engine cache's check-build-publish."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cnn2gnn.contracts.file_lock import exclusive_file_lock


def test_a_second_holder_waits_and_is_told(tmp_path: Path) -> None:
    lock = tmp_path / "sub" / "x.lock"
    events: list[str] = []

    def second() -> None:
        with exclusive_file_lock(lock, on_wait=lambda: events.append("waiting")):
            events.append("second holds")

    with exclusive_file_lock(lock):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        events.append("first releases")
    thread.join(10)
    assert events == ["waiting", "first releases", "second holds"]


def test_an_uncontended_lock_does_not_call_on_wait(tmp_path: Path) -> None:
    with exclusive_file_lock(tmp_path / "x.lock", on_wait=lambda: (_ for _ in ()).throw(AssertionError)) as path:
        assert path.is_file()
    with exclusive_file_lock(tmp_path / "x.lock"):  # released on exit
        pass

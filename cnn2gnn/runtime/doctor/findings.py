"""What a doctor probe reports: a section of facts and the findings that block a feature, each with its fix;
and the context a probe reads the machine through (tests point its root at a fake Jetson file tree)."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

COMMAND_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Finding:
    """Something missing or misconfigured: the ``problem``, what it ``blocks`` and how to ``fix`` it."""

    problem: str
    blocks: str
    fix: str


@dataclass
class Section:
    name: str
    facts: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"facts": self.facts, "findings": [asdict(f) for f in self.findings]}


def run_command(argv: list[str]) -> str | None:
    """stdout of ``argv``, or None when it is not installed, fails or hangs."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


@dataclass(frozen=True)
class ProbeContext:
    root: Path = Path("/")  # where /etc, /proc, /dev and /sys are read from
    run: Callable[[list[str]], str | None] = run_command

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

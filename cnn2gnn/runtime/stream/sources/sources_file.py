"""``cnn2gnn run --sources FILE``: SOURCE strings one per line; blank lines and ``#`` comment lines are skipped."""

from __future__ import annotations

from pathlib import Path

from cnn2gnn.contracts.errors import Cnn2GnnError


def read_sources_file(path: Path) -> list[str]:
    """The SOURCE strings in ``path``, in order. A line is taken whole (a GStreamer pipeline has spaces)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Cnn2GnnError(f"--sources {path}: cannot read it ({exc.strerror or exc}); give a text file with one "
                           "SOURCE per line") from None
    except UnicodeDecodeError as exc:  # a model or a video given by mistake
        raise Cnn2GnnError(f"--sources {path} is not UTF-8 text ({exc.reason} at byte {exc.start}): it must be a "
                           "UTF-8 text file with one SOURCE per line") from None
    specs = [line.strip() for line in text.splitlines()]
    specs = [spec for spec in specs if spec and not spec.startswith("#")]
    if not specs:
        raise Cnn2GnnError(f"--sources {path} names no source: write one SOURCE per line (# starts a comment)")
    return specs

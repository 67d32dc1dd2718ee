"""Exit codes of ``cnn2gnn run``, one per failure class, and the errors that carry them.

The CLI exits with ``exc.exit_code`` for a :class:`Cnn2GnnError`, so a supervisor (systemd, a shell
loop, a container restart policy) can tell "the camera is not there" from "the feed dropped" from
"someone pressed Ctrl-C" without parsing messages.
"""

from __future__ import annotations

from cnn2gnn.contracts.errors import Cnn2GnnError

OK = 0
USER_ERROR = 1
USAGE_ERROR = 2
SOURCE_OPEN_FAILED = 3
SOURCE_LOST = 4
OUTPUT_FAILED = 5
INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
TERMINATED = 143  # 128 + SIGTERM

EXIT_CODES: dict[int, str] = {
    OK: "the source ended (file, image folder, --max-frames) or the window was closed",
    USER_ERROR: "bad model or option value",
    USAGE_ERROR: "bad command line",
    SOURCE_OPEN_FAILED: "the source did not open (no camera, missing or non-video file, RTSP not answering, "
                        "no GStreamer in this OpenCV)",
    SOURCE_LOST: "the source stalled or was lost mid-stream and did not come back (with several sources: one of "
                 "them, while the others ran on; 3 wins if another never opened)",
    OUTPUT_FAILED: "an output (--out, --save, --summary, stdout) could not be written",
    INTERRUPTED: "stopped by Ctrl-C (SIGINT); outputs were finalised",
    TERMINATED: "stopped by SIGTERM; outputs were finalised",
}


class SourceOpenError(Cnn2GnnError):
    """The source never delivered a first frame."""

    exit_code = SOURCE_OPEN_FAILED


class SourceLostError(Cnn2GnnError):
    """A source that had been delivering frames stalled or dropped and did not recover."""

    exit_code = SOURCE_LOST


class OutputError(Cnn2GnnError):
    """An output file or stream could not be opened or written."""

    exit_code = OUTPUT_FAILED


def exit_codes_help() -> str:
    return "\n".join(f"{code:>3}  {text}" for code, text in EXIT_CODES.items())

"""Where per-frame results go: JSON lines, an annotated video, a preview window.

Files are written under a temporary name and renamed into place when the run ends, also when it
ends by Ctrl-C or a lost source (everything produced so far is kept); only a crash discards them, or
a video that does not read back whole (a full disk cut it short).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np

from cnn2gnn.contracts.atomic_io import ArtifactWriteError, atomic_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import OPENCV_HINT, lazy_import
from cnn2gnn.runtime.classifier import Prediction
from cnn2gnn.runtime.stream.anchor_strip import draw_anchor_strip
from cnn2gnn.runtime.stream.crop import Box
from cnn2gnn.runtime.stream.exit_codes import OutputError
from cnn2gnn.runtime.stream.opencv_build import opencv_has_gui

# The codec each container gets unless --fourcc says otherwise; FFV1 in .mkv is lossless.
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}


def video_fourcc(path: Path, fourcc: str | None) -> str:
    """The four-character code a ``--save`` video at ``path`` is written with, or a Cnn2GnnError saying what to give."""
    code = fourcc or FOURCC_BY_SUFFIX.get(path.suffix.lower())
    if code is None or len(code) != 4:
        known = ", ".join(f"{suffix} ({default})" for suffix, default in FOURCC_BY_SUFFIX.items())
        given = f"--fourcc {fourcc!r} is not four characters" if fourcc else f"{path.suffix or 'no suffix'} is no video"
        raise Cnn2GnnError(f"--save {path}: {given}; give a file ending in {known}, or a four-character --fourcc")
    return code


def written_message(exc: OSError, what: str) -> str:
    """An output failure's message: an artifact writer's own (it names the file and the fix), else ``what: exc``."""
    return str(exc) if isinstance(exc, Cnn2GnnError) else f"{what}: {exc}"


class _StagedFile:
    """A temporary path standing in for ``target`` until ``close``. ``keep_suffix`` keeps the target's
    extension on the temporary name, because OpenCV picks the video container from it."""

    def __init__(self, target: Path, keep_suffix: bool = False) -> None:
        self.target = target
        self._stack = contextlib.ExitStack()
        try:
            self._tmp = self._stack.enter_context(atomic_path(target))
        except OSError as exc:
            raise OutputError(written_message(exc, f"cannot write {target}")) from exc
        self.path = self._tmp.with_name(self._tmp.name + target.suffix) if keep_suffix else self._tmp

    def close(self, commit: bool) -> None:
        if commit:
            if self.path != self._tmp and self.path.exists():
                os.replace(self.path, self._tmp)
            self._stack.close()  # renames the temporary file over the target
        else:
            self.path.unlink(missing_ok=True)
            abandon = RuntimeError("discarded")
            self._stack.__exit__(type(abandon), abandon, None)  # atomic_path deletes its temporary file


def frame_record(index: int, timestamp: float, origin: str, prediction: Prediction, latency_ms: float,
                 source_id: int | None = None) -> dict[str, Any]:
    """One JSON line: the frame, its top-k classes (best first) and the capture-to-result latency; with
    several sources, ``source_id`` (the source's position among them; ``index`` counts per source)."""
    record = {
        "index": index,
        "timestamp": timestamp,
        "source": origin,
        "labels": prediction.labels,
        "scores": prediction.scores,
        "classes": prediction.indices,
        "latency_ms": latency_ms,
    }
    if source_id is not None:
        record["source_id"] = source_id
    for name in ("novelty", "unknown", "neighbours"):  # a student's open-set score and explanation, when present
        if getattr(prediction, name) is not None:
            record[name] = getattr(prediction, name)
    return record


class JsonLinesWriter:
    """Per-frame records to ``path`` (atomically, when the run ends) or to stdout (as they come)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lines = 0
        self._staged = _StagedFile(path) if path is not None else None
        try:
            self._fh: IO[str] = open(self._staged.path, "w", encoding="utf-8") if self._staged else sys.stdout
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc}") from exc

    def write(self, records: Sequence[dict[str, Any]]) -> None:
        try:
            self._fh.write("".join(json.dumps(r) + "\n" for r in records))
            self._fh.flush()  # a reader of stdout sees each batch as soon as it is classified
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed under us
            raise OutputError(f"cannot write frame results to {self.path or 'stdout'}: {exc}") from exc
        self.lines += len(records)

    def close(self, commit: bool = True) -> None:
        if self._staged is None:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        except OSError as exc:  # the last lines did not reach the disk: a file missing them is not published
            with contextlib.suppress(OSError):
                self._fh.close()
            self._staged.close(False)
            raise OutputError(str(ArtifactWriteError.of(Path(self.path), exc))) from exc
        self._staged.close(commit)


CLASS_COLOUR = (0, 255, 0)  # BGR: the top class
UNKNOWN_COLOUR = (0, 0, 255)  # BGR: a frame the open-set threshold rejected


def annotate(image: np.ndarray, prediction: Prediction, box: Box | None, info: str,
             thumbnails: np.ndarray | None = None) -> np.ndarray:
    """A BGR copy of ``image`` with the crop box, the top-k classes and ``info`` drawn on it; "unknown" and the
    novelty instead of the classes where the model rejected the frame; with the prediction's neighbours (``run
    --explain``) the strongest of them along the bottom, as ``thumbnails`` (the anchor bank's) when given."""
    cv2 = lazy_import("cv2", OPENCV_HINT)
    # A copy either way: image[:, :, :3] of a BGR frame is a view, and drawing on it would draw on the frame.
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[:, :, :3].copy()
    height = out.shape[0]
    scale = max(0.35, height / 720)
    thickness = max(1, int(round(scale * 2)))
    if box is not None:
        x, y, w, h = box
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), (0, 255, 255), thickness)
    if prediction.unknown:  # the classes would be a guess among classes the frame does not belong to
        lines, headline = [f"unknown (novelty {prediction.novelty:.2f})", info], UNKNOWN_COLOUR
    else:
        lines = [f"{label} {score:.2f}" for label, score in zip(prediction.labels, prediction.scores)] + [info]
        headline = CLASS_COLOUR
    step = int(30 * scale) + 4
    for i, text in enumerate(lines):
        origin = (8, step * (i + 1))
        colour = headline if i == 0 else (255, 255, 255)
        font_scale = scale * (1.0 if i == 0 else 0.7)
        (width, text_height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        # A dark box keeps the text legible on any frame; a thicker black stroke would not line up with it,
        # since OpenCV spaces the characters of thicker text wider.
        cv2.rectangle(out, (origin[0] - 3, origin[1] - text_height - 3), (origin[0] + width + 2, origin[1] + baseline),
                      (0, 0, 0), cv2.FILLED)
        cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour, thickness, cv2.LINE_AA)
    if prediction.neighbours is not None:
        draw_anchor_strip(out, prediction.neighbours, thumbnails)
    return out


class AnnotatedVideoWriter:
    """The annotated frames as a video; opened on the first frame, whose size every later frame takes."""

    def __init__(self, path: Path, fps: float, fourcc: str | None = None) -> None:
        self.path = path
        self.fourcc = video_fourcc(path, fourcc)
        self.fps = fps
        self.frames = 0
        self.saved = False  # the video was put in place at ``path``
        self._staged = _StagedFile(path, keep_suffix=True)
        self._writer: Any = None
        self._size: tuple[int, int] | None = None

    def write(self, image: np.ndarray) -> None:
        cv2 = lazy_import("cv2", OPENCV_HINT)
        if self._writer is None:
            self._size = (image.shape[1], image.shape[0])
            self._writer = cv2.VideoWriter(str(self._staged.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps,
                                           self._size)
            if not self._writer.isOpened():
                raise OutputError(f"--save {self.path}: OpenCV cannot write {self.fourcc!r} video into "
                                  f"{self.path.suffix!r} here; try .avi (MJPG) or .mp4 (mp4v), or another --fourcc")
        if (image.shape[1], image.shape[0]) != self._size:  # image folders mix sizes; a video cannot
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self, commit: bool = True) -> None:
        """Finish the video and put it in place (``commit`` and at least one frame), once it reads back whole;
        a video that does not is deleted and raises OutputError."""
        if self._writer is not None:
            self._writer.release()
        commit = commit and self.frames > 0
        problem = self._read_back_problem() if commit else None
        if problem is not None:
            # Measured before the temporary file goes, which frees its space again.
            problem += f"; the disk may be full{_free_space(self.path.parent)} or the file over a size limit (ulimit -f)"
        self._staged.close(commit and problem is None)
        if problem is not None:
            raise OutputError(f"--save {self.path}: the video did not come out whole ({problem}). It was not saved, "
                              "and any earlier file there is unchanged: free some space or choose another path")
        self.saved = commit

    def _read_back_problem(self) -> str | None:
        """Why the finished temporary video does not hold the frames written, or None when it does.

        OpenCV's writer reports no failed write: on a full disk it goes on and leaves a truncated file that
        no player reads. Reading every frame back would take as long as the run; the container's frame
        count and a decoded last frame catch a truncated file in every container we write.
        """
        cv2 = lazy_import("cv2", OPENCV_HINT)
        capture = cv2.VideoCapture(str(self._staged.path))
        try:
            if not capture.isOpened():
                return "OpenCV cannot open it"
            count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
            if count != self.frames:
                return (f"it holds {count:.0f} of the {self.frames} frames written" if count >= 0 else
                        f"its frame count is unreadable, {self.frames} frames were written")
            capture.set(cv2.CAP_PROP_POS_FRAMES, self.frames - 1)
            if not capture.read()[0]:
                return f"its last frame, #{self.frames}, cannot be decoded"
            return None
        finally:
            capture.release()


def _free_space(folder: Path) -> str:
    """The free space in ``folder`` as " (N MiB free there)", or "" where it cannot be asked."""
    try:
        return f" ({shutil.disk_usage(folder).free / 2**20:.1f} MiB free there)"
    except OSError:
        return ""


def display_problem() -> str | None:
    """Why a preview window cannot open here, or None when it can."""
    cv2 = lazy_import("cv2", OPENCV_HINT)
    if not opencv_has_gui(cv2):
        return (f"--show: this OpenCV (cv2 {cv2.__version__}, {cv2.__file__}) has no GUI support "
                "(opencv-python-headless); install opencv-python, or on a Jetson use JetPack's OpenCV")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "--show: there is no display (DISPLAY is not set: headless or over SSH without -X)"
    return None


class PreviewWindow:
    """A window showing the annotated frames; closing it or pressing q / Esc ends the run."""

    def __init__(self, title: str) -> None:
        self.title = title
        cv2 = lazy_import("cv2", OPENCV_HINT)
        cv2.namedWindow(title, cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> bool:
        """Draw ``image``; False once the user asked to stop."""
        cv2 = lazy_import("cv2", OPENCV_HINT)
        cv2.imshow(self.title, image)
        key = cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27) and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) >= 1

    def close(self) -> None:
        lazy_import("cv2", OPENCV_HINT).destroyWindow(self.title)

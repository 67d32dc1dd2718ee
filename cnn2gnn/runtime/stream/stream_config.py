"""What one ``cnn2gnn run`` is asked to do: its sources, capture, batching and outputs, checked before anything
opens (a bad setting is a user error, not a failure minutes into a run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.stream.batching import require_batch_frames, require_batch_wait
from cnn2gnn.runtime.stream.capture import require_source_timeouts
from cnn2gnn.runtime.stream.crop import Crop
from cnn2gnn.runtime.stream.outputs import video_fourcc
from cnn2gnn.runtime.stream.sources.base import CaptureSettings


@dataclass(frozen=True)
class StreamConfig:
    source: str | Sequence[str]  # one SOURCE, or several: frames of all of them share the model's batches
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    top_k: int = 5
    explain: bool = False  # each frame record lists its k anchors (an anchor-mode student with neighbour outputs)
    # The model as the user named it: its anchor thumbnails (drawn with explain) lie beside it, also when the
    # backend runs an engine built from it in a cache folder. None: the backend's own file.
    model_path: Path | None = None
    queue_size: int = 4
    drop_policy: str = "auto"
    batch_frames: int | None = None  # None: 1 for one source, the number of sources for several
    batch_wait_ms: float = 10.0
    crop: Crop = field(default_factory=Crop)
    reconnect_s: float = 10.0
    stall_timeout_s: float = 10.0
    max_frames: int | None = None
    out: Path | None = None  # frame records: None -> stdout
    save: Path | None = None  # annotated video
    fourcc: str | None = None
    show: bool = False
    summary: Path | None = None
    status_every_s: float = 2.0

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise Cnn2GnnError(f"--top-k must be >= 1, got {self.top_k}")
        if self.max_frames is not None and self.max_frames < 1:
            raise Cnn2GnnError(f"--max-frames must be >= 1, got {self.max_frames}")
        # The muxer's and the capture threads' own checks, made here before the model loads and the sources open.
        if self.batch_frames is not None:
            require_batch_frames(self.batch_frames)
        require_batch_wait(self.batch_wait_ms)
        require_source_timeouts(self.reconnect_s, self.stall_timeout_s)
        if not self.status_every_s >= 0:  # `not >=`: NaN fails every comparison; infinity means no status line
            raise Cnn2GnnError(f"--status-every must be >= 0 seconds (0: off), got {self.status_every_s}")
        if not self.specs:
            raise Cnn2GnnError("no SOURCE given: name one or more sources, or a --sources file with one per line")
        if self.save is not None:
            video_fourcc(self.save, self.fourcc)  # refused here, before the model loads and the sources open
        if len(self.specs) > 1 and (self.save is not None or self.show):
            raise Cnn2GnnError(f"--save / --show take one source, and this run has {len(self.specs)}; drop them "
                               "(each JSON line carries its frame's source_id), or run one `cnn2gnn run` per source "
                               "to record or watch it")

    @property
    def specs(self) -> tuple[str, ...]:
        return (self.source,) if isinstance(self.source, str) else tuple(self.source)

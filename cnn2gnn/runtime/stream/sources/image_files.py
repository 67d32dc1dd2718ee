"""Image files as a stream: a folder or a glob of them in natural order, decoded exactly as the training
data loaders decode them. Folders and single images named directly come through ``local_files``."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.contracts.images import IMAGE_EXTENSIONS, is_image_file, read_image
from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource


class ImageFilesSource(FrameSource):
    """Image files in a fixed order."""

    live = False

    def __init__(self, description: str, paths: list[Path]) -> None:
        self.description = description
        self.paths = paths
        self._next = 0

    def open(self) -> None:
        if not self.paths:
            extensions = " ".join(sorted(IMAGE_EXTENSIONS))
            raise SourceOpenError(f"{self.description} holds no image files ({extensions})")
        self._next = 0

    def read(self) -> tuple[np.ndarray, str] | None:
        if self._next >= len(self.paths):
            return None
        path = self.paths[self._next]
        self._next += 1
        image = read_image(path)  # RGB or gray; reversing the channels is exact, so BGR frames agree
        return (np.ascontiguousarray(image[:, :, ::-1]) if image.ndim == 3 else image), str(path)

    def properties(self) -> dict[str, Any]:
        return {"files": len(self.paths)}


def _natural_key(path: Path) -> list[Any]:
    """frame2.png before frame10.png: numbered image sequences sort in capture order."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", str(path))]


def image_paths(paths: list[Path]) -> list[Path]:
    """The image files among ``paths``, in natural order."""
    return sorted((p for p in paths if is_image_file(p)), key=_natural_key)


def folder_source(folder: Path) -> ImageFilesSource:
    return ImageFilesSource(str(folder), image_paths(list(folder.iterdir())))


def is_glob(text: str) -> bool:
    return "://" not in text and glob.has_magic(text)


def glob_source(pattern: str, settings: CaptureSettings | None = None) -> ImageFilesSource:
    """The images a glob matches (``**`` recurses); ``settings`` are not needed by files."""
    matches = [Path(p) for p in glob.glob(os.path.expanduser(pattern), recursive=True)]
    return ImageFilesSource(pattern, image_paths(matches))

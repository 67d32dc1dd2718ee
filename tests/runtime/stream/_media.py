"""Test media written from known images, and the reference predictions the stream must reproduce."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from cnn2gnn.contracts.preprocessing import preprocess_images
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.classifier import softmax


def enlarged(image: np.ndarray, factor: int = 4) -> np.ndarray:
    """Nearest-neighbour upscaling: an 8x8 digit becomes a frame a video codec handles comfortably."""
    return np.ascontiguousarray(image.repeat(factor, axis=0).repeat(factor, axis=1))


def write_png_folder(images: Sequence[np.ndarray], folder: Path) -> list[Path]:
    """``images`` (RGB or gray) as frame_1.png ... frame_N.png; the numbering checks natural ordering."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images, start=1):
        path = folder / f"frame_{i}.png"
        assert cv2.imwrite(str(path), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def write_ffv1_video(frames_bgr: Sequence[np.ndarray], path: Path, fps: float = 25.0) -> list[np.ndarray]:
    """Write ``frames_bgr`` with the lossless FFV1 codec and return the frames as decoded back."""
    import cv2

    height, width = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (width, height))
    assert writer.isOpened(), "this OpenCV cannot write FFV1"
    for frame in frames_bgr:
        writer.write(frame)
    writer.release()
    return read_video(path)


def read_video(path: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def direct_predictions(model_path: Path, images: Sequence[np.ndarray], input_order: str,
                       top_k: int) -> list[tuple[list[int], list[float]]]:
    """Top-k (classes, scores) per image from a direct backend call, one image per call."""
    with load_backend(model_path) as backend:
        spec = backend.metadata.preprocessing
        out = []
        for image in images:
            probs = softmax(backend.infer(preprocess_images([image], spec, input_order)))[0]
            order = np.argsort(-probs, kind="stable")[:top_k]
            out.append(([int(i) for i in order], [float(probs[i]) for i in order]))
    return out

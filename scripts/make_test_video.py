"""Write a short video of digits *test* images (one image per frame) and the frames' true labels.

The main job runs the exported model on it with `cnn2gnn run`, the way a camera stream would be run.

    python scripts/make_test_video.py OUT.mkv [--frames 120] [--size 128]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from cnn2gnn.contracts.atomic_io import atomic_write_json
from cnn2gnn.toolchain.data import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--size", type=int, default=128, help="frame width and height in pixels")
    args = ap.parse_args()
    test = load_dataset("digits").test
    n = min(args.frames, len(test))
    # FFV1 is lossless, so the frames the model sees are exactly the images written.
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"FFV1"), 30.0, (args.size, args.size))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write FFV1 video to {args.out}")
    for img in test.images[:n]:
        big = cv2.resize(img, (args.size, args.size), interpolation=cv2.INTER_LINEAR)
        writer.write(np.repeat(big[:, :, None], 3, axis=2))
    writer.release()
    labels_path = args.out.with_name(args.out.name + ".labels.json")
    atomic_write_json(labels_path, {"labels": test.labels[:n].tolist(), "source": "digits test split"})
    print(f"wrote {n} frames to {args.out} and their labels to {labels_path}")


if __name__ == "__main__":
    main()

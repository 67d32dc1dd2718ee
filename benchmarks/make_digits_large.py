"""Write a larger digits dataset to disk: MNIST's IDX format (``--data idx:PATH``) or class folders of
PNG files split on disk (``--data imagefolder:PATH``).

The embedded 8x8 digits (scikit-learn's, 1,797 images) are upscaled into an MNIST-like frame (the
digit in the central 20/28 of a SIZE x SIZE image) and augmented: a random affine transform (rotation,
scale, shift), an elastic distortion (a Gaussian-smoothed random displacement field) and pixel noise.
The SOURCE digits are split first (stratified, ``--seed``): training images are made only from
training sources and test images only from test sources, so no test image is a distorted copy of a
digit the models trained on. The idx: loader draws its validation split from the training file, so
there validation images are distorted siblings of training images (optimistic validation accuracy);
``--format imagefolder`` writes ``train/``, ``val/`` and ``test/`` folders made from three disjoint sets
of source digits, so validation is as honest as test.

    python benchmarks/make_digits_large.py --out runs/data/digits_large            # idx, 28x28, ~10k train
    python benchmarks/make_digits_large.py --format imagefolder --out runs/data/digits_large_folders

Writes the four (gzipped) IDX files (or the class folders) and manifest.json (every setting and the class counts) into a
temporary folder next to OUT, then renames it into place, so OUT is either complete or absent.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def digit_in_frame(image8: np.ndarray, size: int) -> np.ndarray:
    """An 8x8 uint8 digit upscaled (bicubic) into the central 20/28 of a float32 size x size frame in [0, 1]."""
    import cv2

    box = max(8, round(size * 20 / 28))
    digit = cv2.resize(image8.astype(np.float32) / 255.0, (box, box), interpolation=cv2.INTER_CUBIC)
    frame = np.zeros((size, size), np.float32)
    top = (size - box) // 2
    frame[top : top + box, top : top + box] = np.clip(digit, 0.0, 1.0)
    return frame


def augment(frame: np.ndarray, rng: np.random.Generator, max_rotation: float, max_shift: float,
            elastic_alpha: float, elastic_sigma: float, noise: float) -> np.ndarray:
    """Affine (rotation, scale 0.9-1.1, shift), elastic distortion, Gaussian noise; returns uint8."""
    import cv2

    size = frame.shape[0]
    centre = (size / 2 - 0.5, size / 2 - 0.5)
    matrix = cv2.getRotationMatrix2D(centre, float(rng.uniform(-max_rotation, max_rotation)),
                                     float(rng.uniform(0.9, 1.1)))
    matrix[:, 2] += rng.uniform(-max_shift, max_shift, size=2) * size
    out = cv2.warpAffine(frame, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
    if elastic_alpha > 0:
        field = [cv2.GaussianBlur(rng.uniform(-1, 1, (size, size)).astype(np.float32), (0, 0), elastic_sigma)
                 * elastic_alpha for _ in range(2)]
        grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32)
        out = cv2.remap(out, grid_x + field[0], grid_y + field[1], interpolation=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    out = out + rng.normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def make_split(images8: np.ndarray, labels: np.ndarray, per_source: int, size: int, rng: np.random.Generator,
               aug: dict[str, float], desc: str) -> tuple[np.ndarray, np.ndarray]:
    from tqdm import tqdm

    out = np.zeros((len(images8) * per_source, size, size), np.uint8)
    out_labels = np.repeat(labels, per_source).astype(np.uint8)
    for i in tqdm(range(len(images8)), desc=desc, unit="source", file=sys.stderr):
        frame = digit_in_frame(images8[i], size)
        for j in range(per_source):
            out[i * per_source + j] = augment(frame, rng, **aug)
    # Shuffled so a loader's consecutive images are not variants of one digit.
    order = rng.permutation(len(out))
    return out[order], out_labels[order]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="Folder to create (refused if it exists, unless --force).")
    ap.add_argument("--format", choices=("idx", "imagefolder"), default="idx",
                    help="idx: MNIST files (validation drawn from train by the loader); imagefolder: train/val/test "
                         "PNG folders from disjoint source digits.")
    ap.add_argument("--size", type=int, default=28, help="Image size in pixels (square).")
    ap.add_argument("--train-per-source", type=int, default=7, help="Augmented images per training source digit.")
    ap.add_argument("--test-per-source", type=int, default=5, help="Augmented images per test source digit.")
    ap.add_argument("--test-fraction", type=float, default=0.2, help="Share of source digits kept for test.")
    ap.add_argument("--val-fraction", type=float, default=0.1,
                    help="Share of source digits kept for validation (imagefolder only).")
    ap.add_argument("--max-rotation", type=float, default=12.0, help="Degrees.")
    ap.add_argument("--max-shift", type=float, default=0.08, help="Fraction of the size.")
    ap.add_argument("--elastic-alpha", type=float, default=1.5, help="Displacement scale in pixels.")
    ap.add_argument("--elastic-sigma", type=float, default=3.0, help="Smoothing of the displacement field (pixels).")
    ap.add_argument("--noise", type=float, default=0.04, help="Std of the Gaussian pixel noise (0..1 scale).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="Replace OUT if it exists.")
    args = ap.parse_args(argv)
    if (args.size < 8 or args.train_per_source < 1 or args.test_per_source < 1
            or not 0 < args.test_fraction < 1 or not 0 < args.val_fraction < 1 - args.test_fraction):
        ap.error("--size >= 8, --train/test-per-source >= 1 and 0 < --test-fraction < 1 - --val-fraction are required")
    if args.out.exists() and not args.force:
        print(f"error: {args.out} exists; pass --force to replace it", file=sys.stderr)
        return 1

    sys.path.insert(0, str(ROOT))  # the on-disk format writers live with the test helpers
    from sklearn.datasets import load_digits

    from cnn2gnn.contracts.atomic_io import atomic_write_json
    from cnn2gnn.toolchain.data.dataset import stratified_split
    from tests.toolchain.data._writers import write_class_folders, write_mnist

    bunch = load_digits()
    images8 = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    if args.format == "idx":
        test_idx, train_idx = stratified_split(labels, [args.test_fraction, 1 - args.test_fraction], args.seed)
        sources = {"train": train_idx, "test": test_idx}
    else:
        val_idx, test_idx, train_idx = stratified_split(
            labels, [args.val_fraction, args.test_fraction, 1 - args.val_fraction - args.test_fraction], args.seed)
        sources = {"train": train_idx, "val": val_idx, "test": test_idx}
    rng = np.random.default_rng(args.seed)
    aug = {"max_rotation": args.max_rotation, "max_shift": args.max_shift, "elastic_alpha": args.elastic_alpha,
           "elastic_sigma": args.elastic_sigma, "noise": args.noise}
    per_source = {"train": args.train_per_source, "val": args.test_per_source, "test": args.test_per_source}
    splits = {name: make_split(images8[idx], labels[idx], per_source[name], args.size, rng, aug, name)
              for name, idx in sources.items()}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{args.out.name}.", dir=args.out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is not
    try:
        if args.format == "idx":
            files = sorted(p.name for p in write_mnist(tmp, splits["train"], splits["test"], gz=True).values())
        else:
            for name, (images, split_labels) in splits.items():
                write_class_folders(tmp / name, {str(c): list(images[split_labels == c]) for c in range(10)})
            files = [f"{name}/<class>/NNNN.png" for name in splits]
        atomic_write_json(tmp / "manifest.json", {
            "source": "sklearn.datasets.load_digits (8x8, 1797 images)", "format": args.format, "size": args.size,
            "seed": args.seed, "source_split": {name: int(len(idx)) for name, idx in sources.items()},
            "per_source": {name: per_source[name] for name in sources},
            "images": {name: int(len(split[0])) for name, split in splits.items()},
            "class_counts": {name: np.bincount(split[1], minlength=10).tolist() for name, split in splits.items()},
            "augmentation": aug, "files": files,
            "command": " ".join(["python", "benchmarks/make_digits_large.py", *(argv or sys.argv[1:])]),
        })
        if args.out.exists():
            shutil.rmtree(args.out)
        tmp.rename(args.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    counts = ", ".join(f"{len(split[0])} {name}" for name, split in splits.items())
    print(f"wrote {counts} images ({args.size}x{args.size}, {args.format}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

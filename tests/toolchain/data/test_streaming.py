"""The streamed split: the same tensors as the in-memory one, decoded batch by batch, in workers or not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.images import read_image
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data import load_dataset, streaming
from cnn2gnn.toolchain.data.image_split import image_batches
from cnn2gnn.toolchain.data.imagefolder import list_imagefolder
from cnn2gnn.toolchain.data.streaming import StreamingSplit
from cnn2gnn.toolchain.data.tensors import tensors_from_split
from tests.toolchain.data._writers import pattern_image, write_class_folders, write_image

pytest.importorskip("cv2")

SPLIT = {"seed": 3, "val_fraction": 0.1, "test_fraction": 0.2}


def mixed_folder(root: Path, per_class: int = 10) -> str:
    """Gray and colour images of several sizes (so channels are unified and every image is resized)."""
    shapes = [(12, 10), (9, 14, 3), (20, 20), (8, 8, 3)]
    write_class_folders(root, {name: [pattern_image(100 * c + i, shapes[(c + i) % len(shapes)])
                                      for i in range(per_class)] for c, name in enumerate(["ant", "bee", "cow"])})
    return f"imagefolder:{root}"


@pytest.mark.parametrize("channels", [3, 1])
def test_streamed_images_equal_the_in_memory_tensors(tmp_path: Path, channels: int) -> None:
    spec = mixed_folder(tmp_path)
    pre = Preprocessing.default_for(channels, 16)
    listed, loaded = list_imagefolder(spec, tmp_path, **SPLIT), load_dataset(spec, **SPLIT)
    assert listed.channels == loaded.channels == 3  # from the file headers, as the decoded pixels say
    assert listed.class_names == loaded.class_names
    for name in ("train", "val", "test"):
        streamed = StreamingSplit(listed.split(name), pre, listed.channels)
        in_memory = tensors_from_split(loaded.split(name), pre)
        order = torch.randperm(len(in_memory), generator=torch.Generator().manual_seed(0))
        assert torch.equal(streamed.images_at(order), in_memory.x[order])  # bitwise, in any order
        assert torch.equal(streamed.y, in_memory.y) and torch.equal(streamed.ids, in_memory.ids)


def test_workers_decode_the_same_batches_in_order(tmp_path: Path) -> None:
    spec = mixed_folder(tmp_path)
    split = StreamingSplit(list_imagefolder(spec, tmp_path, **SPLIT).train, Preprocessing.default_for(3, 16), 3)
    batches = list(torch.randperm(len(split), generator=torch.Generator().manual_seed(1)).split(5))
    decoded = 0
    for got, idx in zip(image_batches(split, batches, workers=2), batches, strict=True):
        assert torch.equal(got, split.images_at(idx))
        decoded += 1
    assert decoded == len(batches)
    # torch's records of the batches received and dropped are pruned as they go (they fragment the heap)
    from torch.multiprocessing.reductions import shared_cache
    assert not [ref for ref in shared_cache.values() if ref.expired()]



def test_a_worker_decodes_into_shared_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sending a malloc'd batch from a worker copies it into shared memory, and the freed buffer, pinned by
    torch's weak reference to the sent storage, grew each worker by a batch per batch (issue #13)."""
    spec = mixed_folder(tmp_path)
    split = StreamingSplit(list_imagefolder(spec, tmp_path, **SPLIT).train, Preprocessing.default_for(3, 16), 3)
    idx = torch.arange(6)
    in_main = split.images_at(idx)
    assert not in_main.is_shared()  # no worker: plain memory, nothing to send
    monkeypatch.setattr(streaming, "get_worker_info", lambda: object())
    in_worker = split.images_at(idx)
    assert in_worker.is_shared() and torch.equal(in_worker, in_main)

@pytest.mark.parametrize("workers", [0, 2])
def test_a_corrupt_file_names_itself_without_a_worker_traceback(tmp_path: Path, workers: int) -> None:
    spec = mixed_folder(tmp_path)
    listed = list_imagefolder(spec, tmp_path, **SPLIT)
    broken = Path(listed.train.paths[4])
    broken.write_bytes(broken.read_bytes()[:40])  # the header survives (listing works), the pixels do not
    split = StreamingSplit(listed.train, Preprocessing.default_for(3, 16), 3)
    with pytest.raises(Cnn2GnnError, match="corrupt or not an image") as err:
        list(image_batches(split, list(torch.arange(len(split)).split(4)), workers=workers))
    assert str(broken) in str(err.value) and "Traceback" not in str(err.value)


def test_listing_reads_sizes_and_channels_from_the_headers(tmp_path: Path) -> None:
    write_class_folders(tmp_path, {"a": [pattern_image(i, (6 + i, 9)) for i in range(10)],
                                   "b": [pattern_image(50 + i, (7, 5)) for i in range(10)]}, ext=".jpg")
    spec = f"imagefolder:{tmp_path}"
    listed = list_imagefolder(spec, tmp_path, **SPLIT)
    assert listed.channels == 1  # gray JPEGs stay gray
    assert [tuple(s) for s in listed.train.sizes] == [read_image(Path(p)).shape for p in listed.train.paths]
    write_image(tmp_path / "b" / "colour.png", pattern_image(99, (7, 5, 3)))
    assert list_imagefolder(spec, tmp_path, **SPLIT).channels == 3  # one colour image makes the dataset RGB


def test_a_file_deleted_after_listing_names_itself_in_the_fingerprint(tmp_path: Path) -> None:
    spec = mixed_folder(tmp_path)
    listed = list_imagefolder(spec, tmp_path, **SPLIT)
    gone = Path(listed.train.paths[0])
    gone.unlink()
    with pytest.raises(Cnn2GnnError, match=rf"{gone.name} was listed in --data .* but is gone now"):
        listed.fingerprint()


def test_a_listings_fingerprint_moves_with_how_images_decode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It hashes paths, sizes and times, not pixels: a change in decoding must still make teacher-logit caches
    keyed by it stale."""
    listed = list_imagefolder(mixed_folder(tmp_path), tmp_path, **SPLIT)
    before = listed.fingerprint()
    monkeypatch.setattr("cnn2gnn.toolchain.data.image_files.IMAGE_DECODING", "a later decoder")
    assert listed.fingerprint() != before

from __future__ import annotations

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from tests.toolchain.data._writers import write_image, write_mini_imagenet

pytest.importorskip("cv2")

WNIDS = ["n01532829", "n01558993", "n01704323", "n01749939"]


def _flat(wnid_index: int, shade: int) -> np.ndarray:
    """A flat colour that encodes class and row, and survives JPEG within a few levels."""
    return np.full((12, 10, 3), (40 + 60 * wnid_index, 10 * shade, 128), dtype=np.uint8)


def _rows(wnid_indices: list[int], per_class: int) -> list[tuple[str, np.ndarray]]:
    return [(WNIDS[c], _flat(c, i)) for c in wnid_indices for i in range(per_class)]


def _label_from_pixels(img: np.ndarray) -> int:
    return int(round((int(img[0, 0, 0]) - 40) / 60))


def test_disjoint_few_shot_classes_are_pooled_and_resplit(tmp_path):
    write_mini_imagenet(tmp_path, {"train": _rows([0, 1], 10), "val": _rows([2], 10), "test": _rows([3], 10)})
    ds = load_dataset(f"mini-imagenet:{tmp_path}", seed=0, val_fraction=0.1, test_fraction=0.2)

    assert ds.class_names == WNIDS and ds.channels == 3
    assert (len(ds.train), len(ds.val), len(ds.split("test"))) == (28, 4, 8)
    for split in (ds.train, ds.val, ds.split("test")):
        assert sorted(set(split.labels.tolist())) == [0, 1, 2, 3]  # every class in every split
        for img, label in zip(split.images, split.labels):
            assert img.shape == (12, 10, 3) and img.dtype == np.uint8
            assert _label_from_pixels(img) == label


def test_shared_classes_keep_the_csv_splits(tmp_path):
    splits = {"train": _rows([2, 0, 1], 3), "val": _rows([0, 1], 1), "test": _rows([2], 2)}
    write_mini_imagenet(tmp_path, splits)
    ds = load_dataset(f"mini-imagenet:{tmp_path}")

    assert ds.class_names == WNIDS[:3]
    assert ds.train.labels.tolist() == [2, 2, 2, 0, 0, 0, 1, 1, 1]  # CSV order
    assert ds.val.labels.tolist() == [0, 1] and ds.split("test").labels.tolist() == [2, 2]
    for (_, want), got in zip(splits["train"], ds.train.images):
        assert np.abs(got.astype(int) - want).max() <= 3


def test_gray_jpegs_become_rgb(tmp_path):
    write_mini_imagenet(tmp_path, {"train": _rows([0, 1], 2), "val": _rows([0], 1), "test": _rows([1], 1)})
    gray_name = next((tmp_path / "images").iterdir())
    write_image(gray_name, np.full((12, 10), 77, np.uint8))
    ds = load_dataset(f"mini-imagenet:{tmp_path}")
    assert ds.channels == 3
    assert all(img.shape == (12, 10, 3) for img in ds.train.images + ds.val.images + ds.split("test").images)


def _valid(tmp_path):
    write_mini_imagenet(tmp_path, {"train": _rows([0], 2), "val": _rows([0], 1), "test": _rows([0], 1)})


def test_missing_csv(tmp_path):
    _valid(tmp_path)
    (tmp_path / "val.csv").unlink()
    with pytest.raises(Cnn2GnnError, match=r"missing mini-ImageNet split file .*val\.csv"):
        load_dataset(f"mini-imagenet:{tmp_path}")


def test_bad_header(tmp_path):
    _valid(tmp_path)
    (tmp_path / "test.csv").write_text("image,wnid\nx.jpg,n01532829\n")
    with pytest.raises(Cnn2GnnError, match=r"test\.csv has header 'image,wnid', expected 'filename,label'"):
        load_dataset(f"mini-imagenet:{tmp_path}")


@pytest.mark.parametrize("content", ["", "filename,label\n"])
def test_empty_csv(tmp_path, content):
    _valid(tmp_path)
    (tmp_path / "train.csv").write_text(content)
    with pytest.raises(Cnn2GnnError, match=r"train\.csv is empty"):
        load_dataset(f"mini-imagenet:{tmp_path}")


def test_malformed_row(tmp_path):
    _valid(tmp_path)
    (tmp_path / "train.csv").write_text("filename,label\na.jpg\n")
    with pytest.raises(Cnn2GnnError, match=r"train\.csv line 2: expected 'filename,label', got 'a\.jpg'"):
        load_dataset(f"mini-imagenet:{tmp_path}")


def test_missing_image_is_named(tmp_path):
    _valid(tmp_path)
    victim = sorted((tmp_path / "images").iterdir())[-1]
    victim.unlink()
    with pytest.raises(Cnn2GnnError, match=rf"missing image .*{victim.name}, listed in .*test\.csv"):
        load_dataset(f"mini-imagenet:{tmp_path}")


def test_corrupt_image_is_named(tmp_path):
    _valid(tmp_path)
    victim = sorted((tmp_path / "images").iterdir())[0]
    victim.write_bytes(b"\xff\xd8\xff" + bytes(40))  # a JPEG marker, then nothing decodable
    with pytest.raises(Cnn2GnnError, match=rf"{victim.name} is corrupt or not an image"):
        load_dataset(f"mini-imagenet:{tmp_path}")


def test_a_csv_with_a_byte_order_mark_is_read(tmp_path):
    _valid(tmp_path)
    text = (tmp_path / "train.csv").read_text()
    (tmp_path / "train.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())  # "CSV UTF-8" as Excel saves it
    assert load_dataset(f"mini-imagenet:{tmp_path}").class_names == WNIDS[:1]


def test_a_csv_that_is_not_utf8_names_the_file(tmp_path):
    _valid(tmp_path)
    (tmp_path / "val.csv").write_bytes("filename,label\ncaf\xe9.jpg,n01532829\n".encode("latin-1"))
    with pytest.raises(Cnn2GnnError, match=r"val\.csv is not UTF-8 text"):
        load_dataset(f"mini-imagenet:{tmp_path}")



def test_a_csv_with_an_unclosed_quote_names_the_file(tmp_path):
    _valid(tmp_path)
    rows = "".join(f"img{i:06d}.jpg,n01532829\n" for i in range(8000))  # a real split's length: past csv's field limit
    (tmp_path / "val.csv").write_text(f'filename,label\n"{rows}')
    with pytest.raises(Cnn2GnnError, match=r"val\.csv is not a readable CSV \(field larger than field limit .*\); "
                                           r"check it for an unclosed"):
        load_dataset(f"mini-imagenet:{tmp_path}")

@pytest.mark.parametrize("second_split", ["train", "test"])
def test_an_image_listed_twice_is_refused(tmp_path, second_split):
    _valid(tmp_path)
    first = (tmp_path / "train.csv").read_text().splitlines()[1]
    with (tmp_path / f"{second_split}.csv").open("a") as f:
        f.write(first + "\n")
    line = 4 if second_split == "train" else 3
    with pytest.raises(Cnn2GnnError, match=rf"{second_split}\.csv line {line} lists .*\.jpg, which train\.csv line 2 "
                                           "already lists; each image belongs in one row of one split"):
        load_dataset(f"mini-imagenet:{tmp_path}")


def test_an_image_listed_with_two_labels_names_both(tmp_path):
    _valid(tmp_path)
    name = (tmp_path / "train.csv").read_text().splitlines()[1].split(",")[0]
    with (tmp_path / "val.csv").open("a") as f:
        f.write(f"{name},n01558993\n")
    with pytest.raises(Cnn2GnnError, match=r"\(labelled n01532829 there, n01558993 here\)"):
        load_dataset(f"mini-imagenet:{tmp_path}")

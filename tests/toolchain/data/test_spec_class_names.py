"""``load_dataset(..., class_names=...)``: a --class-names file (or a model's names) replaces a dataset's own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data import load_dataset
from cnn2gnn.toolchain.data.spec import class_names_for
from tests.toolchain.data._writers import write_mnist

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _names_file(tmp_path: Path, names: list[str], name: str = "names.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    return path


def test_a_names_file_renames_the_classes_and_nothing_else(tmp_path: Path) -> None:
    own, named = load_dataset("digits", seed=1), load_dataset("digits", seed=1,
                                                             class_names=_names_file(tmp_path, DIGIT_NAMES))
    assert own.class_names == [str(i) for i in range(10)] and named.class_names == DIGIT_NAMES
    for split in ("train", "val", "test"):
        a, b = own.split(split), named.split(split)
        assert np.array_equal(a.labels, b.labels) and all(np.array_equal(x, y) for x, y in zip(a.images, b.images))


def test_the_names_enter_the_fingerprint(tmp_path: Path) -> None:
    """Kept in the cache key on purpose: --resume must refuse a renamed run (see the resume tests)."""
    names = _names_file(tmp_path, DIGIT_NAMES)
    named = load_dataset("digits", class_names=names).fingerprint()
    assert named == load_dataset("digits", class_names=names).fingerprint()
    assert named != load_dataset("digits").fingerprint()
    assert named != load_dataset("digits", class_names=_names_file(tmp_path, DIGIT_NAMES[::-1], "rev.txt")).fingerprint()


def test_the_file_overrides_an_idx_classes_txt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_mnist(data, (np.zeros((4, 2, 2), np.uint8), np.array([0, 1, 2, 1], np.uint8)),
                (np.zeros((1, 2, 2), np.uint8), np.array([2], np.uint8)))
    (data / "classes.txt").write_text("T-shirt/top\nTrouser\nPullover\n")
    names = _names_file(tmp_path, ["top", "trouser", "pullover"])
    assert load_dataset(f"idx:{data}", val_fraction=0.5, class_names=names).class_names == ["top", "trouser", "pullover"]


@pytest.mark.parametrize(("text", "message"), [
    ("a\nb\nc\n", r"--class-names for --data digits: .*names\.txt has 3 class name\(s\) but the data has 10 classes "
                  r"\(labels 0\.\.9\); write one name per line, in label order"),
    ("".join(f"c{i}\n" for i in range(9)) + "c0\n",
     r"--class-names for --data digits: .*names\.txt: class name 'c0' is on lines 1 and 10; names must differ"),
    ("".join(f"c{i}\n" for i in range(4)) + "  \n" + "".join(f"c{i}\n" for i in range(5, 10)),
     r"--class-names for --data digits: .*names\.txt: line 5 is blank; every class needs a name"),
])
def test_a_bad_names_file_is_refused_naming_the_file_the_counts_and_the_fix(tmp_path: Path, text: str,
                                                                           message: str) -> None:
    path = tmp_path / "names.txt"
    path.write_text(text)
    with pytest.raises(Cnn2GnnError, match=message):
        load_dataset("digits", class_names=path)


def test_a_missing_names_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match=r"--class-names for --data digits: cannot read the class names in .*gone"):
        load_dataset("digits", class_names=tmp_path / "gone.txt")


def test_a_models_names_must_count_the_datasets_classes() -> None:
    assert load_dataset("digits", class_names=DIGIT_NAMES).class_names == DIGIT_NAMES
    with pytest.raises(Cnn2GnnError, match=r"--data digits has 10 classes but the model was trained on 3 \(data vs "
                                           r"model: 10 vs 3 classes; the first difference is class 0: '0' vs 'a'\)"):
        load_dataset("digits", class_names=["a", "b", "c"])


def test_model_names_apply_only_when_data_is_left_to_default(tmp_path: Path) -> None:
    file = tmp_path / "names.txt"
    assert class_names_for(file, None, DIGIT_NAMES) == file
    assert class_names_for(file, "digits", DIGIT_NAMES) == file
    assert class_names_for(None, None, DIGIT_NAMES) == DIGIT_NAMES
    assert class_names_for(None, "digits", DIGIT_NAMES) is None  # another --data: its own names, checked later

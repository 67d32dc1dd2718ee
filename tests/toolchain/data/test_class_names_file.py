from pathlib import Path

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data.class_names_file import read_class_names


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "names.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_one_name_per_line_in_label_order(tmp_path: Path) -> None:
    assert read_class_names(_file(tmp_path, "\ufeffcat\n  dog \nbig bird\n\n"), 3) == ["cat", "dog", "big bird"]


@pytest.mark.parametrize(("text", "message"), [
    ("cat\ndog\n", r"has 2 class name\(s\) but the data has 3 classes \(labels 0..2\)"),
    ("cat\n\ndog\n", "line 2 is blank"),
    ("cat\ndog\ncat\n", "'cat' is on lines 1 and 3; names must differ"),
])
def test_a_wrong_file_is_refused_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=message):
        read_class_names(_file(tmp_path, text), 3)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match="cannot read the class names in .*missing.txt"):
        read_class_names(tmp_path / "missing.txt", 2)

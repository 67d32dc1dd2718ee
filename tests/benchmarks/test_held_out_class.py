"""The held-out-class benchmarks' command line (benchmarks/open_set.py, benchmarks/enrolment.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from held_out_class import held_out_arguments  # noqa: E402


def test_a_contrastive_student_gets_its_own_result_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--contrastive W trains the student with that term and suffixes the results, so the default student's
    committed results are never overwritten by another student's."""
    monkeypatch.setattr(sys, "argv", ["open_set.py", "--work", str(tmp_path)])
    default = held_out_arguments("", "open_set_")
    assert (default.student, default.suffix) == ({}, "")
    monkeypatch.setattr(sys, "argv", ["enrolment.py", "--work", str(tmp_path), "--contrastive", "3"])
    contrastive = held_out_arguments("", "enrolment_", class_weights=True)
    assert (contrastive.student, contrastive.suffix) == ({"contrastive": 3.0}, "_contrastive3")
    assert contrastive.class_weights == [1.0, 0.5, 0.25]

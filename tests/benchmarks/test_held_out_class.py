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


def test_each_seed_gets_its_own_result_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Seed 0 keeps the plain name the committed results have; other seeds sit beside it, after any other suffix."""
    monkeypatch.setattr(sys, "argv", ["open_set.py", "--work", str(tmp_path), "--seed", "2"])
    assert held_out_arguments("", "open_set_").suffix == "_seed2"
    monkeypatch.setattr(sys, "argv", ["enrolment.py", "--work", str(tmp_path), "--seed", "1", "--contrastive", "3"])
    assert held_out_arguments("", "enrolment_", class_weights=True).suffix == "_contrastive3_seed1"


def test_the_summary_averages_the_committed_seeds() -> None:
    """benchmarks/held_out_summary.py's tables: each cell the mean of the seeds' results, seed by seed after it."""
    import json

    from held_out_summary import enrolment_table, load, open_set_table

    runs = load("enrolment", "digits", [0, 1, 2])
    rows = [next(r for r in run["enrolments"] if r["images"] == 20 and r["class_weight"] == 1.0) for run in runs]
    news = [100 * r["new_class"] for r in rows]
    line = next(li for li in enrolment_table(runs) if li.startswith("| 20 | 1 |"))
    assert line.split(" | ")[2] == f"{sum(news) / 3:.1f} ({' / '.join(f'{v:.1f}' for v in news)})"
    runs = load("open_set", "digits", [0, 1, 2])
    saved = json.loads((Path(__file__).resolve().parents[2] / "benchmarks/results/open_set_digits_seed1.json").read_text())
    line = next(li for li in open_set_table(runs) if li.startswith("| student_novelty |"))
    assert f"/ {saved['scores']['student_novelty']['auroc']:.3f} /" in line

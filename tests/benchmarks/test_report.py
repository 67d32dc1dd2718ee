"""benchmarks/report.py --quick end to end on two seeds: every model trained per seed, aggregated, measured,
checked against the targets and written out."""

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "report.py"
MODELS = {"teacher", "cnn2gnn_anchor", "cnn2gnn_batch", "cnn2gnn_ce", "cnn_student", "cnn_stem_linear", "knn"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def test_quick_report_writes_sane_json_markdown_and_plots(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--seeds", "0,1", "--out-dir", str(tmp_path),
                           "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "estimated wall time:" in proc.stderr
    report = json.loads((tmp_path / "digits.json").read_text())
    models = report["models"]
    assert MODELS <= set(models)
    for name, m in models.items():
        acc = m["test_accuracy"]
        assert 0.0 <= acc["64"] <= 1.0, name
        per_seed = [m["seeds"][seed]["test_accuracy"]["64"] for seed in ("0", "1")]
        assert m["accuracy"]["per_seed"] == {"0": per_seed[0], "1": per_seed[1]}, name
        assert math.isclose(acc["64"], sum(per_seed) / 2) and m["accuracy"]["min"] == min(per_seed), name
        assert m["params"] >= 0 and m["flops_per_image"] > 0, name
        if name == "cnn2gnn_batch":
            assert acc["1"] is None and m["onnx"] is None  # a lone image has no batch graph
            continue
        # anchor students, CNNs and kNN never depend on the batch they run in
        assert acc["1"] == acc["64"], name
        lat = m["latency"]
        assert lat["fp32"]["p95_ms_b1"] >= lat["fp32"]["p50_ms_b1"] > 0, name
        assert lat["fp32"]["throughput_ips_b64"] > 0 and lat["int8"]["p50_ms_b1"] > 0, name
        q = m["int8"]["test"]
        assert _finite(q["accuracy_drop_points"]) and 0.0 <= q["top1_agreement"] <= 1.0, name
        assert m["onnx"]["parity"]["top1_agreement"] == 1.0, name
    assert models["knn"]["params"] == 0 and models["knn"]["test_accuracy"]["64"] > 0.5  # raw-pixel kNN on digits
    cnn, gnn = models["cnn_student"]["flops_per_image"], models["cnn2gnn_anchor"]["flops_per_image"]
    assert 0.5 < cnn / gnn < 2.0  # the small CNN is sized to the student's cost
    # the ablation is the student's own conv stem with a linear head: cheaper than stem + graph
    assert f"widths {report['student_config']['stem_widths']}" in models["cnn_stem_linear"]["label"]
    assert models["cnn_stem_linear"]["flops_per_image"] < gnn
    assert report["best_deployable"] in ("cnn2gnn_anchor", "cnn2gnn_ce")
    assert {g["baseline_name"] for g in report["gaps"]} >= {"teacher", "cnn_student", "cnn_stem_linear", "knn"}
    targets = report["targets"]
    assert [t["item"] for t in targets] == [1, 1, 2, 3, 4, 5]
    assert all(t["verdict"] in ("PASS", "MISS", "REPORTED") for t in targets)  # every row was trained
    assert targets[-1]["verdict"] == "PASS"  # both sweeps ran, every point measured
    knobs = report["sweeps"]["knobs"]
    assert set(knobs) == {"M", "stem"}
    for sweep in knobs.values():
        assert len(sweep["rows"]) == 2 and sum(r["is_default"] for r in sweep["rows"]) == 1
        assert all(_finite(r["p50_ms_b1"]) and 0 <= r["test_accuracy"] <= 1 for r in sweep["rows"])
    markdown = (tmp_path / "digits.md").read_text()
    assert "### Targets" in markdown and "| model | test acc % mean (min–max) |" in markdown and "### Sweeps" in markdown
    assert all(m["label"] in markdown for m in models.values())
    assert all(t["text"] in markdown for t in targets)
    for png in ("digits_accuracy_vs_latency.png", "digits_sweeps.png"):
        data = (tmp_path / png).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, png
    # --render writes the same reading again from the JSON alone, without training
    again = tmp_path / "rendered"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--render", str(tmp_path / "digits.json"), "--out-dir",
                           str(again)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (again / "digits.md").read_text() == markdown
    assert json.loads((again / "digits.json").read_text())["targets"] == targets
    assert "seconds" in json.loads((again / "digits.json").read_text())  # the measured run's record is kept

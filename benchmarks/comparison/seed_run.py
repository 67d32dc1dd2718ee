"""One seed of the main table: train the teacher and every student, then test each at batch 1 and 64.

Each model's record (label, notes) is made on the first seed; every seed adds its run under
``seeds[<seed>]``. The small CNN's widths are sized to the first seed's anchor student and kept for the
other seeds, so every seed trains the same architectures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from comparison.measure import SeedTestSplits
from comparison.settings import Settings


def _training(result: dict[str, Any]) -> dict[str, Any]:
    return {"best_val_accuracy": result["best_val_accuracy"], "best_epoch": result["best_epoch"],
            "epochs": result["epochs"], "seconds": round(sum(h["seconds"] for h in result["history"]), 2)}


def _record(models: dict[str, Any], name: str, label: str, *notes: str) -> dict[str, Any]:
    if name not in models:
        models[name] = {"name": name, "label": label, "notes": list(notes), "seeds": {}}
    return models[name]


def student_variants(s: Settings) -> dict[str, dict[str, Any]]:
    """The changes each GNN row makes to the student's defaults, where the defaults would refuse it: the
    batch graph has no labelled anchors, and a labels-only student has no teacher soft labels."""
    from comparison.defaults import student_config

    cfg = student_config(s.student)
    batch = {"graph_mode": "batch", **({"label_mode": "none"} if cfg["label_mode"] != "none" else {})}
    ce = {"label_targets": "onehot"} if cfg["label_targets"] == "teacher" else {}
    return {"cnn2gnn_anchor": {}, "cnn2gnn_batch": batch, "cnn2gnn_ce": ce}


def small_cnn_widths(anchor_checkpoint: Path) -> tuple[list[int], float, float]:
    """Widths of the ``cnn-student`` whose FLOPs per image are the closest to the deployed anchor student's:
    (widths, their FLOPs, the student's FLOPs)."""
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
    from comparison.flops import cnn_widths_matching, flops_per_image
    from comparison.training import deployed_module

    payload = load_checkpoint(anchor_checkpoint)
    deployed = deployed_module(payload)
    assert deployed is not None
    student_flops = flops_per_image(deployed, payload.preprocessing.input_shape)
    widths, cnn_flops = cnn_widths_matching(student_flops, *payload.preprocessing.input_shape,
                                            len(payload.class_names))
    return widths, cnn_flops, student_flops


def train_seed(s: Settings, seed: int, work: Path, models: dict[str, Any], progress: bool, stage: Any) -> None:
    """Train every model of the main table with ``seed`` into ``work``; ``stage(name)`` marks progress."""
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
    from comparison.training import distill_cnn, distill_gnn, train_teacher_model

    key = str(seed)
    stage(f"seed {seed}: teacher")
    result = train_teacher_model(s, work / "teacher", seed, progress)
    teacher = Path(result["best_checkpoint"])
    _record(models, "teacher", f"teacher CNN ({s.teacher_arch}, width {s.teacher_width})")["seeds"][key] = {
        "checkpoint": str(teacher), "training": _training(result)}

    stage(f"seed {seed}: CNN2GNN students")
    labels = {"cnn2gnn_anchor": "CNN2GNN student, distilled (anchor)",
              "cnn2gnn_batch": "CNN2GNN student, distilled (batch, paper)",
              "cnn2gnn_ce": "CNN2GNN student, labels only (CE, anchor)"}
    for name, changes in student_variants(s).items():
        if name == "cnn2gnn_batch" and not s.batch_student:
            continue
        from_teacher = name != "cnn2gnn_ce"
        result = distill_gnn(s, work / name, teacher if from_teacher else None, s.student_epochs, seed, progress,
                             **changes)
        refused = {k: v for k, v in changes.items() if k != "graph_mode"}
        notes = [f"changed from the student's defaults: {refused} (the defaults' values are refused there)"] \
            if refused else []
        _record(models, name, labels[name], *notes)["seeds"][key] = {
            "checkpoint": result["best_checkpoint"], "training": _training(result)}

    stage(f"seed {seed}: CNN baselines")
    anchor = Path(models["cnn2gnn_anchor"]["seeds"][key]["checkpoint"])
    if "cnn_student" not in models:
        widths, cnn_flops, student_flops = small_cnn_widths(anchor)
        _record(models, "cnn_student", f"small CNN student, distilled (widths {widths})",
                f"widths {widths} chosen so its FLOPs ({cnn_flops / 1e6:.3f} M) are the closest to the anchor "
                f"student's ({student_flops / 1e6:.3f} M); same teacher, loss (λ={s.lam}, T={s.temperature}), data "
                f"and augmentation, {s.baseline_epochs} epochs")["widths"] = widths
    result = distill_cnn(s, work / "cnn_student", teacher, models["cnn_student"]["widths"], seed, progress)
    models["cnn_student"]["seeds"][key] = {"checkpoint": result["best_checkpoint"], "training": _training(result)}
    student_cfg = load_checkpoint(anchor).model_config
    if student_cfg["stem"] == "conv":
        widths = list(student_cfg["stem_widths"])
        result = distill_cnn(s, work / "cnn_stem_linear", teacher, widths, seed, progress)
        _record(models, "cnn_stem_linear", f"same conv stem + linear head, distilled (widths {widths})",
                "the ablation at equal stem: the student's conv stem (its stem_widths) with a plain linear head "
                "instead of the graph (cnn-student family, the same blocks), same loss, data and augmentation, "
                f"{s.baseline_epochs} epochs")["seeds"][key] = {
            "checkpoint": result["best_checkpoint"], "training": _training(result)}


def evaluate_seed(s: Settings, seed: int, models: dict[str, Any], tests: SeedTestSplits) -> None:
    """Test accuracy at batch 1 and 64 of every model ``seed`` trained, and of kNN on its anchor student's bank."""
    from cnn2gnn.toolchain.baselines.knn import knn_from_student
    from cnn2gnn.toolchain.models.student import CNN2GNNStudent
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
    from comparison.measure import checkpoint_test_accuracy, module_test_accuracy

    key = str(seed)
    for m in models.values():
        run = m["seeds"].get(key)
        if run is not None and run.get("checkpoint"):
            run["test_accuracy"] = checkpoint_test_accuracy(Path(run["checkpoint"]), tests, seed)
    payload = load_checkpoint(models["cnn2gnn_anchor"]["seeds"][key]["checkpoint"])
    student = model_from_checkpoint(payload)
    assert isinstance(student, CNN2GNNStudent)
    test = tests.tensors(seed, payload.preprocessing)
    other = "majority" if s.knn_vote == "distance" else "distance"
    run: dict[str, Any] = {"checkpoint": None}
    for vote, field in ((s.knn_vote, "test_accuracy"), (other, "test_accuracy_other_vote")):
        knn = knn_from_student(student, vote)
        run[field] = {str(b): module_test_accuracy(knn, test.x, test.y, b) for b in (1, 64)}
    _record(models, "knn", f"kNN on the anchor bank (raw pixels, k={knn.k}, {s.knn_vote} vote)",
            f"the distilled anchor student's {knn.anchors.shape[0]} anchors "
            f"({payload.model_config['anchor_selection']}), flattened preprocessed images as features; no training; "
            f"exported to ONNX (MatMul + TopK + Gather); the {other} vote is in the JSON "
            "(test_accuracy_other_vote per seed)")["seeds"][key] = run

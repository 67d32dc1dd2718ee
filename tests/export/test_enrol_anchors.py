"""Enrolment adds anchors whose rows are what the student's anchor side computes, and changes nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import preprocess_images
from cnn2gnn.export.enrol_anchors import enrol_anchors
from cnn2gnn.export.onnx_from_checkpoint import onnx_from_checkpoint
from cnn2gnn.runtime.backends.onnxruntime.runner import OnnxRuntimeRunner
from cnn2gnn.toolchain.graph.dsgl import adaptive_neighbours, aggregate
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint, model_from_checkpoint
from tests._enrolment_images import digits_dataset, write_images

BANK = {"anchor_dist_weight", "anchor_z_sq", "anchor_values", "anchor_targets", "anchor_hidden"}


def _inits(path: str | Path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def _reference_rows(ckpt: Path, folder: Path, label: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The new anchors' anchor_values rows and L2-normalised hidden features from the torch student (float64), its
    anchor side over the new bank."""
    student = model_from_checkpoint(load_checkpoint(ckpt)).double().eval()
    x = torch.from_numpy(preprocess_images([_read(p) for p in sorted(folder.iterdir())],
                                           student_preprocessing(ckpt))).double()
    with torch.no_grad():
        anchors = student.anchor_side()
        alpha = student.alpha
        h = student.features(x)
        z = student.projection(h) - anchors["center"]
        all_z = torch.cat([anchors["z"], z])
        dist = ((z[:, None] - all_z[None]) ** 2).sum(-1)
        dist[torch.arange(len(z)), len(anchors["z"]) + torch.arange(len(z))] = float("inf")
        w, idx = adaptive_neighbours(dist, student.cfg.k, student.cfg.eps)
        y = torch.nn.functional.one_hot(torch.full((len(z),), label), num_classes).double()
        layer1, layer2 = student.gcn
        msg1 = layer1(h)
        if student.label_embedding is not None:
            embedding = student.label_embedding.weight
            msg1 = msg1 + y @ torch.nn.functional.pad(embedding, (0, num_classes - embedding.shape[1])).t()
        h1 = torch.relu(alpha * layer1(h) + (1 - alpha) * aggregate(w, idx, torch.cat([anchors["messages"][0], msg1])))
        msg2 = layer2(h1)
        if num_classes > msg2.shape[1]:
            msg2 = torch.nn.functional.pad(msg2, (0, num_classes - msg2.shape[1]))
            bias2 = torch.nn.functional.pad(layer2.bias, (0, num_classes - layer2.bias.shape[0]))
        else:
            bias2 = layer2.bias
        values = torch.cat([(1 - alpha) * msg1 + alpha * layer1.bias, (1 - alpha) * msg2 + alpha * bias2], 1)
        return values.numpy(), torch.nn.functional.normalize(h1, dim=1).numpy()


def _read(path: Path) -> np.ndarray:
    from cnn2gnn.contracts.images import read_image

    return read_image(path)


def student_preprocessing(ckpt: Path) -> Any:
    return load_checkpoint(ckpt).preprocessing


@pytest.mark.parametrize("fixture", ["tiny_lp_student_ckpt", "tiny_conv_label_student_ckpt"])
@pytest.mark.parametrize("new_class", [False, True])
def test_new_rows_are_the_anchor_sides_and_everything_else_is_identical(fixture: str, new_class: bool, threes: Path,
                                                                      request: pytest.FixtureRequest,
                                                                      tmp_path: Path) -> None:
    ckpt: Path = request.getfixturevalue(fixture)
    source = onnx_from_checkpoint(ckpt, tmp_path / "s.onnx", parity_samples=32, progress=False)["output"]
    label = "three-bis" if new_class else "3"
    report = enrol_anchors(Path(source), tmp_path / "e.onnx", images=threes, label=label, append=not new_class)
    classes = 11 if new_class else 10
    assert report["after"] == {"classes": classes, "anchors": 84, "capacity": None}
    before, after = _inits(source), _inits(tmp_path / "e.onnx")
    want, want_hidden = _reference_rows(ckpt, threes, 10 if new_class else 3, classes)
    assert np.abs(after["anchor_hidden"][:, 64:] - want_hidden.T).max() <= 1e-4  # the novelty's columns
    assert np.array_equal(after["anchor_hidden"][:, :64], before["anchor_hidden"])
    # a new class's column is fitted (tests/export/test_enrolled_class_fit.py); every other column is the anchor side's
    hidden = before["layer_weight_0"].shape[1]
    kept = np.delete(np.arange(want.shape[1]), hidden + 10) if new_class else np.arange(want.shape[1])
    assert np.abs(after["anchor_values"][64:, kept] - want[:, kept]).max() <= 1e-4
    old_kept = kept[kept < before["anchor_values"].shape[1]]
    assert np.array_equal(after["anchor_values"][:64, old_kept], before["anchor_values"][:, old_kept])  # bit-identical
    assert np.array_equal(after["anchor_dist_weight"][:, :64], before["anchor_dist_weight"])
    assert np.array_equal(after["anchor_targets"][:64, :10], before["anchor_targets"])
    fit = json.loads((tmp_path / "e.onnx.json").read_text())["extra"]["anchor_bank"]["enrolments"][-1].get("class_fit")
    # images added to a training class keep plain one-hot targets and no column is fitted; an enrolled class's
    # targets carry its fitted vote scale, its column its fitted weight and bias (values: (1-a)/a h W + b)
    scale = fit["label_vote_scale"] if new_class else 1.0
    one_hot = np.eye(classes)[np.full(20, classes - 1 if new_class else 3)]
    assert np.allclose(after["anchor_targets"][64:], scale * one_hot, atol=1e-5)
    assert (fit is not None) == new_class and report["class_fits"] == ({"three-bis": fit} if new_class else {})
    if new_class:
        assert not after["anchor_targets"][:64, -1].any()
        assert np.isclose(np.linalg.norm(after["layer_weight_1"][:, -1]), fit["weight_norm"], atol=1e-5)
        assert np.isclose(json.loads((tmp_path / "e.onnx.json").read_text())["extra"]["anchor_bank"]["layer_bias"][-1][-1],
                          fit["bias"], atol=1e-5)
    else:
        assert np.array_equal(after["layer_weight_1"], before["layer_weight_1"])
    unchanged = set(before) - BANK - {"layer_weight_1"}
    assert all(np.array_equal(before[n], after[n]) for n in unchanged)
    a, b = onnx.load(source).graph, onnx.load(str(tmp_path / "e.onnx")).graph
    assert [n.SerializeToString() for n in a.node] == [n.SerializeToString() for n in b.node]
    meta = json.loads((tmp_path / "e.onnx.json").read_text())
    bank = meta["extra"]["anchor_bank"]
    assert meta["graph"]["num_anchors"] == 84 and bank["size"] == 84 and len(bank["anchor_labels"]) == 84
    assert bank["enrolments"][-1]["source_onnx_sha256"] == meta_sha(source) and len(bank["enrolments"][-1]["images"]) == 20
    assert (tmp_path / "e.onnx.anchors.npy").is_file()


def meta_sha(path: str) -> str:
    return json.loads(Path(path + ".json").read_text())["extra"]["onnx_sha256"]


def test_a_removed_class_comes_back_by_enrolment_and_the_engine_key_changes(exported_lp_student: dict[str, Any],
                                                                           threes: Path, tmp_path: Path) -> None:
    from cnn2gnn.engine.engine_key import engine_file_name, engine_key
    from cnn2gnn.engine.onnx_facts import read_onnx_facts

    test = digits_dataset().test
    source = Path(exported_lp_student["output"])

    def accuracy(path: Path) -> tuple[float, float]:
        with OnnxRuntimeRunner(path, providers=["CPUExecutionProvider"]) as runner:
            names = runner.metadata.class_names
            pred = np.array([names[i] for i in runner.infer(preprocess_images(test.images,
                                                                              runner.metadata.preprocessing)).argmax(1)])
        truth = np.array([str(v) for v in test.labels])
        three = truth == "3"
        return float((pred[three] == "3").mean()), float((pred[~three] == truth[~three]).mean())

    enrol_anchors(source, tmp_path / "no3.onnx", remove_label="3")
    back = enrol_anchors(tmp_path / "no3.onnx", tmp_path / "re3.onnx", images=threes, label="3")
    assert set(back["class_fits"]) == {"3"}  # enrolled now (its provenance says so), so its column is fitted
    more = enrol_anchors(tmp_path / "re3.onnx", tmp_path / "re3more.onnx", images=threes, label="3", append=True)
    assert set(more["class_fits"]) == {"3"} and not more["refittable_from_model"]
    (three_0, others_0), (three_1, _), (three_2, others_2) = (accuracy(p) for p in
                                                              (source, tmp_path / "no3.onnx", tmp_path / "re3.onnx"))
    assert three_1 == 0.0 and three_2 >= 0.5 and others_2 >= others_0 - 0.05
    keys = [engine_key(model="student", source_onnx_sha256=read_onnx_facts(p).sha256, precision="fp32",
                       quantization=None, tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7",
                       min_batch=1, opt_batch=1, max_batch=8) for p in (source, tmp_path / "re3.onnx")]
    assert keys[0] != keys[1] and engine_file_name(keys[0]) != engine_file_name(keys[1])


def test_a_model_saved_with_external_weights_enrols_as_the_single_file_does(exported_lp_student: dict[str, Any],
                                                                            threes: Path, tmp_path: Path) -> None:
    import shutil

    from cnn2gnn.contracts.anchor_thumbnails import thumbnails_path

    source = Path(exported_lp_student["output"])
    external = tmp_path / "ext" / "student.onnx"
    external.parent.mkdir()
    onnx.save(onnx.load(str(source)), str(external), save_as_external_data=True, location="student.onnx.data",
              size_threshold=0)
    shutil.copy(thumbnails_path(source), thumbnails_path(external))
    single = enrol_anchors(source, tmp_path / "single.onnx", images=threes, label="new")
    split = enrol_anchors(external, tmp_path / "split.onnx", images=threes, label="new")
    assert split["bank_sha256"] == single["bank_sha256"] and split["class_fits"] == single["class_fits"]


def test_bad_enrolments_are_refused_with_the_fix(exported_lp_student: dict[str, Any], exported_student: dict[str, Any],
                                               threes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = Path(exported_lp_student["output"])
    out = tmp_path / "e.onnx"
    cases = [
        (dict(images=threes, label="3"), r"'3' is already a class .* --append"),
        (dict(images=threes, label="new", append=True), r"'new' is not a class .* drop --append"),
        (dict(remove_label="eleven"), r"'eleven' is not a class"),
        (dict(images=tmp_path, label="x"), r"holds no image files"),
        (dict(), r"give either --images DIR with --label NAME, or --remove-label NAME"),
        (dict(images=threes, label=" 3"), r"--label ' 3' has leading or trailing spaces .* e\.g\. '3'"),
        (dict(images=threes, label="three\nfour"), r"control characters \(a newline, a tab\); give the class name "
                                                   r"alone, a name on one line, without spaces around it"),
        (dict(images=threes, label="   "), r"give the class name alone, a name on one line, without spaces around it"),
    ]
    for kwargs, message in cases:
        with pytest.raises(Cnn2GnnError, match=message):
            enrol_anchors(source, out, **kwargs)
    colour = write_images(tmp_path / "colour", [np.zeros((8, 8, 3), np.uint8) + np.array([0, 90, 200], np.uint8)])
    with pytest.raises(Cnn2GnnError, match=r"000.png has 3 channel\(s\) but the model takes gray images"):
        enrol_anchors(source, out, images=colour, label="x")
    tiny = write_images(tmp_path / "tiny", [np.zeros((2, 2), np.uint8)])
    with pytest.raises(Cnn2GnnError, match=r"under 4x4"):
        enrol_anchors(source, out, images=tiny, label="x")
    with pytest.raises(Cnn2GnnError, match=r"label_mode 'none', with no label term.*--label-mode lp"):
        enrol_anchors(Path(exported_student["output"]), out, images=threes, label="x")
    for weight in (0.0, -1.0, 1000.0):
        with pytest.raises(Cnn2GnnError, match=r"--class-weight .*: give a weight above 0 and at most 100"):
            enrol_anchors(source, out, images=threes, label="x", class_weight=weight)
    monkeypatch.setattr("cnn2gnn.export.enrol_anchors.MAX_BANK_SIZE", 70)
    with pytest.raises(Cnn2GnnError, match=r"would hold 84 anchors, above the limit of 70"):
        enrol_anchors(source, out, images=threes, label="x")
    assert not out.exists()


def test_a_class_its_own_images_rarely_vote_for_is_warned_about() -> None:
    from cnn2gnn.export.enrol_anchors import enrolment_warnings

    fits = {"cup": {"loo_accuracy": 0.2}, "mug": {"loo_accuracy": 0.9}, "one-shot": {"loo_accuracy": None}}
    (warning,) = enrolment_warnings(fits)
    assert warning.startswith("'cup': only 20% of its own images are classified as it") and "enrol more" in warning


def test_a_model_without_a_bank_is_refused(exported_teacher: dict[str, Any], threes: Path, tmp_path: Path) -> None:
    with pytest.raises(Cnn2GnnError, match=r"no anchor bank record .* anchor-mode student"):
        enrol_anchors(Path(exported_teacher["output"]), tmp_path / "e.onnx", images=threes, label="x")


def test_cli_enrolls_without_importing_torch(exported_lp_student: dict[str, Any], threes: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    args = ["enroll", exported_lp_student["output"], "--images", str(threes), "--label", "x", "-o", str(out), "--json"]
    code = ("import sys; from cnn2gnn.cli import app; "
            "import typer.main; cmd = typer.main.get_command(app)\n"
            f"try: cmd.main({args!r}, standalone_mode=False)\n"
            "finally: print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("NO-TORCH")
    report = json.loads(result.stdout)
    assert report["after"]["classes"] == 11 and out.is_file()
    again = subprocess.run([sys.executable, "-m", "cnn2gnn.cli", "enroll", exported_lp_student["output"], "--images",
                            str(threes), "--label", "x", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "exists; add --overwrite" in again.stderr


def _outputs(path: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": x})))


def test_enrolment_fills_reserved_rows_keeping_every_shape(exported_padded_lp_student: dict[str, Any],
                                                           exported_lp_student: dict[str, Any], threes: Path,
                                                           tmp_path: Path) -> None:
    from cnn2gnn.contracts.anchor_thumbnails import read_thumbnails

    padded_source = Path(exported_padded_lp_student["output"])
    report = enrol_anchors(padded_source, tmp_path / "p.onnx", images=threes, label="3", append=True)
    enrol_anchors(Path(exported_lp_student["output"]), tmp_path / "u.onnx", images=threes, label="3", append=True)
    assert report["before"] == {"classes": 10, "anchors": 64, "capacity": 100}
    assert report["after"] == {"classes": 10, "anchors": 84, "capacity": 100} and report["refittable_from_model"]
    source, padded, unpadded = _inits(padded_source), _inits(tmp_path / "p.onnx"), _inits(tmp_path / "u.onnx")
    assert all(padded[n].shape == source[n].shape for n in source)  # what a refit needs
    # the used rows are what enrolling the same bank without room gives, bit for bit
    assert np.array_equal(padded["anchor_dist_weight"][:, :84], unpadded["anchor_dist_weight"])
    for name in ("anchor_z_sq", "anchor_values", "anchor_targets"):
        assert np.array_equal(padded[name][:84], unpadded[name]), name
    assert (padded["anchor_z_sq"][84:] == source["anchor_z_sq"][99]).all()  # still empty slots
    bank = json.loads((tmp_path / "p.onnx.json").read_text())["extra"]["anchor_bank"]
    other = json.loads((tmp_path / "u.onnx.json").read_text())["extra"]["anchor_bank"]
    assert (bank["size"], bank["capacity"], bank["sha256"]) == (84, 100, other["sha256"]) and "capacity" not in other
    assert len(read_thumbnails(tmp_path / "p.onnx", bank["thumbnails_sha256"])) == 84 == len(bank["anchor_labels"])
    x = checkpoint_test_split_images(exported_lp_student)
    got, want = _outputs(tmp_path / "p.onnx", x), _outputs(tmp_path / "u.onnx", x)
    assert np.array_equal(got["neighbour_index"], want["neighbour_index"]) and got["neighbour_index"].max() < 84
    assert np.abs(got["logits"] - want["logits"]).max() <= 1e-5


def checkpoint_test_split_images(exported: dict[str, Any]) -> np.ndarray:
    from tests.export._real_data import checkpoint_test_split

    return checkpoint_test_split(Path(exported["checkpoint"])).x.numpy()


def test_a_full_bank_is_refused_naming_its_capacity_and_the_fix(exported_padded_lp_student: dict[str, Any],
                                                               threes: Path, tmp_path: Path) -> None:
    source = Path(exported_padded_lp_student["output"])
    enrol_anchors(source, tmp_path / "84.onnx", images=threes, label="3", append=True)
    with pytest.raises(Cnn2GnnError, match=r"84.onnx: its anchor bank is full for this enrolment: it holds 84 anchors "
                                           r"in a capacity of 100 rows .* enrol at most 16 image\(s\), or write a larger "
                                           r"bank with --capacity 104 or more .* rebuilt with `cnn2gnn build`"):
        enrol_anchors(tmp_path / "84.onnx", tmp_path / "104.onnx", images=threes, label="3", append=True)
    with pytest.raises(Cnn2GnnError, match=r"--capacity 90 is below the 104 anchors the bank would hold"):
        enrol_anchors(tmp_path / "84.onnx", tmp_path / "104.onnx", images=threes, label="3", append=True, capacity=90)
    assert not (tmp_path / "104.onnx").exists()
    report = enrol_anchors(tmp_path / "84.onnx", tmp_path / "104.onnx", images=threes, label="3", append=True,
                           capacity=128)
    assert report["after"] == {"classes": 10, "anchors": 104, "capacity": 128} and not report["refittable_from_model"]
    assert _inits(tmp_path / "104.onnx")["anchor_values"].shape[0] == 128


def test_capacity_pads_a_bank_exported_without_room(exported_lp_student: dict[str, Any], tmp_path: Path) -> None:
    report = enrol_anchors(Path(exported_lp_student["output"]), tmp_path / "no9.onnx", remove_label="9", capacity=80)
    after = report["after"]
    assert after["capacity"] == 80 and after["classes"] == 9 and not report["refittable_from_model"]
    inits = _inits(tmp_path / "no9.onnx")
    assert inits["anchor_dist_weight"].shape[1] == 80 and inits["anchor_targets"].shape == (80, 9)


def test_a_new_class_keeps_the_capacity_but_changes_shapes(exported_padded_lp_student: dict[str, Any], threes: Path,
                                                           tmp_path: Path) -> None:
    report = enrol_anchors(Path(exported_padded_lp_student["output"]), tmp_path / "e.onnx", images=threes, label="x")
    assert report["after"] == {"classes": 11, "anchors": 84, "capacity": 100} and not report["refittable_from_model"]
    assert _inits(tmp_path / "e.onnx")["anchor_values"].shape[0] == 100


def test_more_images_of_an_enrolled_class_refit_its_column_so_the_engine_is_rebuilt(
        exported_padded_lp_student: dict[str, Any], threes: Path, tmp_path: Path) -> None:
    import shutil

    enrol_anchors(Path(exported_padded_lp_student["output"]), tmp_path / "x.onnx", images=threes, label="x")
    few = tmp_path / "few"
    few.mkdir()
    for path in sorted(threes.iterdir())[:8]:  # the bank has 16 free rows
        shutil.copy(path, few / path.name)
    to_trained = enrol_anchors(tmp_path / "x.onnx", tmp_path / "x3.onnx", images=few, label="3", append=True)
    to_enrolled = enrol_anchors(tmp_path / "x.onnx", tmp_path / "xx.onnx", images=few, label="x", append=True)
    # a trained class's images leave the enrolled column as it is: same shapes, same last layer, a refit takes them
    assert to_trained["refittable_from_model"] and to_trained["class_fits"] == {}
    last = {p: _inits(tmp_path / p)["layer_weight_1"] for p in ("x.onnx", "x3.onnx", "xx.onnx")}
    assert np.array_equal(last["x.onnx"], last["x3.onnx"])
    # the enrolled class's column is fitted again on its 28 images: the last layer changes, only a rebuild takes it
    assert not to_enrolled["refittable_from_model"] and set(to_enrolled["class_fits"]) == {"x"}
    assert not np.array_equal(last["x.onnx"][:, -1], last["xx.onnx"][:, -1])
    assert np.array_equal(last["x.onnx"][:, :-1], last["xx.onnx"][:, :-1])

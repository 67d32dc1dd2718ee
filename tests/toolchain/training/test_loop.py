"""The shared training loop: outputs, resume after an interruption, batch-size floors, schedule."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.toolchain.data.tensors import TensorSplit
from cnn2gnn.toolchain.models.registry import model_from_config
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig
from cnn2gnn.toolchain.models.teacher import TeacherConfig
from cnn2gnn.toolchain.training.checkpoint import Checkpoint, load_checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig, fit, lr_factor, resolve_device
from tests._students import PLAIN_STUDENT


def _split(n: int, seed: int) -> TensorSplit:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 8, 8, generator=g) + y[:, None, None, None].float()  # learnable: class shifts the mean
    return TensorSplit(x=x, y=y, ids=torch.arange(n))


TRAIN, VAL = _split(60, 0), _split(24, 1)


def _model_config(kind: str, graph_mode: str = "anchor") -> dict:
    if kind == "teacher":
        return TeacherConfig(1, 8, 8, 3, arch="resnet8", base_width=4).to_dict()
    return StudentConfig(1, 8, 8, 3, k=3, num_anchors=12, proj_dim=8, hidden=16, dropout=0.3,
                         graph_mode=graph_mode, **PLAIN_STUDENT).to_dict()  # type: ignore[arg-type]


def _model(config: dict, init_seed: int) -> nn.Module:
    torch.manual_seed(init_seed)
    model = model_from_config(config)
    if isinstance(model, CNN2GNNStudent):
        ids = torch.arange(0, 60, 5)
        model.set_anchors(TRAIN.x[ids], ids, TRAIN.y[ids])
    return model


def _ce(m: nn.Module, x: torch.Tensor, y: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = m(x, ids) if isinstance(m, CNN2GNNStudent) else m(x)
    return F.cross_entropy(logits, y), logits


def _template(config: dict) -> Checkpoint:
    kind = "student" if config["family"] == "cnn2gnn-student" else "teacher"
    return Checkpoint(kind=kind, model_config=config, state_dict={}, preprocessing=Preprocessing(8, 8, 1),
                      class_names=["a", "b", "c"])


def _fit(config: dict, out: Path, cfg: TrainConfig, loss_fn: Callable = _ce, resume: bool = False,
         init_seed: int = 0, min_batch: int = 1) -> dict:
    return fit(_model(config, init_seed), TRAIN, VAL, loss_fn, cfg, out, _template(config), resume=resume,
               progress=False, min_batch=min_batch)


@pytest.mark.parametrize(("kind", "augment"), [("student", "none"), ("teacher", "shift-flip")])
def test_resume_continues_like_an_unbroken_run(tmp_path: Path, kind: str, augment: str) -> None:
    config = _model_config(kind)
    cfg = TrainConfig(epochs=4, batch_size=16, lr=5e-3, augment=augment, device="cpu", seed=3)
    steps_per_epoch = math.ceil(60 / 16)
    unbroken = _fit(config, tmp_path / "unbroken", cfg)

    calls = 0

    def interrupted_in_epoch_3(m, x, y, ids):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls == 2 * steps_per_epoch + 2:
            raise KeyboardInterrupt
        return _ce(m, x, y, ids)

    with pytest.raises(KeyboardInterrupt):
        _fit(config, tmp_path / "broken", cfg, interrupted_in_epoch_3)
    assert load_checkpoint(tmp_path / "broken" / "last.pt").training.epoch == 1  # two epochs finished

    # a model built from another seed: everything must come from last.pt
    resumed = _fit(config, tmp_path / "broken", cfg, resume=True, init_seed=99)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2, 3, 4]
    for a, b in zip(unbroken["history"], resumed["history"]):
        for key in ("train_loss", "train_accuracy", "val_accuracy", "lr"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), (a["epoch"], key)
    weights_a = load_checkpoint(tmp_path / "unbroken" / "last.pt").state_dict
    weights_b = load_checkpoint(tmp_path / "broken" / "last.pt").state_dict
    assert weights_a.keys() == weights_b.keys()
    for name in weights_a:
        diff = (weights_a[name].double() - weights_b[name].double()).abs().max().item() if weights_a[name].numel() else 0
        assert diff <= 1e-6, (name, diff)
    assert json.loads((tmp_path / "broken" / "history.json").read_text())[-1]["epoch"] == 4


@pytest.mark.parametrize("select", ["val_loss", "last"])
def test_outputs_of_a_run(tmp_path: Path, select: str) -> None:
    summary = _fit(_model_config("student"), tmp_path,
                   TrainConfig(epochs=3, batch_size=16, lr=1e-2, device="cpu", select=select))
    assert {p.name for p in tmp_path.iterdir()} == {"best.pt", "last.pt", "history.json", "metrics.json"}
    best = load_checkpoint(tmp_path / "best.pt", kind="student")
    last = load_checkpoint(tmp_path / "last.pt", kind="student")
    assert best.training.epoch + 1 == summary["best_epoch"] == best.training.best_epoch
    assert last.training.optimizer and best.training.optimizer is None  # best.pt is for use, last.pt for resuming
    vals = [r["val_accuracy"] for r in summary["history"]]
    losses = [r["val_loss"] for r in summary["history"]]
    if select == "val_loss":
        assert summary["best_epoch"] == losses.index(min(losses)) + 1  # best.pt: the lowest validation loss
    else:  # best.pt: the last epoch's weights
        assert summary["best_epoch"] == 3
        assert all(torch.equal(best.state_dict[k], last.state_dict[k]) for k in best.state_dict)
    assert summary["best_val_accuracy"] == vals[summary["best_epoch"] - 1]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == {"best_val_accuracy": summary["best_val_accuracy"], "best_epoch": summary["best_epoch"],
                       "epochs": 3}
    assert summary["history"][-1]["train_accuracy"] > 0.5  # the data is learnable; chance is 1/3


def test_progress_lines_go_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _model_config("student")
    fit(_model(config, 0), TRAIN, VAL, _ce, TrainConfig(epochs=1, batch_size=32, device="cpu"), tmp_path,
        _template(config), progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout is reserved for the command's result (--json)
    assert "epoch   1/1" in captured.err
    assert "\r" not in captured.err  # stderr is no terminal here: plain lines, as in a log file


def test_the_run_records_and_uses_omp_num_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = _model_config("student")
    template = replace(_template(config), run_config={"command": "test"})
    fit(_model(config, 0), TRAIN, VAL, _ce, TrainConfig(epochs=1, batch_size=32, device="cpu"), tmp_path, template,
        progress=False)
    assert json.loads((tmp_path / "config.json").read_text())["torch_threads"] == 1
    assert torch.get_num_threads() == 1


def test_batch_mode_short_last_batch_joins_the_previous_one(tmp_path: Path) -> None:
    config = _model_config("student", graph_mode="batch")  # k=3: at least 5 samples per batch
    sizes: list[int] = []

    def recording(m, x, y, ids):  # type: ignore[no-untyped-def]
        sizes.append(len(x))
        return _ce(m, x, y, ids)

    _fit(config, tmp_path, TrainConfig(epochs=1, batch_size=19, device="cpu", eval_batch_size=22), recording,
         min_batch=5)  # 60 = 19 + 19 + 19 + 3 and val 24 = 22 + 2: both tails are too small alone
    assert sizes == [19, 19, 22]


def test_resume_refusals(tmp_path: Path) -> None:
    config = _model_config("student")
    cfg = TrainConfig(epochs=1, batch_size=32, device="cpu")
    with pytest.raises(Cnn2GnnError, match="no .*last.pt to resume from"):
        _fit(config, tmp_path, cfg, resume=True)
    _fit(config, tmp_path, cfg)
    with pytest.raises(Cnn2GnnError, match="already finished epoch 1/1"):
        _fit(config, tmp_path, cfg, resume=True)
    other = {**config, "hidden": 8}
    with pytest.raises(Cnn2GnnError, match=r"another model config \(hidden: stored \d+, expected 8\)"):
        _fit(other, tmp_path, TrainConfig(epochs=2, batch_size=32, device="cpu"), resume=True)


@pytest.mark.parametrize("name, option", [("lambda", "--lambda"), ("temperature", "--temperature"),
                                          ("teacher_sha256", "--teacher")])
def test_a_distillation_resumed_with_another_teacher_or_loss_is_refused(tmp_path: Path, name: str,
                                                                        option: str) -> None:
    from cnn2gnn.toolchain.distill.distill_student import DISTILLATION_INVARIANTS

    config = _model_config("student")
    run = {"lambda": 0.7, "temperature": 4.0, "teacher_sha256": "ab" * 32}

    def fit_with(run_config: dict, epochs: int, resume: bool) -> dict:
        template = dataclasses.replace(_template(config), run_config=run_config)
        return fit(_model(config, 0), TRAIN, VAL, _ce, TrainConfig(epochs=epochs, batch_size=32, device="cpu"),
                   tmp_path, template, resume=resume, progress=False, resume_invariants=DISTILLATION_INVARIANTS)

    fit_with(run, 1, False)
    with pytest.raises(Cnn2GnnError, match=rf"was trained with {name} .*; resume with the run's {option}"):
        fit_with({**run, name: "changed"}, 2, True)
    assert fit_with(run, 2, True)["epochs"] == 2


def test_a_run_saved_before_a_config_field_existed_resumes_with_its_default(tmp_path: Path) -> None:
    """last.pt of an older cnn2gnn lacks the fields added since (here the contrastive term's): resuming fills
    them with their defaults, as the model was trained, and still refuses a value other than the default."""
    config = _model_config("student")
    older = {k: v for k, v in config.items() if not k.startswith("contrastive")}
    fit(_model(config, 0), TRAIN, VAL, _ce, TrainConfig(epochs=1, batch_size=32, device="cpu"), tmp_path,
        _template(older), progress=False)
    assert "contrastive" not in torch.load(tmp_path / "last.pt", weights_only=False)["model_config"]
    with pytest.raises(Cnn2GnnError, match="another model config"):
        _fit({**config, "contrastive": 1.0}, tmp_path, TrainConfig(epochs=2, batch_size=32, device="cpu"), resume=True)
    result = _fit(config, tmp_path, TrainConfig(epochs=2, batch_size=32, device="cpu"), resume=True)
    assert result["epochs"] == 2


def test_lr_schedule_warms_up_then_decays_to_zero() -> None:
    assert [lr_factor(s, 100, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(4, 100, 4) == pytest.approx(1.0)
    assert lr_factor(52, 100, 4) == pytest.approx(0.5)
    assert lr_factor(100, 100, 4) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(0, 10, 0) == 1.0


@pytest.mark.parametrize(("field", "value", "match"),
                         [("epochs", 0, "epochs"), ("batch_size", 0, "batch size"), ("lr", 0.0, "learning rate")])
def test_train_config_validation(field: str, value: object, match: str) -> None:
    with pytest.raises(Cnn2GnnError, match=match):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(Cnn2GnnError, match="auto, cpu or cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(Cnn2GnnError, match="no CUDA GPU"):
            resolve_device("cuda")


# --- bad input (issue 11) -------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "message"), [
    ("lr", math.nan, r"learning rate lr \(--lr\) must be a finite number in \(0, 10\], got nan"),
    ("lr", math.inf, r"learning rate lr \(--lr\) must be a finite number in \(0, 10\], got inf"),
    ("lr", -1e-3, r"learning rate lr \(--lr\) must be a finite number in \(0, 10\]"),
    ("epochs", 0, r"epochs \(--epochs\) must be an integer in 1\.\.100000, got 0"),
    ("batch_size", -4, r"batch size \(--batch-size\) must be an integer in 1\.\.1000000, got -4"),
    ("weight_decay", -0.1, r"weight decay \(--weight-decay\) must be a finite number in \[0, 10\], got -0\.1"),
    ("weight_decay", math.nan, r"weight decay \(--weight-decay\) must be a finite number in \[0, 10\], got nan"),
    ("seed", -1, r"seed \(--seed\) must be an integer in 0\.\.4294967295, got -1"),
    ("warmup_epochs", -1, r"warmup_epochs must be an integer in 0\.\.100000"),
    ("eval_batch_size", 0, r"eval_batch_size must be an integer in 1\.\.1000000"),
    ("augment", "rotate", r"augmentation \(--augment\) 'rotate' unknown; use one of none \| shift \| shift-flip"),
    ("device", "tpu", r"device \(--device\) must be one of auto \| cpu \| cuda, got 'tpu'"),
    ("select", "val_f1", r"checkpoint selection \(--select\) 'val_f1' unknown; use one of last \| val_loss \| val_accuracy"),
])
def test_train_config_names_the_setting_value_and_range(field: str, value: object, message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=message):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def _fingerprinted(config: dict, fingerprint: str, pre: Preprocessing = Preprocessing(8, 8, 1)) -> Checkpoint:
    template = _template(config)
    template.dataset, template.preprocessing = {"spec": f"data-{fingerprint}", "fingerprint": fingerprint}, pre
    return template


@pytest.mark.parametrize(("change", "message"), [
    ("data", r"was trained on other data \('data-A', now 'data-B' with different content\)"),
    ("preprocessing", "was trained with preprocessing .* now .*'interpolation': 'area'"),
    ("lr", r"was trained with lr=0\.002, now 0\.01; resume with the run's settings \(only --epochs, --device and --workers"),
])
def test_resume_with_another_run_setup_is_refused(tmp_path: Path, change: str, message: str) -> None:
    config = _model_config("student")
    cfg = TrainConfig(epochs=1, batch_size=32, device="cpu")
    fit(_model(config, 0), TRAIN, VAL, _ce, cfg, tmp_path, _fingerprinted(config, "A"), progress=False)
    before = (tmp_path / "last.pt").read_bytes()
    template = _fingerprinted(config, "B" if change == "data" else "A",
                              Preprocessing(8, 8, 1, interpolation="area") if change == "preprocessing"
                              else Preprocessing(8, 8, 1))
    resumed_cfg = TrainConfig(epochs=2, batch_size=32, device="cpu", lr=1e-2 if change == "lr" else 2e-3)
    with pytest.raises(Cnn2GnnError, match=message):
        fit(_model(config, 0), TRAIN, VAL, _ce, resumed_cfg, tmp_path, template, resume=True, progress=False)
    assert (tmp_path / "last.pt").read_bytes() == before


def test_a_diverging_run_stops_with_a_clear_error(tmp_path: Path) -> None:
    config = _model_config("teacher")
    cfg = TrainConfig(epochs=2, batch_size=32, device="cpu")

    def exploding(m, x, y, ids):  # type: ignore[no-untyped-def]
        loss, logits = _ce(m, x, y, ids)
        return loss * math.inf, logits

    with pytest.raises(Cnn2GnnError, match=r"training diverged in epoch 1: the loss is (nan|inf) .* lower --lr"):
        _fit(config, tmp_path, cfg, exploding)
    assert not (tmp_path / "best.pt").exists()  # nothing NaN was saved as a "best" model


def test_a_fresh_run_in_an_older_runs_folder_removes_its_results_as_it_starts(tmp_path: Path) -> None:
    """--overwrite interrupted in its first epoch must not leave the older run's best.pt beside its config.json."""
    config = _model_config("student")
    _fit(config, tmp_path, TrainConfig(epochs=1, batch_size=32, device="cpu"))
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "metrics.json").is_file()

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit({**config, "hidden": 8}, tmp_path, TrainConfig(epochs=1, batch_size=32, device="cpu"), loss_fn=interrupted)
    assert not [name for name in ("best.pt", "last.pt", "history.json", "metrics.json") if (tmp_path / name).exists()]


def test_resuming_a_finished_run_is_refused_before_its_data_or_teacher_is_touched(tiny_teacher_ckpt: Path,
                                                                                 tiny_student_ckpt: Path) -> None:
    # The data spec names nothing and the teacher does not exist: either would fail first if it were read.
    from cnn2gnn.toolchain.distill.distill_student import distill_student
    from cnn2gnn.toolchain.training.train_teacher import train_teacher

    with pytest.raises(Cnn2GnnError, match=r"--resume: .*last\.pt already finished epoch 2/2; raise --epochs"):
        train_teacher("imagefolder:/no/such/folder", tiny_teacher_ckpt.parent, TrainConfig(epochs=2), resume=True,
                      progress=False)
    with pytest.raises(Cnn2GnnError, match=r"--resume: .*last\.pt already finished epoch 3/3; raise --epochs"):
        distill_student(None, tiny_student_ckpt.parent, TrainConfig(epochs=3), {}, tiny_student_ckpt.parent / "nope.pt",
                        resume=True, progress=False)

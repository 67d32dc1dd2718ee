"""``train-teacher`` and ``distill`` under ``torchrun --nproc-per-node 2`` (Gloo, CPU) train the model a
one-process run with the same global batch trains; a rank that dies ends the run with a clear message
and leaves last.pt intact; ``--resume`` under torchrun continues to the unbroken run's result.

Tolerance: the two runs differ only in the order floats are summed (DDP all-reduces two half-batch
gradients, synchronised BatchNorm two half-batch statistics; one process sums the whole batch at once).
One step's gradients agree to float32 precision (about 1e-6 relative, as a one-process float32 step
against float64), and the first epochs' losses to about 1e-8 relative. Later the runs drift apart:
AdamW's first, warm-up steps move each weight by about lr * sign(grad), so a near-zero gradient whose
sign flips in the last float digit moves its weight by up to 2 * lr (teacher weights: up to 6e-4
apart after 2 epochs; one process on 1 vs 2 threads, which reorders the convolution sums, drifts by
2e-5), and the student's top-k neighbour pick is discrete, so a near-tie that flips changes a whole
neighbour (its loss curves: 1e-8 apart in epoch 1, 2e-5 in epoch 5, 4e-4 in epoch 10). So: losses
within 1e-4 relative, weights within 2e-3 absolute, over runs short enough to stay in that range.
Settings are chosen so nothing else
differs: no augmentation and no dropout (each rank draws those from its own stream).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.distill.shared_anchors import anchor_bank_sha256
from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
from cnn2gnn.toolchain.training.loop import TrainConfig
from cnn2gnn.toolchain.training.world import World, world_from_env

REPO = Path(__file__).resolve().parents[3]
# All-reduce sums gradients in another order than one process does, so the runs start ~1e-8 apart; AdamW's early
# steps (about lr * sign(grad)) and the student's discrete top-k neighbours amplify that over epochs (measured:
# 1.3e-4 relative in the student's val loss after 5 epochs). A missing or doubled gradient average is off by far
# more than these bounds from the first epoch on.
LOSS_RTOL, WEIGHT_ATOL = 5e-4, 2e-3
# The tiny student of conftest's tiny_student_ckpt, without dropout.
STUDENT = {"k": 5, "num_anchors": 64, "hidden": 32, "proj_dim": 16, "dropout": 0.0}
STUDENT_ARGS = ["-k", "5", "--anchors", "64", "--hidden", "32", "--proj-dim", "16", "--dropout", "0"]
DISTILL_EPOCHS = 5  # ~0.2 s each: leaves time to stop a rank after the first


def _torchrun(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "cnn2gnn.cli", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _assert_same_run(one: Path, two: Path) -> None:
    """Loss curve and final weights of the one-process run ``one`` and the two-process run ``two``."""
    a, b = load_checkpoint(one / "last.pt"), load_checkpoint(two / "last.pt")
    assert len(a.training.history) == len(b.training.history)
    for ra, rb in zip(a.training.history, b.training.history):
        for key in ("train_loss", "val_loss"):
            assert rb[key] == pytest.approx(ra[key], rel=LOSS_RTOL), (ra["epoch"], key)
        # a float-level difference may flip the argmax of a near-tie: allow two of the 1259 training images
        assert rb["train_accuracy"] == pytest.approx(ra["train_accuracy"], abs=2 / 1259 + 1e-9)
    assert a.state_dict.keys() == b.state_dict.keys()
    for name, wa in a.state_dict.items():
        if wa.is_floating_point():
            assert torch.allclose(wa, b.state_dict[name], rtol=0, atol=WEIGHT_ATOL), name
        else:
            assert torch.equal(wa, b.state_dict[name]), name


@pytest.mark.slow
def test_train_teacher_on_two_processes_matches_one(tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    # the same settings as the session's tiny teacher (conftest), trained there in one process
    rc, out, err = _finish(_torchrun(
        "train-teacher", "--data", "digits", "--arch", "resnet8", "--width", "8", "--image-size", "16",
        "--epochs", "2", "--batch-size", "128", "--augment", "none", "--device", "cpu", "--out", str(tmp_path),
        "--json"))
    assert rc == 0, err
    assert json.loads(out)["epochs"] == 2  # rank 0 alone printed the result: one JSON document
    assert err.count("epoch   2/2") == 1  # and logged
    _assert_same_run(tiny_teacher_ckpt.parent, tmp_path)
    record = json.loads((tmp_path / "config.json").read_text())["distributed"]
    assert record == {"world_size": 2, "global_batch_size": 128, "local_batch_size": 64, "backend": "gloo"}


def _pid_of_rank(launcher: subprocess.Popen[str], rank: int) -> int | None:
    """The worker process torchrun started for ``rank`` (found by its environment)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == launcher.pid and f"RANK={rank}".encode() in environ:  # after "(comm)": state, ppid
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through /proc")
def test_distill_on_two_processes_survives_a_dead_rank_and_resumes_to_the_one_process_result(
        tiny_teacher_ckpt: Path, tmp_path: Path) -> None:
    from cnn2gnn.toolchain.distill.distill_student import distill_student

    one, two = tmp_path / "one", tmp_path / "two"
    cache_one, cache_two = tmp_path / "cache-one", tmp_path / "cache-two"
    cfg = TrainConfig(epochs=DISTILL_EPOCHS, batch_size=128, device="cpu")
    distill_student(None, one, cfg, STUDENT, tiny_teacher_ckpt, cache_dir=cache_one, progress=False)

    args = ["distill", "--teacher", str(tiny_teacher_ckpt), *STUDENT_ARGS, "--epochs", str(DISTILL_EPOCHS),
            "--batch-size", "128", "--device", "cpu", "--cache-dir", str(cache_two), "--out", str(two)]
    run = _torchrun(*args)
    # rank 1 dies (SIGKILL: no chance to clean up) once the first epoch is written
    deadline = time.monotonic() + 180
    while not (two / "last.pt").is_file() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = _pid_of_rank(run, 1)
    assert victim is not None and run.poll() is None, "the run ended before a rank could be stopped"
    os.kill(victim, signal.SIGKILL)
    rc, _, err = _finish(run)
    assert rc != 0
    assert "error: rank 0 of 2:" in err and "--resume" in err, err[-3000:]  # rank 0 says what happened
    stopped = load_checkpoint(two / "last.pt")  # intact, from a finished epoch
    assert 1 <= stopped.training.epoch + 1 < DISTILL_EPOCHS

    # the sharded, gathered teacher logits are the ones one process computes (same key, same file name)
    (file_one,), (file_two,) = sorted(cache_one.iterdir()), sorted(cache_two.iterdir())
    assert file_one.name == file_two.name
    with np.load(file_one) as a, np.load(file_two) as b:
        assert np.array_equal(a["logits"], b["logits"])

    rc, out, err = _finish(_torchrun(*args, "--resume", "--json"))
    assert rc == 0, err
    assert json.loads(out)["teacher_cache"] == "hit"  # rank 0 read the file and broadcast it
    _assert_same_run(one, two)
    # both ranks held the anchor bank the checkpoint stores
    config = json.loads((two / "config.json").read_text())
    digest = anchor_bank_sha256(load_checkpoint(two / "last.pt").state_dict)
    assert config["anchor_bank_sha256_per_rank"] == [digest, digest]
    assert config["distributed"]["world_size"] == 2


def test_a_batch_the_world_does_not_divide_is_refused() -> None:
    world = world_from_env({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"})
    assert (world.rank, world.size, world.local_rank, world.is_main) == (1, 2, 1, False)
    assert world.local_batch_size(64) == 32
    with pytest.raises(Cnn2GnnError, match=r"--batch-size 65 is the global batch, split over the 2 processes .* "
                                           r"use a multiple of 2, e.g. 64 or 66"):
        world.local_batch_size(65)


@pytest.mark.parametrize(("env", "message"), [
    ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2 is not below WORLD_SIZE=2"),
    ({"WORLD_SIZE": "zero"}, "WORLD_SIZE='zero' must be an integer >= 1"),
    ({"CNN2GNN_DIST_TIMEOUT_S": "-1"}, "CNN2GNN_DIST_TIMEOUT_S='-1' must be a positive number"),
])
def test_torchrun_environment_is_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=message):
        world_from_env(env)


def test_one_process_is_a_world_of_one() -> None:
    assert world_from_env({}) == World()

"""``train-teacher`` and ``distill`` under ``torchrun --nproc-per-node 2`` (Gloo, CPU) train the model a
one-process run with the same global batch trains; a rank that dies ends the run with a clear message
and leaves last.pt intact; ``--resume`` under torchrun continues to the unbroken run's result.

Both runs are the real CLI with one change: the model and its images are float64 (``_float64_cli`` below).
The W-process run differs from the one-process run only in the order floats are summed (DDP all-reduces
two half-batch gradients, synchronised BatchNorm two half-batch statistics; one process sums the whole
batch at once), and in float32 training turns that last-digit difference into anything: AdamW's first
steps move a weight by about lr * sign(grad), so a near-zero gradient whose sign flips moves it by up to
2 * lr, and a student's top-k neighbour pick is discrete. Measured on this 2-core CI machine (AMD EPYC,
torch 2.13 CPU, one thread), 1 vs 2 processes in float32: the teacher's weights up to 2.0e-3 apart after
2 epochs (blocks.2.bn1.running_var), its val loss 1.3e-4 relative; the student's (conv stem) gradients
1e-5 apart at step 1 and wholly different from step ~16 on, val loss 2e-3 relative in epoch 2, BatchNorm
statistics 0.2 apart in epoch 5. One process in float32 against itself in float64, or on 1 vs 2 threads,
drifts as far, so no float32 bound both holds on every machine and still catches a subtle bug. In float64
the same runs agree to 1e-11 (weights and buffers after 5 student epochs, 2e-11; gradients 1e-13
relative at step 1) and any real difference stands out: counting the replicated anchor bank twice in a
synchronised BatchNorm's statistics, or training both ranks on one half of the batch, is 1e-4 to 1e-1 off.
Settings are chosen so nothing else differs: no augmentation and no dropout (each rank draws those from
its own stream).
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
from cnn2gnn.toolchain.training.world import World, world_from_env

REPO = Path(__file__).resolve().parents[3]
# float64 runs (see above), measured 1 vs 2 processes: train losses 4e-13 relative, weights and buffers 2e-11,
# step-1 gradients 1e-13 relative; the validation logits are float32 (predict_logits), so val losses agree to
# float32 rounding. Wide margins over those, far below the 1e-4 a real difference measured at least.
LOSS_RTOL, WEIGHT_ATOL, GRAD_RTOL = 1e-6, 1e-7, 1e-9
FIRST_STEP_GRADS = "first_step_grads.pt"  # rank 0's (all-reduced) gradients of the run's first step
# The tiny student of conftest's tiny_student_ckpt, without dropout.
STUDENT_ARGS = ["-k", "5", "--anchors", "64", "--hidden", "32", "--proj-dim", "16", "--dropout", "0"]
DISTILL_EPOCHS = 5  # well under a second each: leaves time to stop a rank after the first


def _float64_cli(*args: str, processes: int) -> subprocess.Popen[str]:
    """``cnn2gnn *args`` in float64 (this file run as a script), in one process or under torchrun."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")])}
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
    return subprocess.Popen([*launcher, str(Path(__file__).resolve()), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _assert_same_run(one: Path, two: Path) -> None:
    """Step-1 gradients, loss curve and final weights of the one-process run ``one`` and the two-process run
    ``two`` (both float64)."""
    grads_a, grads_b = torch.load(one / FIRST_STEP_GRADS), torch.load(two / FIRST_STEP_GRADS)
    assert grads_a.keys() == grads_b.keys()
    # relative to the largest gradient: some are zero up to rounding (projection.bias cancels in the distances)
    scale = max(float(g.abs().max()) for g in grads_a.values())
    for name, ga in grads_a.items():  # one step: a wrong share or average of the batch shows here unamplified
        assert ga.dtype == torch.float64, name
        assert torch.allclose(grads_b[name], ga, rtol=0, atol=GRAD_RTOL * scale), name
    a, b = load_checkpoint(one / "last.pt"), load_checkpoint(two / "last.pt")
    assert len(a.training.history) == len(b.training.history)
    for ra, rb in zip(a.training.history, b.training.history):
        for key in ("train_loss", "val_loss"):
            assert rb[key] == pytest.approx(ra[key], rel=LOSS_RTOL), (ra["epoch"], key)
        assert rb["train_accuracy"] == ra["train_accuracy"], ra["epoch"]
    assert a.state_dict.keys() == b.state_dict.keys()
    for name, wa in a.state_dict.items():
        if wa.is_floating_point():
            assert wa.dtype == b.state_dict[name].dtype == torch.float64, name
            assert torch.allclose(wa, b.state_dict[name], rtol=0, atol=WEIGHT_ATOL), name
        else:
            assert torch.equal(wa, b.state_dict[name]), name


@pytest.mark.slow
def test_train_teacher_on_two_processes_matches_one(tmp_path: Path) -> None:
    # the settings of the session's tiny teacher (conftest)
    args = ["train-teacher", "--data", "digits", "--arch", "resnet8", "--width", "8", "--image-size", "16",
            "--epochs", "2", "--batch-size", "128", "--augment", "none", "--device", "cpu", "--json"]
    one, two = tmp_path / "one", tmp_path / "two"
    rc, _, err = _finish(_float64_cli(*args, "--out", str(one), processes=1))
    assert rc == 0, err
    rc, out, err = _finish(_float64_cli(*args, "--out", str(two), processes=2))
    assert rc == 0, err
    assert json.loads(out)["epochs"] == 2  # rank 0 alone printed the result: one JSON document
    assert err.count("epoch   2/2") == 1  # and logged
    _assert_same_run(one, two)
    record = json.loads((two / "config.json").read_text())["distributed"]
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
    one, two = tmp_path / "one", tmp_path / "two"
    cache_one, cache_two = tmp_path / "cache-one", tmp_path / "cache-two"
    args = ["distill", "--teacher", str(tiny_teacher_ckpt), *STUDENT_ARGS, "--epochs", str(DISTILL_EPOCHS),
            "--batch-size", "128", "--device", "cpu"]
    rc, _, err = _finish(_float64_cli(*args, "--cache-dir", str(cache_one), "--out", str(one), processes=1))
    assert rc == 0, err

    args += ["--cache-dir", str(cache_two), "--out", str(two)]
    run = _float64_cli(*args, processes=2)
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
    (file_one,), (file_two,) = sorted(cache_one.glob("*.npy")), sorted(cache_two.glob("*.npy"))
    assert file_one.name == file_two.name
    assert np.array_equal(np.load(file_one), np.load(file_two))

    rc, out, err = _finish(_float64_cli(*args, "--resume", "--json", processes=2))
    assert rc == 0, err
    assert json.loads(out)["teacher_cache"] == "hit"  # rank 0 read the file and broadcast it
    _assert_same_run(one, two)
    # both ranks held the anchor bank the checkpoint stores (as set: float32, before _main made it float64)
    config = json.loads((two / "config.json").read_text())
    digest = anchor_bank_sha256({name: t.float() if t.is_floating_point() else t
                                 for name, t in load_checkpoint(two / "last.pt").state_dict.items()})
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


def _main() -> None:
    """``python test_distributed.py ARGS...`` (alone or under torchrun) runs ``cnn2gnn ARGS...`` with the trained
    model, its buffers and its images in float64: ``fit`` as the CLI calls it, given float64 tensors. Rank 0
    saves the gradients of the run's first step (after DDP's all-reduce) as ``FIRST_STEP_GRADS`` in ``--out``."""
    from dataclasses import replace
    from typing import Any

    from torch.optim.optimizer import register_optimizer_step_pre_hook

    import cnn2gnn.toolchain.distill.distill_student as distill_module
    import cnn2gnn.toolchain.training.train_teacher as teacher_module
    from cnn2gnn.cli import main
    from cnn2gnn.toolchain.training import loop

    grads_path = Path(sys.argv[sys.argv.index("--out") + 1]) / FIRST_STEP_GRADS

    def fit(model: torch.nn.Module, train: Any, val: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        model.double()

        def save_first_grads(*_: Any) -> None:
            if world_from_env().is_main and not grads_path.exists():  # a resumed run keeps the first run's
                grads_path.parent.mkdir(parents=True, exist_ok=True)
                torch.save({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, grads_path)

        register_optimizer_step_pre_hook(save_first_grads)
        return loop.fit(model, replace(train, x=train.x.double()), replace(val, x=val.x.double()), *args, **kwargs)

    teacher_module.fit = distill_module.fit = fit  # type: ignore[assignment]
    sys.argv = ["cnn2gnn", *sys.argv[1:]]
    main()


if __name__ == "__main__":
    _main()

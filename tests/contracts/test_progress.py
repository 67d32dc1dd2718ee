import io

from cnn2gnn.contracts import progress as progress_module
from cnn2gnn.contracts.progress import LogProgress, progress_bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_stream_gets_plain_lines_every_tenth_and_no_carriage_returns() -> None:
    out = io.StringIO()
    clock = FakeClock()
    for _ in progress_bar(range(10_000), desc="epoch 1/3", unit="batch", file=out, clock=clock):
        clock.now += 0.001  # 10 s in all: no time-triggered lines
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("epoch 1/3: 1000/10000 batch (10%)")
    assert "left" in lines[0]
    assert lines[-1].startswith("epoch 1/3: 10000/10000 batch (100%)")


def test_a_slow_stage_also_gets_a_line_every_30_seconds() -> None:
    out = io.StringIO()
    clock = FakeClock()
    with progress_bar(total=1000, desc="teacher logits", unit="img", file=out, clock=clock) as bar:
        for _ in range(50):  # 5% of the total, 50 * 1.5 s = 75 s: two interval lines, then the closing one
            clock.now += 1.5
            bar.update(1)
            bar.set_postfix(loss="0.1234")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[-1] == "teacher logits: 50/1000 img (5%), 1:15, ~23:45 left, loss 0.1234"


def test_without_a_total_lines_show_the_count() -> None:
    out = io.StringIO()
    clock = FakeClock()
    bar = LogProgress(total=None, desc="accuracy budget", unit="config", file=out, clock=clock)
    bar.update(3)
    bar.set_postfix_str("computing thresholds")
    bar.close()
    bar.close()
    assert out.getvalue() == "accuracy budget: 3 config, 0:00, computing thresholds\n"


def test_a_terminal_gets_a_tqdm_bar_and_disabled_gets_nothing(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    from tqdm import tqdm

    assert isinstance(progress_bar(range(3), file=Terminal()), tqdm)
    out = io.StringIO()
    for _ in progress_bar(range(3), enabled=False, file=out):
        pass
    assert out.getvalue() == ""
    assert progress_module.LOG_FRACTION == 0.1

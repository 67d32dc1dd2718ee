import pytest

from cnn2gnn.toolchain.training.time_estimate import estimated_run_seconds, long_run_warning


def test_the_estimate_scales_the_first_batches_to_the_whole_run() -> None:
    # 20 batches in 10 s, 1000 batches per epoch, 30 epochs: 0.5 s * 30_000
    assert estimated_run_seconds(10.0, 20, 1000, 30) == pytest.approx(15_000.0)
    with pytest.raises(ValueError):
        estimated_run_seconds(1.0, 0, 10, 1)


def test_a_run_of_hours_gets_one_line_with_what_makes_it_shorter() -> None:
    line = long_run_warning(15_000.0, 30, "cpu")
    assert line == ("estimated time: ~4 h 10 min for 30 epochs on cpu; for a shorter run use fewer --epochs, a "
                    "smaller --image-size, or a GPU (--device cuda)")
    assert "GPU" not in long_run_warning(7200.0, 1, "cuda:0")  # type: ignore[operator]
    assert "1 epoch on" in long_run_warning(7200.0, 1, "cuda:0")  # type: ignore[operator]


def test_an_hour_or_less_gets_no_warning() -> None:
    assert long_run_warning(3600.0, 20, "cpu") is None

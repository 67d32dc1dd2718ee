import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.bench import benchmark, format_benchmark, input_batch, latency_stats


def test_latency_stats_from_known_times():
    stats = latency_stats([0.001, 0.002, 0.003, 0.004], batch_size=8)
    lat = stats["latency_ms"]
    assert stats["iterations"] == 4
    assert lat["mean"] == pytest.approx(2.5)
    assert lat["p50"] == pytest.approx(2.5)
    assert lat["p95"] == pytest.approx(3.85)
    assert lat["p99"] == pytest.approx(3.97)
    assert (lat["min"], lat["max"]) == (pytest.approx(1.0), pytest.approx(4.0))
    assert stats["throughput_ips"] == pytest.approx(8 * 1000 / 2.5)
    assert stats["per_image_ms"] == pytest.approx(2.5 / 8)
    assert stats["total_s"] == pytest.approx(0.010)


def test_latency_stats_needs_samples():
    with pytest.raises(Cnn2GnnError):
        latency_stats([], 1)


def test_input_batch_repeats_given_inputs_and_checks_their_shape():
    given = np.arange(2 * 1 * 2 * 2, dtype=np.float32).reshape(2, 1, 2, 2)
    batch = input_batch((1, 2, 2), 5, given)
    assert batch.shape == (5, 1, 2, 2)
    np.testing.assert_array_equal(batch[[0, 2, 4]], given[[0, 0, 0]])
    np.testing.assert_array_equal(batch[[1, 3]], given[[1, 1]])
    assert input_batch((3, 4, 4), 2).shape == (2, 3, 4, 4)
    with pytest.raises(Cnn2GnnError):
        input_batch((3, 4, 4), 2, given)


@pytest.mark.parametrize("given", [None, np.zeros((2, 3, 64, 64), np.float32)], ids=["random", "real images"])
def test_a_batch_too_large_to_allocate_names_its_size(given):
    with pytest.raises(Cnn2GnnError, match=r"a batch of 10000000000000 inputs of shape \(3, 64, 64\) needs .* GiB, "
                                           r"more than this machine can allocate; time smaller --batch-sizes"):
        input_batch((3, 64, 64), 10**13, given)


def test_benchmark_reports_each_batch_size(student_model):
    with load_backend(student_model.path, threads=1) as backend:
        result = benchmark(backend, [1, 4], warmup=2, iterations=5, progress=False)
    assert result["backend"] == "onnxruntime" and result["kind"] == "student"
    assert [r["batch_size"] for r in result["results"]] == [1, 4]
    for r in result["results"]:
        lat = r["latency_ms"]
        assert r["iterations"] == 5
        assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert r["throughput_ips"] == pytest.approx(r["batch_size"] * 1000 / lat["mean"])
    table = format_benchmark(result)
    assert "p99 ms" in table and len(table.splitlines()) == 4


def test_benchmark_for_a_duration(student_model):
    with load_backend(student_model.path, threads=1) as backend:
        result = benchmark(backend, [2], warmup=0, warmup_seconds=0.02, duration=0.1, progress=False)
    (r,) = result["results"]
    assert r["iterations"] >= 1
    assert 0.05 < r["total_s"] <= 0.2  # time inside infer calls only, so at most the duration plus one call
    assert result["warmup"] == {"iterations": None, "seconds": 0.02}


@pytest.mark.parametrize("kwargs", [{"batch_sizes": [0]}, {"batch_sizes": []}, {"iterations": 0}, {"duration": 0.0},
                                    {"warmup": -1}, {"duration": float("nan")}, {"duration": float("inf")},
                                    {"warmup_seconds": float("nan")}, {"warmup_seconds": float("inf")}])
def test_benchmark_rejects_bad_settings(student_model, kwargs):
    with load_backend(student_model.path) as backend:
        with pytest.raises(Cnn2GnnError):
            benchmark(backend, **{"batch_sizes": [1], **kwargs, "progress": False})

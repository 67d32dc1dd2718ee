import numpy as np

from cnn2gnn.runtime.stream.stats import LatencyHistogram, StreamStats, process_memory_mb


def test_histogram_percentiles_are_within_one_percent_of_exact():
    values = np.random.default_rng(0).lognormal(mean=2.0, sigma=1.0, size=20000)
    hist = LatencyHistogram()
    for v in values:
        hist.add(float(v))
    for q in (50, 95, 99):
        assert abs(hist.percentile(q) / np.percentile(values, q) - 1) < 0.01
    summary = hist.summary()
    assert summary["min"] == values.min() and summary["max"] == values.max()
    np.testing.assert_allclose(summary["mean"], values.mean())
    assert LatencyHistogram().summary()["p50"] is None


def test_histogram_memory_does_not_grow_with_samples():
    hist = LatencyHistogram()
    size = hist.counts.nbytes
    for v in range(100000):
        hist.add(v * 0.01)
    assert hist.counts.nbytes == size and hist.count == 100000


def test_status_line_reports_recent_fps_latency_and_drops():
    stats = StreamStats(window=50)
    for i in range(100):
        stats.record_frame(latency_ms=10.0 + (i % 10), done_at=i / 25.0)  # 25 fps
    line = stats.status_line(dropped=7, queue_depth=2, queue_size=4)
    assert line.startswith("100 frames | 25.0 fps | latency p50 14.5 ms p95 19.0 ms")
    assert line.endswith("dropped 7 | queue 2/4")


def test_process_memory_is_read_from_proc_status(tmp_path):
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n")
    assert process_memory_mb(status) == {"rss": 100.0, "peak_rss": 200.0}
    assert process_memory_mb(tmp_path / "missing") is None

"""The end-of-run summary of ``cnn2gnn run``: as JSON (``--summary``, ``--json``) and for people (stderr).

With one source the summary describes it under ``source``; with several, ``sources`` lists each one's
status, frames, drops, fps and latency, and the top-level numbers are the run's totals.
"""

from __future__ import annotations

from typing import Any

from cnn2gnn.runtime.backends.runner import Runner
from cnn2gnn.runtime.stream.source_slot import SourceSlot
from cnn2gnn.runtime.stream.stats import StreamStats, process_memory_mb


def run_summary(backend: Runner, slots: list[SourceSlot], stats: StreamStats, *, status: str, exit_code: int,
                message: str | None, queue_size: int, batch_cap: int, batch_wait_ms: float,
                outputs: dict[str, Any]) -> dict[str, Any]:
    queues = [slot.queue for slot in slots if slot.queue is not None]
    captures = [slot.capture for slot in slots if slot.capture is not None]
    policies = sorted({q.policy for q in queues})
    summary: dict[str, Any] = {
        "status": status,
        "exit_code": exit_code,
        "message": message,
        "model": {"path": str(backend.path), "backend": backend.name, "kind": backend.metadata.kind,
                  "precision": backend.metadata.precision, "providers": getattr(backend, "providers", None)},
    }
    if len(slots) == 1:
        slot = slots[0]
        summary["source"] = {"spec": slot.spec, "description": slot.source.description if slot.source else None,
                             "live": slot.source.live if slot.source else None,
                             **(slot.capture.properties if slot.capture is not None else {})}
    else:
        summary["sources"] = [slot.summary() for slot in slots]
    summary.update({
        "frames": {"captured": sum(c.frames_read for c in captures), "processed": stats.processed,
                   "dropped": sum(q.dropped for q in queues)},
        "queue": {"size": queue_size, "policy": (policies[0] if len(policies) == 1 else policies) if policies else None,
                  "high_water": max((q.high_water for q in queues), default=0)},
        "batching": {"max_frames": batch_cap, "max_wait_ms": batch_wait_ms},
        "reconnects": sum(c.reconnects for c in captures),
        "outputs": outputs,
        "memory_mb": process_memory_mb(),
        **stats.summary(),
    })
    frames = summary["frames"]
    frames["unprocessed"] = frames["captured"] - frames["processed"] - frames["dropped"]
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-run report for people (stderr)."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    def rate(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    frames, lat, stages = summary["frames"], summary["latency_ms"], summary["stage_ms_per_frame"]
    queue = summary["queue"]
    policy = "/".join(queue["policy"]) if isinstance(queue["policy"], list) else queue["policy"]
    lines = [
        f"{summary['status']} (exit {summary['exit_code']}): {frames['processed']} frames in "
        f"{summary['elapsed_s']:.1f} s, {rate(summary['fps'])} fps; "
        f"latency p50 {ms(lat['p50'])} ms, p95 {ms(lat['p95'])} ms; dropped {frames['dropped']} of "
        f"{frames['captured']} captured (queue {queue['size']}, {policy}, high water {queue['high_water']})",
        "per frame: " + ", ".join(f"{stage} {ms(value)} ms" for stage, value in stages.items()),
    ]
    for source in summary.get("sources", ()):
        f, latency = source["frames"], source["latency_ms"]
        lines.append(f"  [{source['id']}] {source['description']}: {source['status']}, {f['processed']} frames, "
                     f"{rate(source['fps'])} fps, latency p50 {ms(latency['p50'])} ms p95 {ms(latency['p95'])} ms, "
                     f"dropped {f['dropped']} of {f['captured']}, reconnects {source['reconnects']}")
    if summary["message"]:
        lines.append(f"reason: {summary['message']}")
    return "\n".join(lines)

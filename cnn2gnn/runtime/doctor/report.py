"""Run every doctor probe and render the report as text or as a JSON-ready dict."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Callable

from cnn2gnn.runtime.doctor import device_probes, library_probes
from cnn2gnn.runtime.doctor.findings import Finding, ProbeContext, Section

# In report order; a new probe is one function of a ProbeContext returning a Section, listed here.
PROBES: tuple[tuple[str, Callable[[ProbeContext], Section]], ...] = (
    ("cnn2gnn", library_probes.python_section),
    ("opencv", library_probes.opencv_section),
    ("onnxruntime", library_probes.onnxruntime_section),
    ("tensorrt", library_probes.tensorrt_section),
    ("cuda", device_probes.cuda_section),
    ("jetson", device_probes.jetson_section),
    ("cameras", device_probes.cameras_section),
)


def run_doctor(context: ProbeContext | None = None) -> list[Section]:
    """Every probe's section. A probe that fails reports its error as a finding: one broken library
    must not hide what the rest of the report says."""
    ctx = context or ProbeContext()
    sections = []
    for name, probe in PROBES:
        try:
            section = probe(ctx)
        except Exception as exc:  # noqa: BLE001 - the report must come out whatever a library does
            section = Section(name, findings=[Finding(
                f"probing {name} failed: {type(exc).__name__}: {exc}", f"the {name} facts of this report",
                "paste this report into a cnn2gnn issue")])
        sections.append(section)
    return sections


def doctor_dict(sections: list[Section]) -> dict[str, Any]:
    findings = [{"section": s.name, **asdict(f)} for s in sections for f in s.findings]
    return {"sections": {s.name: s.to_dict() for s in sections}, "findings": findings}


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "not found" if value is None else str(value)


def format_doctor(sections: list[Section]) -> str:
    lines = []
    for section in sections:
        lines.append(f"{section.name}:")
        width = max((len(k) for k in section.facts), default=0)
        lines += [f"  {key:<{width}}  {_value(value)}" for key, value in section.facts.items()]
    findings = [f for s in sections for f in s.findings]
    if findings:
        lines.append(f"\n{len(findings)} finding{'s' if len(findings) > 1 else ''} blocking a feature:")
        for finding in findings:
            lines.append(f"  - {finding.problem}\n    blocks: {finding.blocks}\n    fix: {finding.fix}")
    else:
        lines.append("\nnothing blocks a cnn2gnn feature here")
    return "\n".join(lines)

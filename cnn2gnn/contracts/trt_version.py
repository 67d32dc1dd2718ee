"""TensorRT version numbers and what each version can do, decided from the number alone.

The 10-vs-11 differences the builder depends on (TensorRT release notes and migration guide):
- 10.1 deprecated the implicit-INT8 calibrators; 11.0 removed them, ``config.int8_calibrator`` and
  the precision builder flags (FP16, INT8, BF16, ...). Every 11.x network is strongly typed.
- The STRONGLY_TYPED network flag exists from 9.x on; 8.x builds Q/DQ models with the INT8 flag.
- Version- and hardware-compatible engines exist from 8.6 on.

Kept free of TensorRT itself so every branch is tested on a machine without it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from cnn2gnn.contracts.errors import Cnn2GnnError

_VERSION_RE = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")


class TrtVersion(NamedTuple):
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def supports_implicit_int8(self) -> bool:
        """Calibrator-based INT8 (IInt8EntropyCalibrator2 + INT8 flag): up to 10.x."""
        return self.major <= 10

    @property
    def implicit_int8_deprecated(self) -> bool:
        return (self.major, self.minor) >= (10, 1)

    @property
    def supports_precision_flags(self) -> bool:
        """BuilderFlag.FP16 / INT8 exist (weakly typed networks): before 11."""
        return self.major < 11

    @property
    def strongly_typed_only(self) -> bool:
        """Every network is strongly typed; the precision comes from the ONNX file alone."""
        return self.major >= 11

    @property
    def has_strongly_typed_flag(self) -> bool:
        """NetworkDefinitionCreationFlag.STRONGLY_TYPED must be asked for (9.x and 10.x)."""
        return 9 <= self.major <= 10

    @property
    def has_progress_monitor(self) -> bool:
        """trt.IProgressMonitor and config.progress_monitor (documented from 10.0)."""
        return self.major >= 10

    @property
    def supports_version_compatible(self) -> bool:
        return (self.major, self.minor) >= (8, 6)

    @property
    def supports_hardware_compatibility(self) -> bool:
        return (self.major, self.minor) >= (8, 6)

    @property
    def refit_may_drop_gemm_bias(self) -> bool:
        """TensorRT 11.3's release notes list a known issue: with BuilderFlag.REFIT a GEMM's bias can be dropped.
        Not known to be fixed in a later release, so every version from 11.3 on is treated as affected."""
        return (self.major, self.minor) >= (11, 3)


def parse_trt_version(text: str) -> TrtVersion:
    """``"10.3.0.26"`` / ``"8.6.1.post1"`` / ``"11.0"`` -> ``TrtVersion(major, minor, patch)``.

    The fourth (build) component is dropped: engines and caches are keyed on major.minor.patch.
    """
    match = _VERSION_RE.match(str(text))
    if match is None:
        raise Cnn2GnnError(f"cannot read a TensorRT version from {text!r}; expected e.g. '10.3.0'")
    major, minor, patch = match.groups()
    return TrtVersion(int(major), int(minor), int(patch or 0))

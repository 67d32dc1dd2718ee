"""Range checks for numeric settings, shared by the config dataclasses (training, models, distillation).

A config validates its own fields, so a library caller gets the same one-line error as the CLI
(``Cnn2GnnError``: the setting, the value and the allowed range) before any data is loaded. Names
are written ``field (--flag)``: a library user knows the field, a CLI user the flag.
"""

from __future__ import annotations

import math
import numbers

from cnn2gnn.contracts.errors import Cnn2GnnError

MAX_SEED = 2**32 - 1  # numpy's seed range
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # TensorRT's index type, Triton's and nvinfer's batch fields


def require_int_in(name: str, value: int, low: int, high: int) -> int:
    """``value`` is an integer in ``low..high`` (both included)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise Cnn2GnnError(f"{name} must be an integer in {low}..{high}, got {value!r}")
    return value


def require_float_in(name: str, value: float, low: float, high: float, *, low_open: bool = False,
                     high_open: bool = False) -> float:
    """``value`` is a finite number between ``low`` and ``high``; ``*_open`` leaves that end out."""
    # Anything but a real number (None, a string, a bool from a hand-edited config) is refused like NaN: float()
    # would raise a bare TypeError for None and let "0.5" through while the setting keeps the string.
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = float(value) if real else math.nan
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (math.isfinite(number) and above and below):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise Cnn2GnnError(f"{name} must be a finite number in {interval}, got {value!r}")
    return number

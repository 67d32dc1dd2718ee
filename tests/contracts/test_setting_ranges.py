from __future__ import annotations

import math

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.setting_ranges import require_float_in, require_int_in


def test_values_in_range_pass_through() -> None:
    assert require_int_in("n", 3, 1, 3) == 3 and require_int_in("n", np.int64(2), 1, 3) == 2
    assert require_float_in("x", 0.0, 0.0, 1.0) == 0.0 and require_float_in("x", 1, 0.0, 1.0) == 1.0
    assert require_float_in("x", np.float32(0.25), 0.0, 1.0) == 0.25


@pytest.mark.parametrize(("value", "message"), [
    (0, r"n \(--n\) must be an integer in 1\.\.3, got 0"), (2.5, "got 2.5"), (True, "got True"), ("2", "got '2'"),
])
def test_bad_integers(value: object, message: str) -> None:
    with pytest.raises(Cnn2GnnError, match=message):
        require_int_in("n (--n)", value, 1, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "kw", "interval"), [
    (math.nan, {}, "[0, 1]"), (math.inf, {}, "[0, 1]"), (0.0, {"low_open": True}, "(0, 1]"),
    (1.0, {"high_open": True}, "[0, 1)"), (-1e-9, {}, "[0, 1]"),
])
def test_bad_floats_name_the_interval(value: float, kw: dict, interval: str) -> None:
    with pytest.raises(Cnn2GnnError) as err:
        require_float_in("x", value, 0.0, 1.0, **kw)
    assert str(err.value) == f"x must be a finite number in {interval}, got {value!r}"


@pytest.mark.parametrize("value", [None, "0.5", "abc", True, [0.5]])
def test_a_float_setting_that_is_not_a_number_is_refused_by_name(value: object) -> None:
    with pytest.raises(Cnn2GnnError) as err:
        require_float_in("dropout (--dropout)", value, 0.0, 1.0)  # type: ignore[arg-type]
    assert str(err.value) == f"dropout (--dropout) must be a finite number in [0, 1], got {value!r}"


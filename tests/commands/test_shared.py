"""Option-value parsing: a bad value is a :class:`Cnn2GnnError` naming the option and the value."""

from __future__ import annotations

import pytest

from cnn2gnn.commands._shared import parse_floats, parse_positive_ints, require_at_least
from cnn2gnn.contracts.errors import Cnn2GnnError


def test_parse_floats() -> None:
    assert parse_floats("0.5,0.25, 1", "--mean") == (0.5, 0.25, 1.0)
    assert parse_floats(None, "--mean") is None
    with pytest.raises(Cnn2GnnError, match=r"^--std takes comma-separated numbers, .*; got '0\.5,x'$"):
        parse_floats("0.5,x", "--std")


def test_parse_positive_ints() -> None:
    assert parse_positive_ints("1, 8,64,", "--batch-sizes") == [1, 8, 64]
    for bad in ("", "1,x", "0", "1,-2", ","):
        with pytest.raises(Cnn2GnnError, match=rf"^--batch-sizes takes comma-separated positive .*; got {bad!r}$"):
            parse_positive_ints(bad, "--batch-sizes")


def test_require_at_least() -> None:
    assert require_at_least(3, 1, "--workspace-mib") == 3
    with pytest.raises(Cnn2GnnError, match=r"^--workspace-mib must be at least 1, got 0$"):
        require_at_least(0, 1, "--workspace-mib")

"""A record's missing or mistyped field is named with the record and the fix."""

from __future__ import annotations

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.record_fields import require_fields

TYPES = {"name": str, "count": int, "graph": (dict, type(None))}


@pytest.mark.parametrize("data, message", [
    ({"count": 1}, "f.json: the record lacks the field 'name'; fix it"),
    ({"name": "a", "count": True}, "f.json: the record field 'count' is true or false, expected an integer; fix it"),
    ({"name": "a", "graph": []}, "f.json: the record field 'graph' is a list, expected an object or null; fix it"),
])
def test_a_missing_or_mistyped_field_is_named(data: dict, message: str) -> None:
    with pytest.raises(Cnn2GnnError) as caught:
        require_fields(data, ("name",), TYPES, "f.json: the record", "fix it")
    assert str(caught.value) == message


def test_a_record_of_the_right_types_passes() -> None:
    require_fields({"name": "a", "count": 2, "graph": None}, ("name",), TYPES, "f.json: the record", "fix it")

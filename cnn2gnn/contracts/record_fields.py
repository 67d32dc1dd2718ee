"""A stored record's fields (a checkpoint's, a model's metadata) checked before they are read: a damaged or
hand-edited field is named where it is read, not where it first breaks something."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from cnn2gnn.contracts.errors import Cnn2GnnError

# How a type is named to the user: the records are JSON or plain Python data.
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
               bool: "true or false", type(None): "null"}


def require_fields(data: Mapping[str, Any], required: Sequence[str], types: Mapping[str, type | tuple[type, ...]],
                   what: str, fix: str) -> None:
    """Refuse ``data`` lacking a ``required`` field, or holding a field of another type than ``types`` gives (a bool
    is not an integer). ``what`` starts each message (``"FILE: the checkpoint"``); ``fix`` ends it."""
    missing = next((name for name in required if name not in data), None)
    if missing is not None:
        raise Cnn2GnnError(f"{what} lacks the field {missing!r}; {fix}")
    for name, expected in types.items():
        allowed = expected if isinstance(expected, tuple) else (expected,)
        value = data.get(name)
        if name in data and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            wanted = " or ".join(_TYPE_NAMES.get(t, f"a {t.__name__}") for t in allowed)
            found = _TYPE_NAMES.get(type(value), f"a {type(value).__name__}")
            raise Cnn2GnnError(f"{what} field {name!r} is {found}, expected {wanted}; {fix}")

"""How two class lists differ, said so a person sees it at once (counts, then the first difference)."""

from __future__ import annotations

from typing import Sequence


def class_list_difference(a: Sequence[str], b: Sequence[str]) -> str | None:
    """``None`` when ``a`` and ``b`` are the same list, else e.g.
    ``"10 vs 201 classes; the first difference is class 10: none vs '10'"``."""
    a, b = [str(c) for c in a], [str(c) for c in b]
    if a == b:
        return None
    index = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

    def at(names: list[str]) -> str:
        return repr(names[index]) if index < len(names) else "none"

    counts = f"{len(a)} vs {len(b)} classes" if len(a) != len(b) else f"{len(a)} classes each"
    return f"{counts}; the first difference is class {index}: {at(a)} vs {at(b)}"

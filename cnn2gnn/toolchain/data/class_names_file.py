"""A class-names file: one name per line, in label order (line 1 names label 0), UTF-8. IDX sets look for
one beside their files (:data:`CLASS_NAMES_FILE`), since the format itself stores labels only."""

from __future__ import annotations

from pathlib import Path

from cnn2gnn.contracts.errors import Cnn2GnnError

CLASS_NAMES_FILE = "classes.txt"


def read_class_names(path: Path, num_classes: int | tuple[int, ...], expected: str | None = None) -> list[str]:
    """The names in ``path``, as many as ``num_classes`` (or one of several accepted counts, which ``expected``
    explains to the user); a wrong count, a blank name or a repeated one is refused."""
    counts = (num_classes,) if isinstance(num_classes, int) else num_classes
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: files saved by Windows editors start with a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise Cnn2GnnError(f"cannot read the class names in {path}: {exc}") from exc
    names = [line.strip() for line in text.rstrip().splitlines()]
    if len(names) not in counts:
        raise Cnn2GnnError(
            f"{path} has {len(names)} class name(s) but the data has "
            f"{expected or f'{counts[0]} classes (labels 0..{counts[0] - 1})'}; write one name per line, in label order"
        )
    blank = [i + 1 for i, name in enumerate(names) if not name]
    if blank:
        raise Cnn2GnnError(f"{path}: line {blank[0]} is blank; every class needs a name, one per line")
    seen: dict[str, int] = {}
    for line, name in enumerate(names, start=1):
        if name in seen:
            raise Cnn2GnnError(f"{path}: class name {name!r} is on lines {seen[name]} and {line}; names must differ")
        seen[name] = line
    return names

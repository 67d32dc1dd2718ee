"""SOURCE strings by kind: each kind registers the URL schemes it owns and/or a test for scheme-less
strings, a help line, and a factory; ``source_from_spec`` picks the kind and ``source_help`` lists them.

The built-in kinds are registered in ``sources/__init__.py``, one :func:`register_source` call each.
A string is matched by its scheme first (``rtsp://...``), then by the kinds' tests in registration order
(a camera index, an existing path, a GStreamer pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cnn2gnn.runtime.stream.exit_codes import SourceOpenError
from cnn2gnn.runtime.stream.sources.base import CaptureSettings, FrameSource

SourceFactory = Callable[[str, CaptureSettings], FrameSource]


@dataclass(frozen=True)
class SourceSpec:
    """One kind of source: ``factory(spec, settings)`` makes it (unopened) from the whole SOURCE string."""

    name: str
    help: str  # one entry of the SOURCE help, e.g. "rtsp://HOST/PATH"
    factory: SourceFactory
    schemes: tuple[str, ...] = ()  # lower case, without "://"
    matches: Callable[[str], bool] | None = None  # claims scheme-less strings (and ones of no registered scheme)


_SOURCES: dict[str, SourceSpec] = {}


def register_source(name: str, help: str, factory: SourceFactory, *, schemes: tuple[str, ...] = (),
                    matches: Callable[[str], bool] | None = None) -> SourceSpec:
    """Register a kind of source; it needs a scheme or a ``matches`` test (or both) to be reachable."""
    if name in _SOURCES:
        raise ValueError(f"a source kind named {name!r} is registered already")
    if not schemes and matches is None:
        raise ValueError(f"source kind {name!r} needs schemes or a matches test")
    owners = {scheme: other.name for other in _SOURCES.values() for scheme in other.schemes}
    clashes = {scheme: owners[scheme] for scheme in schemes if scheme in owners}
    if clashes:
        raise ValueError(f"source kind {name!r}: schemes already belong to other kinds: {clashes}")
    spec = SourceSpec(name, help, factory, tuple(s.lower() for s in schemes), matches)
    _SOURCES[name] = spec
    return spec


def registered_sources() -> tuple[SourceSpec, ...]:
    """Every registered kind of source, in registration (and matching) order."""
    return tuple(_SOURCES.values())


def source_help() -> str:
    """The SOURCE help of ``cnn2gnn run``, one entry per registered kind."""
    return "SOURCE: " + " | ".join(spec.help for spec in _SOURCES.values()) + "."


def source_from_spec(spec: str, settings: CaptureSettings | None = None) -> FrameSource:
    """The source a SOURCE string names (see :func:`source_help`); nothing is opened yet."""
    settings = settings or CaptureSettings()
    text = spec.strip()
    if not text:  # as a path it would be the working folder: an unset "$SOURCE" must not classify that
        raise SourceOpenError(f"SOURCE {spec!r} is empty; give one. {source_help()}")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    for kind in _SOURCES.values():
        if scheme in kind.schemes:
            return kind.factory(text, settings)
    for kind in _SOURCES.values():
        if kind.matches is not None and kind.matches(text):
            return kind.factory(text, settings)
    if scheme:
        raise SourceOpenError(f"{text}: unknown source scheme {scheme}://. {source_help()}")
    raise SourceOpenError(f"{text} does not exist, and is no other kind of source either. {source_help()}")

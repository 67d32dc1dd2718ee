"""The runtime's backends by name: which one a model file's suffix implies, what options it takes, how to load it.

A backend is one :class:`BackendSpec`. Its factory is a ``"module:attr"`` string, so the registry, and
the CLI help generated from it, import no backend module and no backend library: the factory's module
is imported when a model is loaded. The built-in backends are registered in ``backends/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import lazy_import

if TYPE_CHECKING:
    from cnn2gnn.runtime.backends.runner import Runner


@dataclass(frozen=True)
class BackendSpec:
    """One backend: ``factory(path, **options)`` returns a :class:`~cnn2gnn.runtime.backends.runner.Runner`."""

    name: str
    suffixes: tuple[str, ...]  # model files it runs by default, lower case with the dot: (".onnx",)
    factory: str  # "package.module:Attr"
    options: Mapping[str, str] = field(default_factory=dict)  # keyword argument of the factory -> what it does
    install_hint: str = ""  # what to install when the factory's module cannot be imported

    def __post_init__(self) -> None:
        module, sep, attr = self.factory.partition(":")
        if not (module and sep and attr):
            raise ValueError(f"backend {self.name!r}: factory must be 'module:attr', got {self.factory!r}")
        bad = [s for s in self.suffixes if not s.startswith(".") or s != s.lower()]
        if bad:
            raise ValueError(f"backend {self.name!r}: suffixes must be lower case and start with '.', got {bad}")


_BACKENDS: dict[str, BackendSpec] = {}


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add ``spec``; a name or a suffix that another backend has already is a programming error."""
    if spec.name in _BACKENDS:
        raise ValueError(f"a backend named {spec.name!r} is registered already")
    owners = {suffix: other.name for other in _BACKENDS.values() for suffix in other.suffixes}
    clashes = {suffix: owners[suffix] for suffix in spec.suffixes if suffix in owners}
    if clashes:
        raise ValueError(f"backend {spec.name!r}: suffixes already belong to other backends: {clashes}")
    _BACKENDS[spec.name] = spec
    return spec


def registered_backends() -> tuple[BackendSpec, ...]:
    """Every registered backend, in registration order."""
    return tuple(_BACKENDS.values())


def _names() -> str:
    return ", ".join(_BACKENDS)


def backend_for_path(path: str | Path, backend: str | None = None) -> BackendSpec:
    """The backend named ``backend``, or the one the suffix of ``path`` implies."""
    if backend is not None:
        try:
            return _BACKENDS[backend]
        except KeyError:
            raise Cnn2GnnError(f"backend {backend!r} unknown; use one of: {_names()}") from None
    suffix = Path(path).suffix.lower()
    for spec in _BACKENDS.values():
        if suffix in spec.suffixes:
            return spec
    known = " / ".join(s for spec in _BACKENDS.values() for s in spec.suffixes)
    raise Cnn2GnnError(
        f"{path}: cannot tell the backend from the suffix {suffix!r}; name the file {known} "
        f"or pass --backend ({_names()})"
    )


def _refused_options(spec: BackendSpec, unknown: list[str]) -> str:
    reasons = []
    for option in unknown:
        takers = [other.name for other in _BACKENDS.values() if option in other.options]
        reasons.append(f"option {option!r} " + (f"applies to the {' / '.join(takers)} backend only" if takers
                                                else "is an option of no backend"))
    takes = ", ".join(spec.options) or "no options"
    return f"{'; '.join(reasons)}; the {spec.name} backend takes {takes}"


def require_model_file(path: str | Path) -> Path:
    """``path``, refused when it is a folder or missing (ONNX Runtime's own message guesses a corrupt model)."""
    p = Path(path)
    if p.is_dir():
        raise Cnn2GnnError(f"model file {p} is a folder; give the model file in it (.onnx, or an engine)")
    if not p.is_file():
        raise Cnn2GnnError(f"model file {p} does not exist")
    return p


def load_backend(path: str | Path, backend: str | None = None, **options: Any) -> Runner:
    """Load ``path`` with the named backend, or the one its suffix implies (see :func:`backend_help`).

    ``options`` go to the backend's factory; one it does not declare is refused, and one left at None
    counts as not given (so a caller can pass every option it has and let the backend default the rest).
    """
    p = require_model_file(path)
    spec = backend_for_path(p, backend)
    given = {name: value for name, value in options.items() if value is not None}
    unknown = sorted(set(given) - set(spec.options))
    if unknown:
        raise Cnn2GnnError(_refused_options(spec, unknown))
    module_name, _, attr = spec.factory.partition(":")
    factory = getattr(lazy_import(module_name, spec.install_hint, f"the {spec.name} backend"), attr)
    return factory(p, **given)


def backend_help() -> str:
    """The ``--backend`` help: every registered backend and the suffixes that pick it."""
    by_suffix = ", ".join(f"{'/'.join(spec.suffixes)} -> {spec.name}" for spec in _BACKENDS.values() if spec.suffixes)
    return f"{' | '.join(_BACKENDS)} (default: from the suffix: {by_suffix})."


def backend_option_help(option: str) -> str:
    """The help of a backend option (e.g. ``threads``) and which backends take it."""
    takers = [spec for spec in _BACKENDS.values() if option in spec.options]
    if not takers:
        raise ValueError(f"no registered backend takes an option {option!r}")
    names = " / ".join(spec.name for spec in takers)
    return f"{takers[0].options[option]} ({names} backend{'s' if len(takers) > 1 else ''} only)."

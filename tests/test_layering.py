"""The layering the package is built on, enforced.

Contracts sit at the bottom and import nothing above them; the torch-free runtime imports only the
contracts and itself; the training toolchain never reaches into the runtime, the engine builder or
the CLI; only the CLI imports its command modules. The static checks read every ``cnn2gnn/**/*.py``
with ``ast`` (imports inside functions and ``TYPE_CHECKING`` blocks included, plus
``importlib.import_module``/``lazy_import`` calls on a literal name); the dynamic check imports every
runtime module in a fresh interpreter and looks at what got loaded.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "cnn2gnn"
# Calls that import the module named by their first (literal) argument.
_IMPORTING_CALLS = {"import_module", "lazy_import", "__import__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join(base + ([module] if module else []))


def imported_modules(source: str, importer: str, is_package: bool = False) -> set[str]:
    """Every module ``source`` (the code of module ``importer``) imports, anywhere in the file.

    ``from pkg import name`` counts as importing ``pkg.name`` as well as ``pkg``: the name may be a
    submodule, and the checks below only look at prefixes, so an attribute adds nothing wrong.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(importer, is_package, node.level, node.module) if node.level else node.module
            if base:
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            first = node.args[0]
            if name in _IMPORTING_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
    return found


def _package_imports() -> dict[str, set[str]]:
    """module name -> the ``cnn2gnn`` modules it imports, for every module of the package."""
    result = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        name = module_name(path)
        imports = imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        result[name] = {m for m in imports if m == "cnn2gnn" or m.startswith("cnn2gnn.")}
    return result


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(importers: str, allowed: tuple[str, ...] = (), forbidden: tuple[str, ...] = ()) -> list[str]:
    """``importer -> imported`` for every module under ``importers`` that imports a ``cnn2gnn`` module
    outside ``allowed`` (when given) or inside ``forbidden``."""
    found = []
    for importer, imports in _package_imports().items():
        if not _within(importer, importers):
            continue
        for imported in sorted(imports):
            outside = bool(allowed) and not any(imported == a or _within(imported, a) for a in allowed)
            if outside or any(_within(imported, f) for f in forbidden):
                found.append(f"{importer} -> {imported}")
    return found


def test_the_import_reader_sees_function_level_relative_and_dynamic_imports() -> None:
    source = textwrap.dedent("""
        import os
        from . import sibling
        from ..engine import engine_from_onnx
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from cnn2gnn.toolchain.data import load_dataset
        def later():
            import cnn2gnn.export.parity
            lazy_import("cnn2gnn.calibration.calibrate_onnx", "hint")
            importlib.import_module("torch")
    """)
    found = imported_modules(source, "cnn2gnn.runtime.compare")
    assert {"os", "cnn2gnn.runtime", "cnn2gnn.runtime.sibling", "cnn2gnn.engine", "cnn2gnn.engine.engine_from_onnx",
            "cnn2gnn.toolchain.data", "cnn2gnn.toolchain.data.load_dataset", "cnn2gnn.export.parity",
            "cnn2gnn.calibration.calibrate_onnx", "torch"} <= found
    assert "cnn2gnn.runtime.stream" in imported_modules("from . import stream", "cnn2gnn.runtime", is_package=True)


def test_every_layer_is_found() -> None:
    names = set(_package_imports())
    for package in ("cnn2gnn.contracts", "cnn2gnn.runtime", "cnn2gnn.toolchain", "cnn2gnn.export", "cnn2gnn.engine"):
        assert any(_within(n, package) for n in names), package


# ``from cnn2gnn import __version__`` names the package root, which is below everything: it imports nothing.
ROOT_VERSION = ("cnn2gnn.__version__",)


def _without_root(violations: list[str]) -> list[str]:
    return [v for v in violations if not v.endswith(" -> cnn2gnn")]


def test_the_package_root_imports_nothing_of_its_own() -> None:
    assert _package_imports()["cnn2gnn"] == set()


def test_contracts_import_nothing_above_them() -> None:
    assert _without_root(_violations("cnn2gnn.contracts", allowed=("cnn2gnn.contracts", *ROOT_VERSION))) == []


def test_runtime_imports_only_contracts_and_itself() -> None:
    allowed = ("cnn2gnn.contracts", "cnn2gnn.runtime", *ROOT_VERSION)
    assert _without_root(_violations("cnn2gnn.runtime", allowed=allowed)) == []


def test_toolchain_does_not_import_deployment_or_the_cli() -> None:
    forbidden = ("cnn2gnn.runtime", "cnn2gnn.engine", "cnn2gnn.commands", "cnn2gnn.cli")
    assert _violations("cnn2gnn.toolchain", forbidden=forbidden) == []


def test_only_the_cli_imports_the_command_modules() -> None:
    found = [f"{importer} -> {imported}" for importer, imports in _package_imports().items()
             if importer != "cnn2gnn.cli" and not _within(importer, "cnn2gnn.commands")
             for imported in sorted(imports) if _within(imported, "cnn2gnn.commands")]
    assert found == []


RUNTIME_MUST_NOT_LOAD = ("cnn2gnn.toolchain", "cnn2gnn.export", "cnn2gnn.calibration", "cnn2gnn.engine", "torch")


def test_importing_every_runtime_module_loads_no_training_or_builder_code() -> None:
    """Fresh interpreter: this test process has long since imported torch and the toolchain."""
    script = textwrap.dedent(f"""
        import importlib, json, pkgutil, sys
        import cnn2gnn.runtime

        failed = {{}}
        names = [m.name for m in pkgutil.walk_packages(cnn2gnn.runtime.__path__, "cnn2gnn.runtime.",
                                                        onerror=lambda name: failed.setdefault(name, "walk"))]
        for name in names:
            try:
                importlib.import_module(name)
            except Exception as exc:
                failed[name] = f"{{type(exc).__name__}}: {{exc}}"
        forbidden = {RUNTIME_MUST_NOT_LOAD!r}
        loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden))
        print(json.dumps({{"modules": names, "failed": failed, "loaded": loaded}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(result["modules"]) > 5, result["modules"]
    assert result["failed"] == {}
    assert result["loaded"] == []


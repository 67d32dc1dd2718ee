#!/usr/bin/env bash
# Type-check the TensorRT-facing modules with pyright against tensorrt-stubs (TensorRT 10.x API).
#
# TensorRT itself cannot be installed without NVIDIA's libraries, but its type stubs can, and pyright
# reads them (mypy cannot: a stub parameter named `in` is a syntax error to it). The stubs go into
# .cache/tensorrt-stubs (pyrightconfig.json's stubPath), not site-packages: installed there they
# leave an empty `tensorrt` namespace package that makes `import tensorrt` succeed.
# Names removed in TensorRT 11 still type-check here; the 10-vs-11 logic has its own tests
# (tests/engine/test_build_plan.py).
#
# Usage: bash tools/typecheck_tensorrt.sh   (PYTHON=... picks the interpreter whose packages pyright
# resolves; default: .venv/bin/python when present, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
STUBS_DIR=.cache/tensorrt-stubs
TENSORRT_STUBS="tensorrt-stubs==10.13.0.35.1"
PYRIGHT="pyright==1.1.414"

if ! "$PYTHON" -m pyright --version >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps "$PYRIGHT"
fi
if [ ! -f "$STUBS_DIR/tensorrt/__init__.pyi" ]; then
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --target "$STUBS_DIR" "$TENSORRT_STUBS"
fi
exec "$PYTHON" -m pyright --pythonpath "$("$PYTHON" -c 'import sys; print(sys.executable)')" -p pyrightconfig.json

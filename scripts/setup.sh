#!/usr/bin/env bash
# Create .venv and install cnn2gnn with everything training, export, calibration and the tests need.
# Idempotent: a second run only checks what is installed.
#
# torch is pinned and installed first: an unpinned torch on a machine without one pulls a
# multi-GB CUDA build. On a CPU-only machine elsewhere add
#   TORCH_INDEX="--index-url https://download.pytorch.org/whl/cpu"
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
pip_install() { .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@"; }
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    # shellcheck disable=SC2086
    pip_install ${TORCH_INDEX:-} "$TORCH_SPEC"
fi
pip_install -e ".[train,dev]"
.venv/bin/python -c "import cnn2gnn, torch, onnx, onnxruntime, cv2; print('cnn2gnn', cnn2gnn.__version__, '| torch', torch.__version__, '| onnxruntime', onnxruntime.__version__, '| cv2', cv2.__version__)"

"""``cnn2gnn refit``: a refittable engine takes the anchor bank of an enrolled model, without a rebuild.

First what needs no TensorRT (``cnn2gnn.engine.refit_weights``): the engine's sidecar says it was built
with ``--refittable``, the new model is the engine's model outside its anchor bank and keeps every bank
weight's shape and dtype, and the engine file is the one its sidecar describes. Then TensorRT: the engine is
deserialized (checked against this TensorRT and GPU first), ``trt.Refitter`` gets each bank weight whose
values changed by name (the ONNX parser names weights after the initializers), then whatever TensorRT
reports missing (weights it combined with a changed one at build time; taken from the model, whose non-bank
part is the engine's), ``refit_cuda_engine`` runs and the engine is serialized again.

The refitted engine and its sidecar (keyed by the new model's ONNX and bank sha256, so neither the old
engine matches the new model nor the new engine the old one) go to a staging folder beside the output, are
checked against ONNX Runtime (``cnn2gnn.engine.refit_check``) and renamed into place only when they pass:
the engine given is replaced only when ``-o`` names it, and a failed refit leaves nothing behind.
TensorRT is imported when a refit runs, never at module import.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.engine_sidecar import EngineSidecar, read_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import query_gpu_info
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.engine.engine_cache import publish_staged_engine
from cnn2gnn.engine.engine_from_onnx import write_engine_files
from cnn2gnn.engine.engine_key import decide_engine_reuse, resolve_engine_path
from cnn2gnn.engine.onnx_facts import read_onnx_facts
from cnn2gnn.engine.refit_check import check_refitted_engine
from cnn2gnn.engine.refit_weights import (
    RefitWeights,
    changed_weights,
    refit_weights_from_onnx,
    refitted_key,
    refitted_sidecar,
    require_refittable,
)
from cnn2gnn.runtime.backends.tensorrt.loader import LoadedEngine, engine_from_file
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import require_tensorrt

STAGING_PREFIX = ".refitting-"


@dataclass
class RefitResult:
    engine_path: Path
    source_engine: Path
    sidecar: EngineSidecar
    reused: bool  # True: the output already held this model's bank; nothing was refitted
    weights_set: list[str]
    check: dict[str, Any] | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": str(self.engine_path),
            "sidecar": str(sidecar_path(self.engine_path)),
            "source_engine": str(self.source_engine),
            "source_onnx": self.sidecar.source_onnx,
            "reused": self.reused,
            "weights_set": list(self.weights_set),
            "check": self.check,
            "bank_sha256": self.sidecar.key.get("bank_sha256"),
            "engine_sha256": self.sidecar.engine_sha256,
            "seconds": round(self.seconds, 3),
        }


def _refitted_plan(loaded: LoadedEngine, weights: RefitWeights, names: list[str], engine_path: Path
                   ) -> tuple[bytes, list[str]]:
    """Set ``names`` (and whatever TensorRT then reports missing) from ``weights``, refit, serialize; returns the
    engine bytes and every weight set."""
    import tensorrt as trt

    rebuild = f"build an engine from {weights.source} instead (`cnn2gnn build {weights.source} --refittable`)"
    engine: trt.ICudaEngine = loaded.engine
    if not engine.refittable:
        raise Cnn2GnnError(f"{engine_path}: TensorRT says the engine is not refittable although its sidecar says it "
                           f"is; {rebuild}")
    refitter = trt.Refitter(engine, loaded.logger)
    folded = sorted(set(names) - set(refitter.get_all_weights()))
    if folded:
        raise Cnn2GnnError(f"{engine_path}: TensorRT built {', '.join(folded)} into the engine as constants it cannot "
                           f"refit; {rebuild}")
    # trt.Weights wraps the array without copying: every array must stay alive until refit_cuda_engine returns.
    held: dict[str, np.ndarray] = {}

    def set_weight(name: str, array: np.ndarray) -> None:
        held[name] = np.ascontiguousarray(array)
        if not refitter.set_named_weights(name, trt.Weights(held[name])):
            said = "; ".join(loaded.logger.errors[-3:]) or "no reason logged"
            raise Cnn2GnnError(f"TensorRT refused the new {name} ({'x'.join(map(str, array.shape))} {array.dtype}) "
                               f"for {engine_path}: {said}; {rebuild}")

    for name in names:
        set_weight(name, weights.bank[name])
    while missing := [name for name in refitter.get_missing_weights() if name not in held]:
        for name in missing:
            array = weights.bank.get(name, weights.others.get(name))
            if array is None:
                raise Cnn2GnnError(f"{engine_path}: TensorRT needs the weight {name!r} for this refit, which "
                                   f"{weights.source.name} has no initializer of; {rebuild}")
            set_weight(name, array)
    still_missing = list(refitter.get_missing_weights())
    if still_missing:
        raise Cnn2GnnError(f"{engine_path}: TensorRT still reports missing weights {still_missing}; {rebuild}")
    if not refitter.refit_cuda_engine():
        said = "; ".join(loaded.logger.errors[-3:]) or "no reason logged"
        raise Cnn2GnnError(f"TensorRT could not refit {engine_path}: {said}; {rebuild}")
    return bytes(engine.serialize()), sorted(held)


def refit_engine(engine_path: str | Path, onnx_path: str | Path, out: str | Path | None = None, check: bool = True,
                 force: bool = False) -> RefitResult:
    """Refit the engine at ``engine_path`` with the anchor bank of ``onnx_path``; see ``cnn2gnn refit --help``.

    ``out``: the refitted engine's file (.engine / .plan / .trt; may be ``engine_path`` itself) or folder (default:
    ``engine_path``'s), where it gets the default name of its key. ``check``: compare it with ONNX Runtime before
    writing it. ``force``: replace an ``out`` that holds another engine.
    """
    engine_path, onnx_path = Path(engine_path), Path(onnx_path)
    if not engine_path.is_file():
        raise Cnn2GnnError(f"engine {engine_path} does not exist; build one with `cnn2gnn build MODEL --refittable`")
    sidecar = read_engine_sidecar(engine_path)
    facts = read_onnx_facts(onnx_path)
    weights = refit_weights_from_onnx(onnx_path)
    require_refittable(sidecar, weights, engine_path)
    if sha256_file(engine_path) != sidecar.engine_sha256:
        raise Cnn2GnnError(f"{engine_path} is not the engine its sidecar describes (sha256 differs: truncated or "
                           "altered); rebuild it with `cnn2gnn build ... --refittable`")
    key = refitted_key(sidecar.key, facts)
    target = resolve_engine_path(out if out is not None else engine_path.parent, onnx_path, key)
    in_place = target.resolve() == engine_path.resolve()
    if (in_place and sidecar.key == key) or (not in_place and decide_engine_reuse(target, key, force)):
        return RefitResult(target, engine_path, read_engine_sidecar(target), True, [], None, 0.0)

    require_tensorrt()  # says how to install TensorRT where it is missing
    import tensorrt

    gpu = query_gpu_info()
    started = time.perf_counter()
    loaded = engine_from_file(tensorrt, engine_path, gpu.name, gpu.compute_capability)
    data, weights_set = _refitted_plan(loaded, weights, changed_weights(sidecar, weights), engine_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target.parent))
    try:
        staged = staging / target.name
        write_engine_files(staged, data, refitted_sidecar(sidecar, facts, weights, data, weights_set, None))
        result = None
        if check:
            result = check_refitted_engine(staged, onnx_path, facts.metadata, sidecar.precision)
            if not result["passed"]:
                raise Cnn2GnnError(
                    f"the engine refitted from {onnx_path.name} does not compute what ONNX Runtime computes on its "
                    f"{result['images']} anchors: {'; '.join(result['problems'])}. Nothing was written; build an "
                    f"engine from it instead (`cnn2gnn build {onnx_path}`)")
            write_engine_files(staged, data, refitted_sidecar(sidecar, facts, weights, data, weights_set, result))
        publish_staged_engine(staged, target, key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RefitResult(target, engine_path, read_engine_sidecar(target), False, weights_set, result,
                       time.perf_counter() - started)

"""The weights ``cnn2gnn refit`` sets, read from an ONNX model, and whether a refittable engine can take them.

TensorRT refits a weight only with the element count and type it had at build time, and a refit changes
weights, not the graph. So an engine takes a new model's anchor bank only when everything outside the bank
is what the engine was built from (:func:`~cnn2gnn.export.anchor_bank_onnx.non_bank_checksum`) and every
bank weight keeps its build-time shape and dtype: what ``cnn2gnn enroll --append`` of a trained class into
reserved room (``export --bank-capacity``) produces (more images of an enrolled class fit its column of the
last layer again, which is outside the bank). ``build --refittable`` records both in the engine's sidecar
(:func:`refit_record`); :func:`refit_problems` compares a new model with that record, and
:func:`refitted_sidecar` describes the refitted engine under the new model's key.

Everything here runs without TensorRT (onnx is imported only when a model is read), so it is tested on any
machine; ``cnn2gnn.engine.engine_refit`` is the TensorRT part.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from cnn2gnn import __version__
from cnn2gnn.contracts.anchor_bank import BANK_KEY
from cnn2gnn.contracts.atomic_io import sha256_bytes
from cnn2gnn.contracts.engine_sidecar import EngineSidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNX_HINT, lazy_import

if TYPE_CHECKING:
    from cnn2gnn.engine.onnx_facts import OnnxFacts


@dataclass(frozen=True)
class RefitWeights:
    """An ONNX model's anchor-bank initializers (what a refit sets) and the rest of its initializers (what
    TensorRT may ask for too, when it combined a bank weight with another at build time)."""

    source: Path
    bank: dict[str, np.ndarray]
    others: dict[str, np.ndarray]
    non_bank_sha256: str

    @functools.cached_property
    def layout(self) -> dict[str, dict[str, Any]]:
        """Each bank weight's shape, dtype and sha256 of its values (hashed once: a refit reads it several times)."""
        return {name: {"shape": list(array.shape), "dtype": str(array.dtype),
                       "sha256": sha256_bytes(np.ascontiguousarray(array).tobytes())}
                for name, array in sorted(self.bank.items())}


def refit_weights_from_onnx(path: str | Path) -> RefitWeights:
    """The bank and other initializers of the exported student at ``path``; refuses a model without a bank."""
    lazy_import("onnx", ONNX_HINT, "reading the weights of a refittable engine's model")
    from onnx import numpy_helper

    from cnn2gnn.export.anchor_bank_onnx import bank_constants, non_bank_checksum
    from cnn2gnn.export.onnx_metadata import load_onnx_model

    model = load_onnx_model(Path(path))
    bank = bank_constants(model, str(path))
    others = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer if init.name not in bank}
    return RefitWeights(Path(path), bank, others, non_bank_checksum(model))


def refit_record(weights: RefitWeights) -> dict[str, Any]:
    """What a refittable engine's sidecar records about the model it holds (``EngineSidecar.refit``)."""
    return {"non_bank_sha256": weights.non_bank_sha256, "weights": weights.layout}


def _shape_text(entry: Mapping[str, Any]) -> str:
    return f"{'x'.join(str(d) for d in entry['shape']) or 'scalar'} {entry['dtype']}"


def refit_problems(sidecar: EngineSidecar, weights: RefitWeights) -> list[str]:
    """Why the engine described by ``sidecar`` cannot take ``weights`` by a refit, one reason each; empty when it can."""
    if not sidecar.refittable:
        return ["it was built without --refittable, so TensorRT cannot change its weights"]
    recorded = sidecar.refit.get("weights")
    if not isinstance(recorded, dict) or "non_bank_sha256" not in sidecar.refit:
        return ["its sidecar records no refit layout (made by another tool or an older cnn2gnn)"]
    model = weights.source.name
    problems = []
    wanted = weights.layout
    for name in sorted(set(recorded) ^ set(wanted)):
        problems.append(f"the engine holds the bank weight {name}, which {model} lacks" if name in recorded
                        else f"{model} has the bank weight {name}, which the engine lacks")
    reshaped = [f"{name} is {_shape_text(wanted[name])} in {model}, {_shape_text(recorded[name])} in the engine"
                for name in sorted(set(recorded) & set(wanted))
                if [recorded[name]["shape"], recorded[name]["dtype"]] != [wanted[name]["shape"], wanted[name]["dtype"]]]
    if reshaped:
        problems.append(f"{'; '.join(reshaped)}: a refit keeps each weight's element count and type, which a new or "
                        "removed class or another bank capacity changes (only `enroll --append` into free reserved "
                        "rows keeps them)")
    if sidecar.refit["non_bank_sha256"] != weights.non_bank_sha256:
        problems.append(
            f"{model} differs from the engine's model outside the anchor bank (another model, class count, "
            "precision or calibration, or an enrolled class's column fitted again by `enroll --append`): a refit "
            "changes the bank's values, not the network")
    return problems


def require_refittable(sidecar: EngineSidecar, weights: RefitWeights, engine_path: Path) -> None:
    """Raise :class:`Cnn2GnnError` listing every :func:`refit_problems`, with the rebuild that replaces the refit."""
    problems = refit_problems(sidecar, weights)
    if problems:
        listed = "\n  - ".join(problems)
        raise Cnn2GnnError(
            f"{engine_path} cannot be refitted from {weights.source}:\n  - {listed}\n"
            f"Build an engine from it instead: `cnn2gnn build {weights.source} --precision {sidecar.precision} "
            "--refittable` (refittable, so that later `enroll --append` into its reserved rows can be refitted)")


def changed_weights(sidecar: EngineSidecar, weights: RefitWeights) -> list[str]:
    """The bank weights whose values differ from the engine's (by sha256): what the refit must set."""
    recorded = sidecar.refit["weights"]
    return [name for name, entry in weights.layout.items() if entry["sha256"] != recorded[name]["sha256"]]


def refitted_key(old_key: Mapping[str, Any], facts: OnnxFacts) -> dict[str, Any]:
    """The engine key of the refitted engine: the old build's key with the new model's identity (its ONNX and
    bank sha256), equal to what ``build --refittable`` with the same options would record for that model."""
    bank = (facts.metadata.extra or {}).get(BANK_KEY)
    return {**old_key, "model": facts.metadata.kind, "source_onnx_sha256": facts.sha256,
            "bank_sha256": bank.get("sha256") if isinstance(bank, dict) else None}


def refitted_sidecar(old: EngineSidecar, facts: OnnxFacts, weights: RefitWeights, engine_data: bytes,
                     weights_set: list[str], check: dict[str, Any] | None) -> EngineSidecar:
    """The sidecar of the engine refitted with ``weights`` (from ``facts``' model): new source, key, metadata
    and refit record, plus a history entry naming the engine and bank it replaced. The build fields (TensorRT,
    GPU, profile, flags, build time) stay: the network and its tactics are the ones built then."""
    entry = {
        "from_engine_sha256": old.engine_sha256, "from_source_onnx": old.source_onnx,
        "from_source_onnx_sha256": old.source_onnx_sha256, "from_bank_sha256": old.key.get("bank_sha256"),
        "weights_set": weights_set, "check": check, "cnn2gnn_version": __version__,
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return dataclasses.replace(
        old,
        source_onnx=facts.path.name,
        source_onnx_sha256=facts.sha256,
        engine_sha256=sha256_bytes(engine_data),
        model_metadata=facts.metadata.to_dict(),
        key=refitted_key(old.key, facts),
        refit={**refit_record(weights), "history": [*old.refit.get("history", []), entry]},
        cnn2gnn_version=__version__,
    )

"""What identifies an engine: the ONNX it came from, how it was built, and what it was built for.

An engine file is reused only when its recorded key equals the key of the build being asked for;
any difference is named (jetson-inference rebuilds on a checksum mismatch; a silently reused stale
engine is the most common deployment bug). The default file name carries the main parts so two
engines for different GPUs or TensorRT versions never share a name:
``student-<sha12>-int8-trt10.3.0-sm87.engine``.

A refittable engine (``build --refittable``) never shares a key with a plain one, and the key names the
anchor bank its weights hold (``bank_sha256``): ``cnn2gnn refit`` writes the refitted engine under the key
of the enrolled ONNX, so the engine of the old bank never matches the new model and vice versa.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from cnn2gnn.contracts.anchor_bank import BANK_KEY
from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.engine_sidecar import read_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import compute_capability_text, parse_compute_capability, sm_tag
from cnn2gnn.contracts.metadata import sidecar_path
from cnn2gnn.contracts.trt_version import TrtVersion

if TYPE_CHECKING:
    from cnn2gnn.contracts.gpu_info import GpuInfo
    from cnn2gnn.engine.build_plan import BuildPlan
    from cnn2gnn.engine.onnx_facts import OnnxFacts

ENGINE_KEY_FORMAT = "cnn2gnn-engine-key/1"
ENGINE_SUFFIX = ".engine"
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def engine_key(
    *,
    model: str,
    source_onnx_sha256: str,
    precision: str,
    quantization: str | None,
    tensorrt_version: TrtVersion,
    gpu_name: str,
    compute_capability: tuple[int, int] | str,
    min_batch: int,
    opt_batch: int,
    max_batch: int,
    version_compatible: bool = False,
    hardware_compatibility: str | None = None,
    dla_core: int | None = None,
    calibration_key_sha256: str | None = None,
    refittable: bool = False,
    bank_sha256: str | None = None,
) -> dict[str, Any]:
    """Everything that, when it changes, makes an existing engine the wrong one to run.

    Workspace size and timing caches are left out: they change how fast TensorRT finds tactics, not
    which model, precision or device the engine is for.
    """
    return {
        "format": ENGINE_KEY_FORMAT,
        "model": model,
        "source_onnx_sha256": source_onnx_sha256,
        "precision": precision,
        "quantization": quantization,
        "tensorrt_version": str(tensorrt_version),
        "gpu_name": gpu_name,
        "compute_capability": compute_capability_text(parse_compute_capability(compute_capability)),
        "min_batch": min_batch,
        "opt_batch": opt_batch,
        "max_batch": max_batch,
        "version_compatible": version_compatible,
        "hardware_compatibility": hardware_compatibility,
        "dla_core": dla_core,
        "calibration_key_sha256": calibration_key_sha256,
        "refittable": refittable,
        "bank_sha256": bank_sha256,
    }


def engine_key_for_plan(
    facts: OnnxFacts,
    plan: BuildPlan,
    tensorrt_version: TrtVersion,
    gpu: GpuInfo,
    batch_profile: tuple[int, int, int],
    calibration_key_sha256: str | None = None,
) -> dict[str, Any]:
    """The :func:`engine_key` of building ``facts``' ONNX with ``plan`` (min, opt, max ``batch_profile``)
    for ``gpu``: what ``cnn2gnn build`` records and what the engine cache looks an engine up by."""
    lo, opt, hi = batch_profile
    bank = (facts.metadata.extra or {}).get(BANK_KEY)
    return engine_key(
        model=facts.metadata.kind,
        source_onnx_sha256=facts.sha256,
        precision=plan.precision,
        quantization=plan.quantization,
        tensorrt_version=tensorrt_version,
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
        min_batch=lo,
        opt_batch=opt,
        max_batch=hi,
        version_compatible=plan.version_compatible,
        hardware_compatibility=plan.hardware_compatibility_level,
        dla_core=plan.dla_core,
        calibration_key_sha256=calibration_key_sha256,
        refittable=plan.refittable,
        bank_sha256=bank.get("sha256") if isinstance(bank, dict) else None,
    )


def engine_file_name(key: Mapping[str, Any]) -> str:
    """``<model>-<sha12>-<precision>-trt<version>-sm<cc>[-dla<n>][-vc][-hwc][-refit].engine``."""
    model = _UNSAFE_NAME.sub("_", str(key["model"])) or "model"
    parts = [
        model,
        str(key["source_onnx_sha256"])[:12],
        str(key["precision"]),
        f"trt{key['tensorrt_version']}",
        sm_tag(parse_compute_capability(key["compute_capability"])),
    ]
    if key.get("dla_core") is not None:
        parts.append(f"dla{key['dla_core']}")
    if key.get("version_compatible"):
        parts.append("vc")
    if key.get("hardware_compatibility"):
        parts.append("hwc")
    if key.get("refittable"):
        parts.append("refit")
    return "-".join(parts) + ENGINE_SUFFIX


def check_engine_reusable(existing_sidecar: Any, wanted_key: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """(reusable, reasons): whether the engine described by ``existing_sidecar`` (an
    :class:`~cnn2gnn.contracts.engine_sidecar.EngineSidecar` or its dict) is the one ``wanted_key``
    asks for; ``reasons`` names each differing field, ``engine has X, wanted Y``."""
    existing_key = getattr(existing_sidecar, "key", None)
    if existing_key is None and isinstance(existing_sidecar, Mapping):
        existing_key = existing_sidecar.get("key")
    if not isinstance(existing_key, Mapping):
        return False, ["the engine's sidecar records no engine key (made by another tool or an older cnn2gnn)"]
    reasons = []
    for field, wanted in wanted_key.items():
        if field not in existing_key:
            reasons.append(f"{field}: not recorded for the engine, wanted {wanted!r}")
        elif existing_key[field] != wanted:
            reasons.append(f"{field}: engine has {existing_key[field]!r}, wanted {wanted!r}")
    return not reasons, reasons


def resolve_engine_path(out: str | Path | None, onnx_path: str | Path, key: Mapping[str, Any]) -> Path:
    """``out`` naming a file (.engine / .plan / .trt) is used as is; a folder (or None: the ONNX's
    folder) gets the default name from :func:`engine_file_name`."""
    if out is not None and Path(out).suffix.lower() in ENGINE_SUFFIXES:
        return Path(out)
    folder = Path(onnx_path).parent if out is None else Path(out)
    if folder.exists() and not folder.is_dir():
        raise Cnn2GnnError(f"-o {folder}: exists and is not a folder; name the engine file with .engine / .plan / .trt")
    return folder / engine_file_name(key)


def engine_reuse_problems(engine_path: str | Path, wanted_key: Mapping[str, Any]) -> list[str] | None:
    """Why the engine at ``engine_path`` is not the one ``wanted_key`` asks for: None when there is no
    engine, ``[]`` when it is exactly that engine (its sidecar's key matches and the file is the one the
    sidecar describes, so a truncated or altered file is caught), else one reason per problem."""
    path = Path(engine_path)
    if not path.exists():
        return None
    if not sidecar_path(path).is_file():
        return [f"it has no sidecar {sidecar_path(path).name}, so nothing records what it was built from"]
    try:
        sidecar = read_engine_sidecar(path)
    except Cnn2GnnError as exc:
        return [str(exc)]
    _, problems = check_engine_reusable(sidecar, wanted_key)
    if not problems and sha256_file(path) != sidecar.engine_sha256:
        problems = ["the engine file changed after its sidecar was written (sha256 differs: truncated or altered)"]
    return problems


def decide_engine_reuse(engine_path: str | Path, wanted_key: Mapping[str, Any], force: bool) -> bool:
    """True: ``engine_path`` is exactly the engine asked for, reuse it. False: build (nothing there, or
    ``force``). Otherwise raise :class:`Cnn2GnnError` listing every mismatch: an engine is never used on
    a guess."""
    problems = engine_reuse_problems(engine_path, wanted_key)
    if problems is None:
        return False
    if not problems:
        return True
    if force:
        return False
    raise Cnn2GnnError(
        f"{engine_path} exists but is not the engine asked for: {'; '.join(problems)}. "
        "Pass --force to rebuild it, or -o another path"
    )

"""What ``cnn2gnn evaluate`` runs: a checkpoint through torch, an exported .onnx or an engine through the
torch-free runtime, on the split the model was trained with, reported alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.runtime.backends.registry import registered_backends


def is_deployed_model(path: Path) -> bool:
    """An .onnx model or an engine (a file some runtime backend runs), not a training checkpoint."""
    return path.suffix.lower() in {suffix for spec in registered_backends() for suffix in spec.suffixes}


def trained_on(metadata: ModelMetadata) -> Optional[str]:
    """The dataset spec the model was trained on, as its export recorded it (None when unknown)."""
    return ((metadata.extra or {}).get("dataset") or {}).get("spec") or (metadata.run_config or {}).get("data")


def evaluate_deployed_model(
    model: Path,
    data: Optional[str],
    split: str,
    batch_size: int,
    backend: Optional[str],
    engine_cache: Optional[Path],
    engine_precision: Optional[str],
    class_names: Optional[Path] = None,
    explain: Optional[Path] = None,
) -> dict[str, Any]:
    """The classification report of ``model`` on ``split`` of ``data`` (default: the dataset in its metadata,
    named with the model's class names); with ``explain``, a PNG of each misclassified image and its anchors."""
    from cnn2gnn.calibration.calibrate_onnx import training_split_seed
    from cnn2gnn.commands._runtime_backend import runtime_model
    from cnn2gnn.runtime.backends.registry import load_backend
    from cnn2gnn.runtime.evaluate_runner import evaluate_runner
    from cnn2gnn.runtime.model_info import read_model_metadata
    from cnn2gnn.toolchain.data import load_dataset
    from cnn2gnn.toolchain.data.spec import class_names_for

    metadata = read_model_metadata(model)
    spec = data or trained_on(metadata)
    if not spec:
        raise Cnn2GnnError(f"{model}'s metadata does not name the dataset it was trained on: pass --data SPEC")
    thumbnails = _explanation_thumbnails(model, metadata) if explain is not None else None
    # The split seed must be the training run's, or 'test' would overlap the training images.
    dataset = load_dataset(spec, seed=training_split_seed(metadata),
                           class_names=class_names_for(class_names, data, metadata.class_names))
    part = dataset.split(split)
    with load_backend(runtime_model(model, backend, engine_cache, engine_precision), backend) as loaded:
        report = evaluate_runner(loaded, part.images, part.labels, dataset.class_names, batch_size)
        if explain is not None:
            report["explanations"] = _explanations(loaded, thumbnails, part, dataset.class_names, explain, batch_size)
    return {"checkpoint": str(model), "data": spec, "split": split, **report}


def _explanation_thumbnails(model: Path, metadata: Any) -> Any:
    """The thumbnails --explain draws, read once the metadata says the model can explain: before the split is
    loaded or evaluated, so a model that cannot is refused at once."""
    from cnn2gnn.contracts.anchor_bank import require_explanation_outputs
    from cnn2gnn.contracts.anchor_thumbnails import read_thumbnails

    return read_thumbnails(model, require_explanation_outputs(metadata, str(model))["thumbnails_sha256"])


def _explanations(runner: Any, thumbnails: Any, part: Any, class_names: list[str], folder: Path,
                  batch_size: int) -> dict[str, Any]:
    """The explanation grids of ``runner``'s mistakes on ``part`` (an exported model or a checkpoint alike)."""
    from cnn2gnn.runtime.classifier import Classifier
    from cnn2gnn.runtime.explanations import write_explanations

    written = write_explanations(Classifier(runner), part.images, part.labels, class_names, thumbnails, folder,
                                 batch_size)
    return {"folder": str(folder), "images": len(written), "misclassified": written}


def evaluate_checkpoint_model(model: Path, data: Optional[str], split: str, batch_size: int, device: str,
                              class_names: Optional[Path] = None, explain: Optional[Path] = None) -> dict[str, Any]:
    """The classification report of a training checkpoint (torch); with ``explain``, the grids of an anchor-mode
    student's mistakes, its neighbours from the model's own ``neighbours(x)``."""
    from cnn2gnn.commands._checkpoint_runner import CheckpointRunner, require_anchor_student
    from cnn2gnn.toolchain.training.checkpoint import load_checkpoint
    from cnn2gnn.toolchain.training.evaluate_checkpoint import checkpoint_on_split, checkpoint_report

    checkpoint = load_checkpoint(model)
    if explain is not None:
        require_anchor_student(checkpoint)  # before the data is loaded and the split evaluated
    evaluated = checkpoint_on_split(checkpoint, data, split, device, class_names=class_names)
    report = checkpoint_report(evaluated, batch_size)
    if explain is not None:
        runner = CheckpointRunner(evaluated)
        report["explanations"] = _explanations(runner, runner.anchor_thumbnails(), evaluated.images,
                                               checkpoint.class_names, explain, batch_size)
    return report


def evaluate_model(
    model: Path,
    data: Optional[str],
    split: str,
    batch_size: int,
    device: str,
    backend: Optional[str],
    engine_cache: Optional[Path],
    engine_precision: Optional[str],
    class_names: Optional[Path] = None,
    explain: Optional[Path] = None,
) -> dict[str, Any]:
    """``cnn2gnn evaluate``: a deployed model on its runtime backend, else a checkpoint on ``device``."""
    if batch_size < 1:  # before the model and the data are loaded
        raise Cnn2GnnError(f"--batch-size must be >= 1, got {batch_size}")
    if is_deployed_model(model):
        if device != "auto":
            raise Cnn2GnnError(f"--device applies to checkpoints; {model} runs on its backend: use --backend instead")
        return evaluate_deployed_model(model, data, split, batch_size, backend, engine_cache, engine_precision,
                                       class_names, explain)
    given = [name for name, value in (("--backend", backend), ("--engine-cache", engine_cache),
                                      ("--engine-precision", engine_precision)) if value is not None]
    if given:
        raise Cnn2GnnError(f"{', '.join(given)}: for an .onnx model or an engine only; {model} is a checkpoint")
    return evaluate_checkpoint_model(model, data, split, batch_size, device, class_names, explain)

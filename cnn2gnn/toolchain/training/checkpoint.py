"""Checkpoints: weights plus everything needed to use them (model family and config, preprocessing,
classes, anchors, run config), as one typed :class:`Checkpoint`.

On disk a checkpoint is the flat dict of :meth:`Checkpoint.to_dict` saved with ``torch.save`` and
read back with ``weights_only=True`` (a checkpoint is data, never code).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from cnn2gnn import __version__
from cnn2gnn.contracts.atomic_io import atomic_path
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import MODEL_KINDS
from cnn2gnn.contracts.output_paths import MODEL_SUFFIXES
from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.contracts.record_fields import require_fields

if TYPE_CHECKING:
    from cnn2gnn.contracts.graph_spec import GraphSpec

CHECKPOINT_FORMAT = "cnn2gnn-checkpoint/1"
# The fields from_dict cannot do without; anything else has a default.
REQUIRED_FIELDS = ("kind", "model_config", "state_dict", "preprocessing", "class_names")
# The types from_dict insists on, so a damaged field is named here rather than failing later.
FIELD_TYPES: dict[str, type] = {"kind": str, "model_config": dict, "state_dict": dict, "preprocessing": dict,
                                "class_names": list, "dataset": dict, "run_config": dict}
# A graph student's anchor bank is part of its weights: these buffers hold it.
ANCHOR_BUFFERS = ("anchor_images", "anchor_ids", "anchor_labels")


@dataclass
class TrainingState:
    """Where training stood when the checkpoint was written; ``optimizer``/``scheduler`` only in ``last.pt``."""

    epoch: int  # 0-based: the epoch just finished
    history: list[dict[str, Any]]
    best_val_accuracy: float
    best_epoch: int
    train_config: dict[str, Any]
    best_val_loss: float = math.inf  # ties on accuracy go to the lower loss; older checkpoints lack it
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    grad_scaler: dict[str, Any] | None = None  # --amp fp16's loss scale; last.pt only


@dataclass
class Checkpoint:
    kind: str  # one of MODEL_KINDS
    model_config: dict[str, Any]  # {"family": registered name, **the family config's fields}
    state_dict: dict[str, Tensor]
    preprocessing: Preprocessing
    class_names: list[str]
    run_config: dict[str, Any] = field(default_factory=dict)  # the resolved config of the run (config.json)
    dataset: dict[str, Any] = field(default_factory=dict)  # {"spec", "fingerprint"}
    training: TrainingState | None = None
    cnn2gnn_version: str = __version__
    torch_version: str = str(torch.__version__)
    format: str = CHECKPOINT_FORMAT
    source: str = field(default="checkpoint", compare=False)  # the file it was read from, for messages; not saved

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise Cnn2GnnError(f"checkpoint kind {self.kind!r} unknown; expected one of {MODEL_KINDS}")

    @property
    def family(self) -> str:
        return str(self.model_config.get("family"))

    @property
    def config(self) -> Any:
        """The family's config object (e.g. ``StudentConfig``), built through the model registry."""
        from cnn2gnn.toolchain.models.registry import model_family

        values = {k: v for k, v in self.model_config.items() if k != "family"}
        return model_family(self.family).config_type(**values)

    @property
    def graph(self) -> "GraphSpec | None":
        """The student's graph (mode, k, M) when its family has one; None for CNNs."""
        return getattr(self.config, "graph", None)

    @property
    def anchors(self) -> dict[str, Tensor]:
        """The anchor bank (images, training-split ids, labels); empty for a model without one."""
        return {name: self.state_dict[name] for name in ANCHOR_BUFFERS if name in self.state_dict}

    @property
    def dataset_spec(self) -> str:
        """The ``--data`` spec the model was trained on: the default data of evaluate, export and distill."""
        spec = self.dataset.get("spec") if isinstance(self.dataset, dict) else None
        if not isinstance(spec, str) or not spec:
            raise Cnn2GnnError(
                f"{self.source}: the checkpoint lacks the field 'dataset.spec' (the data it was trained on); "
                "pass --data SPEC"
            )
        return spec

    @property
    def train_seed(self) -> int:
        """The seed the run split its data with (evaluation must split the same way)."""
        return int(self.training.train_config.get("seed", 0)) if self.training else 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)
                               if f.name not in ("training", "source")}
        out["preprocessing"] = self.preprocessing.to_dict()
        if self.training is not None:
            state = {f.name: getattr(self.training, f.name) for f in fields(TrainingState)}
            out.update({k: v for k, v in state.items() if v is not None})
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "checkpoint") -> "Checkpoint":
        if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
            raise Cnn2GnnError(f"{source} is not a cnn2gnn checkpoint (expected format {CHECKPOINT_FORMAT})")
        require_fields(data, REQUIRED_FIELDS, FIELD_TYPES, f"{source}: the checkpoint",
                       "it is damaged or was not written by cnn2gnn train-teacher / distill")
        if not all(isinstance(v, Tensor) for v in data["state_dict"].values()):
            raise Cnn2GnnError(f"{source}: the checkpoint's state_dict holds non-tensor values; it is damaged")
        outputs = data["model_config"].get("num_classes")
        if isinstance(outputs, int) and outputs != len(data["class_names"]):
            # Every deployed prediction is labelled from class_names: another count would name the wrong classes.
            raise Cnn2GnnError(
                f"{source}: the checkpoint lists {len(data['class_names'])} class_names but its model has {outputs} "
                "outputs (model_config num_classes); it is damaged or was edited: use the best.pt / last.pt the "
                "run wrote"
            )
        training = None
        if "epoch" in data:
            state = {f.name: data[f.name] for f in fields(TrainingState) if f.name in data}
            try:
                training = TrainingState(**state)
            except TypeError as exc:
                raise Cnn2GnnError(f"{source}: incomplete training state ({exc})") from exc
        return cls(
            kind=data["kind"], model_config=dict(data["model_config"]), state_dict=data["state_dict"],
            preprocessing=Preprocessing.from_dict(data["preprocessing"]), class_names=list(data["class_names"]),
            run_config=data.get("run_config", {}), dataset=data.get("dataset", {}), training=training,
            cnn2gnn_version=data.get("cnn2gnn_version", ""), torch_version=data.get("torch_version", ""),
            source=source,
        )


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> Path:
    """Write atomically: an interrupted save leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(checkpoint.to_dict(), tmp)
    return Path(path)


# torch.save writes a zip archive; files from before torch 1.6 are a bare pickle (protocol 2+ starts with 0x80).
_TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")


def _require_torch_file(p: Path) -> None:
    """Name what a file given as a checkpoint is when it is not a PyTorch file at all."""
    if p.suffix.lower() in MODEL_SUFFIXES:
        raise Cnn2GnnError(f"{p} is an exported model, not a training checkpoint; give the best.pt it was made from")
    try:
        with p.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise Cnn2GnnError(f"cannot read checkpoint {p} ({exc.strerror or exc}); check its permissions") from None
    if not head.startswith(_TORCH_FILE_STARTS):
        raise Cnn2GnnError(f"{p} is not a PyTorch checkpoint (neither a torch.save archive nor a pickle); give a "
                           "best.pt or last.pt written by cnn2gnn train-teacher / distill")


def load_checkpoint(path: str | os.PathLike[str], kind: str | None = None) -> Checkpoint:
    p = Path(path)
    if p.is_dir():
        inside = next((p / name for name in ("best.pt", "last.pt") if (p / name).is_file()), None)
        raise Cnn2GnnError(f"checkpoint {p} is a folder; give the checkpoint file"
                           + (f", e.g. {inside}" if inside else " (a run folder's best.pt)"))
    if not p.is_file():
        raise Cnn2GnnError(f"checkpoint {p} does not exist")
    _require_torch_file(p)
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights only load failed" in str(exc).lower():
            # torch's message advises weights_only=False, i.e. running the file's code: never pass that on.
            found = re.search(r"GLOBAL (\S+)", str(exc))
            what = f" such as {found.group(1)}" if found else ""
            raise Cnn2GnnError(
                f"{p} is not a cnn2gnn checkpoint: it holds Python objects{what}, which a checkpoint (tensors and "
                "plain data) never does; it was not loaded and no code in it ran. Use a best.pt or last.pt written "
                "by cnn2gnn train-teacher / distill"
            ) from None
        lines = [line for line in str(exc).strip().splitlines() if "weights_only" not in line.lower()]
        detail = f": {lines[0].strip()}" if lines else ""
        raise Cnn2GnnError(
            f"checkpoint {p} is corrupt or not a cnn2gnn checkpoint ({type(exc).__name__}{detail}); cnn2gnn writes "
            "checkpoints whole, so a damaged one was cut short while copied: copy it again, or use another"
        ) from exc
    checkpoint = Checkpoint.from_dict(payload, source=str(p))
    if kind is not None and checkpoint.kind != kind:
        raise Cnn2GnnError(f"{p} holds a {checkpoint.kind} model, expected a {kind}")
    return checkpoint


def model_from_checkpoint(checkpoint: Checkpoint) -> nn.Module:
    """Rebuild the model a checkpoint describes, through the model registry, with its weights, in eval mode."""
    from cnn2gnn.toolchain.models.registry import model_from_config

    try:
        model = model_from_config(checkpoint.model_config)
    except Cnn2GnnError as exc:
        raise Cnn2GnnError(f"{checkpoint.source}: its recorded model config is invalid ({exc})") from exc
    mismatch = state_dict_mismatch(model.state_dict(), checkpoint.state_dict)
    if mismatch:
        raise Cnn2GnnError(
            f"{checkpoint.source}: the checkpoint's weights do not match its recorded model config ({mismatch}); "
            "it is damaged or was edited: use the best.pt / last.pt the run wrote"
        )
    model.load_state_dict(checkpoint.state_dict)
    return model.eval()


def state_dict_mismatch(expected: dict[str, Tensor], found: dict[str, Tensor]) -> str:
    """The first difference between the tensors a model wants and those a checkpoint holds; '' when they fit."""
    for name, tensor in expected.items():
        if name not in found:
            return f"tensor {name!r} {tuple(tensor.shape)} is missing"
        if tuple(found[name].shape) != tuple(tensor.shape):
            return (f"tensor {name!r} is {tuple(found[name].shape)} in the checkpoint, the model config makes it "
                    f"{tuple(tensor.shape)}")
    extra = next((name for name in found if name not in expected), None)
    return f"tensor {extra!r} is not part of the model" if extra else ""

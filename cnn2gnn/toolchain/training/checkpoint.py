"""Checkpoints: weights plus everything needed to use them (config, preprocessing, classes, anchors, run config)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnn2gnn import __version__
from cnn2gnn.contracts.atomic_io import atomic_path
from cnn2gnn.contracts.errors import Cnn2GnnError

CHECKPOINT_FORMAT = "cnn2gnn-checkpoint/1"
KINDS = ("teacher", "student")


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write atomically: an interrupted save leaves the previous checkpoint intact."""
    payload = {"format": CHECKPOINT_FORMAT, "cnn2gnn_version": __version__, "torch_version": str(torch.__version__), **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str], kind: str | None = None) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise Cnn2GnnError(f"checkpoint {p} does not exist")
    try:
        # weights_only: a checkpoint is data, never code
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise Cnn2GnnError(f"checkpoint {p} is corrupt or not a cnn2gnn checkpoint ({type(exc).__name__}: {first_line})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise Cnn2GnnError(f"{p} is not a cnn2gnn checkpoint (expected format {CHECKPOINT_FORMAT})")
    if kind is not None and payload.get("kind") != kind:
        raise Cnn2GnnError(f"{p} holds a {payload.get('kind')} model, expected a {kind}")
    return payload


def model_from_checkpoint(payload: dict[str, Any]) -> nn.Module:
    """Rebuild the model a checkpoint describes, with its weights, in eval mode."""
    from cnn2gnn.toolchain.models.registry import create_model

    model = create_model(payload["model_config"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()

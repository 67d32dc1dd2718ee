"""The model-family registry: ``create_model(name, **cfg)``, ``model_from_config(saved)``, ``list_models()``.

A family is one file under ``cnn2gnn/toolchain/models/`` holding a config dataclass and the
``nn.Module`` built from it, plus one :func:`register_model` call in this package's ``__init__``.
Registrations name the file and classes instead of holding them: a family file imports torch, and
``cnn2gnn train-teacher --help`` lists the teachers from here without importing torch. The file
is imported the first time its family is built.

A saved model config (a checkpoint's ``model_config``) is the config's fields plus ``"family"``, the
name registered here; :func:`model_from_config` rebuilds the module from it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cnn2gnn.contracts.errors import Cnn2GnnError

if TYPE_CHECKING:
    from torch import nn

ROLES = ("teacher", "student")


@dataclass(frozen=True)
class ModelFamily:
    name: str  # saved as model_config["family"]
    role: str  # "teacher" | "student"
    module: str  # the family's file, e.g. "cnn2gnn.toolchain.models.teacher"
    model_class: str  # the nn.Module built as model_class(config)
    config_class: str  # the dataclass create_model(name, **cfg) fills
    summary: str = ""  # one line for the CLI help
    # A teacher family's ``--arch`` values (its config's ``arch`` field); empty: ``--arch NAME`` itself.
    archs: tuple[str, ...] = ()

    def _attr(self, attr: str) -> Any:
        return getattr(importlib.import_module(self.module), attr)

    @property
    def config_type(self) -> type:
        config_type: type = self._attr(self.config_class)
        return config_type

    @property
    def model_type(self) -> type:
        model_type: type = self._attr(self.model_class)
        return model_type


_FAMILIES: dict[str, ModelFamily] = {}


def register_model(name: str, *, role: str, module: str, model_class: str, config_class: str, summary: str = "",
                   archs: tuple[str, ...] = ()) -> ModelFamily:
    """Register a model family under ``name``; a name registered twice is a bug, not a user error."""
    if role not in ROLES:
        raise ValueError(f"model family {name!r}: role must be one of {ROLES}, got {role!r}")
    if name in _FAMILIES:
        raise ValueError(f"model family {name!r} is registered twice")
    family = ModelFamily(name, role, module, model_class, config_class, summary, tuple(archs))
    _FAMILIES[name] = family
    return family


def list_models(role: str | None = None) -> list[str]:
    """Registered family names in registration order, optionally only teachers or students."""
    return [name for name, family in _FAMILIES.items() if role is None or family.role == role]


def model_family(name: str) -> ModelFamily:
    if name not in _FAMILIES:
        raise Cnn2GnnError(f"model family {name!r} unknown; registered: {', '.join(list_models())}")
    return _FAMILIES[name]


def create_model(name: str, **cfg: Any) -> "nn.Module":
    """Build family ``name`` from its config fields, e.g. ``create_model("resnet", in_channels=1, ...)``."""
    family = model_family(name)
    model: nn.Module = family.model_type(_family_config(family, cfg))
    return model


def _family_config(family: ModelFamily, fields: dict[str, Any]) -> Any:
    try:
        return family.config_type(**fields)
    except TypeError as exc:  # a missing or unknown field
        raise Cnn2GnnError(f"model family {family.name!r}: bad config ({exc})") from exc


def _saved_family_and_fields(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fields = dict(config)
    name = fields.pop("family", None)
    if name is None:
        raise Cnn2GnnError(f"a saved model config lacks the field 'family'; registered: {', '.join(list_models())}")
    return str(name), fields


def model_from_config(config: dict[str, Any]) -> "nn.Module":
    """Rebuild the module a saved model config (``{"family": NAME, **fields}``) describes."""
    name, fields = _saved_family_and_fields(config)
    return create_model(name, **fields)


def resolved_model_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved model config as its family's config class reads it: fields a later cnn2gnn added take their
    defaults (what the model is built with), so a run saved before a field existed compares equal to its
    equivalent now. Imports the family's file (torch)."""
    name, fields = _saved_family_and_fields(config)
    resolved: dict[str, Any] = _family_config(model_family(name), fields).to_dict()
    return resolved


def teacher_archs() -> dict[str, str]:
    """Each ``--arch`` value a teacher family accepts -> that family's name."""
    return {arch: family.name for family in _FAMILIES.values() if family.role == "teacher"
            for arch in (family.archs or (family.name,))}


def teacher_arch_help() -> str:
    """The ``--arch`` help of ``train-teacher``, from the registered teacher families."""
    return "Teacher CNN: " + "; ".join(
        f"{' | '.join(family.archs or (family.name,))}" + (f" ({family.summary})" if family.summary else "")
        for family in _FAMILIES.values() if family.role == "teacher"
    ) + "."

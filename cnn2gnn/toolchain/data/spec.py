"""``--data SPEC`` parsing: a small registry from format name to loader."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence, Union

from cnn2gnn.contracts.class_names import class_list_difference
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.data.class_names_file import read_class_names
from cnn2gnn.toolchain.data.dataset import DEFAULT_TEST_FRACTION, DEFAULT_VAL_FRACTION, RawDataset

Loader = Callable[..., RawDataset]
# Names that replace a dataset's own: a --class-names file, or the names a model recorded (see class_names_for).
ClassNames = Union[Path, Sequence[str], None]


def _digits(spec: str, path: str | None, **kw: object) -> RawDataset:
    from cnn2gnn.toolchain.data.digits import load_digits_dataset

    return load_digits_dataset(spec, **kw)  # type: ignore[arg-type]


def _imagefolder(spec: str, path: str | None, **kw: object) -> RawDataset:
    from cnn2gnn.toolchain.data.imagefolder import load_imagefolder

    return load_imagefolder(spec, Path(path or ""), **kw)  # type: ignore[arg-type]


def _cifar10(spec: str, path: str | None, **kw: object) -> RawDataset:
    from cnn2gnn.toolchain.data.cifar import load_cifar

    return load_cifar(spec, Path(path or ""), variant="cifar10", **kw)  # type: ignore[arg-type]


def _cifar100(spec: str, path: str | None, **kw: object) -> RawDataset:
    from cnn2gnn.toolchain.data.cifar import load_cifar

    return load_cifar(spec, Path(path or ""), variant="cifar100", **kw)  # type: ignore[arg-type]


def _idx(spec: str, path: str | None, **kw: object) -> RawDataset:
    from cnn2gnn.toolchain.data.idx import load_idx

    return load_idx(spec, Path(path or ""), **kw)  # type: ignore[arg-type]


def _mini_imagenet(spec: str, path: str | None, **kw: object) -> RawDataset:
    from cnn2gnn.toolchain.data.mini_imagenet import load_mini_imagenet

    return load_mini_imagenet(spec, Path(path or ""), **kw)  # type: ignore[arg-type]


# name -> (loader, needs a path)
_REGISTRY: dict[str, tuple[Callable[..., RawDataset], bool]] = {
    "digits": (_digits, False),
    "imagefolder": (_imagefolder, True),
    "cifar10": (_cifar10, True),
    "cifar100": (_cifar100, True),
    "idx": (_idx, True),
    "mini-imagenet": (_mini_imagenet, True),
}

SPEC_HELP = (
    "digits (embedded default) | imagefolder:PATH | cifar10:PATH | cifar100:PATH | idx:PATH | mini-imagenet:PATH"
)


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    name, sep, path = spec.partition(":")
    name = name.strip().lower()
    if name not in _REGISTRY:
        raise Cnn2GnnError(f"unknown dataset {spec!r}; use one of: {SPEC_HELP}")
    needs_path = _REGISTRY[name][1]
    if needs_path and not path:
        raise Cnn2GnnError(f"dataset {name!r} needs a path: --data {name}:PATH")
    if not needs_path and path:
        raise Cnn2GnnError(f"dataset {name!r} takes no path, got {spec!r}")
    if needs_path and not Path(path).exists():
        raise Cnn2GnnError(f"dataset path {path} does not exist (from --data {spec})")
    return name, (path or None)


def load_dataset(spec: str, *, seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION,
                 test_fraction: float = DEFAULT_TEST_FRACTION, class_names: ClassNames = None) -> RawDataset:
    """Load ``spec`` into memory. Splits missing on disk are drawn reproducibly (stratified, ``seed``).
    ``class_names`` (a names file, or a model's names) replaces the dataset's own class names."""
    name, path = parse_data_spec(spec)
    loader = _REGISTRY[name][0]
    dataset = loader(spec, path, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
    if class_names is None:
        return dataset
    return replace(dataset, class_names=renamed_classes(spec, dataset.class_names, class_names))


def renamed_classes(spec: str, own: Sequence[str], names: Path | Sequence[str]) -> list[str]:
    """The names that replace ``own``, the class names --data ``spec`` comes with: a names file's (one name per
    line in label order, checked like any names file) or a model's, each exactly one per class."""
    if isinstance(names, Path):
        try:
            return read_class_names(names, len(own))
        except Cnn2GnnError as exc:
            raise Cnn2GnnError(f"--class-names for --data {spec}: {exc}") from None
    if len(names) != len(own):
        raise Cnn2GnnError(
            f"--data {spec} has {len(own)} classes but the model was trained on {len(names)} (data vs model: "
            f"{class_list_difference(own, names)}); pass --data with the dataset the model was trained on"
        )
    return list(names)


def class_names_for(class_names: Path | None, data: str | None, model_names: Sequence[str]) -> ClassNames:
    """The names for a command whose --data defaults to a model's: the --class-names file when given; else, with
    --data left out, the model's own names, so a model trained with --class-names is evaluated, calibrated or
    distilled from without repeating it; else (another --data) the dataset's own names, checked against the model's."""
    if class_names is not None or data is not None:
        return class_names
    return list(model_names)

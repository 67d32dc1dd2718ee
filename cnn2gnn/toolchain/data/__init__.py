"""Datasets: ``load_dataset(spec)`` returns a :class:`RawDataset` of uint8 images and labels."""

from cnn2gnn.toolchain.data.dataset import RawDataset, RawSplit
from cnn2gnn.toolchain.data.spec import SPEC_HELP, load_dataset, parse_data_spec

__all__ = ["RawDataset", "RawSplit", "SPEC_HELP", "load_dataset", "parse_data_spec"]

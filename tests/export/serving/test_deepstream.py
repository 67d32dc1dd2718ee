"""DeepStream nvinfer configs: the file read back with configparser, its scale/offsets applied in numpy
to images at the network size and compared with our preprocessing."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_images
from cnn2gnn.export.serving.deepstream import deepstream_labels_text, write_deepstream_config
from cnn2gnn.export.serving.nvinfer_normalisation import apply_nvinfer_normalisation, every_pixel_value_images
from cnn2gnn.export.serving.served_model import served_model_from_path
from tests.engine._onnx_models import CLASSES, tiny_metadata, write_linear_onnx
from tests.export.serving._served_files import imagenet_metadata, write_engine, write_onnx


def read_property_group(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.optionxform = str  # nvinfer keys are case-sensitive
    assert parser.read(path) == [str(path)]
    return parser["property"]


def stated_error(path: Path) -> float:
    """The measured error the file's comment states (what the command prints too)."""
    match = re.search(r"measured max \|difference\| ([0-9.e+-]+) over every pixel value", path.read_text())
    assert match, path.read_text()
    return float(match.group(1))


def nvinfer_output(prop: configparser.SectionProxy, images: np.ndarray) -> np.ndarray:
    """nvinfer's y = net-scale-factor * (x - offset), with the values exactly as written in the file."""
    offsets = tuple(float(v) for v in prop["offsets"].split(";"))
    return apply_nvinfer_normalisation(images, float(prop["net-scale-factor"]), offsets)


def random_images_at_network_size(spec: Preprocessing, count: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, spec.height, spec.width, spec.channels), dtype=np.uint8)


def test_digits_onnx_config_is_exact(tmp_path: Path) -> None:
    served = served_model_from_path(write_onnx(tmp_path / "models"))
    written = write_deepstream_config(tmp_path / "ds" / "digits.txt", served)
    prop = read_property_group(written.path)
    assert prop["network-type"] == "1" and prop["model-color-format"] == "2" and prop["infer-dims"] == "1;8;8"
    assert (written.path.parent / prop["onnx-file"]).resolve() == served.path.resolve()
    assert "model-engine-file" not in prop
    assert prop["batch-size"] == "64" and prop["network-mode"] == "0" and prop["maintain-aspect-ratio"] == "0"
    assert prop["output-blob-names"] == "logits" and prop["gie-unique-id"] == "1" and prop["process-mode"] == "1"
    assert prop["scaling-filter"] == "1" and float(prop["classifier-threshold"]) == -1e30
    labels = written.path.parent / prop["labelfile-path"]
    assert labels == written.labels_path and labels.read_text() == ";".join(CLASSES) + "\n"

    spec = served.metadata.preprocessing
    images = random_images_at_network_size(spec)
    ours = preprocess_images(images, spec)
    assert np.max(np.abs(nvinfer_output(prop, images) - ours)) <= 1e-6
    assert stated_error(written.path) <= 1e-6 and written.normalisation.exact


@pytest.mark.parametrize("color_order, color_format", [("RGB", "0"), ("BGR", "1")])
def test_imagenet_engine_config_states_its_error(tmp_path: Path, color_order: str, color_format: str) -> None:
    metadata = imagenet_metadata(color_order)
    engine = write_engine(tmp_path, "rgb.engine", metadata, precision="fp16", batch_profile={"min": 1, "opt": 4,
                                                                                               "max": 16})
    written = write_deepstream_config(tmp_path / "rgb_nvinfer.txt", served_model_from_path(engine))
    prop = read_property_group(written.path)
    assert prop["model-engine-file"] == "rgb.engine" and "onnx-file" not in prop
    assert prop["model-color-format"] == color_format and prop["infer-dims"] == "3;32;32"
    assert prop["network-mode"] == "2" and prop["batch-size"] == "16"
    text = written.path.read_text()
    assert "Not exact: per-channel std (0.229, 0.224, 0.225) cannot be one net-scale-factor" in text

    spec = metadata.preprocessing
    stated = stated_error(written.path)
    assert stated == pytest.approx(written.normalisation.max_abs_error, rel=1e-5)
    # Images in the network's channel order, as nvinfer sees them after its colour conversion.
    every_value = every_pixel_value_images(spec)
    difference = np.abs(nvinfer_output(prop, every_value) - preprocess_images(every_value, spec, color_order))
    assert float(difference.max()) == pytest.approx(stated, rel=1e-5)
    images = random_images_at_network_size(spec)
    difference = np.abs(nvinfer_output(prop, images) - preprocess_images(images, spec, color_order))
    assert 0.001 < float(difference.max()) <= stated * (1 + 1e-5)


def test_options_reach_the_file(tmp_path: Path) -> None:
    served = served_model_from_path(write_engine(tmp_path))
    written = write_deepstream_config(tmp_path / "c.txt", served, max_batch=8, classifier_threshold=2.5,
                                      gie_unique_id=3, process_mode="secondary", gpu_id=1)
    prop = read_property_group(written.path)
    assert (prop["batch-size"], prop["classifier-threshold"], prop["gie-unique-id"]) == ("8", "2.5", "3")
    assert (prop["process-mode"], prop["gpu-id"], prop["network-mode"]) == ("2", "1", "1")
    with pytest.raises(Cnn2GnnError, match="--process-mode 'tertiary' unknown"):
        write_deepstream_config(tmp_path / "d.txt", served, process_mode="tertiary")
    assert not (tmp_path / "d.txt").exists()


def test_a_qdq_onnx_runs_in_int8_with_its_own_scales(tmp_path: Path) -> None:
    onnx_path = write_linear_onnx(tmp_path / "student.qdq.onnx", tiny_metadata("int8-qdq"), qdq=True)
    written = write_deepstream_config(tmp_path / "c.txt", served_model_from_path(onnx_path))
    assert read_property_group(written.path)["network-mode"] == "1"
    assert "Q/DQ ONNX: the INT8 scales are in the model" in written.path.read_text()


def test_labels_nvinfer_cannot_split_are_refused() -> None:
    with pytest.raises(Cnn2GnnError, match="';'-separated"):
        deepstream_labels_text(["a;b", "c"])

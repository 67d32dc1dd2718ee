"""Triton model repository entries, each config.pbtxt parsed by Triton's own model-config protobuf."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.export.serving.served_model import served_model_from_path
from cnn2gnn.export.serving.triton import triton_labels_text, write_triton_model
from tests.engine._onnx_models import CLASSES
from tests.export.serving._served_files import PLAN_BYTES, imagenet_metadata, write_engine, write_onnx


def parse_config(folder: Path) -> model_config_pb2.ModelConfig:
    """Triton reads config.pbtxt with protobuf's text format into inference.ModelConfig; so does this."""
    return text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def test_the_parser_refuses_what_triton_would() -> None:
    with pytest.raises(text_format.ParseError, match="no field named"):
        text_format.Parse('name: "m"\nmax_batch: 8\n', model_config_pb2.ModelConfig())
    with pytest.raises(text_format.ParseError):
        text_format.Parse('input [ { name: "x" data_type: FP32 } ]', model_config_pb2.ModelConfig())


def test_an_onnx_entry(tmp_path: Path) -> None:
    onnx_path = write_onnx(tmp_path)
    entry = write_triton_model(tmp_path / "repo", served_model_from_path(onnx_path))
    assert entry.folder == tmp_path / "repo" / "student" and entry.notes == []
    config = parse_config(entry.folder)
    assert (config.name, config.platform, config.max_batch_size) == ("student", "onnxruntime_onnx", 64)
    (tensor_in,), (tensor_out,) = config.input, config.output
    assert (tensor_in.name, list(tensor_in.dims)) == ("images", [1, 8, 8])
    assert tensor_in.data_type == tensor_out.data_type == model_config_pb2.TYPE_FP32
    assert (tensor_out.name, list(tensor_out.dims)) == ("logits", [10])
    assert tensor_out.label_filename == "labels.txt"
    assert config.HasField("dynamic_batching") and config.dynamic_batching.max_queue_delay_microseconds == 100
    assert (entry.folder / "1" / "model.onnx").read_bytes() == onnx_path.read_bytes()
    assert (entry.folder / "labels.txt").read_text().splitlines() == CLASSES


def test_an_engine_entry_batches_up_to_its_profile(tmp_path: Path) -> None:
    engine = write_engine(tmp_path, batch_profile={"min": 1, "opt": 8, "max": 32})
    entry = write_triton_model(tmp_path / "repo", served_model_from_path(engine), "digits", max_queue_delay_us=500)
    config = parse_config(entry.folder)
    assert (config.name, config.platform, config.max_batch_size) == ("digits", "tensorrt_plan", 32)
    assert list(config.input[0].dims) == [1, 8, 8] and list(config.output[0].dims) == [10]
    assert config.dynamic_batching.max_queue_delay_microseconds == 500
    assert (entry.folder / "1" / "model.plan").read_bytes() == PLAN_BYTES


def test_a_smaller_max_batch_is_honoured_and_a_larger_refused(tmp_path: Path) -> None:
    served = served_model_from_path(write_engine(tmp_path))
    assert parse_config(write_triton_model(tmp_path / "a", served, max_batch=8).folder).max_batch_size == 8
    with pytest.raises(Cnn2GnnError, match=r"accepts batches 1\.\.64, not --max-batch 65"):
        write_triton_model(tmp_path / "b", served, max_batch=65)


def test_an_engine_without_batch_1_gets_full_dims_and_no_batcher(tmp_path: Path) -> None:
    engine = write_engine(tmp_path, batch_profile={"min": 4, "opt": 4, "max": 4}, input_shape=[4, 1, 8, 8])
    entry = write_triton_model(tmp_path / "repo", served_model_from_path(engine))
    config = parse_config(entry.folder)
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [4, 1, 8, 8] and list(config.output[0].dims) == [4, 10]
    assert len(entry.notes) == 1 and "--min-batch 1" in entry.notes[0]


def test_a_three_channel_engine(tmp_path: Path) -> None:
    engine = write_engine(tmp_path, "rgb.plan", imagenet_metadata(), input_name="input", output_name="scores")
    config = parse_config(write_triton_model(tmp_path / "repo", served_model_from_path(engine)).folder)
    assert (config.input[0].name, list(config.input[0].dims)) == ("input", [3, 32, 32])
    assert (config.output[0].name, list(config.output[0].dims)) == ("scores", [3])


def test_the_readme_states_the_exact_preprocessing(tmp_path: Path) -> None:
    engine = write_engine(tmp_path, "rgb.engine", imagenet_metadata("BGR"))
    readme = (write_triton_model(tmp_path / "repo", served_model_from_path(engine)).folder / "README.md").read_text()
    assert "mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225)" in readme
    assert "Resize to 32 x 32" in readme and "cv2.INTER_LINEAR" in readme and "channel order BGR" in readme
    assert "x * (1 / 255)" in readme and "[N, 3, 32, 32] with N from 1 to 64" in readme
    # The snippet in the README builds the very same spec.
    snippet = next(line for line in readme.splitlines() if line.startswith("spec = "))
    from cnn2gnn.contracts.preprocessing import Preprocessing

    assert eval(snippet.removeprefix("spec = "), {"Preprocessing": Preprocessing}) == imagenet_metadata(
        "BGR").preprocessing


def test_names_and_labels_are_checked(tmp_path: Path) -> None:
    served = served_model_from_path(write_engine(tmp_path))
    with pytest.raises(Cnn2GnnError, match="Triton model name"):
        write_triton_model(tmp_path / "repo", served, "my model")
    with pytest.raises(Cnn2GnnError, match="one per line"):
        triton_labels_text(["cat", "two\nlines"])
    assert not (tmp_path / "repo").exists()

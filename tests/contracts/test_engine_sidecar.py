import json

import pytest

from cnn2gnn.contracts.engine_sidecar import (
    EngineSidecar,
    compatibility_problems,
    read_engine_sidecar,
    write_engine_sidecar,
)
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import sidecar_path
from tests.engine._engines import sample_sidecar


def test_json_round_trip():
    sidecar = sample_sidecar(version_compatible=True, build_options={"workspace_bytes": 1 << 30})
    again = EngineSidecar.from_json(sidecar.to_json())
    assert again == sidecar
    assert (again.min_batch, again.opt_batch, again.max_batch) == (1, 1, 64)


def test_refit_fields_round_trip_and_default_to_a_plain_engine():
    refit = {"non_bank_sha256": "c" * 64, "weights": {"anchor_z_sq": {"shape": [100], "dtype": "float32",
                                                                      "sha256": "d" * 64}}}
    sidecar = sample_sidecar(refittable=True, refit=refit)
    assert EngineSidecar.from_json(sidecar.to_json()) == sidecar
    older = {k: v for k, v in sample_sidecar().to_dict().items() if k not in ("refittable", "refit")}
    assert (EngineSidecar.from_dict(older).refittable, EngineSidecar.from_dict(older).refit) == (False, {})


def test_write_and_read_beside_the_engine(tmp_path):
    engine = tmp_path / "m.engine"
    written = write_engine_sidecar(engine, sample_sidecar())
    assert written == sidecar_path(engine) == tmp_path / "m.engine.json"
    assert read_engine_sidecar(engine) == sample_sidecar()
    assert [p.name for p in tmp_path.iterdir()] == ["m.engine.json"]  # no temporary left behind


def test_runtime_finds_the_model_metadata_inside(tmp_path):
    from cnn2gnn.runtime.model_info import read_model_metadata

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    write_engine_sidecar(engine, sample_sidecar())
    metadata = read_model_metadata(engine)
    assert metadata.class_names == [str(i) for i in range(10)] and metadata.input_name == "images"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(format="cnn2gnn-model/1"), "not a cnn2gnn engine sidecar"),
        (lambda d: d.pop("engine_sha256"), "incomplete"),
        (lambda d: d.update(batch_profile={"min": 1}), "batch_profile"),
    ],
)
def test_bad_sidecars_are_refused_with_the_rebuild_hint(mutate, message):
    data = sample_sidecar().to_dict()
    mutate(data)
    with pytest.raises(Cnn2GnnError, match=f"{message}.*cnn2gnn build"):
        EngineSidecar.from_dict(data)


def test_invalid_json_is_refused():
    with pytest.raises(Cnn2GnnError, match="not valid JSON"):
        EngineSidecar.from_json("{")
    with pytest.raises(Cnn2GnnError, match="not a JSON object"):
        EngineSidecar.from_json(json.dumps([1]))


def test_same_setup_has_no_problems():
    assert compatibility_problems(sample_sidecar(), "10.3.0.26", "Orin", (8, 7)) == []


@pytest.mark.parametrize("running", ["10.3.1", "10.14.1", "10.2.0", "11.0.0"])
def test_plain_engines_need_the_exact_version(running):
    problems = compatibility_problems(sample_sidecar(), running, "Orin", "8.7")
    assert len(problems) == 1
    assert "built with TensorRT 10.3.0" in problems[0] and running in problems[0]
    assert "--version-compatible" in problems[0]


@pytest.mark.parametrize(
    "built, running, ok",
    [
        ("10.3.0", "10.3.0", True),
        ("10.3.0", "10.14.1", True),  # later minor, same major
        ("10.14.1", "10.3.0", False),  # never an older runtime
        ("10.3.0", "11.4.0", True),  # 10 -> 11 is allowed
        ("8.6.1", "10.3.0", True),  # 8 -> 10 is allowed
        ("8.6.1", "11.0.0", False),  # 8 -> 11 is not
        ("11.0.0", "11.4.0", True),
        ("11.4.0", "10.14.1", False),
    ],
)
def test_version_compatible_rules(built, running, ok):
    sidecar = sample_sidecar(tensorrt_version=built, version_compatible=True)
    assert (compatibility_problems(sidecar, running, None, None) == []) == ok


def test_other_compute_capability_is_named():
    problems = compatibility_problems(sample_sidecar(), "10.3.0", "NVIDIA GeForce RTX 3090", "8.6")
    assert len(problems) == 1
    assert "8.7 (Orin)" in problems[0] and "RTX 3090 (8.6)" in problems[0]


def test_same_compute_capability_other_model_loads():
    sidecar = sample_sidecar(gpu_name="NVIDIA GeForce RTX 3090", compute_capability="8.6")
    assert compatibility_problems(sidecar, "10.3.0", "NVIDIA RTX A6000", (8, 6)) == []


@pytest.mark.parametrize("running_cc, ok", [((8, 0), True), ((9, 0), True), ((12, 0), True), ((7, 5), False)])
def test_ampere_plus_engines(running_cc, ok):
    sidecar = sample_sidecar(gpu_name="RTX 3090", compute_capability="8.6", hardware_compatibility="AMPERE_PLUS")
    assert (compatibility_problems(sidecar, "10.3.0", "some GPU", running_cc) == []) == ok


def test_unknown_gpu_skips_the_gpu_check_but_not_the_version():
    assert compatibility_problems(sample_sidecar(), "10.3.0", None, None) == []
    assert len(compatibility_problems(sample_sidecar(), "10.4.0", None, None)) == 1


def test_both_problems_are_reported():
    assert len(compatibility_problems(sample_sidecar(), "11.0.0", "H100", "9.0")) == 2

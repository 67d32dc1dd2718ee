import pytest

from cnn2gnn.contracts.atomic_io import sha256_file
from cnn2gnn.contracts.engine_sidecar import write_engine_sidecar
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.trt_version import parse_trt_version
from cnn2gnn.engine.engine_key import (
    check_engine_reusable,
    decide_engine_reuse,
    engine_file_name,
    resolve_engine_path,
)
from tests.engine._engines import ONNX_SHA, sample_key, sample_sidecar


def test_key_records_what_identifies_an_engine():
    key = sample_key()
    assert key["source_onnx_sha256"] == ONNX_SHA
    assert key["tensorrt_version"] == "10.3.0"
    assert key["compute_capability"] == "8.7"
    assert (key["min_batch"], key["opt_batch"], key["max_batch"]) == (1, 1, 64)
    assert "workspace_bytes" not in key  # tactics speed, not identity


def test_default_file_name():
    assert engine_file_name(sample_key()) == "student-ab12cd34ef56-int8-trt10.3.0-sm87.engine"


def test_file_name_marks_portable_and_dla_engines():
    name = engine_file_name(sample_key(dla_core=1, version_compatible=True, hardware_compatibility="AMPERE_PLUS"))
    assert name == "student-ab12cd34ef56-int8-trt10.3.0-sm87-dla1-vc-hwc.engine"


def test_refittable_and_plain_engines_never_share_a_key_or_a_name():
    refittable, plain = sample_key(refittable=True), sample_key()
    assert refittable["refittable"] is True and plain["refittable"] is False
    assert engine_file_name(refittable) == "student-ab12cd34ef56-int8-trt10.3.0-sm87-refit.engine"
    assert check_engine_reusable(sample_sidecar(key=refittable), plain) == (
        False, ["refittable: engine has True, wanted False"])


def test_the_key_names_the_anchor_bank():
    ok, reasons = check_engine_reusable(sample_sidecar(key=sample_key(bank_sha256="a" * 64)),
                                        sample_key(bank_sha256="b" * 64))
    assert not ok and reasons == [f"bank_sha256: engine has {'a' * 64!r}, wanted {'b' * 64!r}"]


def test_file_name_is_filesystem_safe():
    assert engine_file_name(sample_key(model="my model/v2")).startswith("my_model_v2-")


def test_names_differ_across_versions_and_gpus():
    names = {
        engine_file_name(sample_key()),
        engine_file_name(sample_key(tensorrt_version=parse_trt_version("11.0.0"))),
        engine_file_name(sample_key(compute_capability="8.6")),
        engine_file_name(sample_key(precision="fp16", quantization=None)),
    }
    assert len(names) == 4


def test_matching_key_is_reusable():
    assert check_engine_reusable(sample_sidecar(), sample_key()) == (True, [])
    assert check_engine_reusable(sample_sidecar().to_dict(), sample_key()) == (True, [])


def test_mismatches_are_named_field_by_field():
    ok, reasons = check_engine_reusable(sample_sidecar(), sample_key(max_batch=32, gpu_name="Xavier"))
    assert not ok
    assert sorted(r.split(":")[0] for r in reasons) == ["gpu_name", "max_batch"]
    assert any("engine has 64, wanted 32" in r for r in reasons)


def test_sidecar_without_key_is_not_reusable():
    ok, reasons = check_engine_reusable({"format": "cnn2gnn-engine/1"}, sample_key())
    assert not ok and "no engine key" in reasons[0]


def test_resolve_engine_path(tmp_path):
    onnx = tmp_path / "models" / "student.onnx"
    name = engine_file_name(sample_key())
    assert resolve_engine_path(None, onnx, sample_key()) == tmp_path / "models" / name
    assert resolve_engine_path(tmp_path / "engines", onnx, sample_key()) == tmp_path / "engines" / name
    assert resolve_engine_path(tmp_path / "x.plan", onnx, sample_key()) == tmp_path / "x.plan"
    (tmp_path / "afile").write_text("")
    with pytest.raises(Cnn2GnnError, match="not a folder"):
        resolve_engine_path(tmp_path / "afile", onnx, sample_key())


@pytest.fixture
def built_engine(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized plan")
    write_engine_sidecar(engine, sample_sidecar(engine_sha256=sha256_file(engine)))
    return engine


def test_nothing_there_means_build(tmp_path):
    assert decide_engine_reuse(tmp_path / "m.engine", sample_key(), force=False) is False


def test_matching_engine_is_reused(built_engine):
    assert decide_engine_reuse(built_engine, sample_key(), force=False) is True


def test_stale_engine_is_refused_with_the_mismatch_named(built_engine):
    with pytest.raises(Cnn2GnnError, match=r"tensorrt_version: engine has '10.3.0', wanted '10.14.1'.*--force"):
        decide_engine_reuse(built_engine, sample_key(tensorrt_version=parse_trt_version("10.14.1")), force=False)


def test_stale_engine_is_rebuilt_with_force(built_engine):
    assert decide_engine_reuse(built_engine, sample_key(max_batch=8), force=True) is False


def test_replaced_engine_file_is_refused(built_engine):
    built_engine.write_bytes(b"another plan")
    with pytest.raises(Cnn2GnnError, match="changed after its sidecar"):
        decide_engine_reuse(built_engine, sample_key(), force=False)


def test_engine_without_sidecar_is_refused(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan from somewhere")
    with pytest.raises(Cnn2GnnError, match="no sidecar"):
        decide_engine_reuse(engine, sample_key(), force=False)
    assert decide_engine_reuse(engine, sample_key(), force=True) is False


def test_corrupt_sidecar_is_refused(built_engine):
    built_engine.with_name("m.engine.json").write_text("{not json")
    with pytest.raises(Cnn2GnnError, match="corrupt metadata sidecar.*--force"):
        decide_engine_reuse(built_engine, sample_key(), force=False)

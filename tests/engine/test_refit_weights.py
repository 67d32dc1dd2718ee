"""Which models a refittable engine can take by a refit, and the key and sidecar of the refitted engine (no TensorRT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnn2gnn.contracts.atomic_io import sha256_bytes
from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.engine.engine_key import check_engine_reusable, engine_file_name
from cnn2gnn.engine.onnx_facts import read_onnx_facts
from cnn2gnn.engine.refit_weights import (
    changed_weights,
    refit_problems,
    refit_weights_from_onnx,
    refitted_key,
    refitted_sidecar,
    require_refittable,
)
from tests.engine._engines import refittable_build_key, refittable_sidecar, sample_sidecar

EDITED = ["anchor_dist_weight", "anchor_hidden", "anchor_targets", "anchor_values", "anchor_z_sq"]


def test_an_append_into_reserved_rows_fits_and_only_edited_bank_weights_are_set(bank_models: dict[str, Path]) -> None:
    sidecar = refittable_sidecar(bank_models["source"])
    appended = refit_weights_from_onnx(bank_models["append"])
    assert refit_problems(sidecar, appended) == []
    assert changed_weights(sidecar, appended) == EDITED  # label_scale (beta) is untouched by enrolment
    assert changed_weights(sidecar, refit_weights_from_onnx(bank_models["source"])) == []
    assert sorted(appended.bank) == sorted([*EDITED, "label_scale"])
    assert "layer_weight_1" in appended.others and not set(appended.others) & set(appended.bank)


def test_a_new_class_is_refused_naming_the_shapes_and_the_rebuild(bank_models: dict[str, Path]) -> None:
    sidecar = refittable_sidecar(bank_models["source"])
    new_class = refit_weights_from_onnx(bank_models["new_class"])
    problems = refit_problems(sidecar, new_class)
    assert len(problems) == 2
    assert problems[0].startswith("anchor_targets is 100x11 float32 in new.onnx, 100x10 float32 in the engine; "
                                  "anchor_values is 100x43 float32 in new.onnx, 100x42 float32 in the engine: a refit "
                                  "keeps each weight's element count and type")
    assert problems[1].startswith("new.onnx differs from the engine's model outside the anchor bank")
    with pytest.raises(Cnn2GnnError, match=r"(?s)m.engine cannot be refitted from .*new.onnx:\n  - anchor_targets .*\n"
                                           r"Build an engine from it instead: `cnn2gnn build .*new.onnx --precision fp32 "
                                           r"--refittable`"):
        require_refittable(sidecar, new_class, Path("m.engine"))


def test_a_plain_engine_or_one_without_a_refit_record_is_refused(bank_models: dict[str, Path]) -> None:
    appended = refit_weights_from_onnx(bank_models["append"])
    assert refit_problems(sample_sidecar(), appended) == [
        "it was built without --refittable, so TensorRT cannot change its weights"]
    assert refit_problems(sample_sidecar(refittable=True), appended) == [
        "its sidecar records no refit layout (made by another tool or an older cnn2gnn)"]


def test_a_model_without_an_anchor_bank_has_nothing_to_refit(linear_onnx: Path) -> None:
    with pytest.raises(Cnn2GnnError, match=r"linear.onnx: no anchor bank \(initializers anchor_dist_weight"):
        refit_weights_from_onnx(linear_onnx)


def test_the_refitted_key_is_the_refittable_build_key_of_the_new_model(bank_models: dict[str, Path]) -> None:
    old = refittable_sidecar(bank_models["source"])
    facts = read_onnx_facts(bank_models["append"])
    key = refitted_key(old.key, facts)
    assert key == refittable_build_key(bank_models["append"])
    assert key["bank_sha256"] == facts.metadata.extra["anchor_bank"]["sha256"] != old.key["bank_sha256"]
    ok, reasons = check_engine_reusable(old, key)  # the old engine never serves the new bank
    assert not ok and [r.split(":")[0] for r in reasons] == ["source_onnx_sha256", "bank_sha256"]
    assert engine_file_name(key) != engine_file_name(old.key) and engine_file_name(key).endswith("-refit.engine")


def test_the_refitted_sidecar_describes_the_new_model_and_keeps_the_build(bank_models: dict[str, Path]) -> None:
    old = refittable_sidecar(bank_models["source"], engine_sha256="1" * 64)
    facts = read_onnx_facts(bank_models["append"])
    weights = refit_weights_from_onnx(bank_models["append"])
    new = refitted_sidecar(old, facts, weights, b"refitted plan", EDITED, {"passed": True})
    assert (new.source_onnx, new.source_onnx_sha256) == ("more3.onnx", facts.sha256)
    assert new.engine_sha256 == sha256_bytes(b"refitted plan") and new.key == refitted_key(old.key, facts)
    assert new.model_metadata["extra"]["anchor_bank"]["size"] == 84 and new.refittable
    assert new.refit["weights"] == weights.layout and new.refit["non_bank_sha256"] == old.refit["non_bank_sha256"]
    entry = new.refit["history"][-1]
    assert (entry["from_engine_sha256"], entry["from_bank_sha256"], entry["weights_set"]) == (
        "1" * 64, old.key["bank_sha256"], EDITED)
    assert (new.tensorrt_version, new.batch_profile, new.built_at, new.build_options) == (
        old.tensorrt_version, old.batch_profile, old.built_at, old.build_options)
    assert changed_weights(new, weights) == [] and refit_problems(new, weights) == []  # the next refit starts here

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.metadata import ModelMetadata
from cnn2gnn.contracts.preprocessing import preprocess_images
from cnn2gnn.runtime import load_backend
from cnn2gnn.runtime.compare import compare_backends, format_comparison, logit_agreement
from tests.runtime._onnx_models import linear_logits, write_linear_onnx


def test_logit_agreement_arithmetic():
    a = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]], dtype=np.float32)
    b = np.array([[1.5, 0.0], [1.0, 0.0], [2.0, 0.25]], dtype=np.float32)
    out = logit_agreement(a, b)
    assert out["top1_agreement"] == pytest.approx(2 / 3)
    assert out["disagreements"] == 1
    assert out["max_abs_logit_diff"] == pytest.approx(1.0)
    assert out["mean_abs_logit_diff"] == pytest.approx((0.5 + 1 + 1 + 0.25) / 6)


def test_same_model_twice_agrees_exactly(student_model, digits):
    with load_backend(student_model.path) as a, load_backend(student_model.path, threads=1) as b:
        out = compare_backends(a, b, digits.test.images[:50], digits.test.labels[:50], digits.class_names,
                               batch_size=16, progress=False)
    assert out["top1_agreement"] == 1.0 and out["max_abs_logit_diff"] < 1e-5
    assert out["model_a"]["accuracy"] == out["model_b"]["accuracy"]


def test_teacher_vs_student_each_with_its_own_preprocessing(teacher_model, student_model, digits):
    images, labels = digits.test.images, digits.test.labels
    with load_backend(teacher_model.path) as t, load_backend(student_model.path) as s:
        out = compare_backends(t, s, images, labels, digits.class_names, batch_size=100, progress=False)

    ref = {}
    for name, m in (("t", teacher_model), ("s", student_model)):
        ref[name] = linear_logits(preprocess_images(images, m.metadata.preprocessing), m.weight, m.bias)
    assert out["images"] == len(images)
    assert out["model_a"]["kind"] == "teacher" and out["model_b"]["kind"] == "student"
    assert out["model_a"]["accuracy"] == pytest.approx(np.mean(ref["t"].argmax(1) == labels))
    assert out["model_b"]["accuracy"] == pytest.approx(np.mean(ref["s"].argmax(1) == labels))
    assert out["top1_agreement"] == pytest.approx(np.mean(ref["t"].argmax(1) == ref["s"].argmax(1)))
    assert out["max_abs_logit_diff"] == pytest.approx(np.abs(ref["t"] - ref["s"]).max(), rel=1e-4)
    assert 0.8 < out["top1_agreement"] < 1.0  # two real models that mostly, not always, agree
    assert "top-1 agreement" in format_comparison(out)


def test_models_of_different_datasets_are_not_compared(student_model, tmp_path, digits):
    other_meta = ModelMetadata.from_dict({**student_model.metadata.to_dict(), "class_names": list("abcdefghij")})
    other = write_linear_onnx(tmp_path / "other.onnx", student_model.weight, student_model.bias, other_meta)
    with load_backend(student_model.path) as a, load_backend(other) as b:
        with pytest.raises(Cnn2GnnError, match="different classes"):
            compare_backends(a, b, digits.test.images[:4], progress=False)
        with pytest.raises(Cnn2GnnError, match="dataset's classes"):
            compare_backends(b, b, digits.test.images[:4], digits.test.labels[:4], digits.class_names, progress=False)


import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.preprocessing import preprocess_images
from cnn2gnn.runtime import Classifier, load_backend
from cnn2gnn.runtime.classifier import softmax
from tests.runtime._onnx_models import linear_logits, write_linear_onnx


def test_softmax_is_normalised_and_does_not_overflow():
    p = softmax(np.array([[1000.0, 999.0, -1000.0], [0.0, 0.0, 0.0]]))
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0, :2], [1 / (1 + np.exp(-1)), np.exp(-1) / (1 + np.exp(-1))], rtol=1e-5)
    np.testing.assert_allclose(p[1], 1 / 3, rtol=1e-6)


def test_classify_returns_sorted_top_k_of_the_real_logits(student_model, digits):
    images = digits.test.images[:20]
    with load_backend(student_model.path) as backend:
        preds = Classifier(backend).classify(images, input_order="RGB", top_k=3)
    expected = linear_logits(preprocess_images(images, student_model.metadata.preprocessing),
                             student_model.weight, student_model.bias)
    assert len(preds) == 20
    for pred, row in zip(preds, expected):
        assert pred.indices == [int(i) for i in np.argsort(-row)[:3]]
        assert pred.labels == [digits.class_names[i] for i in pred.indices]
        assert pred.scores == sorted(pred.scores, reverse=True)
        np.testing.assert_allclose(pred.scores, softmax(row[None])[0][pred.indices], rtol=1e-5)
    accuracy = np.mean([p.indices[0] == y for p, y in zip(preds, digits.test.labels[:20])])
    assert accuracy >= 0.8  # a real fitted model, seen through the whole runtime path


def test_top_k_is_capped_at_the_number_of_classes_and_validated(student_model, digits):
    with load_backend(student_model.path) as backend:
        clf = Classifier(backend)
        assert len(clf.classify(digits.test.images[:1], "RGB", top_k=50)[0].labels) == 10
        with pytest.raises(Cnn2GnnError, match="top_k"):
            clf.classify(digits.test.images[:1], "RGB", top_k=0)
        with pytest.raises(Cnn2GnnError, match="input_order"):
            clf.classify(digits.test.images[:1], "YUV")


def test_bgr_frames_and_rgb_images_classify_identically(teacher_model):
    rgb = [np.random.default_rng(i).integers(0, 256, (20 + i, 17, 3), dtype=np.uint8) for i in range(4)]
    bgr = [np.ascontiguousarray(im[:, :, ::-1]) for im in rgb]
    with load_backend(teacher_model.path) as backend:
        clf = Classifier(backend)
        np.testing.assert_array_equal(clf.logits(bgr, "BGR"), clf.logits(rgb, "RGB"))
        # The order matters for a colour model: reading BGR as RGB gives another tensor.
        assert not np.array_equal(clf.preprocess(bgr, "RGB"), clf.preprocess(rgb, "RGB"))


@pytest.mark.parametrize("model_name", ["teacher_model", "student_model"])
def test_runtime_preprocessing_of_png_files_equals_training_preprocessing(model_name, request, tmp_path):
    """PNG files read by OpenCV (BGR, as a camera or a deployed app gets them) give exactly the tensor the
    training pipeline builds from the dataset loader's RGB decode of the same files."""
    import cv2

    from cnn2gnn.contracts.images import read_image

    model = request.getfixturevalue(model_name)
    rng = np.random.default_rng(7)
    originals = [rng.integers(0, 256, (31, 45, 3), dtype=np.uint8), rng.integers(0, 256, (8, 8, 3), dtype=np.uint8),
                 rng.integers(0, 256, (19, 23), dtype=np.uint8)]
    paths = []
    for i, img in enumerate(originals):
        path = tmp_path / f"img{i}.png"
        assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR) if img.ndim == 3 else img)
        paths.append(path)

    frames = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths]  # BGR (or gray) as deployed code reads
    training_rgb = [read_image(p) for p in paths]  # what the dataset loaders hand to training
    for decoded, original in zip(training_rgb, originals):
        np.testing.assert_array_equal(decoded, original)  # PNG is lossless: the files hold the pixels

    spec = model.metadata.preprocessing
    with load_backend(model.path) as backend:
        runtime_tensor = Classifier(backend).preprocess(frames, input_order="BGR")
    training_tensor = preprocess_images(training_rgb, spec, input_order="RGB")
    assert runtime_tensor.shape == (3, *spec.input_shape)
    np.testing.assert_array_equal(runtime_tensor, training_tensor)


def test_logits_of_another_width_than_the_class_names_are_refused(student_model, digits, tmp_path):
    """A model scoring 10 classes whose metadata names 3 (an edited checkpoint or metadata): refused by name,
    not an IndexError while labelling the predictions."""
    from dataclasses import replace

    metadata = replace(student_model.metadata, class_names=["zero", "one", "two"])
    path = write_linear_onnx(tmp_path / "renamed.onnx", student_model.weight, student_model.bias, metadata)
    with load_backend(path) as backend:
        clf = Classifier(backend)
        for run in (lambda: clf.classify(digits.test.images[:2], "RGB"), lambda: clf.logits(digits.test.images[:2])):
            with pytest.raises(Cnn2GnnError) as err:
                run()
            assert str(err.value) == (f"{path}: its output 'logits' has shape [2, 10], but its metadata lists 3 class "
                                      "names (expected [N, 3], one logit per class): model and metadata do not belong "
                                      "together; re-export the model with `cnn2gnn export`")

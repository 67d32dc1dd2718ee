import numpy as np
import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.baselines.knn import KNNClassifier, knn_from_student
from cnn2gnn.toolchain.models.student import CNN2GNNStudent
from cnn2gnn.toolchain.models.student_config import StudentConfig


@pytest.mark.parametrize("vote,sk_weights", [("distance", "distance"), ("majority", "uniform")])
def test_predictions_match_scikit_learn_on_digits(vote: str, sk_weights: str) -> None:
    from sklearn.datasets import load_digits
    from sklearn.neighbors import KNeighborsClassifier

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    anchors, labels, queries = x[:300], y[:300], x[300:800]
    ours = KNNClassifier(torch.from_numpy(anchors), torch.from_numpy(labels), 10, k=7, vote=vote)
    pred = ours(torch.from_numpy(queries).reshape(-1, 1, 8, 8)).argmax(1).numpy()
    ref = KNeighborsClassifier(n_neighbors=7, weights=sk_weights).fit(anchors, labels).predict(queries)
    agreement = (pred == ref).mean()
    # Only ties may differ: integer pixels make equal distances at the k-th place common (either anchor is
    # a valid k-th neighbour), and sklearn breaks a tied majority by the lowest label, we by the nearest.
    assert agreement >= 0.98
    assert (pred == y[300:800]).mean() > 0.8  # 300 anchors: ~85%


def test_a_tied_majority_goes_to_the_nearest_neighbour() -> None:
    anchors = torch.tensor([[0.0], [1.0], [-1.2], [5.0]])
    knn = KNNClassifier(anchors, torch.tensor([1, 0, 0, 1]), 2, k=2, vote="majority")
    assert knn(torch.tensor([[[[0.1]]]])).argmax(1).item() == 1  # neighbours: class 1 at 0.1, class 0 at 0.9


def test_built_from_a_students_anchor_bank() -> None:
    student = CNN2GNNStudent(StudentConfig(1, 4, 4, 3, k=2, num_anchors=6))
    with pytest.raises(Cnn2GnnError, match="no anchors"):
        knn_from_student(student)
    images = torch.randn(6, 1, 4, 4)
    student.set_anchors(images, torch.arange(6), torch.tensor([0, 1, 2, 0, 1, 2]))
    knn = knn_from_student(student)
    assert knn.k == 2 and torch.equal(knn.anchors, images.flatten(1))
    assert knn(images).argmax(1).tolist() == [0, 1, 2, 0, 1, 2]  # each anchor is its own nearest neighbour

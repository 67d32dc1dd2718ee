from __future__ import annotations

from cnn2gnn.contracts.class_names import class_list_difference


def test_equal_lists_have_no_difference() -> None:
    assert class_list_difference(["a", "b"], ("a", "b")) is None


def test_counts_and_the_first_difference_not_two_equal_prefixes() -> None:
    ten, many = [str(i) for i in range(10)], [str(i) for i in range(201)]
    assert class_list_difference(ten, many) == "10 vs 201 classes; the first difference is class 10: none vs '10'"
    assert class_list_difference(["cat", "dog"], ["cat", "cow"]) == \
        "2 classes each; the first difference is class 1: 'dog' vs 'cow'"

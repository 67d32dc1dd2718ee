import pytest
import torch

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.toolchain.models.cnn_student import CNNStudent, CNNStudentConfig
from cnn2gnn.toolchain.models.registry import model_from_config


def test_registered_family_round_trips_and_classifies_any_size() -> None:
    cfg = CNNStudentConfig(1, 15, 9, 4, widths=[3, 5, 6])
    model = model_from_config(cfg.to_dict())
    assert isinstance(model, CNNStudent) and model.cfg == cfg
    assert cfg.feature_size == (2, 2)  # 15 -> 8 -> 4 -> 2 and 9 -> 5 -> 3 -> 2
    assert model(torch.zeros(3, 1, 15, 9)).shape == (3, 4)


@pytest.mark.parametrize("widths", [[], [4, 0], [1, 2, 3, 4, 5]])
def test_bad_widths_are_refused(widths: list[int]) -> None:
    with pytest.raises(Cnn2GnnError, match="conv widths"):
        CNNStudentConfig(1, 8, 8, 2, widths=widths)

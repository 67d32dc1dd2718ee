import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.gpu_info import (
    GpuInfo,
    compute_capability_text,
    parse_compute_capability,
    query_gpu_info,
    sm_tag,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("8.7", (8, 7)),
        ((8, 6), (8, 6)),
        ([7, 5], (7, 5)),
        ("sm87", (8, 7)),
        ("sm_90", (9, 0)),
        ("SM100", (10, 0)),
        ("12.0", (12, 0)),
    ],
)
def test_parse_compute_capability(value, expected):
    assert parse_compute_capability(value) == expected


@pytest.mark.parametrize("value", ["", "ampere", "8", "sm", (8,)])
def test_parse_compute_capability_rejects(value):
    with pytest.raises(Cnn2GnnError, match="compute capability"):
        parse_compute_capability(value)


def test_formats():
    assert sm_tag((8, 7)) == "sm87"
    assert sm_tag((10, 0)) == "sm100"
    assert compute_capability_text((8, 7)) == "8.7"
    assert GpuInfo("Orin", (8, 7), True).to_dict() == {"name": "Orin", "compute_capability": "8.7", "integrated": True}


def test_query_without_cuda_libraries_says_what_to_install():
    try:
        import cuda  # noqa: F401

        pytest.skip("a CUDA Python library is installed here")
    except ImportError:
        pass
    try:
        import pycuda  # noqa: F401

        pytest.skip("pycuda is installed here")
    except ImportError:
        pass
    with pytest.raises(Cnn2GnnError, match="cuda-python.*pycuda"):
        query_gpu_info()

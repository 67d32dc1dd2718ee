import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.trt_version import TrtVersion, parse_trt_version


@pytest.mark.parametrize(
    "text, expected",
    [
        ("10.3.0", (10, 3, 0)),
        ("10.3.0.26", (10, 3, 0)),  # the build number is dropped
        ("8.6.1.post1", (8, 6, 1)),
        ("11.0", (11, 0, 0)),
        (" 10.14.1 ", (10, 14, 1)),
    ],
)
def test_parse_trt_version(text, expected):
    version = parse_trt_version(text)
    assert version == expected
    assert str(version) == ".".join(map(str, expected))


@pytest.mark.parametrize("text", ["", "ten", "v10.3", "10"])
def test_parse_trt_version_rejects_garbage(text):
    with pytest.raises(Cnn2GnnError, match="TensorRT version"):
        parse_trt_version(text)


def test_versions_order_numerically():
    assert parse_trt_version("10.14.1") > parse_trt_version("10.3.0")
    assert parse_trt_version("11.0.0") > parse_trt_version("10.14.1")


# version -> (implicit int8, deprecated, precision flags, strongly typed only, STRONGLY_TYPED flag, progress, vc)
CAPABILITIES = {
    "8.5.2": (True, False, True, False, False, False, False),
    "8.6.1": (True, False, True, False, False, False, True),
    "10.0.1": (True, False, True, False, True, True, True),
    "10.3.0": (True, True, True, False, True, True, True),
    "10.14.1": (True, True, True, False, True, True, True),
    "11.0.0": (False, True, False, True, False, True, True),
    "11.4.0": (False, True, False, True, False, True, True),
}


@pytest.mark.parametrize("text", sorted(CAPABILITIES))
def test_capabilities(text):
    v = parse_trt_version(text)
    got = (
        v.supports_implicit_int8,
        v.implicit_int8_deprecated,
        v.supports_precision_flags,
        v.strongly_typed_only,
        v.has_strongly_typed_flag,
        v.has_progress_monitor,
        v.supports_version_compatible,
    )
    assert got == CAPABILITIES[text]
    assert v.supports_hardware_compatibility == v.supports_version_compatible


def test_trt_version_is_a_tuple():
    assert TrtVersion(10, 3, 0)[:2] == (10, 3)

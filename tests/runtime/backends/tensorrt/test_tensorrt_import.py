import sys

import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.tensorrt_import import require_tensorrt, tensorrt_available

needs_no_tensorrt = pytest.mark.skipif(tensorrt_available(), reason="TensorRT is installed here")


@needs_no_tensorrt
def test_missing_tensorrt_says_how_to_install():
    with pytest.raises(Cnn2GnnError) as info:
        require_tensorrt()
    message = str(info.value)
    assert message.startswith("TensorRT is not installed")
    assert "python3-libnvinfer" in message and "pip install tensorrt" in message


@needs_no_tensorrt
def test_type_stubs_alone_do_not_count_as_tensorrt(tmp_path, monkeypatch):
    stubs = tmp_path / "tensorrt"
    stubs.mkdir()
    (stubs / "__init__.pyi").write_text("class Builder: ...\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    import tensorrt  # the namespace package the stubs leave behind: importable, but empty

    assert not hasattr(tensorrt, "Builder")
    assert not tensorrt_available()
    with pytest.raises(Cnn2GnnError, match="empty package.*type stubs"):
        require_tensorrt()
    monkeypatch.delitem(sys.modules, "tensorrt")

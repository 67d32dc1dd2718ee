import importlib.util

import numpy as np
import pytest

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.tensorrt.cuda_memory import LIBRARIES, array_at_address, create_cuda_memory


def _installed(library: str) -> bool:
    top = {"cuda-python": "cuda", "pycuda": "pycuda"}[library]
    return importlib.util.find_spec(top) is not None


def test_array_at_address_is_a_writable_alias_of_that_memory():
    """The view cuda-python's pinned buffers get, exercised on ordinary host memory from ctypes."""
    import ctypes

    owner = ctypes.create_string_buffer(2 * 3 * 2)
    view, keepalive = array_at_address(ctypes.addressof(owner), (2, 3), np.float16)
    assert view.shape == (2, 3) and view.dtype == np.float16 and view.flags.writeable
    view[:] = np.arange(6, dtype=np.float16).reshape(2, 3)
    np.testing.assert_array_equal(np.frombuffer(owner.raw, dtype=np.float16), np.arange(6, dtype=np.float16))
    ctypes.memset(ctypes.addressof(owner), 0, 2)  # first element through the other name
    assert view[0, 0] == 0 and view[0, 1] == 1
    assert ctypes.addressof(keepalive) == ctypes.addressof(owner) and view.ctypes.data == ctypes.addressof(owner)


def test_unknown_library_lists_the_valid_ones():
    with pytest.raises(Cnn2GnnError, match="cuda-python.*pycuda"):
        create_cuda_memory(prefer="cupy")


@pytest.mark.skipif(any(_installed(lib) for lib in LIBRARIES), reason="a CUDA memory library is installed")
def test_neither_library_installed_names_both_with_install_steps():
    with pytest.raises(Cnn2GnnError) as info:
        create_cuda_memory()
    message = str(info.value)
    assert "pip install cuda-python" in message
    assert "pip install pycuda" in message and "CPATH=/usr/local/cuda/include" in message


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_preferred_library_that_is_missing_is_named(library):
    if _installed(library):
        pytest.skip(f"{library} is installed")
    with pytest.raises(Cnn2GnnError, match=f"{library}: "):
        create_cuda_memory(prefer=library)


@pytest.mark.gpu
@pytest.mark.parametrize("library", LIBRARIES)
def test_round_trip_through_device_memory(library):
    if not _installed(library):
        pytest.skip(f"{library} is not installed")
    mem = create_cuda_memory(prefer=library)
    try:
        assert mem.library == library
        assert mem.compute_capability()[0] >= 5 and mem.device_name()
        stream = mem.create_stream()
        host = mem.alloc_pinned((4, 3), np.float16)
        back = mem.alloc_pinned((4, 3), np.float16)
        host[:] = np.arange(12, dtype=np.float16).reshape(4, 3)
        ptr = mem.alloc(host.nbytes)
        mem.copy_htod_async(ptr, host, stream)
        mem.copy_dtoh_async(back, ptr, stream)
        mem.synchronize(stream)
        np.testing.assert_array_equal(back, host)
        mem.copy_htod(ptr, np.full((4, 3), 7, dtype=np.float16))  # blocking: no stream needed
        mem.copy_dtoh_async(back, ptr, stream)
        mem.synchronize(stream)
        assert np.all(back == 7)
        mem.free(ptr)
        mem.free_pinned(host)
    finally:
        mem.close()

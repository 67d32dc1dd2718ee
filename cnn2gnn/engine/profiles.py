"""The optimization profile of an engine: the batch sizes it accepts (min <= opt <= max).

cnn2gnn models take NCHW images where only N may be dynamic (-1 in ONNX terms). TensorRT tunes its
kernels for ``opt`` and accepts any batch in ``[min, max]``.
"""

from __future__ import annotations

from typing import Sequence

from cnn2gnn.contracts.errors import Cnn2GnnError

Shape = tuple[int, int, int, int]
DEFAULT_MIN_BATCH = 1
DEFAULT_OPT_BATCH = 1
DEFAULT_MAX_BATCH = 64


def _static_dim(value: object) -> int | None:
    """A fixed dimension, or None for a dynamic one (-1, 0, None or a symbolic name like 'batch')."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def image_dims(input_shape: Sequence[object], input_name: str = "the model input") -> tuple[int, int, int]:
    """(C, H, W) of an NCHW input, which must be fixed."""
    if len(input_shape) != 4:
        raise Cnn2GnnError(f"{input_name} has shape {list(input_shape)}; cnn2gnn engines take NCHW images (4 dims)")
    dims = []
    for axis, dim in zip("CHW", input_shape[1:], strict=True):
        static = _static_dim(dim)
        if static is None:
            raise Cnn2GnnError(
                f"{input_name} has a dynamic {axis} axis ({list(input_shape)}); only the batch axis may be "
                "dynamic: re-export with a fixed image size"
            )
        dims.append(static)
    return dims[0], dims[1], dims[2]


def batch_profile(
    input_shape: Sequence[object],
    min_batch: int | None = None,
    opt_batch: int | None = None,
    max_batch: int | None = None,
    input_name: str = "the model input",
) -> tuple[int, int, int]:
    """(min, opt, max) batch for a model input of shape ``input_shape`` ([N, C, H, W]).

    Unset values default to 1 / 1 / 64 for a dynamic batch and to the fixed batch otherwise; a fixed
    batch admits no other profile.
    """
    image_dims(input_shape, input_name)
    fixed = _static_dim(input_shape[0])
    if fixed is not None:
        given = {"--min-batch": min_batch, "--opt-batch": opt_batch, "--max-batch": max_batch}
        wrong = {name: value for name, value in given.items() if value is not None and value != fixed}
        if wrong:
            raise Cnn2GnnError(
                f"{input_name} has a fixed batch of {fixed} ({list(input_shape)}), so the profile must be "
                f"{fixed}/{fixed}/{fixed}; got {', '.join(f'{k} {v}' for k, v in wrong.items())}. "
                "Drop those options or re-export with a dynamic batch"
            )
        return fixed, fixed, fixed
    lo = DEFAULT_MIN_BATCH if min_batch is None else min_batch
    hi = DEFAULT_MAX_BATCH if max_batch is None else max_batch
    if opt_batch is None:
        opt = min(max(DEFAULT_OPT_BATCH, lo), hi)
    else:
        opt = opt_batch
    if lo < 1:
        raise Cnn2GnnError(f"--min-batch must be at least 1, got {lo}")
    if not lo <= opt <= hi:
        raise Cnn2GnnError(f"batch profile must satisfy 1 <= min <= opt <= max; got min {lo}, opt {opt}, max {hi}")
    return lo, opt, hi


def profile_shapes(
    input_shape: Sequence[object],
    min_batch: int | None = None,
    opt_batch: int | None = None,
    max_batch: int | None = None,
    input_name: str = "the model input",
) -> tuple[Shape, Shape, Shape]:
    """(min_shape, opt_shape, max_shape) for ``IOptimizationProfile.set_shape``."""
    lo, opt, hi = batch_profile(input_shape, min_batch, opt_batch, max_batch, input_name)
    c, h, w = image_dims(input_shape, input_name)
    return (lo, c, h, w), (opt, c, h, w), (hi, c, h, w)

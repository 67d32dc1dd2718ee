"""The README of a Triton model entry: what the client must do to an image before sending it.

Triton receives the model's float32 NCHW tensor, so the client owns the preprocessing. The numbers
here are the model's own metadata, written with ``repr`` so nothing is rounded; the steps follow
:func:`cnn2gnn.contracts.preprocessing.preprocess_image` in its order.
"""

from __future__ import annotations

from cnn2gnn.contracts.preprocessing import Preprocessing
from cnn2gnn.export.serving.served_model import ServedModel

_OPENCV_FLAGS = {"linear": "cv2.INTER_LINEAR", "area": "cv2.INTER_AREA", "nearest": "cv2.INTER_NEAREST",
                 "cubic": "cv2.INTER_CUBIC"}


def _numbers(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(repr(v) for v in values) + ("," if len(values) == 1 else "") + ")"


def _channel_step(spec: Preprocessing) -> str:
    if spec.channels == 1:
        return ("3. Gray: from a colour image take the ITU-R 601 luma of the [0, 1] floats, "
                "`0.299*R + 0.587*G + 0.114*B` (OpenCV's RGB2GRAY weights); a gray image stays as it is.")
    return (f"3. Colour: channel order {spec.color_order} (convert from your decoder's order; OpenCV decodes BGR); "
            "a gray image is repeated into 3 channels.")


def preprocessing_steps(spec: Preprocessing) -> str:
    """The client-side steps as a numbered Markdown list, exact numbers included."""
    flag = _OPENCV_FLAGS[spec.interpolation]
    return "\n".join([
        f"1. Resize to {spec.height} x {spec.width} (height x width) with {flag}, stretching (no aspect-ratio "
        "padding, no crop). A uint8 image with more pixels than that is resized as uint8 first; anything else is "
        "resized after steps 2-3. An alpha channel is dropped.",
        "2. Scale uint8 pixels to [0, 1]: `x * (1 / 255)` in float32.",
        _channel_step(spec),
        f"4. Normalise per channel: `(x - mean) / std` with mean = {_numbers(spec.mean)}, "
        f"std = {_numbers(spec.std)}.",
        f"5. Lay out as float32 NCHW: one image is [1, {spec.channels}, {spec.height}, {spec.width}].",
    ])


def triton_readme(name: str, model: ServedModel, max_batch_size: int) -> str:
    spec = model.metadata.preprocessing
    shape = (f"[N, {spec.channels}, {spec.height}, {spec.width}] with N from 1 to {max_batch_size}"
             if max_batch_size > 0 else f"{[model.fixed_batch or -1, *spec.input_shape]} (batch included)")
    construct = (f"Preprocessing(height={spec.height}, width={spec.width}, channels={spec.channels}, "
                 f"mean={_numbers(spec.mean)}, std={_numbers(spec.std)}, interpolation={spec.interpolation!r}, "
                 f"color_order={spec.color_order!r})")
    return f"""# {name}

A cnn2gnn {model.metadata.kind} ({model.precision}) served by Triton's `{model.format.triton_platform}` platform,
from `{model.path.name}`: {model.metadata.num_classes} classes, labels in `labels.txt` (line i = class i).

## Input `{model.input_name}`: float32 {shape}

Triton runs the model only; the client must turn each image into the tensor the model was trained on:

{preprocessing_steps(spec)}

The same, with cnn2gnn installed (numpy and OpenCV only, no torch):

```python
from cnn2gnn.contracts.preprocessing import Preprocessing, preprocess_images
spec = {construct}
batch = preprocess_images(images, spec, input_order="BGR")  # "RGB" for RGB images
```

## Output `{model.output_name}`: float32 logits, one per class (no softmax)

Ask for `class_count=k` on `{model.output_name}` (Triton's classification extension) to get the top k as
`"logit:index:label"` strings, labels from `labels.txt`.
"""

"""FP32 ONNX -> explicit-INT8 Q/DQ ONNX with ONNX Runtime's static quantiser.

The form TensorRT 10/11 build INT8 engines from, and ONNX Runtime's CPU provider runs: symmetric
INT8 activations (zero point 0), symmetric per-channel INT8 weights, QuantFormat.QDQ. Biases stay
float: TensorRT's parser rejects a DequantizeLinear of INT32 (quantize_static's default bias form)
with "only activation types allowed as input to this layer", and quantises the bias itself.

Two ONNX Runtime behaviours are corrected here:

* ``quantize_static`` does not pass a histogram size to its entropy calibrator, whose default of
  128 bins with 128 quantised bins leaves exactly one candidate threshold (the full range): entropy
  would silently equal min-max. The ranges are therefore computed with ONNX Runtime's calibrator
  directly (2048 bins searched with 128 quantised bins, TensorRT's entropy-calibrator settings) and
  handed to ``quantize_static`` through its calibration cache. 255 quantised bins (every INT8 level
  of ONNX Runtime's two-sided histogram) was measured too: it clipped post-ReLU tensors of the digits
  teacher up to 8x below their maximum and cost 1.95 points of test accuracy; 128 cost none.
* An excluded node that reads a tensor some quantised node also reads is given the dequantised
  copy, so the "float" graph path would still see INT8-rounded features. Excluded nodes are
  rewired to the float tensor, and the graph outputs are left unquantised (INT8-rounded logits
  would make near-ties in the arg-max and add error for no speed).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.contracts.lazy_import import ONNXRUNTIME_HINT, lazy_import
from cnn2gnn.contracts.progress import progress_bar

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_HISTOGRAM_BINS = 2048
ENTROPY_QUANTIZED_BINS = 128
PERCENTILE = 99.999


def _ort_quantization() -> Any:
    return lazy_import("onnxruntime.quantization", ONNXRUNTIME_HINT, "INT8 calibration")


def _calibration_method(method: str) -> Any:
    if method not in CALIBRATION_METHODS:
        raise Cnn2GnnError(f"calibration method {method!r} unknown; use one of {', '.join(CALIBRATION_METHODS)}")
    methods = _ort_quantization().CalibrationMethod
    return {"minmax": methods.MinMax, "entropy": methods.Entropy, "percentile": methods.Percentile}[method]


def _calibrator_options(method: str, num_bins: int | None) -> dict[str, Any]:
    bins = num_bins or DEFAULT_HISTOGRAM_BINS
    if method == "entropy":
        return {"symmetric": True, "num_bins": bins, "num_quantized_bins": ENTROPY_QUANTIZED_BINS}
    if method == "percentile":
        return {"symmetric": True, "num_bins": bins, "percentile": PERCENTILE}
    return {"symmetric": True}


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """ONNX Runtime's quantiser prints progress to stdout (which would corrupt ``--json``) and logs
    advice to the root logger; both are dropped while it runs."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def _data_reader(tensors: np.ndarray, input_name: str, batch_size: int, bar: Any) -> Any:
    base = _ort_quantization().CalibrationDataReader

    class TensorBatches(base):  # type: ignore[misc, valid-type]
        """Feeds the calibration set to ONNX Runtime's calibrator, ``batch_size`` images at a time."""

        def __init__(self) -> None:
            self._batches: Iterator[np.ndarray] = (
                tensors[i : i + batch_size] for i in range(0, len(tensors), batch_size)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            if batch is None:
                return None
            if bar is not None:
                bar.update(len(batch))
            return {input_name: np.ascontiguousarray(batch, dtype=np.float32)}

    return TensorBatches()


def activation_ranges(
    model_path: Path,
    tensors: np.ndarray,
    input_name: str,
    method: str,
    work_dir: Path,
    batch_size: int = 64,
    num_bins: int | None = None,
    progress: bool = True,
) -> Any:
    """ONNX Runtime's ``TensorsData``: the calibrated range of every float tensor of the model."""
    from onnxruntime.quantization.calibrate import create_calibrator

    with progress_bar(total=len(tensors), desc=f"calibrate ({method})", unit="img", enabled=progress) as bar, _silenced():
        calibrator = create_calibrator(
            model_path,
            None,
            augmented_model_path=str(work_dir / "augmented.onnx"),
            calibrate_method=_calibration_method(method),
            providers=["CPUExecutionProvider"],
            extra_options=_calibrator_options(method, num_bins),
        )
        calibrator.collect_data(_data_reader(tensors, input_name, batch_size, bar))
        if method != "minmax":  # the histogram search takes seconds per tensor: say what is happening
            bar.set_postfix_str(f"computing {method} thresholds")
        return calibrator.compute_data()


def calibrated_ranges(
    model: Any, tensors: np.ndarray, input_name: str, method: str, num_bins: int | None = None, progress: bool = True
) -> Any:
    """The activation ranges of ``model`` (an ``onnx.ModelProto``) calibrated on ``tensors`` (float32 N, C, H, W).

    Computed once per calibration: every INT8 configuration the float fallback tries reuses them.
    """
    import onnx

    if len(tensors) == 0:
        raise Cnn2GnnError("no calibration images: nothing to calibrate the INT8 ranges on")
    with tempfile.TemporaryDirectory(prefix="cnn2gnn-calibrate-") as tmp:
        work = Path(tmp)
        source = work / "fp32.onnx"
        onnx.save(model, str(source))
        return activation_ranges(source, tensors, input_name, method, work, num_bins=num_bins, progress=progress)


def qdq_onnx_from_ranges(model: Any, ranges: Any, method: str, nodes_to_exclude: Iterable[str] = ()) -> Any:
    """The Q/DQ ``onnx.ModelProto`` of ``model`` with the activation ranges ``ranges`` (:func:`calibrated_ranges`).

    ``nodes_to_exclude`` stay float and read float inputs. ``model`` is not modified.
    """
    import onnx

    quantization = _ort_quantization()
    from onnxruntime.quantization.calibrate import save_tensors_data

    excluded = list(nodes_to_exclude)
    with tempfile.TemporaryDirectory(prefix="cnn2gnn-quantize-") as tmp:
        work = Path(tmp)
        source = work / "fp32.onnx"
        onnx.save(model, str(source))
        cache = work / "ranges.json"
        save_tensors_data(ranges, cache)
        quantized = work / "int8.onnx"
        with _silenced():
            quantization.quantize_static(
                str(source),
                str(quantized),
                calibration_data_reader=None,
                quant_format=quantization.QuantFormat.QDQ,
                per_channel=True,
                activation_type=quantization.QuantType.QInt8,
                weight_type=quantization.QuantType.QInt8,
                nodes_to_exclude=excluded,
                calibrate_method=_calibration_method(method),
                calibration_cache_path=str(cache),
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
            )
        result = onnx.load(str(quantized))
    keep_excluded_inputs_float(result, set(excluded))
    keep_graph_outputs_float(result)
    remove_unused(result)
    try:
        onnx.checker.check_model(result)
    except Exception as exc:  # a bug here, not a user error: keep the traceback
        raise RuntimeError(f"the Q/DQ model fails onnx.checker: {exc}") from exc
    return result


def _producers(graph: Any) -> dict[str, Any]:
    return {t: node for node in graph.node for t in node.output}


def _qdq_source(tensor: str, producers: dict[str, Any], initializers: set[str]) -> str | None:
    """The float activation behind ``tensor`` when ``tensor`` is DequantizeLinear(QuantizeLinear(x)), else None."""
    dq = producers.get(tensor)
    if dq is None or dq.op_type != "DequantizeLinear":
        return None
    q = producers.get(dq.input[0])
    if q is None or q.op_type != "QuantizeLinear" or q.input[0] in initializers:
        return None
    return q.input[0]


def keep_excluded_inputs_float(model: Any, excluded: set[str]) -> int:
    """Rewire the excluded nodes' inputs from Q/DQ'd activations back to the float tensors; returns how many."""
    graph = model.graph
    producers = _producers(graph)
    initializers = {i.name for i in graph.initializer}
    rewired = 0
    for node in graph.node:
        if node.name not in excluded:
            continue
        for i, tensor in enumerate(node.input):
            source = _qdq_source(tensor, producers, initializers)
            if source is not None:
                node.input[i] = source
                rewired += 1
    return rewired


def keep_graph_outputs_float(model: Any) -> int:
    """Drop the Q/DQ pair in front of each graph output, so outputs stay float; returns how many."""
    graph = model.graph
    producers = _producers(graph)
    initializers = {i.name for i in graph.initializer}
    consumers: dict[str, int] = defaultdict(int)
    for node in graph.node:
        for t in node.input:
            consumers[t] += 1
    removed = 0
    for output in graph.output:
        source = _qdq_source(output.name, producers, initializers)
        if source is None:
            continue
        dq = producers[output.name]
        q = producers[dq.input[0]]
        if consumers[dq.input[0]] != 1 or consumers[source] != 1 or consumers[output.name] != 0:
            continue  # the quantised value is also used inside the graph: leave it
        graph.node.remove(dq)
        graph.node.remove(q)
        producers[source].output[list(producers[source].output).index(source)] = output.name
        removed += 1
    return removed


def remove_unused(model: Any) -> None:
    """Delete nodes whose outputs nothing reads (Q/DQ pairs orphaned by the rewiring) and unused initializers."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {t for node in graph.node for t in node.input} | outputs
        dead = [n for n in graph.node if not any(t in used for t in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {t for node in graph.node for t in node.input} | outputs
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)

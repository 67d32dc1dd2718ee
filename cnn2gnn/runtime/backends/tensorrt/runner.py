"""Run a TensorRT engine built by ``cnn2gnn build``: one execution context, one CUDA stream, async copies.

TensorRT and the CUDA memory library are imported when a runner is created, never at module import;
``loader`` checks and deserializes the engine, this module binds its buffers and runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cnn2gnn.contracts.errors import Cnn2GnnError
from cnn2gnn.runtime.backends.runner import Runner, check_input_batch
from cnn2gnn.runtime.backends.tensorrt.cuda_memory import CudaMemory, create_cuda_memory
from cnn2gnn.runtime.backends.tensorrt.loader import engine_from_file, import_tensorrt
from cnn2gnn.runtime.backends.tensorrt.tensor_buffers import numpy_dtype_for_trt, plan_chunks, tensor_nbytes
from cnn2gnn.runtime.model_info import read_model_metadata


class TensorRTRunner(Runner):
    """A deserialized engine with pinned host / device buffers sized for its profile's max batch.

    Batches larger than the profile's max are run in chunks; chunks below its min are zero-padded.
    """

    name = "tensorrt"

    def __init__(self, path: str | Path, memory: CudaMemory | None = None) -> None:
        trt = import_tensorrt()
        self.path = Path(path)
        if not self.path.is_file():
            raise Cnn2GnnError(f"engine file {self.path} does not exist")
        self.metadata = read_model_metadata(self.path)
        self._owns_memory = memory is None
        self._memory = memory if memory is not None else create_cuda_memory()
        try:
            self._load(trt)
        except BaseException:
            if self._owns_memory:
                self._memory.close()
            raise

    def _load(self, trt: Any) -> None:
        mem = self._memory
        loaded = engine_from_file(trt, self.path, mem.device_name(), mem.compute_capability())
        self._logger, self._runtime, self._engine = loaded.logger, loaded.runtime, loaded.engine
        self._context = self._engine.create_execution_context()
        self._bind_io(trt)
        self._closed = False

    def _bind_io(self, trt: Any) -> None:
        meta = self.metadata
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if inputs != [meta.input_name] or meta.output_name not in outputs:
            raise Cnn2GnnError(
                f"{self.path}: engine inputs {inputs} / outputs {outputs} do not match its metadata "
                f"(input {meta.input_name!r}, output {meta.output_name!r}); the sidecar belongs to another engine"
            )
        shape = tuple(self._engine.get_tensor_shape(meta.input_name))
        if -1 in shape:
            min_shape, _, max_shape = (tuple(s) for s in self._engine.get_tensor_profile_shape(meta.input_name, 0))
        else:
            min_shape = max_shape = shape
        chw = tuple(meta.preprocessing.input_shape)
        if len(max_shape) != 4 or tuple(max_shape[1:]) != chw:
            raise Cnn2GnnError(
                f"{self.path}: engine input shape {shape} (profile max {max_shape}) does not match the metadata's "
                f"[N, {', '.join(map(str, chw))}]; rebuild the engine from the model's ONNX"
            )
        self._min_batch, self._max_batch = int(min_shape[0]), int(max_shape[0])

        self._context.set_input_shape(meta.input_name, max_shape)
        out_max_shape = tuple(self._context.get_tensor_shape(meta.output_name))
        mem = self._memory
        self._stream = mem.create_stream()
        self._host_in = mem.alloc_pinned(max_shape, numpy_dtype_for_trt(self._engine.get_tensor_dtype(meta.input_name)))
        self._host_out = mem.alloc_pinned(
            out_max_shape, numpy_dtype_for_trt(self._engine.get_tensor_dtype(meta.output_name))
        )
        self._device_in = mem.alloc(self._host_in.nbytes)
        self._device_out = mem.alloc(self._host_out.nbytes)
        self._context.set_tensor_address(meta.input_name, self._device_in)
        self._context.set_tensor_address(meta.output_name, self._device_out)
        # Extra outputs (neighbour_index, neighbour_weight, novelty) each get an address and a pinned host
        # buffer; ``infer`` leaves them on the device, ``infer_outputs`` copies them back.
        self._extra_names = [n for n in outputs if n != meta.output_name]
        self._extra_outputs = {n: mem.alloc(self._output_nbytes(n)) for n in self._extra_names}
        self._extra_host = {n: mem.alloc_pinned(tuple(self._context.get_tensor_shape(n)),
                                                numpy_dtype_for_trt(self._engine.get_tensor_dtype(n)))
                            for n in self._extra_names}
        for name, ptr in self._extra_outputs.items():
            self._context.set_tensor_address(name, ptr)

    def _output_nbytes(self, name: str) -> int:
        dtype = numpy_dtype_for_trt(self._engine.get_tensor_dtype(name))
        return tensor_nbytes(self._context.get_tensor_shape(name), dtype)

    @property
    def output_names(self) -> list[str]:
        return [self.metadata.output_name, *self._extra_names]

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def min_batch(self) -> int:
        return self._min_batch

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self._infer(batch, [])[self.metadata.output_name]

    def infer_outputs(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return self._infer(batch, self._extra_names)

    def _infer(self, batch: np.ndarray, extras: list[str]) -> dict[str, np.ndarray]:
        x = check_input_batch(batch, self.metadata.preprocessing.input_shape, self.path)
        if len(x) == 0:
            return {self.metadata.output_name: np.zeros((0, self.metadata.num_classes), dtype=np.float32)}
        chunks = plan_chunks(len(x), self._min_batch, self._max_batch)
        parts = [self._run(x[c.start : c.stop], c.run_size, extras) for c in chunks]
        return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}

    def _run(self, chunk: np.ndarray, run_size: int, extras: list[str]) -> dict[str, np.ndarray]:
        meta, mem = self.metadata, self._memory
        run_shape = (run_size, *chunk.shape[1:])
        host_in = self._host_in.reshape(-1)[: int(np.prod(run_shape))].reshape(run_shape)
        host_in[: len(chunk)] = chunk
        host_in[len(chunk) :] = 0
        self._context.set_input_shape(meta.input_name, run_shape)
        out_shape = tuple(self._context.get_tensor_shape(meta.output_name))
        host_out = self._host_out.reshape(-1)[: int(np.prod(out_shape))].reshape(out_shape)
        mem.copy_htod_async(self._device_in, host_in, self._stream)
        if not self._context.execute_async_v3(self._stream):
            raise Cnn2GnnError(f"TensorRT failed to execute {self.path}: {self._logger.errors[-1:] or 'no log'}")
        mem.copy_dtoh_async(host_out, self._device_out, self._stream)
        extra_host = {}
        for name in extras:
            shape = tuple(self._context.get_tensor_shape(name))
            extra_host[name] = self._extra_host[name].reshape(-1)[: int(np.prod(shape))].reshape(shape)
            mem.copy_dtoh_async(extra_host[name], self._extra_outputs[name], self._stream)
        mem.synchronize(self._stream)
        out = {name: host[: len(chunk)].copy() for name, host in extra_host.items()}
        out[meta.output_name] = host_out[: len(chunk)].astype(np.float32)
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        mem = self._memory
        mem.synchronize(self._stream)
        for ptr in [self._device_in, self._device_out, *self._extra_outputs.values()]:
            mem.free(ptr)
        mem.free_pinned(self._host_in)
        mem.free_pinned(self._host_out)
        for host in self._extra_host.values():
            mem.free_pinned(host)
        mem.destroy_stream(self._stream)
        # TensorRT objects must go before the CUDA context they were created in.
        del self._context, self._engine, self._runtime
        if self._owns_memory:
            mem.close()

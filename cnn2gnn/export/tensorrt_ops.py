"""Which ONNX operators (default domain) the TensorRT 10 ONNX parser accepts: data for ``cnn2gnn check``.

Source: the operator support matrix of onnx-tensorrt (docs/operators.md, the 8.x and 10.x releases),
narrowed by what this project deploys (docs/tensorrt-notes.md). Restrictions on attributes and on
which inputs must be constant are checked in :mod:`cnn2gnn.export.tensorrt_compat`, not listed here.
Update this list when a TensorRT release adds operators; an op missing here is reported as an error.
"""

from __future__ import annotations

TENSORRT_OPSET_RANGE = (9, 20)  # TensorRT 10.0 parses default-domain opsets 9..20 (later 10.x: more)

SUPPORTED_OPS = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
    "BatchNormalization", "BlackmanWindow", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace", "DequantizeLinear", "Div",
    "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "Gather",
    "GatherElements", "GatherND", "Gelu", "Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater",
    "GreaterOrEqual", "GridSample", "GroupNormalization", "GRU", "HammingWindow", "HannWindow", "Hardmax",
    "HardSigmoid", "HardSwish", "Identity", "If", "ImageScaler", "InstanceNormalization", "IsInf", "IsNaN",
    "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "Loop", "LpNormalization",
    "LpPool", "LRN", "LSTM", "MatMul", "Max", "MaxPool", "Mean", "MeanVarianceNormalization", "Min", "Mish", "Mod",
    "Mul", "Neg", "NonMaxSuppression", "Not", "OneHot", "Or", "Pad", "ParametricSoftplus", "Pow", "PRelu",
    "QuantizeLinear", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range",
    "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
    "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence",
    "RNN", "RoiAlign", "Round", "ScaledTanh", "Scan", "Scatter", "ScatterElements", "ScatterND", "Selu", "Shape",
    "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax", "Softplus", "Softsign", "SpaceToDepth",
    "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile", "TopK", "Transpose",
    "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
})

# Ops rejected with a specific reason (an op in neither table is rejected as "not in TensorRT's list").
REJECTED_OPS = {
    "NonZero": "its output shape depends on the data (a data-dependent-shape layer TensorRT runs slowly or, "
               "before 8.5 and on DLA, not at all); build neighbour lists with MatMul + TopK + Gather instead",
    "Unique": "TensorRT has no Unique layer; keep set operations out of the deployed graph",
    "Compress": "TensorRT has no Compress layer (and its output shape depends on the data)",
    "MaxUnpool": "TensorRT has no MaxUnpool layer",
    "MatMulInteger": "TensorRT has no integer MatMul; quantise with QuantizeLinear/DequantizeLinear (Q/DQ) instead",
    "ConvInteger": "TensorRT has no integer Conv; quantise with QuantizeLinear/DequantizeLinear (Q/DQ) instead",
    "QLinearConv": "TensorRT does not read QOperator-format models; export Q/DQ (QuantFormat.QDQ) instead",
    "QLinearMatMul": "TensorRT does not read QOperator-format models; export Q/DQ (QuantFormat.QDQ) instead",
    "DynamicQuantizeLinear": "TensorRT has no dynamic quantisation; use static Q/DQ with calibrated scales",
}

# Inputs that TensorRT needs as build-time constants: op -> {input index: what it is}.
CONSTANT_INPUTS = {
    "TopK": {1: "K"},
    "ReduceSum": {1: "axes"},
    "ReduceMean": {1: "axes"},
    "ReduceMax": {1: "axes"},
    "ReduceMin": {1: "axes"},
    "ReduceProd": {1: "axes"},
    "ReduceL1": {1: "axes"},
    "ReduceL2": {1: "axes"},
    "ReduceLogSum": {1: "axes"},
    "ReduceLogSumExp": {1: "axes"},
    "ReduceSumSquare": {1: "axes"},
    "CumSum": {1: "axis"},
    "Squeeze": {1: "axes"},
    "Unsqueeze": {1: "axes"},
    "Slice": {3: "axes"},
    "QuantizeLinear": {1: "y_scale", 2: "y_zero_point"},
    "DequantizeLinear": {1: "x_scale", 2: "x_zero_point"},
}

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")

SCATTER_OPS = ("Scatter", "ScatterElements", "ScatterND")
RESIZE_UNSUPPORTED_COORDINATE_MODES = ("tf_crop_and_resize",)

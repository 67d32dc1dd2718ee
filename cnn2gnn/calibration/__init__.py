"""INT8 calibration: explicit Q/DQ ONNX models, calibration sets and reports."""

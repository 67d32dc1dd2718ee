"""TensorRT engine building (TensorRT 10.x and 11.x), imported lazily."""

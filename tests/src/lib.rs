//! Test support for qforge: an ONNX writer and model builders.

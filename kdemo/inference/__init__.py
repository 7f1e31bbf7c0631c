"""Inference: the :class:`~kdemo.inference.predictor.Predictor` (predict, save, load), ONNX export, prediction
tables for a file, and loading a fine-tuned classifier from the Hub."""

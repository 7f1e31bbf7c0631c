"""ONNX export of a predictor and an ONNX Runtime model that the Predictor can run instead of torch."""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np
import torch

from kdemo.atomic import atomic_file
from kdemo.errors import ModelError

ONNX_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_onnx(hf_model, tokenizer, path: str | os.PathLike, *, quantize: bool = False, opset: int = 17) -> Path:
    """Export a sequence classifier to ONNX (dynamic batch and sequence axes), optionally int8-quantized.

    Uses torch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``); quantization is
    ONNX Runtime's dynamic int8 weight quantization (``onnxruntime.quantization.quantize_dynamic``), which makes
    the file about 4× smaller and changes logits slightly. The file is written beside ``path`` and renamed into
    place (:func:`kdemo.atomic.atomic_file`), so an interrupted export never leaves a truncated ``.onnx``.

    Args:
        hf_model: The HF model.
        tokenizer: Its tokenizer (used for a sample input and to know which inputs exist).
        path: Output ``.onnx`` file.
        quantize: Quantize weights to int8.
        opset: ONNX opset version.

    Returns:
        The path of the written file. Inputs are ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the
        tokenizer makes them), int64 ``(batch, seq_len)``; the output is ``logits``, float32
        ``(batch, num_outputs)``.
    """
    path = Path(path)
    with atomic_file(path) as tmp:
        _export(hf_model, tokenizer, tmp, quantize=quantize, opset=opset)
    return path


def _export(hf_model, tokenizer, path: Path, *, quantize: bool, opset: int) -> None:
    """Write the ONNX file to ``path`` (a temporary name chosen by :func:`export_onnx`)."""
    sample = tokenizer(["kdemo export", "a second, longer sample text"], padding=True, return_tensors="pt")
    names = [k for k in INPUTS if k in sample]
    device = next(hf_model.parameters()).device
    was_training = hf_model.training
    hf_model.eval()
    dynamic = {k: {0: "batch", 1: "seq_len"} for k in names}
    dynamic["logits"] = {0: "batch"}
    target = path.with_name(path.stem + ".fp32.onnx") if quantize else path  # hidden temporary name, cleaned up
    try:
        with torch.no_grad():
            torch.onnx.export(
                hf_model, args=(), kwargs={k: sample[k].to(device) for k in names}, f=str(target),
                input_names=names, output_names=["logits"], dynamic_axes=dynamic, opset_version=opset, dynamo=False,
            )
    finally:
        hf_model.train(was_training)
    if quantize:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        try:
            quantize_dynamic(str(target), str(path), weight_type=QuantType.QInt8)
        finally:
            target.unlink(missing_ok=True)


class OnnxSequenceClassifier:
    """Runs an exported ``model.onnx`` with ONNX Runtime behind the small part of the HF model API that
    :func:`kdemo.modeling.batched.predict_logits` uses (``eval``, ``parameters``, ``config``, call → ``.logits``).

    Args:
        path: The ``.onnx`` file.
        config: The model's ``PretrainedConfig`` (for ``num_labels`` and label names).

    Raises:
        ModelError: If onnxruntime is missing or the file cannot be loaded.
    """

    def __init__(self, path: str | os.PathLike, config):
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("Running an ONNX predictor needs onnxruntime: pip install onnxruntime.") from exc
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"Could not load the ONNX model {str(path)!r}: {exc}") from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.config = config
        self.training = False

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def parameters(self):
        yield torch.zeros(1)  # the inputs stay on the CPU

    def __call__(self, **inputs):
        if "token_type_ids" in self.input_names and "token_type_ids" not in inputs:
            # Exported with segment ids (BERT-style tokenizers emit them), but single texts are batched without:
            # all-zero segment ids are what the torch model assumes when they are left out.
            inputs = {**inputs, "token_type_ids": torch.zeros_like(inputs["input_ids"])}
        feed = {k: np.ascontiguousarray(inputs[k].cpu().numpy().astype(np.int64)) for k in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return types.SimpleNamespace(logits=torch.from_numpy(logits))

"""Predictor: a fine-tuned classifier plus its tokenizer and labels, for inference and saving.

A saved predictor folder holds ``save_pretrained`` files (``config.json`` with real ``id2label``,
``model.safetensors``, the tokenizer) plus ``kdemo.json`` with kdemo's own settings. It loads with
:func:`load_predictor` and with ``transformers.pipeline("text-classification", model=folder)``. No pickles.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import transformers

from kdemo.data.dataset import TextDataset
from kdemo.errors import DataError, ModelError
from kdemo.explain.attention import AttentionMaps, compute_attention
from kdemo.explain.attributions import Attribution, explain
from kdemo.inference.base import META_FILE, RESERVED, BasePredictor, check_text, get_predictor, load_predictor
from kdemo.inference.export import ExportMixin
from kdemo.modeling.batched import predict_logits
from kdemo.modeling.classifier import HFClassifier, load_sequence_classifier, load_tokenizer
from kdemo.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, check_task, folder_spec
from kdemo.text.preprocessor import Transformer

__all__ = ["META_FILE", "Predictor", "get_predictor", "load_predictor"]


class Predictor(ExportMixin, BasePredictor):
    """Classify texts with a fine-tuned model (ktrain's ``TextPredictor``).

    Args:
        hf_model: The sequence-classification module.
        tokenizer: Its tokenizer.
        class_names: Label names in id order.
        maxlen: Texts are truncated to this many tokens.
        batch_size: Rows per forward pass.
        precision: ``"fp32"`` (default, exact) or ``"bf16"`` (autocast).
        meta: Extra JSON-ready facts saved in ``kdemo.json`` (base model, training settings, metrics).
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"``.
        thresholds: Multi-label: probability threshold (0–1) per class, or one for all (default 0.5).
    """

    def __init__(
        self,
        hf_model: transformers.PreTrainedModel,
        tokenizer: transformers.PreTrainedTokenizerBase,
        class_names: Sequence[str],
        maxlen: int,
        *,
        batch_size: int = 32,
        precision: str = "fp32",
        meta: dict | None = None,
        task: str = SINGLE_LABEL,
        thresholds: Sequence[float] | float | None = None,
    ):
        self.model = hf_model
        self.tokenizer = tokenizer
        self.class_names = [str(c) for c in class_names]
        self.maxlen = int(maxlen)
        self.batch_size = int(batch_size)
        self.precision = precision
        self.meta = dict(meta or {})
        self.task = check_task(task)
        self._preproc: Transformer | None = None
        th = 0.5 if thresholds is None else thresholds
        self.thresholds = [float(t) for t in np.broadcast_to(np.asarray(th, dtype=np.float64), (len(self.class_names),))]
        if hf_model.config.num_labels != len(self.class_names):
            raise ModelError(
                f"Expected the model's head to have one output per class. Received: {hf_model.config.num_labels} "
                f"outputs for {len(self.class_names)} classes {self.class_names}."
            )

    def get_classes(self) -> list[str]:
        """Label names in id order (the columns of :meth:`predict_proba`)."""
        return list(self.class_names)

    @classmethod
    def from_model(cls, model: HFClassifier, preproc: Transformer, batch_size: int = 32, *,
                   meta: dict | None = None) -> Predictor:
        """A predictor sharing the weights of a trained classifier, with ``preproc`` as its :attr:`preproc` (see
        :func:`~kdemo.inference.base.get_predictor`)."""
        info = {"base_model": preproc.model_name, **(meta or {})}
        predictor = cls(model.hf_model, preproc.get_tokenizer(), preproc.get_classes(), preproc.maxlen,
                        batch_size=batch_size, meta=info, task=model.task, thresholds=getattr(model, "thresholds", None))
        predictor._preproc = preproc
        return predictor

    @classmethod
    def load(cls, path: Path, meta: dict, batch_size: int = 32, *, backend: str = "torch") -> Predictor:
        """Load a sequence-classification folder (see :meth:`kdemo.inference.base.BasePredictor.load`); with
        ``backend="onnx"`` its ``model.onnx`` runs on ONNX Runtime.

        Raises:
            ModelError: If ``backend="onnx"`` and the folder has no ``model.onnx``.
        """
        from kdemo.device import get_device

        if backend == "onnx":
            from transformers import AutoConfig

            from kdemo.inference.onnx import ONNX_FILE, OnnxSequenceClassifier

            if not (path / ONNX_FILE).exists():
                raise ModelError(f"Expected {ONNX_FILE} in {str(path)!r}. Run predictor.export_onnx(folder) first.")
            model = OnnxSequenceClassifier(path / ONNX_FILE, AutoConfig.from_pretrained(str(path)))
        else:
            model = load_sequence_classifier(str(path))
            model.to(get_device())
        names = meta.get("class_names") or [model.config.id2label[i] for i in range(model.config.num_labels)]
        tokenizer = load_tokenizer(str(path))
        maxlen = meta.get("maxlen") or min(getattr(tokenizer, "model_max_length", 512), 512)
        config = {"problem_type": model.config.problem_type, "architectures": model.config.architectures}
        task = folder_spec(meta, config).task  # older folders stored the problem type as the task
        extra = {k: v for k, v in meta.items() if k not in RESERVED}
        return cls(model, tokenizer, names, maxlen, batch_size=batch_size, meta=extra, task=task,
                   thresholds=meta.get("thresholds"))

    def _dataset(self, texts: Sequence) -> TextDataset:
        """The texts (or ``(text_a, text_b)`` pairs) tokenized by :attr:`preproc`, as the training data was."""
        texts = list(texts)
        pairs = all(isinstance(t, (tuple, list)) and len(t) == 2 for t in texts)
        flat = [t[0] for t in texts] + [t[1] for t in texts] if pairs else texts
        bad = [i + 1 for i, t in enumerate(flat) if not isinstance(t, str)]
        if bad:
            raise DataError(f"Expected texts as strings (or (text_a, text_b) pairs). Received: non-text values at rows {bad[:10]}.")
        return self.preproc.preprocess(texts)

    @staticmethod
    def _is_single(texts) -> bool:
        return isinstance(texts, str) or (isinstance(texts, tuple) and len(texts) == 2 and all(isinstance(t, str) for t in texts))

    def predict_proba(self, texts) -> np.ndarray:
        """Class probabilities (softmax for single-label, per-class sigmoid for multi-label) or regression values.

        Args:
            texts: One text, a ``(text_a, text_b)`` pair, or a list of either.

        Returns:
            Float32 array of shape ``(num_texts, num_outputs)`` (``(num_outputs,)`` for a single input); columns in
            :meth:`get_classes` order.

        Raises:
            DataError: If an item is not a string (or a pair of strings).
        """
        from kdemo.evaluation.evaluate import outputs_from_logits

        single = self._is_single(texts)
        items = [texts] if single else list(texts)
        if not items:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        if single:
            return outputs_from_logits(self._single_logits(texts), self.task)[0]
        logits = predict_logits(self.model, self._dataset(items), batch_size=self.batch_size, precision=self.precision)
        out = outputs_from_logits(logits, self.task)
        return out[0] if single else out

    def _single_logits(self, text) -> np.ndarray:
        """Logits of one text or pair, shape ``(1, num_outputs)``: the low-latency path (no batching machinery)."""
        first, second = (text, None) if isinstance(text, str) else text
        enc = self.tokenizer(first, second, truncation=True, max_length=self.maxlen, return_tensors="pt")
        device = next(self.model.parameters()).device
        if self.model.training:  # eval() walks every sub-module: only when a fit left the shared model in train mode
            self.model.eval()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if self.precision == "bf16" else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            return self.model(**{k: v.to(device) for k, v in enc.items()}).logits.float().cpu().numpy()

    def predict(self, texts, return_proba: bool = False):
        """Predictions, as ktrain's ``TextPredictor.predict`` returns them.

        Args:
            texts: One text, a ``(text_a, text_b)`` pair, or a list of either.
            return_proba: Return :meth:`predict_proba` instead.

        Returns:
            Per input: a label name (single-label); ``(label, probability)`` pairs for every label, in
            :meth:`get_classes` order (multi-label, as in ktrain; :meth:`predict_labels` gives the labels above
            their thresholds); or a float (regression). A list of those for a list of inputs.
        """
        out = self.predict_proba(texts)
        if return_proba:
            return out
        rows = out[None, :] if self._is_single(texts) else out
        if self.task == REGRESSION:
            preds = [float(r[0]) for r in rows]
        elif self.task == MULTI_LABEL:
            preds = [[(n, float(p)) for n, p in zip(self.class_names, r)] for r in rows]
        else:
            preds = [self.class_names[int(i)] for i in rows.argmax(axis=1)]
        return preds[0] if self._is_single(texts) else preds

    def predict_labels(self, texts):
        """kdemo's decision per input: the label name (single-label), the list of labels whose probability reaches
        their threshold (multi-label, :attr:`thresholds`), or the value (regression).

        Args:
            texts: One text, a ``(text_a, text_b)`` pair, or a list of either.

        Returns:
            One decision, or a list of them for a list of inputs.
        """
        if self.task != MULTI_LABEL:
            return self.predict(texts)
        out = self.predict_proba(texts)
        rows = out[None, :] if self._is_single(texts) else out
        th = np.asarray(self.thresholds)
        preds = [[n for n, p, t in zip(self.class_names, r, th) if p >= t] for r in rows]
        return preds[0] if self._is_single(texts) else preds

    @property
    def preproc(self) -> Transformer:
        """The preprocessor (ktrain's ``predictor.preproc``): the one given to :func:`get_predictor`, or one built
        around this predictor's tokenizer, maxlen and labels."""
        if self._preproc is None:
            self._preproc = Transformer.from_parts(self.tokenizer, self.maxlen, self.class_names, self.task,
                                                   str(self.meta.get("base_model", "")))
        return self._preproc

    def attention(self, text: str, text_pair: str | None = None) -> AttentionMaps:
        """Attention maps of every layer and head for one text (or sentence pair).

        Returns:
            :class:`kdemo.explain.attention.AttentionMaps`; it unpacks as ``tokens, att`` with ``att`` float32 of shape
            ``(num_layers, num_heads, seq_len, seq_len)``; see :func:`kdemo.explain.attention.compute_attention`.
        """
        return compute_attention(self.model, self.tokenizer, check_text(text), text_pair or None, maxlen=self.maxlen)

    def explain(self, doc: str, truncate_len: int = 512, all_targets: bool = False, n_samples: int = 2500, *,
                method: str = "ig", steps: int = 50, text_pair: str | None = None):
        """ktrain's ``explain``: highlighted text showing which words drove the prediction, for a notebook.

        ktrain renders LIME weights with eli5; kdemo renders integrated-gradients attributions (see
        :meth:`attributions`) of the predicted class.

        Args:
            doc: The text, or a ``(text_a, text_b)`` pair (ktrain cannot explain pairs; kdemo can).
            truncate_len: Maximum tokens explained.
            all_targets: Accepted for ktrain compatibility (the predicted class is explained).
            n_samples: Accepted for ktrain compatibility (LIME's sample count; IG needs none).
            method: ``"ig"`` or ``"grad_x_input"``.
            steps: IG intervals to start with.
            text_pair: Optional second text of a sentence pair.

        Returns:
            ``IPython.display.HTML``, as ktrain (an :class:`~kdemo.explain.attribution_html.ExplanationHTML`
            without IPython), or None for regression, as in ktrain (with a warning).
        """
        from kdemo.explain.attribution_html import attribution_html

        if self.task == REGRESSION:
            warnings.warn("explain is not currently supported for regression (ktrain); use predictor.attributions()",
                          stacklevel=2)
            return None
        if isinstance(doc, tuple) and len(doc) == 2 and text_pair is None:  # a sentence pair, as predict takes it
            doc, text_pair = doc
        attribution = self.attributions(doc, method, steps, text_pair=text_pair, maxlen=min(truncate_len, self.maxlen))
        probability = float(self.predict_proba((doc, text_pair) if text_pair else doc)[attribution.target])
        return attribution_html(attribution, probability)

    def attributions(self, text: str, method: str = "ig", steps: int = 50, *, text_pair: str | None = None,
                     maxlen: int | None = None) -> Attribution:
        """Token attributions of the predicted class's logit (integrated gradients or gradient × input).

        Returns:
            :class:`kdemo.explain.attributions.Attribution`; it unpacks as ``tokens, scores``; see :func:`kdemo.explain.attributions.explain`.
        """
        return explain(
            self.model, self.tokenizer, check_text(text), text_pair or None, method=method, steps=steps,
            class_names=self.class_names, maxlen=maxlen or self.maxlen,
        )

    def _meta_fields(self) -> dict:
        """``problem_type`` (what transformers' pipeline reads) and the multi-label ``thresholds``."""
        return {"problem_type": self.spec.problem_type, "thresholds": self.thresholds if self.task == MULTI_LABEL else None}

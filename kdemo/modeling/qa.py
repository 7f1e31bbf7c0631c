"""Extractive question answering: the Keras model around ``AutoModelForQuestionAnswering``, its loss and metric.

The model's output stacks the start and end logits of every token, float32 ``(batch, seq_len, 2)``; the labels are
the answer's start and end token positions per window, int64 ``(batch, 2)``. The loss is transformers' own
(``BertForQuestionAnswering.forward``): the mean of the start and end cross-entropies, positions outside the
sequence clamped to ``seq_len`` and ignored.
"""

from __future__ import annotations

import keras
import torch
import transformers
from transformers import AutoModelForQuestionAnswering

from kdemo.errors import ModelError
from kdemo.modeling.classifier import HFClassifier, head_kwargs, load_checkpoint, resolve_model_source
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.tasks import QUESTION_ANSWERING

#: The logit given to padding positions: no probability mass, so a window's loss does not depend on how far its
#: batch pads it (dynamic padding, data-parallel slices).
PAD_LOGIT = -1e4
#: The span head's outputs in id order (``config.id2label`` of a saved folder).
SPAN_OUTPUTS = ("start", "end")


@keras.saving.register_keras_serializable(package="kdemo")
class SpanCrossentropy(keras.losses.Loss):
    """transformers' question-answering loss: ``(CE(start) + CE(end)) / 2``, each the mean over the batch's windows
    whose position is inside the sequence (``CrossEntropyLoss(ignore_index=seq_len)`` after clamping, as
    ``BertForQuestionAnswering`` computes it).

    ``sample_weight`` (one per window, ``(batch,)``) multiplies each window's terms but not the counts, as Keras'
    ``sum_over_batch_size`` does (data parallelism scales a rank's loss with it).
    """

    def __init__(self, name: str = "span_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.torch_loss(y_true, y_pred, sample_weight)

    def torch_loss(self, y_true, y_pred, sample_weight=None) -> torch.Tensor:
        """The loss as one torch expression without host synchronisation (the training step's fast path)."""
        logits = y_pred.float()
        seq_len = logits.shape[1]
        target = torch.as_tensor(y_true, device=logits.device).long().reshape(-1, 2).clamp(0, seq_len)
        valid = (target < seq_len).to(logits.dtype)
        safe = torch.where(target < seq_len, target, 0)
        terms = torch.stack([torch.nn.functional.cross_entropy(logits[..., k], safe[:, k], reduction="none")
                             for k in (0, 1)], dim=1) * valid
        if sample_weight is not None:
            terms = terms * torch.as_tensor(sample_weight, device=terms.device).to(terms.dtype).reshape(-1, 1)
        counts = valid.sum(dim=0)
        per_end = terms.sum(dim=0) / torch.where(counts > 0, counts, torch.ones_like(counts))
        return per_end.mean()

    def call(self, y_true, y_pred):
        return self(y_true, y_pred)


class SpanAccuracy(keras.metrics.Metric):
    """Fraction 0–1 of windows whose arg-max start and arg-max end are both the labelled positions (a window
    without the answer counts as right when both point at its ``[CLS]`` label)."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct", dtype="float32")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total", dtype="float32")

    def _hits(self, y_true, y_pred) -> tuple[torch.Tensor, int]:
        target = torch.as_tensor(y_true, device=y_pred.device).long().reshape(-1, 2)
        hits = (y_pred.argmax(dim=1) == target).all(dim=-1)
        return hits.sum().float(), target.shape[0]

    def update_state(self, y_true, y_pred, sample_weight=None):
        hits, n = self._hits(y_true, y_pred)
        self.correct.assign(self.correct.value + hits)
        self.total.assign(self.total.value + n)

    def torch_update(self, y_true, y_pred) -> bool:
        """``update_state`` as in-place torch adds (the training step's fast path). Returns True."""
        with torch.no_grad():
            hits, n = self._hits(y_true, y_pred)
            self.correct.value.add_(hits)
            self.total.value.add_(n)
        return True

    def result(self):
        return self.correct.value / torch.clamp(self.total.value, min=1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)


class HFQuestionAnswerer(HFClassifier):
    """A Keras model (torch backend) around an HF ``AutoModelForQuestionAnswering`` module.

    Inputs are as for :class:`~kdemo.modeling.classifier.HFClassifier`; the output is float32 logits of shape
    ``(batch, seq_len, 2)`` (start, end), :data:`PAD_LOGIT` at padding positions (``attention_mask == 0``), so that
    the loss of a window is the same however its batch is padded. Labels are int64 ``(batch, 2)`` token positions.

    Args:
        hf_model: An ``AutoModelForQuestionAnswering`` instance (trained in place).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see :class:`HFClassifier`).
    """

    def __init__(self, hf_model: transformers.PreTrainedModel, *, precision: str = "auto", **kwargs):
        kwargs.pop("task", None)
        super().__init__(hf_model, precision=precision, task=QUESTION_ANSWERING, **kwargs)
        self.version_2_with_negative = False  # SQuAD 2.0: may answer "no answer" (set from the training data)

    def call(self, inputs, training=False):
        module = self.hf.module
        if module.training != bool(training):
            module.train(bool(training))
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = module(**inputs)
        logits = torch.stack([out.start_logits, out.end_logits], dim=-1).float()
        mask = inputs.get("attention_mask") if isinstance(inputs, dict) else None
        if mask is not None:  # padding is no answer: the loss is that of the window alone, whatever the batch's padding
            logits = logits.masked_fill((mask == 0).unsqueeze(-1), PAD_LOGIT)
        return logits

    def loss_and_metrics(self) -> tuple[keras.losses.Loss, list]:
        """transformers' span loss and the window span accuracy."""
        return SpanCrossentropy(), [SpanAccuracy()]

    def reloaded(self, source: str) -> HFQuestionAnswerer:
        """A question answerer with this one's precision around the checkpoint at ``source``, not compiled."""
        model = HFQuestionAnswerer(load_question_answerer(source), precision=self.precision)
        model.version_2_with_negative = self.version_2_with_negative
        return model


def load_question_answerer(source: str, *, new_head: bool = False) -> transformers.PreTrainedModel:
    """Load an ``AutoModelForQuestionAnswering`` (safetensors only, no remote code).

    Args:
        source: Output of :func:`kdemo.modeling.classifier.resolve_model_source`.
        new_head: Name the head's two outputs ``start`` and ``end`` (a base checkpoint gets a new span head; a
            fine-tuned QA checkpoint keeps its own).

    Returns:
        The HF model in eval mode, on the CPU.

    Raises:
        ModelError: If the checkpoint cannot be loaded, or a local folder has no safetensors weights.
    """
    return load_checkpoint(AutoModelForQuestionAnswering, source, **(head_kwargs(SPAN_OUTPUTS) if new_head else {}))


def question_answerer(preproc=None, transformer_model: str | None = None, *, precision: str | None = None,
                      policy: FolderPolicy = DEFAULT_POLICY) -> HFQuestionAnswerer:
    """Build an extractive question-answering model for ``preproc``'s checkpoint (the span head on top of the
    transformer, ``AutoModelForQuestionAnswering``; a checkpoint already fine-tuned for QA keeps its head).

    Args:
        preproc: The :class:`~kdemo.text.qa.preprocessor.QAPreprocessor` (its ``model_name`` decides the checkpoint).
        transformer_model: Checkpoint to use instead of ``preproc.model_name``.
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"``; default: ``preproc.precision`` if set, else ``"auto"``.
        policy: Which local model folders may be loaded.

    Returns:
        An :class:`HFQuestionAnswerer`.

    Raises:
        ModelError: If ``preproc`` is missing or the checkpoint cannot be loaded.
    """
    if preproc is None and transformer_model is None:
        raise ModelError("Expected preproc: the QAPreprocessor returned by qa_from_squad/qa_from_df (or "
                         "transformer_model=). Received: neither.")
    source = resolve_model_source(transformer_model or getattr(preproc, "model_name", None), policy=policy)
    hf = load_question_answerer(source, new_head=True)
    model = HFQuestionAnswerer(hf, precision=precision or getattr(preproc, "precision", None) or "auto")
    model.version_2_with_negative = bool(getattr(preproc, "version_2_with_negative", False))
    return model

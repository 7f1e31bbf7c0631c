"""Token classification (named entities): the Keras model around ``AutoModelForTokenClassification``, its loss and
its metric, and ktrain's ``sequence_tagger``.

Labels follow Hugging Face's convention: the tag id sits on the first sub-word of each word and every other
position (later sub-words, special tokens, padding) holds ``-100``, which the loss and the metric ignore
(``torch.nn.CrossEntropyLoss(ignore_index=-100)``, as ``AutoModelForTokenClassification`` computes it).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import torch
import transformers
from transformers import AutoModelForTokenClassification

from kdemo.errors import ModelError
from kdemo.modeling.classifier import (
    HFClassifier,
    head_kwargs,
    load_checkpoint,
    resolve_model_source,
)
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.tasks import TOKEN_CLASSIFICATION

#: The label of positions that carry no tag (later sub-words, special tokens, padding).
IGNORE_INDEX = -100

#: ktrain's sequence-tagger names. ktrain's BiLSTM(-CRF) and ELMo taggers are not transformer fine-tuning; kdemo maps
#: every name to a transformer token classifier (ktrain's ``bilstm-transformer`` is the closest).
SEQUENCE_TAGGERS = {
    "bilstm-transformer": "transformer token classifier (ktrain: BiLSTM on transformer embeddings)",
    "bilstm-bert": "transformer token classifier (ktrain: BiLSTM on BERT embeddings)",
    "bilstm-crf": "transformer token classifier (ktrain: BiLSTM-CRF; kdemo has no CRF)",
    "bilstm": "transformer token classifier (ktrain: BiLSTM)",
    "transformer": "transformer token classifier (AutoModelForTokenClassification)",
}


@keras.saving.register_keras_serializable(package="kdemo")
class MaskedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy over the tags of every labelled token, ignoring positions labelled ``-100``.

    ``loss = Σ w[y_t] · CE(z_t, y_t) / Σ w[y_t]`` over the batch's labelled tokens ``t``: the mean over tokens, not
    over sentences, exactly ``torch.nn.CrossEntropyLoss(weight=w, ignore_index=-100)`` (HF's token-classification
    loss). With no ``tag_weights`` every weight is 1.

    Args:
        tag_weights: Weight per tag id, shape ``(num_tags,)`` (class weights), or None.
        name: Loss name.
    """

    def __init__(self, tag_weights: Sequence[float] | None = None, name: str = "masked_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.tag_weights = None if tag_weights is None else [float(w) for w in tag_weights]

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self.torch_loss(y_true, y_pred, sample_weight)

    def torch_loss(self, y_true, y_pred, sample_weight=None) -> torch.Tensor:
        """The loss as one torch expression, with no host synchronisation (the training step's fast path calls it
        directly, see :func:`kdemo.modeling.fast_losses.torch_loss_for`).

        ``sample_weight`` (one per sentence, shape ``(batch,)``, or None) multiplies each of its tokens' terms in the
        sum but not the count it is divided by, as Keras' ``sum_over_batch_size`` does for rows: data parallelism
        scales a rank's loss with it (:mod:`kdemo.distributed.sharding`).

        A batch without labelled tokens gives 0 (and a zero gradient), not NaN.
        """
        logits = y_pred.float().reshape(-1, y_pred.shape[-1])
        target = torch.as_tensor(y_true, device=logits.device).long().reshape(-1)
        valid = target != IGNORE_INDEX
        safe = torch.where(valid, target, 0)
        per_token = torch.nn.functional.cross_entropy(logits, safe, reduction="none")
        weight = valid.to(per_token.dtype)
        if self.tag_weights is not None:
            weight = weight * self._weight_tensor(logits.device)[safe]
        denom = weight.sum()
        numerator = per_token * weight
        if sample_weight is not None:
            rows = torch.as_tensor(sample_weight, device=numerator.device).to(numerator.dtype).reshape(-1, 1)
            numerator = numerator.reshape(rows.shape[0], -1) * rows
        return numerator.sum() / torch.where(denom > 0, denom, torch.ones_like(denom))

    def _weight_tensor(self, device) -> torch.Tensor:
        cached = getattr(self, "_weights_on", None)
        if cached is None or cached.device != torch.device(device):
            cached = self._weights_on = torch.tensor(self.tag_weights, dtype=torch.float32, device=device)
        return cached

    def call(self, y_true, y_pred):
        return self(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "tag_weights": self.tag_weights}


class MaskedTokenAccuracy(keras.metrics.Metric):
    """Fraction 0–1 of labelled tokens (label ≠ ``-100``: the first sub-word of each word) whose arg-max tag is right."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct", dtype="float32")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        target = torch.as_tensor(y_true, device=y_pred.device).long()
        mask = target != IGNORE_INDEX
        hits = (y_pred.argmax(dim=-1) == target) & mask
        self.correct.assign(self.correct.value + hits.sum().float())
        self.total.assign(self.total.value + mask.sum().float())

    def torch_update(self, y_true, y_pred) -> bool:
        """``update_state`` as in-place torch adds, without Keras' ``assign`` (the training step's fast path, see
        :func:`kdemo.modeling.fast_losses.torch_metrics_update`). Returns True (the update is done)."""
        target = torch.as_tensor(y_true, device=y_pred.device).long()
        mask = target != IGNORE_INDEX
        with torch.no_grad():
            self.correct.value.add_(((y_pred.argmax(dim=-1) == target) & mask).sum().float())
            self.total.value.add_(mask.sum().float())
        return True

    def result(self):
        return self.correct.value / torch.clamp(self.total.value, min=1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)


class HFTokenClassifier(HFClassifier):
    """A Keras model (torch backend) around an HF token-classification module.

    Inputs are as for :class:`~kdemo.modeling.classifier.HFClassifier`; the output is float32 logits of shape
    ``(batch, seq_len, num_tags)``. Labels are int64 ``(batch, seq_len)`` tag ids with ``-100`` where no tag applies.

    Args:
        hf_model: An ``AutoModelForTokenClassification`` instance (trained in place).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"`` (see :class:`HFClassifier`).

    Attributes:
        tag_weights: Per-tag loss weights (class weights) used at the next compile, or None.
    """

    def __init__(self, hf_model: transformers.PreTrainedModel, *, precision: str = "auto", **kwargs):
        kwargs.pop("task", None)
        super().__init__(hf_model, precision=precision, task=TOKEN_CLASSIFICATION, **kwargs)
        self.tag_weights: list[float] | None = None

    def loss_and_metrics(self) -> tuple[keras.losses.Loss, list]:
        """The masked token cross-entropy (with :attr:`tag_weights`) and the masked token accuracy."""
        return MaskedSparseCrossentropy(self.tag_weights), [MaskedTokenAccuracy()]

    def reloaded(self, source: str) -> HFTokenClassifier:
        """A token classifier with this one's precision around the checkpoint at ``source`` (its own tags), not
        compiled (see :meth:`HFClassifier.reloaded`)."""
        return HFTokenClassifier(load_token_classifier(source), precision=self.precision)


def load_token_classifier(source: str, tag_names: Sequence[str] | None = None) -> transformers.PreTrainedModel:
    """Load an ``AutoModelForTokenClassification`` with real tag names (safetensors only, no remote code).

    Args:
        source: Output of :func:`kdemo.modeling.classifier.resolve_model_source`.
        tag_names: Tags in id order (BIO names, e.g. ``["O", "B-PER", "I-PER"]``). When given, the head gets one output
            per tag and ``id2label``/``label2id`` use these names (a head of another size is re-initialised); when
            None the checkpoint's own head and labels are kept (a fine-tuned tagger).

    Returns:
        The HF model in eval mode, on the CPU.

    Raises:
        ModelError: If the checkpoint cannot be loaded, or a local folder has no safetensors weights.
    """
    return load_checkpoint(AutoModelForTokenClassification, source, **({} if tag_names is None else head_kwargs(tag_names)))


def print_sequence_taggers() -> None:
    """ktrain's ``print_sequence_taggers``: the accepted names and what kdemo builds for each."""
    for name, what in SEQUENCE_TAGGERS.items():
        print(f"{name}: {what}")


def sequence_tagger(name: str = "bilstm-transformer", preproc=None, wv_path_or_url=None, transformer_model: str | None = None,
                    *, precision: str | None = None, policy: FolderPolicy = DEFAULT_POLICY, verbose: int = 1,
                    **ignored) -> HFTokenClassifier:
    """Build a token classifier for the tags of ``preproc`` (ktrain's ``sequence_tagger``).

    ktrain builds a BiLSTM(-CRF) over word or transformer embeddings; kdemo fine-tunes the whole transformer with a
    linear tag head (``AutoModelForTokenClassification``), which is what HF Trainer does and scores better.

    Args:
        name: A ktrain tagger name (see :data:`SEQUENCE_TAGGERS`); every one builds the transformer tagger.
        preproc: The :class:`~kdemo.text.ner.preprocessor.NERPreprocessor` from ``entities_from_*`` (its
            ``model_name`` and tag list decide the checkpoint and the head).
        wv_path_or_url: ktrain's word vectors: accepted and ignored (the transformer has its own embeddings).
        transformer_model: Checkpoint to use instead of ``preproc.model_name`` (ktrain's argument; default: the
            preprocessor's, i.e. the embedded all-MiniLM-L6-v2 unless another was chosen).
        precision: ``"auto"``, ``"bf16"`` or ``"fp32"``; default: ``preproc.precision`` if set, else ``"auto"``.
        policy: Which local model folders may be loaded.
        verbose: Accepted for ktrain compatibility.
        **ignored: ktrain's BiLSTM sizes (``word_embedding_dim``, ``dropout``…), accepted and ignored.

    Returns:
        An :class:`HFTokenClassifier` with ``id2label``/``label2id`` set from the tag list.

    Raises:
        ModelError: If ``name`` is unknown, ``preproc`` is missing, or the checkpoint cannot be loaded.
    """
    if name not in SEQUENCE_TAGGERS:
        raise ModelError(f"Expected a sequence tagger name, one of {sorted(SEQUENCE_TAGGERS)}. Received: {name!r}.")
    if preproc is None or not hasattr(preproc, "get_classes"):
        raise ModelError("Expected preproc: the NERPreprocessor returned by entities_from_conll2003/txt/df/array. "
                         f"Received: {type(preproc).__name__}.")
    tags = list(preproc.get_classes())
    if not tags:
        raise ModelError("Expected a preprocessor that has seen training tags. Received: an empty tag list; call "
                         "preproc.preprocess_train(words, tags) or an entities_from_* loader first.")
    source = resolve_model_source(transformer_model or getattr(preproc, "model_name", None), policy=policy)
    hf = load_token_classifier(source, tags)
    return HFTokenClassifier(hf, precision=precision or getattr(preproc, "precision", None) or "auto")

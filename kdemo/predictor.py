"""Predictor: a fine-tuned classifier plus its tokenizer and labels, for inference and saving.

A saved predictor folder holds ``save_pretrained`` files (``config.json`` with real ``id2label``,
``model.safetensors``, the tokenizer) plus ``kdemo.json`` with kdemo's own settings. It loads with
:func:`load_predictor` and with ``transformers.pipeline("text-classification", model=folder)``. No pickles.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import transformers

from kdemo.attention import attention_maps
from kdemo.dataset import TextDataset
from kdemo.errors import DataError, ModelError
from kdemo.inference import predict_logits
from kdemo.models import HFClassifier, load_sequence_classifier, load_tokenizer
from kdemo.preprocessor import Transformer

META_FILE = "kdemo.json"


class Predictor:
    """Classify texts with a fine-tuned model (ktrain's ``TextPredictor``).

    Args:
        hf_model: The sequence-classification module.
        tokenizer: Its tokenizer.
        class_names: Label names in id order.
        maxlen: Texts are truncated to this many tokens.
        batch_size: Rows per forward pass.
        precision: ``"fp32"`` (default, exact) or ``"bf16"`` (autocast).
        meta: Extra JSON-ready facts saved in ``kdemo.json`` (base model, training settings, metrics).
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
    ):
        self.model = hf_model
        self.tokenizer = tokenizer
        self.class_names = [str(c) for c in class_names]
        self.maxlen = int(maxlen)
        self.batch_size = int(batch_size)
        self.precision = precision
        self.meta = dict(meta or {})
        if hf_model.config.num_labels != len(self.class_names):
            raise ModelError(
                f"Expected the model's head to have one output per class. Received: {hf_model.config.num_labels} "
                f"outputs for {len(self.class_names)} classes {self.class_names}."
            )

    def get_classes(self) -> list[str]:
        """Label names in id order (the columns of :meth:`predict_proba`)."""
        return list(self.class_names)

    def _dataset(self, texts: Sequence[str]) -> TextDataset:
        bad = [i + 1 for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise DataError(f"Expected texts as strings. Received: non-text values at rows {bad[:10]}.")
        enc = self.tokenizer(list(texts), truncation=True, max_length=self.maxlen, padding=False, return_attention_mask=False)
        return TextDataset(
            texts=list(texts),
            input_ids=[np.asarray(ids, dtype=np.int64) for ids in enc["input_ids"]],
            labels=None,
            class_names=self.class_names,
            pad_token_id=int(self.tokenizer.pad_token_id or 0),
        )

    def predict_proba(self, texts: str | Sequence[str]) -> np.ndarray:
        """Class probabilities (softmax of the logits).

        Args:
            texts: One text or a list of texts.

        Returns:
            Float32 array of shape ``(num_texts, num_classes)`` (``(num_classes,)`` for a single string), columns
            in :meth:`get_classes` order.

        Raises:
            DataError: If an item is not a string.
        """
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        if not items:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        logits = predict_logits(self.model, self._dataset(items), batch_size=self.batch_size, precision=self.precision)
        probs = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
        return probs[0] if single else probs

    def predict(self, texts: str | Sequence[str], return_proba: bool = False):
        """Predicted label(s).

        Args:
            texts: One text or a list of texts.
            return_proba: Return probabilities instead (as :meth:`predict_proba`).

        Returns:
            A label name for a string, a list of label names for a list.
        """
        probs = self.predict_proba(texts)
        if return_proba:
            return probs
        if isinstance(texts, str):
            return self.class_names[int(probs.argmax())]
        return [self.class_names[i] for i in probs.argmax(axis=1)]

    def attention(self, text: str, text_pair: str | None = None) -> tuple[list[str], np.ndarray]:
        """Attention maps of every layer and head for one text.

        Returns:
            ``(tokens, att)`` with ``att`` float32 of shape ``(num_layers, num_heads, seq_len, seq_len)``; see
            :func:`kdemo.attention.attention_maps`.
        """
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"Expected a non-empty text. Received: {text!r}.")
        return attention_maps(self.model, self.tokenizer, text, text_pair, maxlen=self.maxlen)

    def save(self, fpath: str | os.PathLike) -> Path:
        """Write the predictor folder: ``save_pretrained`` model and tokenizer plus ``kdemo.json``.

        The folder is written next to its destination and renamed into place, so an interrupted save never
        leaves a half-written predictor where a good one was.

        Args:
            fpath: Destination folder (created or replaced).

        Returns:
            The folder's path.
        """
        dest = Path(fpath).expanduser().resolve()
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
        try:
            self.model.config.id2label = dict(enumerate(self.class_names))
            self.model.config.label2id = {c: i for i, c in enumerate(self.class_names)}
            self.model.save_pretrained(tmp, safe_serialization=True)
            self.tokenizer.model_max_length = self.maxlen  # pipeline(truncation=True) then truncates like kdemo
            self.tokenizer.save_pretrained(tmp)
            meta = {
                "format": "kdemo-predictor",
                "format_version": 1,
                "class_names": self.class_names,
                "maxlen": self.maxlen,
                "task": "single_label_classification",
                **self.meta,
            }
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
            old = None
            if dest.exists():
                old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
                os.replace(dest, old)
            os.replace(tmp, dest)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest


def get_predictor(model: HFClassifier, preproc: Transformer, batch_size: int = 32, *, meta: dict | None = None) -> Predictor:
    """Bundle a trained model with its preprocessor (ktrain's ``get_predictor``).

    Args:
        model: The trained classifier (``learner.model``).
        preproc: The :class:`~kdemo.preprocessor.Transformer` that prepared the data.
        batch_size: Rows per forward pass.
        meta: Extra facts to save (e.g. training settings and metrics).

    Returns:
        A :class:`Predictor` sharing the model's weights (no copy).

    Raises:
        TypeError: If ``model`` is not an HFClassifier.
    """
    if not isinstance(model, HFClassifier):
        raise TypeError(f"Expected an HFClassifier (learner.model). Received: {type(model).__name__}.")
    info = {"base_model": preproc.model_name, **(meta or {})}
    return Predictor(model.hf_model, preproc.get_tokenizer(), preproc.get_classes(), preproc.maxlen, batch_size=batch_size, meta=info)


def load_predictor(fpath: str | os.PathLike, batch_size: int = 32) -> Predictor:
    """Load a predictor folder written by :meth:`Predictor.save`, or any local sequence-classification checkpoint.

    Args:
        fpath: The folder.
        batch_size: Rows per forward pass.

    Returns:
        The :class:`Predictor` on the automatically chosen device.

    Raises:
        ModelError: If the folder is missing or not a (safetensors) sequence-classification checkpoint.
    """
    path = Path(fpath).expanduser()
    if not (path / "config.json").exists():
        raise ModelError(f"Expected a predictor folder with config.json. Received: {str(path)!r}, which has none.")
    meta = json.loads((path / META_FILE).read_text()) if (path / META_FILE).exists() else {}
    model = load_sequence_classifier(str(path))
    names = meta.get("class_names") or [model.config.id2label[i] for i in range(model.config.num_labels)]
    tokenizer = load_tokenizer(str(path))
    maxlen = meta.get("maxlen") or min(getattr(tokenizer, "model_max_length", 512), 512)
    from kdemo.device import get_device

    model.to(get_device())
    extra = {k: v for k, v in meta.items() if k not in ("class_names", "maxlen", "format", "format_version", "task")}
    return Predictor(model, tokenizer, names, maxlen, batch_size=batch_size, meta=extra)

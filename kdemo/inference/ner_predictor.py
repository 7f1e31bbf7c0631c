"""NERPredictor: a fine-tuned token classifier plus its tokenizer and tags (ktrain's ``NERPredictor``).

A saved folder holds ``save_pretrained`` files (``config.json`` with the real tag names in ``id2label``,
``model.safetensors``, the tokenizer) and ``kdemo.json``; no pickles. It loads with
:func:`kdemo.load_predictor` and with ``transformers.pipeline("token-classification", model=folder,
aggregation_strategy="simple")``, which returns the same entities and scores as
``predict(text, merge_tokens=True)`` (:mod:`kdemo.inference.ner_merge`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import transformers

from kdemo.errors import DataError, ModelError
from kdemo.evaluation.ner import window_logits
from kdemo.explain.attention import AttentionMaps, compute_attention
from kdemo.explain.attributions import Attribution, explain
from kdemo.inference.base import META_FILE, RESERVED, BasePredictor, check_text
from kdemo.inference.ner_merge import simple_entities, softmax
from kdemo.modeling.classifier import load_tokenizer
from kdemo.modeling.tagger import HFTokenClassifier, load_token_classifier
from kdemo.tasks import TOKEN_CLASSIFICATION
from kdemo.text.ner.preprocessor import NERPreprocessor

__all__ = ["META_FILE", "NERPredictor"]


class NERPredictor(BasePredictor):
    """Tag the words of sentences and find their entities (ktrain's ``NERPredictor``).

    Args:
        hf_model: The token-classification module.
        preproc: The :class:`~kdemo.text.ner.preprocessor.NERPreprocessor` (tokenizer, tag list, maxlen, word
            splitting).
        batch_size: Windows per forward pass.
        precision: ``"fp32"`` (default; equals ``transformers.pipeline``) or ``"bf16"``.
        meta: Extra JSON-ready facts saved in ``kdemo.json`` (base model, metrics, example).
    """

    task = TOKEN_CLASSIFICATION

    def __init__(self, hf_model: transformers.PreTrainedModel, preproc: NERPreprocessor, *, batch_size: int = 32,
                 precision: str = "fp32", meta: dict | None = None):
        self.model = hf_model
        self.preproc = preproc
        self.tokenizer = preproc.get_tokenizer()
        self.class_names = preproc.get_classes()
        self.maxlen = int(preproc.maxlen)
        self.batch_size = int(batch_size)
        self.precision = precision
        self.meta = dict(meta or {})
        if hf_model.config.num_labels != len(self.class_names):
            raise ModelError(f"Expected the model's head to have one output per tag. Received: "
                             f"{hf_model.config.num_labels} outputs for {len(self.class_names)} tags {self.class_names}.")
        hf_model.config.id2label = dict(enumerate(self.class_names))
        hf_model.config.label2id = {c: i for i, c in enumerate(self.class_names)}

    def get_classes(self) -> list[str]:
        """Tag names in id order."""
        return list(self.class_names)

    @classmethod
    def from_model(cls, model: HFTokenClassifier, preproc: NERPreprocessor, batch_size: int = 32, *,
                   meta: dict | None = None) -> NERPredictor:
        """A predictor sharing the weights of a trained :class:`~kdemo.modeling.tagger.HFTokenClassifier`."""
        info = {"base_model": preproc.model_name, **(meta or {})}
        return cls(model.hf_model, preproc, batch_size=batch_size, meta=info)

    @classmethod
    def load(cls, path: Path, meta: dict, batch_size: int = 32, *, backend: str = "torch") -> NERPredictor:
        """Load a token-classifier folder (from :meth:`save` or any local token-classification checkpoint).

        Raises:
            ModelError: If ``backend`` is not ``"torch"``, or the weights are not safetensors or cannot be loaded.
        """
        from kdemo.device import get_device

        if backend != "torch":
            raise ModelError(f"Expected backend 'torch' for a token classifier. Received: backend={backend!r}.")
        model = load_token_classifier(str(path))
        tokenizer = load_tokenizer(str(path))
        settings = dict(meta.get("preprocessor") or {})
        settings.setdefault("class_names", meta.get("class_names") or [model.config.id2label[i] for i in range(model.config.num_labels)])
        settings.setdefault("maxlen", meta.get("maxlen") or min(getattr(tokenizer, "model_max_length", 512) or 512, 512))
        settings.setdefault("model_name", meta.get("base_model"))
        model.to(get_device())
        return cls(model, NERPreprocessor.from_dict(settings, tokenizer), batch_size=batch_size,
                   meta={k: v for k, v in meta.items() if k not in RESERVED})

    # ------------------------------------------------------------------ prediction
    def _word_probabilities(self, sentences: list[list[str]]) -> list[np.ndarray]:
        """Tag probabilities of every word, float32 ``(num_words, num_tags)`` per sentence (first sub-word)."""
        data = self.preproc.preprocess(sentences)
        logits = window_logits(self.model, data, batch_size=self.batch_size, precision=self.precision)
        out = [np.zeros((len(w), len(self.class_names)), dtype=np.float32) for w in data.words]
        outside = self.class_names.index("O") if "O" in self.class_names else 0
        for p in out:
            p[:, outside] = 1.0  # a word that yields no sub-word (e.g. a control character) is "O"
        for window, (ids, z) in enumerate(zip(data.word_ids, logits)):
            s = int(data.window_sentence[window])
            seen = set()
            for pos, word in enumerate(np.asarray(ids).tolist()):
                if word >= 0 and word not in seen:
                    seen.add(word)
                    out[s][word] = softmax(z[pos])
        return out

    def predict_proba(self, sentences: Sequence) -> list[np.ndarray]:
        """Tag probabilities of every word of many sentences, in one batched pass (the name of ktrain's
        ``TextPredictor.predict_proba``), e.g. the out-of-sample predictions cleanlab reads.

        Args:
            sentences: Sentences as lists of words (one probability row per given word), or raw strings (split into
                words as :meth:`predict` splits them).

        Returns:
            One float32 array of shape ``(num_words, num_tags)`` per sentence, columns in :meth:`get_classes` order;
            each word's row is the softmax of its first sub-word's logits (a word the tokenizer drops is ``"O"``).
            Long sentences are read in windows, as in training.

        Raises:
            DataError: If a sentence is neither a string nor a list of strings.
        """
        words = []
        for i, sentence in enumerate(sentences):
            if isinstance(sentence, str):
                sentence = self._split(sentence, None)[0]
            if not isinstance(sentence, (list, tuple)) or not all(isinstance(w, str) for w in sentence):
                raise DataError(f"Expected sentences as strings or lists of words. Received: {type(sentence).__name__} "
                                f"at position {i}.")
            words.append(list(sentence))
        if not words:
            return []
        return self._word_probabilities(words)

    def predict(self, sentence, return_proba: bool = False, merge_tokens: bool = False, custom_tokenizer=None,
                return_offsets: bool = False, *, is_split_into_words: bool = False):
        """Tags or entities of one sentence (ktrain's ``NERPredictor.predict``).

        Args:
            sentence: A raw sentence (split into words as ktrain does), or a list of words with
                ``is_split_into_words=True``.
            return_proba: Word mode: add each tag's probability, ``(word, tag, probability)``.
            merge_tokens: Return entities exactly as ``pipeline("token-classification",
                aggregation_strategy="simple")`` does: ``[{"entity_group", "score", "word", "start", "end"}]``
                (character offsets into ``sentence``).
            custom_tokenizer: A function ``text -> list of words`` replacing ktrain's word splitting (ktrain's
                argument); offsets are then found by searching the words in the text.
            return_offsets: Word mode: add each word's ``(start, end)`` character offsets (with ``merge_tokens``
                the entities carry offsets anyway).
            is_split_into_words: ``sentence`` is a list of words; one tag per given word.

        Returns:
            ``[(word, tag), ...]`` (ktrain's output), with the probability and/or offsets appended when asked, or the
            entity dicts with ``merge_tokens=True``.

        Raises:
            DataError: If ``sentence`` is not a string (or a list of strings with ``is_split_into_words``).
        """
        if is_split_into_words or (isinstance(sentence, (list, tuple)) and all(isinstance(w, str) for w in sentence)):
            if not isinstance(sentence, (list, tuple)) or not all(isinstance(w, str) for w in sentence):
                raise DataError(f"Expected a list of words with is_split_into_words=True. Received: {type(sentence).__name__}.")
            words, spans = list(sentence), None
            if merge_tokens:
                sentence, is_split_into_words = " ".join(words), False
        elif not isinstance(sentence, str):
            raise DataError(f"Expected a sentence as a string. Received: {type(sentence).__name__}.")
        if merge_tokens and isinstance(sentence, str):
            return simple_entities(self.model, self.tokenizer, sentence, self.maxlen, precision=self.precision)
        if isinstance(sentence, str):
            words, spans = self._split(sentence, custom_tokenizer)
        if not words:
            return []
        probs = self._word_probabilities([words])[0]
        rows = []
        for i, (word, p) in enumerate(zip(words, probs)):
            best = int(p.argmax())
            row = (word, self.class_names[best])
            if return_proba:
                row += (float(p[best]),)
            if return_offsets and spans is not None:
                row += (tuple(spans[i]),)
            rows.append(row)
        return rows

    def _split(self, text: str, custom_tokenizer) -> tuple[list[str], list[tuple[int, int]]]:
        if custom_tokenizer is None:
            words, spans = self.preproc.split_words(text)
            return list(words), [tuple(s) for s in spans]
        words, spans, at = list(custom_tokenizer(text)), [], 0
        for word in words:
            start = text.find(word, at)
            start = at if start < 0 else start
            spans.append((start, start + len(word)))
            at = start + len(word)
        return words, spans

    def predict_entities(self, texts: Sequence[str]) -> list[list[dict]]:
        """Entities of each text (``predict(text, merge_tokens=True)`` for every text), for files of texts."""
        if isinstance(texts, str):
            raise DataError("Expected a list of texts. Received: one string. Wrap it in a list.")
        return [self.predict(str(t), merge_tokens=True) for t in texts]

    # ------------------------------------------------------------------ explanations
    def attention(self, text: str) -> AttentionMaps:
        """Attention maps of every layer and head for one text (see :func:`kdemo.explain.attention.compute_attention`)."""
        return compute_attention(self.model, self.tokenizer, check_text(text), None, maxlen=self.maxlen)

    def attributions(self, text: str, token_index: int = 1, method: str = "ig", steps: int = 50, *,
                     target: int | None = None) -> Attribution:
        """Token attributions of one token's predicted tag (its logit), by integrated gradients or gradient × input.

        Args:
            text: The text.
            token_index: Position of the token whose tag is explained, special tokens counted (1 is the first token
                after ``[CLS]``); the positions are those of ``attention(text).tokens``.
            method: ``"ig"`` or ``"grad_x_input"``.
            steps: IG intervals to start with.
            target: Tag id to explain instead of the predicted one.

        Returns:
            :class:`kdemo.explain.attributions.Attribution` (``label`` is the tag explained).
        """
        return explain(self.model, self.tokenizer, check_text(text), None, method=method, steps=steps, target=target,
                       class_names=self.class_names, maxlen=self.maxlen, token_index=token_index)

    def token_to_explain(self, text: str) -> tuple[int, str]:
        """The token whose tag :meth:`target_attributions` explains: the first token of the first predicted entity
        (else the first token after ``[CLS]``).

        Args:
            text: The text.

        Returns:
            ``(token_index, note)``: the position in ``attention(text).tokens`` (special tokens counted) and a
            markdown phrase naming the token (e.g. `` for token `peter` (position 1; the first entity (PER))``).
        """
        entities = self.predict(check_text(text), merge_tokens=True)
        encoded = self.tokenizer(text, truncation=True, max_length=self.maxlen, return_offsets_mapping=True)
        offsets, ids = encoded["offset_mapping"], encoded["input_ids"]
        index = 1
        if entities:
            start = int(entities[0]["start"])
            index = next((i for i, (a, b) in enumerate(offsets) if b > a and b > start), 1)
        token = self.tokenizer.convert_ids_to_tokens([ids[index]])[0] if index < len(ids) else "?"
        where = f"the first entity ({entities[0]['entity_group']})" if entities else "no entity found: the first token"
        return index, f" for token `{token}` (position {index}; {where})"

    def explain_target(self, text: str) -> tuple[int, str]:
        """:meth:`token_to_explain`: a token's tag is what a token classifier predicts."""
        return self.token_to_explain(text)

    def target_attributions(self, text: str, text_pair: str | None = None, *, method: str = "ig", steps: int = 50):
        """Attributions of the tag of :meth:`token_to_explain`'s token, with its phrase (see
        :meth:`kdemo.inference.base.BasePredictor.target_attributions`).

        Raises:
            DataError: If the text is empty or a second text is given (a token classifier tags one text).
        """
        if text_pair:
            raise DataError("Expected one text for a token-classification model. Received: a second text too. "
                            "Leave the second text empty.")
        index, note = self.token_to_explain(text)
        return self.attributions(text, token_index=index, method=method, steps=steps), note

    def _meta_fields(self) -> dict:
        """The preprocessor's settings (word splitting, windows), to rebuild it on load."""
        return {"preprocessor": self.preproc.to_dict()}


"""ktrain's ``NERPreprocessor`` for transformer token classification: tag list, tokenizer, windows, word splitting."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from kdemo.errors import DataError, ModelError
from kdemo.modeling.classifier import DEFAULT_MODEL_ID, load_tokenizer, resolve_model_source
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.tasks import Task
from kdemo.text.ner.dataset import TokenDataset, encode_sentences
from kdemo.data.tag_schemes import OUTSIDE, normalize_tags, split_tag

# Han, Hiragana, Katakana, Hangul: scripts written without spaces between words.
_NOSPACE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def class_names_for(tags: Sequence[Sequence[str]]) -> list[str]:
    """The tag list kdemo fixes when none is given: ``"O"`` first, then per entity type (sorted) ``B-`` and ``I-``.

    ktrain's order (anago's vocabulary) follows tag frequencies, so it changes with the data; this one depends only
    on the entity types. Both ``B-X`` and ``I-X`` are listed for every type seen, even if one never occurs.

    Args:
        tags: BIO tags per sentence.

    Returns:
        ``["O", "B-LOC", "I-LOC", "B-PER", "I-PER", ...]``.
    """
    types = sorted({kind for sentence in tags for tag in sentence for kind in [split_tag(tag)[1]] if kind is not None})
    return [OUTSIDE] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Split a raw sentence into words as ktrain's NER predictor does, with character offsets.

    ktrain (``ktrain.text.textutils.tokenize``) replaces newlines with spaces and segments the text with
    `syntok <https://github.com/fnl/syntok>`_; for Chinese (and Japanese/Korean) text it uses one word per
    character. This does the same, with syntok's token offsets; for text written without spaces (mostly Han, kana
    or Hangul) each non-space character is a word (ktrain also keeps the spaces as words; kdemo drops them).

    Args:
        text: The sentence (or paragraph).

    Returns:
        ``(words, spans)``: the words and, per word, ``(start, end)`` character offsets into ``text`` (end
        exclusive), so ``text[start:end] == word``.
    """
    letters = [c for c in text if not c.isspace()]
    if letters and sum(bool(_NOSPACE.match(c)) for c in letters) > 0.5 * len(letters):
        spans = [(i, i + 1) for i, c in enumerate(text) if not c.isspace()]
        return [text[a:b] for a, b in spans], spans
    from syntok import segmenter

    words, spans = [], []
    for paragraph in segmenter.analyze(text.replace("\n", " ")):
        for sentence in paragraph:
            for token in sentence:
                if token.value:
                    start = token.offset
                    words.append(text[start : start + len(token.value)])
                    spans.append((start, start + len(token.value)))
    return words, spans


def prepare_tokenizer(tokenizer) -> bool:
    """Make a byte-level BPE tokenizer (RoBERTa, GPT-2, DeBERTa-v1 …) read pre-split words as in running text.

    Such tokenizers mark a word that follows a space with ``Ġ``; fed words one by one (``is_split_into_words``)
    they would see every word as the start of a text, which the model rarely saw in pre-training. Hugging Face's
    ``run_ner.py`` loads them with ``add_prefix_space=True`` for this; here the tokenizer's ByteLevel
    pre-tokenizer is switched the same way, so the saved tokenizer reads raw text (``pipeline``) alike.

    Args:
        tokenizer: A fast tokenizer; changed in place.

    Returns:
        True if it was changed.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None)
    if pre is None or type(pre).__name__ != "ByteLevel" or pre.add_prefix_space:
        return False
    from tokenizers import pre_tokenizers

    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, trim_offsets=pre.trim_offsets,
                                                     use_regex=pre.use_regex)
    tokenizer.add_prefix_space = True
    return True


class NERPreprocessor:
    """Preprocessor of token-classification data for one Hugging Face checkpoint (ktrain's ``NERPreprocessor``).

    Args:
        model_name: Hub id or local folder whose tokenizer is used; None uses the embedded default
            (``sentence-transformers/all-MiniLM-L6-v2``).
        maxlen: Sub-word tokens per window, special tokens included (capped at the tokenizer's maximum). Longer
            sentences are split into windows (:mod:`kdemo.text.ner.dataset`).
        class_names: Tag names in id order; None lets :meth:`preprocess_train` fix them (:func:`class_names_for`).
        tokenizer: A fast tokenizer to use instead of loading ``model_name``'s (tests, saved predictors). A
            byte-level BPE tokenizer is switched to ``add_prefix_space=True`` (:func:`prepare_tokenizer`).
        policy: Which local folders ``model_name`` may name (:class:`kdemo.modeling.sources.FolderPolicy`).

    Raises:
        ModelError: If the tokenizer cannot be loaded or is not a fast tokenizer.
        ValueError: If ``maxlen`` is not an integer >= 3.

    Example:
        >>> preproc = NERPreprocessor(maxlen=128)
        >>> trn = preproc.preprocess_train([["John", "lives", "in", "Berlin"]], [["B-PER", "O", "O", "B-LOC"]])
        >>> preproc.get_classes()
        ['O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER']
    """

    task = Task.TOKEN_CLASSIFICATION

    def __init__(self, model_name: str | None = None, maxlen: int = 128, class_names: Sequence[str] | None = None,
                 *, tokenizer=None, policy: FolderPolicy = DEFAULT_POLICY):
        if not isinstance(maxlen, (int, np.integer)) or maxlen < 3:
            raise ValueError(f"Expected maxlen to be an integer >= 3 (tokens). Received: maxlen={maxlen!r}.")
        self.model_name = model_name.strip() if model_name and model_name.strip() else DEFAULT_MODEL_ID
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(resolve_model_source(model_name,
                                                                                                     policy=policy))
        if not getattr(self.tokenizer, "is_fast", False):
            raise ModelError(f"Expected a fast tokenizer (word_ids() is needed to align tags). Received: "
                             f"{type(self.tokenizer).__name__} for {self.model_name!r}. Choose a checkpoint with a "
                             "tokenizer.json.")
        prepare_tokenizer(self.tokenizer)
        model_max = getattr(self.tokenizer, "model_max_length", 512) or 512
        self.maxlen = int(min(maxlen, model_max if model_max < 100_000 else 512))
        self.class_names: list[str] | None = [str(c) for c in class_names] if class_names else None
        self.warnings: list[str] = []

    # ------------------------------------------------------------------ ktrain's accessors
    def get_classes(self) -> list[str]:
        """Tag names in id order.

        Raises:
            DataError: If no tags are known yet (call :meth:`preprocess_train` first or pass ``class_names``).
        """
        if not self.class_names:
            raise DataError("Expected a tag list. Received: none yet. Call preprocess_train(words, tags) or pass "
                            "class_names=.")
        return list(self.class_names)

    def get_tokenizer(self):
        """The (fast) tokenizer."""
        return self.tokenizer

    # ------------------------------------------------------------------ preprocessing
    def preprocess_train(self, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]], *,
                         line_numbers: Sequence[int] | None = None) -> TokenDataset:
        """Tokenize labelled training sentences; fixes the tag list if it is not known yet.

        Tags in IOB1, BIOES or IO are converted to BIO and lone ``I-`` tags repaired
        (:func:`kdemo.data.tag_schemes.normalize_tags`); the dataset's ``warnings`` say so.

        Args:
            words: Words per sentence, ``(num_sentences, num_words)`` (ragged).
            tags: Tags per sentence, same shape.
            line_numbers: 1-based line of each sentence in its file, for messages.

        Returns:
            A :class:`TokenDataset` with labels.

        Raises:
            DataError: On empty input, a sentence whose tags differ in number from its words, or a tag outside a
                given ``class_names``.
        """
        if not len(words):
            raise DataError("Expected at least one sentence. Received: none.")
        bio, _scheme, warnings = self._bio(words, tags, line_numbers)
        if not self.class_names:
            self.class_names = class_names_for(bio)
        ds = encode_sentences(self.tokenizer, words, bio, self.class_names, self.maxlen, line_numbers=line_numbers)
        ds.warnings[:0] = warnings
        self.warnings = list(ds.warnings)
        return ds

    def preprocess_test(self, words: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None = None, *,
                        line_numbers: Sequence[int] | None = None, verbose: int = 0) -> TokenDataset:
        """Tokenize validation or test sentences with the training tag list (ktrain's ``preprocess_test``).

        Args:
            words: Words per sentence.
            tags: Tags per sentence, or None for unlabelled data.
            line_numbers: 1-based line of each sentence in its file, for messages.
            verbose: Accepted for ktrain compatibility.

        Returns:
            A :class:`TokenDataset` (labels None without tags).

        Raises:
            DataError: If no tag list is known yet, or a tag is not in it.
        """
        class_names = self.get_classes()
        if tags is None:
            return encode_sentences(self.tokenizer, words, None, class_names, self.maxlen, line_numbers=line_numbers)
        bio, _, warnings = self._bio(words, tags, line_numbers)
        ds = encode_sentences(self.tokenizer, words, bio, class_names, self.maxlen, line_numbers=line_numbers)
        ds.warnings[:0] = warnings
        return ds

    def preprocess_test_from_conll2003(self, filepath, verbose: int = 0, *, encoding: str | None = None) -> TokenDataset:
        """ktrain's ``preprocess_test_from_conll2003``: read a CoNLL file (:func:`read_token_file`) for testing.

        Raises:
            DataError: If the file cannot be read as token data (the line is named) or a tag is unknown.
        """
        from kdemo.data.token_files import read_token_file

        corpus = read_token_file(filepath, encoding=encoding)
        ds = self.preprocess_test(corpus.words, corpus.tags, line_numbers=corpus.line_numbers)
        ds.warnings[:0] = corpus.warnings
        return ds

    def preprocess(self, sentences: Sequence[str] | Sequence[Sequence[str]], lang: str | None = None,
                   custom_tokenizer=None) -> TokenDataset:
        """Unlabelled data for prediction: raw sentences (split by :meth:`split_words`) or lists of words.

        Args:
            sentences: ``["John lives in Berlin", ...]`` or ``[["John", "lives", "in", "Berlin"], ...]``.
            lang: ktrain's language code; accepted and ignored (:func:`split_words` recognises text without spaces
                by its script).
            custom_tokenizer: ktrain's option: a callable ``text -> list of words`` used instead of
                :func:`split_words`.

        Returns:
            A :class:`TokenDataset` without labels.

        Raises:
            DataError: If ``sentences`` is a single string (ktrain requires a list) or a sentence has no words.
        """
        if isinstance(sentences, str):
            raise DataError(f"Expected a list of sentences. Received: one string {sentences[:40]!r}. Wrap it in a list.")
        split = custom_tokenizer or (lambda text: self.split_words(text)[0])
        words = [list(split(s)) if isinstance(s, str) else list(s) for s in sentences]
        return encode_sentences(self.tokenizer, words, None, self.class_names or [OUTSIDE], self.maxlen)

    @staticmethod
    def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
        """ktrain's word splitting of a raw sentence with character offsets (see :func:`split_words`)."""
        return split_words(text)

    def _bio(self, words, tags, line_numbers):
        if len(tags) != len(words):
            raise DataError(f"Expected one tag list per sentence. Received: {len(words)} sentences and {len(tags)} tag "
                            "lists.")
        tags = [[str(t) for t in sentence] for sentence in tags]
        return normalize_tags(tags, line_numbers)

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict:
        """JSON-able settings: ``{"model_name", "maxlen", "class_names", "task"}``."""
        return {"model_name": self.model_name, "maxlen": self.maxlen, "class_names": self.class_names,
                "task": str(self.task)}

    @classmethod
    def from_dict(cls, d: dict, tokenizer) -> NERPreprocessor:
        """Rebuild from :meth:`to_dict` with an already loaded tokenizer (the saved model folder's)."""
        return cls(d.get("model_name"), maxlen=int(d.get("maxlen", 128)), class_names=d.get("class_names"),
                   tokenizer=tokenizer)

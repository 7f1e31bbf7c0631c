"""ktrain's ``preprocess_mode="standard"``: a word index over the training texts, optional n-gram features, and
rows of word ids pre-padded to ``maxlen`` (``ktrain/text/preprocessor.py``, ``StandardTextPreprocessor``).

Words are what Keras' legacy ``Tokenizer`` made of a text (lower-cased, its punctuation filter, split on spaces;
``keras.preprocessing.text``), ranked by count in the training texts (ties in order of first appearance), ids from 1;
only the ``max_features - 1`` most frequent words get ids. With ``ngram_range=n > 1`` every n-gram (2…n) of word ids
seen in training gets an id above ``max_features`` and is appended to each row, as in ktrain (after Keras'
``imdb_fasttext`` example); ``max_features`` becomes the largest id + 1. Rows are padded and truncated at the
front, as Keras' ``pad_sequences`` does. The preprocessor saves itself as JSON (no pickle).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from kdemo.data.labels import label_key
from kdemo.errors import DataError
from kdemo.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, multi_hot, regression_targets

#: Keras' ``Tokenizer`` filters: these characters become spaces.
FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_FILTER_RE = re.compile("[" + re.escape(FILTERS) + "]")


def words_of(text: str) -> list[str]:
    """Keras' ``text_to_word_sequence``: lower-cased, filtered characters replaced by spaces, split on spaces."""
    return [w for w in _FILTER_RE.sub(" ", str(text).lower()).split(" ") if w]


def pad_front(rows: Sequence[Sequence[int]], maxlen: int) -> np.ndarray:
    """Keras' ``pad_sequences`` defaults: int32 ``(num_rows, maxlen)``, zeros in front, long rows keep their end."""
    out = np.zeros((len(rows), maxlen), dtype=np.int32)
    for i, row in enumerate(rows):
        row = list(row)[-maxlen:]
        if row:
            out[i, maxlen - len(row):] = row
    return out


class StandardTextPreprocessor:
    """Word-id preprocessing for ktrain's classic text models (``fasttext``, ``logreg``, ``nbsvm``, ``bigru``,
    ``standard_gru``, ``linreg``).

    Args:
        maxlen: Word ids kept per text (n-gram ids included), padded at the front.
        max_features: Vocabulary size: words ranked below it get ids (ktrain's ``max_features``).
        class_names: Class names in id order (empty for regression).
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"``.
        ngram_range: Largest n-gram added (1: words only).
        lang: ktrain's language hint (kept; words are split on spaces).

    Attributes:
        word_index: ``{word: id}`` of every training word (ids from 1, by count).
        ngram_index: ``{(id, id, ...): id}`` of the n-grams (empty when ``ngram_range`` is 1).
        kind: ``"standard"`` (how ``get_predictor`` tells it from a transformer's preprocessor).
    """

    kind = "standard"

    def __init__(self, maxlen: int, max_features: int, class_names: Sequence[str] | None = None, task: str = SINGLE_LABEL,
                 ngram_range: int = 1, lang: str | None = "en"):
        if int(maxlen) < 1 or int(max_features) < 2:
            raise DataError(f"Expected maxlen >= 1 and max_features >= 2. Received: maxlen={maxlen}, "
                            f"max_features={max_features}.")
        self.maxlen, self.max_features, self.num_words = int(maxlen), int(max_features), int(max_features)
        self.class_names = [str(c) for c in class_names or []]
        self.task = task
        self.ngram_range = max(int(ngram_range or 1), 1)
        self.lang = lang
        self.word_index: dict[str, int] = {}
        self.ngram_index: dict[tuple[int, ...], int] = {}
        self.multilabel = task == MULTI_LABEL

    # ---------------------------------------------------------------- ktrain's interface
    def get_classes(self) -> list[str]:
        """Class names in id order (empty for regression)."""
        return list(self.class_names)

    def get_preprocessor(self) -> tuple[dict[str, int], dict[tuple[int, ...], int]]:
        """ktrain's ``(tokenizer, tok_dct)``: here the word index and the n-gram index."""
        return self.word_index, self.ngram_index

    def ngram_count(self) -> int:
        """ktrain's ``ngram_count``: the largest n-gram size in use (1 without n-grams)."""
        return max((len(k) for k in self.ngram_index), default=1)

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        index, limit = self.word_index, self.num_words
        return [[i for w in words_of(t) if (i := index.get(w)) is not None and i < limit] for t in texts]

    def _add_ngrams(self, rows: list[list[int]]) -> list[list[int]]:
        if self.ngram_range < 2:
            return rows
        out = []
        for row in rows:
            extra = list(row)
            for n in range(2, self.ngram_range + 1):
                for i in range(len(row) - n + 1):
                    ngram_id = self.ngram_index.get(tuple(row[i : i + n]))
                    if ngram_id is not None:
                        extra.append(ngram_id)
            out.append(extra)
        return out

    def _targets(self, y) -> np.ndarray | None:
        if y is None:
            return None
        if self.task == REGRESSION:
            return np.asarray(regression_targets(y), dtype=np.float32).reshape(-1)
        if self.task == MULTI_LABEL:
            return np.asarray(multi_hot(y, self.class_names), dtype=np.float32)
        if isinstance(y, np.ndarray) and y.ndim == 2:
            return y.astype(np.float32)
        index = {name: i for i, name in enumerate(self.class_names)}
        ids = []
        for row, value in enumerate(y):
            key = label_key(value)
            if key not in index and isinstance(value, (int, np.integer)) and 0 <= int(value) < len(self.class_names):
                key = self.class_names[int(value)]
            if key not in index:
                raise DataError(f"Expected every label to be one of {self.class_names}. Received: {value!r} at row "
                                f"{row + 1}. Fix the label or add the class to the training data.")
            ids.append(index[key])
        return np.eye(len(self.class_names), dtype=np.float32)[ids]

    def preprocess_train(self, texts: Sequence[str], y=None, verbose: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        """Build the word index (and n-grams) from ``texts`` and return ``(x, y)``: int32 ``(num_rows, maxlen)``
        and the targets (one-hot ``(num_rows, num_classes)``, multi-hot, or ``(num_rows,)`` for regression)."""
        texts = [str(t) for t in texts]
        counts = Counter(w for t in texts for w in words_of(t))  # insertion order = first appearance
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties keep their first appearance
        self.word_index = {w: i + 1 for i, (w, _) in enumerate(ranked)}
        self.num_words = self.max_features
        rows = self._ids(texts)
        if self.ngram_range >= 2:
            grams = sorted({tuple(r[i : i + n]) for r in rows for n in range(2, self.ngram_range + 1)
                            for i in range(len(r) - n + 1)})
            start = self.num_words + 1
            self.ngram_index = {g: start + k for k, g in enumerate(grams)}
            if grams:
                self.max_features = start + len(grams)
        if verbose:
            print(f"Word Counts: {len(counts)}\nNrows: {len(texts)}\n{len(texts)} train sequences")
            if self.ngram_range >= 2:
                print(f"Adding {self.ngram_range}-gram features\nmax_features changed to {self.max_features} with "
                      "addition of ngrams")
        x = pad_front(self._add_ngrams(rows), self.maxlen)
        return x, self._targets(y)

    def preprocess_test(self, texts: Sequence[str], y=None, verbose: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
        """``(x, y)`` of validation or test texts with the training word index.

        Raises:
            DataError: If :meth:`preprocess_train` has not run.
        """
        if not self.word_index:
            raise DataError("Expected preprocess_train to run first. Received: no word index yet.")
        texts = [str(t) for t in texts]
        if verbose:
            print(f"{len(texts)} test sequences")
        return pad_front(self._add_ngrams(self._ids(texts)), self.maxlen), self._targets(y)

    def preprocess(self, texts: Sequence[str]) -> np.ndarray:
        """Word ids of ``texts`` for prediction: int32 ``(num_texts, maxlen)`` (ktrain's ``preprocess``)."""
        return self.preprocess_test([texts] if isinstance(texts, str) else texts, verbose=0)[0]

    def undo(self, doc) -> str:
        """The words of a row of ids, padding and n-gram ids left out (ktrain's ``undo``: ``"the book is bad"``)."""
        words = {i: w for w, i in self.word_index.items() if i < self.num_words}
        return " ".join(words[int(i)] for i in np.asarray(doc).reshape(-1) if int(i) in words)

    # ---------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        """Everything needed to preprocess again, as JSON-friendly data."""
        return {"kind": self.kind, "maxlen": self.maxlen, "max_features": self.max_features, "num_words": self.num_words,
                "class_names": self.class_names, "task": str(self.task), "ngram_range": self.ngram_range,
                "lang": self.lang, "word_index": self.word_index,
                "ngram_index": [[list(k), v] for k, v in self.ngram_index.items()]}

    @classmethod
    def from_json(cls, data: dict) -> StandardTextPreprocessor:
        """The preprocessor :meth:`to_json` described."""
        self = cls(data["maxlen"], data["num_words"], data["class_names"], data["task"], data["ngram_range"], data.get("lang"))
        self.max_features = int(data["max_features"])
        self.word_index = {str(k): int(v) for k, v in data["word_index"].items()}
        self.ngram_index = {tuple(int(i) for i in k): int(v) for k, v in data["ngram_index"]}
        return self

    def save(self, path) -> None:
        """Write :meth:`to_json` to ``path``."""
        from kdemo.atomic import write_text

        write_text(path, json.dumps(self.to_json()))

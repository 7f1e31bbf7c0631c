"""A token file's sentences as the examples of a label-issue search: their tag ids, the sentences of one fold, and
the fold's word-level out-of-sample tag probabilities (token classification)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kdemo.data.token_files import TokenCorpus
from kdemo.run.label_issues.examples import align_columns
from kdemo.run.token_pipeline import TokenRunData
from kdemo.text.ner.preprocessor import class_names_for


def _subset(corpus: TokenCorpus, idx) -> TokenCorpus:
    """The sentences ``idx`` of ``corpus`` (a fold's part), with their line numbers; no warnings repeated."""
    idx = [int(i) for i in idx]
    return TokenCorpus(words=[corpus.words[i] for i in idx], tags=[corpus.tags[i] for i in idx],
                       line_numbers=[corpus.line_numbers[i] for i in idx], scheme=corpus.scheme, source=corpus.source)


class TokenExamples:
    """The sentences of a run's token file, one example each, with their words' tag ids (what
    :func:`kdemo.run.label_issues.tokens.token_scores` reads).

    Args:
        data: The run's sentences (:func:`kdemo.run.pipeline.read_data`); its validation file is not used.

    Attributes:
        n: Number of sentences.
        labels: Tag ids per sentence, a list of ``n`` int arrays ``(num_words,)``.
        class_names: The tags in id order (``"O"``, then ``B-``/``I-`` per entity type, sorted), as the run fixes
            them.
        strata: None (sentences are not stratified).
    """

    strata = None

    def __init__(self, data: TokenRunData):
        self.data = data
        self.corpus = data.train
        self.n = len(self.corpus.words)
        self.class_names = tuple(class_names_for(self.corpus.tags))
        index = {name: i for i, name in enumerate(self.class_names)}
        self.labels = [np.array([index[t] for t in tags], dtype=np.int64) for tags in self.corpus.tags]

    def texts(self) -> list[str]:
        """Each sentence's words joined by spaces."""
        return [" ".join(words) for words in self.corpus.words]

    def given(self) -> list[str]:
        """Each sentence's tags joined by spaces."""
        return [" ".join(tags) for tags in self.corpus.tags]

    def fold_data(self, train_idx: np.ndarray, held_idx: np.ndarray) -> TokenRunData:
        """The run data of one fold: the training sentences, and the held-out ones as validation (those whose
        entity types the training sentences know; none left: the run splits its own).

        Args:
            train_idx: Sentences the fold trains on, int ``(num_train,)``.
            held_idx: Sentences held out, int ``(num_held,)``.
        """
        known = set(class_names_for([self.corpus.tags[i] for i in train_idx]))
        val_idx = [i for i in held_idx if set(self.corpus.tags[i]) <= known]
        val = _subset(self.corpus, val_idx) if val_idx else None
        return replace(self.data, train=_subset(self.corpus, train_idx), val=val, train_file=None, val_file=None,
                       warnings=())

    def predict(self, predictor, held_idx: np.ndarray) -> list[np.ndarray]:
        """The fold predictor's tag probabilities of every held-out word, columns in :attr:`class_names` order.

        Args:
            predictor: The fold's :class:`~kdemo.inference.ner_predictor.NERPredictor`.
            held_idx: Sentences held out, int ``(num_held,)``.

        Returns:
            One float32 ``(num_words, num_tags)`` array per held-out sentence.
        """
        names = [str(c) for c in predictor.get_classes()]
        probs = predictor.predict_proba([self.corpus.words[i] for i in held_idx])
        return [align_columns(np.asarray(p, dtype=np.float32), names, self.class_names) for p in probs]

    @staticmethod
    def pack(predictions: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
        """One fold's predictions as one array ``(total_words, num_tags)`` to save (``.npy``) and the sentence
        lengths."""
        lengths = [len(p) for p in predictions]
        width = predictions[0].shape[1] if predictions else 0
        array = np.concatenate(predictions) if predictions else np.zeros((0, width), dtype=np.float32)
        return array.astype(np.float32), lengths

    @staticmethod
    def unpack(array: np.ndarray, lengths) -> list[np.ndarray]:
        """The predictions :meth:`pack` saved."""
        return np.split(np.asarray(array, dtype=np.float32), np.cumsum(lengths)[:-1]) if lengths else []

    def combine(self, pieces: list[tuple[np.ndarray, list[np.ndarray]]]) -> list[np.ndarray]:
        """Every sentence's out-of-sample word probabilities from the folds' ``(held_idx, predictions)``."""
        out: list[np.ndarray | None] = [None] * self.n
        for held, pred in pieces:
            for i, p in zip(held, pred):
                out[int(i)] = p
        return out

"""The Train tab's "Quick baseline": ktrain's NBSVM (:mod:`kdemo.text.classic`) on the same rows as the
transformer, trained in seconds on a CPU, so its score can be shown beside the fine-tuned model's (what fine-tuning
buys). Wang & Manning, "Baselines and Bigrams" (ACL 2012): NBSVM with bigrams is a strong sentiment and topic
baseline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kdemo.errors import DataError


#: Why a run has no quick baseline: NBSVM classifies one label per text.
NOT_SINGLE_LABEL = "The quick baseline (NBSVM) applies to single-label classification only; this run has none."


@dataclass(frozen=True)
class BaselineResult:
    """The baseline's score on the validation rows.

    Attributes:
        model: The classic model's name (``"nbsvm"``).
        accuracy: Fraction 0–1 of validation rows classified right.
        seconds: Wall time of preprocessing and training.
        rows: Training rows.
    """

    model: str
    accuracy: float
    seconds: float
    rows: int

    def to_dict(self) -> dict:
        """JSON-ready form (``training_params.json``'s ``quick_baseline``)."""
        return {"model": self.model, "accuracy": self.accuracy, "seconds": round(self.seconds, 2), "rows": self.rows}


def baseline_for(learner) -> BaselineResult | None:
    """:func:`quick_baseline` on a trained learner's own training and validation rows (its split), or None when the
    run is not single-label classification (one class id per row) or has no validation rows.

    Args:
        learner: A :class:`~kdemo.training.learner.Learner` after training (its ``train_data``, ``val_data``).
    """
    train, val = learner.train_data, learner.val_data
    if learner.spec.label_layout != "class" or val is None or getattr(val, "labels", None) is None:
        return None

    def rows(data):
        texts = [t if isinstance(t, str) else " ".join(map(str, t)) for t in data.texts]  # a pair: both texts
        return texts, [data.class_names[int(i)] for i in data.labels]

    return quick_baseline(*rows(train), *rows(val))


def quick_baseline(train_texts: Sequence[str], train_labels: Sequence[str], val_texts: Sequence[str],
                   val_labels: Sequence[str], *, model: str = "nbsvm", epochs: int = 3, lr: float = 0.01,
                   maxlen: int = 200, max_features: int = 35000, ngram_range: int = 2) -> BaselineResult:
    """Train ktrain's ``nbsvm`` (or ``logreg``) on single-label rows and score it on the validation rows.

    Args:
        train_texts: Training texts.
        train_labels: Their class names.
        val_texts: Validation texts.
        val_labels: Their class names (each one of the training classes).
        model: ``"nbsvm"`` or ``"logreg"``.
        epochs: One-cycle epochs.
        lr: Peak learning rate.
        maxlen: Word ids per text (n-grams included).
        max_features: Vocabulary size.
        ngram_range: Largest n-gram.

    Returns:
        A :class:`BaselineResult`.

    Raises:
        DataError: If a validation label is not a training class, or there are fewer than 2 classes.
    """
    from kdemo.text.classic import classic_model, standard_data
    from kdemo.training.factory import get_learner
    from kdemo.tasks import SINGLE_LABEL

    start = time.perf_counter()
    names = sorted({str(v) for v in train_labels})
    if len(names) < 2:
        raise DataError(f"Expected at least 2 classes for the baseline. Received: {names}.")
    trn, val, preproc = standard_data(list(train_texts), [str(v) for v in train_labels], list(val_texts),
                                      [str(v) for v in val_labels], names, SINGLE_LABEL, maxlen=maxlen,
                                      max_features=max_features, ngram_range=ngram_range, verbose=0)
    learner = get_learner(classic_model(model, trn, preproc, verbose=0), train_data=trn, batch_size=32)
    learner.fit_onecycle(lr, epochs, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float((learner.predict(val).argmax(axis=1) == np.asarray(val[1]).argmax(axis=1)).mean())
    return BaselineResult(model=model, accuracy=accuracy, seconds=seconds, rows=len(trn[0]))

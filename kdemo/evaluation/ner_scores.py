"""Test-file scores of token classification (named entities), per sentence, for bootstrapping (entity F1)."""

from __future__ import annotations

import numpy as np

from kdemo.errors import DataError
from kdemo.evaluation.ner import ner_metrics, sentence_tags, strict_spans, window_logits
from kdemo.evaluation.row_scores import RowScores


def _f1(tp: float, pred: float, true: float) -> float:
    return 2 * tp / (pred + true) if pred + true else 0.0


def ner_scores(predictor, path, **_columns) -> RowScores:
    """Tag every sentence of a labelled token file and score it as validation does (seqeval, strict IOB2), with
    per-sentence metric functions.

    Args:
        predictor: A loaded :class:`~kdemo.inference.ner_predictor.NERPredictor`.
        path: A CoNLL/BIO file or JSONL of tokens and tags (:func:`kdemo.data.token_files.read_token_file`).
        **_columns: The table tasks' column arguments, ignored.

    Returns:
        :class:`~kdemo.evaluation.row_scores.RowScores` over sentences: micro entity ``f1``, ``precision`` and
        ``recall`` (exact-span matches per sentence, summed over the resampled sentences; paired bootstrap), and
        ``sentence_accuracy`` (every entity of the sentence right, none extra; McNemar).

    Raises:
        DataError: If the file cannot be read, has fewer than 2 sentences, or an unknown tag (the line is named).
    """
    data = predictor.preproc.preprocess_test_from_conll2003(path)
    if len(data.tags) < 2:
        raise DataError(f"Expected at least 2 tagged sentences in the test file. Received: {len(data.tags)}.")
    pred = sentence_tags(data, window_logits(predictor.model, data, batch_size=predictor.batch_size),
                         predictor.get_classes())
    report = ner_metrics(data.tags, pred)
    true_spans, pred_spans = strict_spans(data.tags), strict_spans(pred)
    tp = np.array([sum(p.get(s) == k for s, k in t.items()) for t, p in zip(true_spans, pred_spans)], dtype=np.float64)
    n_true = np.array([len(t) for t in true_spans], dtype=np.float64)
    n_pred = np.array([len(p) for p in pred_spans], dtype=np.float64)
    correct = np.array([t == p for t, p in zip(true_spans, pred_spans)])
    metrics = {
        "f1": lambda idx: _f1(tp[idx].sum(), n_pred[idx].sum(), n_true[idx].sum()),
        "precision": lambda idx: float(tp[idx].sum() / n_pred[idx].sum()) if n_pred[idx].sum() else 0.0,
        "recall": lambda idx: float(tp[idx].sum() / n_true[idx].sum()) if n_true[idx].sum() else 0.0,
        "sentence_accuracy": lambda idx: float(correct[idx].mean()),
    }
    return RowScores(report, len(tp), metrics, correct=correct, exact_metric="sentence_accuracy",
                     percent=frozenset(metrics), unit="sentences")

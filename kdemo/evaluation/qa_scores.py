"""Test-file scores of extractive question answering, per question, for bootstrapping (SQuAD exact match and F1)."""

from __future__ import annotations

import numpy as np

from kdemo.data.qa_files import read_qa_file
from kdemo.errors import DataError
from kdemo.evaluation.qa import qa_report
from kdemo.evaluation.qa_logits import span_logits
from kdemo.evaluation.row_scores import RowScores


def qa_scores(predictor, path, **_columns) -> RowScores:
    """Answer every question of a labelled file and score it as validation does (:func:`kdemo.evaluation.qa.qa_report`),
    with per-question metric functions.

    Args:
        predictor: A loaded :class:`~kdemo.inference.qa_predictor.QAPredictor`.
        path: SQuAD JSON, or a table with question, context and answers columns (:func:`read_qa_file`).
        **_columns: The table tasks' column arguments, ignored (the file's layout names its columns).

    Returns:
        :class:`~kdemo.evaluation.row_scores.RowScores` over questions: ``exact_match`` (McNemar on the per-question
        exact 0/1) and ``f1`` (paired bootstrap), both percent 0–100 as SQuAD reports them, shown as they are.

    Raises:
        DataError: If the file cannot be read or has fewer than 2 questions.
    """
    corpus = read_qa_file(path)
    table = corpus.to_frame()
    if len(table) < 2:
        raise DataError(f"Expected at least 2 questions with answers in the test file. Received: {len(table)}.")
    data = predictor.preproc.preprocess_test(table["question"].tolist(), table["context"].tolist(),
                                             table["answers"].tolist(), ids=table["id"].astype(str).tolist())
    starts, ends = span_logits(predictor.model, data, batch_size=predictor.batch_size)
    settings = dict(predictor.preproc.postprocess_settings)
    version_2 = bool(settings.pop("version_2_with_negative", False)) or None
    report, _ = qa_report(data.examples, data.features, starts, ends, version_2=version_2, **{
        k: v for k, v in settings.items() if k in ("n_best_size", "max_answer_length", "null_score_diff_threshold")})
    exact = report.per_question["exact"].to_numpy(dtype=np.float64)
    f1 = report.per_question["f1"].to_numpy(dtype=np.float64)
    metrics = {"exact_match": lambda idx: float(100 * exact[idx].mean()), "f1": lambda idx: float(f1[idx].mean())}
    return RowScores(report, len(exact), metrics, correct=exact > 0.5, exact_metric="exact_match", unit="questions")

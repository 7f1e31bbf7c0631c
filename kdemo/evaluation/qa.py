"""Evaluation of extractive question answering: SQuAD's exact match and token F1, and the validation report.

The scores are the official SQuAD scripts': ``evaluate-v1.1.py`` for SQuAD 1.1 and ``evaluate-v2.0.py`` for SQuAD 2.0
(https://rajpurkar.github.io/SQuAD-explorer/), as HF ``evaluate`` wraps them in ``metrics/squad/compute_score.py``
and ``metrics/squad_v2/compute_score.py`` (https://github.com/huggingface/evaluate). An answer is normalised (lower
case, punctuation and the articles a/an/the removed, whitespace collapsed), then scored against each true answer:
exact match (0/1) and the F1 of the shared tokens, the best over the true answers, averaged in percent (0–100).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from kdemo.errors import DataError
from kdemo.evaluation.qa_postprocess import QAPredictions, field_of, postprocess_qa_predictions

#: ``evaluate-v2.0.py``'s default ``--na-prob-thresh``: a no-answer probability above it scores as "no answer".
NO_ANSWER_THRESHOLD = 1.0
#: The columns of :attr:`QAReport.per_question`.
PER_QUESTION_COLUMNS = ["id", "question", "answers", "predicted", "exact", "f1", "probability"]
_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no ASCII punctuation, no articles (a, an, the), single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _f1(prediction: list[str], truth: list[str], version_2: bool) -> float:
    """Token F1 of two normalised token lists (v2: 1.0 when both are empty, 0.0 when only one is)."""
    if version_2 and (not prediction or not truth):
        return float(prediction == truth)
    same = sum((Counter(prediction) & Counter(truth)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction), same / len(truth)
    return 2 * precision * recall / (precision + recall)


def question_scores(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], *,
                    version_2: bool = False) -> tuple[dict[str, float], dict[str, float]]:
    """Per question, exact match (0/1) and token F1 (0–1), each the best over the true answers.

    SQuAD 2.0 (``get_raw_scores`` of ``evaluate-v2.0.py``) drops true answers that normalise to nothing and scores
    against ``[""]`` when none is left, so only an empty prediction is right on an unanswerable question.

    Args:
        predictions: ``{id: predicted text}``.
        references: ``{id: [true answer texts]}``; every id is scored, a missing prediction as wrong (0).
        version_2: Score by SQuAD 2.0 (else 1.1).

    Returns:
        ``(exact, f1)``: ``{id: score}`` each, in ``references``' order.

    Raises:
        DataError: With SQuAD 1.1, if a question has no true answer.
    """
    exact: dict[str, float] = {}
    f1: dict[str, float] = {}
    for qid, answers in references.items():
        truths = [normalize_answer(a) for a in answers]
        if version_2:
            truths = [t for t in truths if t] or [""]
        elif not truths:
            raise DataError(f"Expected at least one true answer per question with SQuAD 1.1 scoring. Received: none "
                            f"for question {qid!r}. Score with version_2=True for unanswerable questions.")
        if qid not in predictions:
            exact[qid] = f1[qid] = 0.0
            continue
        predicted = normalize_answer(predictions[qid])
        exact[qid] = float(max(predicted == t for t in truths))
        f1[qid] = max(_f1(predicted.split(), t.split(), version_2) for t in truths)
    return exact, f1


def _best_threshold(predictions: Mapping[str, str], scores: dict[str, float], no_answer: Mapping[str, float],
                    has_answer: dict[str, bool]) -> tuple[float, float]:
    """``find_best_thresh`` of ``evaluate-v2.0.py``: the best total score (percent) over no-answer thresholds."""
    current = best = float(sum(1 for v in has_answer.values() if not v))
    threshold = 0.0
    for qid in sorted(no_answer, key=lambda k: no_answer[k]):
        if qid not in scores:
            continue
        current += scores[qid] if has_answer[qid] else (-1.0 if predictions.get(qid) else 0.0)
        if current > best:
            best, threshold = current, float(no_answer[qid])
    return 100.0 * best / len(scores), threshold


def squad_metrics(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], *,
                  no_answer_probabilities: Mapping[str, float] | None = None, version_2: bool = False) -> dict:
    """SQuAD exact match and F1 (percent 0–100), by the official v1.1 or v2.0 scoring.

    Source: ``evaluate-v1.1.py`` / ``evaluate-v2.0.py`` (https://rajpurkar.github.io/SQuAD-explorer/) and HF
    ``evaluate``'s ``metrics/squad`` and ``metrics/squad_v2`` ``compute_score.py``. With SQuAD 2.0 and
    ``no_answer_probabilities`` (e.g. :attr:`QAPredictions.null_score_diff`, as ``evaluate``'s ``squad_v2`` takes
    them), a question whose value exceeds :data:`NO_ANSWER_THRESHOLD` scores as answered "no answer", and the best
    scores over all thresholds are added (``find_all_best_thresh``).

    Args:
        predictions: ``{id: predicted text}`` (``""`` for "no answer").
        references: ``{id: [true answer texts]}``, one entry per question scored (an empty list: unanswerable).
        no_answer_probabilities: ``{id: no-answer score}``, SQuAD 2.0 only.
        version_2: Score by SQuAD 2.0.

    Returns:
        ``exact_match``, ``f1``, ``total`` (questions); with SQuAD 2.0 also ``has_ans_exact``, ``has_ans_f1``,
        ``has_ans_total``, ``no_ans_exact``, ``no_ans_f1``, ``no_ans_total`` (exact and F1 None where the total is
        0, which the official script leaves out), and with probabilities ``best_exact``, ``best_exact_thresh``,
        ``best_f1``, ``best_f1_thresh``.

    Raises:
        DataError: If there is no question, a SQuAD 1.1 question has no true answer, or a probability is missing.
    """
    if not references:
        raise DataError("Expected at least one question to score. Received: none. Pass the validation questions.")
    exact, f1 = question_scores(predictions, references, version_2=version_2)
    total = len(references)
    out: dict = {"exact_match": 100.0 * sum(exact.values()) / total, "f1": 100.0 * sum(f1.values()) / total,
                 "total": total}
    if not version_2:
        return out
    has_answer = {qid: bool(answers) for qid, answers in references.items()}
    raw_exact, raw_f1 = exact, f1
    if no_answer_probabilities is not None:
        missing = [qid for qid in references if qid not in no_answer_probabilities]
        if missing:
            raise DataError(f"Expected a no-answer probability per question. Received: none for {missing[0]!r}. "
                            "Pass QAPredictions.null_score_diff of the same questions.")
        exact, f1 = ({qid: float(not has_answer[qid]) if no_answer_probabilities[qid] > NO_ANSWER_THRESHOLD else s
                      for qid, s in scores.items()} for scores in (raw_exact, raw_f1))
        out["exact_match"] = 100.0 * sum(exact.values()) / total
        out["f1"] = 100.0 * sum(f1.values()) / total
    for prefix, wanted in (("has_ans", True), ("no_ans", False)):
        ids = [qid for qid, has in has_answer.items() if has == wanted]
        out[f"{prefix}_exact"] = 100.0 * sum(exact[q] for q in ids) / len(ids) if ids else None
        out[f"{prefix}_f1"] = 100.0 * sum(f1[q] for q in ids) / len(ids) if ids else None
        out[f"{prefix}_total"] = len(ids)
    if no_answer_probabilities is not None:
        probabilities = {qid: p for qid, p in no_answer_probabilities.items() if qid in references}  # their order
        out["best_exact"], out["best_exact_thresh"] = _best_threshold(predictions, raw_exact, probabilities, has_answer)
        out["best_f1"], out["best_f1_thresh"] = _best_threshold(predictions, raw_f1, probabilities, has_answer)
    return out


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True, eq=False)
class QAReport:
    """Validation metrics of an extractive question-answering model. ``float(report)`` is the F1.

    Attributes:
        exact_match: SQuAD exact match, percent 0–100.
        f1: SQuAD token F1, percent 0–100.
        num_rows: Questions evaluated.
        num_windows: Windows (features) the contexts were read in.
        version_2: Whether scored by SQuAD 2.0 (some questions have no answer).
        per_question: One row per question: ``id``, ``question``, ``answers`` (the true texts joined ``" | "``),
            ``predicted``, ``exact`` (0/1), ``f1`` (0–100), ``probability`` (the answer's, 0–1).
        has_ans_exact, has_ans_f1, has_ans_total: Exact match, F1 and count of the answerable questions (SQuAD 2.0;
            None otherwise, and the scores None when there is no such question).
        no_ans_exact, no_ans_f1, no_ans_total: The same for the unanswerable questions.
        best_f1_thresh: The null-score difference threshold that would give the best F1 (SQuAD 2.0, else None).
    """

    exact_match: float
    f1: float
    num_rows: int
    num_windows: int
    version_2: bool
    per_question: pd.DataFrame
    has_ans_exact: float | None = None
    has_ans_f1: float | None = None
    has_ans_total: int | None = None
    no_ans_exact: float | None = None
    no_ans_f1: float | None = None
    no_ans_total: int | None = None
    best_f1_thresh: float | None = None

    def __float__(self) -> float:
        return float(self.f1)

    def __eq__(self, other) -> bool:
        if not isinstance(other, QAReport):
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self) if f.name != "per_question") \
            and self.per_question.equals(other.per_question)

    __hash__ = None

    def __str__(self) -> str:
        halves = ""
        if self.version_2:
            halves = "".join(f"  {name} F1 {value:.2f}" for name, value in
                             (("answerable", self.has_ans_f1), ("unanswerable", self.no_ans_f1)) if value is not None)
        return (f"exact match {self.exact_match:.2f}  F1 {self.f1:.2f}{halves}  ({self.num_rows} questions, "
                f"{self.num_windows} windows{', SQuAD 2.0' if self.version_2 else ''})")

    def to_dict(self) -> dict:
        """JSON-ready form (``training_results.json``, model cards): the numbers and ``per_question`` records."""
        out = {"exact_match": self.exact_match, "f1": self.f1, "num_rows": self.num_rows,
               "num_windows": self.num_windows, "version_2": self.version_2}
        if self.version_2:
            out |= {k: getattr(self, k) for k in ("has_ans_exact", "has_ans_f1", "has_ans_total", "no_ans_exact",
                                                   "no_ans_f1", "no_ans_total", "best_f1_thresh")}
        return out | {"per_question": self.per_question.to_dict(orient="records")}

    @classmethod
    def from_dict(cls, data: dict) -> QAReport:
        """The report :meth:`to_dict` wrote (e.g. read back from JSON), equal to the original."""
        optional = {f.name: data.get(f.name) for f in fields(cls) if f.default is None}
        return cls(exact_match=float(data["exact_match"]), f1=float(data["f1"]), num_rows=int(data["num_rows"]),
                   num_windows=int(data["num_windows"]), version_2=bool(data["version_2"]),
                   per_question=per_question_frame(data["per_question"]), **optional)

    def to_markdown(self, worst: int = 10) -> str:
        """A Markdown summary for the Train tab: the scores, then the ``worst`` questions by F1 (lowest first)."""
        rows = [("exact match", self.exact_match), ("F1", self.f1)]
        if self.version_2:
            rows += [("exact match, answerable", self.has_ans_exact), ("F1, answerable", self.has_ans_f1),
                     ("exact match, unanswerable", self.no_ans_exact), ("F1, unanswerable", self.no_ans_f1)]
        out = ["### Question answering", "", "| metric | value |", "|---|---:|"]
        out += [f"| {name} | {value:.2f} |" for name, value in rows if value is not None]
        counts = f"{self.num_rows:,} questions in {self.num_windows:,} windows"
        if self.version_2:
            counts += f" ({self.has_ans_total:,} answerable, {self.no_ans_total:,} unanswerable; SQuAD 2.0 scoring)"
        out += ["", counts + "."]
        bad = self.per_question.sort_values("f1", kind="stable").head(worst)
        if len(bad):
            out += ["", f"**Worst {len(bad)} questions**", "", "| question | true answers | predicted | F1 |",
                    "|---|---|---|---:|"]
            out += [f"| {_cell(r.question)} | {_cell(r.answers)} | {_cell(r.predicted)} | {r.f1:.1f} |"
                    for r in bad.itertuples()]
        return "\n".join(out)


def per_question_frame(records: Sequence[Mapping]) -> pd.DataFrame:
    """:attr:`QAReport.per_question` from its records (:data:`PER_QUESTION_COLUMNS`; ``exact`` int, scores float)."""
    frame = pd.DataFrame.from_records(list(records), columns=PER_QUESTION_COLUMNS)
    frame = frame.astype({"id": object, "question": object, "answers": object, "predicted": object})
    return frame.astype({"exact": np.int64, "f1": np.float64, "probability": np.float64})


def _probability(candidates: list[dict], answer: str) -> float:
    """The probability of the n-best candidate that is the answer (the null answer's for ``""``)."""
    return next((float(c["probability"]) for c in candidates if c["text"] == answer), 0.0)


def qa_report(examples: Sequence, features: Sequence[Mapping], start_logits, end_logits, *,
              version_2: bool | None = None, n_best_size: int = 20, max_answer_length: int = 30,
              null_score_diff_threshold: float = 0.0) -> tuple[QAReport, QAPredictions]:
    """Post-process a model's window logits (:func:`postprocess_qa_predictions`) and score the answers (SQuAD).

    Args:
        examples: Objects or dicts with ``"id"``, ``"question"``, ``"context"`` and ``"answers"`` (HF squad layout
            ``{"text": [...], "answer_start": [...]}``), ``num_rows`` long.
        features: The windows (see :func:`postprocess_qa_predictions`), ``num_windows`` long.
        start_logits: Start logits, ``(num_windows, seq_len)`` or a list of ``(seq_len,)`` arrays.
        end_logits: End logits, the same shape.
        version_2: Score by SQuAD 2.0; None decides from the examples (any question without an answer → 2.0).
        n_best_size: As :func:`postprocess_qa_predictions`.
        max_answer_length: As :func:`postprocess_qa_predictions` (tokens).
        null_score_diff_threshold: As :func:`postprocess_qa_predictions` (logits).

    Returns:
        ``(report, predictions)``.

    Raises:
        DataError: If the windows or logits do not match the examples, or (SQuAD 1.1) a question has no answer.
    """
    references = {field_of(e, "id"): list(field_of(e, "answers")["text"]) for e in examples}
    if version_2 is None:
        version_2 = any(not answers for answers in references.values())
    predictions = postprocess_qa_predictions(examples, features, start_logits, end_logits,
                                             version_2_with_negative=version_2, n_best_size=n_best_size,
                                             max_answer_length=max_answer_length,
                                             null_score_diff_threshold=null_score_diff_threshold)
    scores = squad_metrics(predictions.answers, references, version_2=version_2,
                           no_answer_probabilities=predictions.null_score_diff if version_2 else None)
    exact, f1 = question_scores(predictions.answers, references, version_2=version_2)
    if version_2:  # the per-question scores after the no-answer threshold, so that their means are the headline
        diff = predictions.null_score_diff
        exact, f1 = ({q: float(not references[q]) if diff[q] > NO_ANSWER_THRESHOLD else s for q, s in d.items()}
                     for d in (exact, f1))
    records = [{"id": field_of(e, "id"), "question": field_of(e, "question"),
                "answers": " | ".join(references[field_of(e, "id")]), "predicted": predictions.answers[field_of(e, "id")],
                "exact": int(exact[field_of(e, "id")]), "f1": 100.0 * f1[field_of(e, "id")],
                "probability": _probability(predictions.nbest[field_of(e, "id")], predictions.answers[field_of(e, "id")])}
               for e in examples]
    halves = {k: scores[k] for k in ("has_ans_exact", "has_ans_f1", "has_ans_total", "no_ans_exact", "no_ans_f1",
                                     "no_ans_total", "best_f1_thresh")} if version_2 else {}
    report = QAReport(exact_match=scores["exact_match"], f1=scores["f1"], num_rows=len(examples),
                      num_windows=len(features), version_2=bool(version_2), per_question=per_question_frame(records),
                      **halves)
    return report, predictions

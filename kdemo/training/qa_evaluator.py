"""The extractive question-answering evaluation strategy: the Learner's evaluation verbs for a span model
(``validate`` → SQuAD exact match and F1 after ``run_qa``'s post-processing, ``top_losses`` by question)."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import pandas as pd

from kdemo.errors import TrainingError
from kdemo.evaluation.qa import qa_report
from kdemo.evaluation.qa_postprocess import postprocess_qa_predictions, question_losses
from kdemo.evaluation.qa_logits import span_logits
from kdemo.training.evaluator import REPORT_CSV, Evaluator, slice_of


def _answer_texts(answers: dict) -> str:
    """The true answers of one question joined by `` | ``, or ``(no answer)``."""
    return " | ".join(dict.fromkeys(str(t) for t in answers.get("text", []))) or "(no answer)"


class QAEvaluator(Evaluator):
    """Evaluation of an extractive question-answering model (windows of question + context; one answer per
    question, scored by SQuAD's exact match and F1)."""

    def _qa_data(self, val_data, what: str, *, labelled: bool = True):
        data = val_data if val_data is not None else self.learner.val_data
        if data is None or (labelled and data.answers is None):
            raise TrainingError(f"Expected validation questions with answers for {what}. Received: none. Pass "
                                "val_data to get_learner() or to this call.")
        return data

    def _logits(self, data):
        return span_logits(self.model.hf_model, data, batch_size=self.learner.eval_batch_size)

    def _version_2(self, data) -> bool:
        """SQuAD 2.0 post-processing: a model trained with unanswerable questions, or data that has some."""
        return bool(getattr(self.model, "version_2_with_negative", False)) or (
            data.answers is not None and any(not len(a["answer_start"]) for a in data.answers))

    def _report(self, data):
        starts, ends = self._logits(data)
        report, predictions = qa_report(data.examples, data.features, starts, ends, version_2=self._version_2(data))
        return report, predictions, starts, ends

    # ------------------------------------------------------------------ verbs
    def predict(self, val_data=None) -> list[str]:
        """The predicted answer of each question of the validation (or given) data (``""``: no answer).

        Raises:
            TrainingError: If there is no validation data.
        """
        data = self._qa_data(val_data, "predict", labelled=False)
        starts, ends = self._logits(data)
        predictions = postprocess_qa_predictions(data.examples, data.features, starts, ends,
                                                 version_2_with_negative=self._version_2(data))
        return [predictions.answers[i] for i in data.ids]

    def validation_report(self, val_data=None, print_report: bool = False, class_names: Sequence[str] | None = None):
        """The :class:`~kdemo.evaluation.qa.QAReport`: SQuAD exact match and F1 (percent 0–100; for SQuAD 2.0 data
        also the answerable and unanswerable halves), with every question's prediction. ``class_names`` is ignored
        (there are no classes)."""
        report = self._report(self._qa_data(val_data, "validation_report"))[0]
        if print_report:
            print(report)
        return report

    def validate(self, val_data=None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """Print the exact match and F1 and return the :class:`~kdemo.evaluation.qa.QAReport` (``float(report)`` is
        the F1); with ``print_report=False`` and a ``save_path`` the per-question table is saved as CSV."""
        report = self.validation_report(val_data, print_report=print_report)
        if not print_report and save_path:
            report.per_question.to_csv(save_path, index=False)
        return report

    def top_losses(self, n=4, val_data=None, preproc=None) -> list[tuple]:
        """``(question_index, loss, true_answers, predicted_answer)`` for every question by its loss (the mean of
        the start and end cross-entropy, the largest over its windows), highest first (``n`` as in ktrain)."""
        data = self._qa_data(val_data, "top_losses")
        if data.labels is None:
            raise TrainingError("Expected answer positions in the validation windows. Received: none; preprocess "
                                "the validation questions with their answers (preprocess_test).")
        start, end = slice_of(n)
        _, predictions, starts, ends = self._report(data)
        losses = question_losses(data.features, starts, ends, data.labels[:, 0], data.labels[:, 1])
        tups = [(q, float(losses[q]), _answer_texts(data.answers[q]), predictions.answers[data.ids[q]])
                for q in range(data.nsamples())]
        tups.sort(key=operator.itemgetter(1), reverse=True)
        return tups[start:end]

    def view_top_losses(self, n=4, preproc=None, val_data=None) -> None:
        """Print each top-loss question with its loss, its true and predicted answers and the start of its context."""
        data = self._qa_data(val_data, "view_top_losses")
        for q, loss, truth, pred in self.top_losses(n=n, val_data=data):
            print("----------")
            print(f"id:{q} | loss:{round(loss, 2)} | true:{truth} | pred:{pred or '(no answer)'}\n")
            print(f"Q: {data.questions[q]}\nC: {data.contexts[q][:300]}")
        return None

    def top_losses_table(self, n: int = 4, val_data=None) -> pd.DataFrame:
        """``row`` (the question's place in its file), ``text`` (the question), ``true`` and ``predicted`` answers and
        ``loss``, highest loss first."""
        data = self._qa_data(val_data, "top_losses_table")
        rows = [{"row": data.question_of(q), "text": data.questions[q], "true": truth,
                 "predicted": pred or "(no answer)", "loss": loss}
                for q, loss, truth, pred in self.top_losses(n=n, val_data=data)]
        return pd.DataFrame(rows, columns=["row", "text", "true", "predicted", "loss"])


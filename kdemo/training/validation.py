"""The table tasks' evaluation strategy (single-label, multi-label, regression): ktrain's ``validate``/
``top_losses``/``view_top_losses`` return values, kdemo's rich ``validation_report`` and ``top_losses_table`` (what
the app shows), and the per-class weights of a fit."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, mean_absolute_error
from sklearn.utils.class_weight import compute_class_weight

from kdemo.data.bert_arrays import as_dataset
from kdemo.data.dataset import TextDataset
from kdemo.errors import TrainingError
from kdemo.evaluation import evaluate as evaluation
from kdemo.tasks import MULTI_LABEL, REGRESSION
from kdemo.training.evaluator import REPORT_CSV, Evaluator, slice_of

__all__ = ["REPORT_CSV", "TableEvaluator"]


class TableEvaluator(Evaluator):
    """Evaluation of a text classifier or regressor (one output row per text or sentence pair).

    Uses the learner's ``model``, ``task``, ``train_data``, ``val_data``, ``eval_batch_size`` and ``thresholds``
    (multi-label: the per-label thresholds the last :meth:`validation_report` tuned).
    """

    def _labelled(self, val_data, what: str) -> TextDataset:
        data = as_dataset(val_data, self.model) if val_data is not None else self.learner.val_data
        if data is None or data.labels is None:
            raise TrainingError(f"Expected labelled validation data for {what}. Received: none. Pass val_data to "
                                f"get_learner() or to this call.")
        return data

    # ------------------------------------------------------------------ class weights
    def class_weight(self, class_weight) -> dict[int, float] | None:
        """Single-label: ``"balanced"`` (see :meth:`balanced_class_weight`) or a ``{class_id: weight}`` dict, applied
        as Keras' per-row ``sample_weight``. Other table tasks refuse class weights (see the spec's
        ``class_weight``).

        Raises:
            TrainingError: For another string, or a task that takes no class weights.
        """
        if class_weight is None or not self.learner.spec.class_weight:
            return super().class_weight(class_weight)
        if isinstance(class_weight, str):
            if class_weight != "balanced":
                raise TrainingError(f"Expected class_weight 'balanced' or a {{class_id: weight}} dict. Received: {class_weight!r}.")
            return self.balanced_class_weight()
        return {int(k): float(v) for k, v in class_weight.items()}

    def balanced_class_weight(self) -> dict[int, float]:
        """``n_rows / (n_classes * rows_of_class)`` per class id (scikit-learn's ``"balanced"`` rule); 1 for a
        class absent from the training data."""
        train = self.learner.train_data
        classes = np.arange(len(train.class_names))
        present = np.unique(train.labels)
        weights = compute_class_weight("balanced", classes=present, y=train.labels)
        out = dict.fromkeys(classes.tolist(), 1.0)
        out.update({int(c): float(w) for c, w in zip(present, weights)})
        return out

    # ------------------------------------------------------------------ predictions
    def predict(self, val_data: TextDataset | None = None) -> np.ndarray:
        """Float32 ``(num_rows, num_outputs)``: softmax (single-label), sigmoid (multi-label) or values (regression).

        Raises:
            TrainingError: If there is no validation data.
        """
        data = as_dataset(val_data, self.model) if val_data is not None else self.learner.val_data
        if data is None:
            raise TrainingError("Expected validation data. Received: none. Pass val_data to get_learner() or to this call.")
        return evaluation.predict_outputs(self.model.hf_model, data, self.learner.task, self.learner.eval_batch_size)

    # ------------------------------------------------------------------ ktrain's validate
    def validate(self, val_data: TextDataset | None = None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """scikit-learn's classification report printed (or saved to ``save_path``); the confusion matrix
        (single-label), ``[("mae", value)]`` (regression) or None with a warning (multi-label)."""
        task = self.learner.task
        data = self._labelled(val_data, "validate")
        if task == MULTI_LABEL:
            warnings.warn("multilabel confusion matrices not yet supported (ktrain); see learner.validation_report()",
                          stacklevel=3)
            self.validation_report(val_data, print_report=print_report)
            return None
        out = self.predict(data)
        if task == REGRESSION:
            y_true, y_pred = data.labels.reshape(-1), out.reshape(-1)
            return [("mae", float(mean_absolute_error(y_true, y_pred)))]
        y_true, y_pred = data.labels, out.argmax(axis=1)
        names = [str(c) for c in (class_names or data.class_names)]
        labels = list(range(len(names)))
        if print_report or save_path is not None:
            report = classification_report(y_true, y_pred, labels=labels, target_names=names, zero_division=0,
                                           output_dict=not print_report)
            if print_report:
                print(report)
            else:
                pd.DataFrame(report).transpose().to_csv(save_path)
                print(f"classification report saved to: {save_path}")
        return confusion_matrix(y_true, y_pred, labels=labels)

    def validation_report(self, val_data: TextDataset | None = None, print_report: bool = False,
                          class_names: Sequence[str] | None = None):
        """The task's report; multi-label thresholds are tuned on the learner's own validation data and kept in
        ``learner.thresholds`` (other data, e.g. a test split, is scored with them, never tuned on itself)."""
        learner = self.learner
        data = self._labelled(val_data, "validation_report")
        thresholds = None if data is learner.val_data or learner.thresholds is None else learner.thresholds
        report = evaluation.evaluate(self.model.hf_model, data, learner.task, class_names=class_names,
                                     batch_size=learner.eval_batch_size, thresholds=thresholds)
        if hasattr(report, "thresholds"):
            learner.thresholds = self.model.thresholds = report.thresholds
        if print_report:
            print(report)
        return report

    # ------------------------------------------------------------------ top losses
    def top_losses(self, n: int | tuple[int, int] = 4, val_data: TextDataset | None = None, preproc=None) -> list[tuple]:
        """``(index, loss, true, predicted)`` tuples, highest loss first (single-label: misclassified rows only)."""
        task = self.learner.task
        data = self._labelled(val_data, "top_losses")
        start, end = slice_of(n)
        out = self.predict(data)
        losses = evaluation.per_row_losses(out, data.labels, task)
        if task in (MULTI_LABEL, REGRESSION):
            y_true = data.y
            tups = [(i, float(loss), y_true[i], np.around(out[i] if task == MULTI_LABEL else out[i, 0], 2))
                    for i, loss in enumerate(losses)]
        else:
            names = preproc.get_classes() if preproc is not None else None
            label = (lambda k: names[k]) if names else (lambda k: str(k))
            pred = out.argmax(axis=1)
            tups = [(i, float(loss), label(int(data.labels[i])), label(int(pred[i])))
                    for i, loss in enumerate(losses) if pred[i] != data.labels[i]]
        tups.sort(key=operator.itemgetter(1), reverse=True)
        return tups[start:end]

    def view_top_losses(self, n: int | tuple[int, int] = 4, preproc=None, val_data: TextDataset | None = None) -> None:
        """Print each top-loss row's id, loss, true and predicted class, and text."""
        data = self._labelled(val_data, "view_top_losses")
        for idx, loss, truth, pred in self.top_losses(n=n, val_data=data, preproc=preproc):
            print("----------")
            print(f"id:{idx} | loss:{round(loss, 2)} | true:{truth} | pred:{pred})\n")
            print(preproc.undo(data.x[idx]) if preproc is not None else data.texts[idx])

    def top_losses_table(self, n: int = 4, val_data: TextDataset | None = None) -> pd.DataFrame:
        """:func:`kdemo.evaluation.evaluate.top_losses` on the validation (or given) data."""
        data = self._labelled(val_data, "top_losses_table")
        return evaluation.top_losses(self.model.hf_model, data, self.learner.task, n,
                                     batch_size=self.learner.eval_batch_size, thresholds=self.learner.thresholds)

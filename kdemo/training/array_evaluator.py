"""Evaluation of any Keras model trained on NumPy arrays (:class:`~kdemo.training.array_learner.ArrayLearner`):
ktrain's ``predict``, ``validate``, ``top_losses`` and ``view_top_losses`` on ``(x, y)`` arrays, and kdemo's
``validation_report``/``top_losses_table``.

The model's outputs are taken as ktrain takes them: class probabilities (softmax or sigmoid outputs, as ktrain's
and kdemo's classic text models end) or regression values; the task is read from ``y``
(:func:`kdemo.data.keras_arrays.targets_task`).
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, mean_absolute_error
from sklearn.utils.class_weight import compute_class_weight

from kdemo.data.keras_arrays import ArrayDataset, as_array_dataset
from kdemo.errors import TrainingError
from kdemo.evaluation.evaluate import per_row_losses
from kdemo.evaluation.report import classification_metrics, multilabel_metrics, regression_metrics, tune_thresholds
from kdemo.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from kdemo.training.evaluator import REPORT_CSV, Evaluator, slice_of


class ArrayEvaluator(Evaluator):
    """The evaluation verbs of an :class:`~kdemo.training.array_learner.ArrayLearner` (its ``model``,
    ``val_data``, ``train_data``, ``eval_batch_size``)."""

    def _data(self, val_data, what: str, *, labelled: bool = True) -> ArrayDataset:
        data = as_array_dataset(val_data) if val_data is not None else self.learner.val_data
        if data is None or (labelled and data.y is None):
            raise TrainingError(f"Expected labelled validation data for {what}. Received: none. Pass val_data to "
                                "get_learner() or to this call.")
        return data

    def class_weight(self, class_weight) -> dict[int, float] | None:
        """``"balanced"`` or ``{class_id: weight}`` for single-label targets, as Keras' per-row weights."""
        if class_weight is None:
            return None
        if self.learner.task != SINGLE_LABEL:
            return super().class_weight(class_weight)
        if isinstance(class_weight, str):
            if class_weight != "balanced":
                raise TrainingError(f"Expected class_weight 'balanced' or a {{class_id: weight}} dict. Received: {class_weight!r}.")
            return self.balanced_class_weight()
        return {int(k): float(v) for k, v in class_weight.items()}

    def balanced_class_weight(self) -> dict[int, float]:
        """scikit-learn's ``"balanced"`` weight per class id of the training targets (1 for absent classes)."""
        labels = self.learner.train_data.labels
        present = np.unique(labels)
        out = dict.fromkeys(range(len(self.learner.train_data.class_names)), 1.0)
        out.update({int(c): float(w) for c, w in zip(present, compute_class_weight("balanced", classes=present, y=labels))})
        return out

    def predict(self, val_data=None) -> np.ndarray:
        """``model.predict`` on the validation (or given) data's ``x``, rows in order (ktrain's ``predict``)."""
        data = self._data(val_data, "predict", labelled=False)
        return np.asarray(self.model.predict(data.x, batch_size=self.learner.eval_batch_size, verbose=0))

    def validate(self, val_data=None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """The confusion matrix (single-label), ``[("mae", value)]`` (regression), or None with a warning
        (multi-label), with scikit-learn's report printed or saved, as ktrain's ``validate``."""
        data = self._data(val_data, "validate")
        task = data.task
        if task == MULTI_LABEL:
            warnings.warn("multilabel confusion matrices not yet supported (ktrain); see learner.validation_report()",
                          stacklevel=3)
            self.validation_report(val_data, print_report=print_report)
            return None
        out = self.predict(data)
        if task == REGRESSION:
            return [("mae", float(mean_absolute_error(data.labels, out.reshape(len(data), -1)[:, 0])))]
        names = [str(c) for c in (class_names or data.class_names)]
        labels = list(range(len(names)))
        y_true, y_pred = data.labels, out.argmax(axis=1)
        if print_report or save_path is not None:
            report = classification_report(y_true, y_pred, labels=labels, target_names=names, zero_division=0,
                                           output_dict=not print_report)
            if print_report:
                print(report)
            else:
                pd.DataFrame(report).transpose().to_csv(save_path)
        return confusion_matrix(y_true, y_pred, labels=labels)

    def validation_report(self, val_data=None, print_report: bool = False, class_names: Sequence[str] | None = None):
        """kdemo's report of the task (see :meth:`kdemo.training.evaluator.EvaluationMixin.validation_report`)."""
        data = self._data(val_data, "validation_report")
        out = self.predict(data)
        names = [str(c) for c in (class_names or data.class_names)]
        if data.task == REGRESSION:
            report = regression_metrics(data.labels.reshape(-1, 1), out.reshape(len(data), -1)[:, :1])
        elif data.task == MULTI_LABEL:
            thresholds = self.learner.thresholds if val_data is not None and self.learner.thresholds else None
            report = multilabel_metrics(data.labels, out, names, thresholds or tune_thresholds(data.labels, out))
            if thresholds is None and val_data is None:
                self.learner.thresholds = report.thresholds
        else:
            report = classification_metrics(data.labels, out.argmax(axis=1), names)
        if print_report:
            print(report)
        return report

    def _losses(self, data: ArrayDataset) -> tuple[np.ndarray, np.ndarray]:
        out = self.predict(data)
        task = data.task
        outputs = out.reshape(len(data), -1) if task == REGRESSION else out
        return out, per_row_losses(outputs, data.labels, task)

    def top_losses(self, n=4, val_data=None, preproc=None) -> list[tuple]:
        """``(index, loss, true, predicted)`` tuples, highest loss first (single-label: misclassified rows only;
        true and predicted are class names with ``preproc``, else ids as strings), as ktrain's ``top_losses``."""
        data = self._data(val_data, "top_losses")
        start, end = slice_of(n)
        out, losses = self._losses(data)
        if data.task in (MULTI_LABEL, REGRESSION):
            tups = [(i, float(loss), data.y[i], np.around(out[i], 2)) for i, loss in enumerate(losses)]
        else:
            names = preproc.get_classes() if preproc is not None else None
            label = (lambda k: names[k]) if names else str
            pred = out.argmax(axis=1)
            tups = [(i, float(loss), label(int(data.labels[i])), label(int(pred[i])))
                    for i, loss in enumerate(losses) if pred[i] != data.labels[i]]
        tups.sort(key=operator.itemgetter(1), reverse=True)
        return tups[start:end]

    def view_top_losses(self, n=4, preproc=None, val_data=None) -> None:
        """Print each top-loss row's id, loss, true and predicted value, and its text (``preproc.undo``) or row."""
        data = self._data(val_data, "view_top_losses")
        for idx, loss, truth, pred in self.top_losses(n=n, val_data=data, preproc=preproc):
            print("----------")
            print(f"id:{idx} | loss:{round(loss, 2)} | true:{truth} | pred:{pred})\n")
            row = data.rows([idx])[0][0]
            print(preproc.undo(row) if preproc is not None else row)

    def top_losses_table(self, n: int = 4, val_data=None) -> pd.DataFrame:
        """The ``n`` highest-loss rows: ``row`` (1-based), ``text`` (empty: arrays hold no text), ``true``,
        ``predicted``, ``loss``."""
        data = self._data(val_data, "top_losses_table")
        out, losses = self._losses(data)
        rows = []
        for i in np.argsort(-losses)[:n]:
            truth, pred = (data.labels[i], out[i].argmax()) if data.task == SINGLE_LABEL else (data.y[i], out[i])
            rows.append({"row": int(i) + 1, "text": "", "true": str(truth), "predicted": str(pred),
                         "loss": round(float(losses[i]), 4)})
        return pd.DataFrame(rows, columns=["row", "text", "true", "predicted", "loss"])

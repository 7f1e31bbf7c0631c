"""The Learner's evaluation verbs: ktrain's ``validate``/``evaluate``/``top_losses``/``view_top_losses``/
``ground_truth``/``layer_output`` (ktrain's return values), and kdemo's rich ``validation_report`` and
``top_losses_table`` (what the app shows)."""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import classification_report, confusion_matrix, mean_absolute_error

from kdemo.data.dataset import TextDataset, as_dataset
from kdemo.errors import TrainingError
from kdemo.evaluation import evaluate as evaluation
from kdemo.tasks import MULTI_LABEL, REGRESSION

#: ktrain's default file for the classification report when ``print_report=False``.
REPORT_CSV = "ktrain_classification_report.csv"


class ValidationMixin:
    """Evaluation methods of :class:`kdemo.training.learner.Learner`.

    Relies on the learner's ``model``, ``task``, ``train_data``, ``val_data``, ``eval_batch_size`` and ``thresholds``.
    """

    def _labelled(self, val_data, what: str) -> TextDataset:
        data = as_dataset(val_data) if val_data is not None else self.val_data
        if data is None or data.labels is None:
            raise TrainingError(f"Expected labelled validation data for {what}. Received: none. Pass val_data to "
                                f"get_learner() or to this call.")
        return data

    # ------------------------------------------------------------------ predictions and targets
    def predict(self, val_data: TextDataset | None = None) -> np.ndarray:
        """Outputs for the validation (or given) data, rows in the data's order (ktrain's ``learner.predict``).

        Returns:
            Float32 array of shape ``(num_rows, num_outputs)``: class probabilities (softmax for single-label,
            sigmoid for multi-label) or regression values.
        """
        data = as_dataset(val_data) if val_data is not None else self.val_data
        if data is None:
            raise TrainingError("Expected validation data. Received: none. Pass val_data to get_learner() or to this call.")
        return evaluation.predict_outputs(self.model.hf_model, data, self.task, self.eval_batch_size)

    def ground_truth(self, val_data: TextDataset | None = None) -> np.ndarray:
        """The targets of the validation (or given) data as ktrain holds them (ktrain's ``ground_truth``).

        Returns:
            Float32 one-hot rows ``(num_rows, num_classes)`` (single-label), the multi-hot matrix (multi-label) or
            the targets ``(num_rows,)`` (regression); see :attr:`kdemo.data.dataset.TextDataset.y`.
        """
        return self._labelled(val_data, "ground_truth").y

    # ------------------------------------------------------------------ ktrain's validate
    def validate(self, val_data: TextDataset | None = None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """ktrain's ``validate``: print (or save) scikit-learn's classification report, return the confusion matrix.

        kdemo's full report (macro-F1, per-class table, multi-label thresholds, regression R²) is
        :meth:`validation_report`.

        Args:
            val_data: Data to evaluate (default: the learner's validation data).
            print_report: Print the report; when False it is saved as CSV to ``save_path`` (as in ktrain).
            save_path: CSV file for the report when ``print_report`` is False (None: not saved).
            class_names: Names used in the report (default: the data's class names).

        Returns:
            Single-label: the confusion matrix, int array of shape ``(num_classes, num_classes)`` (rows: true
            class, columns: predicted; scikit-learn's ``confusion_matrix``). Regression: ``[("mae", value)]``.
            Multi-label: None, with a warning (ktrain: "multilabel confusion matrices not yet supported"); the
            per-label thresholds are still tuned (see :meth:`validation_report`).

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        data = self._labelled(val_data, "validate")
        if self.task == MULTI_LABEL:
            warnings.warn("multilabel confusion matrices not yet supported (ktrain); see learner.validation_report()",
                          stacklevel=2)
            self.validation_report(val_data, print_report=print_report)
            return None
        out = self.predict(data)
        if self.task == REGRESSION:
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

    def evaluate(self, test_data: TextDataset | None = None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """ktrain's ``evaluate``: :meth:`validate` on ``test_data`` (default: the validation data)."""
        return self.validate(val_data=test_data, print_report=print_report, save_path=save_path, class_names=class_names)

    def validation_report(self, val_data: TextDataset | None = None, print_report: bool = False,
                          class_names: Sequence[str] | None = None):
        """kdemo's full validation report, for every task.

        Single-label: accuracy, macro-F1, per-class table and confusion matrix. Multi-label: micro/macro F1 and a
        per-label table, with per-label thresholds tuned on the learner's own validation data (kept in
        :attr:`thresholds`); other data is scored with those thresholds. Regression: MAE, RMSE, R².

        Args:
            val_data: Data to evaluate (default: the learner's validation data).
            print_report: Print the report.
            class_names: Label names in id order (default: those of the data).

        Returns:
            A :class:`~kdemo.evaluation.report.ClassificationReport`, :class:`~kdemo.evaluation.report.MultiLabelReport` or
            :class:`~kdemo.evaluation.report.RegressionReport`.

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        data = self._labelled(val_data, "validation_report")
        # Multi-label thresholds are tuned on the learner's validation split; other data (a test split) is scored
        # with those thresholds, never tuned on itself.
        thresholds = None if data is self.val_data or self.thresholds is None else self.thresholds
        report = evaluation.evaluate(self.model.hf_model, data, self.task, class_names=class_names,
                                     batch_size=self.eval_batch_size, thresholds=thresholds)
        if hasattr(report, "thresholds"):
            self.thresholds = self.model.thresholds = report.thresholds
        if print_report:
            print(report)
        return report

    # ------------------------------------------------------------------ top losses
    def top_losses(self, n: int | tuple[int, int] = 4, val_data: TextDataset | None = None, preproc=None) -> list[tuple]:
        """ktrain's ``top_losses``: the validation rows with the highest loss.

        Args:
            n: How many (``n`` means ``(0, n)``) or a ``(start, end)`` slice of the sorted list.
            val_data: Data to use (default: the learner's validation data).
            preproc: With it, true and predicted classes are class names; without, class ids as strings.

        Returns:
            A list of ``(index, loss, true, predicted)`` tuples sorted by loss, highest first; ``index`` is the
            0-based row of the data. Single-label: misclassified rows only. Multi-label and regression: every
            row, with ``true`` the target row and ``predicted`` the output rounded to 2 decimals (as in ktrain).

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        data = self._labelled(val_data, "top_losses")
        start, end = (0, n) if isinstance(n, (int, np.integer)) else (n if n is not None else (0, None))
        out = self.predict(data)
        losses = evaluation.per_row_losses(out, data.labels, self.task)
        if self.task in (MULTI_LABEL, REGRESSION):
            y_true = data.y
            tups = [(i, float(loss), y_true[i], np.around(out[i] if self.task == MULTI_LABEL else out[i, 0], 2))
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
        """ktrain's ``view_top_losses``: print each top-loss row's id, loss, true and predicted class, and text."""
        data = self._labelled(val_data, "view_top_losses")
        for idx, loss, truth, pred in self.top_losses(n=n, val_data=data, preproc=preproc):
            print("----------")
            print(f"id:{idx} | loss:{round(loss, 2)} | true:{truth} | pred:{pred})\n")
            print(preproc.undo(data.x[idx]) if preproc is not None else data.texts[idx])

    def top_losses_table(self, n: int = 4, val_data: TextDataset | None = None) -> pd.DataFrame:
        """kdemo's top-losses table (see :func:`kdemo.evaluation.evaluate.top_losses`).

        Returns:
            DataFrame with ``row`` (1-based), ``text``, ``true``, ``predicted``, ``loss``, highest loss first.
        """
        data = self._labelled(val_data, "top_losses_table")
        return evaluation.top_losses(self.model.hf_model, data, self.task, n, batch_size=self.eval_batch_size,
                                     thresholds=self.thresholds)

    # ------------------------------------------------------------------ internals
    def layer_output(self, layer_id: int, example_id: int = 0, use_val: bool = False) -> np.ndarray:
        """ktrain's ``layer_output``: the output of one layer for one example.

        Layers are the transformer's hidden states: 0 is the embedding output, ``i`` the output of block ``i``,
        -1 the last block.

        Args:
            layer_id: Hidden-state index (negative counts from the end).
            example_id: 0-based row of the training (or validation) data.
            use_val: Take the example from the validation data.

        Returns:
            Float32 array of shape ``(1, seq_len, hidden_size)``.

        Raises:
            TrainingError: If the layer or example does not exist.
        """
        data = self.val_data if use_val else self.train_data
        if data is None or not -len(data) <= example_id < len(data):
            raise TrainingError(f"Expected example_id within the {'validation' if use_val else 'training'} data "
                                f"({0 if data is None else len(data)} rows). Received: {example_id}.")
        hf = self.model.hf_model
        device = next(hf.parameters()).device
        batch = {k: torch.from_numpy(v).to(device) for k, v in data.collate([example_id % len(data)]).items()}
        hf.eval()
        with torch.inference_mode():
            states = hf(**batch, output_hidden_states=True).hidden_states
        if not -len(states) <= layer_id < len(states):
            raise TrainingError(f"Expected layer_id between {-len(states)} and {len(states) - 1} (0: embeddings). "
                                f"Received: {layer_id}.")
        return states[layer_id].float().cpu().numpy()

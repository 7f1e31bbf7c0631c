"""The Learner's evaluation verbs and the per-task strategy behind them.

Each task's spec names its evaluator (``spec.load("evaluator")``: :class:`kdemo.training.validation.TableEvaluator`
for the table tasks, :class:`kdemo.training.token_evaluator.TokenEvaluator` for token classification). The Learner
holds one as :attr:`~kdemo.training.learner.Learner.evaluator` and its ktrain verbs (``predict``, ``validate``,
``validation_report``, ``top_losses``, ``view_top_losses``, ``top_losses_table``) hand the work to it; the class
weights of a fit are resolved by it too (:meth:`Evaluator.class_weight`), once per fit. Adding a task adds one
evaluator class and its dotted path in :mod:`kdemo.tasks.spec`, and no branch here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from kdemo.data.bert_arrays import as_dataset
from kdemo.errors import TrainingError
from kdemo.tasks import SPECS

#: ktrain's default file for the classification report when ``print_report=False``.
REPORT_CSV = "ktrain_classification_report.csv"


class Evaluator:
    """Base of the per-task evaluation strategy of a :class:`~kdemo.training.learner.Learner`.

    Subclasses implement the verbs for their task's data and outputs; the learner's model and validation data are
    read from the learner on every call (so :meth:`~kdemo.training.learner.Learner.set_model` needs no new one
    unless the task changes).

    Args:
        learner: The learner it evaluates for (its ``model``, ``val_data``, ``train_data``, ``eval_batch_size``).
    """

    def __init__(self, learner):
        self.learner = learner

    @property
    def model(self):
        """The learner's Keras model (``learner.model``)."""
        return self.learner.model

    def class_weight(self, class_weight) -> dict[int, float] | None:
        """Resolve a fit's ``class_weight`` for this task (called once per fit, before the model compiles).

        Args:
            class_weight: None, ``"balanced"`` or ``{class_id: weight}``.

        Returns:
            ``{class_id: weight}`` for Keras' ``sample_weight``, or None (none, or weights kept inside the loss).

        Raises:
            TrainingError: If the task takes no class weights.
        """
        if class_weight is None:
            return None
        allowed = " or ".join(spec.title for spec in SPECS.values() if spec.class_weight)
        raise TrainingError(f"Expected class_weight only for {allowed}. Received it for task "
                            f"{str(self.learner.task)!r}; leave it out (multi-label training already weights each "
                            "label's positives).")

    def balanced_class_weight(self) -> dict[int, float]:
        """scikit-learn's ``"balanced"`` weight per class (or tag) id of the training data."""
        raise TrainingError(f"Expected a task that takes class weights. Received: {str(self.learner.task)!r}.")

    def predict(self, val_data=None):
        """The model's outputs for the validation (or given) data (see :meth:`EvaluationMixin.predict`)."""
        raise NotImplementedError

    def validation_report(self, val_data=None, print_report: bool = False, class_names: Sequence[str] | None = None):
        """kdemo's full report of the task (see :meth:`EvaluationMixin.validation_report`)."""
        raise NotImplementedError

    def validate(self, val_data=None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """ktrain's ``validate`` for the task (see :meth:`EvaluationMixin.validate`)."""
        raise NotImplementedError

    def top_losses(self, n=4, val_data=None, preproc=None) -> list[tuple]:
        """ktrain's ``top_losses`` for the task (see :meth:`EvaluationMixin.top_losses`)."""
        raise NotImplementedError

    def view_top_losses(self, n=4, preproc=None, val_data=None) -> None:
        """ktrain's ``view_top_losses`` for the task (see :meth:`EvaluationMixin.view_top_losses`)."""
        raise NotImplementedError

    def top_losses_table(self, n: int = 4, val_data=None) -> pd.DataFrame:
        """kdemo's top-losses table for the task (see :meth:`EvaluationMixin.top_losses_table`)."""
        raise NotImplementedError


def slice_of(n) -> tuple[int, int | None]:
    """ktrain's ``n`` of ``top_losses``: a count (``(0, n)``), a ``(start, end)`` pair, or None (all)."""
    return (0, n) if isinstance(n, (int, np.integer)) else (n if n is not None else (0, None))


class EvaluationMixin:
    """ktrain's evaluation verbs of :class:`kdemo.training.learner.Learner`, answered by its :attr:`evaluator`.

    Relies on the learner's ``evaluator``, ``train_data``, ``val_data`` and ``model``.
    """

    evaluator: Evaluator

    def predict(self, val_data=None):
        """Outputs for the validation (or given) data, rows in the data's order (ktrain's ``learner.predict``).

        Returns:
            Table tasks: float32 array ``(num_rows, num_outputs)`` of class probabilities (softmax for single-label,
            sigmoid for multi-label) or regression values. Token classification: the predicted tags of each
            sentence, ``list[list[str]]``.

        Raises:
            TrainingError: If there is no validation data.
        """
        return self.evaluator.predict(val_data)

    def ground_truth(self, val_data=None):
        """The targets of the validation (or given) data as ktrain holds them (ktrain's ``ground_truth``).

        Returns:
            The data's ``y``: float32 one-hot rows ``(num_rows, num_classes)`` (single-label), the multi-hot matrix
            (multi-label), the targets ``(num_rows,)`` (regression), or the tags of each sentence (tokens).

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        data = self._checked_val(val_data, "ground_truth")
        return data.y

    def _checked_val(self, val_data, what: str):
        data = as_dataset(val_data, self.model) if val_data is not None else self.val_data
        if data is None or data.labels is None:
            raise TrainingError(f"Expected labelled validation data for {what}. Received: none. Pass val_data to "
                                "get_learner() or to this call.")
        return data

    def validate(self, val_data=None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """ktrain's ``validate``: print (or save) the task's report and return what ktrain returns.

        Args:
            val_data: Data to evaluate (default: the learner's validation data).
            print_report: Print the report; when False it is saved as CSV to ``save_path`` (as in ktrain).
            save_path: CSV file for the report when ``print_report`` is False (None: not saved).
            class_names: Names used in the report (default: the data's class names).

        Returns:
            Single-label: the confusion matrix, int array ``(num_classes, num_classes)`` (rows: true class, columns:
            predicted). Regression: ``[("mae", value)]``. Multi-label: None, with a warning (ktrain: "multilabel
            confusion matrices not yet supported"); the per-label thresholds are still tuned. Token classification:
            the :class:`~kdemo.evaluation.ner.NERReport` (seqeval's entity report; ``float(report)`` is the micro F1
            ktrain returns; saved per type as CSV).

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        return self.evaluator.validate(val_data, print_report=print_report, save_path=save_path, class_names=class_names)

    def evaluate(self, test_data=None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """ktrain's ``evaluate``: :meth:`validate` on ``test_data`` (default: the validation data)."""
        return self.validate(val_data=test_data, print_report=print_report, save_path=save_path, class_names=class_names)

    def validation_report(self, val_data=None, print_report: bool = False, class_names: Sequence[str] | None = None):
        """kdemo's full validation report, for every task.

        Single-label: accuracy, macro-F1, per-class table and confusion matrix. Multi-label: micro/macro F1 and a
        per-label table, with per-label thresholds tuned on the learner's own validation data (kept in
        ``learner.thresholds``); other data is scored with those thresholds. Regression: MAE, RMSE, R². Token
        classification: seqeval's strict IOB2 entity scores per type, micro/macro, token accuracy and the entity
        confusion matrix.

        Args:
            val_data: Data to evaluate (default: the learner's validation data).
            print_report: Print the report.
            class_names: Label names in id order (default: those of the data).

        Returns:
            A :class:`~kdemo.evaluation.report.ClassificationReport`, :class:`~kdemo.evaluation.report.MultiLabelReport`,
            :class:`~kdemo.evaluation.report.RegressionReport` or :class:`~kdemo.evaluation.ner.NERReport`.

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        return self.evaluator.validation_report(val_data, print_report=print_report, class_names=class_names)

    def top_losses(self, n: int | tuple[int, int] = 4, val_data=None, preproc=None) -> list[tuple]:
        """ktrain's ``top_losses``: the validation rows (sentences) with the highest loss.

        Args:
            n: How many (``n`` means ``(0, n)``) or a ``(start, end)`` slice of the sorted list.
            val_data: Data to use (default: the learner's validation data).
            preproc: With it, true and predicted classes are class names; without, class ids as strings.

        Returns:
            ``(index, loss, true, predicted)`` tuples sorted by loss, highest first; ``index`` is the 0-based row.
            Single-label: misclassified rows only. Multi-label and regression: every row, with ``true`` the target
            row and ``predicted`` the output rounded to 2 decimals (as in ktrain). Token classification: every
            sentence by its mean token loss, with the true and predicted tags.

        Raises:
            TrainingError: If there is no labelled validation data.
        """
        return self.evaluator.top_losses(n=n, val_data=val_data, preproc=preproc)

    def view_top_losses(self, n: int | tuple[int, int] = 4, preproc=None, val_data=None) -> None:
        """ktrain's ``view_top_losses``: print each top-loss row's id, loss, true and predicted class, and text
        (token classification: one ``word  true  pred`` line per word, wrong tags marked ``<<``)."""
        return self.evaluator.view_top_losses(n=n, preproc=preproc, val_data=val_data)

    def top_losses_table(self, n: int = 4, val_data=None) -> pd.DataFrame:
        """kdemo's top-losses table (what the app shows).

        Returns:
            DataFrame with ``row`` (1-based), ``text``, ``true``, ``predicted``, ``loss``, highest loss first.
        """
        return self.evaluator.top_losses_table(n=n, val_data=val_data)

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

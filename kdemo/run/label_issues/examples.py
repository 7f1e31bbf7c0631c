"""A table's rows as the examples of a label-issue search: their labels as cleanlab reads them, the training data of
one fold, and the fold's out-of-sample predictions (single-label, multi-label and regression tables)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kdemo.data.labels import parse_labels
from kdemo.errors import DataError
from kdemo.run.label_issues.classes import join_names
from kdemo.run.label_issues.regression import format_target
from kdemo.run.table_pipeline import TableRunData

#: How the two texts of a sentence pair are shown in the ``text`` column of a label-issue table.
PAIR_SEPARATOR = " [SEP] "


class TableExamples:
    """The rows of a run's training table, one example each, with their labels in the layout the task's cleanlab
    adapter reads (the spec's ``label_layout``): class ids ``(num_rows,)``, multi-hot ``(num_rows, num_classes)`` or
    targets ``(num_rows,)``.

    Args:
        data: The run's tables and columns (:func:`kdemo.run.pipeline.read_data`); its ``val_df`` is not used.

    Attributes:
        n: Number of rows.
        labels: The given labels in the adapter's layout.
        class_names: Classes in id order (empty for regression).
        strata: Class ids to stratify the folds by (single-label), else None.
        width: Columns of one row's prediction (classes, or 1 for a regression target).

    Raises:
        DataError: If the labels cannot be parsed (the message names the rows).
    """

    def __init__(self, data: TableRunData):
        self.data = data
        self.df = data.train_df.reset_index(drop=True)
        self.n = len(self.df)
        labels, names = parse_labels(self.df, list(data.label_columns), data.spec.task)
        self.layout = data.spec.label_layout
        self.strata = None
        if self.layout == "target":
            self.labels, self.class_names, self.width = np.asarray(labels, dtype=np.float64), (), 1
            return
        self.class_names = tuple(str(c) for c in names)
        self.width = len(self.class_names)
        index = {name: i for i, name in enumerate(self.class_names)}
        if self.layout == "multi_hot":
            hot = np.zeros((self.n, self.width), dtype=np.int64)
            for row, row_labels in enumerate(labels):
                hot[row, [index[str(label)] for label in row_labels]] = 1
            self.labels = hot
        else:
            self.labels = self.strata = np.array([index[str(label)] for label in labels], dtype=np.int64)

    def texts(self) -> list[str]:
        """Each row's text as the table shows it (a sentence pair: both texts joined by :data:`PAIR_SEPARATOR`)."""
        first = self.df[self.data.text_column].fillna("").astype(str).tolist()
        if not self.data.text_pair_column:
            return first
        second = self.df[self.data.text_pair_column].fillna("").astype(str).tolist()
        return [a + PAIR_SEPARATOR + b for a, b in zip(first, second)]

    def given(self) -> list[str]:
        """Each row's given label in a label-issue table's format (class name; names joined by ``", "``; a number)."""
        if self.layout == "target":
            return [format_target(v) for v in self.labels]
        if self.layout == "multi_hot":
            return [join_names(row, self.class_names) for row in self.labels]
        return [self.class_names[i] for i in self.labels]

    def _known(self, train_idx: np.ndarray) -> np.ndarray:
        """Per row, whether the fold's training rows know its labels (a validation row of an unseen class cannot be
        encoded)."""
        if self.layout == "target":
            return np.ones(self.n, dtype=bool)
        if self.layout == "multi_hot":
            seen = self.labels[train_idx].any(axis=0)
            return ~(self.labels.astype(bool) & ~seen).any(axis=1)
        return np.isin(self.labels, np.unique(self.labels[train_idx]))

    def fold_data(self, train_idx: np.ndarray, held_idx: np.ndarray) -> TableRunData:
        """The run data of one fold: the training rows, and the held-out rows as validation (those whose labels the
        training rows know; none left: the run splits its own).

        Args:
            train_idx: Rows the fold trains on, int ``(num_train,)``.
            held_idx: Rows held out, int ``(num_held,)``.
        """
        val_idx = held_idx[self._known(train_idx)[held_idx]]
        val = self.df.iloc[val_idx].reset_index(drop=True) if len(val_idx) else None
        return replace(self.data, train_df=self.df.iloc[train_idx].reset_index(drop=True), val_df=val)

    def predict(self, predictor, held_idx: np.ndarray) -> np.ndarray:
        """The fold predictor's outputs for the held-out rows, columns in :attr:`class_names` order (a class the
        fold never saw gets probability 0).

        Args:
            predictor: The fold's :class:`~kdemo.inference.predictor.Predictor`.
            held_idx: Rows held out, int ``(num_held,)``.

        Returns:
            Float32 ``(num_held, width)``: probabilities, or the predicted target (width 1).

        Raises:
            DataError: If the predictor's classes are not among :attr:`class_names`.
        """
        rows = self.df.iloc[held_idx]
        first = rows[self.data.text_column].fillna("").astype(str).tolist()
        items = (list(zip(first, rows[self.data.text_pair_column].fillna("").astype(str).tolist()))
                 if self.data.text_pair_column else first)
        out = np.asarray(predictor.predict_proba(items), dtype=np.float32).reshape(len(held_idx), -1)
        if self.layout == "target":
            return out[:, :1]
        return align_columns(out, [str(c) for c in predictor.get_classes()], self.class_names)

    @staticmethod
    def pack(predictions: np.ndarray) -> tuple[np.ndarray, None]:
        """One fold's predictions as one array to save (``.npy``), and no lengths."""
        return np.asarray(predictions, dtype=np.float32), None

    @staticmethod
    def unpack(array: np.ndarray, lengths) -> np.ndarray:
        """The predictions :meth:`pack` saved."""
        return np.asarray(array, dtype=np.float32)

    def combine(self, pieces: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Every row's out-of-sample prediction from the folds' ``(held_idx, predictions)``, float32
        ``(num_rows, width)`` (``(num_rows,)`` for regression)."""
        out = np.zeros((self.n, self.width), dtype=np.float32)
        for held, pred in pieces:
            out[held] = pred
        return out[:, 0] if self.layout == "target" else out


def align_columns(probs: np.ndarray, names: list[str], class_names) -> np.ndarray:
    """``probs`` with its columns (named ``names``) moved to the order of ``class_names``; missing classes are 0.

    Args:
        probs: Float ``(num_examples, len(names))``.
        names: The columns' class names.
        class_names: The wanted order, ``(num_classes,)``.

    Returns:
        Float32 ``(num_examples, num_classes)``.

    Raises:
        DataError: If a name is not among ``class_names``.
    """
    index = {str(c): i for i, c in enumerate(class_names)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise DataError(f"Expected the fold model's classes among the file's {list(class_names)}. Received: "
                        f"{unknown}. Check the label column.")
    out = np.zeros((probs.shape[0], len(class_names)), dtype=np.float32)
    out[:, [index[n] for n in names]] = probs
    return out

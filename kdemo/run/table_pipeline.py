"""The run pipeline of the table tasks (single-label, multi-label, regression): a text column and label columns."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from kdemo.data.columns import guess_columns, require_columns
from kdemo.data.labels import detect_task
from kdemo.data.tables import read_table
from kdemo.errors import DataError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.run.config import TrainConfig
from kdemo.run.data import EXAMPLE_CHARS, RunData
from kdemo.run.multi_gpu import write_table
from kdemo.tasks import spec_for
from kdemo.text.loaders import texts_from_df
from kdemo.text.preprocessor import Transformer
from kdemo.training.learner import Learner, get_learner


@dataclass(frozen=True)
class TableRunData(RunData):
    """A run's tables and the columns chosen, after guessing what the config left open.

    Attributes:
        train_df: Training rows.
        val_df: Validation rows, or None to split ``config.val_pct`` off the training rows.
    """

    train_df: pd.DataFrame | None = None
    val_df: pd.DataFrame | None = None

    def texts(self) -> list[str]:
        """The training texts of the text column."""
        return self.train_df[self.text_column].astype(str).tolist()

    def example(self) -> str:
        """The first training text (the model card's widget example), shortened."""
        return str(self.train_df[self.text_column].iloc[0])[:EXAMPLE_CHARS]

    def files_in(self, folder) -> dict:
        """The tables written into ``folder`` (:func:`kdemo.run.multi_gpu.write_table`) and the columns chosen."""
        fields = {"train_file": str(write_table(folder, "train", self.train_df)), "val_file": None,
                  "text_column": self.text_column, "label_columns": list(self.label_columns),
                  "text_pair_column": self.text_pair_column}
        if self.val_df is not None:
            fields["val_file"] = str(write_table(folder, "val", self.val_df))
        return fields

    def summary(self) -> str:
        """The columns the run uses (guessed ones included), and how to change them."""
        labels = (f"label={self.label_columns[0]!r}" if len(self.label_columns) == 1
                  else f"labels={list(self.label_columns)}")
        pair = f" text-pair={self.text_pair_column!r}" if self.text_pair_column else ""
        return (f"columns: text={self.text_column!r}{pair} {labels} (text_column/label_columns, "
                "--text-column/--label-column, change them)")


class TablePipeline:
    """Read, check, split and tokenize a table; build the classifier and its learner."""

    def read(self, config: TrainConfig, train_df: pd.DataFrame | None = None,
             val_df: pd.DataFrame | None = None) -> TableRunData:
        """The run's tables (given, or read from ``config.train_file``/``val_file``, once) and its columns (given
        or guessed); the task is ``config.task`` or detected from the labels.

        Raises:
            DataError: If no data is given, a file cannot be read, or a column is missing.
        """
        if train_df is None:
            if config.train_file is None:
                raise DataError("Expected training data: a train_file in the config or a DataFrame. Received: neither.")
            train_df = read_table(config.train_file)
            if val_df is None and config.val_file is not None:
                val_df = read_table(config.val_file)
        text_column, labels = config.text_column, config.label_columns
        if text_column is None or not labels:
            guessed_text, guessed_label = guess_columns(train_df)
            text_column = text_column or guessed_text
            labels = labels or ((guessed_label,) if guessed_label else ())
        if not labels:
            raise DataError(
                f"Expected a label column. Received: a table with columns {list(train_df.columns)} and none that "
                "looks like labels. Name it (label_columns=, --label-column)."
            )
        require_columns(train_df, text_column, labels, config.text_pair_column)
        task = config.task if config.task is not None else detect_task(train_df, list(labels))
        return TableRunData(spec=spec_for(task), data_name=config.data_name, text_column=text_column,
                            label_columns=tuple(labels), text_pair_column=config.text_pair_column,
                            train_df=train_df, val_df=val_df)

    def prepare(self, config: TrainConfig, data: TableRunData, *, policy: FolderPolicy = DEFAULT_POLICY,
                verbose: int = 0) -> tuple[Transformer, Learner]:
        """Split and tokenize the tables and build a fresh classifier and learner (seeded by ``config.seed``).

        Returns:
            ``(preproc, learner)``.

        Raises:
            DataError: If the columns or labels cannot be used (rows named).
            ModelError: If the model cannot be loaded or is refused by ``policy``.
        """
        torch.manual_seed(config.seed)
        trn, val, preproc = texts_from_df(
            data.train_df, data.text_column, list(data.label_columns), val_df=data.val_df, val_pct=config.val_pct,
            model_name=config.model_name, maxlen=config.maxlen, random_state=config.seed, verbose=verbose,
            task=config.task, text_pair_column=data.text_pair_column, policy=policy,
        )
        preproc.precision = config.precision
        torch.manual_seed(config.seed)
        learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=config.batch_size,
                              seed=config.seed, freeze_lower=config.freeze_lower,
                              weight_decay=config.weight_decay or None)  # None: no decay, as ktrain reports it
        learner.model.set_compile(config.compile)
        return preproc, learner

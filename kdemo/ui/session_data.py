"""A session's data under the names the tabs, the store and the tests know (``train_df``, ``text_column``, ``task``,
``token_file``, …): read-only views of the one :class:`~kdemo.run.data.RunData` a session holds (its ``data``), not
state of their own. They have no setters: code that changes the data assigns a new ``session.data`` (from
:func:`kdemo.run.read_data`, or ``dataclasses.replace`` of the one it has).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kdemo.errors import KdemoError
from kdemo.run import RunData, TrainConfig, read_data
from kdemo.run.table_pipeline import TableRunData


class DataViews:
    """Mixin of :class:`kdemo.ui.session.Session`: views of its ``data`` attribute (a RunData or None)."""

    data = None

    def require_data(self) -> RunData:
        """The uploaded data; raises KdemoError telling the user to upload a file first."""
        if self.data is None or (isinstance(self.data, TableRunData) and self.data.train_df is None):
            raise KdemoError("No data yet. Upload a labelled file (or use the example) in the Data tab first.")
        return self.data

    def set_columns(self, text_column: str, label_columns: list[str]) -> None:
        """Choose the text column and the label column(s) of the table; a second-text column that is now one of
        them is dropped. The task is detected again from these labels (:func:`kdemo.run.read_data` on the tables
        already read: nothing is read again).

        Raises:
            KdemoError: Before an upload, or if a column is missing (DataError).
        """
        data = self.require_data()
        pair = None if data.text_pair_column in (text_column, *label_columns) else data.text_pair_column
        config = TrainConfig(data_name=data.data_name, text_column=text_column, label_columns=tuple(label_columns),
                             text_pair_column=pair)
        self.data = read_data(config, data.train_df, data.val_df)

    # Read-only views of :attr:`data` under the names the store and the tests know: no state of their own.
    @property
    def train_df(self) -> pd.DataFrame | None:
        """The training table, or None (no data, or a token file)."""
        return getattr(self.data, "train_df", None)

    @property
    def val_df(self) -> pd.DataFrame | None:
        """The validation table, or None."""
        return getattr(self.data, "val_df", None)

    @property
    def data_name(self) -> str:
        """The uploaded file's name (``""`` before an upload)."""
        return (self.data.data_name if self.data is not None else None) or ""

    @property
    def task(self) -> str | None:
        """The task's value (``"single_label"``, …), detected by the doctor or chosen in the Data tab; None without data."""
        return self.data.spec.task.value if self.data is not None else None

    @property
    def text_column(self) -> str | None:
        """The text column (None for a token file)."""
        return self.data.text_column if self.data is not None else None

    @property
    def label_columns(self) -> list[str]:
        """Every label column (several for 0/1 multi-label columns); empty for a token file."""
        return list(self.data.label_columns) if self.data is not None else []

    @property
    def token_file(self) -> Path | None:
        """The session's copy of an uploaded token file (what a token run trains on), or None for a table."""
        path = getattr(self.data, "train_file", None)
        return Path(path) if path else None

    @property
    def token_val_file(self) -> Path | None:
        """The session's copy of the token file's validation file, or None."""
        path = getattr(self.data, "val_file", None)
        return Path(path) if path else None


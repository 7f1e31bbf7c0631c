"""The result of a label-issue search: one row per training example, sorted by label quality."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kdemo.errors import DataError

#: Methods of a search: K-fold out-of-sample predictions given to cleanlab, or one run's data map.
CROSS_VALIDATION, DATA_MAP = "cross_validation", "data_map"
METHODS = (CROSS_VALIDATION, DATA_MAP)
#: Columns every table has, in order.
BASE_COLUMNS = ("row", "text", "given_label", "suggested_label", "label_quality", "is_issue")
#: Columns the CSV of the flagged rows has (the CLI's ``--out``), plus ``word`` for token files.
CSV_COLUMNS = ("row", "text", "given_label", "suggested_label", "label_quality")


@dataclass(frozen=True, eq=False)
class LabelIssues:
    """Every training example with its label quality and whether it is flagged as probably mislabeled.

    Attributes:
        task: The task's value (``"single_label"``, ``"multi_label"``, ``"regression"``,
            ``"token_classification"``).
        method: ``"cross_validation"`` (cleanlab on K-fold out-of-sample predictions) or ``"data_map"``.
        folds: K of the cross-validation, or None for a data map.
        seconds: Wall-clock seconds the search took (all folds, or the one run).
        class_names: The classes (tags for token files) in id order; empty for regression.
        table: One row per example of the training file, flagged or not, sorted by ``label_quality`` ascending
            (ties by ``row``). Columns: ``row`` (int, 0-based data row of the file; token files: 0-based sentence
            index), ``text`` (str; token files: the words joined by spaces), ``given_label`` (str: the class name;
            multi-label: the names joined by ``", "``, empty for none; regression: ``str(float)``; token files: the
            sentence's tags joined by spaces), ``suggested_label`` (same format), ``label_quality`` (float 0–1, lower
            = more likely mislabeled), ``is_issue`` (bool). Token files add ``word`` (int, 0-based index of the
            worst word, or -1); a data map adds ``confidence``, ``variability``, ``correctness`` (floats 0–1) and
            ``region`` (``"easy-to-learn"``, ``"ambiguous"``, ``"hard-to-learn"``).

    Raises:
        DataError: On construction, if ``method`` is unknown or the table lacks a column of :data:`BASE_COLUMNS`.
    """

    task: str
    method: str
    folds: int | None
    seconds: float
    class_names: tuple[str, ...]
    table: pd.DataFrame = field(repr=False)

    def __post_init__(self):
        if self.method not in METHODS:
            raise DataError(f"Expected method to be one of {list(METHODS)}. Received: method={self.method!r}.")
        missing = [c for c in BASE_COLUMNS if c not in self.table.columns]
        if missing:
            raise DataError(f"Expected the columns {list(BASE_COLUMNS)} in a label-issue table. Received: "
                            f"{list(self.table.columns)}, without {missing}.")
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "table", sort_table(self.table))

    @property
    def issues(self) -> pd.DataFrame:
        """The flagged rows of :attr:`table` (``is_issue``), lowest label quality first."""
        return self.table[self.table["is_issue"]]

    def __len__(self) -> int:
        """The number of flagged examples."""
        return int(self.table["is_issue"].sum())

    def __repr__(self) -> str:
        return (f"LabelIssues(task={self.task!r}, method={self.method!r}, folds={self.folds}, "
                f"examples={len(self.table)}, issues={len(self)})")

    def summary(self, top: int = 10) -> str:
        """A few lines: how many examples, how many flagged, and the ``top`` flagged rows (what the CLI prints).

        Args:
            top: Flagged rows listed, lowest label quality first.
        """
        how = f"{self.folds}-fold cross-validation + cleanlab" if self.method == CROSS_VALIDATION else "data map"
        lines = [f"{len(self.table)} examples, {len(self)} flagged as probably mislabeled ({how}, "
                 f"{self.seconds:.1f} s)"]
        for rec in self.issues.head(top).itertuples(index=False):
            text = rec.text if len(rec.text) <= 60 else rec.text[:57] + "..."
            lines.append(f"  row {rec.row}: quality {rec.label_quality:.3f}  given {rec.given_label!r} -> "
                         f"suggested {rec.suggested_label!r}  {text!r}")
        return "\n".join(lines)

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write the flagged rows, with the columns ``row,text,given_label,suggested_label,label_quality`` (and
        ``word`` for token files), lowest label quality first: the CLI's ``--out`` file.

        Args:
            path: The CSV file to write (its folder is created).

        Returns:
            The path written.
        """
        columns = list(CSV_COLUMNS) + (["word"] if "word" in self.table.columns else [])
        dest = Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.issues[columns].to_csv(dest, index=False)
        return dest

    def to_dict(self) -> dict:
        """JSON-ready: the fields, and the table as ``{"columns": {name: [values...]}}`` of Python numbers, strings
        and booleans (the app's session store)."""
        columns = {c: [_native(v) for v in self.table[c].tolist()] for c in self.table.columns}
        return {"task": self.task, "method": self.method, "folds": self.folds, "seconds": float(self.seconds),
                "class_names": list(self.class_names), "columns": columns}

    @classmethod
    def from_dict(cls, d: dict) -> LabelIssues:
        """The result :meth:`to_dict` wrote.

        Raises:
            DataError: If a field is missing.
        """
        try:
            table = pd.DataFrame(d["columns"])
            return cls(task=d["task"], method=d["method"], folds=d.get("folds"), seconds=float(d.get("seconds", 0.0)),
                       class_names=tuple(d.get("class_names") or ()), table=table)
        except KeyError as exc:
            raise DataError(f"Expected a saved label-issue result with {exc.args[0]!r}. Received: keys "
                            f"{sorted(d)}. Run the search again.") from None


def _native(value):
    """A table cell as a JSON value (numpy scalars to Python)."""
    return value.item() if hasattr(value, "item") else value


def sort_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with typed base columns, sorted by ``label_quality`` ascending (ties by ``row``), index reset.

    Args:
        table: A label-issue table with the columns of :data:`BASE_COLUMNS`.
    """
    out = table.copy()
    out["row"] = out["row"].astype(int)
    out["label_quality"] = out["label_quality"].astype(float)
    out["is_issue"] = out["is_issue"].astype(bool)
    for col in ("text", "given_label", "suggested_label"):
        out[col] = out[col].astype(str)
    if "word" in out.columns:
        out["word"] = out["word"].astype(int)
    return out.sort_values(["label_quality", "row"], kind="stable").reset_index(drop=True)

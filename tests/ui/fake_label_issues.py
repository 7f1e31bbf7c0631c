"""A stand-in for the modules of ``kdemo.label_issues`` (issue 27's library side, written in parallel on other
branches) that this checkout does not have yet, used by the Labels tab's tests only: :func:`install` puts a stand-in
in ``sys.modules`` for each missing module and does nothing once the real ones are there.

It follows the shared interface (plan/i27_common.md): ``find_label_issues(config, *, folds, data_map, train_df,
work_dir, resume, progress, stop, policy) -> LabelIssues``; ``apply_corrections(df, decisions, *, label_columns,
task)``; ``write_corrected(df, like_path, out_path)``; ``plot_data_map(issues)``. Its "model" is the toy sentiment
data's word lists (tests/conftest.py): a row whose words disagree with its label is flagged.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from kdemo.errors import DataError


def _result_module():
    mod = types.ModuleType("kdemo.label_issues.result")

    @dataclass(frozen=True, eq=False)
    class LabelIssues:
        task: str
        method: str
        folds: int | None
        seconds: float
        class_names: tuple
        table: pd.DataFrame = field(repr=False)

        @property
        def issues(self):
            return self.table[self.table["is_issue"]]

        def __len__(self):
            return int(self.table["is_issue"].sum())

    mod.LabelIssues = LabelIssues
    return mod


def _api_module(result):
    from conftest import NEGATIVE, POSITIVE

    mod = types.ModuleType("kdemo.label_issues.api")

    class Event:
        def __init__(self, fold, folds, step, total_steps):
            self.fold, self.folds, self.step, self.total_steps = fold, folds, step, total_steps

    def find_label_issues(config, *, folds=5, data_map=False, train_df=None, work_dir=None, resume=False,
                          progress=None, stop=None, policy=None):
        if str(getattr(config.task, "value", config.task)) == "question_answering":
            raise DataError("Expected a task with labels. Received: question answering.")
        start = time.time()
        for fold in range(1 if data_map else folds):
            if stop is not None and stop.is_set():
                return None
            if progress is not None:
                progress(Event(None if data_map else fold, None if data_map else folds, 3, 3))
            time.sleep(0.05)
        label, text = config.label_columns[0], config.text_column
        names = sorted(train_df[label].astype(str).unique())
        rows = []
        for i, (t, y) in enumerate(zip(train_df[text].astype(str), train_df[label].astype(str))):
            words = t.split()
            pos, neg = sum(w in POSITIVE for w in words), sum(w in NEGATIVE for w in words)
            guess = "positive" if pos > neg else "negative"
            wrong = guess != y
            rows.append({"row": i, "text": t, "given_label": y, "suggested_label": guess if wrong else y,
                         "label_quality": 0.05 + 0.01 * (i % 7) if wrong else 0.6 + 0.001 * (i % 100), "is_issue": wrong})
        table = pd.DataFrame(rows).sort_values(["label_quality", "row"]).reset_index(drop=True)
        if data_map:
            table["confidence"], table["variability"] = table["label_quality"], 0.1
            table["correctness"], table["region"] = table["label_quality"], "easy-to-learn"
        return result.LabelIssues(config.task.value, "data_map" if data_map else "cross_validation",
                                  None if data_map else folds, time.time() - start, tuple(names), table)

    mod.find_label_issues = find_label_issues
    return mod


def _corrections_module():
    mod = types.ModuleType("kdemo.label_issues.corrections")

    def apply_corrections(df, decisions, *, label_columns, task):
        out = df.copy()
        for row, action in decisions.items():
            if action != "drop" and action != "keep":
                out.loc[out.index[row], label_columns[0]] = action
        dropped = [out.index[r] for r, a in decisions.items() if a == "drop"]
        return out.drop(index=dropped).reset_index(drop=True)

    def write_corrected(df, like_path, out_path):
        out = Path(out_path)
        df.to_csv(out, index=False)
        return out

    mod.apply_corrections, mod.write_corrected = apply_corrections, write_corrected
    return mod


def _data_map_module():
    mod = types.ModuleType("kdemo.label_issues.data_map")

    def plot_data_map(issues):
        fig = Figure(figsize=(5, 4))
        ax = fig.subplots()
        ax.scatter(issues.table["variability"], issues.table["confidence"], c=issues.table["correctness"])
        ax.set(title="Data map (stand-in)", xlabel="variability", ylabel="confidence")
        return fig

    mod.plot_data_map = plot_data_map
    return mod


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


def install() -> bool:
    """Put a stand-in in ``sys.modules`` for each module of ``kdemo.label_issues`` that cannot be imported here
    (``result``, ``api``, ``corrections``, ``data_map``); the real modules are used where they exist.

    Returns:
        True when a stand-in is in use.
    """
    package = sys.modules.get("kdemo.label_issues")
    if package is not None and getattr(package, "STAND_INS", None) is not None:
        return bool(package.STAND_INS)
    if _missing("kdemo.label_issues"):
        package = types.ModuleType("kdemo.label_issues")
        package.__path__ = []
        sys.modules["kdemo.label_issues"] = package
    else:
        package = importlib.import_module("kdemo.label_issues")
    stand_ins = []
    result = importlib.import_module("kdemo.label_issues.result") if not _missing("kdemo.label_issues.result") else None
    if result is None:
        result = _result_module()
        stand_ins.append(("result", result))
    makers = {"api": lambda: _api_module(result), "corrections": _corrections_module, "data_map": _data_map_module}
    for name, make in makers.items():
        if _missing(f"kdemo.label_issues.{name}"):
            stand_ins.append((name, make()))
    for name, module in stand_ins:
        sys.modules[f"kdemo.label_issues.{name}"] = module
        setattr(package, name, module)
    package.STAND_INS = [name for name, _ in stand_ins]
    return bool(stand_ins)

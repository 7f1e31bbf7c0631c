"""A stand-in for ``kdemo.label_issues`` (issue 27's library side, written in parallel on another branch), used by
the Labels tab's tests only while that package is not in this checkout: :func:`install` puts it in ``sys.modules``
when ``kdemo.label_issues`` cannot be imported, and does nothing once the real package is there.

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


def install() -> bool:
    """Put the stand-in in ``sys.modules`` unless the real ``kdemo.label_issues.api`` is importable.

    Returns:
        True when the stand-in is in use.
    """
    if getattr(sys.modules.get("kdemo.label_issues"), "STAND_IN", False):
        return True
    if importlib.util.find_spec("kdemo.label_issues") is not None and importlib.util.find_spec(
            "kdemo.label_issues.api") is not None:
        return False
    package = types.ModuleType("kdemo.label_issues")
    package.__path__ = []
    package.STAND_IN = True
    result = _result_module()
    modules = {"result": result, "api": _api_module(result), "corrections": _corrections_module(),
               "data_map": _data_map_module()}
    sys.modules["kdemo.label_issues"] = package
    for name, module in modules.items():
        sys.modules[f"kdemo.label_issues.{name}"] = module
        setattr(package, name, module)
    return True

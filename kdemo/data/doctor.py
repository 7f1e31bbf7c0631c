"""The data doctor: everything worth knowing about a labelled table before training, with row numbers.

:func:`diagnose` never drops or changes rows; it lists problems (:class:`Problem`) so the user can fix the file.
Row numbers count data rows from 1, the header not counted (:mod:`kdemo.data.tables`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.utils.class_weight import compute_class_weight

from kdemo.batch_size import available_memory_bytes, suggest_batch_size
from kdemo.data.columns import require_columns
from kdemo.data.labels import detect_task, find_label_issues, parse_labels
from kdemo.data.languages import analyse_languages, language_name
from kdemo.data.lengths import length_findings
from kdemo.data.tables import as_text, format_rows, read_info, row_numbers
from kdemo.device import get_device

from kdemo.tasks import MULTI_LABEL, REGRESSION, SINGLE_LABEL, check_task

#: Largest/smallest class count from which the doctor warns and offers balanced class weights.
IMBALANCE_WARN = 3.0
SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Problem:
    """One finding of the doctor.

    Attributes:
        kind: Machine name, e.g. ``"empty_text"``, ``"missing_label"``, ``"bad_label"``, ``"too_few_classes"``,
            ``"too_many_classes"``, ``"imbalance"``, ``"singleton_label"``, ``"duplicates"``,
            ``"conflicting_duplicates"``, ``"overlap"``, ``"unknown_val_label"``, ``"truncated"``, ``"file_note"``,
            ``"language_coverage"`` (the model's tokenizer does not know the text), ``"encoding_unsure"``.
        severity: ``"error"`` (training would fail), ``"warning"`` (it would run, maybe badly) or ``"info"``.
        message: Expected / received / what to do, for people.
        rows: 1-based training rows concerned.
        val_rows: 1-based validation rows concerned.
    """

    kind: str
    severity: str
    message: str
    rows: tuple[int, ...] = ()
    val_rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class DataReport:
    """What :func:`diagnose` found. Counts are rows; lengths are tokens (or words without a tokenizer).

    Attributes:
        rows: Training rows. val_rows: Validation rows (None without a validation table).
        text_column, label_columns: The columns examined.
        task, detected_task: The task used (given or detected) and the one :func:`kdemo.data.labels.detect_task` found.
        class_names: Sorted class names (regression: the target column).
        class_counts: Training rows per class, most frequent first (multi-label: rows carrying the label;
            regression: {}).
        imbalance_ratio: Largest over smallest class count (None for regression).
        class_weight: ``{class_id: weight}`` (ids index ``class_names``) from scikit-learn's
            ``compute_class_weight("balanced")``, i.e. ``rows / (num_classes * count)``; offered for single-label
            data when ``imbalance_ratio >= IMBALANCE_WARN``, else None.
        target_stats: Regression only: ``{"min", "max", "mean", "std"}`` of the targets.
        empty_text_rows: Rows whose text is empty or whitespace only.
        duplicate_groups: Groups (≥ 2 rows each) of rows with exactly the same text.
        overlap_rows, overlap_val_rows: Training and validation rows whose text occurs in the other table.
        singleton_labels: ``{label: row}`` for labels seen in one training row only.
        length_unit: ``"tokens"`` (special tokens included) or ``"words"`` (whitespace split, no tokenizer).
        length_hist_counts, length_hist_edges: Histogram of text lengths, ``len(edges) == len(counts) + 1``.
        length_p95, length_max: 95th percentile and maximum length (histogram and percentile from at most
            :data:`kdemo.data.lengths.MAX_TOKENIZED_ROWS` random rows; the maximum also covers every row the model would truncate).
        suggested_maxlen: Multiple of 8 covering 95 % of rows, ≤ ``model_max_length`` (None without a tokenizer).
        model_max_length: The tokenizer's maximum (None without a tokenizer).
        suggested_batch_size: See :func:`kdemo.batch_size.suggest_batch_size`.
        device: Device the batch size is for. memory_gb: Memory available on it (GB, 1e9 bytes).
        files: How each table was read (:func:`kdemo.data.tables.read_info`: file, format, encoding, delimiter, notes).
        problems: Everything to look at, errors first.
        languages: ``{ISO 639-1 code: share of sampled rows}`` (fraction 0–1; :mod:`kdemo.data.languages`).
        unk_share: Share of the model's tokens that are unknown (``[UNK]`` or byte fallback) on a sample, fraction
            0–1 (None without a tokenizer). tokens_per_char: Tokens per character on that sample.
    """

    rows: int
    val_rows: int | None
    text_column: str
    label_columns: tuple[str, ...]
    task: str
    detected_task: str
    class_names: tuple[str, ...]
    class_counts: dict[str, int]
    imbalance_ratio: float | None
    class_weight: dict[int, float] | None
    target_stats: dict[str, float] | None
    empty_text_rows: tuple[int, ...]
    duplicate_groups: tuple[tuple[int, ...], ...]
    overlap_rows: tuple[int, ...]
    overlap_val_rows: tuple[int, ...]
    singleton_labels: dict[str, int]
    length_unit: str
    length_hist_counts: tuple[int, ...]
    length_hist_edges: tuple[float, ...]
    length_p95: int
    length_max: int
    suggested_maxlen: int | None
    model_max_length: int | None
    suggested_batch_size: int
    device: str
    memory_gb: float
    files: tuple[dict, ...]
    problems: tuple[Problem, ...]
    languages: dict[str, float] = dataclasses.field(default_factory=dict)
    unk_share: float | None = None
    tokens_per_char: float | None = None

    @property
    def errors(self) -> list[Problem]:
        """Problems that stop training."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        """Whether nothing stops training."""
        return not self.errors

    def to_dict(self) -> dict:
        """The report as JSON-ready data: tuples become lists and dict keys strings (``class_weight`` ``{"0": w}``)."""

        def plain(v):
            if isinstance(v, dict):
                return {str(k): plain(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v

        return {**plain(dataclasses.asdict(self)), "ok": self.ok}

    def to_markdown(self, max_problems: int = 20) -> str:
        """A Markdown summary for the Data tab: files, task, classes, lengths, batch size, problems."""
        out = ["### Data doctor"]
        for info in self.files:
            enc = f", encoding **{info['encoding']}**{_how_sure(info)}" if info.get("encoding") else ""
            sep = f", delimiter `{info['delimiter']!r}`" if info.get("delimiter") else ""
            out.append(f"- **{info.get('file', '?')}**: {info.get('format', '?')}{sep}{enc}")
        val = f", {self.val_rows:,} validation rows" if self.val_rows is not None else ""
        how = "detected" if self.task == self.detected_task else f"chosen; detected: {self.detected_task}"
        out.append(f"\n**{self.rows:,} training rows**{val}; task **{self.task}** ({how}); text `{self.text_column}`, "
                   f"labels {', '.join(f'`{c}`' for c in self.label_columns)}.")
        if self.class_counts:
            total = sum(self.class_counts.values())
            out.append("\n| class | rows | share |\n|---|---:|---:|")
            out += [f"| {k} | {v:,} | {v / total:.1%} |" for k, v in list(self.class_counts.items())[:30]]
            if len(self.class_counts) > 30:
                out.append(f"| … {len(self.class_counts) - 30} more | | |")
        if self.target_stats:
            s = self.target_stats
            out.append(f"\nTargets: min {s['min']:.4g}, max {s['max']:.4g}, mean {s['mean']:.4g}, std {s['std']:.4g}.")
        if self.class_weight:
            weights = ", ".join(f"`{self.class_names[i]}` {w:.3g}" for i, w in self.class_weight.items())
            out.append(f"\n**Balanced class weights offered** (`class_weight=\"balanced\"`): {weights}.")
        if self.length_hist_counts:
            maxlen = (f"; suggested maxlen **{self.suggested_maxlen}** covers 95 % of rows (model maximum "
                      f"{self.model_max_length})" if self.suggested_maxlen else "")
            out.append(f"\nText length ({self.length_unit}): 95 % ≤ {self.length_p95}, longest {self.length_max}"
                       f"{maxlen}.")
        if self.languages:
            shown = ", ".join(f"{language_name(c)} {v * 100:.0f} %" for c, v in self.languages.items() if v >= 0.05)
            cover = (f"; the model knows {100 - self.unk_share * 100:.0f} % of the tokens ({self.unk_share * 100:.0f} % "
                     f"unknown), {self.tokens_per_char:.2f} tokens per character" if self.unk_share is not None else "")
            out.append(f"\nLanguages: **{shown}**{cover}.")
        out.append(f"\nSuggested batch size: **{self.suggested_batch_size}** for {self.device} "
                   f"({self.memory_gb:.1f} GB available).")
        icons = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
        if self.problems:
            out.append(f"\n#### To look at ({len(self.problems)})")
            out += [f"- {icons[p.severity]} {p.message}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                out.append(f"- … {len(self.problems) - max_problems} more (see the JSON report).")
            out.append("\nRow numbers count data rows from 1 (the header is not counted).")
        else:
            out.append("\n✅ No problems found.")
        return "\n".join(out)


def _how_sure(info: dict) -> str:
    """``" (detected, 98 % sure)"``, ``" (unsure)"`` or ``""`` for a read_info dict (:func:`read_info`)."""
    method = info.get("encoding_method")
    if method == "detected":
        sure = "sure" if info.get("encoding_sure") else "**unsure**: check the preview"
        return f" (detected by charset-normalizer, {info.get('encoding_confidence', 0) * 100:.0f} % {sure})"
    return {"given": " (as given)", "bom": " (byte-order mark: certain)"}.get(method, "")


def _label_problems(df: pd.DataFrame, cols: list[str], task: str, where: str) -> tuple[list[Problem], np.ndarray]:
    problems, bad = [], np.zeros(len(df), dtype=bool)
    for issue in find_label_issues(df, cols, task):
        rows = issue.rows if where == "train" else ()
        val_rows = issue.rows if where != "train" else ()
        prefix = "" if where == "train" else "Validation table: "
        problems.append(Problem(issue.kind, "error", prefix + issue.message, rows, val_rows))
        bad[np.asarray(issue.rows, dtype=int) - 1] = True
    return problems, bad


def _class_findings(
    labels, class_names: list[str], keep: np.ndarray, task: str, rows: int, label: str
) -> tuple[dict, list]:
    """Class counts, imbalance, balanced weights and singleton labels (classification tasks)."""
    counter = Counter(x for row in labels for x in row) if task == MULTI_LABEL else Counter(labels)
    found = {"class_counts": {str(k): int(v) for k, v in counter.most_common()}, "imbalance_ratio": None,
             "class_weight": None, "singleton_labels": {}}
    if len(counter) < 2:
        return found, [Problem("too_few_classes", "error", f"Expected at least 2 different labels in {label}. "
                               f"Received: only {sorted(counter)} ({rows} rows). Is this the label column? Pick "
                               "another one or add examples of other classes.")]
    problems = []
    if task == SINGLE_LABEL and len(counter) > max(100, rows // 2):
        problems.append(Problem("too_many_classes", "error", f"Expected a label column with a limited set of classes. "
                                f"Received: {len(counter)} distinct values in {label} for {rows} rows, which looks "
                                "like a text or id column. Pick the label column."))
    (big, n_big), (small, n_small) = counter.most_common()[0], counter.most_common()[-1]
    found["imbalance_ratio"] = ratio = n_big / n_small
    if ratio >= IMBALANCE_WARN:
        offer = ""
        if task == SINGLE_LABEL:
            index_of = {name: i for i, name in enumerate(class_names)}
            ids = np.array([index_of[x] for x in labels])
            weights = compute_class_weight("balanced", classes=np.arange(len(class_names)), y=ids)
            found["class_weight"] = {i: float(w) for i, w in enumerate(weights)}
            offer = " Balanced class weights are offered (class_weight='balanced')."
        problems.append(Problem("imbalance", "warning", f"Classes are imbalanced: {ratio:.1f}× between {big!r} "
                                f"({n_big} rows) and {small!r} ({n_small} rows). Accuracy will flatter the model; "
                                f"look at macro-F1.{offer}"))
    first_row = {}
    for i, row_labels in zip(keep, labels):
        for x in row_labels if task == MULTI_LABEL else [row_labels]:
            first_row.setdefault(x, int(i) + 1)
    found["singleton_labels"] = singles = {k: first_row[k] for k, v in counter.items() if v == 1}
    if singles:
        shown = ", ".join(f"{k!r} (row {r})" for k, r in list(singles.items())[:10])
        problems.append(Problem("singleton_label", "warning", f"{len(singles)} label(s) occur in one row only: "
                                f"{shown}. The model cannot learn a class from one example, and it cannot be in both "
                                "training and validation: add examples, merge or remove them.",
                                tuple(sorted(singles.values()))))
    return found, problems


def _duplicates(texts: pd.Series, empty: np.ndarray, label_key: np.ndarray) -> tuple[list, list]:
    """Groups of rows with the same non-empty text, and whether any group disagrees on the labels."""
    dup = texts.duplicated(keep=False).to_numpy() & ~empty
    by_text = pd.Series(np.flatnonzero(dup) + 1).groupby(texts[dup].to_numpy()).agg(list)
    groups = sorted(tuple(int(r) for r in g) for g in by_text)
    if not groups:
        return [], []
    shown = ", ".join(str(list(g)) for g in groups[:5])
    repeats = sum(len(g) - 1 for g in groups)
    problems = [Problem("duplicates", "warning", f"{repeats} rows repeat an earlier text exactly ({len(groups)} "
                        f"groups, e.g. rows {shown}). Duplicates weigh twice and, when validation is split off, can "
                        "land on both sides; remove them unless intended.",
                        tuple(r for g in groups for r in g))]
    conflicting = [g for g in groups if len({label_key[r - 1] for r in g}) > 1]
    if conflicting:
        problems.append(Problem("conflicting_duplicates", "warning", f"{len(conflicting)} duplicated texts carry "
                                f"different labels (e.g. rows {', '.join(str(list(g)) for g in conflicting[:5])}). "
                                "Decide on one label each.", tuple(r for g in conflicting for r in g)))
    return groups, problems


def _validation(texts: pd.Series, empty: np.ndarray, val_df: pd.DataFrame, text_column: str, cols: list[str],
                task: str, class_names: list[str]) -> tuple[list, list, list]:
    """Train/validation overlap, validation label issues, and validation labels that training lacks."""
    val_texts = as_text(val_df[text_column])
    shared = set(texts[~empty]) & set(val_texts)
    train_rows = row_numbers(texts.isin(shared).to_numpy() & ~empty)
    val_rows = row_numbers(val_texts.isin(shared).to_numpy())
    problems = []
    if shared:
        problems.append(Problem("overlap", "warning", f"{len(shared)} texts occur in both training and validation "
                                f"(training {format_rows(train_rows)}; validation {format_rows(val_rows)}). Validation "
                                "scores will be too optimistic; remove them from one side.",
                                tuple(train_rows), tuple(val_rows)))
    label_problems, bad = _label_problems(val_df, cols, task, "val")
    problems += label_problems
    if task != REGRESSION and class_names and not bad.all():
        keep = np.flatnonzero(~bad)
        labels, _ = parse_labels(val_df.iloc[keep], cols, task)
        unknown = [int(i) + 1 for i, lab in zip(keep, labels)
                   if set(lab if task == MULTI_LABEL else [lab]) - set(class_names)]
        if unknown:
            problems.append(Problem("unknown_val_label", "error", f"Expected validation labels among the training "
                                    f"classes {class_names[:20]}. Received: other labels in validation "
                                    f"{format_rows(unknown)}. Fix them or add the classes to the training data.",
                                    val_rows=tuple(unknown)))
    return train_rows, val_rows, problems


def diagnose(
    train_df: pd.DataFrame,
    text_column: str,
    label_columns: Sequence[str] | str,
    *,
    val_df: pd.DataFrame | None = None,
    task: str | None = None,
    tokenizer=None,
    device: torch.device | str | None = None,
    model_name: str | None = None,
) -> DataReport:
    """Examine a labelled table (and an optional validation table) before training.

    Args:
        train_df: Training table, as read by :func:`kdemo.data.tables.read_table` (its read notes are reported).
        text_column: Column of texts.
        label_columns: Label column name, or several names (0/1 columns, multi-label).
        val_df: Validation table with the same columns, checked for overlap and unknown labels.
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"``; None uses the detected task.
        tokenizer: The model's tokenizer, for token lengths and the suggested maxlen; None measures words.
        device: Device for the batch-size suggestion; default :func:`kdemo.device.get_device`.
        model_name: The model ``tokenizer`` belongs to, named in the language-coverage warning.

    Returns:
        A :class:`DataReport`. Data problems are listed in it, never raised.

    Raises:
        DataError: If a named column is missing (from either table) or ``task`` is unknown.
    """
    cols = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    for name, frame in (("training", train_df), ("validation", val_df)):
        if frame is not None:
            require_columns(frame, text_column, cols, table=name)
    detected = detect_task(train_df, cols)
    task = check_task(task) if task else detected
    texts = as_text(train_df[text_column])
    empty = (texts.str.strip() == "").to_numpy()
    empty_rows = row_numbers(empty)
    problems = []
    if empty_rows:
        problems.append(Problem("empty_text", "error", f"Expected a text in every row of column {text_column!r}. "
                                f"Received: {len(empty_rows)} empty or whitespace-only rows "
                                f"({format_rows(empty_rows)}). Fill or remove them.", tuple(empty_rows)))
    label_problems, bad = _label_problems(train_df, cols, task, "train")
    problems += label_problems
    keep = np.flatnonzero(~bad)
    labels, class_names = parse_labels(train_df.iloc[keep], cols, task) if len(keep) else ([], [])
    found = {"class_counts": {}, "imbalance_ratio": None, "class_weight": None, "singleton_labels": {},
             "target_stats": None}
    if task == REGRESSION and len(keep):
        y = np.asarray(labels, dtype=np.float64)
        found["target_stats"] = {"min": float(y.min()), "max": float(y.max()), "mean": float(y.mean()),
                                 "std": float(y.std())}
        if len(np.unique(y)) < 2:
            problems.append(Problem("too_few_classes", "error", f"Expected varying numbers in column {cols[0]!r} for "
                                    f"regression. Received: every row is {y[0]:g}. Is this the label column?"))
    elif task != REGRESSION:
        label = f"column {cols[0]!r}" if len(cols) == 1 else f"columns {cols}"
        classes, class_problems = _class_findings(labels, class_names, keep, task, len(train_df), label)
        found.update(classes)
        problems += class_problems
    label_key = pd.DataFrame({c: as_text(train_df[c]) for c in cols}).agg("\t".join, axis=1).to_numpy()
    groups, dup_problems = _duplicates(texts, empty, label_key)
    problems += dup_problems
    overlap_rows, overlap_val = [], []
    if val_df is not None:
        overlap_rows, overlap_val, val_problems = _validation(texts, empty, val_df, text_column, cols, task,
                                                              class_names)
        problems += val_problems
    lengths, length_findings_problems = length_findings(texts.tolist(), tokenizer)
    problems += [Problem(kind, "info", message, rows) for kind, message, rows in length_findings_problems]
    language = analyse_languages(texts.tolist(), tokenizer)
    coverage = language.warning(model_name)
    if coverage:
        problems.append(Problem("language_coverage", "warning", coverage))
    files = tuple(read_info(f) for f in (train_df, val_df) if f is not None and read_info(f))
    problems += [Problem("encoding_unsure", "warning", note) if note == info.get("encoding_note") else
                 Problem("file_note", "info", note) for info in files for note in info.get("notes", [])]
    dev = torch.device(device) if device is not None else get_device()
    free = available_memory_bytes(dev)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return DataReport(
        rows=len(train_df), val_rows=None if val_df is None else len(val_df), text_column=text_column,
        label_columns=tuple(cols), task=task, detected_task=detected, class_names=tuple(class_names), **found,
        empty_text_rows=tuple(empty_rows), duplicate_groups=tuple(groups), overlap_rows=tuple(overlap_rows),
        overlap_val_rows=tuple(overlap_val), **lengths,
        suggested_batch_size=suggest_batch_size(lengths["suggested_maxlen"] or 128, dev, free), device=dev.type,
        memory_gb=free / 1e9, files=files, problems=tuple(sorted(problems, key=lambda p: order[p.severity])),
        languages=language.languages, unk_share=language.unk_share, tokens_per_char=language.tokens_per_char,
    )

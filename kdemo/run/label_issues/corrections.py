"""Applying a person's decisions on flagged examples (keep, drop, relabel) and writing the corrected training file in
the format it came in.

A decision is keyed by the ``row`` of a :class:`~kdemo.run.label_issues.result.LabelIssues` table (0-based data row of
the table; sentence index of a token file) and is ``"keep"``, ``"drop"``, or a new label written as the table's
``given_label`` column writes labels: a class name; class names joined by ``", "`` (multi-label, empty for none); a
number (regression); the sentence's tags joined by spaces (token files).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from kdemo.data.labels import LABEL_SEPARATOR, parse_labels
from kdemo.data.token_files import TokenCorpus
from kdemo.errors import DataError
from kdemo.run.label_issues.classes import NAMES_SEPARATOR
from kdemo.tasks import spec_for

KEEP, DROP = "keep", "drop"
#: Columns of a token file's sentence frame (:func:`token_frame`): one row per sentence, list cells.
TOKEN_COLUMNS = ("tokens", "ner_tags")
#: Suffixes written as table files; others (``.conll``, ``.txt``, ``.bio`` ...) of a sentence frame as CoNLL columns.
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".xlsx")


def token_frame(corpus: TokenCorpus) -> pd.DataFrame:
    """A token file's sentences as a frame :func:`apply_corrections` and :func:`write_corrected` take: one row per
    sentence, columns ``tokens`` and ``ner_tags`` (lists of strings).

    Args:
        corpus: The sentences (:func:`kdemo.data.token_files.read_token_file`), with tags.
    """
    return pd.DataFrame({"tokens": [list(w) for w in corpus.words], "ner_tags": [list(t) for t in corpus.tags or []]})


def _cell_like(value: str, column: pd.Series):
    """``value`` in the type of ``column``'s values (an integer class id stays an integer)."""
    if pd.api.types.is_integer_dtype(column) or pd.api.types.is_float_dtype(column):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if pd.api.types.is_integer_dtype(column) and number.is_integer() else number
    return value


def _relabel(out: pd.DataFrame, pos: int, label: str, cols: list[str], layout: str, names: list[str]) -> None:
    """Write ``label`` (the ``given_label`` format) into row ``pos`` of ``out``'s label columns."""
    row = f"row {pos}"
    if layout == "target":
        try:
            value = float(label)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DataError(f"Expected a number as the new target of {row}. Received: {label!r}.")
        out.iat[pos, out.columns.get_loc(cols[0])] = value
        return
    wanted = [p.strip() for p in label.split(NAMES_SEPARATOR) if p.strip()] if layout == "multi_hot" else [label.strip()]
    unknown = [w for w in wanted if w not in names]
    if unknown or (layout == "class" and len(wanted) != 1):
        raise DataError(f"Expected the new label of {row} among the classes {names}. Received: {label!r}. Pick one of "
                        f"them{' (several joined by ' + repr(NAMES_SEPARATOR) + ')' if layout == 'multi_hot' else ''}.")
    if len(cols) > 1:  # one 0/1 column per class (multi-label, or one-hot single-label)
        for c in cols:
            out.iat[pos, out.columns.get_loc(c)] = _cell_like("1" if c in wanted else "0", out[c])
        return
    col = out.columns.get_loc(cols[0])
    if layout == "multi_hot":
        out.iat[pos, col] = list(wanted) if isinstance(out.iat[pos, col], list) else LABEL_SEPARATOR.join(wanted)
    else:
        out.iat[pos, col] = _cell_like(wanted[0], out[cols[0]])


def apply_corrections(df: pd.DataFrame, decisions: Mapping[int, str], *, label_columns: Sequence[str] | str,
                      task: str) -> pd.DataFrame:
    """The training table with the decisions applied: dropped rows removed, relabelled rows' label columns changed.

    Args:
        df: The training table as read (``num_rows`` rows); for a token file, its :func:`token_frame`.
        decisions: ``{row: decision}``, row 0-based (position in ``df``); decision ``"keep"``, ``"drop"`` or a new
            label in the ``given_label`` format. Rows not named are kept as they are.
        label_columns: The label column(s) (ignored for a token file: its tags are ``ner_tags``).
        task: The task (a :class:`~kdemo.tasks.Task` or its value).

    Returns:
        A new frame with the table's columns and the kept rows in their order, index 0..; labels written in the
        column's own form (an integer class id stays an integer, multi-label cells are ``a|b`` or lists as they
        were, 0/1 columns stay 0/1).

    Raises:
        DataError: If a row is out of range, a new label is not one of the classes (or not a number for
            regression), or a token file's new tags differ in number from its words.
    """
    layout = spec_for(task).label_layout
    out = df.reset_index(drop=True).copy()
    bad = [r for r in decisions if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < len(out)]
    if bad:
        raise DataError(f"Expected decisions for rows 0 to {len(out) - 1}. Received: rows {bad[:10]}.")
    cols = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    names: list[str] = []
    if layout in ("class", "multi_hot"):
        names = [str(c) for c in parse_labels(out, cols, spec_for(task).task)[1]]
    drop = []
    for row, decision in sorted(decisions.items()):
        decision = str(decision)
        if decision.strip().lower() == KEEP:
            continue
        if decision.strip().lower() == DROP:
            drop.append(row)
        elif layout == "word_tags":
            tags = decision.split()
            if len(tags) != len(out.at[row, "tokens"]):
                raise DataError(f"Expected one tag per word for sentence {row} ({len(out.at[row, 'tokens'])} words). "
                                f"Received: {len(tags)} tags {decision!r}. Give the tags joined by spaces.")
            out.at[row, "ner_tags"] = tags
        else:
            _relabel(out, row, decision, cols, layout, names)
    return out.drop(index=drop).reset_index(drop=True)


def _json_value(value):
    """A numpy scalar or array as JSON (the cells ``to_dict`` leaves as numpy values)."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


def _write_conll(df: pd.DataFrame, dest: Path) -> None:
    lines = []
    for words, tags in zip(df["tokens"], df["ner_tags"]):
        lines += [f"{w}\t{t}" for w, t in zip(words, tags)] + [""]
    dest.write_text("\n".join(lines), encoding="utf-8")


def write_corrected(df: pd.DataFrame, like_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Write a corrected training table in the format of the file it came from (by ``like_path``'s suffix).

    Args:
        df: From :func:`apply_corrections`.
        like_path: The original file: ``.csv``, ``.tsv``, ``.jsonl`` (or ``.json``: JSON lines), ``.parquet``,
            ``.xlsx``; a token file's sentence frame also ``.conll``/``.txt``/``.bio`` ... (``word TAB tag`` lines,
            a blank line after each sentence).
        out_path: The file to write (its folder is created).

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: If the suffix is not one of those, or names a token format for a frame without
            ``tokens``/``ner_tags`` columns.
    """
    suffix = Path(like_path).suffix.lower()
    dest = Path(out_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(dest, index=False)
    elif suffix == ".tsv":
        df.to_csv(dest, index=False, sep="\t")
    elif suffix in (".jsonl", ".json"):
        dest.write_text("".join(json.dumps(rec, ensure_ascii=False, default=_json_value) + "\n"
                                for rec in df.to_dict(orient="records")), encoding="utf-8")
    elif suffix == ".parquet":
        df.to_parquet(dest, index=False)
    elif suffix == ".xlsx":
        df.to_excel(dest, index=False)
    elif all(c in df.columns for c in TOKEN_COLUMNS):
        _write_conll(df, dest)
    else:
        raise DataError(f"Expected the original file to be one of {list(TABLE_SUFFIXES)} (or a token file of tokens "
                        f"and tags). Received: {str(like_path)!r}. Write it as .csv.")
    return dest

"""Answers of extractive question answering as table cells hold them, read into HF's SQuAD layout.

One question's answers are ``{"text": [str, ...], "answer_start": [int, ...]}`` (character offsets into the
context, counted as Python ``str`` characters from 0, as SQuAD counts them); both lists empty means unanswerable.
Tables carry them in one of these forms:

- an ``answers`` cell holding that dict: a real dict (a DataFrame built in Python; a Parquet struct, whose lists
  pyarrow gives as numpy arrays), its JSON text (``{"text": ["x"], "answer_start": [3]}``), or its Python text as
  HF ``datasets`` exports write it to CSV (``{'text': array(['x'], dtype=object), 'answer_start': array([3],
  dtype=int32)}``; :func:`kdemo.data.tables.read_table` also turns a Parquet struct into that text). The text is
  read by :func:`literal`, which evaluates literals and ``array(...)`` calls only, never code;
- an ``answers`` cell holding SQuAD's list of answer objects ``[{"text": "x", "answer_start": 3}, ...]``;
- two columns ``answer_text`` and ``answer_start`` (one answer per row).

An empty cell (``""``, NaN, None) is an unanswerable question.
"""

from __future__ import annotations

import ast
import json
import math
import re

import numpy as np
import pandas as pd

from kdemo.errors import DataError

#: Longest answers cell (characters) that :func:`literal` parses.
MAX_CELL_CHARS = 100_000
_INTEGER = re.compile(r"^\s*[+]?\d+(\.0*)?\s*$")
_TEXT_KEYS = ("text", "texts", "answer_text")
_START_KEYS = ("answer_start", "answer_starts", "start")


def _error(expected: str, received: str, where: str, name: str, todo: str) -> DataError:
    return DataError(f"Expected {expected} ({where} of {name!r}). Received: {received}. {todo}")


def is_missing(value) -> bool:
    """Whether a cell is empty: None, NaN, pandas' NA, or a string of whitespace only."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    return False


def literal(text: str):
    """Evaluate the text of a Python literal, also reading numpy's ``array([...], dtype=...)`` as its list.

    Args:
        text: E.g. ``"{'text': array(['x'], dtype=object), 'answer_start': array([3], dtype=int32)}"``.

    Returns:
        The value, with every ``array(...)`` (or ``np.array(...)``) call replaced by its first argument.

    Raises:
        ValueError: If the text is longer than :data:`MAX_CELL_CHARS` or holds anything but literals and
            ``array`` calls (names, operators, other calls): nothing is ever executed.
    """
    if len(text) > MAX_CELL_CHARS:
        raise ValueError(f"longer than {MAX_CELL_CHARS} characters")
    tree = ast.parse(text.strip(), mode="eval")
    return _value(tree.body)


def _value(node):
    if not isinstance(node, ast.AST):  # a dict's ``**`` unpacking has no key node
        raise ValueError("not a literal")
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(n) for n in node.elts]
    if isinstance(node, ast.Dict):
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)):
        value = _value(node.operand)
        if isinstance(value, (int, float)):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call) and node.args and _name(node.func) == "array":
        return _value(node.args[0])
    raise ValueError(f"not a literal: {ast.dump(node)[:80]}")


def _name(func) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _as_list(value) -> list:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [v.item() if isinstance(v, np.generic) else v for v in value]
    return [value.item() if isinstance(value, np.generic) else value]


def to_offset(value, where: str, name: str) -> int:
    """An ``answer_start`` as an ``int``: ints, whole floats (``12.0``) and digit strings (``"12"``) are accepted.

    Raises:
        DataError: For anything else (text, a fraction, a negative number, a missing value), naming ``where``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and _INTEGER.match(value):
        return int(float(value))
    raise _error("answer_start to be a whole number of characters from the start of the context (0 or more)",
                 f"{value!r}", where, name, "Write the answer's character offset in its context, counted from 0.")


def _texts(value, where: str, name: str) -> list[str]:
    texts = _as_list(value)
    for text in texts:
        if not isinstance(text, str) or not text:
            raise _error("every answer text to be a non-empty string", f"{text!r}", where, name,
                         "Write the answer as it appears in the context, or leave the answers empty for a question "
                         "without an answer.")
    return texts


def squad_answers(texts, starts, where: str, name: str) -> dict:
    """``{"text": [...], "answer_start": [...]}`` from answer texts and offsets (one value or a list each).

    Raises:
        DataError: If the lists differ in length, a text is empty or not a string, or an offset is not a whole
            number (:func:`to_offset`); the message names ``where``.
    """
    texts, starts = _texts(texts, where, name), _as_list(starts)
    if len(texts) != len(starts):
        raise _error("as many answer_start offsets as answer texts", f"{len(texts)} text(s) {texts[:3]} and "
                     f"{len(starts)} offset(s) {starts[:3]}", where, name,
                     "Give every answer text its character offset in the context.")
    return {"text": texts, "answer_start": [to_offset(s, where, name) for s in starts]}


def answers_from_cell(value, where: str, name: str) -> dict:
    """One question's answers from an ``answers`` cell in any form of the module docstring.

    Args:
        value: The cell.
        where: Where the cell is (``"row 7"``), for messages.
        name: The file's name, for messages.

    Returns:
        ``{"text": [...], "answer_start": [...]}``; both empty for an empty cell.

    Raises:
        DataError: If the cell is neither empty nor one of the forms, or its answers are malformed
            (:func:`squad_answers`).
    """
    if not isinstance(value, (dict, list, tuple, np.ndarray)) and is_missing(value):
        return {"text": [], "answer_start": []}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = literal(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                raise _error('an answers cell such as {"text": ["Paris"], "answer_start": [12]} (JSON, or as HF '
                             "datasets writes it)", f"{value[:120]!r}", where, name,
                             "Fix the cell, or give the answers as two columns answer_text and answer_start.") from None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):  # SQuAD's list of answer objects
        if not all(isinstance(a, dict) for a in value):
            raise _error('a list of answer objects such as [{"text": "Paris", "answer_start": 12}]',
                         f"{str(value)[:120]}", where, name,
                         "Write each answer as an object with text and answer_start.")
        pairs = [(_get(a, _TEXT_KEYS, where, name), _get(a, _START_KEYS, where, name)) for a in value]
        return squad_answers([t for t, _ in pairs], [s for _, s in pairs], where, name)
    if not isinstance(value, dict):
        raise _error('an answers cell such as {"text": ["Paris"], "answer_start": [12]}', f"{value!r}", where, name,
                     "Fix the cell, or give the answers as two columns answer_text and answer_start.")
    return squad_answers(_get(value, _TEXT_KEYS, where, name), _get(value, _START_KEYS, where, name), where, name)


def _get(mapping: dict, keys: tuple[str, ...], where: str, name: str):
    for key in keys:
        if key in mapping:
            return mapping[key]
    raise _error(f"the key {keys[0]!r} in the answers", f"keys {sorted(map(str, mapping))}", where, name,
                 'Write the answers as {"text": [...], "answer_start": [...]}.')


def answers_from_columns(text, start, where: str, name: str) -> dict:
    """One answer from an ``answer_text`` cell and an ``answer_start`` cell; an empty text is no answer.

    Raises:
        DataError: If the text is given and the offset is missing or not a whole number.
    """
    if is_missing(text):
        return {"text": [], "answer_start": []}
    if is_missing(start):
        raise _error("an answer_start beside the answer_text", "an empty answer_start", where, name,
                     "Write the answer's character offset in the context, counted from 0.")
    return squad_answers([str(text)], [start], where, name)

"""Reading labelled tables from CSV, TSV, JSON/JSONL, Parquet and XLSX files, and the row-numbering convention.

Row numbers in every kdemo message count **data rows from 1**; the header is not counted, so row 1 is the first
line under the header (line 2 of a CSV without quoted newlines). Line numbers, where given, are physical lines of
the file (header = line 1).

Text files are decoded by :func:`kdemo.data.encodings.detect_and_decode`: a given ``encoding=``, a BOM, the
UTF-16 pattern, strict UTF-8, else the legacy encoding charset-normalizer finds (GB18030/GBK, Big5, Shift-JIS,
EUC-KR, Windows-1251/1252 …), with a note when it is unsure (see :func:`read_info`).

Files with NUL bytes or many control characters after decoding are refused as binary.

Every reader takes :class:`~kdemo.data.limits.InputLimits` (rows, columns, cell length; archive and Parquet sizes,
checked before parsing): see :mod:`kdemo.data.limits`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from kdemo.data.binary_tables import read_binary
from kdemo.data.encodings import Decoded, detect_and_decode, line_of
from kdemo.data.limits import DEFAULT_LIMITS, InputLimits, check_cells, check_shape
from kdemo.errors import DataError

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json")
BINARY_SUFFIXES = (".parquet", ".xlsx")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + BINARY_SUFFIXES
DELIMITERS = (",", "\t", ";", "|")
#: Key of ``DataFrame.attrs`` where :func:`read_table` records how the file was read.
READ_INFO_KEY = "kdemo_read_info"

_MAGIC = ((b"PK\x03\x04", "a ZIP archive or an XLSX workbook"), (b"PAR1", "a Parquet file"),
          (b"\x89PNG", "a PNG image"), (b"%PDF", "a PDF document"), (b"\xd0\xcf\x11\xe0", "an old Excel .xls file"))
_PANDAS_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def row_numbers(mask: Sequence[bool] | np.ndarray | pd.Series) -> list[int]:
    """1-based data-row numbers where ``mask`` is true (see the module docstring)."""
    return (np.flatnonzero(np.asarray(mask, dtype=bool)) + 1).tolist()


def format_rows(rows: Sequence[int], limit: int = 10) -> str:
    """``"rows [2, 5, 8]"``, shortened to the first ``limit`` rows with ``…`` and the total when longer."""
    rows = list(rows)
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f", … ({len(rows)} in all)" if len(rows) > limit else ""
    return f"rows [{shown}{more}]"


def as_text(series: pd.Series) -> pd.Series:
    """Every cell as a Python ``str``: missing cells become ``""``, lists are joined with ``|``."""

    def text(v) -> str:
        if isinstance(v, list):
            return "|".join(map(str, v))
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)

    return pd.Series([text(v) for v in series.tolist()], index=series.index, dtype=object)


def read_info(df: pd.DataFrame) -> dict:
    """How :func:`read_table` read ``df``: ``{"file", "format", "encoding", "delimiter", "notes"}`` ({} if unknown).

    ``encoding`` is a human name such as ``"UTF-8"``, ``"UTF-16 LE (with BOM)"`` or
    ``"GB18030 (Chinese, simplified)"`` (None for Parquet/XLSX); text files also record ``codec`` (the Python codec),
    ``encoding_method`` (``"given"``, ``"bom"``, ``"utf-8"``, ``"detected"`` …), ``encoding_confidence`` (fraction
    0–1), ``encoding_sure``, ``encoding_alternatives`` and ``encoding_note`` (the unsure note, or None; see :class:`kdemo.data.encodings.Decoded`). ``notes``
    lists what the user should know (an unsure encoding, skipped blank lines, which Excel sheet was read).
    """
    return dict(df.attrs.get(READ_INFO_KEY, {}))


def decode_bytes(raw: bytes, name: str, encoding: str | None = None) -> tuple[str, str, list[str]]:
    """Decode a text file (:func:`decode_file`) and refuse binary content.

    Args:
        raw: The file's bytes.
        name: File name, for messages.
        encoding: A Python codec name to use instead of detecting.

    Returns:
        ``(text, encoding_name, notes)``: the text without BOM, a human name of the encoding, and notes for the user.

    Raises:
        DataError: If ``encoding`` is given and does not fit (byte and line named), or the file is binary.
    """
    decoded = decode_file(raw, name, encoding)
    return decoded.text, decoded.label, list(decoded.notes)


def decode_file(raw: bytes, name: str, encoding: str | None = None) -> Decoded:
    """:func:`kdemo.data.encodings.detect_and_decode`, refusing files with NUL bytes or many control characters.

    Raises:
        DataError: As :func:`decode_bytes`.
    """
    decoded = detect_and_decode(raw, name, encoding)
    if decoded.method == "binary":
        raise _binary_error(raw, name)
    _refuse_binary(decoded.text, raw, name)
    return decoded


def _refuse_binary(text: str, raw: bytes, name: str) -> str:
    controls = sum(1 for ch in text[:100_000] if (ord(ch) < 32 and ch not in "\t\n\r\f\v") or 0x7F <= ord(ch) <= 0x9F)
    if "\x00" in text or controls > max(2, len(text[:100_000]) // 100):
        raise _binary_error(raw, name)
    return text


def _binary_error(raw: bytes, name: str) -> DataError:
    kind = next((what for magic, what in _MAGIC if raw.startswith(magic)), None)
    if b"\x00" in raw:
        line = line_of(raw, raw.index(b"\x00"))
        detail = f"contains binary (NUL) bytes, the first on line {line}"
    else:
        detail = "contains many control characters"
    return DataError(
        f"Expected a text table (CSV, TSV, JSONL) or a .parquet/.xlsx file. Received: {name!r} {detail}"
        f"{f'; it looks like {kind}' if kind else ''}. Export the table as CSV (UTF-8), or give the file its real "
        "suffix."
    )


def _sniff_delimiter(text: str) -> str:
    """The candidate delimiter that splits the header into ≥ 2 fields and most of the first 50 rows alike."""
    sample = text[:50_000]
    best, best_score = ",", -1.0
    for sep in DELIMITERS:
        try:
            rows = [r for r in csv.reader(io.StringIO(sample, newline=""), delimiter=sep) if r][:50]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        body = rows[1:-1] or rows[1:]  # the last sampled row may be cut off
        score = sum(len(r) == len(rows[0]) for r in body) / max(len(body), 1)
        if score > best_score:
            best, best_score = sep, score
    return best


def _check_fields(text: str, sep: str, name: str, limits: InputLimits = DEFAULT_LIMITS) -> list[str]:
    """Refuse rows whose field count differs from the header's (row and line named), and tables over the row or
    column cap (counting stops at the first row over it); note skipped blank lines."""
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header, row, last_line, blank = None, 0, 0, []
    try:
        for record in reader:
            start, last_line = last_line + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                blank.append(start)
                continue
            if header is None:
                header = record
                check_shape(0, len(header), name, limits)
                continue
            row += 1
            if row > limits.max_rows:
                check_shape(row, len(header), name, limits, exact=False)
            if len(record) != len(header):
                if any("\n" in f for f in record) and len(record) < len(header):
                    hint = f"A quote (\") opened in row {row} is probably never closed."
                elif len(record) > len(header) and not any(f.strip() for f in record[len(header):]):
                    hint = f"The row ends with an extra {sep!r}: remove trailing delimiters."
                else:
                    hint = f"Put texts that contain {sep!r} in double quotes, or fix that row."
                where = f"line {start}" if start == last_line else f"lines {start}–{last_line}"
                raise DataError(
                    f"Expected {len(header)} fields in every row, as in the header of {name!r}. Received: "
                    f"{len(record)} field{'s' if len(record) != 1 else ''} in row {row} ({where} of the file). {hint}"
                )
    except csv.Error as exc:
        raise DataError(f"Could not parse {name!r} after line {last_line} (row {row + 1}): {exc}.") from None
    blank = [b for b in blank if b < last_line]  # trailing empty lines are not worth a note
    if not blank:
        return []
    return [f"Skipped {len(blank)} blank line(s) of {name!r} (lines {blank[:10]}); row numbers do not count them."]


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Scalars become strings (missing stays NaN), list-like cells become lists of strings (multi-label)."""

    def cell(v):
        if isinstance(v, (list, tuple, np.ndarray)):
            return [str(x) for x in v]
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT or v is pd.NA:
            return np.nan
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v)) if abs(v) < 2**53 else str(v)
        return str(v)

    return pd.DataFrame({c: [cell(v) for v in df[c].tolist()] for c in df.columns}, index=df.index, dtype=object)


def _read_json(text: str, suffix: str, name: str, limits: InputLimits = DEFAULT_LIMITS) -> pd.DataFrame:
    lines = suffix == ".jsonl" or text.lstrip().startswith("{")
    if lines:
        records = sum(1 for line in text.splitlines() if line.strip())
        check_shape(records, 0, name, limits)
    try:
        return pd.read_json(io.StringIO(text), lines=lines, dtype=False)
    except ValueError as exc:
        if lines:
            for number, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise DataError(
                            f"Expected one JSON object per line in {name!r}. Received: line {number} is not valid "
                            f"JSON ({err.msg} at column {err.colno}). Fix that line."
                        ) from None
                    if not isinstance(record, dict):
                        raise DataError(f"Expected one JSON object per line in {name!r}. Received: line {number} "
                                        f"holds a {type(record).__name__}, not an object with column names.")
        raise DataError(f"Could not parse {name!r} as JSON: {str(exc)[:300]}.") from None


def read_table(
    path: str | os.PathLike, *, sep: str | None = None, encoding: str | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
) -> pd.DataFrame:
    """Read a CSV, TSV, JSON/JSONL, Parquet or XLSX file into a DataFrame of strings.

    Args:
        path: The file. The format comes from the suffix: ``.csv``/``.txt`` (delimiter sniffed among ``, TAB ; |``
            unless ``sep`` is given), ``.tsv``, ``.jsonl``/``.json``, ``.parquet``, ``.xlsx`` (first sheet).
        sep: Column delimiter for CSV/TSV/TXT.
        encoding: Python codec of a text file (``"gbk"``, ``"shift_jis"``, ``"cp1252"`` …), as ktrain's
            ``encoding=``; None detects it (:mod:`kdemo.data.encodings`).
        limits: Caps on rows, columns, cell length and (XLSX, Parquet) uncompressed size; checked as early as the
            format allows, so an oversized file is refused before it is parsed.

    Returns:
        The table with header whitespace trimmed; every value a string, missing values NaN, list values (from
        JSON/Parquet) lists of strings. ``df.attrs[READ_INFO_KEY]`` records how it was read (see :func:`read_info`).

    Raises:
        DataError: If the file is missing, empty, binary, of an unknown suffix, has a row whose field count differs
            from the header (row and line named), invalid JSON (line named), duplicate column names, or no data rows,
            or exceeds ``limits`` (more rows or columns, a longer cell; an .xlsx that would unpack too large).
    """
    path = Path(path)
    name = path.name
    if not path.is_file():
        raise DataError(f"Expected a data file. Received: {str(path)!r}, which does not exist.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(f"Expected a .csv, .tsv, .jsonl, .parquet or .xlsx file. Received: {name!r}. "
                        "Save the table in one of these formats (from .xls: save as .xlsx or CSV).")
    info = {"file": name, "format": suffix.lstrip(".").upper(), "encoding": None, "delimiter": None, "notes": []}
    if suffix in BINARY_SUFFIXES:
        df, info["notes"] = read_binary(path, suffix, limits)
    else:
        raw = path.read_bytes()
        if not raw.strip():
            raise DataError(f"Expected a table with a header row and data rows. Received: {name!r} is empty.")
        decoded = decode_file(raw, name, encoding)
        text, info["notes"] = decoded.text, list(decoded.notes)
        info.update(encoding=decoded.label, codec=decoded.codec, encoding_method=decoded.method,
                    encoding_confidence=decoded.confidence, encoding_sure=decoded.sure,
                    encoding_alternatives=list(decoded.alternatives),
                    encoding_note=decoded.notes[0] if decoded.notes else None)
        if not text.strip():
            raise DataError(f"Expected a table with a header row and data rows. Received: {name!r} is empty.")
        if suffix in (".jsonl", ".json"):
            df = _read_json(text, suffix, name, limits)
        else:
            sep = sep or ("\t" if suffix == ".tsv" else _sniff_delimiter(text))
            info["delimiter"] = sep
            info["notes"] += _check_fields(text, sep, name, limits)
            try:
                df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""])
            except (ValueError, pd.errors.ParserError) as exc:
                found = _PANDAS_LINE.search(str(exc))
                detail = (f"row {int(found.group(2)) - 1} has {found.group(3)} fields, the header {found.group(1)}"
                          if found else str(exc).strip()[:300])
                raise DataError(f"Could not parse {name!r} as a {info['format']} table: {detail}.") from None
    check_shape(len(df), len(df.columns), name, limits)
    df.columns = [str(c).strip() for c in df.columns]
    dupes = sorted(c for c, n in Counter(df.columns).items() if n > 1)
    if dupes:
        raise DataError(f"Expected unique column names. Received: {dupes} more than once in the header of {name!r} "
                        f"(columns {list(df.columns)}). Rename the repeated columns.")
    if len(df.columns) == 0 or len(df) == 0:
        raise DataError(f"Expected a header row and at least one data row. Received: {name!r} has no data rows.")
    df = _normalise(df.reset_index(drop=True))
    check_cells(df, name, limits)
    df.attrs[READ_INFO_KEY] = info
    return df

"""Is this file questions with their contexts? A cheap look at the start of a file, for :mod:`kdemo.data.sniff`.

:func:`looks_like_qa_file` is re-exported by :mod:`kdemo.data.qa_files`, whose reader it answers for.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from kdemo.data.tables import DELIMITERS, TEXT_SUFFIXES

#: Bytes read by :func:`looks_like_qa_file`.
SNIFF_BYTES = 65536
#: The columns (lower case) that make a table a question table: ``context`` with one of the others (a table that
#: lacks its question column is still read as questions, so that the reader names what is missing).
QUESTION_COLUMN, CONTEXT_COLUMN, ANSWER_COLUMNS = "question", "context", ("answers", "answer_text")
_SQUAD_DATA = re.compile(r'"data"\s*:\s*\[')
_SQUAD_PARAGRAPHS = re.compile(r'"paragraphs"\s*:\s*\[')


def has_qa_columns(names) -> bool:
    """Whether ``names`` include ``context`` and one of ``question``, ``answers``, ``answer_text`` (any case,
    surrounding spaces ignored)."""
    lower = {str(n).strip().lower() for n in names}
    return CONTEXT_COLUMN in lower and bool(lower & {QUESTION_COLUMN, *ANSWER_COLUMNS})


def looks_like_qa_file(path: str | Path) -> bool:
    """Cheap sniff: does this file hold questions, contexts and answers?

    Reads at most :data:`SNIFF_BYTES`: a ``.json``/``.jsonl`` that starts as SQuAD (a ``"data"`` list and
    ``"paragraphs"``) or whose first row object has question-table keys (:func:`has_qa_columns`); a CSV/TSV/TXT whose
    header (first line, any of :data:`kdemo.data.tables.DELIMITERS`) has such columns; a Parquet file whose schema,
    or an XLSX whose first row, has them (names in any case).

    Args:
        path: The file.

    Returns:
        True if :func:`kdemo.data.qa_files.read_qa_file` should read it; False otherwise, also for unreadable
        files (never raises).
    """
    try:
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return has_qa_columns(pq.read_schema(path).names)
        if suffix == ".xlsx":
            return has_qa_columns(_xlsx_header(path))
        if suffix not in TEXT_SUFFIXES:
            return False
        with open(path, "rb") as f:
            raw = f.read(SNIFF_BYTES)
        text = _sniff_text(raw).lstrip()
        if text.startswith(("{", "[")):
            if text.startswith("{") and _SQUAD_DATA.search(text) and _SQUAD_PARAGRAPHS.search(text):
                return True
            return has_qa_columns(_first_object(text))
        if suffix in (".json", ".jsonl"):
            return False
        header = text.split("\n", 1)[0].rstrip("\r")
        return any(has_qa_columns(next(csv.reader(io.StringIO(header), delimiter=sep), [])) for sep in DELIMITERS)
    except Exception:  # noqa: BLE001 - a sniff never raises: the reader says what is wrong
        return False


def _sniff_text(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw[: len(raw) // 2 * 2].decode("utf-16", errors="replace")
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")


def _first_object(text: str) -> dict:
    """The first row object of JSON Lines or of a JSON array ({} when it is not complete in ``text``)."""
    decoder = json.JSONDecoder()
    start = 0
    if text.startswith("["):
        start = len(text) - len(text[1:].lstrip())
    try:
        row, _ = decoder.raw_decode(text, start)
    except json.JSONDecodeError:
        return {}
    return row if isinstance(row, dict) else {}


def _xlsx_header(path: Path) -> list:
    import openpyxl

    from kdemo.data.limits import check_xlsx_archive

    check_xlsx_archive(path)
    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        first = next(workbook.worksheets[0].iter_rows(max_row=1, values_only=True), ())
    finally:
        workbook.close()
    return [c for c in first if c is not None]

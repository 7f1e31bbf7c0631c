"""Reading Parquet and XLSX tables: sized from their metadata before they are parsed, formulas never evaluated.

An ``.xlsx`` is sized from its ZIP directory and a Parquet file from its footer
(:mod:`kdemo.data.limits`), so an oversized or bomb-like file is refused before pandas, openpyxl or pyarrow reads it.

Excel formulas are never evaluated. A formula cell is read as the result Excel saved with it (what Excel shows);
a formula without a saved result (a file written by a script and never opened in Excel) reads as an empty cell.
Both are reported as notes naming the cells.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd

from kdemo.data.limits import DEFAULT_LIMITS, InputLimits, check_parquet_metadata, check_shape, check_xlsx_archive
from kdemo.errors import DataError

_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")  # <f>…</f>, <f t="shared" …/>, or with a namespace prefix
_SHOWN_CELLS = 10


def read_binary(path: Path, suffix: str, limits: InputLimits = DEFAULT_LIMITS) -> tuple[pd.DataFrame, list[str]]:
    """Read a ``.parquet`` file, or the first sheet of an ``.xlsx`` workbook, after checking it against ``limits``.

    Args:
        path: The file.
        suffix: ``".parquet"`` or ``".xlsx"``.
        limits: Caps checked before parsing (rows, columns, uncompressed size, compression ratio).

    Returns:
        ``(df, notes)``: the raw table (not yet normalised) and notes for the user (other sheets, formulas).

    Raises:
        DataError: If a cap is exceeded, the file is damaged, or the reader package is missing.
    """
    name = path.name
    notes: list[str] = []
    if suffix == ".parquet":
        check_parquet_metadata(path, limits)
    else:
        check_xlsx_archive(path, limits)
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path), notes
        with pd.ExcelFile(path, engine="openpyxl") as workbook:
            sheets = workbook.sheet_names
            df = workbook.parse(sheets[0], dtype=object, nrows=limits.max_rows + 1)  # stops past the row cap
    except ImportError as exc:
        raise DataError(f"Reading {suffix} files needs the {exc.name or 'pyarrow/openpyxl'} package: "
                        f"pip install {'pyarrow' if suffix == '.parquet' else 'openpyxl'}.") from None
    except Exception as exc:  # noqa: BLE001 - zipfile, openpyxl and pyarrow raise many unrelated types
        what = "Parquet file" if suffix == ".parquet" else "Excel workbook (.xlsx)"
        raise DataError(f"Expected a valid {what}. Received: {name!r} could not be read ({type(exc).__name__}: "
                        f"{str(exc)[:200]}). Re-save or re-export it.") from None
    check_shape(len(df), len(df.columns), name, limits, exact=len(df) <= limits.max_rows)
    if len(sheets) > 1:
        notes.append(f"Read the first sheet {sheets[0]!r} of {name!r}; it has {len(sheets)} sheets ({sheets}). "
                     "Save the sheet you want first.")
    if _has_formulas(path):
        notes += _formula_notes(path, sheets[0], name)
    return df, notes


def _has_formulas(path: Path) -> bool:
    """Whether any worksheet of the workbook holds a formula element (a streamed byte search, no XML parsing)."""
    with zipfile.ZipFile(path) as archive:
        for member in archive.infolist():
            if not (member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml")):
                continue
            with archive.open(member) as stream:
                tail = b""
                while chunk := stream.read(1 << 20):
                    if _FORMULA_TAG.search(tail + chunk):
                        return True
                    tail = chunk[-16:]
    return False


def _formula_notes(path: Path, sheet: str, name: str) -> list[str]:
    """Notes naming the formula cells of ``sheet``, and those without a saved result (read as empty)."""
    import openpyxl

    formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    values = openpyxl.load_workbook(path, read_only=True, data_only=True)
    saved, unsaved = [], []
    try:
        for formula_row, value_row in zip(formulas[sheet].iter_rows(), values[sheet].iter_rows()):
            for cell, value in zip(formula_row, value_row):
                if cell.data_type == "f":
                    (saved if value.value is not None else unsaved).append((cell.coordinate, str(cell.value)))
    finally:
        formulas.close()
        values.close()
    notes = []
    if unsaved:
        notes.append(
            f"{len(unsaved)} cell(s) of {name!r} hold formulas without a saved result "
            f"({_cells(unsaved)}); kdemo never evaluates formulas, so they were read as empty cells. Open the file "
            "in Excel or LibreOffice and save it (which stores the results), or paste the cells as values."
        )
    if saved:
        notes.append(f"{len(saved)} cell(s) of {name!r} hold formulas ({_cells(saved)}); the results Excel saved "
                     "were read, not the formulas.")
    return notes


def _cells(cells: list[tuple[str, str]]) -> str:
    """``"A2 '=1+2', A3 '=SUM(B1:B2)', … (12 in all)"``."""
    shown = ", ".join(f"{coordinate} {formula[:40]!r}" for coordinate, formula in cells[:_SHOWN_CELLS])
    return shown + (f", … ({len(cells)} in all)" if len(cells) > _SHOWN_CELLS else "")

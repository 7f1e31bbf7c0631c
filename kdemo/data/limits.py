"""How much input kdemo accepts: row, column, cell and text-length caps, and archive checks done before parsing.

The caps are explicit data (:class:`InputLimits`, frozen, validated on construction) that the readers take as an
argument; :data:`DEFAULT_LIMITS` suits a CPU demo. Every refusal is a :class:`~kdemo.errors.DataError` saying what
the cap is, what the input had, and what to do.

Cheap checks come first, so that a hostile file costs little before it is refused: the members of an ``.xlsx``
(a ZIP archive) are sized from its central directory before openpyxl opens it (a "zip bomb" of a few hundred KB
that unpacks to gigabytes never gets parsed), a Parquet file's row count and uncompressed size come from its
footer metadata, and a CSV stops being read at the first row over the cap.

Long texts typed into the app are **refused**, not truncated silently: a model reads only its first ``maxlen``
tokens (a few hundred words), so a text of more than :attr:`InputLimits.max_text_chars` characters is almost
certainly a mistake (a whole file pasted into the box), and a clear message beats a prediction on its first
paragraph. Long cells in a *file* are allowed up to :attr:`InputLimits.max_cell_chars` (they are truncated to
``maxlen`` tokens when tokenized, as every text is).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from kdemo.errors import DataError

#: Members of an archive smaller than this are never refused for their compression ratio alone.
RATIO_CHECK_MIN_BYTES = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")
_LONG_TEXT_HINT = ("Shorten it, or put long documents in a file (Predict tab), where each text is truncated to the "
                   "model's maxlen.")


@dataclass(frozen=True)
class InputLimits:
    """Caps on what kdemo reads from a file or a text box; validated on construction.

    Attributes:
        max_rows: Data rows per table (header not counted).
        max_columns: Columns per table.
        max_cell_chars: Characters in one cell of a file, and in one column name.
        max_text_chars: Characters in one text typed into the app (Predict and Attention tabs, card example).
        max_uncompressed_bytes: Bytes an ``.xlsx`` unpacks to in all, or a Parquet file's data uncompressed;
            read from the file's own metadata before anything is parsed.
        max_compression_ratio: Largest uncompressed ÷ compressed size of one ``.xlsx`` member (members of at
            least :data:`RATIO_CHECK_MIN_BYTES`); ordinary sheets compress 5–30×, zip bombs about 1000×.
        max_upload_bytes: Bytes of one uploaded file (the app's Gradio ``max_file_size``; said to the user with
            :func:`format_upload_size`).

    Raises:
        ValueError: If a cap is not a positive number (the ratio: a number above 1).

    Example:
        >>> limits = InputLimits(max_rows=50_000)
        >>> df = read_table("reviews.csv", limits=limits)  # kdemo.data.tables.read_table
    """

    max_rows: int = 200_000
    max_columns: int = 1_000
    max_cell_chars: int = 100_000
    max_text_chars: int = 20_000
    max_uncompressed_bytes: int = 256 * 2**20
    max_compression_ratio: float = 100.0
    max_upload_bytes: int = 50 * 2**20

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "max_compression_ratio":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 1:
                    raise ValueError(f"Expected {f.name} to be a number above 1 (e.g. 100). "
                                     f"Received: {f.name}={value!r}.")
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected {f.name} to be a positive integer. Received: {f.name}={value!r}.")


DEFAULT_LIMITS = InputLimits()


def format_bytes(num_bytes: float) -> str:
    """``"256 MiB"``, ``"1.5 GiB"``, ``"12 KiB"``: bytes in binary units for messages."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:,.0f} {unit}" if unit == "bytes" else f"{num_bytes:,.1f} {unit}".replace(".0 ", " ")
        num_bytes /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_upload_size(num_bytes: int) -> str:
    """A size as Gradio's file box shows it: ``"50.0 MB"`` for 52,428,800 bytes (1 KB = 1,024 bytes, 1 MB =
    1,048,576 bytes, one decimal), so that a limit reads in the units of the sizes listed in the box.

    Args:
        num_bytes: Size in bytes.

    Returns:
        The size, e.g. ``"47.7 MB"`` for 50,000,304 bytes.
    """
    size, units = float(num_bytes), ["B", "KB", "MB", "GB", "PB"]  # the file box's units, in its order
    unit = 0
    while size > 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.1f} {units[unit]}"


def upload_limit_note(limits: InputLimits = DEFAULT_LIMITS) -> str:
    """The upload limit for the Data tab's text, said before an upload in the file box's units.

    Args:
        limits: The caps (:attr:`InputLimits.max_upload_bytes`).

    Returns:
        Markdown, e.g. ``"Files up to **50.0 MB** each (52,428,800 bytes; 1 MB = 1,048,576 bytes, as the file box
        counts)."``.
    """
    return (f"Files up to **{format_upload_size(limits.max_upload_bytes)}** each ({limits.max_upload_bytes:,} bytes; "
            "1 MB = 1,048,576 bytes, as the file box counts).")


def check_text(text: str, *, what: str = "the text", hint: str = _LONG_TEXT_HINT,
               limits: InputLimits = DEFAULT_LIMITS) -> str:
    """Refuse a typed text that is too long or not valid Unicode.

    Args:
        text: The text as received (emptiness is the caller's concern).
        what: How to name it in the message (``"the second text"``).
        hint: What to do about a text that is too long.
        limits: The caps.

    Returns:
        ``text`` unchanged.

    Raises:
        DataError: If it has more than ``limits.max_text_chars`` characters, or an unpaired surrogate (a half
            emoji from a cut string, which cannot be encoded as UTF-8 and so cannot be tokenized).
    """
    if len(text) > limits.max_text_chars:
        raise DataError(
            f"Expected {what} to have at most {limits.max_text_chars:,} characters: the model reads only its first "
            f"few hundred words. Received: {len(text):,} characters. {hint}"
        )
    bad = _SURROGATE.search(text)
    if bad:
        raise DataError(
            f"Expected {what} to be valid Unicode. Received: an unpaired surrogate U+{ord(bad.group()):04X} at "
            f"character {bad.start() + 1:,}, which is not a character (often half of an emoji cut in two). "
            "Remove it, or copy the text again from its source."
        )
    return text


def check_xlsx_archive(path: str | Path, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Size an ``.xlsx`` from its ZIP directory, without unpacking anything.

    Python's ``zipfile`` stops every member at its declared size (a member that unpacks to more fails its CRC
    check), so the declared sizes bound what openpyxl can be made to read.

    Args:
        path: The workbook.
        limits: The caps (``max_uncompressed_bytes``, ``max_compression_ratio``).

    Raises:
        DataError: If it is not a ZIP archive, unpacks to more than ``max_uncompressed_bytes``, or has a member
            compressed more than ``max_compression_ratio`` times.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(
            f"Expected a valid Excel workbook (.xlsx, a ZIP archive). Received: {path.name!r} is not one "
            f"({exc}). Re-save it from Excel as .xlsx, or export the sheet as CSV."
        ) from None
    total = sum(m.file_size for m in members)
    biggest = max(members, key=lambda m: m.file_size, default=None)
    if total > limits.max_uncompressed_bytes:
        raise DataError(
            f"Expected an .xlsx workbook that unpacks to at most {format_bytes(limits.max_uncompressed_bytes)}. Received: "
            f"{path.name!r} ({format_bytes(path.stat().st_size)}) would unpack to {format_bytes(total)} ({biggest.filename} "
            f"alone: {format_bytes(biggest.file_size)}), so it was not opened. Export the sheet as CSV, or split it."
        )
    for m in members:
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size >= RATIO_CHECK_MIN_BYTES and ratio > limits.max_compression_ratio:
            raise DataError(
                f"Expected an ordinary .xlsx workbook (sheets compress at most {limits.max_compression_ratio:.0f}×). "
                f"Received: {m.filename} in {path.name!r} is compressed {ratio:,.0f}× ({format_bytes(m.compress_size)} → "
                f"{format_bytes(m.file_size)}), the shape of a zip bomb, so it was not opened. If the file is genuine, "
                "export the sheet as CSV."
            )


def check_parquet_metadata(path: str | Path, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Check a Parquet file's row count, column count and uncompressed size from its footer, before reading it.

    Raises:
        DataError: If a cap is exceeded, or the footer cannot be read.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError and others for damaged files
        raise DataError(f"Expected a valid Parquet file. Received: {path.name!r} could not be read "
                        f"({type(exc).__name__}: {str(exc)[:200]}). Re-export it.") from None
    check_shape(meta.num_rows, meta.num_columns, path.name, limits)
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > limits.max_uncompressed_bytes:
        raise DataError(
            f"Expected a Parquet file of at most {format_bytes(limits.max_uncompressed_bytes)} uncompressed. Received: "
            f"{path.name!r} holds {format_bytes(size)} of data, so it was not read. Keep the text and label columns only, "
            "or sample the rows."
        )


def check_shape(rows: int, columns: int, name: str, limits: InputLimits = DEFAULT_LIMITS, *, exact: bool = True) -> None:
    """Refuse a table with more rows or columns than the caps.

    Args:
        rows: Data rows (or, with ``exact=False``, the row at which counting stopped).
        columns: Columns.
        name: The file's name, for the message.
        limits: The caps.
        exact: Whether ``rows`` is the table's real row count.

    Raises:
        DataError: Naming the cap and the count.
    """
    if columns > limits.max_columns:
        raise DataError(
            f"Expected at most {limits.max_columns:,} columns. Received: {name!r} has {columns:,} columns. "
            "Keep the text and label columns (and a few more), or check the delimiter."
        )
    if rows > limits.max_rows:
        received = f"{rows:,} data rows" if exact else f"more (counting stopped at row {rows:,})"
        raise DataError(
            f"Expected at most {limits.max_rows:,} data rows. Received: {name!r} has {received}. Take a sample "
            f"(a few thousand labelled rows are enough to fine-tune), or split the file."
        )


def check_cells(df: pd.DataFrame, name: str, limits: InputLimits = DEFAULT_LIMITS) -> None:
    """Refuse a table with a column name or a cell longer than ``limits.max_cell_chars`` (row and column named).

    Args:
        df: A table as :func:`kdemo.data.tables.read_table` builds it (strings, NaN, lists of strings), header included.
        name: The file's name, for the message.
        limits: The caps.

    Raises:
        DataError: Naming the first offending column name, or the longest cell's row (1-based data row) and column.
    """
    cap = limits.max_cell_chars
    long_name = next((str(c) for c in df.columns if len(str(c)) > cap), None)
    if long_name is not None:
        raise DataError(
            f"Expected column names of at most {cap:,} characters. Received: a column name of {len(long_name):,} "
            f"characters in the header of {name!r} (it starts {long_name[:40]!r}). Is the first line a header? "
            "Check the delimiter and the first line."
        )
    for column in df.columns:
        lengths = df[column].map(lambda v: len(v) if isinstance(v, str) else 0)
        if len(lengths) and int(lengths.max()) > cap:
            row = int(lengths.to_numpy().argmax()) + 1
            raise DataError(
                f"Expected cells of at most {cap:,} characters: the model reads only the first few hundred words of "
                f"a text. Received: {int(lengths.max()):,} characters in row {row}, column {str(column)!r} of "
                f"{name!r}. Shorten or split that text (or check for an unclosed quote that swallowed many rows)."
            )

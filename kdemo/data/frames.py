"""Saving tables exactly without pickles: Parquet, or JSON for what Parquet would change.

:func:`write_frame` writes a DataFrame as ``<stem>.parquet`` (pyarrow) when Parquet gives it back unchanged: string
column names, and ``object`` columns only of strings (what :func:`kdemo.data.tables.read_table` gives; they come
back as ``object`` columns, a missing value as NaN). An ``object`` column of mixed values such as ``1`` and
``"pos"`` (Parquet refuses it) or of lists (they would come back as NumPy arrays) makes the table JSON: any other
table is written as ``<stem>.json`` by :func:`frame_to_dict`: the values, each column's dtype, the index and
``df.attrs``. Floats keep all their digits in both (JSON through Python's ``repr``, not ``DataFrame.to_json``, whose
``double_precision`` stops at 15). Writes are atomic (:mod:`kdemo.atomic`).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from kdemo.atomic import write_bytes, write_text

PARQUET, JSON = ".parquet", ".json"


def _jsonable(value):
    """``json.dumps`` fallback for the values ``DataFrame.to_dict`` leaves as objects."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):  # Timestamp, datetime, date
        return value.isoformat()
    return str(value)


def _dtype(dtype) -> str | dict:
    if isinstance(dtype, pd.CategoricalDtype):
        return {"categories": dtype.categories.tolist(), "ordered": bool(dtype.ordered)}
    return str(dtype)


def _series(values: list, dtype: str | dict) -> pd.Series:
    if isinstance(dtype, dict):
        return pd.Series(pd.Categorical(values, categories=dtype["categories"], ordered=dtype["ordered"]))
    if dtype == "object":
        return pd.Series(values, dtype=object)
    return pd.Series(values, dtype=object).astype(dtype)


def frame_to_dict(df: pd.DataFrame) -> dict:
    """A JSON-ready form of ``df`` that :func:`frame_from_dict` turns back into an equal DataFrame.

    Returns:
        ``{"columns", "dtypes", "data" (one list per row), "index", "attrs"}``; datetimes as ISO strings, NaN as
        ``NaN`` (Python's ``json`` reads it back).
    """
    index = df.index
    if isinstance(index, pd.RangeIndex):
        index_form = {"range": [index.start, index.stop, index.step], "name": index.name}
    else:
        index_form = {"values": index.tolist(), "dtype": _dtype(index.dtype), "name": index.name}
    split = df.to_dict(orient="split")
    return {"columns": list(df.columns), "dtypes": [_dtype(t) for t in df.dtypes], "data": split["data"],
            "index": index_form, "attrs": json.loads(json.dumps(df.attrs, default=_jsonable))}


def frame_from_dict(data: dict) -> pd.DataFrame:
    """The DataFrame :func:`frame_to_dict` described."""
    rows = data["data"]
    columns = [list(col) for col in zip(*rows)] if rows else [[] for _ in data["columns"]]
    df = pd.DataFrame({i: _series(values, dtype) for i, (values, dtype) in enumerate(zip(columns, data["dtypes"]))})
    df.columns = pd.Index(data["columns"])
    index = data["index"]
    if "range" in index:
        df.index = pd.RangeIndex(*index["range"], name=index["name"])
    else:
        df.index = pd.Index(_series(index["values"], index["dtype"]), name=index["name"])
    df.attrs.update(data.get("attrs") or {})
    return df


def parquet_safe(df: pd.DataFrame) -> bool:
    """Whether Parquet gives ``df`` back unchanged: unique string column names, ``object`` columns only of
    strings (missing values allowed)."""
    names = list(df.columns)
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        return False
    return all(pd.api.types.infer_dtype(df[name], skipna=True) == "string"
               for name, dtype in zip(names, df.dtypes) if pd.api.types.is_object_dtype(dtype))


def write_frame(folder: str | Path, stem: str, df: pd.DataFrame) -> Path:
    """Write ``df`` as ``folder/<stem>.parquet``, or ``<stem>.json`` when Parquet would change it; atomically.
    The other form of the same stem is deleted.

    Returns:
        The file written.
    """
    folder = Path(folder)
    path = None
    if parquet_safe(df):
        try:
            path = write_bytes(folder / f"{stem}{PARQUET}", df.to_parquet(engine="pyarrow"))
        except (ValueError, TypeError, NotImplementedError):  # pyarrow's ArrowInvalid/ArrowTypeError among them
            path = None
    if path is None:
        path = write_text(folder / f"{stem}{JSON}", json.dumps(frame_to_dict(df), default=_jsonable))
    other = folder / f"{stem}{JSON if path.suffix == PARQUET else PARQUET}"
    other.unlink(missing_ok=True)
    return path


def read_frame(folder: str | Path, stem: str) -> pd.DataFrame | None:
    """The table :func:`write_frame` wrote as ``folder/<stem>``, or None when there is none."""
    folder = Path(folder)
    if (folder / f"{stem}{PARQUET}").is_file():
        data = io.BytesIO((folder / f"{stem}{PARQUET}").read_bytes())
        columns = (pq.read_schema(data).pandas_metadata or {}).get("columns", [])
        df = pd.read_parquet(data, engine="pyarrow")
        text = [c["name"] for c in columns if c.get("numpy_type") == "object" and c["name"] in df.columns]
        return df.astype(dict.fromkeys(text, object)) if text else df  # pandas 3 reads them as ``str``
    if (folder / f"{stem}{JSON}").is_file():
        return frame_from_dict(json.loads((folder / f"{stem}{JSON}").read_text(encoding="utf-8")))
    return None


def remove_frame(folder: str | Path, stem: str) -> None:
    """Delete ``folder/<stem>``'s table, whichever form it has."""
    for suffix in (PARQUET, JSON):
        (Path(folder) / f"{stem}{suffix}").unlink(missing_ok=True)

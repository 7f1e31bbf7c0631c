"""Training data straight from a dataset repo on the Hugging Face Hub, read through its Parquet files.

``huggingface_hub`` lists the repo's files (``HfApi.list_repo_files``) and downloads only the Parquet shards of the
config and split asked for (``hf_hub_download``), shard by shard until the row limit is reached. Which file belongs
to which config and split follows the Hub's conventions (https://huggingface.co/docs/hub/datasets-manual-configuration
and -file-structure): the ``configs:`` block of the dataset card when it has one, else ``{config}/`` folders and
split names in folder or file names (``data/train-00000-of-00001.parquet``, ``en/test.parquet``). Integer label
columns whose names the card's ``dataset_info`` lists (``class_label``, also in sequences: NER tags) get their names
back. The rows read are written to one local Parquet file (JSONL of ``tokens`` and ``ner_tags`` for NER), which then goes through the same reader, column guessing, doctor, preview and task
detection as an upload. The token is passed per call and never stored.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from kdemo.atomic import atomic_file
from kdemo.errors import DataError

#: Split names the Hub recognises in file and folder names, and what they are called.
SPLIT_WORDS = {"train": "train", "training": "train", "test": "test", "testing": "test", "eval": "test",
               "validation": "validation", "valid": "validation", "val": "validation", "dev": "validation"}
_SPLIT = re.compile(r"(?:^|[-_./])(" + "|".join(sorted(SPLIT_WORDS, key=len, reverse=True)) + r")(?=$|[-_./\d])")


@dataclass(frozen=True)
class HubDataFile:
    """A split of a Hub dataset, read into a local Parquet file.

    Attributes:
        path: The local file: Parquet (read it as an uploaded table), or JSONL of ``tokens`` and ``ner_tags`` for a
            token-classification split (HF's conll2003 layout, tags by name).
        dataset_id: The dataset's repo id.
        config: The config read.
        split: The split read.
        revision: The revision asked for (None: main).
        rows: Rows read.
        total_rows: Rows of the split, or None when shards beyond the row limit were not downloaded.
        note: What was left out (the row limit), or None when the whole split was read.
    """

    path: Path
    dataset_id: str
    config: str
    split: str
    revision: str | None
    rows: int
    total_rows: int | None
    note: str | None


def _where(dataset_id, config=None, split=None) -> str:
    return "/".join(str(p) for p in (dataset_id, config, split) if p)


def _hub_problem(exc: BaseException, dataset_id: str, revision: str | None) -> DataError:
    """A DataError saying why the Hub refused to list or serve the dataset."""
    if isinstance(exc, GatedRepoError):
        return DataError(f"Expected access to the gated dataset {dataset_id!r}. Received: a refusal "
                         f"({getattr(exc.response, 'status_code', 401)}). Accept its terms on its Hub page, then sign "
                         "in or paste a token with read access.")
    if isinstance(exc, RevisionNotFoundError):
        return DataError(f"Expected an existing revision of {dataset_id!r}. Received: revision={revision!r}. Use a "
                         "branch, tag or commit of the dataset (or leave it empty for main).")
    if isinstance(exc, RepositoryNotFoundError) or (isinstance(exc, HfHubHTTPError)
                                                    and getattr(exc.response, "status_code", None) in (401, 403, 404)):
        return DataError(f"Expected a dataset id on the Hub (e.g. 'stanfordnlp/sst2'). Received: {dataset_id!r}, "
                         "which does not exist or is private. Check the spelling; for a private dataset sign in or "
                         "paste a token with read access.")
    if isinstance(exc, HfHubHTTPError):
        return DataError(f"The Hub answered with an error ({getattr(exc.response, 'status_code', None)}) for "
                         f"{dataset_id!r}. Try again in a few minutes.")
    return DataError(f"Could not reach the Hugging Face Hub to read {dataset_id!r} ({type(exc).__name__}). Check the "
                     "network, or upload the data as a file.")


def _card_meta(api: HfApi, dataset_id: str, files: list[str], revision, token, cache_dir) -> dict:
    """The YAML metadata of the dataset card (README.md), or {} when it has none or it does not parse."""
    if "README.md" not in files:
        return {}
    path = hf_hub_download(dataset_id, "README.md", repo_type="dataset", revision=revision, token=token,
                           cache_dir=cache_dir, endpoint=api.endpoint)
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", Path(path).read_text(encoding="utf-8"), re.S)
    try:
        meta = yaml.safe_load(match.group(1)) if match else {}
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _split_of(path: str) -> str:
    """The split a file belongs to by its folder or file name (the Hub's rule), "train" when none is named."""
    found = _SPLIT.findall(path.lower())
    return SPLIT_WORDS[found[-1]] if found else "train"


def parquet_layout(files: list[str], meta: dict | None = None) -> dict[str, dict[str, list[str]]]:
    """``{config: {split: [parquet files, sorted]}}`` of a dataset repo's file list.

    Args:
        files: The repo's file paths.
        meta: The dataset card's metadata; its ``configs:`` entries (``config_name``, ``data_files``: a pattern, a
            list, or ``[{split, path}]``) decide when present.

    Returns:
        The layout; configs in the card's order (else sorted), ``default`` for files outside config folders.
    """
    parquet = sorted(f for f in files if f.endswith(".parquet"))
    layout: dict[str, dict[str, list[str]]] = {}
    for entry in (meta or {}).get("configs") or []:
        if not isinstance(entry, dict):
            continue
        name, data_files = str(entry.get("config_name", "default")), entry.get("data_files")
        specs = [data_files] if isinstance(data_files, str) else list(data_files or [])
        splits = layout.setdefault(name, {})
        for spec in specs:
            split, patterns = ("train", spec) if isinstance(spec, str) else (spec.get("split", "train"), spec.get("path"))
            patterns = [patterns] if isinstance(patterns, str) else list(patterns or [])
            hits = [f for f in parquet if any(fnmatch.fnmatch(f, p) for p in patterns)]
            if hits:
                splits.setdefault(str(split), []).extend(hits)
    if layout:
        return {c: s for c, s in layout.items() if s}
    for f in parquet:
        parts = f.split("/")
        top = parts[0] if len(parts) > 1 else ""
        config = "default" if not top or top == "data" or top.lower() in SPLIT_WORDS else top
        layout.setdefault(config, {}).setdefault(_split_of("/".join(parts[1:]) if top == config else f), []).append(f)
    return dict(sorted(layout.items()))


def _class_names(meta: dict, config: str) -> dict[str, list[str]]:
    """``{column: class names}`` of the card's ``dataset_info`` features of type ``class_label``."""
    infos = meta.get("dataset_info")
    infos = [infos] if isinstance(infos, dict) else list(infos or [])
    info = next((i for i in infos if isinstance(i, dict) and i.get("config_name", "default") == config),
                infos[0] if len(infos) == 1 else None)
    out = {}
    for feature in (info or {}).get("features") or []:
        if not isinstance(feature, dict):
            continue
        kind = feature.get("dtype") if isinstance(feature.get("dtype"), dict) else feature
        kind = kind.get("sequence", kind) if isinstance(kind.get("sequence"), dict) else kind  # Sequence(ClassLabel)
        names = (kind.get("class_label") or {}).get("names") if isinstance(kind.get("class_label"), dict) else None
        if isinstance(names, dict):
            out[str(feature["name"])] = [str(names[k]) for k in sorted(names, key=int)]
        elif isinstance(names, list):
            out[str(feature["name"])] = [str(n) for n in names]
    return out


def _named(value, names: list[str]):
    """A class id (or a list of them: a Sequence(ClassLabel) cell) as its name; other values as they are."""
    if hasattr(value, "__len__") and not isinstance(value, str):
        return [_named(v, names) for v in value]
    try:
        return names[int(value)] if 0 <= int(value) < len(names) and float(value).is_integer() else value
    except (TypeError, ValueError):
        return value


#: Columns of a token-classification split (HF's conll2003 layout): written as JSONL of tokens and tags, which the
#: token reader recognises.
TOKEN_COLUMNS = ("tokens", "ner_tags")


def dataset_splits(dataset_id: str, *, revision: str | None = None, token: str | bool | None = None,
                   endpoint: str | None = None, cache_dir: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """The configs of a Hub dataset and the splits of each (``{config: [split, ...]}``), without downloading data.

    Raises:
        DataError: If the id is unknown, private or gated without a token, the revision is missing, the Hub cannot be
            reached, or the dataset has no Parquet files.
    """
    _, layout, _ = _layout(dataset_id, revision, token, endpoint, cache_dir)
    return {config: list(splits) for config, splits in layout.items()}


def _layout(dataset_id, revision, token, endpoint, cache_dir):
    dataset_id = (dataset_id or "").strip()
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", dataset_id):
        raise DataError(f"Expected a dataset id like 'stanfordnlp/sst2'. Received: {dataset_id!r}.")
    api = HfApi(endpoint=(endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/"), token=token)
    try:
        files = api.list_repo_files(dataset_id, repo_type="dataset", revision=revision)
        meta = _card_meta(api, dataset_id, files, revision, token, cache_dir)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - every Hub failure becomes a DataError saying what to do
        raise _hub_problem(exc, dataset_id, revision) from None
    layout = parquet_layout(files, meta)
    if not layout:
        raise DataError(f"Expected Parquet files in the dataset {dataset_id!r}. Received: {files[:10]}. kdemo reads "
                        "a Hub dataset's Parquet files; download it and upload a file instead.")
    return api, layout, meta


def fetch_hub_dataset(
    dataset_id: str,
    *,
    config: str | None = None,
    split: str = "train",
    revision: str | None = None,
    token: str | bool | None = None,
    max_rows: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    endpoint: str | None = None,
) -> HubDataFile:
    """Download one split of a Hub dataset (its Parquet shards only, until ``max_rows``) into a local Parquet file.

    Args:
        dataset_id: The dataset's repo id (``"stanfordnlp/sst2"``).
        config: Its config (subset); None takes the first (the card's order), said in the note when there are more.
        split: The split (``"train"``, ``"test"``, ``"validation"`` …).
        revision: Branch, tag or commit; None is main.
        token: A token for private or gated datasets; None uses ``HF_TOKEN`` or the cached login; False sends none.
        max_rows: Read at most this many rows (the first ones, in shard order); None reads the whole split.
        cache_dir: Where downloads and the local file go (default: huggingface_hub's cache).
        endpoint: Hub URL (default: ``HF_ENDPOINT``, else huggingface.co).

    Returns:
        A :class:`HubDataFile`; its ``path`` reads like an uploaded Parquet table.

    Raises:
        DataError: On an unknown or malformed id, a private or gated dataset without a (good) token, a missing
            revision, config or split (the message lists those that exist), no Parquet files, a split without a text
            column, or no network. Nothing is written then.
    """
    if max_rows is not None and (isinstance(max_rows, bool) or int(max_rows) < 1):
        raise DataError(f"Expected max_rows of 1 or more, or None for every row. Received: max_rows={max_rows!r}.")
    api, layout, meta = _layout(dataset_id, revision, token, endpoint, cache_dir)
    notes = []
    if not config:
        config = next(iter(layout))
        if len(layout) > 1:
            notes.append(f"config {config!r} read (others: {', '.join(c for c in layout if c != config)})")
    if config not in layout:
        raise DataError(f"Expected a config of {dataset_id!r}: {', '.join(map(repr, layout))}. Received: {config!r}.")
    if split not in layout[config]:
        raise DataError(f"Expected a split of {_where(dataset_id, config)}: {', '.join(map(repr, layout[config]))}. "
                        f"Received: {split!r}.")
    tables, rows, total, shards = [], 0, 0, layout[config][split]
    try:
        for i, name in enumerate(shards):
            local = hf_hub_download(dataset_id, name, repo_type="dataset", revision=revision, token=token,
                                    cache_dir=cache_dir, endpoint=api.endpoint)
            parquet = pq.ParquetFile(local)
            total += parquet.metadata.num_rows
            for batch in parquet.iter_batches(batch_size=10_000):
                take = batch if max_rows is None else batch.slice(0, max_rows - rows)
                tables.append(pa.Table.from_batches([take]))
                rows += take.num_rows
                if max_rows is not None and rows >= max_rows:
                    break
            if max_rows is not None and rows >= max_rows:
                total = total if i == len(shards) - 1 else None
                break
    except Exception as exc:  # noqa: BLE001 - Hub failures become DataErrors; a broken file says so
        if isinstance(exc, (HfHubHTTPError, OSError, ConnectionError)) and not isinstance(exc, pa.ArrowException):
            raise _hub_problem(exc, dataset_id, revision) from None
        raise DataError(f"Expected Parquet files in {_where(dataset_id, config, split)}. Received: one that does "
                        f"not read ({type(exc).__name__}: {str(exc)[:200]}).") from None
    frame = pa.concat_tables(tables).to_pandas() if tables else pd.DataFrame()
    for column, names in _class_names(meta, config).items():
        if column in frame:
            frame[column] = [_named(v, names) for v in frame[column]]
    _require_text(frame, _where(dataset_id, config, split))
    tokens = all(c in frame for c in TOKEN_COLUMNS)
    if max_rows is not None and (total is None or total > rows):
        notes.append(f"row limit: the first {rows:,} of {f'{total:,}' if total else 'more'} rows of "
                     f"{_where(dataset_id, config, split)} were read; raise the limit to read more")
    # named for people (the Data tab shows the name): "alice_reviews.reviews.train.parquet", one folder per
    # revision and row count so that two reads never share a file
    safe = lambda text: re.sub(r"[^\w.-]", "_", text)  # noqa: E731
    folder = (Path(cache_dir or constants.HF_HUB_CACHE) / "kdemo-hub-data" / safe(dataset_id.replace("/", "--"))
              / safe(revision or "main") / str(rows))
    suffix = "jsonl" if tokens else "parquet"
    dest = folder / f"{safe(dataset_id.replace('/', '_'))}.{safe(config)}.{safe(split)}.{suffix}"
    with atomic_file(dest) as tmp:
        if tokens:  # sentences of words and their tags: the token reader's JSONL
            rows_out = [{c: [str(v) for v in row[c]] for c in TOKEN_COLUMNS} for _, row in frame.iterrows()]
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows_out), encoding="utf-8")
        else:
            frame.to_parquet(tmp, index=False)
    return HubDataFile(dest, dataset_id, config, split, revision, rows, total, "; ".join(notes) or None)


def _require_text(frame: pd.DataFrame, where: str) -> None:
    """Refuse a table without any column of texts (strings) or words (lists of strings)."""
    for column in frame.columns:
        values = frame[column].dropna().head(50).tolist()
        if values and all(isinstance(v, str) for v in values):
            return
        if values and all(hasattr(v, "__len__") and len(v) and isinstance(v[0], str) for v in values):
            return
    if frame.empty:
        raise DataError(f"Expected rows in {where}. Received: an empty split. Choose another split.")
    kinds = ", ".join(f"{c} ({frame[c].dtype})" for c in frame.columns)
    raise DataError(f"Expected a text column (strings) in {where}. Received: columns {kinds}. kdemo trains on texts: "
                    "choose a dataset or config with a text column.")

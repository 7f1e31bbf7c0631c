"""ktrain's ``texts_from_folder``: one sub-folder of ``.txt`` files per class (``train/pos/1.txt``, …)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from kdemo.data.tables import READ_INFO_KEY, decode_bytes
from kdemo.errors import DataError
from kdemo.tasks import SINGLE_LABEL
from kdemo.text.loaders import texts_from_df

__all__ = ["FOLDER_TEXT_SUFFIXES", "read_folder", "texts_from_folder"]

FOLDER_TEXT_SUFFIXES = (".txt",)


def _class_folders(folder: Path, classes: Sequence[str] | None) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        if len(found) < 2:
            raise DataError(
                f"Expected one subfolder per class (at least 2) in {str(folder)!r}, each holding .txt files. "
                f"Received: {[p.name for p in found]}. Put each class's texts in a folder named after the class."
            )
        return found
    names = {p.name: p for p in found}
    missing = [c for c in classes if c not in names]
    if missing:
        raise DataError(f"Expected class folders {missing} in {str(folder)!r}. Received folders: {sorted(names)}. "
                        "Fix classes= or the folder names.")
    return [names[c] for c in classes]


def read_folder(
    folder: str | os.PathLike, classes: Sequence[str] | None = None, encoding: str | None = None
) -> pd.DataFrame:
    """Read one folder per class, one ``.txt`` file per text (the layout of ktrain's ``texts_from_folder``).

    Args:
        folder: Holds a subfolder per class (``folder/pos/1.txt``, ``folder/neg/7.txt``…).
        classes: Class folders to read, in this order; None reads every non-hidden subfolder (sorted).
        encoding: Codec of the files; None detects it per file (:func:`kdemo.data.tables.decode_bytes`).

    Returns:
        A DataFrame with columns ``text``, ``label`` (the folder name) and ``file`` (path relative to ``folder``),
        sorted by class then file name. ``df.attrs`` records notes as :func:`kdemo.data.tables.read_table` does
        (files read as Latin-1, other files skipped).

    Raises:
        DataError: If the folder is missing, has fewer than 2 class folders, a class folder has no ``.txt``
            file, or a file is empty or binary (files named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Expected a folder with one subfolder per class. Received: {str(folder)!r}, which is not a "
                        "folder.")
    rows, notes, empty, skipped, encodings = [], [], [], [], set()
    for class_dir in _class_folders(folder, classes):
        files = sorted(p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in FOLDER_TEXT_SUFFIXES)
        skipped += [p for p in class_dir.iterdir() if p not in files and not p.name.startswith(".")]
        if not files:
            raise DataError(f"Expected .txt files in the class folder {str(class_dir)!r}. Received: none. "
                            "Add the class's texts or remove the folder.")
        for path in files:
            rel = str(path.relative_to(folder))
            text, enc, file_notes = decode_bytes(path.read_bytes(), rel, encoding)
            encodings.add(enc)
            notes += file_notes
            if not text.strip():
                empty.append(rel)
            rows.append({"text": text.strip(), "label": class_dir.name, "file": rel})
    if empty:
        raise DataError(f"Expected text in every file. Received: {len(empty)} empty file(s): {empty[:10]}. "
                        "Delete them or add their text.")
    if len(notes) > 3:
        notes = notes[:3] + [f"… and {len(notes) - 3} more files were not UTF-8."]
    if skipped:
        names = [str(p.relative_to(folder)) for p in skipped[:5]]
        notes.append(f"Skipped {len(skipped)} entries that are not .txt files: {names}.")
    df = pd.DataFrame(rows)
    df.attrs[READ_INFO_KEY] = {"file": folder.name, "format": "folder", "encoding": ", ".join(sorted(encodings)),
                               "delimiter": None, "notes": notes}
    return df


def texts_from_folder(
    datadir: str | os.PathLike,
    classes: Sequence[str] | None = None,
    max_features: int | None = None,
    maxlen: int | None = None,
    ngram_range: int | None = None,
    train_test_names: Sequence[str] = ("train", "test"),
    preprocess_mode: str | None = None,
    encoding: str | None = None,
    lang: str | None = None,
    val_pct: float = 0.1,
    random_state: int | None = 0,
    verbose: int = 1,
    *,
    model_name: str | None = None,
):
    """Prepare training and validation data from a folder of text files (ktrain's ``texts_from_folder``).

    Two layouts are accepted: ``datadir/<train>/<class>/*.txt`` with an optional ``datadir/<test>/<class>/*.txt``
    used for validation (ktrain's layout; names from ``train_test_names``), or ``datadir/<class>/*.txt`` from which
    ``val_pct`` is split off (stratified).

    Args:
        datadir: The folder.
        classes: Class folder names to use; None uses every subfolder.
        model_name: Hub id or local folder; None is the embedded all-MiniLM-L6-v2.
        maxlen: Maximum tokens per text; None covers 95 % of training texts.
        train_test_names: Names of the training and validation subfolders.
        val_pct: Fraction 0–1 held out when there is no validation subfolder.
        random_state: Seed of the split.
        encoding: Codec of the files; None detects it per file.
        verbose: 1 prints a summary.
        preprocess_mode: ktrain's mode, as in :func:`texts_from_df`.
        max_features: Ignored for transformer modes, as in ktrain.
        ngram_range: Ignored for transformer modes, as in ktrain.
        lang: Ignored.

    Returns:
        ``(trn, val, preproc)`` as :func:`texts_from_df`; class names are the folder names, sorted.

    Raises:
        DataError: See :func:`read_folder`; also if the validation folder has classes the training one lacks.
        ModelError: If the model cannot be loaded.
    """
    datadir = Path(datadir)
    train_dir, test_dir = (datadir / name for name in train_test_names)
    classes = sorted(classes) if classes else classes  # rows in sorted class order, as sklearn's load_files in ktrain
    if train_dir.is_dir():
        train_df = read_folder(train_dir, classes, encoding)
        val_df = read_folder(test_dir, classes, encoding) if test_dir.is_dir() else None
    else:
        train_df, val_df = read_folder(datadir, classes, encoding), None
    return texts_from_df(train_df, "text", ["label"], val_df, maxlen=maxlen, val_pct=val_pct,
                         max_features=max_features, ngram_range=ngram_range,
                         preprocess_mode=preprocess_mode, random_state=random_state, verbose=verbose,
                         model_name=model_name, task=SINGLE_LABEL)

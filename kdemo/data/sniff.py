"""One answer, for every door, to "what kind of data file is this?": a table, a token file or questions.

The Data tab, the CLI and :func:`kdemo.train` all ask :func:`sniff`; the task of a table is then decided from its
labels (:func:`kdemo.data.labels.detect_task`), the task of a token or question file by its kind
(:data:`kdemo.tasks.SPECS`).
"""

from __future__ import annotations

from pathlib import Path

from kdemo.data.qa_files import looks_like_qa_file
from kdemo.data.tables import SUPPORTED_SUFFIXES
from kdemo.data.token_files import looks_like_token_file
from kdemo.tasks import QUESTIONS, TABLE, TOKENS

#: Suffixes that are token files whatever their content looks like (CoNLL, BIO, IOB column files).
TOKEN_SUFFIXES = (".conll", ".bio", ".iob")
#: Every suffix an upload may have (the Data tab's and the Predict tab's file boxes); SQuAD files are ``.json``, one of
#: the table suffixes.
FILE_TYPES = (*SUPPORTED_SUFFIXES, *TOKEN_SUFFIXES)


def sniff(path: str | Path) -> str:
    """The kind of data in the file at ``path``.

    :data:`kdemo.tasks.QUESTIONS` for questions with contexts (SQuAD JSON, or a table with ``question`` and
    ``context`` columns: :func:`~kdemo.data.qa_files.looks_like_qa_file`), asked first, so a CSV of questions is
    not taken for a table; then :data:`kdemo.tasks.TOKENS` for a token file (a suffix in :data:`TOKEN_SUFFIXES`, or
    content that looks like one word and its tag per line or JSONL of tokens and tags,
    :func:`~kdemo.data.token_files.looks_like_token_file`); else :data:`kdemo.tasks.TABLE`.

    Reads at most the first :data:`kdemo.data.token_files.SNIFF_BYTES` bytes (a Parquet file's schema, an XLSX's
    first row); never raises for an unreadable file (the reader then says what is wrong).
    """
    if looks_like_qa_file(path):
        return QUESTIONS
    if Path(path).suffix.lower() in TOKEN_SUFFIXES or looks_like_token_file(path):
        return TOKENS
    return TABLE

"""kdemo.data.sniff: the one answer to "table or token file?" for every door."""

from __future__ import annotations

import json

from kdemo.data.sniff import FILE_TYPES, TOKEN_SUFFIXES, sniff
from kdemo.data.tables import SUPPORTED_SUFFIXES
from kdemo.tasks import TABLE, TOKENS


def test_tables_and_token_files_are_told_apart_by_suffix_or_content(tmp_path):
    files = {
        "reviews.csv": ("text,label\na fine film,positive\na dull film,negative\n", TABLE),
        "reviews.jsonl": ('{"text": "a fine film", "label": "positive"}\n', TABLE),
        "news.conll": ("John B-PER\n", TOKENS),  # the suffix alone says so
        "news.txt": ("John B-PER\nlives O\nin O\nBerlin B-LOC\n\nAcme B-ORG\nsells O\n", TOKENS),  # the content
        "words.jsonl": (json.dumps({"tokens": ["John", "lives"], "ner_tags": ["B-PER", "O"]}) + "\n", TOKENS),
    }
    for name, (content, kind) in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
        assert sniff(tmp_path / name) == kind, name


def test_an_unreadable_path_is_left_to_the_reader(tmp_path):
    assert sniff(tmp_path / "missing.csv") == TABLE  # read_table then says what is wrong


def test_the_upload_boxes_offer_every_suffix_a_reader_takes():
    assert set(FILE_TYPES) == set(SUPPORTED_SUFFIXES) | set(TOKEN_SUFFIXES)

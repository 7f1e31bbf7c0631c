"""kdemo.data.sniff: the one answer to "table, token file or questions?" for every door."""

from __future__ import annotations

import json

from kdemo.data.sniff import FILE_TYPES, TOKEN_SUFFIXES, sniff
from kdemo.data.tables import SUPPORTED_SUFFIXES
from kdemo.tasks import QUESTIONS, TABLE, TOKENS


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


def test_question_files_are_questions_even_when_they_are_tables(tmp_path):
    import pandas as pd

    squad = {"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "Rouen is in France.", "qas": [
        {"id": "q1", "question": "Where is Rouen?", "answers": [{"text": "France", "answer_start": 12}]}]}]}]}
    (tmp_path / "squad.json").write_text(json.dumps(squad), encoding="utf-8")
    (tmp_path / "qa.csv").write_text('question,context,answers\nWhere?,In Rouen.,"{""text"": [""Rouen""], '
                                     '""answer_start"": [3]}"\n', encoding="utf-8")
    (tmp_path / "qa.jsonl").write_text(json.dumps({"question": "Where?", "context": "In Rouen."}) + "\n")
    pd.DataFrame({"question": ["Where?"], "context": ["In Rouen."]}).to_parquet(tmp_path / "qa.parquet")
    for name in ("squad.json", "qa.csv", "qa.jsonl", "qa.parquet"):
        assert sniff(tmp_path / name) == QUESTIONS, name
    # a table with a question column but no context stays a table (e.g. question / label)
    (tmp_path / "intents.csv").write_text("question,label\nwhere is it?,location\n", encoding="utf-8")
    assert sniff(tmp_path / "intents.csv") == TABLE

"""A corpus of malformed or tricky files: each loads correctly, or fails with a message naming the problem and the row.

The text files live in ``tests/fixtures/malformed/`` (hand-made, a few bytes each; open them in the app to see the
messages). XLSX and Parquet files are written by the tests. Row numbers count data rows from 1 (header not counted).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdemo.data.columns import check_columns, guess_columns, split_train_val
from kdemo.data.doctor import diagnose
from kdemo.data.labels import detect_task, guess_label_columns, parse_labels
from kdemo.data.tables import read_info, read_table
from kdemo.errors import DataError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "malformed"

# file -> (columns, rows, encoding, delimiter): the table as it must load.
LOADS = {
    "quoted_newlines.csv": (["text", "label"], [["first line\nsecond line", "pos"], ['He said "hi",\nthen left', "neg"],
                                                ["plain", "pos"]], "UTF-8", ","),
    "utf8_bom.csv": (["text", "label"], [["café crème", "pos"], ["naïve", "neg"]], "UTF-8 (with BOM)", ","),
    "latin1.csv": (["text", "label"], [["un café noir", "pos"], ["à éviter", "neg"], ["très bien", "pos"]],
                   "Windows-1252 (Western European)", ","),
    "excel_unicode_text.txt": (["text", "label"], [["über gut", "pos"], ["日本語のテキスト", "neg"]],
                               "UTF-16 LE (with BOM)", "\t"),
    "utf16le_no_bom.csv": (["text", "label"], [["good", "pos"], ["bad", "neg"]], "UTF-16 LE (no BOM)", ","),
    "header_with_spaces.csv": (["Text", "Label"], [["nice", "pos"], ["bad", "neg"]], "UTF-8", ","),
    "tabs.tsv": (["sentence", "label"], [["a, b, c", "1"], ["d; e", "0"]], "UTF-8", "\t"),
    "semicolon.csv": (["text", "label"], [["nice, really nice", "pos"], ["bad, so bad", "neg"]], "UTF-8", ";"),
    "crlf.csv": (["text", "label"], [["good", "pos"], ["bad", "neg"]], "UTF-8", ","),
    "blank_lines.csv": (["text", "label"], [["good", "pos"], ["bad", "neg"]], "UTF-8", ","),
    "numeric_labels.csv": (["text", "label"], [["one star", "1"], ["three stars", "3"], ["five stars", "5.0"],
                                               ["two stars", "2"]], "UTF-8", ","),
    "multilabel_pipe.csv": (["text", "labels"], [["so happy", "joy"], ["wow and yay", "joy|surprise"],
                                                 ["hm", "neutral"]], "UTF-8", ","),
    "onehot_labels.csv": (["text", "toxic", "insult", "threat"],
                          [["you idiot", "1", "1", "0"], ["hello", "0", "0", "0"], ["I will find you", "0", "0", "1"]],
                          "UTF-8", ","),
    "regression.csv": (["text", "score"], [["meh", "2.5"], ["great", "4.75"], ["awful", "0.5"]], "UTF-8", ","),
    "records.jsonl": (["text", "labels"], [["good", ["joy"]], ["wow", ["joy", "surprise"]]], "UTF-8", None),
    "single_row.csv": (["text", "label"], [["the only review", "pos"]], "UTF-8", ","),
    "same_label.csv": (["text", "label"], [["good", "pos"], ["great", "pos"], ["superb", "pos"]], "UTF-8", ","),
    "empty_labels.csv": (["text", "label"], [["good", "pos"], ["bad", np.nan], ["fine", "pos"], ["awful", "   "]],
                         "UTF-8", ","),
    "nan_labels.csv": (["text", "label"], [["good", "pos"], ["bad", "NaN"], ["fine", "pos"], ["awful", "neg"],
                                           ["meh", "null"]], "UTF-8", ","),
}

# file -> patterns that must all occur in the error message (the problem, and the row/line where there is one).
FAILS = {
    "ragged_row.csv": [r"Expected 2 fields", r"3 fields in row 2 \(line 3 of the file\)", r"double quotes"],
    "quoted_newlines_then_ragged.csv": [r"Expected 2 fields", r"3 fields in row 3 \(line 6 of the file\)"],
    "unclosed_quote.csv": [r"1 field in row 2 \(lines 3–4 of the file\)", r"quote .* opened in row 2 .* never closed"],
    "trailing_delimiter.csv": [r"3 fields in row 1 \(line 2 of the file\)", r"extra ','"],
    "bad_line.jsonl": [r"one JSON object per line", r"line 3 is not valid JSON"],
    "duplicate_header.csv": [r"unique column names", r"\['label'\] more than once"],
    "empty.csv": [r"'empty\.csv' is empty"],
    "header_only.csv": [r"no data rows"],
    "binary_garbage.csv": [r"binary \(NUL\) bytes", r"line 3", r"PNG image"],
}


def test_every_fixture_has_a_case_and_the_corpus_is_large_enough():
    files = {p.name for p in FIXTURES.iterdir()}
    assert files == set(LOADS) | set(FAILS)
    assert not set(LOADS) & set(FAILS)
    assert len(files) >= 15


@pytest.mark.parametrize("name", sorted(LOADS))
def test_file_loads_correctly(name):
    columns, rows, encoding, delimiter = LOADS[name]
    df = read_table(FIXTURES / name)
    assert list(df.columns) == columns
    assert len(df) == len(rows)
    for got, want in zip(df.values.tolist(), rows):
        assert [g if not (isinstance(g, float) and np.isnan(g)) else "NaN!" for g in got] == [
            w if not (isinstance(w, float) and np.isnan(w)) else "NaN!" for w in want
        ]
    info = read_info(df)
    assert info["encoding"] == encoding and info["delimiter"] == delimiter and info["file"] == name


@pytest.mark.parametrize("name", sorted(FAILS))
def test_file_fails_naming_the_problem_and_the_row(name):
    with pytest.raises(DataError) as info:
        read_table(FIXTURES / name)
    message = str(info.value)
    assert name in message
    for pattern in FAILS[name]:
        assert re.search(pattern, message), (pattern, message)
    assert "Traceback" not in message and "C error" not in message


# ------------------------------------------------------------------------------------------------ what loads, checked
def test_latin1_file_says_which_encoding_and_where_utf8_broke():
    (note,) = read_info(read_table(FIXTURES / "latin1.csv"))["notes"]
    assert "not valid UTF-8 (byte 0xe9 on line 2)" in note and "Windows-1252" in note and "re-save" in note


def test_blank_lines_are_noted_not_silently_dropped():
    (note,) = read_info(read_table(FIXTURES / "blank_lines.csv"))["notes"]
    assert "Skipped 2 blank line(s)" in note and "[3, 4]" in note


def test_empty_and_nan_labels_are_reported_with_rows_by_every_check():
    for name, rows in (("empty_labels.csv", [2, 4]), ("nan_labels.csv", [2, 5])):
        df = read_table(FIXTURES / name)
        with pytest.raises(DataError, match=re.escape(f"2 rows without one (rows {rows})")):
            check_columns(df, "text", "label")
        with pytest.raises(DataError, match=re.escape(f"(rows {rows})")):
            parse_labels(df, "label")
        report = diagnose(df, "text", "label")
        (problem,) = [p for p in report.problems if p.kind == "missing_label"]
        assert problem.severity == "error" and list(problem.rows) == rows
        assert not report.ok


def test_numeric_labels_are_classes_and_5_0_is_5():
    df = read_table(FIXTURES / "numeric_labels.csv")
    assert detect_task(df, "label") == "single_label"
    labels, classes = parse_labels(df, "label")
    assert labels == ["1", "3", "5", "2"]
    assert classes == ["1", "2", "3", "5"]  # numeric order


def test_single_row_cannot_be_split_or_trained():
    df = read_table(FIXTURES / "single_row.csv")
    with pytest.raises(DataError, match="enough rows"):
        split_train_val(df, "label", 0.1)
    report = diagnose(df, "text", "label")
    assert [p.kind for p in report.errors] == ["too_few_classes"]
    assert "at least 2 different labels" in report.errors[0].message and "(1 rows)" in report.errors[0].message


def test_label_column_that_is_all_the_same():
    df = read_table(FIXTURES / "same_label.csv")
    with pytest.raises(DataError, match=r"at least 2 different labels.*\['pos'\]"):
        check_columns(df, "text", "label")
    report = diagnose(df, "text", "label")
    assert [p.kind for p in report.errors] == ["too_few_classes"]
    assert report.class_counts == {"pos": 3}


def test_label_formats_are_detected_and_parsed():
    pipe = read_table(FIXTURES / "multilabel_pipe.csv")
    assert detect_task(pipe, "labels") == "multi_label"
    assert parse_labels(pipe, "labels") == ([["joy"], ["joy", "surprise"], ["neutral"]], ["joy", "neutral", "surprise"])
    onehot = read_table(FIXTURES / "onehot_labels.csv")
    text, label = guess_columns(onehot)
    assert text == "text"
    cols = guess_label_columns(onehot, text, label)
    assert cols == ["toxic", "insult", "threat"]
    assert detect_task(onehot, cols) == "multi_label"
    # classes in the order of the label columns, as ktrain's texts_from_df keeps them
    assert parse_labels(onehot, cols) == ([["toxic", "insult"], [], ["threat"]], ["toxic", "insult", "threat"])
    reg = read_table(FIXTURES / "regression.csv")
    assert detect_task(reg, "score") == "regression"
    values, names = parse_labels(reg, "score")
    np.testing.assert_allclose(values, [2.5, 4.75, 0.5])
    assert names == ["score"]
    records = read_table(FIXTURES / "records.jsonl")
    assert detect_task(records, "labels") == "multi_label"
    assert parse_labels(records, "labels")[0] == [["joy"], ["joy", "surprise"]]


# ---------------------------------------------------------------------------------------------------- XLSX and Parquet
def test_xlsx_first_sheet_numbers_as_strings_header_trimmed_and_other_sheets_noted(tmp_path):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        reviews = pd.DataFrame({" text ": ["good", "bad", "meh"], "label ": [1, 0, None]})
        reviews.to_excel(writer, sheet_name="reviews", index=False)
        pd.DataFrame({"other": [1]}).to_excel(writer, sheet_name="notes", index=False)
    df = read_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df["label"].tolist()[:2] == ["1", "0"]  # whole numbers without ".0", as in a CSV
    assert pd.isna(df["label"].iloc[2])
    (note,) = read_info(df)["notes"]
    assert "'reviews'" in note and "2 sheets" in note
    report = diagnose(df, "text", "label")
    assert [p.rows for p in report.problems if p.kind == "missing_label"] == [(3,)]


def test_parquet_with_list_and_float_columns(tmp_path):
    path = tmp_path / "data.parquet"
    pd.DataFrame({
        "text": ["a", "b", "c"], "tags": [["x"], ["x", "y"], []], "score": [0.5, 1.25, None],
    }).to_parquet(path)
    df = read_table(path)
    assert df["tags"].tolist() == [["x"], ["x", "y"], []]
    assert df["score"].tolist()[:2] == ["0.5", "1.25"]
    assert detect_task(df, "tags") == "multi_label"
    assert parse_labels(df, "tags") == ([["x"], ["x", "y"], []], ["x", "y"])
    assert detect_task(df, "score") == "regression"
    with pytest.raises(DataError, match=r"rows \[3\]"):
        parse_labels(df, "score")


def test_broken_parquet_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"valid Parquet file.*'broken\.parquet'"):
        read_table(path)

"""Keep, drop and relabel decisions applied to each task's table, and the corrected file written back in each format
(read back by kdemo's own readers)."""

from __future__ import annotations

import pandas as pd
import pytest

from kdemo.data.tables import read_table
from kdemo.data.token_files import read_token_file
from kdemo.errors import DataError
from kdemo.run.label_issues.corrections import apply_corrections, token_frame, write_corrected


def _single() -> pd.DataFrame:
    return pd.DataFrame({"text": ["good", "bad", "fun", "dull"], "label": ["pos", "neg", "neg", "neg"],
                         "id": [10, 11, 12, 13]})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".xlsx"])
def test_single_label_round_trip_per_format(tmp_path, suffix):
    fixed = apply_corrections(_single(), {0: "keep", 1: "drop", 2: "pos"}, label_columns=["label"], task="single_label")
    assert fixed.to_dict("list") == {"text": ["good", "fun", "dull"], "label": ["pos", "pos", "neg"], "id": [10, 12, 13]}
    path = write_corrected(fixed, tmp_path / f"train{suffix}", tmp_path / "out" / f"fixed{suffix}")
    back = read_table(path)
    assert back["text"].tolist() == ["good", "fun", "dull"] and back["label"].tolist() == ["pos", "pos", "neg"]
    assert back["id"].astype(int).tolist() == [10, 12, 13]


def test_integer_classes_stay_integers_and_unknown_classes_are_refused():
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 1]})
    fixed = apply_corrections(df, {2: "0"}, label_columns="label", task="single_label")
    assert fixed["label"].tolist() == [0, 1, 0] and pd.api.types.is_integer_dtype(fixed["label"])
    with pytest.raises(DataError, match="among the classes"):
        apply_corrections(df, {0: "7"}, label_columns="label", task="single_label")
    with pytest.raises(DataError, match="rows 0 to 2"):
        apply_corrections(df, {3: "drop"}, label_columns="label", task="single_label")


def test_multi_label_cells_and_binary_columns():
    joined = pd.DataFrame({"text": ["a", "b", "c"], "labels": ["joy|fear", "fear", "anger"]})
    fixed = apply_corrections(joined, {0: "anger, joy", 1: "", 2: "drop"}, label_columns=["labels"],
                              task="multi_label")
    assert fixed["labels"].tolist() == ["anger|joy", ""]
    binary = pd.DataFrame({"text": ["a", "b"], "joy": [1, 0], "fear": [0, 1]})
    fixed = apply_corrections(binary, {1: "joy, fear"}, label_columns=["joy", "fear"], task="multi_label")
    assert fixed[["joy", "fear"]].values.tolist() == [[1, 0], [1, 1]]
    with pytest.raises(DataError, match="among the classes"):
        apply_corrections(binary, {0: "surprise"}, label_columns=["joy", "fear"], task="multi_label")


def test_regression_targets(tmp_path):
    df = pd.DataFrame({"text": ["a", "b"], "score": [1.5, 4.25]})
    fixed = apply_corrections(df, {1: "2.0"}, label_columns=["score"], task="regression")
    assert fixed["score"].tolist() == [1.5, 2.0]
    back = read_table(write_corrected(fixed, "x.jsonl", tmp_path / "s.jsonl"))  # read_table reads cells as text
    assert [float(v) for v in back["score"]] == [1.5, 2.0]
    with pytest.raises(DataError, match="number"):
        apply_corrections(df, {0: "high"}, label_columns=["score"], task="regression")


@pytest.mark.parametrize("suffix", [".conll", ".jsonl"])
def test_token_file_round_trip(tmp_path, suffix):
    src = tmp_path / "ner.conll"
    src.write_text("John\tB-PER\nlives\tO\nhere\tO\n\nAcme\tO\nsells\tO\n\nBerlin\tB-LOC\n", encoding="utf-8")
    frame = token_frame(read_token_file(src))
    fixed = apply_corrections(frame, {1: "B-ORG O", 2: "drop"}, label_columns=(), task="token_classification")
    back = read_token_file(write_corrected(fixed, f"ner{suffix}", tmp_path / f"fixed{suffix}"))
    assert back.words == [["John", "lives", "here"], ["Acme", "sells"]]
    assert back.tags == [["B-PER", "O", "O"], ["B-ORG", "O"]]
    with pytest.raises(DataError, match="one tag per word"):
        apply_corrections(frame, {0: "O O"}, label_columns=(), task="token_classification")


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(DataError, match="Write it as .csv"):
        write_corrected(_single(), "train.docx", tmp_path / "x.docx")

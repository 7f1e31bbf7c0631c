"""The data doctor: counts, imbalance and class weights, row-numbered problems, lengths, maxlen and batch size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA, sentiment_frame
from tiny_models import build_tokenizer

from kdemo.batch_size import MAX_BATCH_SIZE, suggest_batch_size
from kdemo.data import lengths
from kdemo.data.dataset import maxlen_covering
from kdemo.data.doctor import IMBALANCE_WARN, diagnose
from kdemo.data.tables import read_table
from kdemo.errors import DataError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "malformed"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """The tiny WordPiece tokenizer of the test models (``model_max_length`` 128)."""
    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def _kinds(report) -> list[str]:
    return [p.kind for p in report.problems]


def _problem(report, kind):
    (problem,) = [p for p in report.problems if p.kind == kind]
    return problem


def test_clean_balanced_data_has_no_problems(tokenizer):
    df = sentiment_frame(40)
    # no duplicates; letters, not digits, which the tiny vocabulary lacks (they would be [UNK])
    df["text"] = [f"{t} {chr(97 + i // 26)}{chr(97 + i % 26)}" for i, t in enumerate(df["text"])]
    report = diagnose(df, "text", "label", tokenizer=tokenizer, device="cpu")
    assert report.ok and report.problems == ()
    assert (report.rows, report.val_rows) == (40, None)
    assert report.task == report.detected_task == "single_label"
    assert report.class_names == ("negative", "positive")
    assert report.class_counts == {"negative": 20, "positive": 20}
    assert report.imbalance_ratio == 1.0 and report.class_weight is None
    lengths = [len(ids) for ids in tokenizer(df["text"].tolist())["input_ids"]]
    assert sum(report.length_hist_counts) == 40
    assert len(report.length_hist_edges) == len(report.length_hist_counts) + 1
    assert report.length_max == max(lengths) and report.length_p95 == int(np.ceil(np.quantile(lengths, 0.95)))
    assert report.suggested_maxlen == maxlen_covering(lengths, cap=128)
    assert report.suggested_maxlen % 8 == 0 and report.suggested_maxlen >= report.length_p95
    assert report.model_max_length == 128 and report.length_unit == "tokens"
    assert report.device == "cpu" and 1 <= report.suggested_batch_size <= 32
    assert "No problems found" in report.to_markdown()


def test_imbalance_warns_and_offers_balanced_weights_indexed_by_sorted_class_names():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(40)], "label": ["zebra"] * 32 + ["ant"] * 6 + ["bee"] * 2})
    report = diagnose(df, "text", "label")
    assert report.class_counts == {"zebra": 32, "ant": 6, "bee": 2}  # most frequent first
    assert report.imbalance_ratio == 16.0
    assert report.class_names == ("ant", "bee", "zebra")
    assert report.class_weight == pytest.approx({0: 40 / (3 * 6), 1: 40 / (3 * 2), 2: 40 / (3 * 32)})
    problem = _problem(report, "imbalance")
    assert problem.severity == "warning" and "16.0×" in problem.message and "'zebra' (32 rows)" in problem.message
    assert "class_weight='balanced'" in problem.message
    assert "Balanced class weights offered" in report.to_markdown()


def test_mild_imbalance_is_not_flagged():
    labels = ["a"] * 29 + ["b"] * 10  # 2.9x
    report = diagnose(pd.DataFrame({"text": [f"t{i}" for i in range(39)], "label": labels}), "text", "label")
    assert report.imbalance_ratio < IMBALANCE_WARN
    assert "imbalance" not in _kinds(report) and report.class_weight is None


def test_row_numbered_problems_empty_texts_labels_duplicates_singletons():
    df = pd.DataFrame({
        "text": ["good", "  ", "bad", "good", None, "bad", "fine", "fine", "odd"],
        "label": ["pos", "pos", "neg", "pos", "neg", "pos", "pos", "", "rare"],
    })
    report = diagnose(df, "text", "label")
    assert report.empty_text_rows == (2, 5)
    assert _problem(report, "empty_text").rows == (2, 5)
    assert _problem(report, "missing_label").rows == (8,)
    assert report.duplicate_groups == ((1, 4), (3, 6), (7, 8))
    assert "3 rows repeat an earlier text" in _problem(report, "duplicates").message
    assert _problem(report, "conflicting_duplicates").rows == (3, 6, 7, 8)  # bad: neg/pos; fine: pos/(missing)
    assert report.singleton_labels == {"rare": 9}
    assert "'rare' (row 9)" in _problem(report, "singleton_label").message
    assert [p.severity for p in report.problems][:2] == ["error", "error"]  # errors first
    assert not report.ok
    text = report.to_markdown()
    assert "rows [2, 5]" in text and "Row numbers count data rows from 1" in text


def test_validation_overlap_and_unknown_labels_are_found_with_rows_on_both_sides():
    train = pd.DataFrame({"text": ["a", "b", "c", "d", "b"], "label": ["x", "y", "x", "y", "y"]})
    val = pd.DataFrame({"text": ["z", "b", "q", "a"], "label": ["x", "y", "new", "x"]})
    report = diagnose(train, "text", "label", val_df=val)
    assert report.val_rows == 4
    assert report.overlap_rows == (1, 2, 5) and report.overlap_val_rows == (2, 4)
    overlap = _problem(report, "overlap")
    assert "2 texts occur in both" in overlap.message and overlap.val_rows == (2, 4)
    unknown = _problem(report, "unknown_val_label")
    assert unknown.severity == "error" and unknown.val_rows == (3,) and "rows [3]" in unknown.message


def test_validation_table_missing_a_column_is_refused():
    train = sentiment_frame(10)
    with pytest.raises(DataError, match=r"columns \['label'\] in the validation table"):
        diagnose(train, "text", "label", val_df=train.rename(columns={"label": "y"}))
    with pytest.raises(DataError, match=r"\['stars'\] in the training table"):
        diagnose(train, "text", "stars")
    with pytest.raises(DataError, match="task"):
        diagnose(train, "text", "label", task="ranking")


def test_multi_label_counts_rows_per_label_without_class_weights():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(8)],
                       "labels": ["joy", "joy|fear", "joy", "joy", "joy|anger", "joy", "anger", "joy"]})
    report = diagnose(df, "text", "labels")
    assert report.task == "multi_label" and report.class_names == ("anger", "fear", "joy")
    assert report.class_counts == {"joy": 7, "anger": 2, "fear": 1}
    assert report.imbalance_ratio == 7.0 and report.class_weight is None
    assert "imbalance" in _kinds(report)
    assert report.singleton_labels == {"fear": 2}


def test_one_hot_columns_with_a_bad_value_name_column_and_row():
    df = pd.DataFrame({"text": ["a", "b", "c"], "toxic": ["1", "0", "2"], "insult": ["0", "1", "0"]})
    report = diagnose(df, "text", ["toxic", "insult"])
    problem = _problem(report, "bad_label")
    assert report.task == "multi_label" and problem.rows == (3,)
    assert "'2' in column 'toxic'" in problem.message


def test_regression_stats_and_override_to_regression_on_strings():
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "score": ["0.5", "1.5", "2.5", "3.5"]})
    report = diagnose(df, "text", "score")
    assert report.task == "regression" and report.class_counts == {} and report.imbalance_ratio is None
    std = np.std([0.5, 1.5, 2.5, 3.5])
    assert report.target_stats == pytest.approx({"min": 0.5, "max": 3.5, "mean": 2.0, "std": std})
    assert report.ok
    words = pd.DataFrame({"text": ["a", "b", "c"], "label": ["1", "two", "3"]})
    forced = diagnose(words, "text", "label", task="regression")
    assert (forced.task, forced.detected_task) == ("regression", "single_label")
    assert _problem(forced, "bad_label").rows == (2,) and "'two'" in _problem(forced, "bad_label").message
    assert "chosen; detected: single_label" in forced.to_markdown()


def test_id_like_label_column_is_an_error():
    df = pd.DataFrame({"text": [f"text {i}" for i in range(300)], "id": [f"row-{i}" for i in range(300)]})
    assert "too_many_classes" in _kinds(diagnose(df, "text", "id"))


def test_texts_longer_than_the_model_maximum_are_listed(tokenizer):
    df = sentiment_frame(20)
    df.loc[[3, 11], "text"] = " ".join(["good"] * 200)
    report = diagnose(df, "text", "label", tokenizer=tokenizer)
    problem = _problem(report, "truncated")
    assert problem.severity == "info" and problem.rows == (4, 12) and "maximum of 128 tokens" in problem.message
    assert report.suggested_maxlen <= 128 and report.length_max == 202


def test_large_tables_are_sampled_for_lengths_but_every_truncated_row_is_found(tokenizer, monkeypatch):
    monkeypatch.setattr(lengths, "MAX_TOKENIZED_ROWS", 10)
    df = sentiment_frame(60)
    df.loc[[5, 47], "text"] = " ".join(["good"] * 200)
    report = diagnose(df, "text", "label", tokenizer=tokenizer)
    assert sum(report.length_hist_counts) == 10
    assert _problem(report, "truncated").rows == (6, 48)
    assert report.length_max == 202
    assert "random sample of 10 of 60 rows" in _problem(report, "file_note").message


def test_without_tokenizer_lengths_are_words_and_no_maxlen_is_suggested():
    report = diagnose(pd.DataFrame({"text": ["one two three", "four"], "label": ["a", "b"]}), "text", "label")
    assert report.length_unit == "words" and report.length_max == 3 and report.suggested_maxlen is None


def test_encoding_note_reaches_the_report_and_the_markdown():
    df = read_table(FIXTURES / "latin1.csv")
    report = diagnose(df, "text", "label")
    assert report.files[0]["encoding"] == "Windows-1252 (Western European)"
    note = _problem(report, "encoding_unsure")  # three short rows: too few accents to be sure
    assert note.severity == "warning" and "not valid UTF-8" in note.message and "unsure" in note.message
    text = report.to_markdown()
    assert "encoding **Windows-1252 (Western European)** (detected by charset-normalizer" in text
    assert "unsure" in text and "latin1.csv" in text


def test_to_dict_is_json_ready():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(10)] + ["t0"], "label": ["a"] * 9 + ["b"] * 2})
    data = diagnose(df, "text", "label").to_dict()
    assert data["class_weight"].keys() == {"0", "1"}  # strict JSON encoders (orjson, used by Gradio) need str keys
    again = json.loads(json.dumps(data))
    assert again["rows"] == 11 and again["ok"] is True
    assert again["class_weight"] == {"0": pytest.approx(11 / 18), "1": pytest.approx(11 / 4)}
    assert again["duplicate_groups"] == [[1, 11]]
    assert {p["kind"] for p in again["problems"]} >= {"imbalance", "duplicates"}


def test_batch_size_follows_memory_and_maxlen():
    gib = 2**30
    assert suggest_batch_size(128, "cuda", free_bytes=80 * gib) == MAX_BATCH_SIZE
    assert suggest_batch_size(128, "cpu", free_bytes=80 * gib) == 32  # CPU cap
    small = [suggest_batch_size(n, "cuda", free_bytes=6 * gib) for n in (64, 128, 256, 512)]
    assert small == sorted(small, reverse=True) and small[0] > small[-1]
    assert all(b & (b - 1) == 0 for b in small)  # powers of two
    assert suggest_batch_size(512, "cuda", free_bytes=1 * gib) == 1  # not enough for the weights: still 1
    # At maxlen 128 one sequence needs 2·128·12·768·(34 + 5·12·128/768) bytes ≈ 104 MB; 60 % of 8 GB minus
    # 1.76 GB of weights and optimizer state leaves room for 29 of them: 16.
    assert suggest_batch_size(128, "cuda", free_bytes=8_000_000_000) == 16


@pytest.mark.slow
def test_sms_spam_doctor_warns_offers_weights_and_finds_duplicates_and_overlap():
    folder = SHARED_DATA / "sms_spam"
    if not (folder / "train.csv").exists():
        pytest.skip(f"shared data not found at {folder}")
    from kdemo.modeling.classifier import load_tokenizer, resolve_model_source

    train, test = read_table(folder / "train.csv"), read_table(folder / "test.csv")
    report = diagnose(train, "text", "label", val_df=test, tokenizer=load_tokenizer(resolve_model_source(None)))
    counts = train["label"].value_counts()
    assert report.class_counts == {"ham": counts["ham"], "spam": counts["spam"]}
    assert report.imbalance_ratio >= IMBALANCE_WARN and "imbalance" in _kinds(report)
    n = len(train)
    assert report.class_weight == pytest.approx({0: n / (2 * counts["ham"]), 1: n / (2 * counts["spam"])})
    assert report.class_weight[1] > 3 > 1 > report.class_weight[0]
    assert report.duplicate_groups and "duplicates" in _kinds(report)
    assert len(train["text"]) - train["text"].nunique() == sum(len(g) - 1 for g in report.duplicate_groups)
    shared = set(train["text"]) & set(test["text"])
    assert len(shared) == 55  # the shared-data README: 55 exact train/test duplicates
    assert {train["text"][r - 1] for r in report.overlap_rows} == shared
    assert {test["text"][r - 1] for r in report.overlap_val_rows} == shared
    assert report.ok and report.suggested_maxlen is not None and report.suggested_maxlen % 8 == 0
    print(report.to_markdown())

"""Reading tables, choosing and checking columns, splitting, and texts_from_csv / texts_from_df."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import sentiment_frame

from kdemo.data.columns import check_columns, guess_columns, split_train_val
from kdemo.data.dataset import TextDataset
from kdemo.data.labels import sorted_class_names
from kdemo.data.tables import format_rows, read_info, read_table
from kdemo.errors import DataError
from kdemo.text.folders import read_folder, texts_from_folder
from kdemo.text.loaders import texts_from_csv, texts_from_df
from kdemo.text.preprocessor import Transformer


# ---------------------------------------------------------------------------------------------------- read_table
def test_read_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('text,label\n"hello, world",pos\nbye,neg\n', encoding="utf-8")
    df = read_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df["text"].tolist() == ["hello, world", "bye"]
    assert df["label"].tolist() == ["pos", "neg"]


def test_read_csv_keeps_values_as_strings(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\n007,1\nNA,0\n", encoding="utf-8")
    df = read_table(path)
    assert df["text"].tolist() == ["007", "NA"]  # no numeric conversion, "NA" is a text
    assert df["label"].tolist() == ["1", "0"]


def test_read_semicolon_csv_is_sniffed(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text;label\nnice film;pos\nbad film;neg\n", encoding="utf-8")
    df = read_table(path)
    assert list(df.columns) == ["text", "label"]
    assert df.shape == (2, 2)


def test_read_tsv(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("sentence\tlabel\na, b, c\t1\nd e\t0\n", encoding="utf-8")
    df = read_table(path)
    assert list(df.columns) == ["sentence", "label"]
    assert df["sentence"].tolist() == ["a, b, c", "d e"]


def test_read_jsonl(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"text": "great movie", "label": "pos"}, {"text": "awful — really", "label": "neg"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    df = read_table(path)
    assert df["text"].tolist() == ["great movie", "awful — really"]
    assert df["label"].tolist() == ["pos", "neg"]


def test_read_utf8_with_bom_and_header_whitespace(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeff text , label \ncafé crème,pos\nnaïve,neg\n".encode("utf-8"))
    df = read_table(path)
    assert list(df.columns) == ["text", "label"]  # no BOM and no spaces left in the header
    assert df["text"].tolist() == ["café crème", "naïve"]


def test_latin1_file_loads_with_a_note_naming_the_encoding_and_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nfine,pos\nok,neg\nun café noir,pos\n".encode("latin-1"))
    df = read_table(path)
    assert df["text"].tolist()[-1] == "un café noir"
    info = read_info(df)
    assert info["encoding"] == "Windows-1252 (Western European)"
    assert info["encoding_sure"] is False  # one accented byte is too little to tell Windows-1252 from its cousins
    (note,) = info["notes"]
    assert "not valid UTF-8" in note and "0xe9" in note and "line 4" in note and "latin.csv" in note
    assert "unsure" in note and "Encoding menu" in note


def test_explicit_encoding_that_does_not_fit_names_the_line_and_says_resave_as_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nfine,pos\nok,neg\nun café noir,pos\n".encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_table(path, encoding="utf-8")
    msg = str(info.value)
    assert "line 4" in msg and "0xe9" in msg and "latin.csv" in msg
    assert "UTF-8" in msg and "re-save" in msg.lower() and "Detect automatically" in msg
    assert read_table(path, encoding="latin-1")["text"].tolist()[-1] == "un café noir"
    assert read_info(read_table(path, encoding="latin-1"))["notes"] == []


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="empty"):
        read_table(path)


def test_header_only_file_has_no_data_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("text,label\n")
    with pytest.raises(DataError, match="no data rows"):
        read_table(path)


def test_binary_file_with_nul_bytes(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"text,label\n\x00\x01\x02\x03,pos\n")
    with pytest.raises(DataError, match="binary"):
        read_table(path)


def test_binary_file_that_is_not_text(tmp_path):
    path = tmp_path / "image.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    with pytest.raises(DataError, match="binary.*PNG image"):
        read_table(path)
    path.write_bytes(bytes(range(1, 256)) * 4)  # no NUL byte, but control characters everywhere
    with pytest.raises(DataError, match="control characters"):
        read_table(path)


def test_missing_file_unsupported_suffix_and_broken_workbook(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    path = tmp_path / "table.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"\.csv, \.tsv, \.jsonl, \.parquet or \.xlsx.*save as \.xlsx"):
        read_table(path)
    path = tmp_path / "table.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=r"valid Excel workbook.*table\.xlsx"):
        read_table(path)


def test_ragged_row_names_the_row_and_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\na,b\nc,d,e,f\n")
    with pytest.raises(DataError, match=r"Expected 2 fields.*4 fields in row 2 \(line 3 of the file\)"):
        read_table(path, sep=",")


def test_format_rows():
    assert format_rows([3]) == "rows [3]"
    assert format_rows(range(1, 13), limit=3) == "rows [1, 2, 3, … (12 in all)]"


# ---------------------------------------------------------------------------------------------------- guess_columns
@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["text", "label"], ("text", "label")),
        (["id", "sentence", "label"], ("sentence", "label")),
        (["Review", "Sentiment"], ("Review", "Sentiment")),
        (["category", "message"], ("message", "category")),
        (["content", "target", "source"], ("content", "target")),
    ],
)
def test_guess_columns_by_name(columns, expected):
    df = pd.DataFrame({c: [f"{c} value {i}" for i in range(6)] for c in columns})
    assert guess_columns(df) == expected


def test_guess_columns_unnamed():
    texts = [f"a rather long review number {i} of a film" for i in range(20)]
    df = pd.DataFrame({"Unnamed: 0": [str(i) for i in range(20)], "a": texts, "b": ["x", "y"] * 10})
    assert guess_columns(df) == ("a", "b")
    df = pd.DataFrame({"0": ["p", "q", "r"] * 4, "1": [f"text {i} is longer than the label" for i in range(12)]})
    assert guess_columns(df) == ("1", "0")


def test_guess_columns_single_column_and_no_columns():
    assert guess_columns(pd.DataFrame({"x": ["only", "texts"]})) == ("x", None)
    with pytest.raises(DataError):
        guess_columns(pd.DataFrame())


# ---------------------------------------------------------------------------------------------------- check_columns
def test_check_columns_ok():
    check = check_columns(sentiment_frame(40), "text", "label")
    assert check.num_rows == 40
    assert check.class_counts == {"negative": 20, "positive": 20}


def test_check_columns_missing_column_lists_available_ones():
    df = sentiment_frame(10)
    with pytest.raises(DataError) as info:
        check_columns(df, "review", "label")
    assert "'review'" in str(info.value) and "['text', 'label']" in str(info.value)
    with pytest.raises(DataError, match=r"label column 'stars'.*\['text', 'label'\]"):
        check_columns(df, "text", "stars")


def test_check_columns_empty_texts_lists_rows():
    df = sentiment_frame(10)
    df.loc[1, "text"] = ""
    df.loc[4, "text"] = "   "
    df.loc[7, "text"] = None
    with pytest.raises(DataError) as info:
        check_columns(df, "text", "label")
    msg = str(info.value)
    assert "3 empty rows" in msg
    assert "[2, 5, 8]" in msg  # 1-based data rows


def test_check_columns_empty_texts_from_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("text,label\ngood,pos\n,neg\nbad,neg\n")
    with pytest.raises(DataError, match=r"rows \[2\]"):
        check_columns(read_table(path), "text", "label")


def test_check_columns_missing_labels_lists_rows():
    df = sentiment_frame(6)
    df.loc[5, "label"] = None
    with pytest.raises(DataError, match=r"without one \(rows \[6\]\)"):
        check_columns(df, "text", "label")


def test_check_columns_single_class():
    df = pd.DataFrame({"text": ["a", "b", "c"], "label": ["pos", "pos", " pos "]})
    with pytest.raises(DataError, match="at least 2 different labels") as info:
        check_columns(df, "text", "label")
    assert "['pos']" in str(info.value)


def test_check_columns_id_like_label_column():
    n = 300
    df = pd.DataFrame({"text": [f"text {i}" for i in range(n)], "id": [f"row-{i}" for i in range(n)]})
    with pytest.raises(DataError, match="looks like a text or id column"):
        check_columns(df, "text", "id")


def test_check_columns_same_column_twice():
    with pytest.raises(DataError, match="different text and label columns"):
        check_columns(sentiment_frame(10), "text", "text")


# ---------------------------------------------------------------------------------------------------- split_train_val
def _imbalanced(n: int = 100) -> pd.DataFrame:
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    return pd.DataFrame({"text": [f"row {i}" for i in range(n)], "label": labels[:n]})


def test_split_is_stratified():
    train, val = split_train_val(_imbalanced(), "label", val_pct=0.2)
    assert len(train) == 80 and len(val) == 20
    assert val["label"].value_counts().to_dict() == {"a": 12, "b": 6, "c": 2}
    assert train["label"].value_counts().to_dict() == {"a": 48, "b": 24, "c": 8}
    assert set(train["text"]).isdisjoint(val["text"])
    assert set(train["text"]) | set(val["text"]) == set(_imbalanced()["text"])


def test_split_is_deterministic():
    df = _imbalanced()
    t1, v1 = split_train_val(df, "label", 0.2, random_state=0)
    t2, v2 = split_train_val(df, "label", 0.2, random_state=0)
    pd.testing.assert_frame_equal(t1, t2)
    pd.testing.assert_frame_equal(v1, v2)
    _, v3 = split_train_val(df, "label", 0.2, random_state=1)
    assert set(v3["text"]) != set(v1["text"])


def test_split_falls_back_to_unstratified_for_singleton_classes():
    df = pd.DataFrame({"text": [f"t{i}" for i in range(20)], "label": ["a"] * 10 + ["b"] * 9 + ["c"]})
    train, val = split_train_val(df, "label", 0.2)
    assert len(train) + len(val) == 20 and len(val) == 4


@pytest.mark.parametrize("val_pct", [0, 1, -0.1, 1.5])
def test_split_rejects_bad_val_pct(val_pct):
    with pytest.raises(DataError, match="val_pct"):
        split_train_val(_imbalanced(), "label", val_pct)


def test_split_rejects_tiny_tables():
    df = pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]})
    with pytest.raises(DataError, match="enough rows"):
        split_train_val(df, "label", 0.1)


# ---------------------------------------------------------------------------------------------------- texts_from_*
def test_sorted_class_names():
    assert sorted_class_names(["pos", "neg", "pos", "neutral"]) == ["neg", "neutral", "pos"]
    assert sorted_class_names([10, 2, 1, 2.0, "1"]) == ["1", "2", "10"]  # numeric sort, 2 == 2.0


def test_texts_from_csv(tiny_bert_dir, sentiment_csv):
    trn, val, preproc = texts_from_csv(
        sentiment_csv, "text", label_columns=["label"], model_name=str(tiny_bert_dir), val_pct=0.2, verbose=0
    )
    assert isinstance(trn, TextDataset) and isinstance(val, TextDataset)
    assert isinstance(preproc, Transformer)
    assert len(trn) == 160 and len(val) == 40
    assert preproc.get_classes() == ["negative", "positive"]
    assert trn.class_names == val.class_names == ["negative", "positive"]
    # Labels are encoded with the sorted class names, and the split is stratified.
    assert np.bincount(trn.labels).tolist() == [80, 80]
    assert np.bincount(val.labels).tolist() == [20, 20]
    for text, label in zip(val.texts, val.labels):
        words = set(text.split())
        positive = {"good", "great", "superb", "lovely", "fun", "brilliant", "witty", "gorgeous"}
        assert label == (1 if words & positive else 0)
    # maxlen=None picks a multiple of 8 that covers the texts.
    assert preproc.maxlen % 8 == 0
    assert preproc.maxlen >= 16
    assert trn.lengths.max() <= preproc.maxlen
    # Token ids come from the checkpoint's tokenizer, with special tokens.
    tok = preproc.get_tokenizer()
    assert trn.input_ids[0].tolist() == tok(trn.texts[0])["input_ids"]


def test_texts_from_csv_explicit_maxlen_and_val_file(tiny_bert_dir, tmp_path):
    train_path, val_path = tmp_path / "train.csv", tmp_path / "val.tsv"
    sentiment_frame(60).to_csv(train_path, index=False)
    sentiment_frame(10, seed=1).to_csv(val_path, index=False, sep="\t")
    trn, val, preproc = texts_from_csv(
        train_path, "text", "label", val_filepath=val_path, model_name=str(tiny_bert_dir), maxlen=6, verbose=0
    )
    assert len(trn) == 60 and len(val) == 10
    assert preproc.maxlen == 6
    assert trn.lengths.max() == 6  # long texts truncated to maxlen, special tokens included


def test_texts_from_df_detects_and_prepares_every_task(tiny_bert_dir):
    df = sentiment_frame(40)
    trn, val, preproc = texts_from_df(df, "text", model_name=str(tiny_bert_dir), verbose=0)
    assert preproc.get_classes() == ["negative", "positive"] and preproc.task == "single_label"
    with pytest.raises(DataError, match="Expected one label column"):
        texts_from_df(df.assign(other=df["label"]), "text", ["label", "other"], model_name=str(tiny_bert_dir), task="single_label")

    joined = df.assign(label=df["label"].where(df.index % 4 > 0, "negative|positive"))
    trn, val, preproc = texts_from_df(joined, "text", "label", model_name=str(tiny_bert_dir), verbose=0)
    assert preproc.task == "multi_label" and preproc.get_classes() == ["negative", "positive"]
    assert trn.labels.shape == (len(trn), 2) and set(np.unique(trn.labels)) == {0.0, 1.0}
    assert trn.labels.sum(axis=1).max() == 2  # the joined rows carry both labels

    _, _, preproc = texts_from_df(joined, "text", "label", model_name=str(tiny_bert_dir), verbose=0, task="single_label")
    assert preproc.get_classes() == ["negative", "negative|positive", "positive"]

    scored = df.assign(score=np.linspace(0.05, 0.95, len(df)))
    trn, _, preproc = texts_from_df(scored, "text", "score", model_name=str(tiny_bert_dir), verbose=0)
    assert preproc.task == "regression" and preproc.get_classes() == ["score"]
    assert trn.labels.shape == (len(trn), 1) and trn.labels.dtype == np.float32


def test_texts_from_df_unknown_validation_label(tiny_bert_dir):
    train = sentiment_frame(20)
    val = pd.DataFrame({"text": ["good", "bad", "meh"], "label": ["positive", "negative", "neutral"]})
    with pytest.raises(DataError, match=r"'neutral' at row 3"):
        texts_from_df(train, "text", "label", val_df=val, model_name=str(tiny_bert_dir), verbose=0)


def test_unreachable_hub_id_fails_at_once_naming_the_offline_default(monkeypatch):
    import kdemo
    from kdemo.modeling import classifier as models

    monkeypatch.setattr(models, "hub_reachable", lambda timeout_s=3.0: False)
    with pytest.raises(kdemo.ModelError) as info:
        kdemo.Transformer("some-org/model-that-is-not-cached")
    message = str(info.value)
    assert "cannot be reached" in message and kdemo.DEFAULT_MODEL_ID in message
    assert message.count("Could not") == 1


def test_invalid_model_ids_are_refused_before_any_download():
    import kdemo

    for bad in ("../no-such-folder-kdemo", "org/name with spaces", "a/b/c"):
        with pytest.raises(kdemo.ModelError, match="Expected a Hugging Face Hub model id"):
            kdemo.Transformer(bad)


# ---------------------------------------------------------------------------------------------------- folders
def _write_folder(root, layout: dict[str, list[str]]) -> None:
    for cls, texts in layout.items():
        (root / cls).mkdir(parents=True)
        for i, text in enumerate(texts):
            (root / cls / f"{i:03d}.txt").write_text(text + "\n", encoding="utf-8")


def test_read_folder_one_folder_per_class(tmp_path):
    _write_folder(tmp_path, {"pos": ["great film", "lovely"], "neg": ["dull", "bad", "awful"]})
    (tmp_path / "pos" / "notes.md").write_text("not a text")
    (tmp_path / "neg" / "003.txt").write_bytes("un café noir".encode("latin-1"))
    df = read_folder(tmp_path)
    assert df["label"].tolist() == ["neg"] * 4 + ["pos"] * 2  # sorted by class, then file
    assert df["text"].tolist() == ["dull", "bad", "awful", "un café noir", "great film", "lovely"]
    assert df["file"].tolist()[0] == str(Path("neg") / "000.txt")
    notes = read_info(df)["notes"]
    assert any("003.txt" in n and "Windows-1252" in n for n in notes)
    assert any("notes.md" in n and "Skipped 1" in n for n in notes)
    assert read_folder(tmp_path, classes=["pos", "neg"])["label"].tolist()[:2] == ["pos", "pos"]


def test_read_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        read_folder(tmp_path / "missing")
    _write_folder(tmp_path / "one", {"pos": ["good"]})
    with pytest.raises(DataError, match=r"one subfolder per class \(at least 2\).*\['pos'\]"):
        read_folder(tmp_path / "one")
    _write_folder(tmp_path / "two", {"pos": ["good", "   "], "neg": ["bad"]})
    with pytest.raises(DataError, match=r"1 empty file\(s\): \['pos/001.txt'\]"):
        read_folder(tmp_path / "two")
    with pytest.raises(DataError, match=r"class folders \['neutral'\].*\['neg', 'pos'\]"):
        read_folder(tmp_path / "two", classes=["pos", "neutral"])
    (tmp_path / "three" / "pos").mkdir(parents=True)
    _write_folder(tmp_path / "three", {"neg": ["bad"]})
    with pytest.raises(DataError, match=r"Expected \.txt files in the class folder .*pos"):
        read_folder(tmp_path / "three")


def test_texts_from_folder_train_test_layout(tiny_bert_dir, tmp_path):
    frame = sentiment_frame(40)
    val_frame = sentiment_frame(10, seed=1)
    for split, data in (("train", frame), ("test", val_frame)):
        _write_folder(tmp_path / split, {c: data.loc[data["label"] == c, "text"].tolist() for c in ("negative", "positive")})
    trn, val, preproc = texts_from_folder(tmp_path, model_name=str(tiny_bert_dir), maxlen=32, verbose=0)
    assert len(trn) == 40 and len(val) == 10  # test/ is the validation set, nothing split off
    assert preproc.get_classes() == ["negative", "positive"]
    assert sorted(val.texts) == sorted(val_frame["text"])
    assert np.bincount(val.labels).tolist() == [5, 5]


def test_texts_from_folder_flat_layout_splits_validation(tiny_bert_dir, tmp_path):
    frame = sentiment_frame(40)
    _write_folder(tmp_path, {c: frame.loc[frame["label"] == c, "text"].tolist() for c in ("negative", "positive")})
    trn, val, preproc = texts_from_folder(tmp_path, model_name=str(tiny_bert_dir), val_pct=0.25, verbose=0)
    assert len(trn) == 30 and len(val) == 10
    assert np.bincount(val.labels).tolist() == [5, 5]  # stratified

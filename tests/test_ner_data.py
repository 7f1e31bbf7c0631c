"""NER data side: tag schemes, token files (CoNLL columns, JSON Lines), windows of sub-words, the preprocessor."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from kdemo.errors import DataError
from kdemo.tasks import Task
from kdemo.text.ner import (
    NERPreprocessor,
    TokenDataset,
    detect_scheme,
    entity_spans,
    looks_like_token_file,
    read_token_file,
    repair_bio,
    split_words,
    to_bio,
)
from tiny_models import build_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """The tiny WordPiece tokenizer of tests/tiny_models.py (BERT's special tokens, no token_type_ids)."""
    return build_tokenizer(tmp_path_factory.mktemp("ner-tok"))


# ---------------------------------------------------------------------------------------------------- schemes
def test_detect_scheme_tells_bio_iob1_bioes_and_io_apart():
    assert detect_scheme([["B-PER", "I-PER", "O", "B-LOC"]]) == "BIO"
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]]) == "IOB1"
    assert detect_scheme([["S-PER", "O", "B-LOC", "E-LOC"]]) == "BIOES"
    assert detect_scheme([["PER", "PER", "O", "LOC"]]) == "IO"
    assert detect_scheme([["O", "O"]]) == "BIO"
    # A BIO file with one lone I- stays BIO (it is repaired, not converted).
    assert detect_scheme([["B-PER", "O", "B-LOC"], ["O", "I-ORG"], ["B-MISC"]]) == "BIO"


def test_to_bio_converts_each_scheme_without_changing_the_spans():
    assert to_bio(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "IOB1") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert to_bio(["S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"], "BIOES") == ["B-PER", "B-LOC", "I-LOC", "I-LOC", "B-LOC"]
    assert to_bio(["U-PER", "B-LOC", "L-LOC"], "BIOES") == ["B-PER", "B-LOC", "I-LOC"]
    assert to_bio(["PER", "PER", "O", "LOC", "ORG"], "IO") == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG"]
    with pytest.raises(ValueError, match="scheme"):
        to_bio(["O"], "XYZ")


def test_repair_bio_turns_a_lone_i_into_b_and_lists_the_fixes():
    tags, fixes = repair_bio(["I-PER", "I-PER", "O", "I-LOC", "B-ORG", "I-MISC"])
    assert tags == ["B-PER", "I-PER", "O", "B-LOC", "B-ORG", "B-MISC"]
    assert fixes == [(0, "I-PER", "B-PER"), (3, "I-LOC", "B-LOC"), (5, "I-MISC", "B-MISC")]
    assert repair_bio(["B-PER", "I-PER"]) == (["B-PER", "I-PER"], [])


def test_entity_spans_are_type_start_and_exclusive_end():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-ORG"]) == [
        ("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("ORG", 5, 6)]
    assert entity_spans(["O", "O"]) == []


# ---------------------------------------------------------------------------------------------------- formats
def test_read_conll_columns_with_docstart_and_line_numbers(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("-DOCSTART- -X- O O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
                    "Blackburn NNP I-NP I-PER\n")
    corpus = read_token_file(path)
    assert corpus.words == [["EU", "rejects"], ["Peter", "Blackburn"]]
    assert corpus.tags == [["B-ORG", "O"], ["B-PER", "I-PER"]]
    assert corpus.line_numbers == [3, 6]
    assert corpus.scheme == "BIO" and corpus.warnings == []
    assert looks_like_token_file(path)


def test_read_jsonl_with_tag_names(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [{"tokens": ["John", "lives"], "ner_tags": ["B-PER", "O"]}, {"tokens": ["Berlin"], "ner_tags": ["B-LOC"]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    corpus = read_token_file(path)
    assert corpus.words == [["John", "lives"], ["Berlin"]]
    assert corpus.tags == [["B-PER", "O"], ["B-LOC"]]
    assert corpus.line_numbers == [1, 2]
    assert looks_like_token_file(path)


def test_a_csv_table_is_not_a_token_file(tmp_path, sentiment_csv):
    assert not looks_like_token_file(sentiment_csv)
    assert not looks_like_token_file(tmp_path / "missing.txt")


# ---------------------------------------------------------------------------------------------------- dataset
def test_windows_split_a_long_sentence_at_word_boundaries(tokenizer):
    preproc = NERPreprocessor(maxlen=8, tokenizer=tokenizer)
    words = [["the", "movie", "xyzzy", "a", "good", "film", "the", "stock"], ["a"]]
    tags = [["O", "B-PER", "I-PER", "O", "O", "O", "O", "B-ORG"], ["O"]]
    ds = preproc.preprocess_train(words, tags, line_numbers=[3, 13])
    assert isinstance(ds, TokenDataset) and len(ds) > 2 and ds.nsamples() == 2
    assert all(n <= 8 for n in ds.lengths)
    assert ds.window_sentence.tolist() == [0] * (len(ds) - 1) + [1]
    # Every word of sentence 0 is in exactly one window, in order, and no word is cut across windows.
    seen = np.concatenate([w[w >= 0] for w, s in zip(ds.word_ids, ds.window_sentence) if s == 0])
    assert sorted(set(seen.tolist())) == list(range(8))
    firsts = [np.unique(w[w >= 0]) for w, s in zip(ds.word_ids, ds.window_sentence) if s == 0]
    assert sum(len(f) for f in firsts) == 8
    assert any("sentence 1 (line 3)" in w and "split at word boundaries" in w for w in ds.warnings)
    # Labels: the tag id on the first sub-word of each word, -100 on the rest and on special tokens.
    names = preproc.get_classes()
    per_word = ds.words_from_windows(ds.labels)
    assert [names[i] for i in per_word[0]] == tags[0]
    assert sum(int((lab != -100).sum()) for lab in ds.labels) == 9
    assert all(lab[0] == -100 and lab[-1] == -100 for lab in ds.labels)


def test_collate_and_batch_labels_pad_to_the_longest_window(tokenizer):
    preproc = NERPreprocessor(maxlen=32, tokenizer=tokenizer)
    ds = preproc.preprocess_train([["the", "movie", "was", "good"], ["a"]], [["O", "B-MISC", "O", "O"], ["O"]])
    batch = ds.collate([0, 1])
    assert set(batch) == {"input_ids", "attention_mask"}
    assert batch["input_ids"].shape == (2, 6) and batch["input_ids"].dtype == np.int64
    assert batch["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert batch["input_ids"][1, 3:].tolist() == [tokenizer.pad_token_id] * 3
    labels = ds.batch_labels([0, 1])
    assert labels.shape == (2, 6)
    assert labels[1].tolist() == [-100, 0, -100, -100, -100, -100]
    sub = ds.subset([1])
    assert sub.words == [["a"]] and sub.window_sentence.tolist() == [0] and len(sub) == 1


def test_a_word_that_makes_no_token_is_read_as_unk(tokenizer):
    preproc = NERPreprocessor(maxlen=32, tokenizer=tokenizer)
    ds = preproc.preprocess_train([["the", "\u00a0", "film"]], [["O", "B-PER", "O"]])
    assert ds.word_ids[0].tolist() == [-1, 0, 1, 2, -1]
    assert ds.input_ids[0][2] == tokenizer.unk_token_id
    assert any("makes no token" in w and "word 2" in w for w in ds.warnings)


def test_a_word_longer_than_a_window_keeps_its_first_sub_words(tokenizer):
    preproc = NERPreprocessor(maxlen=5, tokenizer=tokenizer)
    ds = preproc.preprocess_train([["a", "xyzzyq", "a"]], [["O", "B-PER", "O"]])
    assert all(n <= 5 for n in ds.lengths)
    assert any("longer than a whole window" in w for w in ds.warnings)
    assert [ds.class_names[i] for i in ds.words_from_windows(ds.labels)[0]] == ["O", "B-PER", "O"]


def test_tokenizing_is_batched_and_fast(tokenizer):
    words = [["the", "movie", "was", "good", "and", "the", "plot", "was", "fun"]] * 5000
    tags = [["O", "B-MISC", "O", "O", "O", "O", "O", "O", "O"]] * 5000
    start = time.perf_counter()
    ds = NERPreprocessor(maxlen=128, tokenizer=tokenizer).preprocess_train(words, tags)
    assert len(ds) == 5000
    assert time.perf_counter() - start < 10  # about 0.5 s alone; generous for a busy 2-core machine


# ---------------------------------------------------------------------------------------------------- preprocessor
def test_preprocessor_fixes_a_deterministic_tag_list_and_round_trips(tokenizer):
    preproc = NERPreprocessor(maxlen=64, tokenizer=tokenizer)
    assert preproc.task == Task.TOKEN_CLASSIFICATION
    with pytest.raises(DataError, match="Expected a tag list"):
        preproc.get_classes()
    preproc.preprocess_train([["a", "the"]], [["B-PER", "I-LOC"]])
    assert preproc.get_classes() == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    d = preproc.to_dict()
    assert json.loads(json.dumps(d)) == d and d["maxlen"] == 64
    again = NERPreprocessor.from_dict(d, tokenizer)
    assert again.get_classes() == preproc.get_classes() and again.maxlen == 64
    with pytest.raises(DataError, match="'B-ORG'.*sentence 1"):
        again.preprocess_test([["a"]], [["B-ORG"]])
    test = again.preprocess_test([["a", "the"]])
    assert test.labels is None and test.tags is None
    with pytest.raises(DataError, match="without tags"):
        test.batch_labels([0])


def test_preprocess_splits_raw_sentences_like_ktrain(tokenizer):
    preproc = NERPreprocessor(maxlen=64, tokenizer=tokenizer, class_names=["O", "B-PER", "I-PER"])
    ds = preproc.preprocess(["John lives in Berlin.", ["a", "film"]])
    assert ds.words == [["John", "lives", "in", "Berlin", "."], ["a", "film"]]
    with pytest.raises(DataError, match="list of sentences"):
        preproc.preprocess("John lives in Berlin")


def test_split_words_returns_ktrain_words_and_character_offsets():
    text = "Paul Newman (b. 1925) lives in  New York,\nUSA."
    words, spans = split_words(text)
    assert words == ["Paul", "Newman", "(", "b", ".", "1925", ")", "lives", "in", "New", "York", ",", "USA", "."]
    assert all(text[a:b] == w for w, (a, b) in zip(words, spans))
    cjk, cjk_spans = split_words("北京 欢迎")
    assert cjk == ["北", "京", "欢", "迎"] and cjk_spans[2] == (3, 4)
    assert split_words("   ") == ([], [])

"""NER data side: tag schemes, token files (CoNLL columns, JSON Lines), windows of sub-words, the preprocessor."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tokenizer

from kdemo.errors import DataError
from kdemo.tasks import Task
from kdemo.text.ner import (
    NERPreprocessor,
    TokenDataset,
    detect_scheme,
    entities_from_txt,
    entity_spans,
    looks_like_token_file,
    read_token_file,
    repair_bio,
    split_words,
    to_bio,
)


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


# ---------------------------------------------------------------------------------------------------- the corpus
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ner"


def _read(name: str, **kwargs):
    return read_token_file(FIXTURES / name, **kwargs)


def test_fixture_corpus_has_at_least_twelve_files():
    assert len(list(FIXTURES.iterdir())) >= 12


def test_mixed_tabs_and_spaces_separate_columns():
    corpus = _read("mixed_delimiters.txt")
    assert corpus.words == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert corpus.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]


def test_whitespace_only_lines_separate_sentences():
    corpus = _read("whitespace_separators.txt")
    assert corpus.words == [["John", "lives"], ["Berlin"], ["is", "big"]]
    assert corpus.line_numbers == [1, 4, 6]


def test_docstart_lines_are_skipped_and_end_a_sentence():
    corpus = _read("docstart.txt")
    assert corpus.words == [["EU", "rejects"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert corpus.line_numbers == [3, 7, 12]


def test_iob1_is_detected_and_converted_to_bio():
    corpus = _read("iob1.txt")
    assert corpus.scheme == "IOB1"
    assert corpus.tags == [["B-ORG", "O", "B-PER", "O", "O", "B-LOC"], ["B-LOC", "B-LOC", "O", "B-LOC"]]
    assert "IOB1" in corpus.warnings[0] and "line 1" in corpus.warnings[0]


def test_bioes_is_detected_and_converted_to_bio():
    corpus = _read("bioes.txt")
    assert corpus.scheme == "BIOES"
    assert corpus.tags == [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "I-LOC", "I-LOC", "O", "B-ORG"]]
    assert [entity_spans(t) for t in corpus.tags] == [[("PER", 0, 2), ("LOC", 3, 4)],
                                                     [("LOC", 0, 3), ("ORG", 4, 5)]]


def test_io_tags_without_prefixes_are_converted():
    corpus = _read("io.txt")
    assert corpus.scheme == "IO"
    assert corpus.tags == [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]]


def test_a_lone_i_tag_is_repaired_with_a_warning_naming_its_line():
    corpus = _read("lone_i.txt")
    assert corpus.scheme == "BIO"
    assert corpus.tags == [["B-PER", "O", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["B-LOC", "O", "B-LOC"]]
    assert len(corpus.warnings) == 2
    assert corpus.warnings[0].startswith("line 4: 'I-LOC' follows 'O'; read as 'B-LOC'")
    assert corpus.warnings[1].startswith("line 7: 'I-ORG'")


def test_crlf_line_ends_and_a_utf8_bom():
    corpus = _read("crlf.txt")
    assert corpus.words == [["John", "lives"], ["in", "Berlin"]] and corpus.line_numbers == [1, 4]
    assert _read("utf8_bom.txt").words == [["John", "lives"]]


def test_a_cp1252_file_is_decoded_and_says_so():
    corpus = _read("cp1252.txt")
    assert corpus.words[0][0] == "Zürich"
    assert corpus.words[1] == ["José", "paid", "5", "€", "at", "the", "café", "Müller"]
    assert corpus.tags[1][-1] == "B-ORG"
    assert any("not UTF-8" in w or "Windows-1252" in w for w in corpus.warnings)
    assert _read("cp1252.txt", encoding="latin-1").words[1][3] == "\x80"  # the user can force an encoding


def test_a_non_breaking_space_belongs_to_its_word(tokenizer):
    corpus = _read("nbsp.txt")
    assert corpus.words == [["Paid", "10\u00a0000", "\u00a0", "in", "Berlin"]]
    trn, val, _ = entities_from_txt(FIXTURES / "nbsp.txt", val_pct=0, tokenizer=tokenizer, verbose=0)
    assert val is None
    assert trn.word_ids[0][trn.word_ids[0] >= 0].max() == 4  # every word, the lone U+00A0 too, has tokens
    assert any("word 3" in w and "no token" in w for w in trn.warnings)


def test_jsonl_tag_ids_with_a_label_list_line():
    corpus = _read("ids_with_labels.jsonl")
    assert corpus.words == [["John", "Smith", "lives", "in", "Berlin"], ["Hi"]]
    assert corpus.tags == [["B-PER", "I-PER", "O", "O", "B-LOC"], ["O"]]
    assert corpus.line_numbers == [2, 4]


def test_a_words_only_file_has_no_tags_and_cannot_train(tokenizer):
    corpus = _read("words_only.txt")
    assert corpus.tags is None and corpus.words == [["John", "lives", "in", "Berlin"], ["Hello", "world"]]
    with pytest.raises(DataError, match="words only"):
        entities_from_txt(FIXTURES / "words_only.txt", tokenizer=tokenizer, verbose=0)


def test_an_overlong_sentence_is_split_into_windows_and_named(tokenizer):
    trn, _, preproc = entities_from_txt(FIXTURES / "overlong.txt", val_pct=0, maxlen=16, tokenizer=tokenizer,
                                        verbose=0)
    assert trn.nsamples() == 3 and len(trn) > 3 and all(n <= 16 for n in trn.lengths)
    assert any(w.startswith("sentence 2 (line 4): 60 words") and "windows" in w for w in trn.warnings)
    words = trn.words_from_windows(trn.labels)[1]
    assert len(words) == 60 and [preproc.get_classes()[i] for i in words[:2]] == ["B-LOC", "O"]


@pytest.mark.parametrize("name, kwargs, message", [
    ("empty.txt", {}, r"Expected a file of words and tags .* Received: an empty file \(in 'empty.txt'\)"),
    ("one_column.txt", {}, r"Expected a word and its tag on each line.*Received: one column 'in' \(line 3 of"),
    ("tags_only.txt", {}, r"Received: only tags such as 'B-PER', no words \(line 1 of 'tags_only.txt'\)"),
    ("mismatched.jsonl", {}, r"Expected as many tags as tokens.*Received: 3 tokens and 2 tags \(line 2 of"),
    ("bad_json.jsonl", {}, r"Expected one JSON object per line. Received: invalid JSON .*\(line 2 of"),
    ("ids_without_labels.jsonl", {}, r"Received: integer tag ids and no label list \(line 1 of.*label_list="),
    ("id_out_of_range.jsonl", {"label_list": ["O", "B-PER", "I-PER"]},
     r"Expected tag ids from 0 to 2 .* Received: 7 at word 1 \(line 1 of"),
    ("tag_column_words.txt", {}, r"Received: 40 different values such as 'other0', which look like words \(line 1"),
    ("mixed_tag_styles.txt", {}, r"Received: 'LOC' \(line 3 of 'mixed_tag_styles.txt'\)"),
    ("only_docstart.txt", {}, r"Received: only blank or -DOCSTART- lines"),
    ("one_column.txt", {"tag_column": 5}, r"Expected a word in column 0 and a tag in column 5. .* \(line 1 of"),
])
def test_malformed_files_name_the_problem_and_the_line(name, kwargs, message):
    with pytest.raises(DataError, match=message):
        _read(name, **kwargs)


def test_looks_like_token_file_on_the_corpus():
    for name in ("mixed_delimiters.txt", "iob1.txt", "bioes.txt", "crlf.txt", "ids_with_labels.jsonl",
                 "docstart.txt", "lone_i.txt", "array.json", "header.txt"):
        assert looks_like_token_file(FIXTURES / name), name
    # Bare IO tags are not sniffed (they look like any second column); such files load when named as token data.
    for name in ("empty.txt", "words_only.txt", "tag_column_words.txt", "io.txt"):
        assert not looks_like_token_file(FIXTURES / name), name


# ---------------------------------------------------------------------------------------------------- loaders
def test_loaders_are_exported_like_ktrain():
    import kdemo
    from kdemo import text

    for name in ("entities_from_conll2003", "entities_from_txt", "entities_from_df", "entities_from_array",
                 "entities_from_jsonl", "entities_from_gmb"):
        assert getattr(text, name) is getattr(kdemo, name) and name in kdemo.__all__ and name in text.__all__
    assert text.NERPreprocessor is NERPreprocessor


def test_entities_from_conll2003_with_a_validation_file(tokenizer, capsys):
    from kdemo import text

    trn, val, preproc = text.entities_from_conll2003(FIXTURES / "iob1.txt", val_filepath=FIXTURES / "bioes.txt",
                                                     tokenizer=tokenizer, maxlen=32)
    assert trn.nsamples() == 2 and val.nsamples() == 2
    assert preproc.get_classes() == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert val.tags == [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "I-LOC", "I-LOC", "O", "B-ORG"]]
    out = capsys.readouterr().out
    assert "Number of sentences: 2" in out and "scheme in the file: IOB1" in out


def test_entities_from_array_holds_out_a_reproducible_validation_split(tokenizer):
    from kdemo import text

    x = [["John", "lives", "in", "Berlin"], ["Hello", "Cher"], ["I", "love", "Chicago"]] * 4
    y = [["B-PER", "O", "O", "B-LOC"], ["O", "B-PER"], ["O", "O", "I-LOC"]] * 4
    trn, val, _preproc = text.entities_from_array(x, y, val_pct=0.25, tokenizer=tokenizer, verbose=0)
    assert trn.nsamples() == 9 and val.nsamples() == 3
    again, val2, _ = text.entities_from_array(x, y, val_pct=0.25, tokenizer=tokenizer, verbose=0)
    assert val2.words == val.words and again.words == trn.words
    assert all("I-LOC" not in t for sentence in trn.tags for t in sentence[2:3])  # the lone I-LOC was repaired
    assert any("'I-LOC' follows 'O'" in w for w in trn.warnings)
    trn, val, _ = text.entities_from_array(x[:2], y[:2], x_test=x[2:3], y_test=y[2:3], tokenizer=tokenizer, verbose=0)
    assert trn.nsamples() == 2 and val.words == [["I", "love", "Chicago"]]
    with pytest.raises(DataError, match=r"2 words and 1 tags \(sentence 1 of x_train\)"):
        text.entities_from_array([["a", "b"]], [["O"]], tokenizer=tokenizer, verbose=0)


def test_entities_from_df_groups_rows_by_sentence_id(tokenizer):
    import pandas as pd

    from kdemo import text

    df = pd.DataFrame({"SentenceID": ["s1", None, None, "s2", None],
                       "Word": ["Paul", "Newman", "acts", "Hi", "Berlin"],
                       "Tag": ["B-PER", "I-PER", "O", "O", "B-LOC"]})
    trn, val, _preproc = text.entities_from_df(df, val_df=df, tokenizer=tokenizer, verbose=0)
    assert trn.words == [["Paul", "Newman", "acts"], ["Hi", "Berlin"]] and val.nsamples() == 2
    with pytest.raises(DataError, match=r"Expected columns 'Word', 'Tag' and 'SentenceID'.*missing \['Tag'\]"):
        text.entities_from_df(df.drop(columns="Tag"), tokenizer=tokenizer, verbose=0)


def test_entities_from_gmb_reads_a_csv_with_sentence_ids(tmp_path, tokenizer):
    from kdemo import text

    path = tmp_path / "gmb.csv"
    path.write_text("Sentence #,Word,POS,Tag\nSentence: 1,Thousands,NNS,O\n,of,IN,O\n,London,NNP,B-geo\n"
                    "Sentence: 2,Iranian,JJ,B-gpe\n,officials,NNS,O\n")
    trn, _val, preproc = text.entities_from_gmb(path, val_filepath=path, sentence_column="Sentence #",
                                               tokenizer=tokenizer, verbose=0)
    assert trn.words == [["Thousands", "of", "London"], ["Iranian", "officials"]]
    assert trn.line_numbers == [2, 5]
    assert preproc.get_classes() == ["O", "B-geo", "I-geo", "B-gpe", "I-gpe"]


def test_entities_from_jsonl_and_preprocess_test_from_conll2003(tokenizer):
    from kdemo import text

    trn, val, preproc = text.entities_from_jsonl(FIXTURES / "ids_with_labels.jsonl", val_pct=0, tokenizer=tokenizer,
                                                 verbose=0)
    assert trn.tags[0] == ["B-PER", "I-PER", "O", "O", "B-LOC"] and val is None
    test = preproc.preprocess_test_from_conll2003(FIXTURES / "crlf.txt")
    assert test.words == [["John", "lives"], ["in", "Berlin"]] and test.labels is not None


# ---------------------------------------------------------------------------------------------------- doctor
def test_diagnose_tokens_counts_entities_lengths_and_names_problems(tokenizer):
    from kdemo.text.ner import diagnose_tokens

    diagnosis = diagnose_tokens(FIXTURES / "lone_i.txt", tokenizer=tokenizer, maxlen=8)
    assert diagnosis.num_sentences == 3 and diagnosis.num_tokens == 10 and diagnosis.num_entities == 5
    assert diagnosis.entity_counts == {"LOC": 3, "PER": 1, "ORG": 1}
    assert diagnosis.scheme == "BIO"
    assert diagnosis.words_per_sentence == {"mean": 10 / 3, "p95": pytest.approx(3.9), "max": 4.0}
    assert not diagnosis.subwords_estimated and diagnosis.subwords_per_sentence["max"] > 6
    assert diagnosis.suggested_maxlen % 8 == 0 and diagnosis.suggested_maxlen >= diagnosis.subwords_per_sentence["max"]
    assert diagnosis.windowed_sentences >= 1
    assert any("split into windows" in p and "line 1" in p for p in (q.message for q in diagnosis.problems))
    assert any(p.startswith("line 4: 'I-LOC' follows 'O'") for p in (q.message for q in diagnosis.problems))
    assert any("'PER' has only 1 entities (the first on line 1)" in p for p in (q.message for q in diagnosis.problems))
    assert diagnosis.preview[0] == [("John", "PER"), ("lives", None), ("in", None), ("Berlin", "LOC")]
    assert diagnosis.preview[1] == [("The", None), ("United", "ORG"), ("Nations", "ORG")]
    assert diagnosis.preview_lines == [1, 6, 10]
    md = diagnosis.to_markdown()
    assert "**3 sentences, 10 words, 5 entities**" in md and "| LOC | 3 | 60.0% |" in md and "Suggested maxlen" in md
    assert json.loads(json.dumps(diagnosis.to_dict()))["entity_counts"] == {"LOC": 3, "PER": 1, "ORG": 1}


def test_diagnose_tokens_reports_scheme_unlabelled_files_and_estimates_without_tokenizer():
    from kdemo.text.ner import diagnose_tokens

    iob1 = diagnose_tokens(read_token_file(FIXTURES / "iob1.txt"))
    assert iob1.scheme == "IOB1" and iob1.subwords_estimated and "converted to BIO" in iob1.to_markdown()
    assert any("IOB1" in p for p in (q.message for q in iob1.problems))
    words = diagnose_tokens(FIXTURES / "words_only.txt")
    assert words.num_entities == 0 and "no tags" in words.problems[0].message
    assert words.preview[0] == [("John", None), ("lives", None), ("in", None), ("Berlin", None)]


# ---------------------------------------------------------------------------------------------------- real data (slow)
CONLL = Path(__file__).resolve().parents[3] / "shared" / "data" / "conll2003"  # ../shared/data/conll2003


@pytest.mark.slow
def test_conll2003_train_has_the_published_counts_in_both_formats():
    from kdemo.text.ner import diagnose_tokens

    if not (CONLL / "train.txt").exists():
        pytest.skip(f"shared data not found at {CONLL}")
    txt = read_token_file(CONLL / "train.txt")
    jsonl = read_token_file(CONLL / "train.jsonl")
    assert len(txt) == 14_041 and txt.num_tokens() == 203_621
    assert txt.scheme == "BIO" and txt.warnings == []  # already IOB2, nothing to repair
    assert jsonl.words == txt.words and jsonl.tags == txt.tags
    diagnosis = diagnose_tokens(txt)
    assert diagnosis.num_entities == 23_499
    assert diagnosis.entity_counts == {"LOC": 7_140, "PER": 6_600, "ORG": 6_321, "MISC": 3_438}
    assert diagnosis.words_per_sentence["max"] == 113
    assert looks_like_token_file(CONLL / "train.txt") and looks_like_token_file(CONLL / "train.jsonl")


@pytest.mark.slow
def test_conll2003_train_tokenizes_in_seconds_with_the_default_tokenizer():
    if not (CONLL / "train.txt").exists():
        pytest.skip(f"shared data not found at {CONLL}")
    corpus = read_token_file(CONLL / "train.txt")
    preproc = NERPreprocessor(maxlen=128)
    start = time.perf_counter()
    ds = preproc.preprocess_train(corpus.words, corpus.tags, line_numbers=corpus.line_numbers)
    seconds = time.perf_counter() - start
    assert seconds < 60  # about 3 s on an idle 2-core machine
    assert ds.nsamples() == 14_041 and len(ds) == 14_042  # one 113-word sentence needs two windows of 128
    assert any(w.startswith("sentence 13069 (line 201730): 113 words") for w in ds.warnings)
    assert sum(int((lab >= 0).sum()) for lab in ds.labels) == 203_621  # every word labelled exactly once
    assert preproc.get_classes() == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


# ---------------------------------------------------------------------------------------------------- tokenizers, batching
def _byte_level_tokenizer():
    """A tiny RoBERTa-style byte-level BPE tokenizer (add_prefix_space=False, as roberta-base ships)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["John lives in Berlin and Paris", "the movie was good"] * 20, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")), add_prefix_space=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")


def test_a_byte_level_tokenizer_reads_words_as_in_running_text():
    tok = _byte_level_tokenizer()
    preproc = NERPreprocessor(maxlen=32, tokenizer=tok)
    ds = preproc.preprocess_train([["John", "lives", "in", "Berlin"]], [["B-PER", "O", "O", "B-LOC"]])
    tokens = tok.convert_ids_to_tokens(ds.input_ids[0].tolist())
    assert "Ġlives" in tokens and "ĠBerlin" in tokens  # each word with its leading space, as in "John lives in Berlin"
    assert tokens == tok.convert_ids_to_tokens(tok("John lives in Berlin")["input_ids"])
    assert [preproc.get_classes()[i] for i in ds.words_from_windows(ds.labels)[0]] == ["B-PER", "O", "O", "B-LOC"]


def test_windows_work_with_length_grouped_batches(tokenizer):
    from kdemo.data.dataset import length_grouped_batches

    words = [["the", "movie", "was", "good"][: 1 + i % 4] for i in range(50)]
    tags = [["O"] * len(w) for w in words]
    ds = NERPreprocessor(maxlen=32, tokenizer=tokenizer).preprocess_train(words, tags)
    batches = length_grouped_batches(ds.lengths, 8, rng=np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(50))
    for idx in batches:
        inputs, labels = ds.collate(idx), ds.batch_labels(idx)
        assert inputs["input_ids"].shape == labels.shape == (len(idx), int(ds.lengths[idx].max()))
        assert ((labels != -100) <= (inputs["attention_mask"] == 1)).all()
    assert ds.windows_of([3, 1]).tolist() == [1, 3]


def test_split_words_on_tricky_text_keeps_offsets():
    text = "don't e-mail $5.00 to http://x.com :) 😀 10\u00a0000 Straße\tcafé \u200bzero"
    words, spans = split_words(text)
    assert words[:2] == ["do", "n't"] and "http://x.com" in words and "Straße" in words and "zero" in words
    assert all(text[a:b] == w for w, (a, b) in zip(words, spans))
    assert all(a < b for a, b in spans) and spans == sorted(spans)


def test_a_header_line_and_comment_lines_are_skipped_with_warnings():
    corpus = _read("header.txt")
    assert corpus.words == [["John", "lives"], ["Berlin"]] and corpus.line_numbers == [2, 5]
    assert corpus.warnings == ["line 1: 'Word\\tTag' read as a header and skipped."]
    corpus = _read("comments.txt")
    assert corpus.words == [["John", "lives"], ["Berlin", "#"]] and corpus.line_numbers == [2, 7]
    assert corpus.tags == [["B-PER", "O"], ["B-LOC", "O"]]
    assert corpus.warnings == ["3 comment lines starting with '#' skipped (the first on line 1)."]


def test_a_type_seen_only_in_validation_is_in_the_tag_list_with_a_warning(tokenizer):
    from kdemo import text

    trn, val, preproc = text.entities_from_array([["John", "lives"]], [["B-PER", "O"]], x_test=[["in", "Berlin"]],
                                                 y_test=[["O", "B-LOC"]], tokenizer=tokenizer, verbose=0)
    assert preproc.get_classes() == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    assert val.words_from_windows(val.labels)[0].tolist() == [0, 1]
    assert any("'LOC' occurs in the validation data" in w and "x_test" in w for w in trn.warnings)


def test_empty_and_space_words_from_arrays_keep_their_tags(tokenizer):
    from kdemo import text

    trn, _, preproc = text.entities_from_array([["the", "", " ", "film"]], [["O", "B-PER", "I-PER", "O"]], val_pct=0,
                                               tokenizer=tokenizer, verbose=0)
    assert [preproc.get_classes()[i] for i in trn.words_from_windows(trn.labels)[0]] == ["O", "B-PER", "I-PER", "O"]
    assert sum("makes no token" in w for w in trn.warnings) == 2
    custom = preproc.preprocess(["the film"], custom_tokenizer=str.split)
    assert custom.words == [["the", "film"]]


def test_a_json_array_file_and_a_brace_word_in_a_column_file():
    corpus = _read("array.json")
    assert corpus.words == [["John", "lives"], ["Berlin"]] and corpus.line_numbers == [1, 2]
    corpus = _read("brace_word.txt")
    assert corpus.words == [["{", "brace"]] and corpus.tags == [["O", "O"]]

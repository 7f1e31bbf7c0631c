"""kdemo.data.qa_files: SQuAD v1.1/v2.0 JSON and question tables read into one QACorpus; errors name the row;
answers checked and repaired at their offsets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kdemo.data.qa_cells import literal
from kdemo.data.qa_files import (
    QACorpus,
    align_answers,
    check_trainable,
    looks_like_qa_file,
    qa_from_frame,
    read_qa_file,
)
from kdemo.errors import DataError

CONTEXT_1 = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region "
             "in France.")
CONTEXT_2 = "Normandy  lies in northern France.\nIts capital is Rouen."  # two spaces and a newline: kept as written


def squad(version: str = "1.1", *, impossible: bool = False) -> dict:
    """A SQuAD file of two articles (three paragraphs, five questions); v2.0 adds an unanswerable question."""
    qas_2 = [{"id": "q3", "question": "What is the capital of Normandy?",
              "answers": [{"text": "Rouen", "answer_start": CONTEXT_2.index("Rouen")}]}]
    if impossible:
        qas_2.append({"id": "q4", "question": "What is the capital of Brittany?", "answers": [], "is_impossible": True,
                      "plausible_answers": [{"text": "Rouen", "answer_start": CONTEXT_2.index("Rouen")}]})
    return {"version": version, "data": [
        {"title": "Normans", "paragraphs": [
            {"context": CONTEXT_1, "qas": [
                {"id": "q1", "question": "In what country is Normandy located?",
                 "answers": [{"text": "France", "answer_start": CONTEXT_1.index("France")},
                             {"text": "France.", "answer_start": CONTEXT_1.index("France")}]},
                {"id": "q2", "question": " When were the Normans in Normandy?",
                 "answers": [{"text": "10th and 11th centuries", "answer_start": CONTEXT_1.index("10th")}]}]}]},
        {"title": "Normandy", "paragraphs": [{"context": CONTEXT_2, "qas": qas_2}]},
    ]}


def write_json(path, data) -> str:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_squad_v11_json_is_read_question_by_question(tmp_path):
    corpus = read_qa_file(write_json(tmp_path / "train.json", squad()))
    assert isinstance(corpus, QACorpus) and len(corpus) == 3
    assert corpus.version == "1.1" and corpus.name == "train.json" and corpus.warnings == ()
    assert corpus.ids == ["q1", "q2", "q3"]
    assert corpus.questions[1] == " When were the Normans in Normandy?"  # kept as written
    assert corpus.contexts == [CONTEXT_1, CONTEXT_1, CONTEXT_2]  # byte-exact, double space and newline included
    assert corpus.answers[0] == {"text": ["France", "France."], "answer_start": [CONTEXT_1.index("France")] * 2}
    assert corpus.titles == ["Normans", "Normans", "Normandy"]
    assert corpus.where[2] == "article 2 ('Normandy'), paragraph 1, question 1 (id q3)"
    assert corpus.unanswerable == [False, False, False] and not corpus.allows_no_answer
    frame = corpus.to_frame()
    assert list(frame.columns) == ["id", "title", "question", "context", "answers"]
    assert frame["answers"][2] == {"text": ["Rouen"], "answer_start": [CONTEXT_2.index("Rouen")]}
    part = corpus.subset([2, 0])
    assert part.ids == ["q3", "q1"] and part.where[0] == corpus.where[2] and len(part) == 2


def test_squad_v20_reads_unanswerable_questions(tmp_path):
    data = squad("v2.0", impossible=True)
    corpus = read_qa_file(write_json(tmp_path / "dev.json", data))
    assert corpus.version == "2.0" and corpus.unanswerable == [False, False, False, True]
    assert corpus.answers[3] == {"text": [], "answer_start": []}  # plausible answers are not answers
    assert corpus.allows_no_answer
    check_trainable(corpus)  # some questions have answers
    # a file calling itself 1.1 with an empty answer is read as 2.0
    data["version"] = "1.1"
    assert read_qa_file(write_json(tmp_path / "dev.json", data)).version == "2.0"
    # is_impossible wins over answers, with a warning naming the question
    data["data"][1]["paragraphs"][0]["qas"][1]["answers"] = [{"text": "Rouen", "answer_start": 0}]
    corpus = read_qa_file(write_json(tmp_path / "dev.json", data))
    assert corpus.unanswerable[3] and "question 2 (id q4): marked is_impossible" in corpus.warnings[0]


def test_a_v20_file_whose_answers_are_all_empty_reads_but_cannot_train(tmp_path):
    data = squad("v2.0")
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["answers"], qa["is_impossible"] = [], True
    corpus = read_qa_file(write_json(tmp_path / "empty.json", data))
    assert len(corpus) == 3 and all(corpus.unanswerable)
    with pytest.raises(DataError, match=r"Expected at least one question with an answer.*all 3 questions.*"
                       r"article 1 \('Normans'\), paragraph 1, question 1 \(id q1\) to article 2.*nothing to learn"):
        check_trainable(corpus)


def test_tables_in_every_layout_read_alike(tmp_path):
    rows = [("q1", "Where is Rouen?", "Rouen is in France.", "France", 12),
            ("q2", "Who won?", "Nobody won the game.", None, None)]
    squad_answers = [{"text": [t], "answer_start": [s]} if t else {"text": [], "answer_start": []}
                     for _, _, _, t, s in rows]
    base = pd.DataFrame({"id": [r[0] for r in rows], "question": [r[1] for r in rows],
                         "context": [r[2] for r in rows]})
    # CSV with the answers as JSON text
    base.assign(answers=[json.dumps(a) for a in squad_answers]).to_csv(tmp_path / "json.csv", index=False)
    # CSV as HF datasets exports it (numpy arrays in the Python repr), upper-case column names
    hf = ["{'text': array(['France'], dtype=object), 'answer_start': array([12], dtype=int32)}",
          "{'text': array([], dtype=object), 'answer_start': array([], dtype=int32)}"]
    base.rename(columns=str.upper).assign(ANSWERS=hf).to_csv(tmp_path / "hf.csv", index=False)
    # JSON Lines with answer dicts, and a JSON array of rows
    with open(tmp_path / "rows.jsonl", "w", encoding="utf-8") as f:
        for record in base.assign(answers=squad_answers).to_dict("records"):
            f.write(json.dumps(record) + "\n")
    (tmp_path / "rows.json").write_text(json.dumps(base.assign(answers=squad_answers).to_dict("records")))
    # Parquet with a struct column
    base.assign(answers=squad_answers).to_parquet(tmp_path / "struct.parquet")
    # answer_text + answer_start columns (empty = unanswerable), TSV
    base.assign(answer_text=[r[3] for r in rows], answer_start=[r[4] for r in rows]).to_csv(
        tmp_path / "two.tsv", sep="\t", index=False)
    # SQuAD's list of answer objects in an XLSX cell
    base.assign(answers=[json.dumps([{"text": "France", "answer_start": 12}]), ""]).to_excel(
        tmp_path / "list.xlsx", index=False)
    for name in ("json.csv", "hf.csv", "rows.jsonl", "rows.json", "struct.parquet", "two.tsv", "list.xlsx"):
        corpus = read_qa_file(tmp_path / name)
        assert corpus.version == "table" and corpus.name == name, name
        assert corpus.ids == ["q1", "q2"] and corpus.where == ["row 1", "row 2"], name
        assert corpus.answers == squad_answers, name
        assert corpus.unanswerable == [False, True] and corpus.allows_no_answer, name
        assert corpus.contexts == base["context"].tolist() and corpus.titles == [None, None], name


def test_frames_built_in_python_and_the_parquet_struct_form(tmp_path):
    df = pd.DataFrame({"Question": ["Where?"], "Context": ["In Paris."], "Title": ["Paris"],
                       "answers": [{"text": np.array(["Paris"], dtype=object), "answer_start": np.array([3])}]})
    corpus = qa_from_frame(df, name="frame")
    assert corpus.answers == [{"text": ["Paris"], "answer_start": [3]}] and corpus.ids == ["row-1"]
    assert corpus.titles == ["Paris"] and isinstance(corpus.answers[0]["answer_start"][0], int)
    chosen = qa_from_frame(df.rename(columns={"Question": "q", "Context": "passage"}), question_column="q",
                           context_column="passage")
    assert chosen.questions == ["Where?"]
    # a table without answers is read to predict on, with a warning; it cannot train
    bare = qa_from_frame(df[["Question", "Context"]], name="bare.csv")
    assert bare.unanswerable == [True] and "no answers column" in bare.warnings[0]
    with pytest.raises(DataError, match="nothing to learn from"):
        check_trainable(bare)


def test_the_python_literal_reader_evaluates_literals_only():
    assert literal("{'text': array(['a', 'b'],\n      dtype=object), 'answer_start': array([1, -2])}") == {
        "text": ["a", "b"], "answer_start": [1, -2]}
    for code in ("__import__('os').system('echo hi')", "open('x')", "[1 + 1]", "array", "{**x}", "{'a': b}"):
        with pytest.raises(ValueError):
            literal(code)


@pytest.mark.parametrize("table, message", [
    (pd.DataFrame({"query": ["q"], "context": ["c"]}),
     r"Expected a question column in 't.csv' \(accepted names: 'question' in any case, or question_column=\)\. "
     r"Received: columns \['query', 'context'\] in the header \(row 1\)"),
    (pd.DataFrame({"question": ["q"], "text": ["c"]}), r"Expected a context column .*columns \['question', 'text'\]"),
    (pd.DataFrame({"question": ["q", "q2"], "context": ["c", "  "]}), r"context in every row .*\(row 2 of 't.csv'\)"),
    (pd.DataFrame({"question": ["q", np.nan], "context": ["c", "c"]}), r"question in every row .*\(row 2 of"),
    (pd.DataFrame({"question": ["q", "q"], "context": ["ab", "ab"], "answer_text": ["a", "b"],
                   "answer_start": ["0", "one"]}), r"answer_start to be a whole number .*\(row 2 of 't.csv'\)\. "
                                                    r"Received: 'one'"),
    (pd.DataFrame({"question": ["q"], "context": ["ab"], "answer_text": ["a"], "answer_start": [0.5]}),
     r"whole number .*\(row 1 .*Received: '0\.5'"),
    (pd.DataFrame({"question": ["q"], "context": ["ab"], "answers": ['{"text": ["a"], "answer_start": [true]}']}),
     r"whole number .*\(row 1 .*Received: True"),
    (pd.DataFrame({"question": ["q"], "context": ["ab"], "answers": ['{"text": ["a", "b"], "answer_start": [0]}']}),
     r"as many answer_start offsets as answer texts \(row 1 of 't.csv'\)\. Received: 2 text\(s\)"),
    (pd.DataFrame({"question": ["q"], "context": ["ab"], "answers": ["not an answer"]}),
     r"an answers cell such as .*\(row 1 of 't.csv'\)\. Received: 'not an answer'"),
    (pd.DataFrame({"question": ["q"], "context": ["ab"], "answer_text": ["a"]}),
     r"both 'answer_text' and 'answer_start' columns"),
    (pd.DataFrame({"question": ["q"], "context": ["ab"], "answers": ["{'text': ['a'], 'start': ['x']}"]}),
     r"whole number .*\(row 1 of 't.csv'\)\. Received: 'x'"),
])
def test_table_errors_name_the_row_and_the_columns(tmp_path, table, message):
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(DataError, match=message):
        read_qa_file(path)


def _edit(data: dict, change) -> dict:
    change(data)
    return data


@pytest.mark.parametrize("data, message", [
    (_edit(squad(), lambda d: d["data"][1]["paragraphs"][0].pop("context")),
     r"Expected a non-empty context in every paragraph \(article 2 \('Normandy'\), paragraph 1 of 'bad.json'\)"),
    (_edit(squad(), lambda d: d["data"][0]["paragraphs"][0]["qas"][1].update(question="")),
     r"non-empty question \(article 1 \('Normans'\), paragraph 1, question 2 \(id q2\) of 'bad.json'\)"),
    (_edit(squad(), lambda d: d["data"][0]["paragraphs"][0]["qas"][0]["answers"][1].update(answer_start="7th")),
     r"whole number .*\(article 1 \('Normans'\), paragraph 1, question 1 \(id q1\) of 'bad.json'\)\. "
     r"Received: '7th'"),
    (_edit(squad(), lambda d: d["data"][1]["paragraphs"][0]["qas"][0]["answers"][0].pop("answer_start")),
     r'"answer_start" in every answer \(article 2 .*question 1 \(id q3\)'),
    ({"version": "1.1", "articles": []},
     r"Expected SQuAD JSON.*Received: an object with keys \['articles', 'version'\]"),
    ({"data": [{"title": "x", "qas": []}]}, r'"paragraphs" list in every article \(article 1 of'),
    ({"data": [{"title": "x", "paragraphs": [{"context": "c", "qas": []}]}]}, r"at least one question.*no question"),
])
def test_squad_errors_name_article_paragraph_and_question(tmp_path, data, message):
    with pytest.raises(DataError, match=message):
        read_qa_file(write_json(tmp_path / "bad.json", data))


def test_broken_empty_and_missing_files(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "1.1",\n "data": [{"title": "x",}]}', encoding="utf-8")
    with pytest.raises(DataError, match=r"Expected valid JSON in 'broken.json'\. Received: .* at line 2, column"):
        read_qa_file(broken)
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(DataError, match="is empty"):
        read_qa_file(tmp_path / "empty.json")
    with pytest.raises(DataError, match="does not exist"):
        read_qa_file(tmp_path / "missing.json")
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"question": "q", "context": "c"}\n{"question": "q2", "context": \n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_qa_file(lines)


def test_align_answers_repairs_a_unique_text_and_names_the_rest():
    context = "Paris is in France. Lyon is in France too. New  York is not."
    df = pd.DataFrame({"question": ["a", "b", "c", "d", "e"], "context": [context] * 5,
                       "answer_text": ["Paris", "Lyon", "France", "New York", "Lyon"],
                       "answer_start": [0, 3, 5, 43, 200]})
    corpus = qa_from_frame(df, name="t.csv")
    check = align_answers(corpus)
    assert check.repairs == (
        "row 2: answer 'Lyon' is not at character 3 of the context; it occurs once, at 20: 20 is used.",
        "row 5: answer 'Lyon' is not at character 200 of the context; it occurs once, at 20: 20 is used.")
    assert check.repaired_questions == (1, 4) and check.error_questions == (2, 3)
    assert check.corpus.answers[1]["answer_start"] == [20] and corpus.answers[1]["answer_start"] == [3]
    assert len(check.errors) == 2
    several, absent = check.errors
    assert several.startswith("row 3: expected answer 'France' at character 5 of the context. Received: ' is in' "
                              "there; the text occurs 2 times in the context (at characters 12, 31).")
    assert "Set answer_start" in several
    # whitespace differences are not silently forgiven: the context keeps its two spaces
    assert absent.startswith("row 4: expected answer 'New York' at character 43 of the context. Received: 'New  Yor'"
                             " there; the text occurs nowhere in the context.")
    assert check.corpus.contexts[3] == context


def test_non_ascii_offsets_count_characters(tmp_path):
    context = "😀 黑豹队的防守只丢了 308分，在联赛中排名第六。"
    data = {"version": "1.1", "data": [{"title": "超级碗", "paragraphs": [{"context": context, "qas": [
        {"id": "z1", "question": "黑豹队的防守丢了多少分？", "answers": [{"text": "308", "answer_start": 12}]},
        {"id": "z2", "question": "排名第几？", "answers": [{"text": "第六", "answer_start": 30}]}]}]}]}
    corpus = read_qa_file(write_json(tmp_path / "zh.json", data))
    assert context[12:15] == "308" and len(context.encode("utf-8")) > len(context)
    check = align_answers(corpus)
    assert check.errors == () and check.repairs == (
        "article 1 ('超级碗'), paragraph 1, question 2 (id z2): answer '第六' is not at character 30 of the context; "
        f"it occurs once, at {context.index('第六')}: {context.index('第六')} is used.",)
    gbk = tmp_path / "zh.csv"
    gbk.write_bytes(corpus.to_frame().drop(columns="answers").assign(answer_text=["308", "第六"],
                    answer_start=[12, context.index("第六")]).to_csv(index=False).encode("gb18030"))
    table = read_qa_file(gbk)
    assert table.contexts == [context] * 2 and align_answers(table).repairs == ()
    assert any("'zh.csv' is not UTF-8; it was read as GB18030" in w for w in table.warnings), table.warnings


def test_looks_like_qa_file_is_cheap_and_never_raises(tmp_path):
    write_json(tmp_path / "squad.json", squad())
    (tmp_path / "rows.jsonl").write_text(json.dumps({"id": 1, "Question": "q", "context": "c"}) + "\n")
    (tmp_path / "rows.json").write_text(json.dumps([{"question": "q", "context": "c", "answers": []}]))
    (tmp_path / "qa.csv").write_text("\ufeffid;question;context\n1;q;c\n", encoding="utf-8")
    (tmp_path / "qa.tsv").write_text("question\tcontext\tanswer_text\tanswer_start\n", encoding="utf-16")
    pd.DataFrame({"question": ["q"], "context": ["c"]}).to_parquet(tmp_path / "qa.parquet")
    pd.DataFrame({"Question": ["q"], "Context": ["c"]}).to_excel(tmp_path / "qa.xlsx", index=False)
    (tmp_path / "no_question.csv").write_text("context,answer_text,answer_start\nab,a,0\n")  # the reader names it
    for name in ("squad.json", "rows.jsonl", "rows.json", "qa.csv", "qa.tsv", "qa.parquet", "qa.xlsx",
                 "no_question.csv"):
        assert looks_like_qa_file(tmp_path / name), name
    (tmp_path / "reviews.csv").write_text("text,label\nthe question is the context,positive\n")
    (tmp_path / "context_label.csv").write_text("context,label\nsome text,positive\n")
    (tmp_path / "tokens.jsonl").write_text(json.dumps({"tokens": ["a"], "ner_tags": ["O"]}) + "\n")
    (tmp_path / "pairs.json").write_text(json.dumps({"question": "q", "passage": "c"}))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "bad.xlsx").write_bytes(b"PK\x03\x04 broken")
    pd.DataFrame({"text": ["q"], "label": ["c"]}).to_parquet(tmp_path / "table.parquet")
    for name in ("reviews.csv", "context_label.csv", "tokens.jsonl", "pairs.json", "bad.parquet", "bad.xlsx", "table.parquet",
                 "missing.csv", "."):
        assert not looks_like_qa_file(tmp_path / name), name

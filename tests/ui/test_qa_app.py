"""Extractive question answering through the app's public API: a launched app driven by gradio_client, by api_name.

Upload SQuAD JSON written by the test (``qa_fixtures``), read the QA doctor and the highlighted preview, train a tiny
random-init BERT whose vocabulary holds the fixture's words, answer a question with the answer highlighted in its
context, draw attention over question and context, answer a file into a CSV, and zip the model with its card. Four
bad files each get a message naming the row, and the app stays usable.
"""

from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from conftest import launched_app_client, train_via_api
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from qa_fixtures import squad_articles, write_squad
from tiny_models import build_tiny_model

MAXLEN, STRIDE = 64, 16
WORDS = ("ann", "bob", "cara", "dan", "eve", "finn", "gus", "hal", "paris", "rome", "oslo", "lima", "kiev", "baku",
         "went", "where", "who", "there", "go", "did")
QUESTION = "who went there?"
CONTEXT = "the movie was fun and ann went to paris with the team."


def bad_files(folder) -> dict:
    """The four refused files, each with what its message must say: ``{name: (path, [phrases])}``."""
    moved = squad_articles(n_contexts=3)
    moved["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["text"] = "zebra"  # nowhere in the context
    (folder / "moved.json").write_text(json.dumps(moved), encoding="utf-8")
    no_answers = squad_articles(n_contexts=2)
    for article in no_answers["data"]:
        for qa in article["paragraphs"][0]["qas"]:
            qa["answers"], qa["is_impossible"] = [], True
    no_answers["version"] = "2.0"
    (folder / "empty_v2.json").write_text(json.dumps(no_answers), encoding="utf-8")
    pd.DataFrame({"question": ["who went?", "where?"], "context": ["ann went to rome.", ""],
                  "answer_text": ["ann", "rome"], "answer_start": [0, 12]}).to_csv(folder / "no_context.csv", index=False)
    pd.DataFrame({"context": ["ann went to rome."], "answer_text": ["ann"], "answer_start": [0]}).to_csv(
        folder / "no_question.csv", index=False)
    return {
        "answer not at its offset": (folder / "moved.json", ["'zebra'", "article 2", "question 1"]),
        "missing context": (folder / "no_context.csv", ["context", "row 2"]),
        "v2.0 without answers": (folder / "empty_v2.json", ["empty answers", "article 1", "question"]),
        "no question column": (folder / "no_question.csv", ["question column", "row 1"]),
    }


@pytest.fixture(scope="module")
def tiny_qa_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("tiny-qa-app"), "bert", extra_words=WORDS)


@pytest.fixture(scope="module")
def client(tmp_path_factory, one_torch_thread):
    with launched_app_client(tmp_path_factory, "gradio-qa") as c:
        yield c


def test_qa_flow_upload_doctor_train_predict_attention_file_zip(client, tiny_qa_dir, tmp_path):
    train_file = write_squad(tmp_path / "train.json", n_contexts=30, seed=0)
    preview, text_col, _labels, summary, counts, doctor, lengths, task, weights = client.predict(
        handle_file(str(train_file)), None, 0.2, api_name="/load_data")
    assert summary.startswith("✅") and "60 questions on 30 contexts" in summary, summary
    assert "question answering" in summary and "doc_stride" in summary
    assert task["value"] == "question_answering" and [c[0] for c in task["choices"]] == ["question_answering"]
    assert {r[0]: r[1] for r in counts["data"]}["questions"] == 60
    assert "Data doctor" in doctor and "windows" in doctor and lengths is not None
    assert text_col["visible"] is False and weights["visible"] is False
    assert preview["headers"] == ["where", "question", "answer", "context"]

    marked = client.predict(api_name="/entity_preview")
    spans = marked["value"] if isinstance(marked, dict) and "value" in marked else marked
    answers = [s["token"] for s in spans if s["class_or_confidence"] == "answer"]
    assert answers and answers[0] == "ann", spans  # article 0's first question: "who went there?" → ann

    maxlen, stride = client.predict(128, 128, api_name="/train_options")  # the Train tab's defaults
    assert stride["visible"] is True and 0 < stride["value"] < maxlen["value"], (maxlen, stride)  # a usable pair
    assert maxlen["value"] == int(doctor.split("Suggested maxlen: **")[1].split("**")[0])  # the doctor's maxlen
    maxlen, stride = client.predict(MAXLEN, STRIDE, api_name="/train_options")
    assert stride["value"] == STRIDE and "value" not in maxlen  # a usable pair is left as chosen
    status, _loss, report_md, worst, confusion, layer, head, top, _timer = train_via_api(
        client, str(tiny_qa_dir), MAXLEN, 8, 3e-3, 2, "fp32", 0.2, False, "one_cycle", 0, 0, 1, 1, "", STRIDE)
    assert "Finished" in status, status
    assert "exact match" in report_md and "F1" in report_md, report_md
    assert worst["headers"] == ["question", "answers", "predicted", "exact", "f1"] and worst["data"]
    assert confusion is None and layer["maximum"] == 2 and head["maximum"] == 2
    assert top["headers"][:4] == ["row", "true", "predicted", "loss"] and top["data"]

    value, table = client.predict(QUESTION, CONTEXT, api_name="/predict_answer")
    assert table["headers"] == ["answer", "score", "start", "end"] and len(table["data"]) == 5
    best = table["data"][0]
    assert CONTEXT[best[2]:best[3]] == best[0] and 0 <= best[1] <= 1
    marked = [s["token"] for s in value if s["class_or_confidence"] == "answer"]
    assert marked == [best[0]] and "".join(s["token"] for s in value) == CONTEXT
    assert not client.predict(QUESTION, "", api_name="/predict")  # empty: class probabilities are for classifiers
    with pytest.raises(AppError, match="context"):
        client.predict(QUESTION, "  ", api_name="/predict_answer")

    _head_plot, _grid, tokens = client.predict(QUESTION, 2, 1, CONTEXT, api_name="/attention")
    assert tokens.count("`[SEP]`") == 2 and "`paris`" in tokens
    spans, explained = client.predict(QUESTION, CONTEXT, False, "grad_x_input", 5, api_name="/explain")
    assert "answer" in explained and spans

    dev = write_squad(tmp_path / "dev.json", n_contexts=4, seed=3)
    rows = pd.read_csv(client.predict(handle_file(str(dev)), api_name="/predict_file"))
    assert len(rows) == 8 and {"question", "context", "true_answers", "answer", "score", "start", "end"} <= set(rows)

    zip_path, card, _images = client.predict("me/tiny-qa", "", "", api_name="/export")
    assert "pipeline_tag: question-answering" in card and "exact match" in card.lower()
    with zipfile.ZipFile(zip_path) as zf:
        assert {"config.json", "model.safetensors", "kdemo.json", "README.md"} <= set(zf.namelist())


@pytest.mark.parametrize("case", ["answer not at its offset", "missing context", "v2.0 without answers",
                                  "no question column"])
def test_bad_question_files_name_the_row_and_the_app_stays_usable(client, tmp_path, case):
    path, phrases = bad_files(tmp_path)[case]
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(path)), None, 0.2, api_name="/load_data")
    message = str(info.value)
    assert all(p in message for p in phrases), message
    good = write_squad(tmp_path / "good.json", n_contexts=4)
    summary = client.predict(handle_file(str(good)), None, 0.2, api_name="/load_data")[3]
    assert summary.startswith("✅") and "8 questions" in summary, summary

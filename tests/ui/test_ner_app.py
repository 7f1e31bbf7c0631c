"""Token classification (NER) through the app's public API: a launched app driven by gradio_client, by api_name.

Upload a small CoNLL file (``tests/fixtures/ner_news.conll``: 60 made-up news sentences with PER, ORG, LOC and MISC),
read the token data doctor and the highlighted preview, train a tiny random-init BERT whose vocabulary holds the
fixture's words, predict entities, draw an attention map, write the entities of a file of texts to a CSV, and zip
the model folder with its card.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import launched_app_client, train_via_api
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from hub_server import WRITE_TOKEN, running_hub
from tiny_models import build_tiny_model
from transformers import pipeline

CONLL = Path(__file__).parents[1] / "fixtures" / "ner_news.conll"
SENTENCE = "Peter Novak visited Lisbon on Monday ."


def fixture_words() -> tuple[str, ...]:
    """The lower-cased words of the CoNLL fixture (the tiny tokenizer lower-cases), as whole vocabulary entries."""
    words = []
    for line in CONLL.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("-DOCSTART-"):
            words.append(line.split()[0].lower())
    return tuple(dict.fromkeys(words))


@pytest.fixture(scope="module")
def tiny_ner_dir(tmp_path_factory) -> Path:
    """A tiny random-init BERT (2 layers, 2 heads, hidden 32) whose tokenizer knows every fixture word."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-ner"), "bert", extra_words=fixture_words())


@pytest.fixture(scope="module")
def client(tmp_path_factory, one_torch_thread):
    with launched_app_client(tmp_path_factory, "gradio-ner", max_file_size="50mb") as c:
        yield c


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    yield from running_hub(tmp_path, monkeypatch)


def _values(update):
    """A component's value from gradio_client's answer (an update dict or the value itself)."""
    return update.get("value") if isinstance(update, dict) and "__type__" in update else update


def test_ner_flow_upload_doctor_train_predict_attention_file_zip(client, tiny_ner_dir, tmp_path):
    preview, text_col, _labels, summary, counts, doctor, lengths, task, weights = client.predict(
        handle_file(str(CONLL)), None, 0.2, api_name="/load_data"
    )
    assert "60 sentences" in summary and "token" in summary.lower() and summary.startswith("✅"), summary
    assert task["value"] == "token_classification"
    assert "token_classification" in [c[0] for c in task["choices"]]
    assert sorted(r[0] for r in counts["data"]) == ["LOC", "MISC", "ORG", "PER"]
    assert sum(r[1] for r in counts["data"]) > 60
    assert preview["data"][0][0] == 3  # the first sentence starts on line 3 (after -DOCSTART- and a blank line)
    assert "maxlen" in doctor.lower() and lengths is not None
    assert weights["visible"] is False and text_col["choices"] == [] and text_col["visible"] is False

    highlighted = _values(client.predict(api_name="/entity_preview"))
    marked = {(span["token"], span["class_or_confidence"]) for span in highlighted if span["class_or_confidence"]}
    assert ("Peter Novak", "PER") in marked  # the first sentence, "Peter Novak visited Lisbon on Monday ."
    assert ("Lisbon", "LOC") in marked

    assert 8 <= client.predict(str(tiny_ner_dir), api_name="/suggest_maxlen") <= 32  # sentences of 9-16 sub-words
    status, _loss, report_md, per_type, confusion, layer, head, _top, _timer = train_via_api(
        client, str(tiny_ner_dir), 64, 8, 5e-3, 10, "fp32", 0.2
    )
    assert "Finished" in status, status
    assert "entity F1" in report_md, report_md
    f1 = float(report_md.split("entity F1 **")[1].split("**")[0])
    assert f1 >= 0.5, report_md  # 48 sentences x 10 epochs learn the fixture's names
    assert per_type["headers"][:4] == ["entity type", "precision", "recall", "f1-score"]
    assert {r[0] for r in per_type["data"]} <= {"LOC", "MISC", "ORG", "PER"} and per_type["data"]
    assert confusion is not None  # the confusion matrix of entity types
    assert layer["maximum"] == 2 and head["maximum"] == 2

    value, table = client.predict(SENTENCE, api_name="/predict_entities")
    assert table["headers"] == ["entity", "type", "score", "start", "end"]
    found = {(row[0], row[1]) for row in table["data"]}
    assert ("Lisbon", "LOC") in found or ("Peter Novak", "PER") in found, table
    for row in table["data"]:
        assert SENTENCE[row[3]:row[4]] == row[0] and 0.0 <= row[2] <= 1.0
    spans = [(s["token"], s["class_or_confidence"]) for s in value if s["class_or_confidence"]]
    assert spans == [(row[0], row[1]) for row in table["data"]]  # the highlighted text marks exactly these
    assert not client.predict(SENTENCE, api_name="/predict")  # empty: classes are for classifiers

    head_plot, grid_plot, tokens = client.predict(SENTENCE, 2, 1, api_name="/attention")
    assert "`[CLS]`" in tokens and "`lisbon`" in tokens and head_plot is not None and grid_plot is not None

    _change, _views, compared = client.predict(SENTENCE, "", False, api_name="/attention_compare")
    assert "Base checkpoint" in compared and "Most moved" in compared, compared

    spans, summary = client.predict(SENTENCE, "", False, "grad_x_input", 5, api_name="/explain")
    assert "for token `peter` (position 1; the first entity (PER))" in summary or "first entity" in summary, summary
    assert [s["token"] for s in spans if s["token"].strip()][:3] == ["[CLS]", "peter", "novak"]

    texts = tmp_path / "texts.txt"
    texts.write_text(f"{SENTENCE}\nShares of Globex fell after Anna Berg resigned .\n", encoding="utf-8")
    rows = pd.read_csv(client.predict(handle_file(str(texts)), api_name="/predict_file"))
    assert list(rows.columns) == ["text_id", "entity", "type", "start", "end", "score"]
    assert set(rows["text_id"]) == {1, 2}  # 1-based: the line of the text in the file
    second = set(zip(rows[rows["text_id"] == 2]["entity"], rows[rows["text_id"] == 2]["type"]))
    assert ("Globex", "ORG") in second or ("Anna Berg", "PER") in second, rows

    zip_path, card, _images = client.predict("me/tiny-ner", api_name="/export")
    assert "pipeline_tag: token-classification" in card
    assert 'aggregation_strategy="simple"' in card and "## Tag list" in card and "B-PER" in card
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        config = json.loads(zf.read("config.json"))
        readme = zf.read("README.md").decode("utf-8")
    assert {"config.json", "model.safetensors", "kdemo.json", "README.md"} <= names
    assert {"B-PER", "I-PER", "B-LOC", "O"} <= set(config["id2label"].values())
    widget = readme.split("widget:")[1].split("\n")[1]
    assert any(sentence in widget for sentence in ["Peter Novak visited Lisbon", "Globex said profits"]), widget


def test_table_after_token_file_hides_the_token_task(client, tmp_path):
    client.predict(handle_file(str(CONLL)), None, 0.2, api_name="/load_data")
    with pytest.raises(AppError, match="token file"):
        client.predict("single_label", 0.2, api_name="/set_task")
    table = tmp_path / "t.csv"
    pd.DataFrame({"text": ["good fun", "awful dull"] * 10, "label": ["pos", "neg"] * 10}).to_csv(table, index=False)
    _, text_col, _, _, _, _, _, task, _ = client.predict(handle_file(str(table)), None, 0.2, api_name="/load_data")
    assert text_col["visible"] is True and text_col["value"] == "text"  # the column menus are back for a table
    assert "token_classification" not in [c[0] for c in task["choices"]] and task["value"] == "single_label"
    assert _values(client.predict(api_name="/entity_preview")) is None


def test_bad_token_file_gets_a_clear_message_and_the_server_stays_up(client, tmp_path):
    bad = tmp_path / "bad.conll"
    bad.write_text("John B-PER\nSmith I-PER\n\nlives\nin O\nBerlin B-LOC\n", encoding="utf-8")
    try:
        _, _, _, summary, _, doctor, *_ = client.predict(handle_file(str(bad)), None, 0.2, api_name="/load_data")
        message = summary + doctor
    except AppError as exc:
        message = str(exc)
    assert "line 4" in message, message
    assert "Traceback" not in message
    assert client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_jsonl_of_tokens_and_tags_is_a_token_file(client, tmp_path):
    rows = [{"tokens": ["Anna", "Berg", "visited", "Osaka", "."], "ner_tags": ["B-PER", "I-PER", "O", "B-LOC", "O"]},
            {"tokens": ["Globex", "fell", "."], "ner_tags": ["B-ORG", "O", "O"]}] * 5
    path = tmp_path / "ner.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    _, _, _, summary, counts, _, _, task, _ = client.predict(handle_file(str(path)), None, 0.2, api_name="/load_data")
    assert "10 sentences" in summary and task["value"] == "token_classification"
    assert {r[0]: r[1] for r in counts["data"]} == {"PER": 5, "LOC": 5, "ORG": 5}
    assert client.predict("token_classification", 0.2, api_name="/set_task")[-1]["visible"] is False


def test_push_token_model_then_pipeline_and_load_model_agree(client, local_hub, tiny_ner_dir, monkeypatch):
    client.predict(handle_file(str(CONLL)), None, 0.2, api_name="/load_data")
    assert "Finished" in train_via_api(client, str(tiny_ner_dir), 64, 8, 5e-3, 4, "fp32", 0.2)[0]
    _, table = client.predict(SENTENCE, api_name="/predict_entities")
    status = client.predict("alice/tiny-ner", WRITE_TOKEN, True, api_name="/push")
    assert 'pipeline("token-classification", model="alice/tiny-ner", aggregation_strategy="simple")' in status
    files = local_hub.files("alice/tiny-ner")
    assert "pipeline_tag: token-classification" in files["README.md"].decode("utf-8")
    ner = pipeline("token-classification", model=str(local_hub.repo_dir("alice/tiny-ner")),
                   aggregation_strategy="simple")
    pushed = [(SENTENCE[e["start"]:e["end"]], e["entity_group"], e["start"], e["end"], e["score"])
              for e in ner(SENTENCE)]
    shown = [(row[0], row[1], row[3], row[4], row[2]) for row in table["data"]]
    assert [p[:4] for p in pushed] == [s[:4] for s in shown]  # the same entities, types and offsets
    assert [p[4] for p in pushed] == pytest.approx([s[4] for s in shown], abs=1e-4)  # the table rounds to 4 places

    other = Client(client.src, verbose=False)  # a fresh session loads the pushed token model: no training needed
    try:
        monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
        loaded, layer, _head = other.predict("alice/tiny-ner", api_name="/load_model")
        assert "tags (token classification)" in loaded and layer["maximum"] == 2
        assert other.predict(SENTENCE, api_name="/predict_entities")[1]["data"] == table["data"]
    finally:
        other.close()


def test_lr_finder_and_doctor_json_for_a_token_file(client, tiny_ner_dir):
    client.predict(handle_file(str(CONLL)), None, 0.2, api_name="/load_data")
    report = client.predict(api_name="/diagnose")
    assert report["num_sentences"] == 60 and set(report["entity_counts"]) == {"LOC", "MISC", "ORG", "PER"}
    plot, text = client.predict(str(tiny_ner_dir), 64, 8, 1e-3, 1, "fp32", 0.2, False, api_name="/lr_find")
    assert plot is not None and "Suggested learning rates" in text, text

"""The app through its public API: a real Gradio server driven by gradio_client, as users' scripts would."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import launched_app_client, train_via_api
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """Launch the app on a free local port and yield a connected client (the Gradio test-suite 'connect' pattern)."""
    with launched_app_client(tmp_path_factory, "gradio-tmp", max_file_size="50mb") as c:
        yield c


def _health(client) -> None:
    """The server still answers after an error."""
    assert client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_full_flow_load_train_predict_attention_export(client, tiny_bert_dir, sentiment_csv):
    preview, text_col, label_col, summary, counts, doctor, lengths, task, weights = client.predict(
        handle_file(str(sentiment_csv)), None, 0.2, api_name="/load_data"
    )
    assert text_col["value"] == "text" and label_col["value"] == ["label"]  # dropdown updates (labels: multiselect)
    assert [c[0] for c in text_col["choices"]] == ["text", "label"]
    assert "200 rows" in summary and "2 classes" in summary
    assert sorted(r[0] for r in counts["data"]) == ["negative", "positive"]
    assert "### Data doctor" in doctor and "encoding **UTF-8**" in doctor and "suggested maxlen" in doctor
    assert lengths is not None and task["value"] == "single_label"
    assert weights["visible"] is False  # balanced data: no class-weight offer

    status, _loss, report_md, per_class, _cm, layer, head, top, _timer = train_via_api(
        client, str(tiny_bert_dir), 32, 16, 2e-3, 4, "fp32", 0.2
    )
    assert "Finished" in status, status
    acc = float(report_md.split("accuracy **")[1].split("**")[0])
    assert acc >= 0.9, report_md
    assert layer["maximum"] == 2 and head["maximum"] == 2  # sliders fitted to the tiny model (2 layers, 2 heads)
    assert top["headers"] == ["row", "true", "predicted", "loss", "text"] and len(top["data"]) == 10
    losses = [r[3] for r in top["data"]]
    assert losses == sorted(losses, reverse=True)

    probs = client.predict("the movie was great superb fun", api_name="/predict")
    assert probs["label"] == "positive"
    assert {c["label"] for c in probs["confidences"]} == {"negative", "positive"}
    assert sum(c["confidence"] for c in probs["confidences"]) == pytest.approx(1.0, abs=1e-5)

    head_plot, grid_plot, tokens = client.predict("the movie was great", 2, 1, api_name="/attention")
    assert "`[CLS]`" in tokens and "`[SEP]`" in tokens
    assert head_plot is not None and grid_plot is not None

    out = client.predict(handle_file(str(sentiment_csv)), api_name="/predict_file")
    preds = pd.read_csv(out)
    assert {"prediction", "prob_negative", "prob_positive"} <= set(preds.columns)
    assert (preds["prediction"] == preds["label"]).mean() >= 0.9

    zip_path, card, _images = client.predict("me/tiny-sentiment", api_name="/export")
    assert "pipeline_tag: text-classification" in card
    with zipfile.ZipFile(zip_path) as zf:
        names = set(zf.namelist())
        meta = json.loads(zf.read("kdemo.json"))
    assert {"config.json", "model.safetensors", "kdemo.json", "README.md"} <= names
    assert meta["class_names"] == ["negative", "positive"]


def test_push_without_network_says_so_and_zip_still_downloads(client, tiny_bert_dir, sentiment_csv, monkeypatch):
    client.predict(handle_file(str(sentiment_csv)), None, 0.2, api_name="/load_data")
    train_via_api(client, str(tiny_bert_dir), 32, 32, 2e-3, 1, "fp32", 0.2)
    zip_path, _, _ = client.predict("me/tiny", api_name="/export")
    assert Path(zip_path).stat().st_size > 0
    with pytest.raises(AppError, match="(?i)could not reach the hugging face hub|token"):
        client.predict("me/tiny", "hf_fake_token_for_tests", True, api_name="/push")
    _health(client)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty"),
        (b"text,label\n", "no data rows"),
        (b"review\nnice\nbad\n", "two columns"),
        (b"text,label\nnice one,pos\nawful,pos\nfine,pos\n", "at least 2 different labels"),
        ("text,label\ncaf\u00e9 tr\u00e8s bien,pos\nnul,neg\n".encode("latin-1"), "read as Windows-1252 (Western European)"),
        (b"text,label\ngood,pos\nbad, really,neg\n", "3 fields in row 2 (line 3 of the file)"),
    ],
    ids=["empty", "header-only", "no-label-column", "one-class", "latin-1", "ragged"],
)
def test_bad_files_get_clear_messages_and_server_stays_up(client, tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    try:
        _, _, _, summary, _, doctor, _, _, _ = client.predict(handle_file(str(path)), None, 0.1, api_name="/load_data")
        message = summary + doctor  # a file that loads but cannot train is reported by the summary and the doctor
    except AppError as exc:
        message = str(exc)
    assert expected.lower() in message.lower(), message
    assert "Traceback" not in message
    _health(client)


def test_doctor_task_override_and_class_weight_offer(client, tmp_path):
    path = tmp_path / "spam.csv"
    rows = [f"ham message number {i}" for i in range(24)] + [f"win a prize now {i}" for i in range(6)]
    pd.DataFrame({"text": rows + [rows[0]], "label": ["ham"] * 24 + ["spam"] * 6 + ["ham"]}).to_csv(path, index=False)
    *_, summary, _, doctor, _, task, weights = client.predict(handle_file(str(path)), None, 0.1, api_name="/load_data")
    assert "4.2×" in doctor and "Balanced class weights offered" in doctor and "rows [1, 31]" in doctor
    assert weights["visible"] is True and task["value"] == "single_label"
    assert "on" in client.predict(True, api_name="/set_class_weight")
    report = client.predict(api_name="/diagnose")
    assert report["class_weight"] == {"0": pytest.approx(31 / 50), "1": pytest.approx(31 / 12)}
    assert report["duplicate_groups"] == [[1, 31]]
    # Overriding the task re-runs the doctor: strings cannot be regression targets, and the rows are named.
    summary, _, doctor, _, weights = client.predict("regression", 0.1, api_name="/set_task")
    assert "Cannot train yet" in summary and "Expected a number in every row of 'label'" in doctor
    assert weights["visible"] is False
    assert client.predict(api_name="/diagnose")["task"] == "regression"
    # Choosing columns again detects the task again.
    summary, counts, doctor, _, task, _ = client.predict("text", ["label"], 0.1, api_name="/set_columns")
    assert task["value"] == "single_label" and "2 classes" in summary
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio checks the dropdown choices
        client.predict("text", ["nope"], 0.1, api_name="/set_columns")
    _health(client)


def test_stop_ends_training_within_a_batch_and_keeps_the_model(client, tiny_bert_dir, tmp_path):
    import time

    from conftest import sentiment_frame

    big = tmp_path / "big.csv"
    sentiment_frame(2000).to_csv(big, index=False)
    client.predict(handle_file(str(big)), None, 0.1, api_name="/load_data")
    status, timer = client.predict(str(tiny_bert_dir), 32, 8, 2e-3, 10, "fp32", 0.1, api_name="/train")  # 2,250 steps
    assert timer["active"] is True  # the page's timer starts polling
    deadline = time.time() + 120
    while "step" not in (status := client.predict(api_name="/training_status")[0]):
        assert time.time() < deadline and not status.startswith(("✅", "❌")), f"training did not start: {status}"
        time.sleep(0.2)
    assert "Stopping" in client.predict(api_name="/stop")
    while not (status := client.predict(api_name="/training_status")[0]).startswith(("⏹️", "✅", "❌")):
        assert time.time() < deadline, status
        time.sleep(0.2)
    assert "Stopped after" in status, status
    done, total = (int(x) for x in status.split("after ")[1].split(" steps")[0].split("/"))
    assert done < total
    assert client.predict("the movie was great superb fun", api_name="/predict")["label"] in {"negative", "positive"}


def test_a_second_session_waits_in_the_device_queue_then_trains(client, tiny_bert_dir, tmp_path):
    import time

    from conftest import sentiment_frame

    big = tmp_path / "big.csv"
    sentiment_frame(2000).to_csv(big, index=False)
    client.predict(handle_file(str(big)), None, 0.1, api_name="/load_data")
    client.predict(str(tiny_bert_dir), 32, 8, 2e-3, 10, "fp32", 0.1, api_name="/train")  # 2,250 steps
    other = Client(client.src, verbose=False)
    try:
        other.predict(handle_file(str(big)), None, 0.1, api_name="/load_data")
        deadline = time.time() + 120
        while "step" not in client.predict(api_name="/training_status")[0]:
            assert time.time() < deadline
            time.sleep(0.2)
        status, timer = other.predict(str(tiny_bert_dir), 32, 16, 2e-3, 1, "fp32", 0.1, api_name="/train")
        assert "1 job ahead of yours (queue position 2)" in status and timer["active"], status
        assert "queue position 2" in other.predict(api_name="/training_status")[0]
        with pytest.raises(AppError, match="queued or running"):  # one job per session
            other.predict(str(tiny_bert_dir), 32, 16, 2e-3, 1, "fp32", 0.1, api_name="/train")
        assert "Stopping" in client.predict(api_name="/stop")  # the first ends early; the second then runs
        while not (final := other.predict(api_name="/training_status"))[0].startswith(("✅", "❌")):
            assert time.time() < deadline, final[0]
            time.sleep(0.3)
        assert final[0].startswith("✅ Finished") and "accuracy" in final[2], final[0]
        assert client.predict(api_name="/training_status")[0].startswith("⏹️ Stopped")
    finally:
        other.close()


def test_sessions_are_isolated(client, tiny_bert_dir, sentiment_csv):
    client.predict(handle_file(str(sentiment_csv)), None, 0.2, api_name="/load_data")
    train_via_api(client, str(tiny_bert_dir), 32, 16, 2e-3, 1, "fp32", 0.2)
    assert client.predict("great", api_name="/predict")["label"]  # this session has a model
    other = Client(client.src, verbose=False)  # another browser session: no data, no model
    try:
        with pytest.raises(AppError, match="Train one in the Train tab"):
            other.predict("hello", api_name="/predict")
        with pytest.raises(AppError, match="Train one in the Train tab"):
            other.predict("hello", 1, 1, api_name="/attention")
        with pytest.raises(AppError, match="Train one in the Train tab"):
            other.predict("me/x", api_name="/export")
        with pytest.raises(AppError, match="Upload a labelled file"):
            other.predict(None, 32, 16, 1e-4, 1, "auto", 0.1, api_name="/train")
        assert other.predict(api_name="/stop") == "Nothing is training right now."
    finally:
        other.close()


def test_busy_port_gives_a_clear_message_not_a_traceback():
    import socket
    import subprocess
    import sys

    from conftest import REPO

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "app.py", "--port", str(port)], cwd=REPO, capture_output=True, text=True, timeout=180
        )
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"--port {port + 1}" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("limit", [8, 0], ids=["halves-to-8", "gives-up"])
def test_out_of_memory_is_retried_with_smaller_batches_and_shown(client, tiny_bert_dir, sentiment_csv, monkeypatch, limit):
    """An injected CUDA-style OOM for batches above ``limit`` rows (the server runs in this process)."""
    import torch

    from kdemo.modeling.classifier import HFClassifier

    original = HFClassifier.call

    def call(self, inputs, training=False):
        if training and int(inputs["input_ids"].shape[0]) > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return original(self, inputs, training=training)

    monkeypatch.setattr(HFClassifier, "call", call)
    client.predict(handle_file(str(sentiment_csv)), None, 0.2, api_name="/load_data")
    status = train_via_api(client, str(tiny_bert_dir), 32, 32, 2e-3, 2, "fp32", 0.2)[0]
    assert "Out of memory at batch size 32: retrying with batch size 16 × 2" in status, status
    if limit:
        assert status.startswith("✅ Finished") and "batch size 8 × 4 gradient-accumulation steps (effective batch 32)" in status
        assert client.predict("great", api_name="/predict")["label"] in {"negative", "positive"}
    else:
        assert status.startswith("❌ Out of memory even at batch size 1") and "shorter maxlen" in status, status
        assert "Traceback" not in status
    _health(client)


def test_unsure_encoding_reload_and_language_coverage_through_the_api(client, tmp_path):
    """A short GBK file: unsure; /reload_data with the codec reads it as given; the doctor and /model_coverage warn
    that the default model cannot read Chinese."""
    path = tmp_path / "short_gbk.csv"
    path.write_bytes("text,label\n好酒店,positive\n很差,negative\n不错,positive\n很好,negative\n".encode("gbk"))
    _, _, _, summary, _, doctor, _, _, _ = client.predict(handle_file(str(path)), None, 0.1, api_name="/load_data")
    assert "unsure" in summary and "Encoding menu" in doctor
    _, _, _, summary, _, doctor, _, _, _ = client.predict(handle_file(str(path)), None, 0.1, "gb18030",
                                                          api_name="/reload_data")
    assert "unsure" not in summary and "GB18030 (Chinese, simplified)** (as given)" in doctor
    assert "Languages: **Chinese 100 %**" in doctor and "cannot read this text well" in doctor
    report = client.predict(api_name="/diagnose")
    assert report["languages"] == {"zh": 1.0} and report["unk_share"] > 0.5
    coverage = client.predict("sentence-transformers/all-MiniLM-L6-v2", api_name="/model_coverage")
    assert coverage.startswith("⚠️") and "bert-base-chinese" in coverage
    with pytest.raises(AppError, match="not valid shift_jis"):
        client.predict(handle_file(str(path)), None, 0.1, "shift_jis", api_name="/reload_data")
    _health(client)


def test_sentence_pairs_train_and_predict_through_the_api(client, tiny_bert_dir, tmp_path):
    """Data tab: a second-text column; Train: the run reads pairs; Predict: a pair in, the regression value out."""
    from test_run import sts_frame

    data = tmp_path / "sts.csv"
    sts_frame(160).to_csv(data, index=False)
    client.predict(handle_file(str(data)), None, 0.2, api_name="/load_data")
    client.predict("sentence1", ["score"], 0.2, api_name="/set_columns")
    with pytest.raises(AppError, match="other than the text column"):
        client.predict("score", api_name="/set_text_pair")
    assert "sentence pair: `sentence1` and `sentence2`" in client.predict("sentence2", api_name="/set_text_pair")
    client.predict("regression", 0.2, api_name="/set_task")
    status, *_ = train_via_api(client, str(tiny_bert_dir), 32, 16, 2e-3, 2, "fp32", 0.2)
    assert "Finished" in status, status
    label = client.predict("good movie plot", "good movie story", api_name="/predict")["label"]
    assert label.startswith("score = ") and -10 < float(label.split(" = ")[1]) < 15  # a value, not a percentage
    single = client.predict("good movie plot", "", api_name="/predict")["label"]
    assert label != single  # the second text reaches the model
    assert "Each row is one text." == client.predict("", api_name="/set_text_pair")
    _health(client)


class _Progress:
    """Records every ``desc`` a handler reports, as ``gr.Progress`` would show it (issue 29, item 11)."""

    def __init__(self):
        self.descs: list[str] = []

    def __call__(self, progress=None, desc=None, **kwargs):
        self.descs.append(desc)


@pytest.mark.parametrize("kind", ["table", "tokens"])
def test_the_data_tab_load_reports_its_stages(kind, sentiment_csv, tmp_path, monkeypatch):
    """An upload says what it is doing: reading the named file (detecting its encoding), the rows or sentences read,
    then the data doctor, in that order; the outputs are as before."""
    from test_ner_app import CONLL

    from kdemo.ui import data_tab
    from kdemo.ui.session import STORE, SessionStore

    session = SessionStore(root=tmp_path / "sessions")._new(f"progress-{kind}")
    monkeypatch.setattr(STORE, "get", lambda request: session)
    path = sentiment_csv if kind == "table" else CONLL
    recorder = _Progress()
    outputs = data_tab.load_data(str(path), None, 0.1, None, progress=recorder)
    assert len(outputs) == data_tab.LOAD_OUTPUTS
    read = "Read 200 rows" if kind == "table" else f"Read {len(session.data.train.words)} sentences"
    stages = [f"Reading {path.name} (detecting the encoding)", read,
              "Data doctor: checking labels, lengths, languages"]
    assert [d for d in recorder.descs if d in stages] == stages, recorder.descs
    assert recorder.descs[-1] not in stages[:2]  # the last word is the doctor's or done, not a stale stage
    recorder = _Progress()
    data_tab.reload_data(str(path), None, 0.1, "utf-8", None, progress=recorder)
    assert recorder.descs[0] == f"Reading {path.name}", recorder.descs

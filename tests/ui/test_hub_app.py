"""The Hub tab and the model loader through the app's API, against the local Hub server; sign-in; no token leaks."""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from pathlib import Path

import gradio as gr
import httpx
import pytest
from conftest import train_via_api
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from hub_server import BOB_TOKEN, READ_TOKEN, TOKENS, WRITE_TOKEN, LocalHub, isolate_hf_client, running_hub
from transformers import pipeline

from kdemo.ui import auth, build_app
from kdemo.ui.session import STORE

TEXT = "the movie was great superb fun"


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    yield from running_hub(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    import os

    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio-tmp"))
    demo = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, max_file_size="50mb")
    yield url
    demo.close()


@pytest.fixture
def client(app_url):
    c = Client(app_url, verbose=False)  # a fresh browser session per test
    yield c
    c.close()


def _train(client, tiny_bert_dir, csv) -> None:
    client.predict(handle_file(str(csv)), None, 0.2, api_name="/load_data")
    status = train_via_api(client, str(tiny_bert_dir), 32, 16, 2e-3, 2, "fp32", 0.2)[0]
    assert "Finished" in status, status


def _call(client, api: str, data: list, oauth_token: str | None = None) -> tuple[str, object, str]:
    """Call an endpoint over plain HTTP in the client's session; returns (event, data, the raw response text)."""
    body = {"data": data, "session_hash": client.session_hash}
    if oauth_token is not None:
        body["oauth_token"] = oauth_token  # what Gradio injects as gr.OAuthToken for a signed-in visitor
    posted = httpx.post(f"{client.src}gradio_api/call/{api}", json=body, timeout=30)
    posted.raise_for_status()
    raw = httpx.get(f"{client.src}gradio_api/call/{api}/{posted.json()['event_id']}", timeout=300).text
    event = [line[7:] for line in raw.splitlines() if line.startswith("event: ")][-1]
    payload = [line[6:] for line in raw.splitlines() if line.startswith("data: ")][-1]
    return event, json.loads(payload), posted.text + raw


def _probs(client, text: str) -> dict[str, float]:
    return {c["label"]: c["confidence"] for c in client.predict(text, api_name="/predict")["confidences"]}


def test_train_export_push_then_load_through_the_api(client, local_hub, tiny_bert_dir, sentiment_csv, monkeypatch):
    _train(client, tiny_bert_dir, sentiment_csv)
    before = _probs(client, TEXT)
    zip_path, card, images = client.predict("alice/app-model", "stanfordnlp/sst2", "", api_name="/export")
    assert "pipeline_tag: text-classification" in card and "## Training results per epoch" in card
    assert sorted(Path(i["image"]).name for i in images) == ["confusion_matrix.png", "training_curve.png"]
    status = client.predict("alice/app-model", WRITE_TOKEN, True, api_name="/push")
    oid = local_hub.repos["alice/app-model"].commits[-1][0]
    assert f"({local_hub.url}/alice/app-model/commit/{oid})" in status and "private" in status
    with zipfile.ZipFile(zip_path) as zf:  # the zip is exactly what arrived
        assert {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")} == local_hub.files("alice/app-model")
    clf = pipeline("text-classification", model=str(local_hub.repo_dir("alice/app-model")), truncation=True)
    assert {d["label"]: d["score"] for d in clf(TEXT, top_k=None)} == pytest.approx(before, abs=1e-5)

    other = Client(client.src, verbose=False)  # a fresh session loads the pushed model: no training needed
    try:
        with pytest.raises(AppError, match="does not exist or is private"):
            other.predict("alice/app-model", api_name="/load_model")  # private, and no token here
        monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)  # locally, HF_TOKEN signs in
        loaded, layer, head = other.predict("alice/app-model", api_name="/load_model")
        assert "Loaded **alice/app-model**: 2 classes (negative, positive)" in loaded
        assert layer["maximum"] == 2 and head["maximum"] == 2
        assert _probs(other, TEXT) == pytest.approx(before, abs=1e-5)
        _, card, images = other.predict("alice/app-model-copy", "", "", api_name="/export")
        assert "Class balance\n\nNot recorded" in card and images == []  # honest: no training in this session
    finally:
        other.close()


@pytest.mark.parametrize(
    ("token", "stop_hub", "message"),
    [
        ("hf_wrong_token_123456", False, r"rejected the token \(401 Unauthorized\)"),
        (READ_TOKEN, False, r"no write access to 'alice/app-model' \(403 Forbidden"),
        (WRITE_TOKEN, True, r"Could not reach the Hugging Face Hub"),
    ],
    ids=["401", "403", "network-down"],
)
def test_push_errors_show_a_message_and_the_zip_still_downloads(client, local_hub, tiny_bert_dir, sentiment_csv,
                                                               token, stop_hub, message):
    _train(client, tiny_bert_dir, sentiment_csv)
    if stop_hub:
        local_hub.stop()
    with pytest.raises(AppError, match=message) as info:
        client.predict("alice/app-model", token, True, api_name="/push")
    assert "Your model folder is unchanged" in str(info.value) and token not in str(info.value)
    zip_path, _, _ = client.predict("alice/app-model", "", "", api_name="/export")
    folder = STORE.get(type("R", (), {"session_hash": client.session_hash})()).workdir / "model"
    with zipfile.ZipFile(zip_path) as zf:
        assert {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")} == {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert not local_hub.repos.get("alice/app-model") or not local_hub.repos["alice/app-model"].commits


def test_load_model_errors(client, local_hub):
    with pytest.raises(AppError, match="does not exist or is private"):
        client.predict("alice/never-pushed", api_name="/load_model")
    with pytest.raises(AppError, match="Expected a Hugging Face Hub model id"):
        client.predict("not a model id!", api_name="/load_model")
    with pytest.raises(AppError, match="Train one in the Train tab"):
        client.predict(TEXT, api_name="/predict")  # a failed load leaves no half-loaded model behind


def test_on_spaces_a_push_needs_the_visitors_sign_in(client, local_hub, tiny_bert_dir, sentiment_csv, monkeypatch):
    _train(client, tiny_bert_dir, sentiment_csv)
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "someone/kdemo")
    monkeypatch.setenv("HF_TOKEN", BOB_TOKEN)  # the Space's own secret: must never push for a visitor
    with pytest.raises(AppError, match="Expected you to be signed in to push"):
        client.predict("alice/from-space", "", True, api_name="/push")
    assert "alice/from-space" not in local_hub.repos and "bob/from-space" not in local_hub.repos
    event, data, _ = _call(client, "push", ["alice/from-space", "", True], oauth_token=WRITE_TOKEN)  # signed in
    assert event == "complete" and "Pushed to [alice/from-space]" in data[0]
    assert "model.safetensors" in local_hub.files("alice/from-space")
    other = Client(client.src, verbose=False)
    try:  # anonymous visitors cannot load the private model, even though it sits in the shared cache
        with pytest.raises(AppError, match="does not exist or is private"):
            other.predict("alice/from-space", api_name="/load_model")
    finally:
        other.close()


def test_the_login_button_appears_only_where_oauth_works(monkeypatch, caplog):
    def login_buttons(demo):
        return [b for b in demo.blocks.values() if isinstance(b, gr.LoginButton)]

    assert auth.on_spaces() is False
    assert login_buttons(build_app()) == []  # locally: the token box and HF_TOKEN, no mocked OAuth
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "someone/kdemo")
    for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL"):
        monkeypatch.setattr(auth.gradio_oauth, name, "set-by-spaces")
    with caplog.at_level(logging.WARNING, logger="kdemo.ui"):
        extras = auth._oauth_extras_installed()
        if not extras:  # without gradio[oauth] a LoginButton would crash the app at build time: none is made
            assert login_buttons(build_app()) == []
            assert "add it to requirements.txt" in caplog.text
    attached = []
    monkeypatch.setattr(auth, "_oauth_extras_installed", lambda: True)
    monkeypatch.setattr(gr.routes, "attach_oauth", attached.append)  # Gradio's real OAuth routes need the Space
    demo = build_app()
    assert len(login_buttons(demo)) == 1 and demo.expects_oauth and attached  # Gradio wires its OAuth routes
    from kdemo.ui import hub_tab, predict_tab

    assert gr.utils.oauth_token_requirement(predict_tab.predict) is None  # only the Hub calls get the token
    assert gr.utils.oauth_token_requirement(hub_tab.export) is None
    assert gr.utils.oauth_token_requirement(hub_tab.push) == "optional"
    assert gr.utils.oauth_token_requirement(predict_tab.load_model) == "optional"


def test_the_token_never_leaks(app_url, tmp_path, monkeypatch, caplog, capfd, tiny_bert_dir, sentiment_csv):
    """Train → save → export → push → load with a recognisable token; it appears nowhere it should not."""
    canary = "hf_CANARY" + "x7Qz9LmP4wTkR2"
    isolated = tmp_path / "tmp"
    isolated.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(isolated))  # session folders and push scratch land here
    isolate_hf_client(monkeypatch, tmp_path)
    hub = LocalHub(tmp_path / "hub", {**TOKENS, canary: ("alice", "write")})
    monkeypatch.setenv("HF_ENDPOINT", hub.start())
    for name in (None, "huggingface_hub", "httpx", "httpx2", "httpcore", "gradio", "uvicorn", "kdemo"):
        caplog.set_level(logging.DEBUG, logger=name)  # every logger, every level
    client = Client(app_url, verbose=False)
    responses = []
    try:
        _train(client, tiny_bert_dir, sentiment_csv)
        for api, data in [("export", ["alice/canary-model", "", ""]), ("push", ["alice/canary-model", canary, True])]:
            event, payload, raw = _call(client, api, data)
            assert event == "complete", raw
            responses.append(raw)
        responses.append(httpx.get(f"{app_url}config", timeout=30).text)
        monkeypatch.setenv("HF_TOKEN", canary)  # load the private model back, signed in through HF_TOKEN
        event, payload, raw = _call(client, "load_model", ["alice/canary-model"])
        assert event == "complete" and "Loaded" in payload[0], raw
        responses.append(raw)
        monkeypatch.delenv("HF_TOKEN")
        event, _, raw = _call(client, "push", ["alice/canary-model", canary + "-wrong", True])  # an error path too
        assert event == "error"
        responses.append(raw)
        workdir = STORE.get(type("R", (), {"session_hash": client.session_hash})()).workdir
    finally:
        client.close()
        hub.stop()
    assert hub.repos["alice/canary-model"].commits  # the canary did its job: it pushed
    assert workdir.is_relative_to(isolated) and (workdir / "model" / "README.md").exists()

    def files_with(root: Path) -> list[str]:
        return [str(p) for p in root.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]

    (tmp_path / "control.txt").write_text(f"token={canary}")  # proves the scan finds what it looks for
    import os

    roots = [tmp_path, Path(os.environ["GRADIO_TEMP_DIR"]), workdir]
    assert [f for root in roots for f in files_with(root)] == [str(tmp_path / "control.txt")]
    logs = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    out, err = capfd.readouterr()
    assert caplog.records and "POST /api/repos/create" in out + err + logs  # the server's log lines were captured
    for name, text in [("log", logs), ("stdout", out), ("stderr", err), ("hub responses", repr(hub.response_bodies)),
                       ("app responses", "\n".join(responses)), ("hub request log", repr(hub.log))]:
        assert canary not in text, f"the token leaked into {name}"

"""Zip export, repo ids, loading checks and the translation of Hub failures into clear messages (no server here)."""

from __future__ import annotations

import importlib
import json
import re
import tempfile
import zipfile
from pathlib import Path

import pytest
from hub_server import CLOSED_PORT, isolate_hf_client
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError

from kdemo import HubError, ModelError, Transformer, get_predictor
from kdemo.errors import (
    HubAuthError,
    HubConflictError,
    HubNetworkError,
    HubNotFoundError,
    HubRateLimitError,
    HubServerError,
)
from kdemo.hub import push as hub
from kdemo.hub.card import write_model_card
from kdemo.hub.push import export_zip, hub_error, push_to_hub, validate_repo_id
from kdemo.inference.hub_models import load_from_hub

META = {
    "base_model": "prajjwal1/bert-tiny",
    "metrics": {"accuracy": 0.91234, "macro_f1": 0.8876, "num_rows": 40},
    "training": {"lr": 1e-4, "epochs": 3, "batch_size": 8},
}
TOKEN = "hf_unit_test_token_9Kx2"
http = importlib.import_module(HfHubHTTPError.__mro__[1].__module__.split(".")[0])  # httpx2 (hub 2.x) or httpx


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    isolate_hf_client(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT)


@pytest.fixture(scope="module")
def predictor(tiny_bert_dir):
    preproc = Transformer(str(tiny_bert_dir), maxlen=32, class_names=["negative", "positive"])
    return get_predictor(preproc.get_classifier(), preproc, meta=META)


@pytest.fixture
def folder(predictor, tmp_path) -> Path:
    return predictor.save(tmp_path / "sentiment-tiny")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _http_error(status: int, body: dict | None = None, headers: dict | None = None, cls=HfHubHTTPError):
    request = http.Request("POST", f"{CLOSED_PORT}/api/repos/create")
    response = http.Response(status, request=request, json=body or {}, headers=headers or {})
    return cls(f"{status} Client Error", response=response)


# ---------------------------------------------------------------------------------------------------- zip
def test_export_zip_contains_exactly_the_folder(folder, tmp_path):
    write_model_card(folder)
    path = export_zip(folder)
    assert path == folder.with_suffix(".zip")
    with zipfile.ZipFile(path) as zf:
        names = {n for n in zf.namelist() if not n.endswith("/")}
        assert names == set(_snapshot(folder))
        assert all(zf.read(n) == (folder / n).read_bytes() for n in names)
        assert {"README.md", "model.safetensors", "training_params.json"} <= names
    custom = export_zip(folder, tmp_path / "elsewhere" / "model.zip")
    assert custom == tmp_path / "elsewhere" / "model.zip"
    with zipfile.ZipFile(custom) as zf:
        assert {n for n in zf.namelist() if not n.endswith("/")} == set(_snapshot(folder))


# ---------------------------------------------------------------------------------------------------- repo ids
@pytest.mark.parametrize("repo_id", ["user/model", "Org-1/my_model.v2", "a/b", "  user/model  "])
def test_validate_repo_id_accepts(repo_id):
    assert validate_repo_id(repo_id) == repo_id.strip()


@pytest.mark.parametrize(
    "repo_id",
    ["", "   ", None, "model-only", "a/b/c", "user/", "/model", "user/..", "user/a..b", "user/na me", "-user/model",
     "user/-model", "user/a--b", "u" * 97 + "/model", "user/model!", "https://huggingface.co/user/model"],
)
def test_validate_repo_id_rejects(repo_id):
    with pytest.raises(HubError, match="Expected a repo id like"):
        validate_repo_id(repo_id)


def test_hub_endpoint_follows_hf_endpoint_at_call_time(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1234/")
    assert hub.hub_endpoint() == "http://127.0.0.1:1234"
    monkeypatch.delenv("HF_ENDPOINT")
    assert hub.hub_endpoint() == hub.constants.ENDPOINT.rstrip("/")


# ---------------------------------------------------------------------------------------------------- push failures
def test_push_to_unreachable_hub_raises_and_keeps_the_folder(folder):
    write_model_card(folder, repo_id="someone/sentiment-tiny")
    before = _snapshot(folder)
    with pytest.raises(HubError, match="Could not reach the Hugging Face Hub at http://127.0.0.1:9") as info:
        push_to_hub(folder, "someone/sentiment-tiny", token=TOKEN)
    assert TOKEN not in str(info.value)
    assert "download the zip" in str(info.value)
    assert _snapshot(folder) == before


def test_push_writes_a_card_for_the_repo_and_keeps_the_rest(folder):
    before = _snapshot(folder)
    assert "README.md" not in before
    with pytest.raises(HubError, match="Could not reach"):
        push_to_hub(folder, "someone/sentiment-tiny", token=TOKEN)
    after = _snapshot(folder)
    assert 'model="someone/sentiment-tiny"' in after["README.md"].decode()
    assert {k: v for k, v in after.items() if k not in ("README.md", "training_params.json", "card.json")} == before
    # only the record of what the card was written for is added, in a file of its own: kdemo.json is left as it is
    assert json.loads(after["card.json"]) == {"repo_id": "someone/sentiment-tiny", "dataset_id": None, "example": None}
    write_model_card(folder, repo_id="old/name")  # a card written for another repo is rewritten before pushing
    with pytest.raises(HubError, match="Could not reach"):
        push_to_hub(folder, "someone/sentiment-tiny", token=TOKEN)
    assert 'model="someone/sentiment-tiny"' in (folder / "README.md").read_text()


def test_push_a_predictor_cleans_its_temporary_folder(predictor, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(HubError, match="Could not reach"):
        predictor.push_to_hub("someone/sentiment-tiny", token=TOKEN)
    assert list(scratch.iterdir()) == []


def test_push_rejects_a_bad_repo_id_or_folder_before_touching_anything(folder, tmp_path):
    before = _snapshot(folder)
    with pytest.raises(HubError, match="Expected a repo id"):
        push_to_hub(folder, "not a repo", token=TOKEN)
    assert _snapshot(folder) == before
    with pytest.raises(HubError, match="Expected a saved predictor folder"):
        push_to_hub(tmp_path / "nothing-here", "someone/x", token=TOKEN)


@pytest.mark.parametrize(
    ("status", "match"),
    [
        (400, r"refused the request .*400 Bad Request: Invalid repo name"),
        (401, r"rejected the token \(401 Unauthorized\).*paste a new one"),
        (403, r"no write access to 'someone/sentiment-tiny' \(403 Forbidden"),
        (409, r"conflicts with an existing repo \(409 Conflict"),
        (429, r"rate-limiting requests \(429"),
        (500, r"server error \(500\)"),
        (418, r"answered with an error \(418\)"),
    ],
)
def test_push_http_errors_become_clear_hub_errors(folder, monkeypatch, status, match):
    def create_repo(self, repo_id, **kwargs):
        raise _http_error(status, {"error": f"Invalid repo name (token {TOKEN} echoed)"} if status == 400 else None)

    monkeypatch.setattr(hub.HfApi, "create_repo", create_repo)
    with pytest.raises(HubError, match=match) as info:
        push_to_hub(folder, "someone/sentiment-tiny", token=TOKEN)
    assert TOKEN not in str(info.value)  # server text is quoted with the token scrubbed
    assert "Your model folder is unchanged" in str(info.value)
    assert (folder / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, HubError), (401, HubAuthError), (403, HubAuthError), (404, HubNotFoundError), (409, HubConflictError),
     (429, HubRateLimitError), (500, HubServerError), (503, HubServerError), (418, HubError)],
)
def test_push_http_errors_are_typed_by_status(folder, monkeypatch, status, kind):
    """As huggingface_hub's errors: the type and ``status``/``repo_id`` tell a 401 from a 409, not the message."""
    monkeypatch.setattr(hub.HfApi, "create_repo", lambda self, *a, **k: (_ for _ in ()).throw(_http_error(status)))
    with pytest.raises(HubError) as info:
        push_to_hub(folder, "someone/sentiment-tiny", token=TOKEN)
    assert type(info.value) is kind
    assert info.value.status == status and info.value.repo_id == "someone/sentiment-tiny"


def test_unreachable_hub_is_a_network_error(folder):
    with pytest.raises(HubNetworkError) as info:
        push_to_hub(folder, "someone/sentiment-tiny", token=TOKEN)
    assert info.value.status is None and info.value.repo_id == "someone/sentiment-tiny"
    assert isinstance(info.value, HubError)  # existing `except HubError` keeps catching it


def test_lfs_upload_failures_are_unwrapped(folder, monkeypatch):
    """huggingface_hub wraps LFS upload errors in RuntimeError; the HTTP status underneath decides the message."""

    def upload_folder(self, **kwargs):
        try:
            raise _http_error(403)
        except HfHubHTTPError as exc:
            raise RuntimeError("Error while uploading 'model.safetensors' to the Hub.") from exc

    monkeypatch.setattr(hub.HfApi, "create_repo", lambda self, *a, **k: None)
    monkeypatch.setattr(hub.HfApi, "upload_folder", upload_folder)
    with pytest.raises(HubError, match="403 Forbidden"):
        push_to_hub(folder, "someone/sentiment-tiny", token=TOKEN)


def test_unrelated_errors_are_not_disguised(folder, monkeypatch):
    monkeypatch.setattr(hub.HfApi, "create_repo", lambda self, *a, **k: (_ for _ in ()).throw(KeyError("bug")))
    with pytest.raises(KeyError, match="bug"):
        push_to_hub(folder, "someone/x", token=TOKEN)


def test_kdemo_json_is_valid_after_push_attempt(folder):
    with pytest.raises(HubError):
        push_to_hub(folder, "someone/x", token=TOKEN)
    meta = json.loads((folder / "kdemo.json").read_text())
    assert meta["metrics"]["accuracy"] == pytest.approx(0.91234)


# ---------------------------------------------------------------------------------------------------- load failures
@pytest.mark.parametrize(
    ("exc", "token", "match"),
    [
        (_http_error(404, headers={"X-Error-Code": "RepoNotFound"}), None, r"does not exist or is private \(404\)"),
        (_http_error(401), None, r"does not exist or is private \(401\)"),
        (_http_error(401), TOKEN, r"rejected the token \(401"),
        (_http_error(403, headers={"X-Error-Code": "GatedRepo"}, cls=GatedRepoError), TOKEN, "gated model"),
        (LocalEntryNotFoundError("not cached"), None, "cannot be reached and the model is not in the local cache"),
    ],
)
def test_load_errors_become_clear_model_errors(exc, token, match):
    error = hub_error(exc, "org/model", endpoint=CLOSED_PORT, token=token, action="load")
    assert isinstance(error, (ModelError, HubError))
    assert re.search(match, str(error)), str(error)
    assert TOKEN not in str(error)


def test_load_from_unreachable_hub_says_so():
    with pytest.raises(ModelError, match=r"Hub at http://127.0.0.1:9 cannot be reached and the model is not in"):
        load_from_hub("someone/not-cached-anywhere")


@pytest.mark.parametrize("source", ["", "   ", "not a model id", "../escape", "a/b/c"])
def test_load_rejects_malformed_sources(source):
    with pytest.raises(ModelError, match="Expected"):
        load_from_hub(source)


def test_load_from_a_local_folder_matches_the_predictor(folder, predictor):
    loaded = load_from_hub(str(folder))
    assert loaded.get_classes() == ["negative", "positive"]
    text = "the movie was great"
    assert loaded.predict_proba(text) == pytest.approx(predictor.predict_proba(text), abs=1e-6)


def test_load_refuses_pickles_and_models_without_a_classification_head(folder, tmp_path):
    no_head = tmp_path / "no-head"
    no_head.mkdir()
    config = json.loads((folder / "config.json").read_text())
    (no_head / "config.json").write_text(json.dumps({**config, "architectures": ["BertModel"]}))
    (no_head / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ModelError, match="no trained classification head"):
        load_from_hub(str(no_head))
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((folder / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelError, match="does not load pickles"):
        load_from_hub(str(pickled))

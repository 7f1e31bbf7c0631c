"""Model cards, zip export, repo-id checks and push errors (offline only: nothing here reaches the Hub)."""

from __future__ import annotations

import importlib
import json
import tempfile
import zipfile
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.errors import HfHubHTTPError

from kdemo import HubError, Transformer, get_predictor
from kdemo import hub
from kdemo.hub import export_zip, push_to_hub, validate_repo_id, write_model_card

CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused at once
META = {
    "base_model": "prajjwal1/bert-tiny",
    "metrics": {"accuracy": 0.91234, "macro_f1": 0.8876, "num_rows": 40},
    "training": {"lr": 1e-4, "epochs": 3, "batch_size": 8},
}


@pytest.fixture(scope="module")
def predictor(tiny_bert_dir):
    preproc = Transformer(str(tiny_bert_dir), maxlen=32, class_names=["negative", "positive"])
    return get_predictor(preproc.get_classifier(), preproc, meta=META)


@pytest.fixture
def folder(predictor, tmp_path) -> Path:
    return predictor.save(tmp_path / "sentiment-tiny")


def _front_matter(readme: Path) -> tuple[dict, str]:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(header), body


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------------- model card
def test_model_card_metadata(folder):
    card = write_model_card(folder, repo_id="someone/sentiment-tiny", example="a witty, gorgeous film")
    assert isinstance(card, ModelCard)
    meta, _ = _front_matter(folder / "README.md")
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["base_model"] == "prajjwal1/bert-tiny"
    assert meta["widget"] == [{"text": "a witty, gorgeous film"}]
    assert "kdemo" in meta["tags"]
    index = meta["model-index"]
    assert index[0]["name"] == "sentiment-tiny"
    results = index[0]["results"][0]
    assert results["task"]["type"] == "text-classification"
    assert results["dataset"]["split"] == "validation"
    metrics = {m["type"]: m["value"] for m in results["metrics"]}
    assert metrics == {"accuracy": 0.9123, "f1": 0.8876}
    # huggingface_hub parses its own output back.
    loaded = ModelCard.load(folder / "README.md")
    assert loaded.data.eval_results[0].metric_value == 0.9123


def test_model_card_body(folder):
    write_model_card(folder, repo_id="someone/sentiment-tiny", example="a witty, gorgeous film")
    _, body = _front_matter(folder / "README.md")
    assert "| id | label |" in body
    assert "| 0 | negative |" in body and "| 1 | positive |" in body
    assert 'pipeline("text-classification", model="someone/sentiment-tiny", truncation=True)' in body
    assert 'clf("a witty, gorgeous film", top_k=None)' in body
    assert "accuracy: **0.9123**" in body
    assert "macro-F1: **0.8876** (40 rows)" in body
    assert "- lr: 0.0001" in body and "- epochs: 3" in body
    assert "[prajjwal1/bert-tiny](https://huggingface.co/prajjwal1/bert-tiny)" in body
    assert "- transformers: " in body and "- torch: " in body


def test_model_card_without_metrics(predictor, tmp_path):
    predictor_meta = dict(predictor.meta)
    predictor.meta = {"base_model": "prajjwal1/bert-tiny"}
    try:
        folder = predictor.save(tmp_path / "plain")
    finally:
        predictor.meta = predictor_meta
    write_model_card(folder)
    meta, body = _front_matter(folder / "README.md")
    assert "model-index" not in meta
    assert "Not evaluated." in body
    assert 'model="plain"' in body  # repo id defaults to the folder name


def test_model_card_needs_a_predictor_folder(tmp_path):
    with pytest.raises(HubError, match="kdemo.json"):
        write_model_card(tmp_path)


def test_model_card_does_not_leak_a_token(folder, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_SECRETSECRETSECRET")
    write_model_card(folder)
    assert "hf_SECRET" not in (folder / "README.md").read_text()
    assert "hf_SECRET" not in (folder / "kdemo.json").read_text()


# ---------------------------------------------------------------------------------------------------- zip
def test_export_zip_contains_exactly_the_folder(folder, tmp_path):
    write_model_card(folder)
    path = export_zip(folder)
    assert path == folder.with_suffix(".zip")
    with zipfile.ZipFile(path) as zf:
        names = {n for n in zf.namelist() if not n.endswith("/")}
        assert names == set(_snapshot(folder))
        assert all(zf.read(n) == (folder / n).read_bytes() for n in names)
        assert "README.md" in names and "model.safetensors" in names
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


# ---------------------------------------------------------------------------------------------------- push errors
def test_push_to_unreachable_hub_raises_and_keeps_the_folder(folder):
    write_model_card(folder, repo_id="someone/sentiment-tiny")
    before = _snapshot(folder)
    with pytest.raises(HubError, match="Could not reach the Hugging Face Hub") as info:
        push_to_hub(folder, "someone/sentiment-tiny", token="hf_not_a_real_token", endpoint=CLOSED_PORT)
    assert "hf_not_a_real_token" not in str(info.value)
    assert "zip" in str(info.value)
    assert _snapshot(folder) == before


def test_push_writes_a_card_when_missing_and_keeps_the_rest(folder):
    before = _snapshot(folder)
    assert "README.md" not in before
    with pytest.raises(HubError, match="Could not reach"):
        push_to_hub(folder, "someone/sentiment-tiny", token="hf_x", endpoint=CLOSED_PORT)
    after = _snapshot(folder)
    assert "README.md" in after
    assert {k: v for k, v in after.items() if k != "README.md"} == before


def test_push_a_predictor_cleans_its_temporary_folder(predictor, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with pytest.raises(HubError, match="Could not reach"):
        push_to_hub(predictor, "someone/sentiment-tiny", token="hf_x", endpoint=CLOSED_PORT)
    assert list(scratch.iterdir()) == []


def test_push_rejects_a_bad_repo_id_before_touching_anything(folder):
    before = _snapshot(folder)
    with pytest.raises(HubError, match="Expected a repo id"):
        push_to_hub(folder, "not a repo", token="hf_x", endpoint=CLOSED_PORT)
    assert _snapshot(folder) == before


@pytest.mark.parametrize(
    ("status", "match"),
    [
        (401, "rejected the token"),
        (403, "no write access"),
        (409, "conflicts"),
        (429, "rate-limiting"),
        (500, r"error \(500\)"),
    ],
)
def test_push_http_errors_become_clear_hub_errors(folder, monkeypatch, status, match):
    http = importlib.import_module(HfHubHTTPError.__mro__[1].__module__.split(".")[0])  # httpx2 (hub 2.x) or httpx

    def create_repo(self, repo_id, **kwargs):
        request = http.Request("POST", f"{CLOSED_PORT}/api/repos/create")
        raise HfHubHTTPError(f"{status} Client Error", response=http.Response(status, request=request))

    monkeypatch.setattr(hub.HfApi, "create_repo", create_repo)
    with pytest.raises(HubError, match=match):
        push_to_hub(folder, "someone/sentiment-tiny", token="hf_x", endpoint=CLOSED_PORT)
    assert (folder / "model.safetensors").exists()


def test_kdemo_json_is_valid_after_push_attempt(folder):
    with pytest.raises(HubError):
        push_to_hub(folder, "someone/x", token="hf_x", endpoint=CLOSED_PORT)
    meta = json.loads((folder / "kdemo.json").read_text())
    assert meta["metrics"]["accuracy"] == pytest.approx(0.91234)

"""Push and load through huggingface_hub's real client against a local Hub server (tests/hub_server.py).

What arrives on the server is checked byte for byte, loaded with ``transformers.pipeline`` and compared with the
predictor's own probabilities. Error paths use the server's real auth (unknown token → 401, read token or foreign
namespace → 403) or forced statuses (409, 429, 503), and a stopped server for "no network".
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import sentiment_frame
from hub_server import BOB_TOKEN, READ_TOKEN, TOKENS, WRITE_TOKEN, LocalHub, isolate_hf_client, running_hub
from huggingface_hub import HfApi, constants
from transformers import pipeline

from kdemo import HubError, ModelError, get_learner, get_predictor, texts_from_df
from kdemo.errors import HubAuthError, HubConflictError, HubNetworkError
from kdemo.hub.card import write_model_card
from kdemo.hub.push import push_to_hub
from kdemo.inference.hub_models import load_from_hub
from kdemo.record import TrainingRecord

TEXTS = ["the movie was great superb fun", "the movie was awful boring", "a film"]


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    yield from running_hub(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def trained(tiny_bert_dir):
    trn, val, preproc = texts_from_df(sentiment_frame(200), "text", ["label"], val_pct=0.2,
                                      model_name=str(tiny_bert_dir), maxlen=32, verbose=0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=16)
    learner.fit_onecycle(5e-3, 2, verbose=0)
    report = learner.validation_report(print_report=False)
    meta = {"metrics": {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "num_rows": report.num_rows},
            "training": {"lr": 5e-3, "epochs": 2, "batch_size": 16, "seed": 0}, "example": TEXTS[0]}
    return learner, report, get_predictor(learner.model, preproc, meta=meta)


@pytest.fixture
def folder(trained, tmp_path) -> Path:
    learner, report, predictor = trained
    folder = predictor.save(tmp_path / "model")
    TrainingRecord.from_learner(learner, report).save(folder)
    write_model_card(folder, repo_id="alice/sentiment-tiny")
    return folder


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _pipeline_probs(model_dir: Path) -> list[dict[str, float]]:
    clf = pipeline("text-classification", model=str(model_dir), truncation=True)
    return [{d["label"]: d["score"] for d in row} for row in clf(TEXTS, top_k=None)]


def _assert_same_probs(predictor, rows: list[dict[str, float]]) -> None:
    expected = predictor.predict_proba(TEXTS)
    for probs, row in zip(expected, rows):
        assert [row[name] for name in predictor.get_classes()] == pytest.approx(probs.tolist(), abs=1e-5)


def test_push_arrives_byte_for_byte_and_loads_with_pipeline(local_hub, folder, trained):
    _, _, predictor = trained
    url = push_to_hub(folder, "alice/sentiment-tiny", token=WRITE_TOKEN, commit_message="first version")
    oid, tree, summary = local_hub.repos["alice/sentiment-tiny"].commits[-1]
    assert url == f"{local_hub.url}/alice/sentiment-tiny/commit/{oid}" and summary == "first version"
    assert local_hub.repos["alice/sentiment-tiny"].private  # private by default
    arrived = local_hub.files("alice/sentiment-tiny")
    assert arrived == _snapshot(folder)  # every file, byte for byte
    assert {"README.md", "model.safetensors", "config.json", "kdemo.json", "training_params.json",
            "training_results.json", "confusion_matrix.png", "training_curve.png"} <= set(arrived)
    # weights and images went through LFS (as on the Hub), text files inline
    assert tree["model.safetensors"].lfs and tree["confusion_matrix.png"].lfs and not tree["README.md"].lfs
    assert local_hub.routes_called()[:2] == ["create", "validate"] and local_hub.routes_called()[-1] == "commit"
    meta = yaml.safe_load(arrived["README.md"].decode().split("---\n")[1])
    assert meta["pipeline_tag"] == "text-classification" and meta["widget"] == [{"text": TEXTS[0]}]
    _assert_same_probs(predictor, _pipeline_probs(local_hub.repo_dir("alice/sentiment-tiny")))


def test_the_cards_snippet_runs_against_the_hub(local_hub, folder, trained, monkeypatch):
    """The copy-paste pipeline() snippet in the pushed card works as written (HF_TOKEN for the private repo)."""
    _, _, predictor = trained
    push_to_hub(folder, "alice/sentiment-tiny", token=WRITE_TOKEN)
    readme = local_hub.files("alice/sentiment-tiny")["README.md"].decode()
    snippet = re.search(r"```python\n(from transformers import pipeline\n.*?)```", readme, re.DOTALL).group(1)
    # what HF_ENDPOINT does when set before huggingface_hub is imported (transformers downloads through these)
    monkeypatch.setattr(constants, "ENDPOINT", local_hub.url)
    template = local_hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setenv("HF_TOKEN", WRITE_TOKEN)
    scope: dict = {}
    exec(snippet.replace("clf(", "result = clf(", 1), scope)  # noqa: S102 - the card's own code, run as a user would
    row = {d["label"]: d["score"] for d in scope["result"]}
    expected = predictor.predict_proba(TEXTS[0]).tolist()
    assert [row[c] for c in predictor.get_classes()] == pytest.approx(expected, abs=1e-5)


def test_load_from_hub_round_trip_and_privacy(local_hub, folder, trained):
    _, _, predictor = trained
    push_to_hub(folder, "alice/sentiment-tiny", token=WRITE_TOKEN)
    loaded = load_from_hub("alice/sentiment-tiny", token=WRITE_TOKEN)
    assert loaded.get_classes() == predictor.get_classes() and loaded.maxlen == predictor.maxlen
    assert loaded.predict_proba(TEXTS) == pytest.approx(predictor.predict_proba(TEXTS), abs=1e-6)
    cached = {p.name for p in Path(constants.HF_HUB_CACHE).rglob("*") if p.is_file() and "snapshots" in p.parts}
    assert "model.safetensors" in cached and not cached & {"README.md", "training_curve.png"}  # weights, no extras
    for token in (False, BOB_TOKEN):  # anonymous, and another user: the private repo does not exist for them
        with pytest.raises(ModelError, match=r"does not exist or is private \(404\)"):
            load_from_hub("alice/sentiment-tiny", token=token)


def test_cached_models_are_used_offline_only_where_allowed(local_hub, folder, trained):
    _, _, predictor = trained
    push_to_hub(folder, "alice/sentiment-tiny", token=WRITE_TOKEN)
    load_from_hub("alice/sentiment-tiny", token=WRITE_TOKEN)  # now cached
    local_hub.stop()
    offline = load_from_hub("alice/sentiment-tiny", token=WRITE_TOKEN)
    assert offline.predict_proba(TEXTS) == pytest.approx(predictor.predict_proba(TEXTS), abs=1e-6)
    with pytest.raises(ModelError, match="cannot be reached and the model is not in the local cache"):
        load_from_hub("alice/sentiment-tiny", token=WRITE_TOKEN, use_cache_offline=False)  # shared servers


def test_predictor_push_to_hub_twice_makes_two_commits(local_hub, trained):
    _, _, predictor = trained
    first = predictor.push_to_hub("alice/again", token=WRITE_TOKEN, private=False)
    second = predictor.push_to_hub("alice/again", token=WRITE_TOKEN)  # exist_ok: the repo is reused
    commits = local_hub.repos["alice/again"].commits
    assert len(commits) == 2 and first != second and second.endswith(commits[-1][0])
    assert not local_hub.repos["alice/again"].private  # an existing repo keeps its visibility
    assert 'model="alice/again"' in local_hub.files("alice/again")["README.md"].decode()


def test_push_to_an_organisation_you_belong_to(local_hub, folder):
    push_to_hub(folder, "kdemo-org/shared-model", token=WRITE_TOKEN)
    assert "model.safetensors" in local_hub.files("kdemo-org/shared-model")


def test_push_with_regular_uploads_only(tmp_path, monkeypatch, folder, trained):
    """A server that takes every file inline (no LFS) gets the same bytes: the other upload path of the client."""
    isolate_hf_client(monkeypatch, tmp_path)
    hub = LocalHub(tmp_path / "regular-hub", TOKENS, lfs=False)
    try:
        push_to_hub(folder, "alice/inline", token=WRITE_TOKEN, endpoint=hub.start())
        assert hub.files("alice/inline") == _snapshot(folder)
        assert "lfs" not in hub.routes_called()
    finally:
        hub.stop()


@pytest.mark.parametrize(
    ("token", "repo_id", "force", "match"),
    [
        ("hf_not_a_valid_token_00", "alice/x", None, r"rejected the token \(401 Unauthorized\)"),
        (READ_TOKEN, "alice/x", None, r"no write access to 'alice/x' \(403 Forbidden"),
        (BOB_TOKEN, "alice/x", None, r"no write access to 'alice/x' \(403 Forbidden: You don't have the rights"),
        (WRITE_TOKEN, "alice/x", (400, "create", "Repo name is reserved"),
         r"refused .*400 Bad Request: Repo name is reserved"),
        (WRITE_TOKEN, "alice/x", (409, "commit", "A conflicting commit is in progress"), r"conflicts .*409 Conflict"),
        (WRITE_TOKEN, "alice/x", (429, "create", None), r"rate-limiting requests \(429"),
        (WRITE_TOKEN, "alice/x", (503, "commit", None), r"server error \(503\)"),
        (None, "alice/x", None, r"rejected the token \(401 Unauthorized\)"),  # no token at all
    ],
    ids=["401-bad-token", "403-read-token", "403-foreign-namespace", "400-name", "409-conflict", "429", "503",
         "no-token"],
)
def test_push_errors_are_clear_and_leave_everything_intact(local_hub, folder, token, repo_id, force, match):
    if force:
        status, route, error = force
        local_hub.fail(status, route=route, error=error)
    write_model_card(folder, repo_id=repo_id)
    before = _snapshot(folder)
    with pytest.raises(HubError, match=match) as info:
        push_to_hub(folder, repo_id, token=token)
    assert "Your model folder is unchanged" in str(info.value)
    assert all(t not in str(info.value) for t in TOKENS)
    assert _snapshot(folder) == before
    assert not local_hub.repos.get(repo_id) or not local_hub.repos[repo_id].commits  # nothing was committed


def test_push_errors_from_the_hub_are_typed(local_hub, folder):
    """The Hub's answers become typed errors carrying the status and the repo id (no message parsing needed)."""
    with pytest.raises(HubAuthError) as info:
        push_to_hub(folder, "alice/x", token="hf_not_a_valid_token_00")
    assert (info.value.status, info.value.repo_id) == (401, "alice/x")
    with pytest.raises(HubAuthError) as info:
        push_to_hub(folder, "alice/x", token=READ_TOKEN)
    assert info.value.status == 403
    local_hub.fail(409, route="commit", error="A conflicting commit is in progress")
    with pytest.raises(HubConflictError) as info:
        push_to_hub(folder, "alice/x", token=WRITE_TOKEN)
    assert info.value.status == 409
    local_hub.stop()
    with pytest.raises(HubNetworkError) as info:
        push_to_hub(folder, "alice/x", token=WRITE_TOKEN)
    assert info.value.status is None and isinstance(info.value, HubError)


def test_a_read_only_token_cannot_update_an_existing_repo(local_hub, folder):
    push_to_hub(folder, "alice/sentiment-tiny", token=WRITE_TOKEN)
    with pytest.raises(HubError, match=r"no write access to 'alice/sentiment-tiny' \(403 Forbidden"):
        push_to_hub(folder, "alice/sentiment-tiny", token=READ_TOKEN)
    assert len(local_hub.repos["alice/sentiment-tiny"].commits) == 1


def test_push_without_network(local_hub, folder):
    local_hub.stop()
    before = _snapshot(folder)
    with pytest.raises(HubError, match=rf"Could not reach the Hugging Face Hub at {re.escape(local_hub.url)}"):
        push_to_hub(folder, "alice/sentiment-tiny", token=WRITE_TOKEN)
    assert _snapshot(folder) == before


def test_the_hub_validates_the_card_on_push(local_hub, folder):
    readme = folder / "README.md"
    text = readme.read_text().replace("library_name:", "license: Not A License!\nlibrary_name:")
    readme.write_text(text)
    with pytest.raises(HubError, match=r"rejected the model card's metadata .*license"):
        push_to_hub(folder, "alice/sentiment-tiny", token=WRITE_TOKEN)
    assert local_hub.routes_called() == ["create", "validate"]  # refused before any upload


@pytest.mark.network
def test_push_to_the_real_hub(trained, tmp_path):
    """Pushes a private repo to huggingface.co with HF_TOKEN, loads it back, and deletes it."""
    token = os.environ.get("HF_TOKEN")
    if not token:
        pytest.skip("HF_TOKEN is not set")
    learner, report, predictor = trained
    api = HfApi(endpoint="https://huggingface.co", token=token)
    repo_id = f"{api.whoami()['name']}/kdemo-test-{uuid.uuid4().hex[:8]}"
    folder = predictor.save(tmp_path / "model")
    TrainingRecord.from_learner(learner, report).save(folder)
    try:
        url = push_to_hub(folder, repo_id, token=token, endpoint="https://huggingface.co")
        assert url.startswith(f"https://huggingface.co/{repo_id}/commit/")
        assert api.model_info(repo_id).private
        loaded = load_from_hub(repo_id, token=token, endpoint="https://huggingface.co")
        assert loaded.predict_proba(TEXTS) == pytest.approx(predictor.predict_proba(TEXTS), abs=1e-6)
        readme = Path(api.hf_hub_download(repo_id, "README.md", cache_dir=tmp_path / "cache")).read_text()
        assert "pipeline_tag: text-classification" in readme and repo_id in readme
    finally:
        api.delete_repo(repo_id, missing_ok=True)


@pytest.mark.slow
def test_minilm_fine_tuned_on_sst2_round_trips_through_the_hub(local_hub, sst2_dir, tmp_path):
    """The default model, fine-tuned on an SST-2 slice, pushed and loaded back: same probabilities everywhere."""
    import pandas as pd

    from kdemo import DEFAULT_MODEL_ID

    df = pd.read_csv(sst2_dir / "train.csv").sample(n=400, random_state=0)
    trn, val, preproc = texts_from_df(df, "text", ["label"], val_pct=0.2, model_name=DEFAULT_MODEL_ID, maxlen=64,
                                      verbose=0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=32)
    learner.fit_onecycle(1e-4, 1, verbose=0)
    report = learner.validation_report(print_report=False)
    predictor = get_predictor(learner.model, preproc, meta={
        "metrics": {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "num_rows": report.num_rows}})
    folder = predictor.save(tmp_path / "minilm-sst2")
    TrainingRecord.from_learner(learner, report).save(folder)
    write_model_card(folder, repo_id="alice/minilm-sst2", dataset_id="stanfordnlp/sst2")
    push_to_hub(folder, "alice/minilm-sst2", token=WRITE_TOKEN)
    texts = pd.read_csv(sst2_dir / "test.csv")["text"].head(8).tolist()
    clf = pipeline("text-classification", model=str(local_hub.repo_dir("alice/minilm-sst2")), truncation=True)
    expected = predictor.predict_proba(texts)
    for probs, row in zip(expected, clf(texts, top_k=None)):
        scores = {d["label"]: d["score"] for d in row}
        assert [scores[c] for c in predictor.get_classes()] == pytest.approx(probs.tolist(), abs=1e-5)
    loaded = load_from_hub("alice/minilm-sst2", token=WRITE_TOKEN)
    assert loaded.predict_proba(texts) == pytest.approx(expected, abs=1e-5)
    meta = yaml.safe_load(local_hub.files("alice/minilm-sst2")["README.md"].decode().split("---\n")[1])
    assert meta["base_model"] == DEFAULT_MODEL_ID and meta["license"] == "apache-2.0"

"""Publishing a demo Space (acceptance 1 of issue 28): against the local fake Hub, the Space repo holds app.py,
requirements.txt and a README.md that huggingface_hub parses as Space card data; the generated app.py, launched on the
pushed files with the model folder, answers /predict as kdemo's predictor does, for every task."""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np
import pytest
from gradio_client import Client
from huggingface_hub import SpaceCard

from hub_server import BOB_TOKEN, READ_TOKEN, WRITE_TOKEN, running_hub
from kdemo import load_predictor
from kdemo.errors import HubAuthError, HubError
from kdemo.hub.push import push_to_hub
from kdemo.hub.space import default_space_id, publish_space, space_files
from space_models import train_folder

from tiny_models import build_tiny_model

TEXT = "a wonderful, brilliant and moving film"
SENTENCE = "Peter Novak visited Lisbon on Monday ."
NAMES = ("ann", "bob", "cara", "dan", "eve", "finn", "gus", "hal", "paris", "rome", "oslo", "lima", "kiev", "baku",
         "went", "where", "who", "there", "go", "did")


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    yield from running_hub(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def folders(tiny_bert_dir, tmp_path_factory, one_torch_thread):
    """One saved folder per task (trained once for the module)."""
    root = tmp_path_factory.mktemp("space-models")
    qa_dir = build_tiny_model(tmp_path_factory.mktemp("tiny-qa"), "bert", extra_words=NAMES)
    tasks = ("single_label", "multi_label", "regression", "token_classification", "question_answering")
    return {t: train_folder(t, tiny_bert_dir, root / t.replace("_", "-"), qa_dir) for t in tasks}


def launch(app_dir, model_dir, monkeypatch):
    """Import the Space's app.py as the Hub would run it (KDEMO_MODEL: the local model folder) and launch it."""
    monkeypatch.setenv("KDEMO_MODEL", str(model_dir))
    monkeypatch.setattr(sys, "argv", ["app.py"])
    spec = importlib.util.spec_from_file_location(f"space_app_{abs(hash(str(app_dir)))}", app_dir / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    return module.demo


def publish_and_fetch(hub, folder, tmp_path, repo_id: str):
    """Push the model, publish its Space, and copy the Space repo's files out of the fake Hub."""
    push_to_hub(folder, repo_id, token=WRITE_TOKEN, private=False)
    result = publish_space(folder, repo_id, token=WRITE_TOKEN)
    files = hub.files(hub.key(result.space_id, "space"))
    out = tmp_path / "space"
    out.mkdir()
    for name, content in files.items():
        (out / name).write_bytes(content)
    return result, files, out


@pytest.mark.parametrize("task", ["single_label", "multi_label", "regression", "token_classification",
                                  "question_answering"])
def test_published_space_app_answers_like_the_predictor(task, folders, local_hub, tmp_path, monkeypatch):
    folder = folders[task]
    repo_id = f"alice/{folder.name}"
    result, files, app_dir = publish_and_fetch(local_hub, folder, tmp_path, repo_id)
    assert result.space_id == f"{repo_id}-demo" and result.url.endswith(f"/spaces/{repo_id}-demo")
    assert sorted(files) == ["README.md", "app.py", "requirements.txt"]
    repo = local_hub.repos[local_hub.key(result.space_id, "space")]
    assert repo.sdk == "gradio" and repo.kind == "space" and not repo.private and len(repo.commits) == 1
    data = SpaceCard(files["README.md"].decode()).data  # huggingface_hub's parser of Space metadata
    assert data.sdk == "gradio" and data.app_file == "app.py" and data.models == [repo_id]
    assert data.sdk_version and data.title and data.emoji and data.short_description
    requirements = files["requirements.txt"].decode().split()
    assert any(r.startswith("transformers==") for r in requirements) and "torch==2.13.0" in requirements
    imported = {line.split()[1].split(".")[0] for line in files["app.py"].decode().splitlines()
                if line.startswith(("import ", "from "))}
    assert imported <= {"os", "sys", "gradio", "torch", "numpy", "transformers"}  # PyPI packages only, no kdemo
    predictor = load_predictor(folder)
    demo = launch(app_dir, folder, monkeypatch)
    try:
        client = Client(demo.local_url, verbose=False)
        if task == "question_answering":
            question, context = "Where did Ann go?", "Ann went to Paris. Bob went to Rome."
            _, got = client.predict(question, context, api_name="/predict")
            want = predictor.predict(question, context)
            assert got["answer"] == want["answer"] and got["start"] == want["start"] and got["end"] == want["end"]
            assert got["score"] == pytest.approx(want["score"], abs=1e-4)
        elif task == "token_classification":
            highlighted, got = client.predict(SENTENCE, api_name="/predict")
            want = predictor.predict(SENTENCE, merge_tokens=True)
            assert [(e["entity_group"], e["start"], e["end"], e["word"]) for e in got] == \
                [(e["entity_group"], e["start"], e["end"], e["word"]) for e in want]
            assert [e["score"] for e in got] == pytest.approx([float(e["score"]) for e in want], abs=1e-4)
            marked = [(t, lab) for t, lab in (tuple(x) if isinstance(x, list) else (x["token"], x["class_or_confidence"])
                                              for x in highlighted) if lab]
            assert [lab for _, lab in marked] == [e["entity_group"] for e in want]
        else:
            got = client.predict(TEXT, api_name="/predict")
            want = predictor.predict_proba(TEXT)
            names = predictor.get_classes()
            if task == "regression":
                assert list(got) == names and [got[n] for n in names] == pytest.approx(want.tolist(), abs=1e-5)
            else:
                scores = {c["label"]: c["confidence"] for c in got["confidences"]}
                assert sorted(scores) == sorted(names)
                assert [scores[n] for n in names] == pytest.approx(want.tolist(), abs=1e-5)
                assert got["label"] == names[int(np.argmax(want))]
    finally:
        demo.close()


def test_space_files_use_the_cards_example_and_the_task_template(folders, tmp_path):
    files = space_files(folders["token_classification"], "alice/ner")
    assert 'pipeline("token-classification"' in files["app.py"] and "alice/ner" in files["app.py"]
    example = json.loads((folders["token_classification"] / "kdemo.json").read_text())["example"]  # the card's
    assert repr(example) in files["app.py"] and example in files["README.md"]
    qa = space_files(folders["question_answering"], "alice/qa", example="Who?\nAnn did.")
    assert "('Who?', 'Ann did.')" in qa["app.py"] and "MAX_ANSWER_TOKENS = 30" in qa["app.py"]
    assert "ACTIVATION = \"sigmoid\"" in space_files(folders["multi_label"], "alice/m")["app.py"]
    assert default_space_id("alice/m") == "alice/m-demo"


def test_local_dir_writes_the_files_and_sends_nothing(folders, local_hub, tmp_path):
    result = publish_space(folders["single_label"], "alice/sentiment", local_dir=tmp_path / "space")
    assert sorted(p.name for p in (tmp_path / "space").iterdir()) == ["README.md", "app.py", "requirements.txt"]
    assert result.commit_url is None and local_hub.log == []


def test_private_model_gets_a_private_space_and_errors_are_clear(folders, local_hub):
    push_to_hub(folders["single_label"], "alice/secret", token=WRITE_TOKEN, private=True)
    result = publish_space(folders["single_label"], "alice/secret", token=WRITE_TOKEN)
    assert result.private and local_hub.repos["spaces/alice/secret-demo"].private
    with pytest.raises(HubAuthError, match="write access"):
        publish_space(folders["single_label"], "alice/secret", token=READ_TOKEN, space_id="alice/other-demo")
    with pytest.raises(HubAuthError):
        publish_space(folders["single_label"], "alice/secret", token=BOB_TOKEN, space_id="alice/x-demo")
    with pytest.raises(HubError, match="repo id"):
        publish_space(folders["single_label"], "not a repo", token=WRITE_TOKEN)
    assert WRITE_TOKEN not in json.dumps([r.repo_id for r in local_hub.repos.values()])


def test_cli_publish_space_writes_the_files_locally(folders, tmp_path, capsys):
    from kdemo.cli import main as cli_main

    code = cli_main(["publish-space", str(folders["regression"]), "alice/scores", "--local-dir", str(tmp_path / "s")])
    assert code == 0 and f"written: {tmp_path / 's'}" in capsys.readouterr().out
    assert SpaceCard.load(tmp_path / "s" / "README.md").data.models == ["alice/scores"]
    assert 'gr.JSON(label="Predicted value")' in (tmp_path / "s" / "app.py").read_text()


@pytest.mark.slow
def test_generated_app_runs_as_it_is_with_python(folders, tmp_path):
    """``python app.py MODEL_DIR`` in a fresh process (what a Space runs), answering /predict as the predictor."""
    import socket
    import subprocess
    import time

    publish_space(folders["single_label"], "alice/sentiment", local_dir=tmp_path / "space")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**__import__("os").environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "app.py", str(folders["single_label"])], cwd=tmp_path / "space", env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 180
        while True:
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
                break
            except Exception:  # noqa: BLE001 - not up yet
                assert proc.poll() is None and time.time() < deadline, proc.stdout.read().decode()[-2000:]
                time.sleep(1)
        got = client.predict(TEXT, api_name="/predict")
        want = load_predictor(folders["single_label"]).predict_proba(TEXT)
        names = load_predictor(folders["single_label"]).get_classes()
        scores = {c["label"]: c["confidence"] for c in got["confidences"]}
        assert [scores[n] for n in names] == pytest.approx(want.tolist(), abs=1e-5)
    finally:
        proc.terminate()
        proc.wait(30)

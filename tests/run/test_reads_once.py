"""One training run reads its data file exactly once, whichever door starts it (issue 24, acceptance 2).

A counting spy replaces the two readers, :func:`kdemo.data.tables.read_table` and
:func:`kdemo.data.token_files.read_token_file`, in every kdemo module that looked them up (``from ... import``), and
counts the calls per file. Each door then runs one training run to the end: ``kdemo.train`` on a config naming the
file, ``python -m kdemo train`` (in-process), and the app (the Data tab's upload, then the Train button's job). A
table and a CoNLL token file each are read once in all: by the run itself, or by the upload and never again by the
run.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest
from conftest import sentiment_frame
from test_ner_app import CONLL, fixture_words
from tiny_models import build_tiny_model

import kdemo
import kdemo.data.tables as tables
import kdemo.data.token_files as token_files
from kdemo.cli import main
from kdemo.jobs import FINISHED
from kdemo.run import TrainConfig
from kdemo.tasks import SPECS
from kdemo.ui import data_tab, train_tab  # loaded before the spy looks for the readers
from kdemo.ui.session import STORE, SessionStore


@pytest.fixture
def reads(monkeypatch) -> collections.Counter:
    """Calls of the two file readers by resolved path, wherever kdemo looks them up."""
    counts: collections.Counter = collections.Counter()
    for spec in SPECS.values():  # import every task's pipeline now, so none binds a spy when imported later
        spec.load("pipeline")
    for name in ("read_table", "read_token_file"):
        original = getattr(tables if name == "read_table" else token_files, name)

        def spy(path, *args, _original=original, **kwargs):
            counts[Path(path).resolve()] += 1
            return _original(path, *args, **kwargs)

        for module in [m for key, m in sys.modules.items() if key.startswith("kdemo") and m is not None]:
            if getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, spy)
    return counts


@pytest.fixture(scope="module")
def tiny_ner(tmp_path_factory, one_torch_thread) -> Path:
    """A tiny BERT whose tokenizer knows every word of the CoNLL fixture."""
    return build_tiny_model(tmp_path_factory.mktemp("reads-once-ner"), "bert", extra_words=fixture_words())


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "reviews.csv"
    sentiment_frame(80).to_csv(path, index=False)
    return path


def _settings(model: Path) -> dict:
    return {"model_name": str(model), "maxlen": 32, "batch_size": 16, "epochs": 1, "precision": "fp32", "val_pct": 0.2}


@pytest.mark.parametrize("kind", ["table", "tokens"])
def test_kdemo_train_reads_its_file_once(kind, reads, csv_file, tiny_bert_dir, tiny_ner):
    path, model = (csv_file, tiny_bert_dir) if kind == "table" else (CONLL, tiny_ner)
    result = kdemo.train(TrainConfig(train_file=str(path), **_settings(model)))
    assert result is not None and result.report.num_rows > 0
    assert reads == {path.resolve(): 1}


@pytest.mark.parametrize("kind", ["table", "tokens"])
def test_the_cli_reads_its_file_once(kind, reads, csv_file, tiny_bert_dir, tiny_ner, tmp_path):
    path, model = (csv_file, tiny_bert_dir) if kind == "table" else (CONLL, tiny_ner)
    s = _settings(model)
    assert main(["train", str(path), "--model", s["model_name"], "--maxlen", "32", "--batch-size", "16",
                 "--precision", "fp32", "--val-pct", "0.2", "--out", str(tmp_path / "model")]) == 0
    assert (tmp_path / "model" / "config.json").is_file()
    assert reads == {path.resolve(): 1}


@pytest.mark.parametrize("kind", ["table", "tokens"])
def test_the_train_tab_reads_the_upload_once(kind, reads, csv_file, tiny_bert_dir, tiny_ner, tmp_path, monkeypatch):
    """The Data tab reads the upload; the Train button's job trains on what the session holds, reading nothing."""
    path, model = (csv_file, tiny_bert_dir) if kind == "table" else (CONLL, tiny_ner)
    session = SessionStore(root=tmp_path / "sessions")._new(f"reads-once-{kind}")
    monkeypatch.setattr(STORE, "get", lambda request: session)
    monkeypatch.setattr(train_tab, "gpu_count", lambda: 1)  # the in-process job
    data_tab.load_data(str(path), None, 0.2, None)
    # the upload, read once by the Data tab (a token file through the session's copy of it, which the run names)
    assert sum(reads.values()) == 1 and set(reads) <= {path.resolve(), *(p.resolve() for p in session.workdir.rglob("*"))}
    s = _settings(model)
    train_tab.train(s["model_name"], s["maxlen"], s["batch_size"], 1e-3, s["epochs"], s["precision"], s["val_pct"],
                    False, None, request=None)
    assert session.job.wait(300) and session.job.state == FINISHED, session.job.error
    assert session.predictor is not None and (session.workdir / "model" / "config.json").is_file()
    assert sum(reads.values()) == 1  # the run did not read the file (nor the session's copy of it) again

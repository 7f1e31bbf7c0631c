"""The Train tab's "all N GPUs" path for a token file (torchrun replaced by the fake of test_multi_gpu_job)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_multi_gpu_job import FAKE_TORCHRUN, FakeLauncher
from test_ner_app import CONLL, SENTENCE, fixture_words
from tiny_models import build_tiny_model

from kdemo.cli import main
from kdemo.jobs import FINISHED
from kdemo.run.config import TrainConfig
from kdemo.ui import multi_gpu_job as mgj
from kdemo.ui import data_tab
from kdemo.ui.session import DEVICE_QUEUE, STORE, SessionStore
from kdemo.ui.train_job import make_config


@pytest.fixture(scope="module")
def trained_token_folder(tmp_path_factory, one_torch_thread):
    """A token predictor folder (what rank 0 would write), trained through the CLI on the CoNLL fixture with the
    validation share of the job's config (the job's report is the folder's)."""
    root = tmp_path_factory.mktemp("mgpu-ner")
    tiny = build_tiny_model(root / "tiny", "bert", extra_words=fixture_words())
    assert main(["train", str(CONLL), "--model", str(tiny), "--batch-size", "8", "--precision", "fp32",
                 "--val-pct", "0.2", "--out", str(root / "model")]) == 0
    (root / "fake_torchrun.py").write_text(FAKE_TORCHRUN)
    return root


def test_a_token_file_goes_to_torchrun_as_the_sessions_copy(trained_token_folder, tmp_path, monkeypatch):
    session = SessionStore(root=tmp_path / "sessions")._new("multi-gpu-ner")
    monkeypatch.setattr(STORE, "get", lambda request: session)
    data_tab.load_data(str(CONLL), None, 0.2, None)  # the Data tab reads the upload (and keeps its copy)
    cfg = make_config(session, str(trained_token_folder / "tiny"), 64, 8, 5e-3, 1, "fp32", 0.2)
    assert cfg.task == "token_classification" and cfg.train_file == session.require_data().train_file
    assert Path(cfg.train_file).is_relative_to(session.workdir)  # the session's copy, not the upload
    job = DEVICE_QUEUE.submit(mgj.multi_gpu_job(session, cfg, 2, launcher=FakeLauncher(trained_token_folder, "finish")))
    assert job.wait(120) and job.state == FINISHED, job.error
    sent = TrainConfig.from_json(session.workdir / "multi_gpu" / "run.json")
    assert sent == cfg.replace(data_name="ner_news.conll")  # no table written: the copy of the file is the data
    assert session.predictor.task == "token_classification"
    assert isinstance(session.predictor.predict(SENTENCE, merge_tokens=True, return_offsets=True), list)
    assert job.result["report"].num_rows == 12 and {"PER", "LOC"} <= set(job.result["report"].entity_types)

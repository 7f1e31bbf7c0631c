"""Shared fixtures: tiny random-init checkpoints built at test time, small labelled tables, Gradio isolation."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Every kdemo.train run is tracked on trackio: keep the tests' runs out of the user's ~/.cache (trackio reads
# TRACKIO_DIR once, at import; subprocesses such as torchrun workers inherit it).
os.environ.setdefault("TRACKIO_DIR", __import__("tempfile").mkdtemp(prefix="kdemo-tests-trackio-"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# tests/ mirrors kdemo/'s folders (tests/data, tests/run, tests/ui …); the helpers here (tiny_models, browser,
# hub_server) and a few test modules that others import (test_ner_app's CoNLL fixture, test_multi_gpu_job's fake
# torchrun) are importable by name from every folder.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)] + [str(p) for p in sorted(HERE.iterdir())
                              if p.is_dir() and p.name not in ("fixtures", "__pycache__") and not p.name.startswith(".")]
from tiny_models import build_tiny_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

POSITIVE = "good great superb lovely fun brilliant witty gorgeous".split()
NEGATIVE = "bad awful boring dull poor terrible weak".split()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A tiny random-init BERT sequence classifier (2 layers, 2 heads) with a local WordPiece tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-bert"), "bert")


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tmp_path_factory) -> Path:
    """A tiny random-init DistilBERT sequence classifier with a local tokenizer."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-distilbert"), "distilbert")


def sentiment_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A learnable toy sentiment table: positive rows use positive words, negative rows negative words."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        words = POSITIVE if i % 2 else NEGATIVE
        body = " ".join(rng.choice(words, size=int(rng.integers(2, 9))).tolist())
        rows.append({"text": f"the movie was {body}", "label": label})
    return pd.DataFrame(rows)


@pytest.fixture
def sentiment_csv(tmp_path) -> Path:
    """A 200-row CSV with ``text`` and ``label`` columns (two balanced, learnable classes)."""
    path = tmp_path / "reviews.csv"
    sentiment_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def sst2_dir() -> Path:
    """``../shared/data/sst2`` (slow tests only); skipped where the shared data is absent."""
    path = SHARED_DATA / "sst2"
    if not (path / "train.csv").exists():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tiny models on one thread: they gain nothing from 2, and OpenMP oversubscription on a busy
    2-core machine is very slow."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@contextlib.contextmanager
def launched_app_client(tmp_path_factory, name: str = "gradio-tmp", **launch_kwargs):
    """Launch the app on a free local port and yield a connected ``gradio_client.Client`` (the Gradio test-suite
    'connect' pattern); the app and the client are closed afterwards."""
    from gradio_client import Client

    from kdemo.ui import build_app

    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp(name))
    demo = build_app()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **launch_kwargs)
    client = Client(url, verbose=False)
    try:
        yield client
    finally:
        client.close()
        demo.close()


def train_via_api(client, *settings, timeout: float = 300.0):
    """Start training through ``/train`` and poll ``/training_status`` until the job ends (what the page's timer
    does); returns the final ``/training_status`` outputs (status, loss plot, report, per-class table, confusion
    plot, layer and head slider updates, top-losses table, timer)."""
    import time

    status, _timer = client.predict(*settings, api_name="/train")
    deadline = time.time() + timeout
    while True:
        outputs = client.predict(api_name="/training_status")
        if outputs[0].startswith(("✅", "⏹️", "❌")):
            return outputs
        assert time.time() < deadline, f"training did not end within {timeout} s: {outputs[0]}"
        time.sleep(0.3)


@pytest.fixture
def fresh_sessions():
    """Remove every idle session of the app's session store first, so a test can find the one its browser makes
    (closed pages' sessions otherwise stay for the reconnect grace period)."""
    import time

    from kdemo.ui.session import STORE

    STORE.sweep(time.time() + 10**7, force=True)
    return STORE

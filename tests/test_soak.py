"""Soak (issue 15): trainings one after another in one server process leave no models, figures or folders behind."""

from __future__ import annotations

import pytest
from conftest import launched_app_client

from bench.soak import soak


@pytest.fixture(scope="module")
def client(tmp_path_factory, one_torch_thread):
    with launched_app_client(tmp_path_factory, "gradio-tmp") as c:
        yield c


def _check(out: dict) -> None:
    first, last = out["rows"][0], out["rows"][-1]
    for kind in ("hf_models", "keras_models", "predictors", "figures"):
        assert last[kind] <= first[kind], (kind, [r[kind] for r in out["rows"]])  # nothing kept per training
    after = out["after_expiry"]
    assert after["sessions_removed"] >= 1 and after["folders_left"] == 0
    assert after["hf_models"] < last["hf_models"]  # the expired session's model was freed with it


def test_trainings_in_a_row_keep_nothing_behind(client, tiny_bert_dir, sentiment_csv):
    out = soak(client, sentiment_csv, str(tiny_bert_dir), 2, maxlen=32, batch_size=16, lr=2e-3, precision="fp32")
    _check(out)


@pytest.mark.slow
def test_ten_minilm_trainings_rss_within_ten_percent(client, sst2_dir, tmp_path):
    import pandas as pd

    from kdemo.modeling.classifier import DEFAULT_MODEL_ID

    data = tmp_path / "sst2.csv"
    pd.read_csv(sst2_dir / "train.csv").sample(frac=1.0, random_state=0).head(300).to_csv(data, index=False)
    out = soak(client, data, DEFAULT_MODEL_ID, 10)
    _check(out)
    assert out["rss_growth"] <= 0.10, [round(r["rss_mib"]) for r in out["rows"]]

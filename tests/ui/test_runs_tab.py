"""The Runs tab through the app's API: runs kept, listed, compared, evaluated on a test file, renamed, used, deleted."""

from __future__ import annotations

import pytest
from conftest import launched_app_client, sentiment_frame, train_via_api
from gradio_client import handle_file


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with launched_app_client(tmp_path_factory, "gradio-runs") as c:
        yield c


def test_two_runs_are_listed_compared_evaluated_and_managed(client, tiny_bert_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    sentiment_frame(200).to_csv(data, index=False)
    sentiment_frame(120, seed=9).to_csv(tmp_path / "test.csv", index=False)
    client.predict(handle_file(str(data)), None, 0.2, api_name="/load_data")
    for name, lr, epochs in (("slow", 1e-7, 1), ("fast", 2e-3, 3)):
        status, *_ = train_via_api(client, str(tiny_bert_dir), 32, 16, lr, epochs, "fp32", 0.2, False, "one_cycle",
                                   0, 0, 1, 1, name)
        assert "Finished" in status and f"Saved as run **{name}**" in status, status
    client.predict(handle_file(str(tmp_path / "test.csv")), api_name="/predict_file")
    report = client.predict(handle_file(str(tmp_path / "test.csv")), api_name="/predict_file_report")
    assert "120 labelled rows" in report and "**accuracy**" in report and "95 % CI" in report, report
    assert "Confusion matrix" in report and "| **positive** |" in report
    texts_only = tmp_path / "texts.csv"
    sentiment_frame(5)[["text"]].to_csv(texts_only, index=False)
    assert client.predict(handle_file(str(texts_only)), api_name="/predict_file_report") == ""
    table, picked, in_use, evals = client.predict(api_name="/runs")
    assert [r[1] for r in table["data"]] == ["slow", "fast"]
    assert "In use:** run **fast**" in in_use
    ids = [c[1] for c in picked["choices"]]
    diff, curves = client.predict(ids, api_name="/compare_runs")
    settings = {r[0]: r[1:] for r in diff["data"]}
    assert set(settings) >= {"lr", "epochs", "run_name"} and "batch_size" not in settings  # differences only
    assert curves is not None
    md = client.predict(ids, handle_file(str(tmp_path / "test.csv")), api_name="/evaluate_runs")
    assert "**compare**" in md and "p_value = " in md and "fast is better than slow" in md, md
    assert "**slow** on `test.csv`: accuracy" in md
    assert "slow" in client.predict(ids[:1], api_name="/use_run")
    table, *_ = client.predict(ids[:1], "baseline", api_name="/rename_run")
    assert [r[1] for r in table["data"]] == ["baseline", "fast"]
    table, picked, *_ = client.predict(ids[:1], api_name="/delete_run")
    assert [r[1] for r in table["data"]] == ["fast"]

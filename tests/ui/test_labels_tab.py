"""The Labels tab through the app's API (issue 27): find label issues on a noisy upload, keep / drop / relabel,
download the corrected file, retrain on it (a new run in the Runs tab); bad input gets a clear message."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from conftest import launched_app_client, sentiment_frame, train_via_api
from gradio_client import handle_file
from gradio_client.exceptions import AppError

#: Rows whose label the noisy file flips.
FLIPPED = (3, 10, 21, 36)


def noisy_frame(n: int = 120) -> pd.DataFrame:
    """The toy sentiment table with the labels of :data:`FLIPPED` swapped."""
    df = sentiment_frame(n, seed=1)
    for row in FLIPPED:
        df.loc[row, "label"] = "negative" if df.loc[row, "label"] == "positive" else "positive"
    return df


def settings(model_dir, epochs: int = 4) -> list:
    """The Train tab's fields: model, maxlen, batch size, lr, epochs, precision, val_pct, freeze, schedule, early
    stopping, plateau, cycle length, cycle multiplier (with these, each fold of the tiny model learns the words)."""
    return [str(model_dir), 32, 8, 2e-3, epochs, "fp32", 0.2, False, "one_cycle", 0, 0, 1, 1]


@pytest.fixture(scope="module")
def client(tmp_path_factory, one_torch_thread):
    with launched_app_client(tmp_path_factory, "gradio-labels") as c:
        yield c


def _health(client) -> None:
    assert "/find_label_issues" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def test_bad_input_gets_a_clear_message_and_the_app_stays_usable(client, tiny_bert_dir, tmp_path):
    with pytest.raises(AppError, match="No data yet"):
        client.predict("cross_validation", 5, *settings(tiny_bert_dir), api_name="/find_label_issues")
    with pytest.raises(AppError, match="Find label issues"):
        client.predict("3", "drop", "", api_name="/set_label_action")
    with pytest.raises(AppError, match="Find label issues"):
        client.predict(api_name="/download_corrected")
    data = tmp_path / "noisy.csv"
    noisy_frame().to_csv(data, index=False)
    client.predict(handle_file(str(data)), None, 0.2, api_name="/load_data")
    with pytest.raises(AppError, match=r"smallest class .*K=61"):
        client.predict("cross_validation", 61, *settings(tiny_bert_dir), api_name="/find_label_issues")
    with pytest.raises(AppError, match="between 2 and"):
        client.predict("cross_validation", 1, *settings(tiny_bert_dir), api_name="/find_label_issues")
    _health(client)


def test_find_relabel_drop_download_and_retrain(client, tiny_bert_dir, tmp_path):
    data = tmp_path / "noisy.csv"
    noisy_frame().to_csv(data, index=False)
    client.predict(handle_file(str(data)), None, 0.2, api_name="/load_data")
    train_via_api(client, *settings(tiny_bert_dir)[:8])  # a model in use: the highlighting explains with it
    status, summary, table, _plot, new_label, decisions = client.predict(
        "cross_validation", 3, *settings(tiny_bert_dir), api_name="/find_label_issues")
    assert status.startswith("✅"), status
    assert "3-fold cross-validation" in summary and "120 rows" in summary, summary
    assert table["headers"] == ["row", "text", "given_label", "suggested_label", "label_quality", "flagged", "action"]
    quality = [r[4] for r in table["data"]]
    assert quality == sorted(quality) and len(table["data"]) == 120
    assert {c[0] for c in new_label["choices"]} == {"negative", "positive"}
    assert "Every row is kept" in decisions
    flagged = {r[0] for r in table["data"] if r[5] == "yes"}
    assert set(FLIPPED) <= flagged and len(flagged) <= 2 * len(FLIPPED), flagged  # the planted errors
    highlighted = [r for r in table["data"] if "<span" in str(r[1])]
    assert highlighted and "Highlighted" in summary, summary
    assert all(r[2] != r[3] for r in highlighted)

    first, second, third = (r[0] for r in table["data"][:3])
    new_labels = {r[0]: ("positive" if r[2] == "negative" else "negative") for r in table["data"][:2]}
    with pytest.raises(AppError, match="this data's classes"):
        client.predict(f"{first}", "relabel", "neutral", api_name="/set_label_action")
    with pytest.raises(AppError, match="row of the data"):
        client.predict("999", "drop", "", api_name="/set_label_action")
    for row, label in new_labels.items():
        client.predict(str(row), "relabel", label, api_name="/set_label_action")
    table, decisions = client.predict(str(third), "drop", "", api_name="/set_label_action")
    actions = {r[0]: r[6] for r in table["data"]}
    assert actions[first] == new_labels[first] and actions[second] == new_labels[second] and actions[third] == "drop"
    assert "**1** row(s) to drop" in decisions and "**2** to relabel" in decisions, decisions

    path = client.predict(api_name="/download_corrected")
    corrected = pd.read_csv(path)
    original = noisy_frame()
    assert path.endswith("noisy-corrected.csv") and len(corrected) == len(original) - 1
    expected = original.copy()
    for row, label in new_labels.items():
        expected.loc[row, "label"] = label
    expected = expected.drop(index=third).reset_index(drop=True)
    pd.testing.assert_frame_equal(corrected, expected)

    status, *_ = client.predict("corrected", *settings(tiny_bert_dir), api_name="/retrain_corrected")
    deadline = time.time() + 300
    while not status.startswith(("✅", "⏹️", "❌")):
        assert time.time() < deadline, status
        time.sleep(0.3)
        status, _timer = client.predict(api_name="/retrain_status")
    assert "Finished" in status and "Saved as run **corrected**" in status, status
    runs, *_ = client.predict(api_name="/runs")
    assert runs["data"][-1][1] == "corrected"
    # the decisions still name the rows of the file the issues were found in: a second download is the same
    pd.testing.assert_frame_equal(pd.read_csv(client.predict(api_name="/download_corrected")), expected)
    _health(client)


def test_data_map_shows_its_figure(client, tiny_bert_dir, tmp_path):
    data = tmp_path / "noisy.csv"
    noisy_frame().to_csv(data, index=False)
    client.predict(handle_file(str(data)), None, 0.2, api_name="/load_data")
    status, summary, table, plot, _choices, _decisions = client.predict(
        "data_map", 5, *settings(tiny_bert_dir), api_name="/find_label_issues")
    assert status.startswith("✅") and "data map" in summary, summary
    assert plot["visible"] is True and plot["value"] is not None
    assert len(table["data"]) == 120


def test_question_answering_has_no_labels_to_check(client, tiny_bert_dir, tmp_path):
    from qa_fixtures import write_squad

    client.predict(handle_file(str(write_squad(tmp_path / "train.json", n_contexts=4))), None, 0.2, api_name="/load_data")
    with pytest.raises(AppError, match="Expected a task with labels"):
        client.predict("cross_validation", 3, *settings(tiny_bert_dir), api_name="/find_label_issues")
    _health(client)


@pytest.mark.slow
def test_token_file_relabel_drop_download_and_retrain(client, tmp_path_factory, tmp_path):
    from test_ner_app import CONLL, fixture_words
    from tiny_models import build_tiny_model

    model = build_tiny_model(tmp_path_factory.mktemp("tiny-ner-labels"), "bert", extra_words=fixture_words())
    client.predict(handle_file(str(CONLL)), None, 0.2, api_name="/load_data")
    ner = [str(model), 64, 8, 5e-3, 4, "fp32", 0.2, False, "one_cycle", 0, 0, 1, 1]
    status, summary, table, _plot, new_label, _decisions = client.predict(
        "cross_validation", 3, *ner, api_name="/find_label_issues")
    assert status.startswith("✅") and "60 rows" in summary and "No highlighting" in summary, summary
    assert "B-PER" in {c[0] for c in new_label["choices"]}
    (first, text, given, *_), (second, *_) = table["data"][:2]
    tags = given.split()
    tags[0] = "B-LOC" if tags[0] != "B-LOC" else "O"
    with pytest.raises(AppError, match="one tag per word"):
        client.predict(str(first), "relabel", "O", api_name="/set_label_action")
    client.predict(str(first), "relabel", " ".join(tags), api_name="/set_label_action")
    client.predict(str(second), "drop", "", api_name="/set_label_action")
    path = client.predict(api_name="/download_corrected")
    assert path.endswith("-corrected.conll"), path
    sentences = [block.splitlines() for block in open(path, encoding="utf-8").read().strip().split("\n\n")]
    assert len(sentences) == 59
    relabelled = next(s for s in sentences if [line.split()[0] for line in s] == text.split())
    assert [line.split()[-1] for line in relabelled] == tags
    status, *_ = client.predict("", *ner, api_name="/retrain_corrected")
    deadline = time.time() + 300
    while not status.startswith(("✅", "⏹️", "❌")):
        assert time.time() < deadline, status
        time.sleep(0.3)
        status, _timer = client.predict(api_name="/retrain_status")
    assert "Finished" in status, status

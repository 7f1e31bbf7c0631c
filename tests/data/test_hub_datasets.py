"""Training data from a Hub dataset repo (acceptance 2 of issue 28), against the local fake Hub: a Parquet dataset with
two configs and train/test splits loads by id, config and split, downloading only that split; unknown ids, private or
gated datasets without a token, missing splits and datasets without a text column fail clearly, leaving nothing."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from huggingface_hub import ModelCard

import kdemo
from conftest import sentiment_frame
from hub_server import WRITE_TOKEN, running_hub
from kdemo import TrainConfig
from kdemo.cli import main as cli_main
from kdemo.data.hub_datasets import dataset_splits, fetch_hub_dataset, parquet_layout
from kdemo.errors import DataError
from kdemo.run.pipeline import read_data

CARD = """---
configs:
- config_name: reviews
  data_files:
  - split: train
    path: reviews/train-*
  - split: test
    path: reviews/test-*
- config_name: titles
  data_files:
  - split: train
    path: titles/train-*
  - split: test
    path: titles/test-*
dataset_info:
- config_name: reviews
  features:
  - name: text
    dtype: string
  - name: label
    dtype:
      class_label:
        names:
          '0': negative
          '1': positive
---
# Reviews
"""


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def reviews(n: int, seed: int) -> pd.DataFrame:
    frame = sentiment_frame(n, seed)
    return frame.assign(label=[int(v == "positive") for v in frame["label"]])


@pytest.fixture
def local_hub(tmp_path, monkeypatch):
    hub = next(gen := running_hub(tmp_path, monkeypatch))
    files = {"README.md": CARD.encode(),
             "reviews/train-00000-of-00002.parquet": parquet(reviews(60, 0)),
             "reviews/train-00001-of-00002.parquet": parquet(reviews(60, 1)),
             "reviews/test-00000-of-00001.parquet": parquet(reviews(30, 2)),
             "titles/train-00000-of-00001.parquet": parquet(pd.DataFrame({"title": ["a b", "c d"] * 20,
                                                                           "topic": ["x", "y"] * 20})),
             "titles/test-00000-of-00001.parquet": parquet(pd.DataFrame({"title": ["e f"], "topic": ["x"]}))}
    hub.add_repo("alice/reviews", files, kind="dataset")
    hub.add_repo("alice/secret-reviews", files, kind="dataset", private=True)
    hub.add_repo("alice/gated-reviews", files, kind="dataset", gated=True)
    hub.add_repo("alice/numbers", {"data/train-00000-of-00001.parquet": parquet(pd.DataFrame({"x": [1.0, 2.0],
                                                                                               "y": [0, 1]}))},
                  kind="dataset")
    yield hub
    next(gen, None)


def downloaded(hub) -> list[str]:
    return [e["path"] for e in hub.log if e["route"] == "resolve" and e["method"] == "GET"]


def test_layout_follows_the_card_or_the_folders():
    files = ["README.md", "data/train-00000-of-00001.parquet", "data/validation-00000-of-00001.parquet",
             "en/test.parquet"]
    assert parquet_layout(files) == {"default": {"train": ["data/train-00000-of-00001.parquet"],
                                                 "validation": ["data/validation-00000-of-00001.parquet"]},
                                     "en": {"test": ["en/test.parquet"]}}
    assert parquet_layout(["a/train-0.parquet"], {"configs": [{"config_name": "c", "data_files": "a/*"}]}) == {
        "c": {"train": ["a/train-0.parquet"]}}


def test_loads_by_id_config_and_split_downloading_only_that_split(local_hub, tmp_path):
    assert dataset_splits("alice/reviews", cache_dir=tmp_path / "c") == {"reviews": ["train", "test"],
                                                                        "titles": ["train", "test"]}
    got = fetch_hub_dataset("alice/reviews", config="reviews", split="test", cache_dir=tmp_path / "c")
    frame = pd.read_parquet(got.path)
    assert (got.config, got.split, got.rows, got.total_rows, got.note) == ("reviews", "test", 30, 30, None)
    assert set(frame["label"]) == {"negative", "positive"}  # class_label ids get their names back
    assert frame["text"].tolist() == reviews(30, 2)["text"].tolist()
    assert [p for p in downloaded(local_hub) if p.endswith(".parquet")] == [
        "/datasets/alice/reviews/resolve/main/reviews/test-00000-of-00001.parquet"]  # no train, no titles
    titles = fetch_hub_dataset("alice/reviews", config="titles", split="train", cache_dir=tmp_path / "c")
    assert pd.read_parquet(titles.path).columns.tolist() == ["title", "topic"] and titles.rows == 40


def test_row_limit_reads_only_the_shards_needed_and_says_so(local_hub, tmp_path):
    got = fetch_hub_dataset("alice/reviews", config="reviews", max_rows=25, cache_dir=tmp_path / "c")
    assert got.rows == 25 and got.total_rows is None and "first 25 of more rows" in got.note
    assert not any("train-00001" in p for p in downloaded(local_hub))
    first = fetch_hub_dataset("alice/reviews", max_rows=200, cache_dir=tmp_path / "c")
    assert first.config == "reviews" and first.rows == 120 and "config 'reviews' read (others: titles)" in first.note


@pytest.mark.parametrize("kwargs, message", [
    (dict(dataset_id="alice/nope"), "does not exist or is private"),
    (dict(dataset_id="alice/secret-reviews"), "does not exist or is private"),
    (dict(dataset_id="alice/gated-reviews"), "gated dataset 'alice/gated-reviews'.*Accept its terms"),
    (dict(dataset_id="alice/reviews", config="reviews", split="validation"),
     r"Expected a split of alice/reviews/reviews: 'train', 'test'. Received: 'validation'"),
    (dict(dataset_id="alice/reviews", config="nope"), r"Expected a config of 'alice/reviews': 'reviews', 'titles'"),
    (dict(dataset_id="alice/numbers"), r"Expected a text column \(strings\) in alice/numbers/default/train.*x \(float64\)"),
    (dict(dataset_id="not a id"), "Expected a dataset id like"),
    (dict(dataset_id="alice/reviews", revision="v9"), "Expected an existing revision"),
])
def test_clear_errors_and_nothing_half_loaded(local_hub, tmp_path, kwargs, message):
    with pytest.raises(DataError, match=message):
        fetch_hub_dataset(**kwargs, token=False, cache_dir=tmp_path / "c")
    assert not list((tmp_path / "c").rglob("kdemo-hub-data/*"))


def test_private_and_gated_datasets_load_with_a_token(local_hub, tmp_path):
    for dataset in ("alice/secret-reviews", "alice/gated-reviews"):
        got = fetch_hub_dataset(dataset, config="titles", split="test", token=WRITE_TOKEN, cache_dir=tmp_path / "c")
        assert got.rows == 1
    assert WRITE_TOKEN not in " ".join(p.name for p in (tmp_path / "c").rglob("*"))


def test_train_config_reads_the_hub_dataset_as_an_upload_and_the_card_names_it(local_hub, tiny_bert_dir, tmp_path,
                                                                               one_torch_thread):
    config = TrainConfig(hub_dataset="alice/reviews", hub_config="reviews", hub_split="train", hub_max_rows=100,
                         model_name=str(tiny_bert_dir), maxlen=32, epochs=1, batch_size=16)
    assert config.data_name == "alice/reviews" and TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(kdemo.TrainingError, match="hub_dataset"):
        TrainConfig(hub_dataset="alice/reviews", train_file="x.csv")
    data = read_data(config)
    assert (data.text_column, data.label_columns, str(data.spec)) == ("text", ("label",), "single_label")
    assert any("first 100 of" in w for w in data.warnings)
    result = kdemo.train(config, data=data)
    assert result.params["config"]["hub_dataset"] == "alice/reviews"
    out = result.save(tmp_path / "model", repo_id="alice/from-hub")
    card = ModelCard.load(out / "README.md")
    assert card.data.datasets == ["alice/reviews"] and "huggingface.co/datasets/alice/reviews" in card.text
    assert json.loads((out / "training_params.json").read_text())["config"]["hub_split"] == "train"


def test_cli_options_fill_the_config(local_hub, tmp_path, capsys):
    code = cli_main(["train", "--hub-dataset", "alice/numbers", "--out", str(tmp_path / "o"), "--epochs", "1"])
    assert code == 1 and "Expected a text column" in capsys.readouterr().err
    code = cli_main(["publish-space", "missing-folder", "alice/m", "--local-dir", str(tmp_path / "s")])
    assert code == 1 and "config.json" in capsys.readouterr().err


def test_a_token_classification_split_reads_as_a_token_file(local_hub, tmp_path):
    card = """---
dataset_info:
  features:
  - name: tokens
    sequence: string
  - name: ner_tags
    sequence:
      class_label:
        names:
          '0': O
          '1': B-PER
          '2': I-PER
---
"""
    frame = pd.DataFrame({"id": ["0", "1"], "tokens": [["John", "Smith", "runs"], ["Ann", "sings"]],
                          "ner_tags": [[1, 2, 0], [1, 0]]})
    local_hub.add_repo("alice/people", {"README.md": card.encode(), "data/train-0.parquet": parquet(frame)},
                       kind="dataset")
    got = fetch_hub_dataset("alice/people", cache_dir=tmp_path / "c")
    assert got.path.suffix == ".jsonl" and json.loads(got.path.read_text().splitlines()[0]) == {
        "tokens": ["John", "Smith", "runs"], "ner_tags": ["B-PER", "I-PER", "O"]}
    data = read_data(TrainConfig(hub_dataset="alice/people", val_pct=0.5))
    assert str(data.spec) == "token_classification"

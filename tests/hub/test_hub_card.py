"""The model card: its metadata validates, it renders to HTML, and it holds every promised item (offline)."""

from __future__ import annotations

import html as htmllib
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import sentiment_frame
from hub_server import CLOSED_PORT, isolate_hf_client
from huggingface_hub import ModelCard
from markdown_it import MarkdownIt
from PIL import Image

from kdemo import DEFAULT_MODEL_ID, HubError, get_learner, get_predictor, texts_from_df
from kdemo.hub.card import PARAMS_FILE, check_card, framework_versions, write_model_card
from kdemo.hub.folder import card_settings
from kdemo.record import CONFUSION_FILE, CURVE_FILE, RECORD_FILE, TrainingRecord

EPOCHS = 2
BROKEN_MODEL_INDEX = (
    "library_name: transformers\npipeline_tag: text-classification\nwidget:\n- text: hi\n"
    "model-index:\n- name: x\n  results:\n  - task: {type: text-classification}\n"
)
TRAINING = {  # what the Train tab records (kdemo/ui/train_tab.py)
    "model_name": "/home/someone/private/models/tiny", "maxlen": 32, "batch_size": 16, "lr": 2e-3, "epochs": EPOCHS,
    "val_pct": 0.2, "precision": "fp32", "seed": 0, "schedule": "one-cycle (warmup 10 %, cosine decay)",
    "optimizer": "AdamW (torch fused), weight decay 0.01", "device": "CPU (2 threads)", "steps": 20,
    "stopped_early": False,
}


class _Page(HTMLParser):
    """Tables (rows of cell texts), images, headings and code blocks of rendered HTML."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self.images, self.headings, self.code, self.links = [], [], [], [], []
        self._cell = self._heading = self._code = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs)
        elif tag in ("h1", "h2", "h3"):
            self._heading = ""
        elif tag == "code":
            self._code = ""
        elif tag == "a":
            self.links.append(attrs.get("href"))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None
        elif tag in ("h1", "h2", "h3"):
            self.headings.append(self._heading.strip())
            self._heading = None
        elif tag == "code":
            self.code.append(self._code)
            self._code = None

    def handle_data(self, data):
        for name in ("_cell", "_heading", "_code"):
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name) + data)

    def table_after(self, first_header: str) -> list[list[str]]:
        return next(t for t in self.tables if t and t[0] and t[0][0] == first_header)


def render(readme: Path) -> tuple[dict, _Page, str]:
    """The card's metadata, its body rendered to HTML with markdown-it (CommonMark + tables), and that HTML's text
    with entities decoded (for substring checks)."""
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    _, header, body = text.split("---\n", 2)
    html = MarkdownIt("commonmark").enable("table").render(body)
    return yaml.safe_load(header), _Page(html), htmllib.unescape(html)


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    isolate_hf_client(monkeypatch, tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", CLOSED_PORT)


@pytest.fixture(scope="module")
def trained(tiny_bert_dir):
    """A tiny model trained for two epochs: (learner, report, predictor)."""
    trn, val, preproc = texts_from_df(sentiment_frame(200), "text", ["label"], val_pct=0.2,
                                      model_name=str(tiny_bert_dir), maxlen=32, verbose=0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=16)
    learner.fit_onecycle(2e-3, EPOCHS, verbose=0)
    report = learner.validation_report(print_report=False)
    meta = {
        "base_model": DEFAULT_MODEL_ID,  # a Hub id whose card (license apache-2.0) ships in the embedded package
        "metrics": {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "num_rows": report.num_rows},
        "training": {**TRAINING, "model_name": str(tiny_bert_dir)},
        "example": "the movie was superb | really",
        "dataset_name": "reviews.csv",
    }
    return learner, report, get_predictor(learner.model, preproc, meta=meta)


@pytest.fixture
def card_folder(trained, tmp_path) -> Path:
    learner, report, predictor = trained
    folder = predictor.save(tmp_path / "sentiment-tiny")
    TrainingRecord.from_learner(learner, report).save(folder)
    write_model_card(folder, repo_id="alice/sentiment-tiny", dataset_id="stanfordnlp/sst2")
    return folder


def test_card_metadata_validates_and_holds_every_field(card_folder, trained):
    _, report, _ = trained
    meta, _, _ = render(card_folder / "README.md")
    assert meta["library_name"] == "transformers"
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["base_model"] == DEFAULT_MODEL_ID
    assert meta["license"] == "apache-2.0"  # inherited from the base model's own card
    assert meta["datasets"] == ["stanfordnlp/sst2"]
    assert meta["metrics"] == ["accuracy", "f1"]
    assert meta["widget"] == [{"text": "the movie was superb | really"}]
    results = meta["model-index"][0]["results"][0]
    assert meta["model-index"][0]["name"] == "sentiment-tiny"
    assert results["task"]["type"] == "text-classification"
    assert results["dataset"] == {"name": "stanfordnlp/sst2", "type": "stanfordnlp/sst2", "split": "validation"}
    values = {(m["type"], m.get("config")): m["value"] for m in results["metrics"]}
    assert values == {("accuracy", None): round(report.accuracy, 4), ("f1", "macro"): round(report.macro_f1, 4)}
    # huggingface_hub's own strict parser accepts it, and kdemo's check passes.
    parsed = ModelCard.load(card_folder / "README.md", ignore_metadata_errors=False)
    assert parsed.data.eval_results[0].metric_value == round(report.accuracy, 4)
    assert check_card(card_folder / "README.md").data.base_model == DEFAULT_MODEL_ID


def test_card_body_renders_with_every_item(card_folder, trained):
    learner, report, _ = trained
    _, page, html = render(card_folder / "README.md")
    assert page.headings == [
        "sentiment-tiny", "How to use", "Label map", "Class balance", "Evaluation (validation split)",
        "Training results per epoch", "Training hyperparameters", "Limitations", "Framework versions",
    ]
    # what was fine-tuned on what
    assert f"https://huggingface.co/{DEFAULT_MODEL_ID}" in page.links
    assert "https://huggingface.co/datasets/stanfordnlp/sst2" in page.links
    assert "(160 training rows, 40 validation rows)" in html
    # copy-paste pipeline() snippet
    snippet = next(c for c in page.code if "pipeline(" in c)
    assert 'pipeline("text-classification", model="alice/sentiment-tiny", truncation=True)' in snippet
    assert 'clf("the movie was superb | really", top_k=None)' in snippet
    compile(snippet, "snippet", "exec")
    # label map and class balance
    assert page.table_after("id")[1:] == [["0", "negative"], ["1", "positive"]]
    balance = page.table_after("label")
    train_counts = np.bincount(learner.train_data.labels, minlength=2)
    assert [row[:3] for row in balance[1:]] == [
        ["negative", str(train_counts[0]), f"{train_counts[0] / 160:.1%}"],
        ["positive", str(train_counts[1]), f"{train_counts[1] / 160:.1%}"],
    ]
    # evaluation, per class, confusion matrix image
    metrics = dict(page.table_after("metric")[1:])
    assert metrics == {"accuracy": f"{report.accuracy:.4f}", "macro-F1": f"{report.macro_f1:.4f}", "rows": "40"}
    per_class = next(t for t in page.tables if t[0][:2] == ["label", "precision"])
    assert [r[0] for r in per_class[1:]] == ["negative", "positive"]
    assert [int(r[4]) for r in per_class[1:]] == report.per_class["support"].tolist()
    # per-epoch results (Keras History) and the training curve image
    epochs = page.table_after("epoch")
    assert epochs[0][:4] == ["epoch", "step", "training loss", "training accuracy"]
    history = learner.history.history
    assert [row[2] for row in epochs[1:]] == [f"{v:.4f}" for v in history["loss"]]
    assert [row[0] for row in epochs[1:]] == [str(i + 1) for i in range(EPOCHS)]
    assert {img["src"] for img in page.images} == {CONFUSION_FILE, CURVE_FILE}
    # hyperparameters: the essential ones with their values
    hyper = dict(page.table_after("hyperparameter")[1:])
    assert hyper["learning rate (peak, per optimizer step)"] == "2.00e-03"
    assert hyper["learning-rate schedule"] == "one-cycle (warmup 10 %, cosine decay)"
    assert hyper["epochs"] == str(EPOCHS) and hyper["batch size (rows per optimizer step)"] == "16"
    assert hyper["maxlen (tokens per text, special tokens included)"] == "32"
    assert hyper["precision"] == "fp32" and hyper["seed (split, head initialisation, batch order)"] == "0"
    assert hyper["optimizer"] == "AdamW (torch fused), weight decay 0.01"
    assert hyper["hardware"] == "CPU (2 threads)"
    # framework versions
    for name, version in framework_versions().items():
        assert f"{name}: {version}" in html


def test_card_images_and_files_are_in_the_folder(card_folder, trained):
    learner, report, _ = trained
    for name in (CONFUSION_FILE, CURVE_FILE):
        with Image.open(card_folder / name) as img:
            assert img.format == "PNG" and img.width >= 300 and img.height >= 200
    record = json.loads((card_folder / RECORD_FILE).read_text())
    assert record["evaluation"]["confusion_matrix"] == report.confusion_matrix.tolist()
    assert len(record["step_losses"]) == len(learner.step_losses) == 20
    assert [e["loss"] for e in record["epochs"]] == pytest.approx(learner.history.history["loss"])
    params = json.loads((card_folder / PARAMS_FILE).read_text())
    assert params["lr"] == 2e-3 and params["seed"] == 0 and params["maxlen"] == 32
    assert "model_name" not in params  # the local training folder is not published


def test_writing_the_card_changes_no_other_file(card_folder):
    """One saved-folder schema: the card reads kdemo.json and training_params.json and writes README.md and card.json
    (what it was written for); a second card, for another repo, leaves every other file byte for byte."""
    assert json.loads((card_folder / "card.json").read_text()) == {
        "repo_id": "alice/sentiment-tiny", "dataset_id": "stanfordnlp/sst2", "example": None}
    assert "card" not in json.loads((card_folder / "kdemo.json").read_text())
    before = {p.name: p.read_bytes() for p in card_folder.iterdir() if p.name not in ("README.md", "card.json")}
    write_model_card(card_folder, repo_id="bob/other", example="a fine film")
    after = {p.name: p.read_bytes() for p in card_folder.iterdir() if p.name not in ("README.md", "card.json")}
    assert after == before
    assert json.loads((card_folder / "card.json").read_text()) == {
        "repo_id": "bob/other", "dataset_id": None, "example": "a fine film"}
    assert card_settings(card_folder)["repo_id"] == "bob/other"


def test_card_settings_of_an_older_folder_are_read_from_kdemo_json(tmp_path):
    (tmp_path / "kdemo.json").write_text(json.dumps({"card": {"repo_id": "old/name", "example": "hi"}}))
    assert card_settings(tmp_path) == {"repo_id": "old/name", "example": "hi"}
    assert card_settings(tmp_path / "missing") == {}


def test_card_and_files_hold_no_local_paths(card_folder, tiny_bert_dir, tmp_path):
    for path in card_folder.iterdir():
        if path.suffix in (".md", ".json"):
            text = path.read_text(encoding="utf-8")
            assert str(tiny_bert_dir) not in text and "/home/someone" not in text and str(tmp_path) not in text


def test_card_of_a_model_without_a_training_record(trained, tmp_path):
    """A model saved outside a training session (e.g. loaded from the Hub) still gets a valid, honest card."""
    _, _, predictor = trained
    saved_meta = predictor.meta
    predictor.meta = {"base_model": str(tmp_path)}  # a local base: no Hub link, no path in the card
    try:
        folder = predictor.save(tmp_path / "plain")
    finally:
        predictor.meta = saved_meta
    write_model_card(folder)
    write_model_card(folder)  # twice, as the Train tab and then the Hub tab do: the path stays a local folder
    assert json.loads((folder / "kdemo.json").read_text())["base_model"] == f"local:{tmp_path.name}"
    meta, page, html = render(folder / "README.md")
    assert "model-index" not in meta and "base_model" not in meta and "license" not in meta
    assert f"fine-tuned from a local checkpoint (`{tmp_path.name}`)" in (folder / "README.md").read_text()
    assert "Not evaluated." in html and "Not recorded" in html and page.images == []
    assert 'model="plain"' in html  # the repo id defaults to the folder name
    assert str(tmp_path) not in (folder / "README.md").read_text()
    assert dict(page.table_after("hyperparameter")[1:])["optimizer"] == "not recorded"


def _folder_with(tmp_path: Path, predictor, meta: dict, record: TrainingRecord) -> Path:
    folder = predictor.save(tmp_path / "other-task")
    data = json.loads((folder / "kdemo.json").read_text())
    (folder / "kdemo.json").write_text(json.dumps({**data, **meta}))
    record.save(folder)
    return folder


def test_regression_card(trained, tmp_path):
    _, _, predictor = trained
    record = TrainingRecord(class_names=["stars"], task="regression", train_rows=80, val_rows=20,
                            epochs=[{"epoch": 1, "step": 5, "loss": 1.5, "val_loss": 1.2, "mae": 0.9, "val_mae": 0.8}],
                            step_losses=[2.0, 1.8, 1.6, 1.5, 1.4],
                            target_stats={"train": {"rows": 80, "mean": 3.1, "std": 1.2, "min": 1.0, "max": 5.0},
                                          "validation": {"rows": 20, "mean": 3.0, "std": 1.1, "min": 1.0, "max": 5.0}},
                            evaluation={"mae": 0.8, "rmse": 1.0, "r2": 0.4, "num_rows": 20})
    metrics = {"mae": 0.8, "rmse": 1.0, "r2": 0.4, "num_rows": 20}
    meta = {"task": "regression", "class_names": ["stars"], "metrics": metrics}
    folder = _folder_with(tmp_path, predictor, meta, record)
    write_model_card(folder, repo_id="alice/stars")
    meta, page, html = render(folder / "README.md")
    values = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert values == {"mae": 0.8, "rmse": 1.0, "r_squared": 0.4}
    assert "Target distribution" in page.headings and page.table_after("target statistic")[2] == ["mean", "3.1", "3"]
    assert 'clf("the movie was superb | really", function_to_apply="none")' in html
    assert not (folder / CONFUSION_FILE).exists() and (folder / CURVE_FILE).exists()
    assert page.table_after("epoch")[0] == ["epoch", "step", "training loss", "training MAE", "validation loss",
                                            "validation MAE"]


def test_multi_label_card(trained, tmp_path):
    _, _, predictor = trained
    per_label = [{"label": n, "precision": 0.5, "recall": 0.5, "f1-score": 0.5, "support": 7, "threshold": 0.35}
                 for n in ("negative", "positive")]
    record = TrainingRecord(class_names=["negative", "positive"], task="multi_label", train_rows=10, val_rows=4,
                            train_counts={"negative": 6, "positive": 7}, val_counts={"negative": 2, "positive": 3},
                            evaluation={"micro_f1": 0.6, "macro_f1": 0.5, "per_label": per_label, "num_rows": 4})
    metrics = {"micro_f1": 0.6, "macro_f1": 0.5, "subset_accuracy": 0.25, "num_rows": 4}
    folder = _folder_with(tmp_path, predictor, {"task": "multi_label", "metrics": metrics}, record)
    write_model_card(folder, repo_id="alice/tags")
    meta, page, _ = render(folder / "README.md")
    assert "multi-label" in meta["tags"]
    values = {(m["type"], m.get("config")) for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert values == {("f1", "macro"), ("f1", "micro"), ("accuracy", "subset")}
    assert page.table_after("label")[1] == ["negative", "6", "60.0%", "2", "50.0%"]  # shares of rows, not of labels
    per_label = next(t for t in page.tables if t[0][:2] == ["label", "precision"])
    assert per_label[1][-1] == "0.35"  # the tuned threshold


@pytest.mark.parametrize(
    ("front_matter", "match"),
    [
        (BROKEN_MODEL_INDEX, "valid YAML metadata"),
        ("library_name: transformers\nwidget:\n- text: hi\n", "pipeline_tag is None"),
        ("library_name: keras\npipeline_tag: text-classification\n", "library_name is 'keras'.*widget needs"),
        ("- just\n- a list\n", "valid YAML metadata"),
    ],
)
def test_check_card_rejects_broken_metadata(tmp_path, front_matter, match):
    readme = tmp_path / "README.md"
    readme.write_text(f"---\n{front_matter}---\n\n# x\n")
    with pytest.raises(HubError, match=match):
        check_card(readme)


def test_card_needs_a_predictor_folder(tmp_path):
    with pytest.raises(HubError, match="kdemo.json"):
        write_model_card(tmp_path)


def test_card_records_the_languages_in_its_yaml(trained, tmp_path):
    """``language:`` comes from kdemo.json's ``languages`` (the doctor's), else from the example text, else the
    argument; a model without an example gets none rather than a guess."""
    _, _, predictor = trained
    folder = predictor.save(tmp_path / "zh-model")
    data = json.loads((folder / "kdemo.json").read_text())
    write_model_card(folder)
    assert render(folder / "README.md")[0]["language"] == ["en"]  # "the movie was superb | really"
    (folder / "kdemo.json").write_text(json.dumps({**data, "example": "这家酒店的房间很干净，服务也很好。"}))
    write_model_card(folder)
    meta, _, _ = render(folder / "README.md")
    assert meta["language"] == ["zh"] and meta["widget"] == [{"text": "这家酒店的房间很干净，服务也很好。"}]
    (folder / "kdemo.json").write_text(json.dumps({**data, "languages": ["zh", "en"]}))
    write_model_card(folder)
    assert render(folder / "README.md")[0]["language"] == ["zh", "en"]
    write_model_card(folder, languages=["ja"])
    assert check_card(folder / "README.md").data.language == ["ja"]
    (folder / "kdemo.json").write_text(json.dumps({k: v for k, v in data.items() if k != "example"}))
    write_model_card(folder)
    assert "language" not in render(folder / "README.md")[0]

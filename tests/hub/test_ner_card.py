"""The model card of a token-classification (NER) folder: pipeline tag, tag list, per-type F1, snippet, widget."""

from __future__ import annotations

import json

from huggingface_hub import ModelCard

from kdemo.hub.card import check_card, write_model_card
from kdemo.record import TrainingRecord

TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SENTENCE = "Peter Novak visited Lisbon on Monday ."


def _token_folder(tmp_path):
    folder = tmp_path / "ner-model"
    folder.mkdir()
    meta = {"task": "token_classification", "class_names": TAGS, "maxlen": 64, "example": SENTENCE,
            "metrics": {"precision": 0.8, "recall": 0.75, "f1": 0.7742, "micro_f1": 0.7742, "macro_f1": 0.7735,
                        "accuracy": 0.95, "num_rows": 12, "num_entities": 20},
            "dataset_name": "ner_news.conll"}
    (folder / "kdemo.json").write_text(json.dumps(meta), encoding="utf-8")
    evaluation = {"per_type": [{"type": "LOC", "precision": 0.9, "recall": 0.8, "f1-score": 0.8471, "support": 10},
                               {"type": "PER", "precision": 0.7, "recall": 0.7, "f1-score": 0.7, "support": 10}]}
    TrainingRecord(class_names=TAGS, task="token_classification", evaluation=evaluation, train_rows=48, val_rows=12,
                   train_counts={"O": 90, "B-LOC": 5, "I-LOC": 1, "B-PER": 2, "I-PER": 2},
                   val_counts={"O": 20, "B-LOC": 1, "I-LOC": 0, "B-PER": 1, "I-PER": 1}).save(folder)
    return folder


def test_token_card_has_pipeline_tag_tags_per_type_f1_and_snippet(tmp_path):
    folder = _token_folder(tmp_path)
    card = write_model_card(folder, repo_id="me/ner")
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert card.data.pipeline_tag == "token-classification"
    assert "token-classification" in card.data.tags and "ner" in card.data.tags
    assert card.data.widget == [{"text": SENTENCE}]  # a real training sentence, not a made-up one
    assert 'pipeline("token-classification", model="me/ner", aggregation_strategy="simple")' in text
    assert 'pipeline("text-classification"' not in text
    assert "## Tag list" in text and "| 3 | B-PER |" in text and "Entity types: LOC, PER." in text
    assert "| entity type | precision | recall | F1 | support |" in text
    assert "| LOC | 0.9000 | 0.8000 | 0.8471 | 10 |" in text and "| PER | 0.7000 | 0.7000 | 0.7000 | 10 |" in text
    assert "entity F1 **0.7742**" in text and "token accuracy **0.9500**" in text and "micro-F1" not in text
    assert "A token classifier (named-entity recognition) that finds 2 entity types (LOC, PER)" in text
    assert "(48 training sentences, 12 validation sentences)" in text and "| sentences | 12 |" in text
    assert "| B-LOC | 5 | 5.0% | 1 | 4.3% |" in text  # words per tag, shares of the split's words
    assert "split into windows" in text and "truncated before classification" not in text
    results = {(r.metric_type, r.metric_config): r.metric_value for r in card.data.eval_results}
    assert results[("f1", "micro")] == 0.7742 and card.data.eval_results[0].task_type == "token-classification"
    reparsed = check_card(folder / "README.md")  # huggingface_hub's strict parser accepts it
    assert reparsed.data.pipeline_tag == "token-classification"


def test_token_card_without_a_recorded_sentence_uses_an_entity_example(tmp_path):
    folder = _token_folder(tmp_path)
    meta = json.loads((folder / "kdemo.json").read_text(encoding="utf-8"))
    del meta["example"]
    (folder / "kdemo.json").write_text(json.dumps(meta), encoding="utf-8")
    card = write_model_card(folder)
    assert "Berlin" in card.data.widget[0]["text"]
    assert ModelCard.load(folder / "README.md").data.pipeline_tag == "token-classification"

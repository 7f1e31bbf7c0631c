"""The token-classification views of the app: highlighted previews, entity tables, the per-type report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdemo.ui.views import tokens as token_views


def test_highlighted_preview_joins_entity_words_and_breaks_sentences():
    preview = [[("Peter", "PER"), ("Novak", "PER"), ("visited", None), ("Lisbon", "LOC"), (".", None)],
               [("Globex", "ORG"), ("fell", None)]]
    spans = token_views.highlighted_preview(preview)
    assert spans == [("Peter Novak", "PER"), (" ", None), ("visited", None), (" ", None), ("Lisbon", "LOC"),
                     (" ", None), (".", None), ("\n", None), ("Globex", "ORG"), (" ", None), ("fell", None)]
    assert "".join(text for text, _ in spans) == "Peter Novak visited Lisbon .\nGlobex fell"


def test_entities_become_highlighted_spans_and_a_table():
    text = "Peter Novak visited Lisbon"
    entities = [{"entity_group": "PER", "score": 0.91234567, "word": "peter novak", "start": 0, "end": 11},
                {"entity_group": "LOC", "score": 0.8, "word": "Lisbon", "start": 20, "end": 26}]
    value = token_views.highlighted_entities(text, entities)
    assert [text[e["start"]:e["end"]] for e in value["entities"]] == ["Peter Novak", "Lisbon"]
    assert [e["entity"] for e in value["entities"]] == ["PER", "LOC"]
    table = token_views.entities_frame(text, entities)
    assert list(table.columns) == token_views.ENTITY_COLUMNS
    assert table.iloc[0].tolist() == ["Peter Novak", "PER", 0.9123, 0, 11]
    assert token_views.entities_frame(text, []).empty


def test_per_type_frame_accepts_records_mappings_and_frames():
    records = [{"type": "LOC", "precision": 0.9, "recall": 0.8, "f1-score": 0.84706, "support": 10}]
    mapping = {"LOC": {"precision": 0.9, "recall": 0.8, "f1-score": 0.84706, "support": 10}}
    frame = pd.DataFrame(mapping).T
    for per_type in (records, mapping, frame):
        table = token_views.per_type_frame(per_type)
        assert list(table.columns) == token_views.PER_TYPE_COLUMNS
        assert table.iloc[0].tolist() == ["LOC", 0.9, 0.8, 0.847, 10]


def test_report_outputs_of_a_real_ner_report():
    from kdemo.evaluation.ner import ner_metrics

    y_true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    y_pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    text, table, figure = token_views.report_outputs(ner_metrics(y_true, y_pred))
    assert "entity F1 **0.667**" in text and "on 2 sentences (3 entities)" in text and "token accuracy" in text
    assert list(table.columns) == token_views.PER_TYPE_COLUMNS
    assert table.set_index("entity type")["f1-score"].to_dict() == {"LOC": 0.0, "ORG": 0.667, "PER": 1.0}
    labels, matrix = token_views.entity_confusion(ner_metrics(y_true, y_pred))
    assert labels == ["LOC", "ORG", "PER", "O"] and matrix.dtype == np.int64
    assert matrix[0, 1] == 1  # the true LOC span was predicted as ORG
    assert figure is not None


def test_task_radio_offers_token_classification_for_token_files_only():
    assert token_views.TOKEN_TASK not in token_views.task_choices(False)
    assert token_views.task_choices(True)[-1] == "token_classification"

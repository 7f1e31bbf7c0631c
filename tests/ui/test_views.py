"""The per-task views of the app (kdemo.ui.views): chosen by the spec, and the Data tab reads an upload once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import sentiment_frame

from kdemo.tasks import QUESTIONS, SPECS, TABLE, TOKENS, Task
from kdemo.ui.views import questions, table, tokens, view_for

CONLL = Path(__file__).parents[1] / "fixtures" / "ner_news.conll"


def test_view_for_follows_the_spec_its_kind_or_a_task():
    for task, spec in SPECS.items():
        expected = {TOKENS: tokens, QUESTIONS: questions}.get(spec.data_kind, table)
        assert view_for(spec) is view_for(task) is view_for(task.value) is view_for(spec.data_kind) is expected
    assert view_for(None) is table and view_for(TABLE) is table
    assert view_for("token-classification") is tokens  # the Hub's spelling, as a predictor folder may record it
    assert tokens.ENTITIES and not table.ENTITIES
    assert Task.TOKEN_CLASSIFICATION.value in tokens.task_choices() and Task.TOKEN_CLASSIFICATION.value not in table.task_choices()
    assert view_for("question-answering") is questions and questions.task_choices() == ["question_answering"]


def test_every_view_answers_the_same_interface():
    names = ("load", "restore", "set_task", "require_columns", "entity_preview", "task_choices", "report_outputs",
             "suggest_maxlen", "train_options", "predict_file", "attention", "OUTPUT", "ENTITIES", "CLASS_WORDS",
             "INPUT_LABELS", "TAKES_PAIRS", "SEGMENTS", "WINDOWS")
    for view in (table, tokens, questions):
        assert [n for n in names if not hasattr(view, n)] == [], view.__name__
    assert [v.OUTPUT for v in (table, tokens, questions)] == ["classes", "entities", "answers"]
    assert questions.WINDOWS and hasattr(questions, "window_note") and not table.WINDOWS and not tokens.WINDOWS


@pytest.mark.parametrize("kind", ["table", "tokens"])
def test_an_upload_is_read_once_and_a_column_change_reads_nothing(kind, tmp_path, monkeypatch):
    import kdemo.run.table_pipeline as table_pipeline
    import kdemo.run.token_pipeline as token_pipeline
    from kdemo.ui import data_tab
    from kdemo.ui.session import STORE

    reads = []
    for module, name in [(table, "read_table"), (table_pipeline, "read_table"), (token_pipeline, "read_token_file")]:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, **k: reads.append(a[0]) or _real(*a, **k))
    request = SimpleNamespace(session_hash=f"views-{kind}")
    if kind == "table":
        path = tmp_path / "reviews.csv"
        sentiment_frame(40).assign(other=lambda df: df["text"].str.upper()).to_csv(path, index=False)
    else:
        path = CONLL
    data_tab.load_data(str(path), None, 0.2, request)
    session = STORE.get(request)
    assert len(reads) == 1 and session.data is not None and session.spec.data_kind == kind
    if kind == "table":
        data_tab.set_columns("other", ["label"], 0.2, request)
        assert session.text_column == "other" and session.data.train_df is not None
    else:
        assert Path(session.data.train_file).parent == session.workdir / "data"  # the run trains on the copy
        assert session.data.config_fields()["train_file"] == session.data.train_file
    assert len(reads) == 1

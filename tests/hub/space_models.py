"""Tiny saved model folders of every task, trained for one epoch by kdemo.train (for the demo Space tests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import kdemo
from conftest import sentiment_frame
from kdemo import TrainConfig

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _save(config: TrainConfig, out: Path, frame: pd.DataFrame | None = None) -> Path:
    result = kdemo.train(config, train_df=frame)
    return result.save(out, repo_id="alice/" + out.name)


def train_folder(task: str, model_dir: Path, out: Path, qa_model_dir: Path | None = None) -> Path:
    """A saved folder of ``task`` ("single_label", "multi_label", "regression", "token_classification",
    "question_answering") fine-tuned one epoch from the tiny BERT ``model_dir`` (``qa_model_dir`` for QA)."""
    common = dict(model_name=str(model_dir), maxlen=32, epochs=1, batch_size=16, lr=5e-3)
    frame = sentiment_frame(80)
    if task == "single_label":
        return _save(TrainConfig(task=task, text_column="text", label_columns=("label",), **common), out, frame)
    if task == "multi_label":
        frame = frame.assign(tags=[("pos|" if lab == "positive" else "neg|") + ("long" if len(t) > 30 else "short")
                                   for t, lab in zip(frame["text"], frame["label"])])
        return _save(TrainConfig(task=task, text_column="text", label_columns=("tags",), **common), out,
                     frame[["text", "tags"]])
    if task == "regression":
        frame = frame.assign(score=[1.0 if lab == "positive" else -1.0 for lab in frame["label"]])
        return _save(TrainConfig(task=task, text_column="text", label_columns=("score",), **common), out,
                     frame[["text", "score"]])
    if task == "token_classification":
        return _save(TrainConfig(task=task, train_file=str(FIXTURES / "ner_news.conll"), val_pct=0.3, **common), out)
    from qa_fixtures import write_squad

    train_file = write_squad(out.parent / "qa-train.json", n_contexts=12, seed=0)
    return _save(TrainConfig(task=task, train_file=str(train_file), doc_stride=16, val_pct=0.3,
                             **{**common, "maxlen": 64, "model_name": str(qa_model_dir)}), out)

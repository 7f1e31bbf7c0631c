"""Issue 27, acceptance 3: for each task, ``kdemo.find_label_issues`` on a small file with planted label errors finds
them (a tiny random-init BERT learns the files' class-specific words in a few epochs; 2 folds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kdemo
from conftest import NEGATIVE, POSITIVE

SPORTS = "sports game team win".split()
FILLER = "the a movie film is was it this that and but".split()
PLANTED = [3, 20, 41]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory, one_torch_thread) -> Path:
    from tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-planted"), "bert")


@pytest.fixture(scope="module")
def tiny64_dir(tmp_path_factory, one_torch_thread) -> Path:
    """Hidden size 64: the 32-wide model learns one class per text, but not three yes/no answers at once."""
    from tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-planted-64"), "bert", hidden=64)


def _config(path, model, **changes) -> kdemo.TrainConfig:
    settings = dict(train_file=str(path), model_name=str(model), epochs=10, lr=1e-2, batch_size=8, precision="fp32",
                    track=False, maxlen=16, seed=0)
    return kdemo.TrainConfig(**{**settings, **changes})


def _found(issues, planted=PLANTED) -> set[int]:
    """The planted rows among the flagged ones."""
    return set(planted) & set(issues.issues["row"].tolist())


def test_single_label_planted_flips_are_found(tiny_dir, tmp_path):
    rng = np.random.default_rng(0)
    rows = [{"text": " ".join(rng.choice(POSITIVE if i % 2 else NEGATIVE, size=4)),
             "label": "positive" if i % 2 else "negative"} for i in range(80)]
    df = pd.DataFrame(rows)
    for r in PLANTED:
        df.loc[r, "label"] = {"positive": "negative", "negative": "positive"}[df.loc[r, "label"]]
    df.to_csv(tmp_path / "reviews.csv", index=False)
    issues = kdemo.find_label_issues(_config(tmp_path / "reviews.csv", tiny_dir, label_columns=("label",)), folds=2)
    assert issues.task == "single_label" and sorted(issues.table["row"]) == list(range(80))
    assert len(_found(issues)) >= 2 and len(issues) <= 8, issues.issues
    top = issues.issues.set_index("row")
    for r in _found(issues):
        assert top.loc[r, "given_label"] == df.loc[r, "label"] and top.loc[r, "suggested_label"] != df.loc[r, "label"]


def test_multi_label_planted_errors_are_found(tiny64_dir, tmp_path):
    rng = np.random.default_rng(1)
    groups = {"pos": POSITIVE, "neg": NEGATIVE, "sports": SPORTS}
    rows = []
    for i in range(90):
        names = [n for n in groups if rng.random() < 0.45] or [list(groups)[i % 3]]
        words = [w for n in names for w in rng.choice(groups[n], size=2)]
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": "|".join(names)})
    df = pd.DataFrame(rows)
    for r in PLANTED:  # drop a present label, or add an absent one
        names = df.loc[r, "labels"].split("|")
        absent = [n for n in groups if n not in names]
        df.loc[r, "labels"] = "|".join(names + absent[:1]) if absent else "|".join(names[1:])
    df.to_csv(tmp_path / "tags.csv", index=False)
    cfg = _config(tmp_path / "tags.csv", tiny64_dir, label_columns=("labels",), task="multi_label", epochs=30,
                  lr=3e-3)
    issues = kdemo.find_label_issues(cfg, folds=2)
    assert issues.task == "multi_label" and issues.class_names == ("neg", "pos", "sports")
    assert len(_found(issues)) >= 2 and len(issues) <= 12, issues.issues


def test_regression_planted_targets_are_found(tiny_dir, tmp_path):
    rng = np.random.default_rng(2)
    rows = []
    for i in range(80):
        positive = bool(i % 2)
        rows.append({"text": " ".join(rng.choice(POSITIVE if positive else NEGATIVE, size=4)),
                     "score": round((4.0 if positive else 1.0) + float(rng.normal(0, 0.1)), 3)})
    df = pd.DataFrame(rows)
    for r in PLANTED:
        df.loc[r, "score"] = 5.0 - df.loc[r, "score"]  # the other end of the scale
    df.to_csv(tmp_path / "scores.csv", index=False)
    cfg = _config(tmp_path / "scores.csv", tiny_dir, label_columns=("score",), task="regression")
    issues = kdemo.find_label_issues(cfg, folds=2)
    assert issues.task == "regression" and issues.class_names == ()
    assert len(_found(issues)) >= 2 and len(issues) <= 10, issues.issues
    assert set(issues.table["row"].head(3)) & set(PLANTED)
    assert float(issues.table.set_index("row").loc[PLANTED[0], "given_label"]) == df.loc[PLANTED[0], "score"]


def _conll(sentences) -> str:
    return "\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n"


def test_ner_planted_tags_are_found(tiny_dir, tmp_path):
    rng = np.random.default_rng(3)
    entities = {"PER": ["actor", "team"], "LOC": ["world", "market"]}
    sentences = []
    for i in range(90):
        words = [[w, "O"] for w in rng.choice(FILLER, size=int(rng.integers(3, 6)))]
        kind = "PER" if i % 2 else "LOC"
        words.insert(int(rng.integers(0, len(words))), [str(rng.choice(entities[kind])), f"B-{kind}"])
        sentences.append(words)
    planted_words = {}
    for r in PLANTED:  # the entity's word tagged as the other type
        w = next(j for j, (_, t) in enumerate(sentences[r]) if t != "O")
        sentences[r][w][1] = "B-LOC" if sentences[r][w][1] == "B-PER" else "B-PER"
        planted_words[r] = w
    path = tmp_path / "ner.conll"
    path.write_text(_conll(sentences), encoding="utf-8")
    cfg = _config(path, tiny_dir, task="token_classification", epochs=12, maxlen=32)
    issues = kdemo.find_label_issues(cfg, folds=2)
    assert issues.task == "token_classification" and "word" in issues.table.columns
    assert len(_found(issues)) >= 2 and len(issues) <= 10, issues.issues
    flagged = issues.issues.set_index("row")
    for r in _found(issues):
        assert flagged.loc[r, "word"] == planted_words[r]
        tags = flagged.loc[r, "suggested_label"].split()
        assert tags[planted_words[r]] == {"B-PER": "B-LOC", "B-LOC": "B-PER"}[sentences[r][planted_words[r]][1]]

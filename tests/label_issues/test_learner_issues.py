"""Data maps of every task with labels: multi-label, regression and token files, with planted label errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_multilabel_regression import multilabel_rows, regression_rows
from test_ner_app import CONLL, fixture_words
from tiny_models import build_tiny_model

from kdemo import DataError
from kdemo.data.token_files import read_token_file
from kdemo.run.label_issues.data_map import data_map_issues
from kdemo.run.label_issues.learner_issues import learner_label_issues
from kdemo.run.config import TrainConfig
from kdemo.training.callbacks.training_dynamics import TrainingDynamics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(path: Path, model: Path, **kwargs) -> TrainConfig:
    settings = dict(train_file=str(path), model_name=str(model), epochs=5, lr=3e-3, batch_size=8, precision="fp32",
                    track=False)
    return TrainConfig(**{**settings, **kwargs})


def test_multi_label_flags_rows_whose_classes_were_swapped(tiny_bert_dir, tmp_path):
    texts, labels = multilabel_rows(90, seed=0)
    planted = [0, 1, 9, 10, 30, 31]  # single-class rows (kinds 0 and 1) given the other class
    for i in planted:
        labels[i] = ["negative"] if labels[i] == ["positive"] else ["positive"]
    path = tmp_path / "multi.csv"
    pd.DataFrame({"text": texts, "labels": ["|".join(x) for x in labels]}).to_csv(path, index=False)
    issues = data_map_issues(_config(path, tiny_bert_dir, task="multi_label", epochs=10))
    assert issues.task == "multi_label" and len(issues.table) == 90
    by_row = issues.table.set_index("row")
    assert by_row.loc[2, "given_label"] == "negative, positive"  # names joined by ", "
    flagged = set(issues.issues["row"])
    assert len(flagged & set(planted)) >= 4, by_row.loc[planted]
    assert len(flagged - set(planted)) <= 4


def test_regression_flags_rows_whose_sign_was_flipped(tiny_bert_dir, tmp_path):
    texts, y = regression_rows(90, seed=1)
    y = [2.0 * np.sign(v) + 0.05 * v for v in y]  # the tiny model learns the sign, not the word count
    planted = [2, 7, 20, 33, 61]
    for i in planted:
        y[i] = -y[i]
    path = tmp_path / "scores.csv"
    pd.DataFrame({"text": texts, "score": y}).to_csv(path, index=False)
    issues = data_map_issues(_config(path, tiny_bert_dir, task="regression"))
    by_row = issues.table.set_index("row")
    assert by_row.loc[planted[0], "given_label"] == str(float(y[planted[0]]))
    float(by_row.loc[planted[0], "suggested_label"])  # the prediction, as a number
    flagged = set(issues.issues["row"])
    assert len(flagged & set(planted)) >= 4, by_row.loc[planted]
    assert len(flagged - set(planted)) <= 4


@pytest.fixture(scope="module")
def tiny_ner(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("map-ner"), "bert", extra_words=fixture_words())


def test_token_file_gives_one_row_per_sentence_scored_by_its_worst_word(tiny_ner):
    corpus = read_token_file(CONLL)
    issues = data_map_issues(_config(CONLL, tiny_ner, epochs=2, maxlen=8, batch_size=8))  # maxlen 8: windows
    table = issues.table.set_index("row")
    assert issues.task == "token_classification" and sorted(table.index) == list(range(len(corpus.words)))
    for s in (0, len(corpus.words) - 1):
        assert table.loc[s, "text"] == " ".join(corpus.words[s])
        assert table.loc[s, "given_label"] == " ".join(corpus.tags[s])
        word = table.loc[s, "word"]
        assert 0 <= word < len(corpus.words[s])
        given, suggested = table.loc[s, "given_label"].split(), table.loc[s, "suggested_label"].split()
        assert [i for i, (a, b) in enumerate(zip(given, suggested)) if a != b] in ([], [word])
    assert table["confidence"].between(0, 1).all() and table["region"].notna().all()


class _Tokens:
    """A token dataset of two sentences; sentence 0 is split into two windows (word ids restart per sentence)."""

    class_names = ["O", "B-PER"]
    words = [["a", "b", "c"], ["d"]]
    tags = [["O", "B-PER", "O"], ["O"]]
    window_sentence = np.array([0, 0, 1])
    word_ids = [np.array([-1, 0, 1, -1]), np.array([-1, 2, 2, -1]), np.array([-1, 0, -1])]
    labels = [np.array([-100, 0, 1, -100]), np.array([-100, 0, -100, -100]), np.array([-100, 0, -100])]

    def __len__(self):
        return 3


class _Learner:
    task = "token_classification"
    train_data = _Tokens()
    training_dynamics = None


def test_token_table_names_the_worst_word_and_suggests_its_tag():
    recorder = TrainingDynamics()
    recorder.task = "token_classification"
    for epoch, b_prob in ((0, 0.2), (1, 0.1)):  # word 1 ("b", given B-PER) keeps getting O
        recorder.on_epoch_begin(epoch)
        logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1], [1 - b_prob, b_prob], [0.5, 0.5]],
                                         [[0.5, 0.5], [0.8, 0.2], [0.5, 0.5], [0.5, 0.5]],
                                         [[0.5, 0.5], [0.7, 0.3], [0.5, 0.5], [0.5, 0.5]]]))
        y = torch.tensor([[-100, 0, 1, -100], [-100, 0, -100, -100], [-100, 0, -100, -100]])
        recorder._observe(y, logits, np.array([0, 1, 2]))
        recorder._close_epoch()
    issues = learner_label_issues(_Learner(), dynamics=recorder)
    table = issues.table.set_index("row")
    assert table.loc[0, "word"] == 1 and table.loc[0, "suggested_label"] == "O O O"
    assert table.loc[0, "confidence"] == pytest.approx(0.15) and table.loc[0, "correctness"] == 0.0
    assert bool(table.loc[0, "is_issue"]) and not bool(table.loc[1, "is_issue"])
    assert table.loc[1, "word"] == 0 and table.loc[1, "confidence"] == pytest.approx(0.7)
    assert issues.table["row"].tolist()[0] == 0  # lowest label quality first


def test_question_answering_has_no_labels_to_check():
    class QA:
        task = "question_answering"

    with pytest.raises(DataError, match="Expected a task with labels"):
        learner_label_issues(QA())

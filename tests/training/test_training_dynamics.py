"""TrainingDynamics: the training step's own probabilities, mapped to the right rows (issue 27's data map)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import sentiment_frame

from kdemo import TrainingError, get_learner, texts_from_df
from kdemo.modeling.batched import predict_logits
from kdemo.training.callbacks import training_dynamics as td
from kdemo.training.callbacks.training_dynamics import TrainingDynamics

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def no_dropout_dir(tiny_bert_dir, tmp_path_factory):
    """The tiny BERT with every dropout off, so the training forward pass equals an inference pass."""
    path = tmp_path_factory.mktemp("tiny-bert-no-dropout")
    shutil.copytree(tiny_bert_dir, path, dirs_exist_ok=True)
    config = json.loads((path / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (path / "config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def data(no_dropout_dir):
    trn, val, preproc = texts_from_df(sentiment_frame(48), "text", "label", model_name=str(no_dropout_dir),
                                      val_pct=0.25, verbose=0)
    return trn, val, preproc


@pytest.mark.parametrize("accumulation", [1, 2])
def test_recorded_probabilities_match_a_separate_forward_pass(data, accumulation):
    trn, val, preproc = data
    torch.manual_seed(0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=5, seed=3)
    learner.accumulation_steps = accumulation  # the OOM back-off's gradient accumulation
    recorder = TrainingDynamics()
    learner.fit_onecycle(1e-12, 2, verbose=0, callbacks=[recorder])  # lr ~0: the weights stay those of each step
    assert learner.training_dynamics is recorder
    probs, correct = recorder.given_probabilities(len(trn))
    assert probs.shape == (2, len(trn)) and not np.isnan(probs).any()  # every row once per epoch

    softmax = torch.softmax(torch.from_numpy(predict_logits(learner.model.hf_model, trn)), dim=-1).numpy()
    expected = softmax[np.arange(len(trn)), trn.labels]
    assert np.ptp(expected) > 1e-4  # rows differ, so a wrong mapping would show
    np.testing.assert_allclose(probs[0], expected, atol=2e-5)
    np.testing.assert_allclose(probs[1], expected, atol=2e-5)
    np.testing.assert_array_equal(correct[0], (softmax.argmax(1) == trn.labels).astype(float))
    assert not np.allclose(probs[0], expected[np.random.default_rng(0).permutation(len(trn))], atol=2e-5)
    last = recorder.last_predictions(len(trn))
    assert last == softmax.argmax(1).tolist()
    # detached after the fit: the step no longer records rows
    tap = learner.model._step_state.tap
    assert not tap.active and not tap.pending and learner.model._step_state.observer is None


def test_record_flag_attaches_a_fresh_recorder(data):
    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)
    learner.fit_onecycle(1e-12, 1, verbose=0)
    assert learner.training_dynamics is None
    tap = learner.model._step_state.tap  # without a recorder no batch keeps its rows
    assert not tap.active and not tap.pending and learner.model._step_state.observer is None
    learner.record_training_dynamics = True
    learner.fit_onecycle(1e-12, 1, verbose=0)
    assert isinstance(learner.training_dynamics, TrainingDynamics) and learner.training_dynamics.epochs == [0]


def test_refuses_torchrun_with_several_processes(data, monkeypatch):
    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)

    class Two:
        world_size = 2

    monkeypatch.setattr(td, "current", lambda: Two())
    with pytest.raises(TrainingError, match="torchrun"):
        learner.fit_onecycle(1e-12, 1, verbose=0, callbacks=[TrainingDynamics()])
    assert learner.model._step_state.observer is None  # the refused fit leaves no recorder running


def _recorder(task: str) -> TrainingDynamics:
    recorder = TrainingDynamics()
    recorder.task = task
    return recorder


def test_multi_label_measure_is_the_mean_agreement_with_the_given_values():
    recorder = _recorder("multi_label")
    logits = torch.tensor([[2.0, -1.0, 0.0], [0.0, 0.0, 3.0]])
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    recorder._observe(y, logits, np.array([1, 0]))
    recorder._close_epoch()
    probs, correct = recorder.given_probabilities(2)
    p = torch.sigmoid(logits).numpy()
    agree = np.where(y.numpy() == 1, p, 1 - p).mean(axis=1)
    np.testing.assert_allclose(probs[0], agree[[1, 0]], rtol=1e-6)
    np.testing.assert_array_equal(correct[0], [0.0, 1.0])  # row 1 (first in the batch): class 2 at p=0.5 -> on


def test_regression_closeness_uses_the_label_standard_deviation():
    recorder = _recorder("regression")
    recorder._observe(torch.tensor([[1.0], [3.0], [5.0]]), torch.tensor([[1.0], [2.5], [9.0]]), np.array([0, 1, 2]))
    recorder._close_epoch()
    probs, correct = recorder.given_probabilities(3)
    scale = np.std([1.0, 3.0, 5.0])
    np.testing.assert_allclose(probs[0], np.exp(-np.array([0.0, 0.5, 4.0]) / scale), rtol=1e-6)
    np.testing.assert_array_equal(correct[0], [1.0, 1.0, 0.0])  # |err| <= scale / 2 (scale 1.63)
    assert recorder.last_predictions(3) == [1.0, 2.5, 9.0]


def test_token_measure_averages_the_labelled_tokens_only():
    recorder = _recorder("token_classification")
    logits = torch.log(torch.tensor([[[0.7, 0.3], [0.5, 0.5], [0.2, 0.8]],
                                     [[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]]]))
    y = torch.tensor([[0, -100, 0], [-100, 1, -100]])
    recorder._observe(y, logits, np.array([4, 2]))
    recorder._close_epoch()
    probs, correct = recorder.given_probabilities(5)
    np.testing.assert_allclose(probs[0, [4, 2]], [(0.7 + 0.2) / 2, 0.6], rtol=1e-5)
    np.testing.assert_array_equal(correct[0, [4, 2]], [0.5, 1.0])
    assert np.isnan(probs[0, [0, 1, 3]]).all()
    windows = recorder.token_probabilities(5)[0]
    np.testing.assert_allclose(windows[4], [0.7, 0.2], rtol=1e-5)
    assert recorder.last_predictions(5)[2].tolist() == [1]


def test_a_repeated_epoch_replaces_the_earlier_record():
    recorder = _recorder("single_label")
    for epoch, value in ((0, 0.0), (1, 1.0), (0, 2.0)):  # an out-of-memory retry starts again at epoch 0
        recorder.on_epoch_begin(epoch)
        recorder._observe(torch.tensor([0]), torch.tensor([[value, 0.0]]), np.array([0]))
        recorder._close_epoch()
    assert recorder.epochs == [0]
    np.testing.assert_allclose(recorder.given_probabilities(1)[0][0, 0], torch.softmax(torch.tensor([2.0, 0.0]), 0)[0])


def test_without_rows_the_recorder_says_what_to_do():
    recorder = _recorder("single_label")
    with pytest.raises(TrainingError, match="batch_rows"):
        recorder._observe(torch.tensor([0]), torch.tensor([[0.0, 1.0]]), None)


def test_a_resumed_epoch_maps_its_batches_to_the_skipped_rows(data):
    from kdemo.data.dataset import BatchSequence
    from kdemo.training.resume import EpochRemainder

    trn = data[0]
    train = BatchSequence(trn, 5, shuffle=True, seed=1)
    rest = EpochRemainder(train, 3)
    for i in range(len(rest)):
        np.testing.assert_array_equal(rest.batch_rows(i), train.batch_indices[i + 3])


def test_a_failed_fit_detaches_the_recorder(data):
    import keras

    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)

    def fail(batch, logs=None):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        learner.fit_onecycle(1e-12, 1, verbose=0,
                             callbacks=[TrainingDynamics(), keras.callbacks.LambdaCallback(on_train_batch_end=fail)])
    state = learner.model._step_state
    assert state.observer is None and not state.tap.active and not state.tap.pending

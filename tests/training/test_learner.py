"""Learner on a tiny BERT: one-cycle fit, LR finder, stopping, validation and predictions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from conftest import sentiment_frame
from matplotlib.figure import Figure
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from kdemo import TrainingError, get_learner, texts_from_df
from kdemo.data.dataset import TextDataset
from kdemo.evaluation.report import ClassificationReport
from kdemo.training.callbacks import ProgressEvent
from kdemo.training.schedules import SUGGESTION_RANGE, one_cycle_lr, one_cycle_momentum

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LR = 3e-3  # peak LR per step; the toy task is learnt reliably in 3 epochs of 20 steps at batch size 8
EPOCHS = 3
BATCH = 8


class Recorder(keras.callbacks.Callback):
    """Records the learning rate and beta_1 the optimizer holds when each training batch starts."""

    def __init__(self):
        super().__init__()
        self.lrs: list[float] = []
        self.momenta: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
        self.momenta.append(float(self.model.optimizer.beta_1))


@pytest.fixture(scope="module")
def data(tiny_bert_dir):
    trn, val, preproc = texts_from_df(
        sentiment_frame(), "text", "label", model_name=str(tiny_bert_dir), val_pct=0.2, verbose=0
    )
    return trn, val, preproc


def _learner(data, **kwargs):
    trn, val, preproc = data
    return get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=BATCH, **kwargs)


@pytest.fixture(scope="module")
def trained(data):
    learner = _learner(data)
    recorder = Recorder()
    events: list[ProgressEvent] = []
    history = learner.fit_onecycle(LR, EPOCHS, verbose=0, callbacks=[recorder], progress=events.append)
    return learner, history, recorder, events


# ---------------------------------------------------------------------------------------------------- fit_onecycle
def test_fit_onecycle_learns_the_toy_task(trained):
    learner, history, _, _ = trained
    h = history.history
    assert {"loss", "accuracy", "lr", "momentum", "val_loss", "val_accuracy"} <= set(h)
    assert all(len(h[k]) == EPOCHS for k in ("loss", "accuracy", "val_loss", "val_accuracy"))
    assert len(h["lr"]) == len(h["momentum"]) == len(h["iterations"]) == EPOCHS * 20  # per step, as in ktrain
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert h["val_accuracy"][-1] >= 0.9
    assert h["accuracy"][-1] >= 0.9
    assert learner.history is history


def test_step_losses_and_progress_events(trained):
    learner, history, _, events = trained
    steps = EPOCHS * 20  # 160 training rows / batch size 8
    assert len(learner.step_losses) == steps
    assert np.mean(learner.step_losses[-10:]) < 0.5 * np.mean(learner.step_losses[:10])
    # The per-step losses are exact: their epoch means are Keras' epoch losses.
    for epoch in range(EPOCHS):
        mean = np.mean(learner.step_losses[epoch * 20 : (epoch + 1) * 20])
        assert mean == pytest.approx(history.history["loss"][epoch], rel=1e-4)
    train_events = [e for e in events if e.phase == "train"]
    epoch_events = [e for e in events if e.phase == "epoch_end"]
    assert [e.step for e in train_events] == list(range(1, steps + 1))
    assert all(e.total_steps == steps and e.epochs == EPOCHS for e in events)
    assert [e.epoch for e in epoch_events] == [0, 1, 2]
    assert all("val_accuracy" in e.logs for e in epoch_events)
    # After the last step the ETA is what still follows: the last validation pass, the report's and saving
    # (issue 29 item 11: it used to say 0 here); the last epoch's event has one validation pass less to come.
    assert train_events[-1].eta_s > epoch_events[-1].eta_s > 0.0
    assert learner.stopped_early is False


def test_one_cycle_lr_trace(trained):
    _, history, recorder, _ = trained
    total = EPOCHS * 20
    warmup = round(0.1 * total)
    lrs, moms = np.array(recorder.lrs), np.array(recorder.momenta)
    assert len(lrs) == total
    expected = [one_cycle_lr(s, total, LR) for s in range(total)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    assert lrs[0] == pytest.approx(LR / 25, rel=1e-6)
    assert int(np.argmax(lrs)) == warmup and lrs.max() == pytest.approx(LR, rel=1e-6)
    assert lrs[-1] == pytest.approx(LR / 25 / 1e4, rel=1e-5)
    assert np.all(np.diff(lrs[: warmup + 1]) > 0) and np.all(np.diff(lrs[warmup:]) < 0)
    np.testing.assert_allclose(moms, [one_cycle_momentum(s, total) for s in range(total)], rtol=1e-9)
    assert int(np.argmin(moms)) == warmup
    # The history holds the LR and momentum of every step, as ktrain's fit_onecycle stores them.
    np.testing.assert_allclose(history.history["lr"], lrs, rtol=1e-6)
    np.testing.assert_allclose(history.history["momentum"], moms, rtol=1e-9)
    assert max(history.history["lr"]) == pytest.approx(LR, rel=1e-6)
    assert history.history["iterations"] == list(range(1, total + 1))


def test_eval_mode_after_fit_and_deterministic_predictions(trained):
    learner, _, _, _ = trained
    assert learner.model.hf_model.training is False
    a = learner.predict()
    b = learner.predict()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (40, 2) and a.dtype == np.float32
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-5)
    assert learner.model.hf_model.training is False


def test_predict_rows_are_in_input_order(trained, data):
    learner, _, _, _ = trained
    _, val, _ = data
    rows = [0, 5, 9, 17]  # predict() batches rows sorted by length; the output must be back in input order
    batch = val.collate(rows)
    with torch.inference_mode():
        logits = learner.model.hf_model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits
    probs = torch.softmax(logits.float(), dim=-1).numpy()
    np.testing.assert_allclose(learner.predict()[rows], probs, atol=1e-5)
    assert val.lengths[rows].tolist() != sorted(val.lengths[rows].tolist(), reverse=True)  # rows really get reordered


def test_validate_agrees_with_sklearn(trained, data, capsys):
    learner, _, _, _ = trained
    _, val, _ = data
    report = learner.validation_report(print_report=True)
    assert isinstance(report, ClassificationReport)
    assert "accuracy" in capsys.readouterr().out
    pred = learner.predict().argmax(axis=1)
    assert report.accuracy == pytest.approx(accuracy_score(val.labels, pred))
    assert report.macro_f1 == pytest.approx(f1_score(val.labels, pred, average="macro"))
    np.testing.assert_array_equal(report.confusion_matrix, confusion_matrix(val.labels, pred, labels=[0, 1]))
    assert report.confusion_matrix.sum() == report.num_rows == 40
    assert report.class_names == ["negative", "positive"]
    assert list(report.per_class.index) == ["negative", "positive"]
    assert report.per_class["support"].tolist() == np.bincount(val.labels).tolist()
    assert report.to_dict()["confusion_matrix"] == report.confusion_matrix.tolist()
    quiet = learner.validation_report(print_report=False, class_names=["neg", "pos"])
    assert capsys.readouterr().out == ""
    assert quiet.class_names == ["neg", "pos"] and quiet.accuracy == report.accuracy


# ---------------------------------------------------------------------------------------------------- LR finder
def test_lr_find_restores_weights_exactly(data):
    learner = _learner(data)
    before = [w.copy() for w in learner.model.get_weights()]
    assert learner.lr_find(start_lr=1e-6, end_lr=1.0, num_steps=40, verbose=0) is None  # as ktrain
    lrs, losses = learner.lr_finder.lrs, learner.lr_finder.losses
    after = learner.model.get_weights()
    assert len(before) == len(after)
    for w0, w1 in zip(before, after):
        np.testing.assert_array_equal(w0, w1)
    assert len(lrs) == len(losses) >= 20
    assert len(lrs) <= 40
    assert lrs[0] == pytest.approx(1e-6)
    assert np.all(np.diff(lrs) > 0)
    assert np.all(np.isfinite(losses[:20]))
    assert learner.model.optimizer._torch_opt.state == {}  # Adam moments forgotten

    estimate = learner.lr_estimate()
    assert set(estimate) == {"steepest", "min_loss_div10"}
    assert all(SUGGESTION_RANGE[0] <= v <= SUGGESTION_RANGE[1] for v in estimate.values())
    fig = learner.lr_plot(suggest=True, return_fig=True)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_xscale() == "log"
    assert learner.lr_plot() is None


def test_lr_find_stops_when_asked(data):
    learner = _learner(data)

    class StopAtThird(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                learner.request_stop()

    learner.lr_find(num_steps=30, verbose=0, callbacks=[StopAtThird()])
    lrs, losses = learner.lr_finder.lrs, learner.lr_finder.losses
    assert len(lrs) == len(losses)
    assert 3 <= len(lrs) <= 4  # the request is seen after the batch in flight, or the next one


# ---------------------------------------------------------------------------------------------------- stopping
def test_request_stop_from_progress_callback_stops_within_one_batch(data):
    learner = _learner(data)
    stop_at = 5
    requested_after: list[int] = []

    def progress(event: ProgressEvent):
        if event.phase == "train" and event.step == stop_at:
            # Step losses are read in chunks (at least once a second), so the event of step 5 may arrive a few
            # steps later: the stop must take effect within one batch of the moment it is requested.
            requested_after.append(len(learner.model.step_log.losses))
            learner.request_stop()

    history = learner.fit_onecycle(LR, 2, verbose=0, progress=progress)
    assert requested_after and requested_after[0] >= stop_at
    assert requested_after[0] <= len(learner.step_losses) <= requested_after[0] + 1
    assert learner.stopped_early is True
    assert len(history.history["loss"]) == (1 if len(learner.step_losses) <= 20 else 2)  # no further epoch started
    # The model stays usable, and the next fit is not stopped by the old request.
    assert learner.predict().shape == (40, 2)
    learner.fit_onecycle(LR, 1, verbose=0)
    assert len(learner.step_losses) == 20
    assert learner.stopped_early is False


def test_fit_options_steps_class_weight_checkpoint(data, tmp_path):
    learner = _learner(data)
    learner.fit_onecycle(
        LR, 1, verbose=0, steps_per_epoch=4, class_weight={0: 1.0, 1: 3.0}, checkpoint_folder=str(tmp_path)
    )
    assert len(learner.step_losses) == 4
    assert (tmp_path / "epoch-1" / "model.safetensors").exists()
    assert (tmp_path / "epoch-1" / "config.json").exists()


def test_eval_mode_after_fit_without_validation(data):
    trn, _, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, batch_size=BATCH)
    learner.fit_onecycle(LR, 1, verbose=0, steps_per_epoch=3)
    assert learner.model.hf_model.training is False  # the last forward pass was a training step
    assert learner.model.hf_model.config._attn_implementation != "eager"


# ---------------------------------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs",
    [{"lr": 0}, {"lr": -1e-3}, {"lr": 1.0}, {"lr": "1e-3"}, {"epochs": 0}, {"epochs": 1.5}, {"epochs": -2}],
)
def test_fit_onecycle_bad_arguments(data, kwargs):
    learner = _learner(data)
    args = {"lr": 1e-3, "epochs": 1, **kwargs}
    with pytest.raises(TrainingError, match="Expected"):
        learner.fit_onecycle(args["lr"], args["epochs"], verbose=0)


def test_lr_find_and_estimate_bad_arguments(data):
    learner = _learner(data)
    with pytest.raises(TrainingError, match="lr_find"):
        learner.lr_estimate()
    with pytest.raises(TrainingError, match="lr_find"):
        learner.lr_plot(return_fig=True)
    for kwargs in ({"start_lr": 0.0}, {"start_lr": 1e-3, "end_lr": 1e-4}, {"num_steps": 1}):
        with pytest.raises(TrainingError, match="Expected"):
            learner.lr_find(verbose=0, **kwargs)
    learner.lr_find(num_steps=2, verbose=0)
    with pytest.raises(TrainingError, match="usable steps"):
        learner.lr_estimate()


def test_get_learner_bad_arguments(data):
    trn, val, preproc = data
    model = preproc.get_classifier()
    with pytest.raises(TrainingError, match="training data"):
        get_learner(model, train_data=None)
    unlabelled = TextDataset(texts=trn.texts, input_ids=trn.input_ids, labels=None, class_names=trn.class_names)
    with pytest.raises(TrainingError, match="unlabelled"):
        get_learner(model, train_data=unlabelled)
    with pytest.raises(TrainingError, match="batch sizes"):
        get_learner(model, train_data=trn, batch_size=0)
    with pytest.raises(TypeError, match="HFClassifier"):
        get_learner(model.hf_model, train_data=trn)
    no_val = get_learner(model, train_data=trn)
    with pytest.raises(TrainingError, match="validation data"):
        no_val.predict()
    with pytest.raises(TrainingError, match="validation data"):
        no_val.validate()
    assert no_val.predict(val).shape == (len(val), 2)


def test_the_evaluator_comes_from_the_spec_and_follows_set_model(trained, data, tmp_path):
    from kdemo.training.validation import TableEvaluator

    learner = trained[0]
    assert type(learner.evaluator) is learner.spec.load("evaluator") is TableEvaluator
    assert learner.evaluator.learner is learner
    learner.save_model(tmp_path / "m")
    fresh = _learner(data)
    fresh.load_model(tmp_path / "m")  # no preprocessor: the model reloads itself, of the same kind and task
    assert fresh.model.task == learner.model.task and fresh.evaluator.model is fresh.model
    np.testing.assert_allclose(fresh.predict(), learner.predict(), atol=1e-5)
    with pytest.raises(TrainingError, match="labelled training data"):  # anything that cannot collate batches
        get_learner(data[2].get_classifier(), train_data=np.zeros((3, 4)))

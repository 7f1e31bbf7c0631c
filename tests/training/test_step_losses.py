"""Per-step training losses, optimizer steps under gradient accumulation, and the ``learning_rate`` history key."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import sentiment_frame

from kdemo import get_learner, texts_from_df
from kdemo.modeling.classifier import HFClassifier
from kdemo.training.callbacks import ProgressEvent
from kdemo.training.callbacks.step_loss import StepLossReader

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tiny_bert_dir):
    return texts_from_df(sentiment_frame(), "text", "label", model_name=str(tiny_bert_dir), val_pct=0.2, verbose=0)


class _FakeModel:
    """Just what StepLossReader reads: ``metrics`` holding Keras' ``loss`` Mean."""

    def __init__(self):
        self.metrics = [keras.metrics.Mean(name="loss")]


def test_step_losses_are_exact_with_unequal_batches():
    """Keras' running mean is weighted by batch size: (8 rows, 0.5), (8, 1.0), (3, 2.0) -> running means 0.5, 0.75,
    (4 + 8 + 6) / 19. The equal-batch formula would give 3 * 18/19 - 2 * 0.75 = 1.342 for the last batch."""
    model = _FakeModel()
    tracker = model.metrics[0]
    reader = StepLossReader()
    reader.reset()
    got = []
    for rows, loss in [(8, 0.5), (8, 1.0), (3, 2.0)]:
        tracker.update_state(loss, sample_weight=rows)  # what Keras' torch train_step does
        got.append(reader.read(model, {"loss": tracker.result()}))
    assert float(tracker.result()) == pytest.approx(18 / 19)
    np.testing.assert_allclose(got, [0.5, 1.0, 2.0], rtol=1e-6)
    # A new epoch: Keras resets the metric, the reader starts over.
    tracker.reset_state()
    reader.reset()
    tracker.update_state(0.25, sample_weight=5)
    assert reader.read(model, {"loss": tracker.result()}) == pytest.approx(0.25)


def test_step_losses_fall_back_without_a_loss_metric():
    model = _FakeModel()
    model.metrics = []
    reader = StepLossReader()
    assert [reader.read(model, {"loss": m}) for m in (1.0, 1.5)] == [1.0, 2.0]  # equal-batch formula


@pytest.fixture
def true_losses(monkeypatch):
    """Record the loss Keras computes for every training batch (the hand computation to compare with)."""
    seen: list[tuple[int, float]] = []
    original = HFClassifier.compute_loss

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = original(self, x, y, y_pred, sample_weight, training=training)
        if training:
            seen.append((int(y.shape[0]), float(loss.detach())))
        return loss

    monkeypatch.setattr(HFClassifier, "compute_loss", compute_loss)
    return seen


def test_learner_step_losses_match_each_batch_with_a_ragged_last_batch(data, true_losses):
    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=7)  # 160 rows: 22×7 + 6
    history = learner.fit_onecycle(3e-3, 2, verbose=0)
    sizes = [n for n, _ in true_losses]
    assert sorted(set(sizes)) == [6, 7] and len(sizes) == 2 * 23
    np.testing.assert_allclose(learner.step_losses, [loss for _, loss in true_losses], rtol=1e-4, atol=1e-6)
    for epoch in range(2):  # the row-weighted mean of the steps is Keras' epoch loss
        chunk = true_losses[epoch * 23:(epoch + 1) * 23]
        weighted = sum(n * loss for n, loss in chunk) / sum(n for n, _ in chunk)
        assert history.history["loss"][epoch] == pytest.approx(weighted, rel=1e-5)


def test_progress_counts_optimizer_steps_with_accumulation(data, true_losses):
    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)
    learner.accumulation_steps = 2  # as after one out-of-memory back-off
    events: list[ProgressEvent] = []
    learner.fit_onecycle(3e-3, 2, verbose=0, progress=events.append, progress_every=3)
    batches = 2 * 20  # 160 rows / 8
    assert int(learner.model.optimizer.iterations.numpy()) == batches // 2
    assert len(learner.step_losses) == batches // 2
    losses = [loss for _, loss in true_losses]
    np.testing.assert_allclose(learner.step_losses, np.mean(np.reshape(losses, (-1, 2)), axis=1), rtol=1e-4, atol=1e-6)
    train_events = [e for e in events if e.phase == "train"]
    assert [e.step for e in train_events] == list(range(3, 21, 3))
    assert all(e.total_steps == batches // 2 for e in events)
    assert train_events[0].loss == pytest.approx(np.mean(learner.step_losses[:3]), rel=1e-6)
    for e in train_events:  # the ETA extrapolates seconds per optimizer step over the optimizer steps left …
        if e.epoch == 0:  # … and adds the validation passes and the save still to come (issue 29, item 11)
            assert e.eta_s > e.elapsed_s / e.step * (e.total_steps - e.step)


def test_history_logs_the_learning_rate_under_keras_key(data):
    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)
    seen: list[float] = []

    class LastLR(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    history = learner.fit_onecycle(3e-3, 2, verbose=0, callbacks=[LastLR()])
    assert len(history.history["learning_rate"]) == 2
    np.testing.assert_allclose(history.history["learning_rate"], seen, rtol=1e-7)
    assert history.history["learning_rate"][0] > history.history["learning_rate"][1] > 0  # one-cycle decays

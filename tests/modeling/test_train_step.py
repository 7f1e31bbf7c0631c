"""The fast training step (kdemo.modeling.step): no per-step mode switch, step losses read in chunks, the same
values as a per-step read, Keras' logs contract, and the optional compiled forward pass."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from conftest import sentiment_frame

from kdemo import get_learner, texts_from_df
from kdemo.modeling.step import StepLog
from kdemo.training.callbacks import ProgressEvent

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tiny_bert_dir):
    return texts_from_df(sentiment_frame(), "text", "label", model_name=str(tiny_bert_dir), val_pct=0.2, verbose=0)


def _learner(data, **kwargs):
    trn, val, preproc = data
    return get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8, **kwargs)


@pytest.fixture
def per_step_reads(monkeypatch):
    """Read every pushed loss on the host at once (what the old per-batch ``float(loss)`` did), and count the
    chunked reads."""
    seen: list[float] = []
    reads: list[int] = []
    push, read = StepLog.push, StepLog.read

    def recording_push(self, loss):
        seen.append(float(loss.detach()))
        push(self, loss)

    def counting_read(self, extra=()):
        reads.append(len(self._pending))
        return read(self, extra)

    monkeypatch.setattr(StepLog, "push", recording_push)
    monkeypatch.setattr(StepLog, "read", counting_read)
    return seen, reads


def test_step_losses_are_read_in_chunks_and_equal_a_per_step_read(data, per_step_reads):
    seen, reads = per_step_reads
    learner = _learner(data)
    learner.model.step_log.read_interval_s = 3600.0  # only the first step and the epochs' ends read
    events: list[ProgressEvent] = []
    history = learner.fit_onecycle(3e-3, 2, verbose=0, progress=events.append)
    assert len(learner.step_losses) == 40  # 160 rows / 8, two epochs
    assert learner.step_losses == pytest.approx(seen, rel=1e-6)  # chunked reads lose nothing
    assert len([n for n in reads if n]) <= 5  # (first step + epoch end) x 2 epochs, + the fit's end
    assert sum(reads) == 40
    # Every step still gets its progress event, in order, with its own loss.
    train_events = [e for e in events if e.phase == "train"]
    assert [e.step for e in train_events] == list(range(1, 41))
    assert [e.loss for e in train_events] == pytest.approx(learner.step_losses, rel=1e-6)
    # Keras' epoch logs are still the row-weighted epoch means.
    assert history.history["loss"][0] == pytest.approx(np.mean(learner.step_losses[:20]), rel=1e-5)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    state = learner.model._step_state  # the torch shortcuts of Keras' loss and accuracy were used
    assert state.fast_loss is not None and state.fast_metrics is not None


def test_a_read_happens_at_least_every_read_interval(data, per_step_reads, monkeypatch):
    _, reads = per_step_reads
    learner = _learner(data)
    learner.model.step_log.read_interval_s = 0.0  # as if each step took longer than the interval
    learner.fit_onecycle(3e-3, 1, verbose=0)
    assert [n for n in reads if n] == [1] * 20


def test_train_step_returns_the_logs_dict_of_floats(data):
    learner = _learner(data)
    learner.fit_onecycle(3e-3, 1, verbose=0, steps_per_epoch=2)
    batch = learner._train_batches()[0]
    logs = learner.model.make_train_function(force=True)([batch])
    assert set(logs) == {"loss", "accuracy"}
    assert all(isinstance(v, float) for v in logs.values())


def test_module_mode_is_set_once_per_fit_not_per_step(data, monkeypatch):
    learner = _learner(data)
    hf = learner.model.hf_model
    modes: list[bool] = []
    original = type(hf).train

    def counting_train(self, mode=True):
        if self is hf:
            modes.append(bool(mode))
        return original(self, mode)

    monkeypatch.setattr(type(hf), "train", counting_train)
    learner.fit_onecycle(3e-3, 1, verbose=0)  # 20 steps, then validation
    assert modes.count(True) == 1  # Keras' fit sets train mode at the epoch's start; the steps never do
    assert len(modes) <= 4  # + eval for validation and after the fit
    assert hf.training is False


def test_lr_finder_reads_every_step(data, per_step_reads):
    seen, reads = per_step_reads
    learner = _learner(data)
    learner.lr_find(num_steps=12, verbose=0)
    losses = learner.lr_finder.losses
    assert losses == pytest.approx(seen[:len(losses)], rel=1e-6)
    assert all(n <= 1 for n in reads)  # one step per read: the stopping rule sees each loss at once
    assert learner.model.step_log.every_step is False  # the next fit reads in chunks again


def test_compile_falls_back_to_eager_when_torch_compile_fails(data, monkeypatch, caplog):
    def broken_compile(fn, *args, **kwargs):
        def call(*a, **k):
            raise RuntimeError("no C++ compiler here")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    learner = _learner(data)
    learner.model.set_compile(True)
    with caplog.at_level(logging.WARNING, logger="kdemo.modeling.step"):
        learner.fit_onecycle(3e-3, 1, verbose=0)
    assert len(learner.step_losses) == 20 and np.isfinite(learner.step_losses).all()
    assert any("torch.compile failed" in r.getMessage() for r in caplog.records)


def test_compile_pads_lengths_to_buckets_with_the_same_logits(data):
    learner = _learner(data)
    model = learner.model
    batch = learner._train_batches()[0][0]
    x = {k: torch.from_numpy(v) for k, v in batch.items()}
    padded = model._bucketed(x)
    assert padded["input_ids"].shape[1] % 16 == 0 and padded["input_ids"].shape[1] >= x["input_ids"].shape[1]
    torch.testing.assert_close(model.call(padded, training=False), model.call(x, training=False), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compiled_step_trains_like_the_eager_step(data):
    """torch.compile (inductor, a C++ compiler; ~20-100 s on 2 cores) on the tiny model: it really compiles, and
    trains like eager (dropout draws other random numbers when compiled, so losses agree only roughly)."""
    results, models = [], []
    for compiled in (False, True):
        torch.manual_seed(0)
        learner = _learner(data, seed=0)
        learner.model.set_precision("fp32")
        learner.model.set_compile(compiled)
        learner.fit_onecycle(3e-3, 1, verbose=0)
        results.append(learner.step_losses)
        models.append(learner.model)
    state = models[1]._step_state
    assert state.compiled is not None and not state.compile_failed
    assert np.isfinite(results[1]).all() and len(results[1]) == len(results[0]) == 20
    assert results[1][0] == pytest.approx(results[0][0], rel=0.05)
    assert np.mean(results[1][-5:]) < np.mean(results[1][:5])


@pytest.mark.parametrize("task", ["single_label", "multi_label", "regression"])
def test_torch_losses_and_metrics_equal_keras(task):
    """The step's torch shortcuts compute exactly Keras' loss (with sample weights) and metric states."""
    from kdemo.modeling.classifier import loss_and_metrics
    from kdemo.modeling.fast_losses import torch_loss_for, torch_metrics_update

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 3, generator=gen)
    y = {"single_label": torch.tensor([0, 2, 1, 1, 0, 2, 2]),
         "multi_label": (torch.rand(7, 3, generator=gen) > 0.5).float(),
         "regression": torch.randn(7, 1, generator=gen)}[task]
    if task == "regression":
        logits = logits[:, :1]
    weights = torch.rand(7, generator=gen) + 0.5
    loss, metrics = loss_and_metrics(task)
    fast = torch_loss_for(loss)
    if task == "multi_label":
        assert fast is None  # kdemo's weighted BCE keeps Keras' path
    else:
        for sw in (None, weights):
            expected = float(keras_value(loss(y, logits, sample_weight=sw)))
            assert float(fast(y, logits, sw)) == pytest.approx(expected, rel=1e-6)
    import keras

    model = keras.Sequential([keras.layers.Identity()])
    model.compile(loss=loss, metrics=metrics)
    model._compile_metrics.update_state(y, logits)  # builds them, as the first step does
    update = torch_metrics_update(model._compile_metrics)
    assert update is not None
    before = [float(keras_value(v.value)) for v in model._compile_metrics.variables]
    model._compile_metrics.update_state(y, logits)
    keras_states = [float(keras_value(v.value)) for v in model._compile_metrics.variables]
    for v, b in zip(model._compile_metrics.variables, before):
        v.assign(b)
    assert update(y, logits) is True
    torch_states = [float(keras_value(v.value)) for v in model._compile_metrics.variables]
    assert torch_states == pytest.approx(keras_states, rel=1e-6)


def keras_value(tensor):
    import keras

    return keras.ops.convert_to_numpy(tensor)


def test_batches_reach_the_step_as_tensors_moved_once(data, monkeypatch):
    from kdemo.modeling import step

    learner = _learner(data)
    moved, seen = [], []
    original_get, original_step = step.OnDevice.__getitem__, type(learner.model).train_step

    def counting_get(self, index):
        moved.append(index)
        return original_get(self, index)

    def spying_step(self, batch):
        seen.append(type(batch[0]["input_ids"]))
        return original_step(self, batch)

    monkeypatch.setattr(step.OnDevice, "__getitem__", counting_get)
    monkeypatch.setattr(type(learner.model), "train_step", spying_step)
    learner.fit_onecycle(3e-3, 1, verbose=0)
    assert seen == [torch.Tensor] * 20
    # 20 training batches, Keras' peek at the first one (its symbolic build), 1 validation batch (40 rows, batch 64)
    assert len(moved) == 20 + 1 + 1


def test_progress_reporter_catches_up_mid_epoch(data):
    """A callback after the reporter (a checkpoint) can have every finished step's loss at once."""
    import keras

    from kdemo.training.callbacks import ProgressReporter

    learner = _learner(data)
    learner.model.step_log.read_interval_s = 3600.0
    reporter = ProgressReporter(None, 20, 1)
    counts: list[tuple[int, int]] = []

    class Checkpoint(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 6:
                counts.append((len(reporter.step_losses), len(reporter.catch_up(logs))))

    learner.fit_onecycle(3e-3, 1, verbose=0, callbacks=[reporter, Checkpoint()])
    assert counts == [(1, 7)]  # only the first step read before; all 7 finished steps after catching up
    assert reporter.step_losses == pytest.approx(learner.step_losses, rel=1e-6)

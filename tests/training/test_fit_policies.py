"""Training policies and learner utilities: autofit, triangular LR, constant/SGDR fit, freezing, weight decay,
plots and top losses (tiny BERT / DistilBERT)."""

from __future__ import annotations

import math
import types

import keras
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import sentiment_frame
from matplotlib.figure import Figure

from kdemo import TrainingError, Transformer, get_learner
from kdemo.data.dataset import BatchSequence
from kdemo.training.callbacks.triangular import TriangularPolicy

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LR = 3e-3
BATCH = 8
STEPS = 6  # 48 training rows / batch size 8


class Recorder(keras.callbacks.Callback):
    """Records the learning rate the optimizer holds when each training batch starts."""

    def __init__(self):
        super().__init__()
        self.lrs: list[float] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.lrs.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def _split(model_dir, labels=None, seed=0):
    df = sentiment_frame(64, seed=seed)
    y = df.label.tolist() if labels is None else labels
    preproc = Transformer(str(model_dir), maxlen=32)
    trn = preproc.preprocess_train(df.text[:48].tolist(), y[:48], verbose=0)
    val = preproc.preprocess_test(df.text[48:].tolist(), y[48:], verbose=0)
    return trn, val, preproc


@pytest.fixture(scope="module")
def data(tiny_bert_dir):
    return _split(tiny_bert_dir)


def _learner(data, **kwargs):
    trn, val, preproc = data
    return get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=BATCH, **kwargs)


def _params(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.hf_model.named_parameters()}


# ---------------------------------------------------------------------------------------------------- autofit
def _plateau_peaks(val_losses, lr, patience=2, factor=2.0):
    """ktrain's reduce-on-plateau rule, spelled out: the peak used in each epoch."""
    best, wait, peak, peaks = math.inf, 0, lr, []
    for v in val_losses:
        peaks.append(peak)
        if v < best:
            best, wait = v, 0
        else:
            wait += 1
            if wait >= patience:
                peak, wait = peak / factor, 0
    return peaks


def test_autofit_stops_by_itself_and_restores_the_best_weights(tiny_bert_dir):
    """Random labels: validation loss soon stops improving, so autofit(epochs=None) has to stop on its own."""
    labels = np.random.default_rng(0).choice(["x", "y"], size=64).tolist()
    trn, val, preproc = _split(tiny_bert_dir, labels)
    torch.manual_seed(0)
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=BATCH)
    history = learner.autofit(LR, verbose=0, max_epochs=30)
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert len(val_loss) < 30
    assert len(val_loss) == best + 5 + 1  # default patience 5: stops 5 epochs after the best one
    assert len(learner.step_losses) == len(val_loss) * STEPS
    assert val_loss[-1] - min(val_loss) > 0.01  # otherwise restoring would not be observable
    # The model now holds the best epoch's weights: Keras' own evaluation gives that epoch's val_loss again...
    evaluated = learner.model.evaluate(BatchSequence(val, 64, shuffle=False), verbose=0, return_dict=True)["loss"]
    assert evaluated == pytest.approx(min(val_loss), abs=1e-6)
    # ...and so does an independent fp32 cross-entropy of the predictions (bf16 autocast may run in fit).
    probs = learner.predict()
    ce = -np.mean(np.log(probs[np.arange(len(val)), val.labels]))
    assert ce == pytest.approx(min(val_loss), rel=2e-3)
    assert abs(ce - val_loss[-1]) > 0.005
    # The per-step trace (ktrain's history["lr"]) peaks once per epoch; the peak follows the plateau rule (halved
    # after 2 epochs without improvement).
    lrs = history.history["lr"]
    assert len(lrs) == len(val_loss) * STEPS
    peaks = [max(lrs[e * STEPS:(e + 1) * STEPS]) for e in range(len(val_loss))]
    np.testing.assert_allclose(peaks, _plateau_peaks(val_loss, LR), rtol=1e-9)
    assert min(peaks) < LR


def test_autofit_fixed_epochs_and_argument_checks(data):
    trn, _, preproc = data
    learner = _learner(data)
    history = learner.autofit(LR, 2, verbose=0)
    assert len(history.history["loss"]) == 2
    lrs, moms = np.array(history.history["lr"]), np.array(history.history["momentum"])
    assert len(lrs) == len(moms) == 2 * STEPS
    assert lrs[:STEPS].max() == pytest.approx(LR) and lrs[STEPS:].max() == pytest.approx(LR)  # no plateau cut
    # momentum cycles inversely to the LR, as ktrain's CyclicLR: 0.95 at the base rate, 0.85 at the peak
    assert moms[0] == pytest.approx(0.95) and moms[int(np.argmax(lrs[:STEPS]))] == pytest.approx(0.85)
    np.testing.assert_allclose(moms, 0.95 - 0.1 * (lrs - LR / 10) / (LR - LR / 10), rtol=1e-6)
    flat = learner.autofit(LR, 1, cycle_momentum=False, verbose=0)
    assert set(flat.history["momentum"]) == {0.9}  # Adam's default beta_1, untouched
    no_val = get_learner(preproc.get_classifier(), train_data=trn, batch_size=BATCH)
    no_val.autofit(LR, 1, verbose=0)  # fixed epochs need no validation data
    with pytest.raises(TrainingError, match="validation data"):
        no_val.autofit(LR, verbose=0)
    with pytest.raises(TrainingError, match="validation data"):
        no_val.autofit(LR, 2, early_stopping=1, verbose=0)
    with pytest.raises(TrainingError, match="learning rate"):
        learner.autofit(0.0, 1, verbose=0)


# ---------------------------------------------------------------------------------------------------- triangular
def _triangle(k: int, n: int, peak: float) -> float:
    base = peak / 10
    return base + (peak - base) * (1 - abs(2 * k / n - 1))


def test_triangular_policy_unit():
    model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=0.0))
    policy = TriangularPolicy(1e-2, 10, reduce_on_plateau=2)
    policy.set_model(model)
    val_losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85]
    seen, logged = [], []
    for epoch, v in enumerate(val_losses):
        policy.on_epoch_begin(epoch)
        epoch_lrs = []
        for batch in range(10):
            policy.on_train_batch_begin(batch)
            epoch_lrs.append(model.optimizer.learning_rate)
        logs = {"val_loss": v}
        policy.on_epoch_end(epoch, logs)
        seen.append(epoch_lrs)
        logged.append(logs["lr"])
    # Epochs 2 and 3 do not improve on 0.9 -> the peak halves from epoch 4 on; epoch 4 stalls once, 5 improves.
    expected_peaks = [1e-2, 1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 5e-3]
    assert policy.peaks == pytest.approx(expected_peaks)
    assert logged == pytest.approx(expected_peaks)
    for epoch_lrs, peak in zip(seen, expected_peaks):
        np.testing.assert_allclose(epoch_lrs, [_triangle(k, 10, peak) for k in range(10)], rtol=1e-12)
        assert epoch_lrs[0] == pytest.approx(peak / 10) and max(epoch_lrs) == pytest.approx(peak)
        assert int(np.argmax(epoch_lrs)) == 5
        assert np.all(np.diff(epoch_lrs[:6]) > 0) and np.all(np.diff(epoch_lrs[5:]) < 0)
    assert policy.lrs == pytest.approx([lr for e in seen for lr in e])


def test_triangular_policy_maximises_accuracy_and_can_be_disabled():
    model = types.SimpleNamespace(optimizer=types.SimpleNamespace(learning_rate=0.0))

    def run(policy, values, key):
        policy.set_model(model)
        for epoch, v in enumerate(values):
            policy.on_epoch_begin(epoch)
            policy.on_train_batch_begin(0)
            policy.on_epoch_end(epoch, {key: v})
        return policy.peaks

    acc = TriangularPolicy(1.0, 4, reduce_on_plateau=1, reduce_factor=4.0, monitor="val_accuracy")
    # accuracy rises (improves), falls (stall -> /4), rises above the best (improves), equals it (stall -> /4)
    peaks = run(acc, [0.5, 0.6, 0.55, 0.7, 0.7, 0.8], "val_accuracy")
    assert peaks == pytest.approx([1.0, 1.0, 1.0, 0.25, 0.25, 0.0625])
    off = TriangularPolicy(1.0, 4, reduce_on_plateau=None)
    assert run(off, [1.0, 2.0, 3.0, 4.0], "val_loss") == [1.0] * 4
    missing = TriangularPolicy(1.0, 4, reduce_on_plateau=1)
    assert run(missing, [1.0, 2.0, 3.0], "loss") == [1.0] * 3  # no val_loss in the logs: nothing to watch


def test_autofit_lr_trace_is_triangular_per_epoch(data):
    learner = _learner(data)
    recorder = Recorder()
    learner.autofit(LR, 2, verbose=0, callbacks=[recorder])
    assert len(recorder.lrs) == 2 * STEPS
    expected = [_triangle(k, STEPS, LR) for k in range(STEPS)] * 2
    np.testing.assert_allclose(recorder.lrs, expected, rtol=1e-6)
    assert recorder.lrs[STEPS] == pytest.approx(LR / 10)  # each epoch starts a new cycle at the base


# ---------------------------------------------------------------------------------------------------- fit / SGDR
def test_fit_without_cycle_len_keeps_a_constant_lr(data):
    learner = _learner(data)
    recorder = Recorder()
    history = learner.fit(1e-3, 3, verbose=0, callbacks=[recorder])
    assert len(history.history["loss"]) == 3
    assert len(recorder.lrs) == 3 * STEPS
    np.testing.assert_allclose(recorder.lrs, 1e-3, rtol=1e-6)
    np.testing.assert_allclose(history.history["lr"], [1e-3] * 3 * STEPS, rtol=1e-6)  # per step, as in ktrain


@pytest.mark.parametrize("n_cycles, cycle_len, cycle_mult", [(2, 1, 2), (3, 1, 1)])
def test_fit_sgdr_restarts_at_each_cycle(data, n_cycles, cycle_len, cycle_mult):
    learner = _learner(data)
    recorder = Recorder()
    history = learner.fit(2e-3, n_cycles, cycle_len=cycle_len, cycle_mult=cycle_mult, verbose=0, callbacks=[recorder])
    cycle_epochs = [cycle_len * cycle_mult**i for i in range(n_cycles)]  # [1, 2] and [1, 1, 1]
    assert len(history.history["loss"]) == sum(cycle_epochs)
    lrs = np.array(recorder.lrs)
    assert len(lrs) == sum(cycle_epochs) * STEPS
    # Cosine annealing from the peak towards 0 within each cycle, back to the peak at each boundary.
    expected, starts = [], []
    for epochs in cycle_epochs:
        n = epochs * STEPS
        starts.append(len(expected))
        expected += [2e-3 * 0.5 * (1 + math.cos(math.pi * t / n)) for t in range(n)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-5, atol=1e-10)
    for start in starts:
        assert lrs[start] == pytest.approx(2e-3, rel=1e-6)
        if start:
            assert lrs[start] > 5 * lrs[start - 1]  # a warm restart, not a continuation
    for a, b in zip(starts, starts[1:] + [len(lrs)]):
        assert np.all(np.diff(lrs[a:b]) < 0)


def test_fit_argument_checks(data):
    learner = _learner(data)
    with pytest.raises(TrainingError, match="epochs"):
        learner.fit(1e-3, 0, verbose=0)
    with pytest.raises(TrainingError, match="cycle_len"):
        learner.fit(1e-3, 2, cycle_len=0, verbose=0)
    with pytest.raises(TrainingError, match="learning rate"):
        learner.fit(2.0, 1, verbose=0)


def test_same_seed_same_training_and_longest_batch_first(data, monkeypatch):
    """Batches come in BatchSequence's seeded order (longest first); Keras must not reshuffle them."""
    trn, _, _ = data
    requested: list[int] = []
    original = BatchSequence.__getitem__

    def recording(self, index):
        if self.shuffle:
            requested.append(index)
        return original(self, index)

    monkeypatch.setattr(BatchSequence, "__getitem__", recording)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)  # dropout masks
        learner = _learner(data, seed=7)
        learner.fit_onecycle(LR, 1, verbose=0)
        runs.append(list(learner.step_losses))
    assert runs[0] == runs[1]
    # In order, batch 0 first (Keras may fetch batch 0 twice: once to peek at its structure).
    assert list(dict.fromkeys(requested)) == list(range(STEPS))
    batches = BatchSequence(trn, BATCH, shuffle=True, seed=7).batch_indices  # the learner's first-fit order
    assert trn.lengths[batches[0]].max() == trn.lengths.max()


# ---------------------------------------------------------------------------------------------------- freezing
def test_freeze_keeps_frozen_weights_bit_identical(data):
    learner = _learner(data)
    n = learner.freeze(1)
    names = [name for name, _ in learner.model.hf_model.named_parameters()]
    frozen = [name for name in names if "embeddings" in name or ".layer.0." in name]
    assert n == len(frozen) == 21  # 5 embedding tensors + 16 in the first block
    table = learner.print_layers()
    assert set(table.loc[~table["trainable"], "name"]) == set(frozen)
    before = _params(learner.model)
    learner.fit_onecycle(LR, 1, verbose=0)
    after = _params(learner.model)
    for name in frozen:
        assert torch.equal(before[name], after[name]), name  # no gradient step and no weight decay
    for name in ("classifier.weight", "bert.pooler.dense.weight", "bert.encoder.layer.1.output.dense.weight"):
        assert not torch.equal(before[name], after[name]), name

    learner.unfreeze()
    assert learner.print_layers()["trainable"].all()
    before = _params(learner.model)
    learner.fit_onecycle(LR, 1, verbose=0, steps_per_epoch=2)
    after = _params(learner.model)
    for name in ("bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight"):
        assert not torch.equal(before[name], after[name]), name


def test_freeze_all_of_distilbert(tiny_distilbert_dir):
    learner = _learner(_split(tiny_distilbert_dir))
    names = [name for name, _ in learner.model.hf_model.named_parameters()]
    head = [name for name in names if name.startswith(("pre_classifier.", "classifier."))]
    assert len(head) == 4
    assert learner.freeze(None) == len(names) - 4
    table = learner.print_layers()
    assert set(table.loc[table["trainable"], "name"]) == set(head)
    before = _params(learner.model)
    learner.fit_onecycle(LR, 1, verbose=0, steps_per_epoch=3)
    after = _params(learner.model)
    changed = {name for name in names if not torch.equal(before[name], after[name])}
    assert changed == set(head)


# ---------------------------------------------------------------------------------------------------- settings, plots
def test_set_weight_decay(data, capsys):
    learner = _learner(data)
    assert learner.get_weight_decay() is None  # plain Adam until set, as ktrain's get_weight_decay
    for bad in (-0.1, 1.0, 2.5):
        with pytest.raises(TrainingError, match="weight decay"):
            learner.set_weight_decay(bad)
    assert learner.get_weight_decay() is None
    learner.set_weight_decay(0.2)
    assert learner.get_weight_decay() == 0.2
    learner.fit_onecycle(LR, 1, verbose=0, steps_per_epoch=1)
    groups = learner.model.optimizer._torch_opt.param_groups
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.2]  # vectors (biases, LayerNorm) are not decayed
    assert all(p.ndim >= 2 for g in groups if g["weight_decay"] for p in g["params"])
    table = learner.print_layers(show_wd=True)
    assert "weight_decay" in capsys.readouterr().out
    matrices = table["shape"].map(len) >= 2
    assert (table.loc[matrices, "weight_decay"] == 0.2).all() and (table.loc[~matrices, "weight_decay"] == 0.0).all()
    learner.set_weight_decay(0.0)
    assert learner.get_weight_decay() == 0.0


def test_print_layers_table(data, capsys):
    learner = _learner(data)
    table = learner.print_layers()
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["name", "shape", "parameters", "trainable"]
    assert table["trainable"].dtype == bool and table["trainable"].all()
    hf = learner.model.hf_model
    assert table["name"].tolist() == [name for name, _ in hf.named_parameters()]
    assert table["parameters"].sum() == sum(p.numel() for p in hf.parameters())
    assert table["shape"].iloc[0] == tuple(next(hf.parameters()).shape)
    out = capsys.readouterr().out
    assert "classifier.weight" in out and "trainable" in out


@pytest.fixture(scope="module")
def trained(data):
    torch.manual_seed(0)
    learner = _learner(data)
    learner.fit_onecycle(LR, 2, verbose=0)
    return learner


def test_plot_returns_figures(trained, data):
    for kind in ("loss", "lr", "accuracy"):
        fig = trained.plot(kind, return_fig=True)
        assert isinstance(fig, Figure), kind
        assert fig.axes and fig.axes[0].lines
    loss_fig = trained.plot("loss", return_fig=True)
    # the per-step training loss curve has one point per optimizer step
    assert max(len(line.get_xdata()) for line in loss_fig.axes[0].lines) == 2 * STEPS
    assert trained.plot("accuracy") is None
    with pytest.raises(TrainingError, match="'nope'"):
        trained.plot("nope", return_fig=True)
    with pytest.raises(TrainingError, match="Train first"):
        _learner(data).plot("loss", return_fig=True)


def test_top_losses_are_the_highest_cross_entropies(trained, data, capsys):
    _, val, _ = data
    table = trained.top_losses_table(n=5)
    assert list(table.columns) == ["row", "text", "true", "predicted", "loss"]
    assert len(table) == 5
    assert table["loss"].is_monotonic_decreasing
    # Independent per-row cross-entropy from the model's logits.
    batch = val.collate(list(range(len(val))))
    with torch.inference_mode():
        logits = trained.model.hf_model.eval()(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits
    ce = torch.nn.functional.cross_entropy(logits.double(), torch.from_numpy(val.labels), reduction="none").numpy()
    order = np.argsort(-ce)[:5]
    assert table["row"].tolist() == (order + 1).tolist()
    np.testing.assert_allclose(table["loss"], ce[order], atol=2e-4)
    for _, r in table.iterrows():
        i = r["row"] - 1
        assert r["text"] == val.texts[i]
        assert r["true"] == val.class_names[val.labels[i]]
        assert r["predicted"].split(" (")[0] == val.class_names[int(logits[i].argmax())]
    assert len(trained.top_losses_table(n=100)) == len(val)
    # ktrain's top_losses: (index, loss, true, predicted) of misclassified rows, highest loss first
    wrong = np.flatnonzero(logits.argmax(-1).numpy() != val.labels)
    tups = trained.top_losses(n=len(val))
    assert [t[0] for t in tups] == sorted(wrong.tolist(), key=lambda i: -ce[i])
    np.testing.assert_allclose([t[1] for t in tups], ce[[t[0] for t in tups]], atol=2e-4)


def test_fast_option_freezes_the_embeddings_and_the_lowest_third(tiny_bert_dir):
    from tiny_models import build_tiny_model

    from kdemo import get_learner, texts_from_df
    from kdemo.errors import TrainingError
    from kdemo.training.learner import DEFAULT_FREEZE_LOWER, FAST_FREEZE_LOWER

    assert DEFAULT_FREEZE_LOWER == 0.0 and FAST_FREEZE_LOWER == pytest.approx(1 / 3)
    six = build_tiny_model(tiny_bert_dir.parent / "six-blocks", "bert", layers=6)
    trn, _, preproc = texts_from_df(sentiment_frame(), "text", "label", model_name=str(six), val_pct=0.2, verbose=0)
    assert get_learner(preproc.get_classifier(), train_data=trn).frozen_blocks == 0  # default: every layer trains
    learner = get_learner(preproc.get_classifier(), train_data=trn, freeze_lower=FAST_FREEZE_LOWER)
    assert learner.frozen_blocks == 2
    table = learner.print_layers()
    frozen = set(table.loc[~table.trainable, "name"])
    assert any("embeddings.word_embeddings" in n for n in frozen) and any("embeddings.position" in n for n in frozen)
    assert any(".layer.1." in n for n in frozen) and not any(".layer.2." in n for n in frozen)
    assert table.loc[table.name.str.startswith("classifier"), "trainable"].all()
    before = {n: p.detach().clone() for n, p in learner.model.hf_model.named_parameters()}
    learner.fit_onecycle(1e-3, 1, verbose=0)
    after = dict(learner.model.hf_model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in frozen)  # frozen weights never move
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert get_learner(preproc.get_classifier(), train_data=trn, freeze_lower=0).frozen_blocks == 0
    everything = get_learner(preproc.get_classifier(), train_data=trn, freeze_lower=0).print_layers()
    assert everything.trainable.all()
    with pytest.raises(TrainingError, match="fraction between 0 and 1"):
        get_learner(preproc.get_classifier(), train_data=trn, freeze_lower=1.5)

"""Out-of-memory back-off (injected OOM on CPU), gradient accumulation, and keeping the best weights on Stop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import sentiment_frame

from kdemo import TrainingError, get_learner, texts_from_df
from kdemo.memory import is_out_of_memory
from kdemo.modeling.classifier import HFClassifier, compile_classifier
from kdemo.training.optimizer import FusedAdamW

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tiny_bert_dir):
    return texts_from_df(sentiment_frame(), "text", "label", model_name=str(tiny_bert_dir), val_pct=0.2, verbose=0)


@pytest.fixture
def oom_above(monkeypatch):
    """Make the classifier raise torch's OutOfMemoryError for training batches larger than a limit (as CUDA would);
    returns the training batch sizes it was called with."""
    calls: list[int] = []

    def install(limit: int | None):
        original = HFClassifier.call

        def call(self, inputs, training=False):
            rows = int(inputs["input_ids"].shape[0])
            if training:
                calls.append(rows)
            if training and (limit is None or rows > limit):
                raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate 2.00 GiB (injected, batch {rows})")
            return original(self, inputs, training=training)

        monkeypatch.setattr(HFClassifier, "call", call)
        return calls

    return install


def test_is_out_of_memory_recognises_torch_and_allocator_errors():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory."))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only torch's runtime errors


def test_oom_halves_the_batch_keeps_the_effective_batch_and_finishes(data, oom_above):
    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=32)
    seen = oom_above(8)
    learner.fit_onecycle(5e-3, 6, verbose=0)  # 30 updates of 32 rows
    assert (learner.batch_size, learner.accumulation_steps, learner.effective_batch_size) == (8, 4, 32)
    assert learner.notices == [
        "Out of memory at batch size 32: retrying with batch size 16 × 2 gradient-accumulation steps (effective batch 32).",
        "Out of memory at batch size 16: retrying with batch size 8 × 4 gradient-accumulation steps (effective batch 32).",
    ]
    assert seen[0] == 32 and 16 in seen and max(r for r in seen[seen.index(8):]) <= 8
    micro_batches = -(-len(trn) // 8) * 6
    # "step" is an optimizer step: one update per 4 batches, in step_losses as in the optimizer's count.
    assert len(learner.step_losses) == micro_batches // 4
    assert int(learner.model.optimizer.iterations.numpy()) == micro_batches // 4
    assert learner.validation_report(print_report=False).accuracy >= 0.9  # it really trained


def test_oom_at_batch_one_gives_up_with_a_clear_message(data, oom_above):
    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, batch_size=4)
    oom_above(None)
    with pytest.raises(TrainingError, match=r"Out of memory even at batch size 1 .*shorter maxlen, a smaller model"):
        learner.fit_onecycle(1e-3, 1, verbose=0)
    assert len(learner.notices) == 2  # 4 -> 2 -> 1, then it gave up


def test_lr_find_oom_is_a_clear_message(data, oom_above):
    trn, _, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, batch_size=16)
    oom_above(8)
    with pytest.raises(TrainingError, match="Out of memory in the LR finder at batch size 16"):
        learner.lr_find(verbose=0, num_steps=20)


def _no_dropout(model: HFClassifier) -> HFClassifier:
    for module in model.hf_model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.set_precision("fp32")  # bf16 rounding would differ between one batch of 8 and two of 4
    return model


def test_gradient_accumulation_equals_one_big_batch(data):
    """Two batches of 4 with gradient_accumulation_steps=2 make the same update as one batch of 8."""
    trn, _, preproc = data
    x8 = trn.collate(list(range(8)))
    y8 = np.asarray(trn.labels[:8])
    torch.manual_seed(0)
    big = _no_dropout(preproc.get_classifier())
    small = _no_dropout(preproc.get_classifier())
    small.set_weights(big.get_weights())
    compile_classifier(big, FusedAdamW(learning_rate=1e-2))
    compile_classifier(small, FusedAdamW(learning_rate=1e-2, gradient_accumulation_steps=2))
    big.train_on_batch(x8, y8)
    half = {k: v[:4] for k, v in x8.items()}, {k: v[4:] for k, v in x8.items()}
    small.train_on_batch(half[0], y8[:4])
    assert int(small.optimizer.iterations.numpy()) == 0  # no update after the first half
    small.train_on_batch(half[1], y8[4:])
    assert int(small.optimizer.iterations.numpy()) == 1
    moved = [np.abs(a - b).max() for a, b in zip(big.get_weights(), preproc.get_classifier().get_weights())]
    assert max(moved) > 1e-3  # the step changed the weights
    for a, b in zip(big.get_weights(), small.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_stop_part_way_keeps_the_best_epoch(data):
    """Stopped mid-run after a good epoch, with the weights then made worse: the best epoch's weights come back."""
    import keras

    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=8)

    class Sabotage(keras.callbacks.Callback):
        """After epoch 2 ends, scramble the weights and ask to stop during the next epoch."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                rng = np.random.default_rng(0)
                self.model.set_weights([w + rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in self.model.get_weights()])
                learner.request_stop()

    learner.fit_onecycle(3e-3, 4, verbose=0, callbacks=[Sabotage()])
    assert learner.stopped_early and learner.restored_best_epoch in (0, 1)
    assert "kept the weights of epoch" in learner.notices[-1]
    assert learner.validation_report(print_report=False).accuracy >= 0.9


def test_under_torchrun_out_of_memory_ends_the_run_with_advice_instead_of_backing_off(data, oom_above, monkeypatch):
    from kdemo.distributed.context import DistributedContext
    from kdemo.training import fit_loop

    trn, val, preproc = data
    learner = get_learner(preproc.get_classifier(), train_data=trn, val_data=val, batch_size=32)
    monkeypatch.setattr(fit_loop, "current", lambda: DistributedContext(rank=1, world_size=4, backend="nccl"))
    oom_above(8)
    with pytest.raises(TrainingError, match=r"Out of memory on rank 1 of 4 .*\(32 rows / 4 ranks\).*smaller batch size"):
        learner.fit_onecycle(1e-3, 1, verbose=0)
    assert (learner.batch_size, learner.accumulation_steps) == (32, 1)  # no back-off: the ranks could not agree

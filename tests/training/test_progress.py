"""The training ETA counts the validation passes and the save still to come (issue 29, item 11)."""

from __future__ import annotations

import pytest

from kdemo.training.callbacks.progress import EVAL_SHARE_OF_STEP, eta_seconds


def test_eta_adds_the_validation_passes_and_saving_to_the_remaining_steps():
    # 10 steps took 20 s (2 s a step); 40 steps, 3 measured 5-second validation passes and 4 s of saving are left.
    assert eta_seconds(train_s=20, done_steps=10, remaining_steps=40, val_pass_s=5.0, val_rows=100, rows_per_step=32,
                       evals_left=3, save_s=4.0) == pytest.approx(80 + 15 + 4)


def test_before_a_validation_pass_is_measured_it_is_estimated_from_the_training_speed():
    # 320 validation rows at batch 32 are 10 steps' rows; a forward pass costs EVAL_SHARE_OF_STEP of a training step.
    eta = eta_seconds(train_s=20, done_steps=10, remaining_steps=0, val_pass_s=None, val_rows=320, rows_per_step=32,
                      evals_left=2)
    assert eta == pytest.approx(2 * 10 * 2.0 * EVAL_SHARE_OF_STEP)
    # The old ETA said 0 s here although two validation passes were still to run.
    assert eta > 0


def test_no_estimate_before_the_first_step_and_none_without_validation():
    assert eta_seconds(train_s=0, done_steps=0, remaining_steps=50, val_pass_s=None, val_rows=10, rows_per_step=8,
                       evals_left=2) == 0.0
    assert eta_seconds(train_s=8, done_steps=4, remaining_steps=6, val_pass_s=None, val_rows=0, rows_per_step=8,
                       evals_left=0) == pytest.approx(12.0)

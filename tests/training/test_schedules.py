"""One-cycle learning-rate and momentum schedules, loss smoothing and learning-rate suggestions (pure maths)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kdemo.training.schedules import (
    SUGGESTION_RANGE,
    cosine_anneal,
    exponential_lr,
    one_cycle_lr,
    one_cycle_momentum,
    smooth_losses,
    suggest_lr,
)

TOTAL = 200
MAX_LR = 1e-3
PCT = 0.1
WARMUP = int(round(TOTAL * PCT))


def _lr_trace(**kwargs) -> np.ndarray:
    return np.array([one_cycle_lr(s, TOTAL, MAX_LR, pct_start=PCT, **kwargs) for s in range(TOTAL)])


def _momentum_trace(**kwargs) -> np.ndarray:
    return np.array([one_cycle_momentum(s, TOTAL, pct_start=PCT, **kwargs) for s in range(TOTAL)])


# ---------------------------------------------------------------------------------------------------- one-cycle LR
def test_one_cycle_lr_starts_at_max_over_div_factor():
    assert one_cycle_lr(0, TOTAL, MAX_LR, pct_start=PCT) == pytest.approx(MAX_LR / 25.0, rel=1e-12)
    assert one_cycle_lr(0, TOTAL, MAX_LR, pct_start=PCT, div_factor=10.0) == pytest.approx(MAX_LR / 10.0, rel=1e-12)


def test_one_cycle_lr_peaks_at_max_lr_at_end_of_warmup():
    lrs = _lr_trace()
    assert lrs[WARMUP] == pytest.approx(MAX_LR, rel=1e-12)
    assert int(np.argmax(lrs)) == WARMUP
    assert lrs.max() == pytest.approx(MAX_LR, rel=1e-12)
    assert lrs[WARMUP - 1] < MAX_LR


def test_one_cycle_lr_ends_near_max_over_div_times_final_div():
    lrs = _lr_trace()
    assert lrs[-1] == pytest.approx(MAX_LR / (25.0 * 1e4), rel=1e-9)
    lrs = _lr_trace(div_factor=5.0, final_div_factor=100.0)
    assert lrs[0] == pytest.approx(MAX_LR / 5.0, rel=1e-12)
    assert lrs[-1] == pytest.approx(MAX_LR / 500.0, rel=1e-9)


def test_one_cycle_lr_is_monotone_in_each_phase():
    lrs = _lr_trace()
    warm, decay = lrs[: WARMUP + 1], lrs[WARMUP:]
    assert np.all(np.diff(warm) > 0), "the learning rate must rise strictly during warmup"
    assert np.all(np.diff(decay) < 0), "the learning rate must fall strictly after the peak"


def test_one_cycle_lr_follows_cosine_annealing():
    start, end = MAX_LR / 25.0, MAX_LR / 25.0 / 1e4
    for step in (0, 5, 10, 15):
        pos = step / WARMUP
        expected = MAX_LR + (start - MAX_LR) * (1 + math.cos(math.pi * pos)) / 2
        assert one_cycle_lr(step, TOTAL, MAX_LR, pct_start=PCT) == pytest.approx(expected, rel=1e-12)
    step = WARMUP + (TOTAL - WARMUP - 1) // 2
    pos = (step - WARMUP) / (TOTAL - WARMUP - 1)
    expected = end + (MAX_LR - end) * (1 + math.cos(math.pi * pos)) / 2
    assert one_cycle_lr(step, TOTAL, MAX_LR, pct_start=PCT) == pytest.approx(expected, rel=1e-12)


def test_one_cycle_lr_without_warmup_starts_at_peak():
    lrs = [one_cycle_lr(s, 50, MAX_LR, pct_start=0.0) for s in range(50)]
    assert lrs[0] == pytest.approx(MAX_LR)
    assert np.all(np.diff(lrs) < 0)


def test_one_cycle_lr_single_step_run():
    assert one_cycle_lr(0, 1, MAX_LR) == pytest.approx(MAX_LR)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total_steps": 0},
        {"total_steps": -3},
        {"pct_start": 1.0},
        {"pct_start": -0.1},
        {"pct_start": 1.5},
    ],
)
def test_one_cycle_lr_rejects_bad_arguments(kwargs):
    args = {"total_steps": 10, "pct_start": 0.1, **kwargs}
    with pytest.raises(ValueError, match="Expected"):
        one_cycle_lr(0, args["total_steps"], MAX_LR, pct_start=args["pct_start"])
    with pytest.raises(ValueError, match="Expected"):
        one_cycle_momentum(0, args["total_steps"], pct_start=args["pct_start"])


# ---------------------------------------------------------------------------------------------------- momentum
def test_one_cycle_momentum_is_the_inverse_of_the_lr():
    lrs, moms = _lr_trace(), _momentum_trace()
    assert moms[0] == pytest.approx(0.95)
    assert moms[WARMUP] == pytest.approx(0.85)
    assert int(np.argmin(moms)) == WARMUP
    assert moms[-1] == pytest.approx(0.95)
    assert np.all(np.diff(moms[: WARMUP + 1]) < 0)
    assert np.all(np.diff(moms[WARMUP:]) > 0)
    # Same cosine position in both schedules: momentum is a decreasing affine function of the LR in each phase.
    for phase in (slice(0, WARMUP + 1), slice(WARMUP, TOTAL)):
        corr = np.corrcoef(lrs[phase], moms[phase])[0, 1]
        assert corr == pytest.approx(-1.0, abs=1e-9)


def test_one_cycle_momentum_custom_range():
    moms = _momentum_trace(max_momentum=0.9, min_momentum=0.8)
    assert moms.max() == pytest.approx(0.9)
    assert moms.min() == pytest.approx(0.8)


# ---------------------------------------------------------------------------------------------------- helpers
def test_cosine_anneal_endpoints_and_clipping():
    assert cosine_anneal(1.0, 0.0, 0.0) == pytest.approx(1.0)
    assert cosine_anneal(1.0, 0.0, 1.0) == pytest.approx(0.0)
    assert cosine_anneal(1.0, 0.0, 0.5) == pytest.approx(0.5)
    assert cosine_anneal(1.0, 0.0, -2.0) == pytest.approx(1.0)
    assert cosine_anneal(1.0, 0.0, 3.0) == pytest.approx(0.0)


def test_exponential_lr():
    assert exponential_lr(0, 1e-7, 1.5) == pytest.approx(1e-7)
    assert exponential_lr(10, 1e-7, 2.0) == pytest.approx(1e-7 * 1024)


def test_smooth_losses_is_bias_corrected():
    flat = smooth_losses([2.0] * 30)
    np.testing.assert_allclose(flat, 2.0, rtol=1e-12)
    raw = np.random.default_rng(0).normal(1.0, 0.5, size=200)
    smoothed = smooth_losses(raw, beta=0.9)
    assert smoothed.shape == (200,)
    assert smoothed[0] == pytest.approx(raw[0])
    assert smoothed.std() < raw.std() / 2


# ---------------------------------------------------------------------------------------------------- suggest_lr
def _u_curve(center: float, n: int = 120, lo: float = -7.0, hi: float = 0.0):
    """A U-shaped LR-finder trace: a plateau, a steep tanh drop centred at 10**center, then an explosion."""
    x = np.linspace(lo, hi, n)
    loss = 1.5 - np.tanh(1.5 * (x - center)) + np.exp(2.5 * (x - (center + 2.5)))
    return 10.0**x, loss


@pytest.mark.parametrize("center", [-5.0, -4.0, -3.5])
def test_suggest_lr_finds_the_steepest_descent(center):
    lrs, losses = _u_curve(center)
    out = suggest_lr(lrs, losses, clip=None)
    step = (7.0 / 119) * 1.5  # a grid step and a half, in decades
    assert abs(math.log10(out["steepest"]) - center) <= step
    # min_loss_div10 is one tenth of the LR at the lowest loss inside the window.
    window = slice(10, len(lrs) - 5)
    expected = lrs[window][np.argmin(losses[window])] / 10
    assert out["min_loss_div10"] == pytest.approx(expected)
    assert out["steepest"] < lrs[window][np.argmin(losses[window])]


def test_suggest_lr_ignores_the_skipped_beginning():
    lrs, losses = _u_curve(-4.0)
    losses = losses.copy()
    losses[:10] += np.linspace(50.0, 0.0, 10)  # a violent drop in the first steps, which must be ignored
    out = suggest_lr(lrs, losses, clip=None)
    assert abs(math.log10(out["steepest"]) + 4.0) <= 0.1
    out_no_skip = suggest_lr(lrs, losses, clip=None, n_skip_beginning=0)
    assert out_no_skip["steepest"] < 1e-6


def test_suggest_lr_clips_to_the_fine_tuning_range():
    lrs, losses = _u_curve(-2.0)
    raw = suggest_lr(lrs, losses, clip=None)
    assert raw["steepest"] > SUGGESTION_RANGE[1]
    clipped = suggest_lr(lrs, losses)
    assert clipped["steepest"] == SUGGESTION_RANGE[1]
    assert clipped["min_loss_div10"] == SUGGESTION_RANGE[1]
    lrs, losses = _u_curve(-6.3)
    low = suggest_lr(lrs, losses, clip=(1e-5, 1e-3))
    assert low["steepest"] == 1e-5
    assert suggest_lr(lrs, losses, clip=None)["steepest"] < 1e-5


def test_suggest_lr_errors():
    with pytest.raises(ValueError, match="equal length"):
        suggest_lr([1e-5, 1e-4, 1e-3], [1.0, 0.9])
    with pytest.raises(ValueError, match="usable steps"):
        suggest_lr(np.logspace(-6, -1, 16), np.linspace(1, 0, 16))  # 16 - 10 - 5 = 1 usable step
    out = suggest_lr(np.logspace(-6, -1, 18), np.linspace(1, 0, 18))  # 3 usable steps is enough
    assert set(out) == {"steepest", "min_loss_div10"}

"""Pure schedule and learning-rate-suggestion maths (no Keras, no torch).

The one-cycle policy follows Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
Learning Rates" (2017, https://arxiv.org/abs/1708.07120) and Smith, "A disciplined approach to neural network
hyper-parameters" (2018, https://arxiv.org/abs/1803.09820), in the cosine-annealed form used by fastai's
``fit_one_cycle`` and ``torch.optim.lr_scheduler.OneCycleLR``: a warmup from ``max_lr / div_factor`` to ``max_lr``
over the first ``pct_start`` of the steps, then a cosine decay to ``max_lr / (div_factor * final_div_factor)``.
Momentum (Adam's beta_1) moves the opposite way, from ``max_momentum`` down to ``min_momentum`` and back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: The range a suggested fine-tuning learning rate is clipped to (per optimizer step, AdamW). Pretrained
#: transformers diverge above ~1e-3 and barely move below ~1e-6; see transformers issue #16013 for why a
#: raw LR-finder minimum is not a good fine-tuning learning rate on its own.
SUGGESTION_RANGE = (1e-6, 5e-4)


def cosine_anneal(start: float, end: float, pos: float) -> float:
    """Cosine interpolation from ``start`` (``pos=0``) to ``end`` (``pos=1``).

    Args:
        start: Value at ``pos = 0``.
        end: Value at ``pos = 1``.
        pos: Position in the phase, a fraction 0–1 (clipped).

    Returns:
        ``end + (start - end) * (1 + cos(pi * pos)) / 2``.
    """
    pos = min(max(pos, 0.0), 1.0)
    return end + (start - end) * (1.0 + math.cos(math.pi * pos)) / 2.0


def _phase(step: int, total_steps: int, pct_start: float) -> tuple[bool, float]:
    """Return (in_warmup, position within the phase) for a step of a one-cycle schedule."""
    if total_steps < 1:
        raise ValueError(f"Expected total_steps >= 1. Received: total_steps={total_steps}.")
    if not 0.0 <= pct_start < 1.0:
        raise ValueError(f"Expected pct_start in [0, 1). Received: pct_start={pct_start}.")
    warmup = max(int(round(total_steps * pct_start)), 0)
    if step < warmup:
        return True, step / max(warmup, 1)
    return False, (step - warmup) / max(total_steps - warmup - 1, 1)


def one_cycle_lr(
    step: int,
    total_steps: int,
    max_lr: float,
    *,
    pct_start: float = 0.1,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> float:
    """Learning rate of the one-cycle policy at a given optimizer step.

    Args:
        step: Optimizer step, 0-based.
        total_steps: Number of optimizer steps in the whole run (epochs × steps per epoch).
        max_lr: Peak learning rate, per optimizer step.
        pct_start: Fraction 0–1 of the steps spent warming up.
        div_factor: The run starts at ``max_lr / div_factor``.
        final_div_factor: The run ends at ``max_lr / (div_factor * final_div_factor)``.

    Returns:
        The learning rate for that step.

    Raises:
        ValueError: If ``total_steps < 1`` or ``pct_start`` is outside [0, 1).
    """
    start = max_lr / div_factor
    end = start / final_div_factor
    warming, pos = _phase(step, total_steps, pct_start)
    return cosine_anneal(start, max_lr, pos) if warming else cosine_anneal(max_lr, end, pos)


def one_cycle_momentum(
    step: int,
    total_steps: int,
    *,
    pct_start: float = 0.1,
    max_momentum: float = 0.95,
    min_momentum: float = 0.85,
) -> float:
    """Momentum (Adam's beta_1) of the one-cycle policy: high while the LR is low, low at the LR peak.

    Args:
        step: Optimizer step, 0-based.
        total_steps: Number of optimizer steps in the whole run.
        pct_start: Fraction 0–1 of the steps spent warming up (must match :func:`one_cycle_lr`).
        max_momentum: Momentum at the start and the end.
        min_momentum: Momentum at the learning-rate peak.

    Returns:
        The momentum for that step.
    """
    warming, pos = _phase(step, total_steps, pct_start)
    if warming:
        return cosine_anneal(max_momentum, min_momentum, pos)
    return cosine_anneal(min_momentum, max_momentum, pos)


def exponential_lr(step: int, start_lr: float, lr_mult: float) -> float:
    """Learning rate of an LR-range test at a step: ``start_lr * lr_mult ** step`` (Smith 2015,
    https://arxiv.org/abs/1506.01186)."""
    return start_lr * lr_mult**step


def smooth_losses(losses: Sequence[float], beta: float = 0.98) -> np.ndarray:
    """Bias-corrected exponential moving average of a loss trace, as used by LR finders.

    Args:
        losses: Raw per-step training losses.
        beta: Smoothing factor, fraction 0–1 (higher is smoother).

    Returns:
        Array of shape ``(num_steps,)`` with the smoothed losses.
    """
    out = np.empty(len(losses), dtype=np.float64)
    avg = 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * float(loss)
        out[i] = avg / (1 - beta ** (i + 1))
    return out


def suggest_lr(
    lrs: Sequence[float],
    losses: Sequence[float],
    *,
    n_skip_beginning: int = 10,
    n_skip_end: int = 5,
    clip: tuple[float, float] | None = SUGGESTION_RANGE,
) -> dict[str, float]:
    """Suggest learning rates from an LR-range test (the two rules ktrain's ``lr_estimate`` uses).

    Args:
        lrs: Learning rate at each step of the test, per optimizer step.
        losses: Smoothed training loss at each step (same length as ``lrs``).
        n_skip_beginning: Steps ignored at the start (the loss is still settling).
        n_skip_end: Steps ignored at the end (the loss is exploding).
        clip: ``(low, high)`` range the suggestions are clipped to, or None to keep the raw values.

    Returns:
        ``{"steepest": lr where the loss falls fastest, "min_loss_div10": lr at the lowest loss / 10}``.

    Raises:
        ValueError: If the trace is too short once the skipped steps are removed (fewer than 3 points).
    """
    lrs_arr = np.asarray(lrs, dtype=np.float64)
    loss_arr = np.asarray(losses, dtype=np.float64)
    if len(lrs_arr) != len(loss_arr):
        raise ValueError(f"Expected lrs and losses of equal length. Received: {len(lrs_arr)} and {len(loss_arr)}.")
    end = len(lrs_arr) - n_skip_end
    lrs_arr, loss_arr = lrs_arr[n_skip_beginning:end], loss_arr[n_skip_beginning:end]
    if len(lrs_arr) < 3:
        raise ValueError(
            f"The LR-range test has only {len(lrs_arr)} usable steps after skipping {n_skip_beginning} at the "
            f"start and {n_skip_end} at the end. Run lr_find with more steps (a larger dataset or num_steps)."
        )
    grads = np.gradient(loss_arr, np.log10(lrs_arr))
    steepest = float(lrs_arr[int(np.argmin(grads))])
    min_loss = float(lrs_arr[int(np.argmin(loss_arr))]) / 10.0
    out = {"steepest": steepest, "min_loss_div10": min_loss}
    if clip is not None:
        out = {k: float(np.clip(v, clip[0], clip[1])) for k, v in out.items()}
    return out


def triangular_lr(step: int, steps_per_cycle: int, max_lr: float, *, div_factor: float = 10.0) -> float:
    """Triangular cyclical learning rate (Smith 2017, https://arxiv.org/abs/1506.01186), one cycle per epoch.

    The rate climbs linearly from ``max_lr / div_factor`` to ``max_lr`` over the first ``ceil(steps_per_cycle /
    2)`` steps (ktrain's ``CyclicLR`` ``step_size``, so the peak is reached for odd cycles too) and back down over
    the rest; ktrain's ``autofit`` uses this policy with one cycle per epoch.

    Args:
        step: Step within the run, 0-based.
        steps_per_cycle: Steps in one full cycle (up and down).
        max_lr: Peak learning rate, per optimizer step.
        div_factor: Ratio of the peak to the base learning rate.

    Returns:
        The learning rate for that step.
    """
    base = max_lr / div_factor
    half = math.ceil(max(steps_per_cycle, 1) / 2)  # ktrain's CyclicLR step_size: an odd cycle still reaches the peak
    frac = max(0.0, 1.0 - abs((step % max(steps_per_cycle, 1)) / half - 1.0))
    return base + (max_lr - base) * frac


def sgdr_cycle_epochs(n_cycles: int, cycle_len: int, cycle_mult: int = 1) -> list[int]:
    """Epochs per cycle of SGDR (Loshchilov & Hutter 2017, https://arxiv.org/abs/1608.03983).

    Args:
        n_cycles: Number of cosine cycles (warm restarts).
        cycle_len: Epochs in the first cycle.
        cycle_mult: Each cycle is this many times longer than the previous one.

    Returns:
        ``[cycle_len * cycle_mult**i for i in range(n_cycles)]``.
    """
    if n_cycles < 1 or cycle_len < 1 or cycle_mult < 1:
        raise ValueError(
            f"Expected n_cycles, cycle_len and cycle_mult >= 1. Received: {n_cycles}, {cycle_len}, {cycle_mult}."
        )
    return [cycle_len * cycle_mult**i for i in range(n_cycles)]


def monitor_mode(monitor: str) -> str:
    """Whether a Keras epoch-log quantity improves upwards (``"max"``: names with ``acc`` or ``f1``) or downwards
    (``"min"``: losses and errors), as ``keras.callbacks.EarlyStopping(mode=...)`` takes it.

    Args:
        monitor: The log key, e.g. ``"val_loss"`` or ``"val_accuracy"``.

    Returns:
        ``"max"`` or ``"min"``.
    """
    return "max" if any(k in monitor for k in ("acc", "f1")) else "min"

"""Matplotlib figures: LR finder, loss curve, confusion matrix, length histogram. Usable in notebooks and in ``gr.Plot``."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from kdemo.fonts import with_cjk_fonts


def lr_finder_figure(
    lrs: Sequence[float],
    smoothed_losses: Sequence[float],
    suggestions: dict[str, float] | None = None,
    n_skip_beginning: int = 10,
    n_skip_end: int = 5,
    *,
    pyplot: bool = False,
) -> Figure:
    """Smoothed training loss against learning rate (log x axis), with suggested learning rates marked.

    Args:
        lrs: Learning rate of each LR-finder batch, per optimizer step.
        smoothed_losses: Smoothed loss of each batch.
        suggestions: Optional ``{name: lr}`` drawn as vertical lines.
        n_skip_beginning: Batches left out at the start.
        n_skip_end: Batches left out at the end.
        pyplot: Draw on a new pyplot figure, which is then the current one (``plt.savefig`` saves it), as ktrain
            draws; False builds a pyplot-free figure (the app's, safe in server threads).

    Returns:
        The figure.
    """
    lrs = np.asarray(lrs)
    losses = np.asarray(smoothed_losses)
    n = len(lrs)
    lo, hi = min(n_skip_beginning, n // 5), n - min(n_skip_end, n // 10)
    fig = new_figure((6.4, 3.6), pyplot=pyplot)
    ax = fig.subplots()
    ax.plot(lrs[lo:hi], losses[lo:hi], color="#4f46e5")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale, per optimizer step)")
    ax.set_ylabel("smoothed training loss")
    ax.set_title("LR finder")
    for (name, lr), color in zip((suggestions or {}).items(), ("#dc2626", "#16a34a")):
        ax.axvline(lr, color=color, linestyle="--", label=f"{name.replace('_', ' ')}: {lr:.1e}")
    if suggestions:
        ax.legend(title="suggested (clipped to 1e-6…5e-4)", fontsize=8, title_fontsize=8)
    ax.grid(alpha=0.3)
    return with_cjk_fonts(fig)


def loss_curve_figure(
    step_losses: Sequence[float],
    total_steps: int | None = None,
    val_points: Sequence[tuple[int, float]] | None = None,
    *,
    pyplot: bool = False,
) -> Figure:
    """Training loss per optimizer step (raw and smoothed), with validation loss points.

    Args:
        step_losses: Loss of each training step.
        total_steps: Steps planned in the run; fixes the x range while training is in progress.
        val_points: ``(step, val_loss)`` pairs, e.g. one per epoch.
        pyplot: Draw on a new pyplot figure, which is then the current one (``plt.savefig`` saves it), as ktrain
            draws; False builds a pyplot-free figure (the app's, safe in server threads).

    Returns:
        The figure.
    """
    step_losses = list(step_losses)  # a snapshot: the training thread keeps appending while we draw
    val_points = list(val_points or [])
    fig = new_figure((6.4, 3.2), pyplot=pyplot)
    ax = fig.subplots()
    steps = np.arange(1, len(step_losses) + 1)
    if len(step_losses):
        ax.plot(steps, step_losses, color="#a5b4fc", linewidth=0.8, label="train loss (per step)")
        window = max(1, min(20, len(step_losses) // 10))
        smooth = np.convolve(step_losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, color="#4338ca", linewidth=1.8, label=f"train loss ({window}-step mean)")
    if val_points:
        xs, ys = zip(*val_points)
        ax.plot(xs, ys, "o", color="#dc2626", label="validation loss")
    if total_steps:
        ax.set_xlim(0, total_steps + 1)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title("Training loss")  # the UI hides its block label, which covered the legend: the title says it
    ax.grid(alpha=0.3)
    if len(step_losses) or val_points:
        ax.legend(fontsize=8)
    return with_cjk_fonts(fig)


def confusion_matrix_figure(matrix: np.ndarray, class_names: Sequence[str]) -> Figure:
    """Confusion matrix heatmap with counts; rows are true classes, columns predicted classes.

    Args:
        matrix: Int array of shape ``(num_classes, num_classes)``.
        class_names: Label names in id order.

    Returns:
        The figure.
    """
    k = len(class_names)
    size = min(2.5 + 0.6 * k, 12)
    fig = Figure(figsize=(size, size * 0.85), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    if k <= 30:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                        color="white" if matrix[i, j] > threshold else "black", fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle("Confusion matrix (validation)")  # centred on the figure: an axes title was clipped on small ones
    return with_cjk_fonts(fig)


def history_figure(history: dict, key: str, *, pyplot: bool = False) -> Figure:
    """One history quantity per epoch (and its ``val_`` twin when present).

    Args:
        history: ``keras.callbacks.History.history``.
        key: The quantity, e.g. ``"accuracy"`` or ``"lr"``.
        pyplot: Draw on a new pyplot figure, which is then the current one (``plt.savefig`` saves it), as ktrain
            draws; False builds a pyplot-free figure (the app's, safe in server threads).

    Returns:
        The figure.
    """
    fig = new_figure((6.4, 3.2), pyplot=pyplot)
    ax = fig.subplots()
    epochs = np.arange(1, len(history[key]) + 1)
    ax.plot(epochs, history[key], "o-", label=key)
    if f"val_{key}" in history:
        ax.plot(epochs, history[f"val_{key}"], "o-", label=f"val_{key}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    if key == "lr":
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return with_cjk_fonts(fig)


def regression_figure(y_true: Sequence[float], y_pred: Sequence[float]) -> Figure:
    """Predicted against true values with the identity line.

    Args:
        y_true: True values, shape ``(num_rows,)``.
        y_pred: Predictions, shape ``(num_rows,)``.

    Returns:
        The figure.
    """
    fig = Figure(figsize=(4.8, 4.4), layout="constrained")
    ax = fig.subplots()
    ax.scatter(y_true, y_pred, s=10, alpha=0.6, color="#4f46e5")
    lo = float(min(np.min(y_true), np.min(y_pred)))
    hi = float(max(np.max(y_true), np.max(y_pred)))
    ax.plot([lo, hi], [lo, hi], "--", color="#dc2626", label="perfect")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title("Predicted vs true (validation)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return with_cjk_fonts(fig)


def length_histogram_figure(counts: Sequence[int], edges: Sequence[float], suggested_maxlen: int | None, *,
                            unit: str, item: str = "text", count_label: str = "rows", maxlen_note: str = "") -> Figure:
    """Histogram of text (or sentence) lengths with the suggested ``maxlen`` marked, as the data doctor shows it.

    Args:
        counts: Rows per bin, shape ``(num_bins,)``.
        edges: Bin edges in ``unit``, shape ``(num_bins + 1,)`` (as ``np.histogram`` returns them).
        suggested_maxlen: The maxlen to mark with a dashed line, or None for no line.
        unit: What a length counts, e.g. ``"sub-word tokens"``, ``"words"``.
        item: What one row is (``"text"``, ``"sentence"``), for the x axis and the title.
        count_label: The y axis label (``"rows"``, ``"sentences"``).
        maxlen_note: Text after the maxlen in the legend, e.g. ``" (covers 95 %)"``.

    Returns:
        The figure.
    """
    edges = np.asarray(edges, dtype=float)
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4f46e5", alpha=0.8)
    if suggested_maxlen:
        ax.axvline(suggested_maxlen, color="#dc2626", linestyle="--", label=f"suggested maxlen {suggested_maxlen}{maxlen_note}")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"{item} length ({unit})")
    ax.set_ylabel(count_label)
    ax.set_title(f"{item.capitalize()} lengths")
    ax.grid(alpha=0.3)
    return with_cjk_fonts(fig)


def schedule_figure(values: Sequence[float], key: str, *, pyplot: bool = False) -> Figure:
    """A per-step trace (``"lr"`` or ``"momentum"``) against iterations, as ktrain's ``learner.plot`` draws it.

    Args:
        values: One value per optimizer step.
        key: ``"lr"`` (learning rate per optimizer step) or ``"momentum"`` (Adam's beta_1).
        pyplot: Draw on a new pyplot figure, which is then the current one (``plt.savefig`` saves it), as ktrain
            draws; False builds a pyplot-free figure (the app's, safe in server threads).

    Returns:
        The figure.
    """
    fig = new_figure((6.4, 3.2), pyplot=pyplot)
    ax = fig.subplots()
    ax.plot(np.arange(1, len(values) + 1), values, color="#4f46e5")
    ax.set_title({"lr": "LR Schedule", "momentum": "Momentum Schedule"}.get(key, key))
    ax.set_xlabel("iterations")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    return with_cjk_fonts(fig)


def new_figure(figsize: tuple[float, float], *, pyplot: bool = False) -> Figure:
    """An empty constrained-layout figure of ``figsize`` inches: a pyplot figure (made current) or a plain one.

    Args:
        figsize: ``(width, height)`` in inches.
        pyplot: Create it through ``matplotlib.pyplot.figure`` (scripts and notebooks: ``plt.savefig`` and the
            inline backend see it); else a ``matplotlib.figure.Figure`` outside pyplot's global state.
    """
    if pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, layout="constrained")
    return Figure(figsize=figsize, layout="constrained")


def show_figure(fig: Figure, return_fig: bool = False) -> Figure | None:
    """Return ``fig`` when asked; otherwise show it as ktrain does (``plt.show()``).

    The learner's plot verbs draw on a new pyplot figure (see :func:`new_figure`) unless ``return_fig`` is set.
    ``plt.show()`` then behaves as in ktrain: in a notebook the inline backend displays the figure (as
    ``image/png``); in a script on a non-interactive backend (Agg) it does nothing and the figure stays the current
    one, so ``plt.savefig(path)`` writes it; an interactive backend opens a window. A figure made outside pyplot
    is displayed in an IPython kernel as ``image/png`` display data (nothing is shown elsewhere).

    Args:
        fig: The figure.
        return_fig: Return the figure instead of showing it.

    Returns:
        ``fig`` when ``return_fig`` is True, else None.
    """
    if return_fig:
        return fig
    if getattr(fig.canvas, "manager", None) is not None:  # a pyplot figure
        import matplotlib.pyplot as plt

        plt.show()
        return None
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        return None
    if get_ipython() is not None:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        display(Image(data=buffer.getvalue(), format="png"))
    return None

"""The quick label-issue search: one training run's data map (Swayamdipta et al. 2020), and its figure.

Dataset Cartography (Swayamdipta et al. 2020, "Dataset Cartography: Mapping and Diagnosing Datasets with Training
Dynamics", EMNLP, https://arxiv.org/abs/2009.10795) places every training example by its confidence (mean probability
of the given label over the epochs) and variability (its standard deviation); mislabeled examples gather where the
model steadily rejects the given label (hard-to-learn). :func:`data_map_issues` runs **one** ordinary
:func:`kdemo.train` run with a :class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics` recorder, which
reads the probabilities off the training steps' own forward passes, so the search costs about one run (K-fold
cross-validation, :mod:`kdemo.run.label_issues.cross_val`, costs K). Regions, flag and scores:
:mod:`kdemo.run.label_issues.cartography` and :mod:`kdemo.run.label_issues.learner_issues`.

Which rows train: **all of them**. The dynamics are only known for rows the run trains on, so the run trains on every
row of the file; the validation report the run still makes (and the best-epoch logic it drives) uses the config's
validation file if it has one, else a seeded ``val_pct`` sample of the training rows, **held out as a copy** (those
rows are trained on too, so that report is in-sample and says little about generalisation; the search does not
use it). Token files: the validation file, else the training sentences themselves.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kdemo.errors import DataError, TrainingError
from kdemo.fonts import with_cjk_fonts
from kdemo.run.label_issues.cartography import (AMBIGUOUS_VARIABILITY, EASY_CONFIDENCE, MIN_EPOCHS, REGIONS,
                                            cartography, flag_issues, regions)
from kdemo.run.label_issues.learner_issues import SCORED_TASKS, learner_label_issues
from kdemo.run.label_issues.result import DATA_MAP, LabelIssues
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.plots import new_figure
from kdemo.run.config import SGDR, TrainConfig
from kdemo.run.pipeline import read_data
from kdemo.run.train import train
from kdemo.training.callbacks import ProgressEvent
from kdemo.training.callbacks.training_dynamics import TrainingDynamics
from kdemo.training.schedules import sgdr_cycle_epochs

__all__ = ["cartography", "data_map_issues", "flag_issues", "plot_data_map", "regions"]

#: The finished search's result in a ``work_dir`` (``LabelIssues.to_dict`` as JSON): what ``resume=True`` reuses.
RESULT_FILE = "data_map.json"


def planned_epochs(config: TrainConfig) -> int:
    """Epochs the run of ``config`` plans (SGDR: the epochs of all its cycles)."""
    if config.schedule == SGDR:
        return int(sum(sgdr_cycle_epochs(config.epochs, config.cycle_len, config.cycle_mult)))
    return int(config.epochs)


def _all_rows(data, config: TrainConfig):
    """``data`` set up to train on every row: validation on the config's file, else on a held-out copy."""
    if data.spec.task not in SCORED_TASKS:
        raise DataError(f"Expected a task with labels (one of {list(SCORED_TASKS)}) to find label issues. Received: "
                        f"task {data.spec.task!r}. Question answering has no label to check.")
    if hasattr(data, "train_df"):
        if data.val_df is not None:
            return data
        n = len(data.train_df)
        picked = np.random.default_rng(config.seed).permutation(n)[: max(1, round(n * config.val_pct))]
        return dataclasses.replace(data, val_df=data.train_df.iloc[np.sort(picked)].reset_index(drop=True))
    if data.val is not None:
        return data
    return dataclasses.replace(data, val=data.train, val_file=data.train_file)


def data_map_issues(config: TrainConfig, *, train_df: pd.DataFrame | None = None, work_dir: str | os.PathLike | None = None,
                    resume: bool = False, progress: Callable[[ProgressEvent], None] | None = None,
                    stop: threading.Event | None = None, policy: FolderPolicy = DEFAULT_POLICY) -> LabelIssues | None:
    """Find the probably mislabeled rows of ``config``'s training data from one run's training dynamics.

    One :func:`kdemo.train` run with ``config``'s settings, over every row of the training file (module docstring:
    where validation comes from), records each row's probability of its given label at every epoch
    (:class:`~kdemo.training.callbacks.training_dynamics.TrainingDynamics`); the data map of those probabilities
    (Swayamdipta et al. 2020) scores and flags the rows (:mod:`kdemo.run.label_issues.cartography`).

    Args:
        config: The run's settings (files, columns, task, model, epochs ≥ 2, …).
        train_df: The training table instead of ``config.train_file`` (the app's upload).
        work_dir: Folder keeping the finished result (``data_map.json``); None keeps nothing.
        resume: Return the result a finished search left in ``work_dir`` instead of training again (a search
            stopped part-way starts again: the dynamics of a partial run are not kept).
        progress: Called with the run's :class:`~kdemo.training.callbacks.ProgressEvent` (steps and epochs).
        stop: A ``threading.Event``; once set, the run ends after the current batch and None is returned (as a
            stopped cross-validation search does; nothing is saved).
        policy: Which local model folders ``config.model_name`` may name.

    Returns:
        A :class:`~kdemo.run.label_issues.result.LabelIssues` (method ``"data_map"``, one row per training row or
        sentence, with ``confidence``, ``variability``, ``correctness`` and ``region``), or None when stopped.

    Raises:
        DataError: If the run plans fewer than 2 epochs, the task has no labels (question answering), or the data
            cannot be used (rows named).
        ModelError: If the model cannot be loaded.
        TrainingError: If training fails, or fewer than 2 epochs ran (early stopping).
    """
    started = time.monotonic()
    epochs = planned_epochs(config)
    if epochs < MIN_EPOCHS:
        raise DataError(f"Expected at least {MIN_EPOCHS} epochs for a data map (variability needs two looks at each "
                        f"row). Received: epochs={epochs}. Set epochs to 2 or more (3 is a good start).")
    saved = Path(work_dir) / RESULT_FILE if work_dir is not None else None
    if resume and saved is not None and saved.exists():
        return LabelIssues.from_dict(json.loads(saved.read_text(encoding="utf-8")))
    data = _all_rows(read_data(config, train_df, None), config)
    recorder = TrainingDynamics()
    result = train(config, data=data, progress=progress, stop=stop, policy=policy, callbacks=[recorder])
    if result is None or result.learner.stopped_early:
        return None
    if len(recorder.epochs) < MIN_EPOCHS:  # e.g. autofit's early stopping after one epoch
        raise TrainingError(f"Expected at least {MIN_EPOCHS} epochs of training dynamics. Received: "
                            f"{len(recorder.epochs)}. Run more epochs (without early stopping after the first).")
    texts = data.train_df[data.text_column].astype(str).tolist() if hasattr(data, "train_df") else None
    issues = learner_label_issues(result.learner, dynamics=recorder, texts=texts, seconds=time.monotonic() - started)
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        tmp = saved.with_suffix(".tmp")
        tmp.write_text(json.dumps(issues.to_dict()), encoding="utf-8")
        os.replace(tmp, saved)
    return issues


def plot_data_map(issues: LabelIssues, *, pyplot: bool = False) -> Figure:
    """The data map of a search: each example at (variability, confidence), coloured by correctness, as in
    Swayamdipta et al. 2020 (Figure 1), with the region cut-offs drawn and the flagged examples circled.

    Args:
        issues: A result of :func:`data_map_issues` or ``Learner.find_label_issues`` (method ``"data_map"``).
        pyplot: Draw on a new pyplot figure (made current), as the learner's plot verbs do; False builds a
            pyplot-free figure (the app's, safe in server threads).

    Returns:
        The figure: x = variability (standard deviation of the probability of the given label over the epochs),
        y = confidence (its mean), colour = correctness (fraction of epochs predicted as given, 0–1).

    Raises:
        DataError: If ``issues`` is not a data map (a cross-validation result has no dynamics to draw).
    """
    if issues.method != DATA_MAP or "confidence" not in issues.table.columns:
        raise DataError(f"Expected a data-map result (method 'data_map'). Received: method {issues.method!r}. Run "
                        "the search with data_map=True (--data-map).")
    table = issues.table[np.isfinite(issues.table["confidence"].astype(float))]
    fig = new_figure((6.4, 4.8), pyplot=pyplot)
    ax = fig.subplots()
    points = ax.scatter(table["variability"], table["confidence"], c=table["correctness"], cmap="coolwarm_r",
                        vmin=0.0, vmax=1.0, s=14, alpha=0.8, linewidths=0)
    flagged = table[table["is_issue"]]
    ax.scatter(flagged["variability"], flagged["confidence"], s=60, facecolors="none", edgecolors="#111827",
               linewidths=0.9, label=f"flagged ({len(flagged)}): probably mislabeled")
    fig.colorbar(points, ax=ax, label="correctness (fraction of epochs predicted as given)")
    ax.axvline(AMBIGUOUS_VARIABILITY, color="#6b7280", linestyle="--", linewidth=0.8)
    ax.plot([0, AMBIGUOUS_VARIABILITY], [EASY_CONFIDENCE, EASY_CONFIDENCE], color="#6b7280", linestyle="--", linewidth=0.8)
    counts = table["region"].value_counts()
    spots = {REGIONS[0]: (0.02, 0.97, "top"), REGIONS[1]: (0.98, 0.55, "center"), REGIONS[2]: (0.02, 0.03, "bottom")}
    for region, (x, y, va) in spots.items():
        ax.text(x, y, f"{region} ({int(counts.get(region, 0))})", transform=ax.transAxes, va=va,
                ha="right" if x > 0.5 else "left", fontsize=9, color="#374151")
    ax.set_xlim(0, max(0.5, float(table["variability"].max()) if len(table) else 0.5) * 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("variability (std of the probability of the given label over epochs)")
    ax.set_ylabel("confidence (mean probability of the given label)")
    ax.set_title(f"Data map: {len(table)} examples, {len(flagged)} flagged")
    if len(flagged):
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return with_cjk_fonts(fig)

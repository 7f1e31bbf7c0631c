"""A learner's label issues from the training dynamics its last fit recorded: ``Learner.find_label_issues``.

One row per training example (a token dataset's sentences, not its windows), scored by the data map of
:mod:`kdemo.run.label_issues.cartography` (Swayamdipta et al. 2020). The unit that is scored is the example's **worst
label**: single-label and regression rows have one; a multi-label row is scored by its worst class (the class whose
given 0/1 value the model finds least likely on average over the epochs) and a sentence by its worst word, because
one wrong class among many right ones, or one wrong tag in a long sentence, hardly moves a mean over all of them.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from kdemo.errors import DataError, TrainingError
from kdemo.run.label_issues.cartography import MIN_EPOCHS, cartography, flag_issues, regions
from kdemo.run.label_issues.result import DATA_MAP, LabelIssues
from kdemo.training.callbacks.training_dynamics import TrainingDynamics

#: Separator of the class names of one multi-label cell.
NAMES_SEPARATOR = ", "
#: Tasks with labels a data map can score.
SCORED_TASKS = ("single_label", "multi_label", "regression", "token_classification")


def learner_label_issues(learner, *, dynamics: TrainingDynamics | None = None, texts: Sequence[str] | None = None,
                         seconds: float | None = None) -> LabelIssues:
    """The learner's training rows as a data map: confidence, variability, correctness, region and flag per row.

    Record the dynamics during the fit, then ask::

        learner.fit_onecycle(5e-5, 3, callbacks=[TrainingDynamics()])   # or learner.record_training_dynamics = True
        issues = learner.find_label_issues()

    Args:
        learner: A :class:`~kdemo.training.learner.Learner` whose last fit ran with a recorder (at least
            :data:`~kdemo.run.label_issues.cartography.MIN_EPOCHS` epochs).
        dynamics: The recorder to read; None reads ``learner.training_dynamics`` (the last fit's).
        texts: The texts of the table's ``text`` column, one per training row; None takes the training data's
            texts (a token dataset's words joined by spaces).
        seconds: The search's wall-clock seconds for the result; None measures only this call.

    Returns:
        A :class:`~kdemo.run.label_issues.result.LabelIssues` (method ``"data_map"``) over the learner's training rows
        (``row`` = 0-based row of the training data; token data: sentence), with the data map's ``confidence``,
        ``variability``, ``correctness`` and ``region`` columns; ``label_quality`` is the confidence and
        ``suggested_label`` the prediction of the last training step that saw the row.

    Raises:
        DataError: If the task has no labels to score (question answering), or fewer than 2 epochs were recorded.
        TrainingError: If no training dynamics were recorded.
    """
    started = time.monotonic()
    task = learner.task
    if task not in SCORED_TASKS:
        raise DataError(f"Expected a task with labels (one of {list(SCORED_TASKS)}) to find label issues. Received: "
                        f"task {task!r}. Question answering has no label to check.")
    dynamics = dynamics if dynamics is not None else getattr(learner, "training_dynamics", None)
    if dynamics is None or not dynamics.records:
        raise TrainingError("Expected training dynamics recorded by the last fit. Received: none. Fit with "
                            "callbacks=[TrainingDynamics()] (kdemo.training.callbacks.training_dynamics) or set "
                            "learner.record_training_dynamics = True before fitting, then call find_label_issues().")
    if len(dynamics.epochs) < MIN_EPOCHS:
        raise DataError(f"Expected at least {MIN_EPOCHS} epochs of training dynamics (variability needs two looks at "
                        f"each example). Received: {len(dynamics.epochs)}. Fit for 2 or more epochs.")
    data = learner.train_data
    if task == "token_classification":
        table = _token_table(data, dynamics)
    else:
        table = _row_table(task, data, dynamics)
    table.insert(1, "text", [_text(t) for t in (texts if texts is not None else _texts(data))])
    spent = time.monotonic() - started if seconds is None else float(seconds)
    return LabelIssues(task=task, method=DATA_MAP, folds=None, seconds=spent, class_names=tuple(data.class_names),
                       table=table)


def _text(value) -> str:
    return " | ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def _texts(data) -> list:
    words = getattr(data, "words", None)
    return [" ".join(w) for w in words] if words is not None and hasattr(data, "window_sentence") else list(data.texts)


def _columns(rows, given, suggested, confidence, variability, correctness, **extra) -> pd.DataFrame:
    """The table; a row no epoch saw (a stopped run) gets label quality 1, region easy-to-learn and no flag."""
    seen = ~np.isnan(confidence)
    return pd.DataFrame({"row": rows, "given_label": given, "suggested_label": suggested,
                         "label_quality": np.where(seen, confidence, 1.0),
                         "is_issue": flag_issues(confidence, variability, correctness) & seen, **extra,
                         "confidence": confidence, "variability": variability, "correctness": correctness,
                         "region": regions(confidence, variability)})


def number_label(value) -> str:
    """A regression label or prediction (held as float32) as ``str(float)`` of its shortest float32 digits, so that
    a file's ``2.075`` reads ``"2.075"``, not ``"2.075000047683716"``."""
    return str(float(str(np.float32(value))))


def _names(names: Sequence[str], on: np.ndarray) -> str:
    return NAMES_SEPARATOR.join(n for n, v in zip(names, on) if v)


def _row_table(task: str, data, dynamics: TrainingDynamics) -> pd.DataFrame:
    """Single-label, multi-label and regression rows: one scored label per row (multi-label: the worst class)."""
    n, names = len(data), list(data.class_names)
    labels = np.asarray(data.labels)
    last = dynamics.last_predictions(n)
    if task == "multi_label":
        agree, right = _class_agreement(dynamics, labels >= 0.5)
        with warnings.catch_warnings():  # a row no epoch saw: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(agree, axis=0)
        worst = np.argmin(np.nan_to_num(mean, nan=np.inf), axis=1)
        pick = np.arange(n)
        conf, var, corr = cartography(agree[:, pick, worst], right[:, pick, worst])
        given = [_names(names, row >= 0.5) for row in labels]
        suggested = [given[i] if p is None else _names(names, np.asarray(p) >= 0.5) for i, p in enumerate(last)]
        return _columns(np.arange(n), given, suggested, conf, var, corr)
    probs, correct = dynamics.given_probabilities(n)
    conf, var, corr = cartography(probs, correct)
    if task == "regression":
        given = [number_label(v) for v in labels.reshape(n, -1)[:, 0]]
        suggested = [given[i] if p is None else number_label(p) for i, p in enumerate(last)]
    else:
        given = [names[int(v)] for v in labels]
        suggested = [given[i] if p is None else names[int(p)] for i, p in enumerate(last)]
    return _columns(np.arange(n), given, suggested, conf, var, corr)


def _class_agreement(dynamics: TrainingDynamics, given: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label: per epoch, row and class, the probability of the given 0/1 value and whether it was predicted,
    float64 ``(epochs, num_rows, num_classes)`` (NaN for rows an epoch did not see)."""
    agree = np.full((len(dynamics.epochs), *given.shape), np.nan)
    right = np.full_like(agree, np.nan)
    for i, epoch in enumerate(dynamics.epochs):
        record = dynamics.records[epoch]
        p, g = record.prediction.astype(np.float64), given[record.rows]
        agree[i, record.rows] = np.where(g, p, 1 - p)
        right[i, record.rows] = (p >= 0.5) == g
    return agree, right


def _token_table(data, dynamics: TrainingDynamics) -> pd.DataFrame:
    """Sentences scored by their worst word: the labelled word (first sub-word) with the lowest mean probability of
    its given tag over the epochs; ``word`` is its 0-based index in the sentence."""
    windows, sentences, names = len(data), len(data.words), list(data.class_names)
    probs_by_epoch = dynamics.token_probabilities(windows)
    preds_by_epoch = [_window_predictions(dynamics.records[e], windows) for e in dynamics.epochs]
    last = dynamics.last_predictions(windows)
    given, suggested, worst_words = [], [], []
    conf, var, corr = np.full(sentences, np.nan), np.full(sentences, np.nan), np.full(sentences, np.nan)
    by_sentence: dict[int, list[int]] = {}
    for w, s in enumerate(data.window_sentence):
        by_sentence.setdefault(int(s), []).append(w)
    for s in range(sentences):
        tags, wins = list(data.tags[s]), by_sentence.get(s, [])
        labelled = [data.labels[w] != -100 for w in wins]
        word_index = np.concatenate([data.word_ids[w][m] for w, m in zip(wins, labelled)]) if wins else np.zeros(0, int)
        gold = np.concatenate([data.labels[w][m] for w, m in zip(wins, labelled)]) if wins else np.zeros(0, int)
        probs = np.array([_joined([epoch[w] for w in wins], len(gold)) for epoch in probs_by_epoch])
        word, suggestion = -1, list(tags)
        if len(gold) and np.isfinite(probs).any():
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(probs, axis=0)
            k = int(np.argmin(np.nan_to_num(mean, nan=np.inf)))
            word = int(word_index[k])
            right = np.array([_joined([epoch[w] for w in wins], len(gold)) == gold for epoch in preds_by_epoch], float)
            right[np.isnan(probs)] = np.nan
            conf[s], var[s], corr[s] = (v[0] for v in cartography(probs[:, [k]], right[:, [k]]))
            predicted = _joined([last[w] for w in wins], len(gold))
            if np.isfinite(predicted[k]):
                suggestion[word] = names[int(predicted[k])]
        given.append(" ".join(tags))
        suggested.append(" ".join(suggestion))
        worst_words.append(word)
    return _columns(np.arange(sentences), given, suggested, conf, var, corr, word=worst_words)


def _window_predictions(record, windows: int) -> list[np.ndarray | None]:
    """One epoch's predicted tag ids of each window's labelled tokens (None for a window it did not see)."""
    out: list[np.ndarray | None] = [None] * windows
    for row, part in zip(record.rows, np.split(record.prediction, np.cumsum(record.token_counts)[:-1])):
        out[row] = part
    return out


def _joined(parts: list, length: int) -> np.ndarray:
    """The windows' per-token values one after the other (float64 ``(length,)``), NaN if a window is missing."""
    if not parts or any(p is None for p in parts):
        return np.full(length, np.nan)
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])

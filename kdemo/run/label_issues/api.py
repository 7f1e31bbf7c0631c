"""``kdemo.find_label_issues``: the training examples that are probably mislabeled, for any task with labels."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable

import pandas as pd

from kdemo.errors import DataError
from kdemo.run.label_issues.cross_val import FoldEvent, cross_val_predictions, examples_for
from kdemo.run.label_issues.result import CROSS_VALIDATION, LabelIssues
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.run.config import TrainConfig
from kdemo.run.pipeline import read_data

#: Where the data-map search lives (written beside this package; imported on first use).
DATA_MAP_SEARCH = "kdemo.run.label_issues.data_map:data_map_issues"


def _data_map_search():
    module, _, name = DATA_MAP_SEARCH.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise DataError("Expected the data-map search (kdemo.run.label_issues.data_map) to be installed. Received: it is "
                        "missing from this kdemo. Use K-fold cross-validation (data_map=False).") from None


def find_label_issues(
    config: TrainConfig,
    *,
    folds: int = 5,
    data_map: bool = False,
    train_df: pd.DataFrame | None = None,
    work_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: Callable[[FoldEvent], None] | None = None,
    stop=None,
    policy: FolderPolicy = DEFAULT_POLICY,
) -> LabelIssues | None:
    """Find the training examples whose given label is probably wrong.

    Thorough (default): out-of-sample predictions of every example by K-fold cross-validation, each fold a real
    :func:`kdemo.train` run with ``config``'s settings (:mod:`kdemo.run.label_issues.cross_val`), given to cleanlab's
    confident learning through the task's adapter (the spec's ``label_issues`` role): ``cleanlab.filter`` for
    single-label, ``cleanlab.multilabel_classification`` for multi-label, ``cleanlab.regression`` for regression and
    ``cleanlab.token_classification`` for NER. Source: Northcutt, Jiang and Chuang 2021, "Confident Learning:
    Estimating Uncertainty in Dataset Labels" (JAIR 70); https://github.com/cleanlab/cleanlab.
    Quick (``data_map=True``): one run's training dynamics (Swayamdipta et al. 2020, "Dataset Cartography"), by
    ``kdemo.run.label_issues.data_map.data_map_issues`` with the same arguments but ``folds``.

    Args:
        config: The run's settings and data (``train_file``, columns, task, model, schedule, epochs, seed);
            ``val_file`` is not used (each fold validates on its held-out examples).
        folds: K of the cross-validation (at least 2, at most the number of examples; K = 5 by default).
        data_map: Use one run's data map instead of K-fold cross-validation.
        train_df: The training table, instead of ``config.train_file`` (the app passes the uploaded table).
        work_dir: Folder where each finished fold is saved (``.npy`` + ``.json``), or None.
        resume: Skip the folds a search of the same settings, data and K saved in ``work_dir``.
        progress: Called with a :class:`~kdemo.run.label_issues.cross_val.FoldEvent` (a ``ProgressEvent`` with
            ``fold``, 0-based, and ``folds``) after every optimizer step and epoch of each fold.
        stop: A ``threading.Event``; once set, the fold in flight stops after its batch and None is returned
            (finished folds stay in ``work_dir``: resume them later).
        policy: Which local model folders ``config.model_name`` may name (the app passes the session's).

    Returns:
        A :class:`~kdemo.run.label_issues.result.LabelIssues` with one row per example of the training data (row =
        0-based data row of the table, or sentence index of a token file), sorted by label quality, lowest first;
        None when stopped.

    Raises:
        DataError: If the task has no labels to check (question answering), ``folds`` is out of range, or the data
            cannot be used (the message names the rows).
        ModelError: If the model cannot be loaded or is refused by ``policy``.
        TrainingError: If a fold's run fails for a reason the user can act on.

    Example:
        >>> issues = kdemo.find_label_issues(kdemo.TrainConfig(train_file="reviews.csv", epochs=2), folds=5)
        >>> issues.to_csv("issues.csv")
        >>> issues.issues.head(10)
    """
    if data_map:
        return _data_map_search()(config, train_df=train_df, work_dir=work_dir, resume=resume, progress=progress,
                                  stop=stop, policy=policy)
    started = time.monotonic()
    data = read_data(config, train_df)
    examples = examples_for(data)
    found = cross_val_predictions(config, examples, folds=folds, work_dir=work_dir, resume=resume, progress=progress,
                                  stop=stop, policy=policy)
    if found is None:
        return None
    scores = data.spec.load("label_issues")(examples.labels, found.predictions, examples.class_names)
    texts = examples.texts()
    positions = scores["position"].to_numpy()
    table = pd.DataFrame({"row": positions, "text": [texts[i] for i in positions], "given_label": scores["given"],
                          "suggested_label": scores["suggested"], "label_quality": scores["label_quality"],
                          "is_issue": scores["is_issue"]})
    if "word" in scores.columns:
        table["word"] = scores["word"].to_numpy()
    return LabelIssues(task=data.spec.task.value, method=CROSS_VALIDATION, folds=folds,
                       seconds=time.monotonic() - started, class_names=examples.class_names, table=table)

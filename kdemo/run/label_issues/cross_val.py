"""Out-of-sample predictions of every training example by K-fold cross-validation, each fold a real run.

Confident learning needs, for each example, the prediction of a model that never trained on it (Northcutt et al.
2021, section 4; cleanlab's ``estimate_cv_predicted_probabilities``): the examples are split into K folds, and fold k
trains with the run's settings (:func:`kdemo.train`: the same model, schedule, epochs, seed) on the other K-1 folds,
validates on fold k, then predicts fold k with the fold's predictor. Progress events carry the fold; Stop ends the
fold in flight and the search (its half-trained model is not kept); with a ``work_dir`` each finished fold is saved
(``fold-<k>.npy`` and ``fold-<k>.json``, never pickles) and a rerun with ``resume=True`` skips it.
"""

from __future__ import annotations

import hashlib
import json
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from kdemo.atomic import write_bytes, write_text
from kdemo.errors import DataError
from kdemo.run.label_issues.examples import TableExamples
from kdemo.run.label_issues.token_examples import TokenExamples
from kdemo.memory import release_gpu_memory
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.run.config import TrainConfig
from kdemo.run.data import RunData
from kdemo.run.train import train
from kdemo.tasks import TABLE, TOKENS
from kdemo.training.callbacks import ProgressEvent

#: The examples of each kind of data file (:data:`kdemo.tasks.TABLE` rows, :data:`kdemo.tasks.TOKENS` sentences).
EXAMPLES = {TABLE: TableExamples, TOKENS: TokenExamples}
#: Config fields that do not change a fold's predictions (kept out of the resume fingerprint).
_NOT_IN_FINGERPRINT = ("track", "project", "run_name", "data_name", "quick_baseline", "train_file", "val_file")


@dataclass(frozen=True)
class FoldEvent(ProgressEvent):
    """A :class:`~kdemo.training.callbacks.ProgressEvent` of one fold's run, with the fold it belongs to.

    Attributes:
        fold: 0-based index of the fold in flight.
        folds: K, the number of folds.
    """

    fold: int = 0
    folds: int = 1


@dataclass(frozen=True)
class OutOfSample:
    """Every example's out-of-sample prediction.

    Attributes:
        predictions: Tables: float32 ``(num_examples, num_classes)`` probabilities, or ``(num_examples,)`` predicted
            targets; token files: a list of ``num_examples`` float32 ``(num_words, num_tags)`` arrays.
        fold_of: The fold each example was held out in, int ``(num_examples,)``.
        folds: K.
        reused: Folds read back from ``work_dir`` instead of trained.
    """

    predictions: object
    fold_of: np.ndarray
    folds: int
    reused: tuple[int, ...] = ()


def examples_for(data: RunData):
    """The examples of a run's data: :class:`~kdemo.run.label_issues.examples.TableExamples` for a table,
    :class:`~kdemo.run.label_issues.token_examples.TokenExamples` for a token file.

    Raises:
        DataError: If the data's kind has no labels to check (question answering), or the labels cannot be parsed.
    """
    kind = EXAMPLES.get(data.spec.data_kind)
    if kind is None or not data.spec.label_issues:
        raise DataError(f"Expected a task with labels to check (single-label, multi-label, regression or token "
                        f"classification). Received: {data.spec.title}, whose answers are spans of a context. Find "
                        "label issues in a classification, regression or NER file.")
    return kind(data)


def fold_indices(n: int, folds: int, strata: np.ndarray | None, seed: int) -> list[np.ndarray]:
    """The held-out examples of each fold: stratified by class (scikit-learn's ``StratifiedKFold``) when ``strata``
    is given and every class has at least ``folds`` examples, else ``KFold``; shuffled with ``seed``.

    Args:
        n: Number of examples.
        folds: K, at least 2 and at most ``n``.
        strata: Class id per example ``(n,)``, or None.
        seed: Seed of the shuffle (the run's ``config.seed``).

    Returns:
        K sorted int arrays that partition ``range(n)``.

    Raises:
        DataError: If ``folds`` is not a whole number in ``[2, n]``.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or not 2 <= folds <= n:
        raise DataError(f"Expected folds to be a whole number from 2 to the number of examples ({n}). Received: "
                        f"folds={folds!r}. Use e.g. folds=5.")
    x = np.zeros(n)
    if strata is not None and np.bincount(strata)[np.unique(strata)].min() >= folds:
        splits = StratifiedKFold(int(folds), shuffle=True, random_state=seed).split(x, strata)
    else:
        splits = KFold(int(folds), shuffle=True, random_state=seed).split(x)
    return [np.sort(held) for _, held in splits]


def fold_config(config: TrainConfig, fold: int, folds: int) -> TrainConfig:
    """The settings of fold ``fold`` (0-based): the run's, without the quick baseline, tracked to trackio only if
    the run is, as ``"<run name> fold k/K"`` (k 1-based)."""
    name = config.run_name or config.data_name or "label issues"
    return TrainConfig.from_dict({**config.to_dict(), "quick_baseline": False,
                                  "run_name": f"{name} fold {fold + 1}/{folds}" if config.track else config.run_name})


def fingerprint(config: TrainConfig, examples, folds: int) -> str:
    """A hash of what a fold's predictions depend on: the settings that change training, K, the texts and the
    given labels. A saved fold is reused only when its fingerprint is the same."""
    settings = {k: v for k, v in config.to_dict().items() if k not in _NOT_IN_FINGERPRINT}
    h = hashlib.sha256(json.dumps({"config": settings, "folds": folds, "n": examples.n}, sort_keys=True,
                                  default=str).encode())
    for text, given in zip(examples.texts(), examples.given()):
        h.update(text.encode("utf-8", "replace") + b"\x00" + given.encode("utf-8", "replace") + b"\x01")
    return h.hexdigest()


def _save_fold(work_dir: Path, fold: int, key: str, held: np.ndarray, predictions, examples) -> None:
    array, lengths = examples.pack(predictions)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(work_dir / f"fold-{fold}.npy", buffer.getvalue())
    write_text(work_dir / f"fold-{fold}.json", json.dumps(  # written last: its presence marks the fold finished
        {"fold": fold, "key": key, "held": held.tolist(), "lengths": lengths, "class_names": list(examples.class_names)}))


def _load_fold(work_dir: Path, fold: int, key: str, held: np.ndarray, examples):
    """The saved predictions of ``fold``, or None when they are missing, unreadable or of another search."""
    try:
        meta = json.loads((work_dir / f"fold-{fold}.json").read_text(encoding="utf-8"))
        if meta.get("key") != key or meta.get("held") != held.tolist():
            return None
        array = np.load(work_dir / f"fold-{fold}.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    return examples.unpack(array, meta.get("lengths"))


def cross_val_predictions(
    config: TrainConfig,
    examples,
    *,
    folds: int = 5,
    work_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: Callable[[FoldEvent], None] | None = None,
    stop=None,
    policy: FolderPolicy = DEFAULT_POLICY,
) -> OutOfSample | None:
    """Out-of-sample predictions of every example by K-fold cross-validation (Northcutt et al. 2021), each fold one
    :func:`kdemo.train` run with ``config``'s settings.

    Args:
        config: The run's settings (model, schedule, epochs, seed, ...); ``val_file`` and ``val_pct`` are not used
            (each fold validates on its held-out examples).
        examples: From :func:`examples_for`.
        folds: K (at least 2, at most the number of examples).
        work_dir: Folder where each finished fold is saved (``fold-<k>.npy`` + ``fold-<k>.json``), or None.
        resume: Reuse the folds saved in ``work_dir`` by a search of the same settings, data and K.
        progress: Called with a :class:`FoldEvent` after every optimizer step and epoch of each fold's run.
        stop: A ``threading.Event``; once set, the fold in flight stops after its current batch and the search ends
            (finished folds stay saved in ``work_dir``).
        policy: Which local model folders ``config.model_name`` may name.

    Returns:
        The :class:`OutOfSample` predictions, or None when ``stop`` was set before the last fold finished.

    Raises:
        DataError: If ``folds`` is out of range or a fold's data cannot be used (rows named).
        ModelError: If the model cannot be loaded.
        TrainingError: If a fold's run fails for a reason the user can act on.
    """
    held_sets = fold_indices(examples.n, folds, examples.strata, config.seed)
    key = fingerprint(config, examples, folds)
    folder = Path(work_dir) if work_dir is not None else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    pieces, reused = [], []
    fold_of = np.zeros(examples.n, dtype=np.int64)
    for k, held in enumerate(held_sets):
        fold_of[held] = k
        saved = _load_fold(folder, k, key, held, examples) if resume and folder is not None else None
        if saved is not None:
            pieces.append((held, saved))
            reused.append(k)
            continue
        if stop is not None and stop.is_set():
            return None
        train_idx = np.setdiff1d(np.arange(examples.n), held)

        def on_progress(event: ProgressEvent, k: int = k) -> None:
            if progress is not None:
                progress(FoldEvent(**{f.name: getattr(event, f.name) for f in fields(ProgressEvent)}, fold=k,
                                   folds=folds))

        result = train(fold_config(config, k, folds), data=examples.fold_data(train_idx, held), progress=on_progress,
                       stop=stop, policy=policy)
        if result is None or (stop is not None and stop.is_set()):
            return None  # a stopped fold's model is half-trained: its predictions are not kept
        predictions = examples.predict(result.predictor, held)
        del result
        release_gpu_memory()  # the fold's model and optimizer go before the next fold builds its own
        if folder is not None:
            _save_fold(folder, k, key, held, predictions, examples)
        pieces.append((held, predictions))
    return OutOfSample(predictions=examples.combine(pieces), fold_of=fold_of, folds=folds, reused=tuple(reused))

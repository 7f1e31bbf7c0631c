"""Everything that defines one training run, as explicit, validated, JSON-round-tripping data."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from kdemo.device import PRECISIONS
from kdemo.errors import DataError, TrainingError
from kdemo.modeling.classifier import DEFAULT_MODEL_ID
from kdemo.tasks import SPECS, Task, check_task

#: Learning-rate schedules :func:`kdemo.train` runs, by the name kept in ``training_params.json``.
ONE_CYCLE, AUTOFIT, SGDR = "one_cycle", "autofit", "sgdr"
SCHEDULES = (ONE_CYCLE, AUTOFIT, SGDR)
#: Human-readable description of each schedule (for records, the CLI and the model card).
SCHEDULE_NAMES = {
    ONE_CYCLE: "one-cycle (warmup, cosine decay; momentum cycled)",
    AUTOFIT: "autofit (triangular cycle per epoch, early stopping, plateau cuts)",
    SGDR: "SGDR (cosine annealing with warm restarts)",
}
#: Class weighting choices (single-label only): none, or ``"balanced"`` (scikit-learn's formula).
CLASS_WEIGHTS = (None, "balanced")
#: Bumped when a field changes meaning; :meth:`TrainConfig.from_dict` refuses newer versions.
CONFIG_VERSION = 1


def _int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise TrainingError(f"Expected {name} to be a whole number. Received: {name}={value!r}.")
    try:
        number = float(value)
    except ValueError:
        raise TrainingError(f"Expected {name} to be a whole number. Received: {name}={value!r}.") from None
    if not math.isfinite(number) or not number.is_integer():
        raise TrainingError(f"Expected {name} to be a whole number. Received: {name}={value!r}.")
    return int(number)


def _float(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TrainingError(f"Expected {name} to be a number. Received: {name}={value!r}.") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise TrainingError(f"Expected {name} to be a finite number. Received: {name}={value!r}.")
    return number


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one fine-tuning run; validated (and normalised) on construction, JSON round-trip safe.

    The data can come from files (``train_file``, ``val_file``) or, in the app and from Python, from DataFrames
    handed to :func:`kdemo.train` (then ``data_name`` names them in the records and ``train_file`` stays None).

    Attributes:
        train_file: Training table (CSV, TSV, JSONL, Parquet, XLSX), or None when a DataFrame is passed to ``train``.
        val_file: Validation table; None splits ``val_pct`` of the training rows off (stratified for single-label).
        hub_dataset: A dataset repo id on the Hugging Face Hub to train on instead of ``train_file`` (read through its
            Parquet files: :func:`kdemo.data.hub_datasets.fetch_hub_dataset`; the token comes from ``HF_TOKEN`` or
            the cached login, never from the config). The model card's ``datasets:`` metadata names it.
        hub_config: The dataset's config (subset); None takes its first.
        hub_split: The split trained on (default ``"train"``); ``val_pct`` of it is held out for validation.
        hub_revision: Branch, tag or commit of the dataset; None is main.
        hub_max_rows: Read at most this many rows of the split (None: all); the run's notices say when rows were
            left out.
        data_name: Display name of the data (e.g. the uploaded file's name); defaults to ``train_file``'s name (or
            ``hub_dataset``).
        text_column: Column with the texts; None guesses it.
        text_pair_column: Column with the second text of sentence pairs (e.g. the hypothesis of NLI, the second
            sentence of STS), or None for single texts.
        label_columns: Label column(s): one column (a class, ``a|b`` label lists or a number), or several 0/1
            columns (multi-label). Empty guesses one column.
        val_pct: Fraction 0–1 of the training rows held out for validation when there is no ``val_file``.
        seed: Seed of the split, the head's initialisation, dropout and the batch order.
        task: The :class:`~kdemo.tasks.Task` (given as the enum or its value, one of :data:`kdemo.tasks.SPECS`:
            ``"single_label"``, ``"multi_label"``, ``"regression"``, ``"token_classification"``, whose ``train_file``
            is a CoNLL/BIO text file or JSONL of tokens and tags); kept as the enum, written as its value by
            :meth:`to_dict`. None detects it from the file (:func:`kdemo.data.sniff.sniff`) or the labels.
        model_name: Hub id or local folder of the checkpoint (default: the embedded all-MiniLM-L6-v2).
        maxlen: Maximum tokens per text (special tokens included); None picks the length covering 95 % of texts.
            For question answering, the tokens of one window (question + context + special tokens; 384 when None,
            as HF's ``run_qa``).
        doc_stride: Question answering: tokens of context two consecutive windows of a long context share (HF
            ``run_qa``'s ``doc_stride``, 128 by default); ignored by the other tasks.
        batch_size: Training rows per optimizer step (the global batch).
        epochs: Passes over the training data (one-cycle, autofit); for SGDR, the number of cycles.
        lr: Peak learning rate, per optimizer step.
        schedule: ``"one_cycle"`` (default), ``"autofit"`` or ``"sgdr"`` (see :data:`SCHEDULE_NAMES`).
        early_stopping: autofit: patience in epochs before stopping (None: off when ``epochs`` is set).
        reduce_on_plateau: autofit: epochs without improvement before the peak learning rate is halved (None: off).
        cycle_len: SGDR: epochs in the first cycle.
        cycle_mult: SGDR: growth factor of each next cycle's length.
        freeze_lower: Fraction 0–1 of the transformer blocks frozen, with the embeddings, before training; 0 (the
            default, as ktrain and Trainer) trains every layer.
        class_weight: None, or ``"balanced"`` to weight single-label classes (or, for token classification, tags)
            inversely to their frequency.
        precision: ``"auto"`` (bf16 autocast where the hardware runs it natively), ``"bf16"`` or ``"fp32"``.
        weight_decay: AdamW's decoupled weight decay (per optimizer step, scaled by the learning rate); 0 (the
            default) as in ktrain (until ``set_weight_decay``) and Trainer.
        compile: Run the training forward pass through ``torch.compile`` (lengths padded to multiples of 16 so that
            few graphs are compiled; see :meth:`kdemo.modeling.step.FastTrainStep.set_compile`). Off by default:
            compiling takes tens of seconds and pays back only on long runs (bench/RESULTS.md).
        quick_baseline: Also train ktrain's NBSVM (a bag-of-bigrams linear model, seconds on a CPU) on the same training
            rows and score it on the same validation rows, so the report shows what fine-tuning buys (single-label
            classification; other tasks say it does not apply). Off by default.
        track: Log the run to trackio (config, every step's loss and learning rate, validation and final metrics;
            :class:`~kdemo.training.callbacks.tracking.TrackioTracker`); False turns tracking off.
        project: trackio project the run is logged under (None: ``"kdemo"``).
        run_name: Name of the run in trackio (None: trackio picks one).

    Raises:
        TrainingError: If a value has the wrong type or is out of range (the message names the field and the range).

    Example:
        >>> cfg = TrainConfig(train_file="reviews.csv", label_columns=("label",), epochs=2)
        >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
        True
    """

    train_file: str | None = None
    val_file: str | None = None
    hub_dataset: str | None = None
    hub_config: str | None = None
    hub_split: str = "train"
    hub_revision: str | None = None
    hub_max_rows: int | None = None
    data_name: str | None = None
    text_column: str | None = None
    text_pair_column: str | None = None
    label_columns: tuple[str, ...] = ()
    val_pct: float = 0.1
    seed: int = 0
    task: Task | None = None
    model_name: str = DEFAULT_MODEL_ID
    maxlen: int | None = None
    doc_stride: int = 128
    batch_size: int = 32
    epochs: int = 1
    lr: float = 1e-4
    schedule: str = ONE_CYCLE
    early_stopping: int | None = None
    reduce_on_plateau: int | None = None
    cycle_len: int = 1
    cycle_mult: int = 1
    freeze_lower: float = 0.0
    class_weight: str | None = None
    precision: str = "auto"
    weight_decay: float = 0.0
    compile: bool = False
    quick_baseline: bool = False
    track: bool = True
    project: str | None = None
    run_name: str | None = None

    def __post_init__(self):
        def put(name: str, value) -> None:
            object.__setattr__(self, name, value)

        for name in ("train_file", "val_file", "data_name", "text_column", "text_pair_column", "hub_dataset",
                     "hub_config", "hub_revision", "hub_split", "project", "run_name"):
            value = getattr(self, name)
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if value is not None and not isinstance(value, str):
                raise TrainingError(f"Expected {name} to be text or None. Received: {name}={value!r}.")
            put(name, (value.strip() or None) if isinstance(value, str) else None)
        labels = self.label_columns
        labels = (labels,) if isinstance(labels, str) else tuple(labels or ())
        if not all(isinstance(c, str) and c.strip() for c in labels):
            raise TrainingError(f"Expected label_columns to be column names. Received: label_columns={self.label_columns!r}.")
        put("label_columns", tuple(c.strip() for c in labels))
        put("model_name", (str(self.model_name or "").strip() or DEFAULT_MODEL_ID))
        for name in ("seed", "batch_size", "epochs", "cycle_len", "cycle_mult", "doc_stride"):
            put(name, _int(getattr(self, name), name))
        put("hub_split", self.hub_split or "train")
        for name in ("maxlen", "early_stopping", "reduce_on_plateau", "hub_max_rows"):
            if getattr(self, name) is not None:
                put(name, _int(getattr(self, name), name))
        for name in ("val_pct", "lr", "freeze_lower", "weight_decay"):
            put(name, _float(getattr(self, name), name))
        if not isinstance(self.compile, bool):
            raise TrainingError(f"Expected compile to be True or False. Received: compile={self.compile!r}.")
        put("compile", bool(self.compile))
        if not isinstance(self.quick_baseline, bool):
            raise TrainingError(f"Expected quick_baseline to be True or False. Received: quick_baseline={self.quick_baseline!r}.")
        if not isinstance(self.track, bool):
            raise TrainingError(f"Expected track to be True or False. Received: track={self.track!r}.")
        checks = [
            (self.maxlen is None or 8 <= self.maxlen <= 4096, "maxlen", "between 8 and 4096 tokens, or None for automatic"),
            (1 <= self.batch_size <= 4096, "batch_size", "between 1 and 4096"),
            (1 <= self.doc_stride < 4096, "doc_stride", "between 1 and 4095 tokens, below maxlen (e.g. 128 with maxlen 384)"),
            (1 <= self.epochs <= 1000, "epochs", "between 1 and 1000"),
            (0 < self.lr < 1, "lr", "between 0 and 1 (e.g. 1e-4)"),
            (0 < self.val_pct < 1, "val_pct", "between 0 and 1 (e.g. 0.1)"),
            (0 <= self.freeze_lower <= 1, "freeze_lower", "between 0 and 1 (0 trains every layer)"),
            (0 <= self.weight_decay < 1, "weight_decay", "between 0 and 1 (e.g. 0.01)"),
            (self.seed >= 0, "seed", "0 or more"),
            (self.schedule in SCHEDULES, "schedule", f"one of {SCHEDULES}"),
            (self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}"),
            (self.class_weight in CLASS_WEIGHTS, "class_weight", "None or 'balanced'"),
            (self.early_stopping is None or self.early_stopping >= 1, "early_stopping", "1 or more epochs, or None"),
            (self.reduce_on_plateau is None or self.reduce_on_plateau >= 1, "reduce_on_plateau", "1 or more epochs, or None"),
            (self.cycle_len >= 1 and self.cycle_mult >= 1, "cycle_len and cycle_mult", "1 or more"),
            (self.text_pair_column is None or self.text_pair_column != self.text_column, "text_pair_column",
             "a column other than text_column"),
            (self.val_file is None or self.train_file is not None, "val_file", "to come with a train_file"),
            (self.hub_dataset is None or self.train_file is None, "hub_dataset", "None when a train_file is given"),
            (self.hub_max_rows is None or self.hub_max_rows >= 1, "hub_max_rows", "1 or more rows, or None for all"),
        ]
        if self.task is not None:
            try:
                put("task", check_task(self.task))
            except DataError:
                raise TrainingError(f"Expected task one of {tuple(t.value for t in SPECS)}, or None to detect it. "
                                    f"Received: task={self.task!r}.") from None
        for ok, name, expected in checks:
            if not ok:
                shown = getattr(self, name, None) if hasattr(self, name) else (self.cycle_len, self.cycle_mult)
                raise TrainingError(f"Expected {name} {expected}. Received: {name}={shown!r}.")
        if self.data_name is None and self.train_file is not None:
            put("data_name", Path(self.train_file).name)
        if self.data_name is None and self.hub_dataset is not None:
            put("data_name", self.hub_dataset)

    @property
    def schedule_name(self) -> str:
        """Human-readable schedule, e.g. ``"one-cycle (warmup, cosine decay; momentum cycled)"``."""
        return SCHEDULE_NAMES[self.schedule]

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` applied, validated again.

        Args:
            **changes: Field values to replace.

        Returns:
            The new config.

        Raises:
            TrainingError: On an unknown field or an invalid value.
        """
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict:
        """JSON-ready form (``label_columns`` as a list, ``task`` as its value); :meth:`from_dict` reads it back to an
        equal config."""
        data = asdict(self)
        data["label_columns"] = list(self.label_columns)
        data["task"] = None if self.task is None else self.task.value
        return data

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Build a config from :meth:`to_dict`'s form, or from a ``training_params.json`` (its ``"config"`` entry).

        Args:
            data: The JSON object.

        Returns:
            The config.

        Raises:
            TrainingError: On an unknown field, a newer config version, or an invalid value.
        """
        if not isinstance(data, dict):
            raise TrainingError(f"Expected a JSON object of training settings. Received: {type(data).__name__}.")
        if "config" in data and isinstance(data["config"], dict):  # a whole training_params.json
            version = data.get("config_version", CONFIG_VERSION)
            if not isinstance(version, int) or version > CONFIG_VERSION:
                raise TrainingError(
                    f"Expected a training_params.json of config version {CONFIG_VERSION} or older. Received: version "
                    f"{version!r}. Update kdemo to read it."
                )
            data = data["config"]
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainingError(f"Expected only TrainConfig fields ({', '.join(sorted(known))}). Received: {unknown}.")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a config from a JSON file: :meth:`to_dict`'s form or a saved run's ``training_params.json``.

        Args:
            path: The file.

        Returns:
            The config.

        Raises:
            TrainingError: If the file is missing, not JSON, or not a valid config.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingError(f"Expected a training_params.json or config file. Received: {str(path)!r}, which does not exist.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TrainingError(f"Expected a JSON file of training settings. Received: {str(path)!r} ({exc}).") from None
        return cls.from_dict(data)

"""What a training run returns, and the one schema of ``training_params.json`` for every task and front door."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import keras

import kdemo.atomic as atomic
from kdemo.device import describe_device, resolve_precision
from kdemo.distributed.context import current
from kdemo.errors import TrainingError
from kdemo.evaluation.sanity import Baseline
from kdemo.hub.card import framework_versions, write_model_card
from kdemo.hub.folder import PARAMS_FILE, without_local_paths
from kdemo.inference.predictor import load_predictor
from kdemo.modeling.freezing import num_blocks
from kdemo.record import TrainingRecord
from kdemo.run.config import CONFIG_VERSION, TrainConfig
from kdemo.tasks import spec_for

#: The optimizer every run uses (see :class:`kdemo.training.optimizer.FusedAdamW`).
OPTIMIZER = "AdamW (torch fused kernel)"


def training_params(config: TrainConfig, *, data, preproc, learner, record: TrainingRecord, metrics: dict,
                    languages, seconds: float) -> dict:
    """The content of ``training_params.json``: the same keys for every task, whichever front door ran it.

    Args:
        config: The run's settings.
        data: The run's :class:`~kdemo.run.train.RunData` (columns as resolved).
        preproc: The fitted :class:`~kdemo.text.preprocessor.Transformer`.
        learner: The learner after fitting.
        record: The run's :class:`~kdemo.record.TrainingRecord`.
        metrics: Numeric validation metrics (task-dependent names, e.g. ``accuracy`` or ``micro_f1`` or ``r2``).
        languages: The :class:`~kdemo.data.languages.LanguageReport` of the training texts.
        seconds: Wall-clock seconds from reading the data to the end of validation.

    Returns:
        ``{"config_version", "config", "resolved", "metrics", "environment"}``: ``config`` is
        :meth:`TrainConfig.to_dict` (so ``TrainConfig.from_json`` reproduces the run), ``resolved`` what kdemo chose
        or detected (task, columns, classes, maxlen, precision, steps, freezing, batch after an out-of-memory
        back-off), ``environment`` the device and library versions.
    """
    frozen = learner.frozen_blocks
    resolved = {
        "task": str(learner.task),
        "text_column": data.text_column,
        "text_pair_column": data.text_pair_column,
        "label_columns": list(data.label_columns),
        "class_names": list(preproc.get_classes()),
        "maxlen": int(preproc.maxlen),
        "precision": resolve_precision(config.precision),
        "schedule": config.schedule_name,
        "optimizer": f"{OPTIMIZER}, weight decay {config.weight_decay:g}",
        "batch_size": int(learner.batch_size),
        "gradient_accumulation_steps": int(learner.accumulation_steps),
        "class_weight": config.class_weight if learner.spec.class_weight else None,
        "frozen": (f"embeddings and the lowest {frozen} of {num_blocks(learner.model)} blocks" if frozen
                   else "nothing (every layer trained)"),
        "train_rows": record.train_rows,
        "val_rows": record.val_rows,
        "steps": len(record.step_losses),
        "total_steps": record.total_steps,
        "epochs_run": len(record.epochs),
        "stopped_early": bool(learner.stopped_early),
        "languages": dict(languages.languages),
        "unk_share": None if languages.unk_share is None else round(float(languages.unk_share), 4),
        "training_seconds": round(float(seconds), 1),
    }
    return {
        "config_version": CONFIG_VERSION,
        "config": config.to_dict(),
        "resolved": resolved,
        "metrics": dict(metrics),
        "environment": {"device": describe_device(), **framework_versions()},
    }


@dataclass
class TrainResult:
    """The outcome of :func:`kdemo.train`.

    Attributes:
        config: The run's settings.
        predictor: The fine-tuned :class:`~kdemo.Predictor` (shares the learner's weights).
        report: kdemo's validation report for the task (``ClassificationReport``, ``MultiLabelReport`` or
            ``RegressionReport``).
        history: The Keras ``History`` of the fit.
        notices: Messages for the user (e.g. an out-of-memory retry with a smaller batch), oldest first.
        record: The :class:`~kdemo.record.TrainingRecord` (per-epoch values, step losses, class balance, evaluation).
        params: The content of ``training_params.json`` (see :func:`training_params`).
        learner: The learner, for the lower-level API (top losses, more fitting, plots).
        baseline: The validation score of the task's constant guess
            (:class:`~kdemo.evaluation.sanity.Baseline`), or None without validation data.
        warnings: Why the model seems to have learned nothing (:func:`kdemo.evaluation.sanity.health_check`:
            one class for everything, a score at or below the baseline, a loss that did not fall); empty when healthy.
    """

    config: TrainConfig
    predictor: object
    report: object
    history: keras.callbacks.History
    notices: list[str] = field(default_factory=list)
    record: TrainingRecord | None = None
    params: dict = field(default_factory=dict)
    learner: object = None
    baseline: Baseline | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def num_layers(self) -> int:
        """Transformer layers of the trained model (from the predictor's transformers config)."""
        return int(self.predictor.model.config.num_hidden_layers)

    @property
    def num_heads(self) -> int:
        """Attention heads per layer of the trained model (from the predictor's transformers config)."""
        return int(self.predictor.model.config.num_attention_heads)

    def top_losses(self, n: int):
        """The ``n`` validation examples with the highest loss, as a DataFrame (the learner's
        ``top_losses_table``), or None when the result holds no learner (a run loaded from its folder)."""
        return None if self.learner is None else self.learner.top_losses_table(n)

    @property
    def metrics(self) -> dict:
        """The numeric validation metrics (the ``"metrics"`` of :attr:`params`)."""
        return dict(self.params.get("metrics", {}))

    def save(self, folder: str | os.PathLike, *, repo_id: str | None = None) -> Path:
        """Write the run's folder: the predictor, ``training_results.json`` and its images, ``training_params.json``
        and the model card (``README.md``), in one crash-safe step (:func:`kdemo.atomic.atomic_folder`).

        Data files and a base model given as a local folder are written as ``local:<name>``
        (:func:`kdemo.hub.card.without_local_paths`), so that the folder can be zipped or pushed without revealing
        the machine's folders; ``python -m kdemo train --config`` then asks for them again. Under torchrun only rank
        0 writes; the other ranks return at once (no collective, so that a script may also call it on rank 0 only).

        Args:
            folder: Destination folder (created or replaced).
            repo_id: Hub repo id the card's snippets name (default: the folder's name).

        Returns:
            The folder's path. It loads with :func:`kdemo.load_predictor` and ``transformers.pipeline``.
        """
        dest = Path(folder).expanduser().resolve()
        if not current().is_main:  # data parallelism: rank 0 alone writes
            return dest
        with atomic.atomic_folder(dest) as tmp:
            self.predictor.write(tmp)
            if self.record is not None:
                self.record.save(tmp)
            atomic.write_text(tmp / PARAMS_FILE, json.dumps(without_local_paths(self.params), indent=2, default=str))
            write_model_card(tmp, repo_id=repo_id or dest.name)
        return dest


def load_result(folder: str | os.PathLike) -> TrainResult:
    """A finished run read back from the folder :meth:`TrainResult.save` wrote (e.g. by ``python -m kdemo train``
    under torchrun): its predictor, ``training_params.json`` and record, and the validation report rebuilt from the
    record's evaluation (the task's report class, ``TaskSpec.report``). Nothing is prepared or validated again.

    Args:
        folder: The run's folder.

    Returns:
        The :class:`TrainResult`, without ``history`` and ``learner`` (None); a regression report has no per-row
        values (the record keeps the metrics only).

    Raises:
        ModelError: If the folder holds no loadable predictor.
        TrainingError: If it holds no ``training_params.json`` or a damaged one.
    """
    folder = Path(folder)
    predictor = load_predictor(folder)
    try:
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainingError(f"Expected a run's {PARAMS_FILE} in {str(folder)!r}. Received: {exc}. Train it again.") from None
    record = TrainingRecord.load(folder)
    evaluation = record.evaluation if record is not None else None
    report = spec_for(predictor.task).load("report").from_dict(evaluation) if evaluation else None
    base = Baseline.from_dict(params["baseline"]) if params.get("baseline") else None
    return TrainResult(config=TrainConfig.from_dict(params), predictor=predictor, report=report, history=None,
                       record=record, params=params, baseline=base, warnings=list(params.get("warnings") or []))

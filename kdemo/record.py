"""What a training run leaves behind for its model card: per-epoch results, loss curve, class balance, evaluation.

A :class:`TrainingRecord` is written into a predictor folder as ``training_results.json`` plus two images,
``training_curve.png`` and ``confusion_matrix.png``; the model card (:mod:`kdemo.hub.card`) reads them from there,
so the card, the zip and the pushed repo all describe the same run. Nothing here holds secrets or local paths.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import kdemo.atomic as atomic
from kdemo.plots import confusion_matrix_figure, loss_curve_figure
from kdemo.tasks import Task, TaskSpec, spec_for

RECORD_FILE = "training_results.json"
CURVE_FILE = "training_curve.png"
CONFUSION_FILE = "confusion_matrix.png"
_DPI = 110


def _counts(labels, class_names: list[str], layout: str) -> dict[str, int]:
    """Examples per class, by the task's label layout (``TaskSpec.label_layout``): rows per class (``"class"``), rows
    carrying each label (``"multi_hot"``), words per tag (``"word_tags"``: the labelled first sub-words of every
    window), or {} (``"target"``, ``"spans"``, or no labels)."""
    if labels is None or layout in ("target", "spans"):
        return {}
    if layout == "word_tags":
        ids = np.concatenate([np.asarray(w, dtype=np.int64) for w in labels]) if len(labels) else np.zeros(0, np.int64)
        counts = np.bincount(ids[ids >= 0], minlength=len(class_names))
        return {name: int(n) for name, n in zip(class_names, counts)}
    values = np.asarray(labels)
    if values.ndim == 2:  # multi-hot, shape (num_rows, num_classes)
        counts = (values > 0.5).sum(axis=0)
    else:
        ids = values.astype(np.int64)
        counts = np.bincount(ids, minlength=len(class_names)) if ids.size else np.zeros(len(class_names), np.int64)
    return {name: int(n) for name, n in zip(class_names, counts)}


def _target_stats(labels, layout: str) -> dict[str, float]:
    """Count, mean, standard deviation, minimum and maximum of a target (``"target"`` label layout); {} otherwise."""
    if labels is None or layout != "target":
        return {}
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if not y.size:
        return {}
    return {"rows": int(y.size), "mean": float(y.mean()), "std": float(y.std()), "min": float(y.min()),
            "max": float(y.max())}


def _rows(data) -> int:
    """Rows of a dataset: ktrain's ``nsamples()`` (sentences of a token dataset, not its windows), 0 for None."""
    if data is None:
        return 0
    return int(data.nsamples()) if hasattr(data, "nsamples") else len(data)


@dataclass
class TrainingRecord:
    """Facts of one fine-tuning run, ready for a model card.

    Attributes:
        class_names: Label names in id order (for regression: the target's name).
        task: The task's value (``"single_label"``, ``"multi_label"``, ``"regression"``, ``"token_classification"``);
            :attr:`spec` is its :class:`~kdemo.tasks.TaskSpec`.
        epochs: One dict per finished epoch: ``epoch`` (1-based), ``step`` (optimizer steps so far) and the Keras
            History values of that epoch (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ...).
        step_losses: Training loss of every optimizer step.
        val_points: ``(step, validation loss)`` pairs, one per epoch.
        total_steps: Optimizer steps planned (more than ``len(step_losses)`` when stopped early).
        train_rows: Rows in the training split (sentences for token classification).
        val_rows: Rows in the validation split.
        train_counts: Training examples per class, by the spec's ``label_layout`` (rows per class, rows carrying each
            label, words per tag; empty for a target).
        val_counts: Validation rows per class, likewise.
        target_stats: Targets only (``label_layout`` ``"target"``): ``{"train": {...}, "validation": {...}}`` with
            rows, mean, std, min, max.
        evaluation: The validation report's ``to_dict()`` (classification, multi-label or regression), or None.
    """

    class_names: list[str]
    task: str = Task.SINGLE_LABEL
    epochs: list[dict[str, float]] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    val_points: list[tuple[int, float]] = field(default_factory=list)
    total_steps: int | None = None
    train_rows: int = 0
    val_rows: int = 0
    train_counts: dict[str, int] = field(default_factory=dict)
    val_counts: dict[str, int] = field(default_factory=dict)
    target_stats: dict[str, dict[str, float]] = field(default_factory=dict)
    evaluation: dict | None = None

    @property
    def spec(self) -> TaskSpec:
        """The :class:`~kdemo.tasks.TaskSpec` of :attr:`task`."""
        return spec_for(self.task)

    @classmethod
    def from_learner(cls, learner, report=None, *, val_points=None, total_steps: int | None = None) -> TrainingRecord:
        """Collect the record of the learner's last ``fit``.

        Args:
            learner: A :class:`kdemo.Learner` after training (its ``history``, ``step_losses``, data).
            report: The validation report (``learner.validation_report()``), if computed.
            val_points: ``(step, val_loss)`` pairs as drawn live; by default one per epoch from the History.
            total_steps: Steps planned; by default the steps run.

        Returns:
            The record.
        """
        class_names = list(learner.train_data.class_names)
        task = str(getattr(learner, "task", Task.SINGLE_LABEL))
        history = dict(getattr(getattr(learner, "history", None), "history", None) or {})
        step_losses = [float(x) for x in (getattr(learner, "step_losses", None) or [])]
        num_epochs = len(history.get("loss", [])) or max((len(v) for v in history.values()), default=0)
        # ktrain's per-step traces (lr, momentum, iterations) are not per-epoch quantities
        history = {k: v for k, v in history.items() if len(v) <= num_epochs}
        steps_per_epoch = len(step_losses) / num_epochs if num_epochs else 0
        epochs = []
        for i in range(num_epochs):
            row: dict[str, float] = {"epoch": i + 1, "step": min(len(step_losses), round(steps_per_epoch * (i + 1)))}
            row.update({k: float(v[i]) for k, v in history.items() if i < len(v)})
            epochs.append(row)
        if val_points is None:
            val_points = [(int(r["step"]), r["val_loss"]) for r in epochs if "val_loss" in r]
        val_labels = getattr(getattr(learner, "val_data", None), "labels", None)
        layout = spec_for(task).label_layout
        stats = {"train": _target_stats(learner.train_data.labels, layout),
                 "validation": _target_stats(val_labels, layout)}
        return cls(
            class_names=class_names,
            task=task,
            epochs=epochs,
            step_losses=step_losses,
            val_points=[(int(s), float(v)) for s, v in val_points],
            total_steps=int(total_steps) if total_steps else len(step_losses) or None,
            train_rows=_rows(learner.train_data),
            val_rows=_rows(getattr(learner, "val_data", None)),
            train_counts=_counts(learner.train_data.labels, class_names, layout),
            val_counts=_counts(val_labels, class_names, layout),
            target_stats={k: v for k, v in stats.items() if v},
            evaluation=report.to_dict() if report is not None else None,
        )

    def save(self, folder: str | os.PathLike) -> list[Path]:
        """Write ``training_results.json``, ``training_curve.png`` and (with an evaluation) ``confusion_matrix.png``.

        Args:
            folder: The predictor folder.

        Returns:
            The paths written.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / RECORD_FILE]
        atomic.write_text(written[0], json.dumps(asdict(self), indent=2))
        if self.step_losses or self.val_points:
            fig = loss_curve_figure(self.step_losses, self.total_steps, self.val_points)
            with atomic.atomic_file(folder / CURVE_FILE) as tmp:
                fig.savefig(tmp, dpi=_DPI)
            written.append(folder / CURVE_FILE)
        else:
            (folder / CURVE_FILE).unlink(missing_ok=True)
        entities = (self.evaluation or {}).get("entity_confusion")  # token classification: entity types + "O"
        if self.evaluation is not None and ("confusion_matrix" in self.evaluation or entities):
            matrix = np.asarray(entities["matrix"] if entities else self.evaluation["confusion_matrix"], dtype=np.int64)
            names = entities["labels"] if entities else self.class_names
            with atomic.atomic_file(folder / CONFUSION_FILE) as tmp:
                confusion_matrix_figure(matrix, names).savefig(tmp, dpi=_DPI)
            written.append(folder / CONFUSION_FILE)
        else:
            (folder / CONFUSION_FILE).unlink(missing_ok=True)
        return written

    @classmethod
    def load(cls, folder: str | os.PathLike) -> TrainingRecord | None:
        """Read the record saved in a predictor folder, or None when it has none (e.g. a model loaded from the Hub).

        Raises:
            ValueError: If ``training_results.json`` exists but is not a record.
        """
        path = Path(folder) / RECORD_FILE
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        try:
            data["val_points"] = [tuple(p) for p in data.get("val_points", [])]
            return cls(**data)
        except TypeError as exc:
            raise ValueError(f"Expected a kdemo training record in {path.name}. Received: {exc}.") from None

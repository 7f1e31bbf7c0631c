"""Did the model learn anything? The score a constant guess reaches (the baseline) and the warnings of a run that
learned nothing: one class predicted for (nearly) every row, a score at or below the baseline, a loss that did not
fall.

The baseline is chosen by the validation report's type (the task's ``TaskSpec.report``): the majority class
(single-label), the most common label set (multi-label), the training mean (regression), all ``O`` (token
classification, :func:`kdemo.evaluation.ner.all_o_scores`). :func:`kdemo.train` returns both with its
:class:`~kdemo.run.result.TrainResult` (``baseline``, ``warnings``), so the app, the CLI and Python see them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

from kdemo.evaluation import ner
from kdemo.evaluation.report import ClassificationReport, MultiLabelReport, RegressionReport

#: Share 0–1 of rows predicted as one class above which the model is said to predict one class for everything.
ONE_CLASS_SHARE = 0.95
#: The mean loss of the last quarter of the steps must be below this fraction of the first quarter's.
LOSS_FALL = 0.97
#: Fewest optimizer steps for the loss check (fewer say nothing about a trend).
MIN_LOSS_STEPS = 8


@dataclass(frozen=True)
class Baseline:
    """The validation score of a constant guess.

    Attributes:
        description: What the guess is, e.g. ``"always 'negative' (the majority class)"``.
        metrics: Its validation scores, named as the report's (``accuracy``, ``macro_f1``, ``micro_f1``,
            ``subset_accuracy``, ``mae``, ``r2``, ``f1``), fractions 0–1 or the target's units.
        headline: The key of :attr:`metrics` the model's score is compared with.
        higher_is_better: Whether a higher headline score is better (False for an error such as MAE).
    """

    description: str
    metrics: dict = field(default_factory=dict)
    headline: str = "accuracy"
    higher_is_better: bool = True

    def __str__(self) -> str:
        scores = ", ".join(f"{k.replace('_', '-')} {v:.3f}" for k, v in self.metrics.items())
        return f"{self.description}: {scores}"

    def to_dict(self) -> dict:
        """JSON-ready form (``training_params.json``, the app's store)."""
        return {"description": self.description, "metrics": dict(self.metrics), "headline": self.headline,
                "higher_is_better": self.higher_is_better}

    @classmethod
    def from_dict(cls, data: dict) -> Baseline:
        """The baseline :meth:`to_dict` wrote."""
        return cls(description=str(data["description"]), metrics={k: float(v) for k, v in data["metrics"].items()},
                   headline=str(data["headline"]), higher_is_better=bool(data["higher_is_better"]))


def _single_label(report: ClassificationReport, train_data, val_data) -> Baseline:
    y_train, y_val = np.asarray(train_data.labels).reshape(-1), np.asarray(val_data.labels).reshape(-1)
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(y_train), 1)), y_train)
    pred = dummy.predict(np.zeros((len(y_val), 1)))
    name = report.class_names[int(pred[0])] if len(pred) else "?"
    return Baseline(f"always '{name}' (the majority class)", {
        "accuracy": float(accuracy_score(y_val, pred)),
        "macro_f1": float(f1_score(y_val, pred, average="macro", labels=range(len(report.class_names)), zero_division=0)),
    })


def _multi_label(report: MultiLabelReport, train_data, val_data) -> Baseline:
    y_train, y_val = np.asarray(train_data.labels) >= 0.5, (np.asarray(val_data.labels) >= 0.5).astype(int)
    common = Counter(map(tuple, y_train.astype(int).tolist())).most_common(1)[0][0]
    pred = np.tile(np.asarray(common, dtype=int), (len(y_val), 1))
    names = ", ".join(n for n, on in zip(report.class_names, common) if on) or "no label"
    return Baseline(f"always {{{names}}} (the most common label set)", {
        "micro_f1": float(f1_score(y_val, pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(y_val, pred, average="macro", zero_division=0)),
        "subset_accuracy": float(accuracy_score(y_val, pred)),
    }, headline="micro_f1")


def _regression(report: RegressionReport, train_data, val_data) -> Baseline:
    y_train, y_val = np.asarray(train_data.labels, float).reshape(-1), np.asarray(val_data.labels, float).reshape(-1)
    dummy = DummyRegressor(strategy="mean").fit(np.zeros((len(y_train), 1)), y_train)
    pred = dummy.predict(np.zeros((len(y_val), 1)))
    return Baseline(f"always {float(dummy.constant_[0][0]):.4g} (the training mean)", {
        "mae": float(mean_absolute_error(y_val, pred)),
        "r2": float(r2_score(y_val, pred)) if len(y_val) > 1 else float("nan"),
    }, headline="mae", higher_is_better=False)


def _tokens(report: ner.NERReport, train_data, val_data) -> Baseline:
    return Baseline("every word 'O' (no entity)", ner.all_o_scores(val_data), headline="f1")


#: The baseline of each report type (the task's ``TaskSpec.report``).
BASELINES = {ClassificationReport: _single_label, MultiLabelReport: _multi_label, RegressionReport: _regression,
             ner.NERReport: _tokens}


def baseline(report, train_data, val_data) -> Baseline | None:
    """The validation score of the task's constant guess, for the task of ``report``.

    Args:
        report: The model's validation report (its type picks the guess).
        train_data: The training data (``labels`` or, for token data, ``tags``): the guess is fitted on it.
        val_data: The validation data the report was computed on.

    Returns:
        The :class:`Baseline`, or None without training or validation data or for an unknown report type.
    """
    make = BASELINES.get(type(report))
    if make is None or train_data is None or val_data is None or len(train_data) == 0 or len(val_data) == 0:
        return None
    return make(report, train_data, val_data)


def _one_class(report) -> str | None:
    """The warning of a model that gives (nearly) every row the same prediction, or None."""
    if isinstance(report, ClassificationReport):
        cm = np.asarray(report.confusion_matrix)
        predicted, true = cm.sum(axis=0), cm.sum(axis=1)
        if cm.sum() and (true > 0).sum() > 1 and predicted.max() >= ONE_CLASS_SHARE * cm.sum():
            name = report.class_names[int(predicted.argmax())]
            return (f"The model predicts '{name}' for {predicted.max() / cm.sum():.0%} of the validation rows: it "
                    "learned to give one answer, not to read the texts.")
    if isinstance(report, RegressionReport) and len(report.y_true) > 1:
        spread_true, spread_pred = float(np.std(report.y_true)), float(np.std(report.y_pred))
        if spread_true > 0 and spread_pred < 0.05 * spread_true:
            return (f"The model predicts nearly the same value for every row (spread {spread_pred:.3g}, the targets' "
                    f"{spread_true:.3g}): it learned the average, not to read the texts.")
    if isinstance(report, ner.NERReport):
        return ner.one_tag_warning(report)
    return None


def _below_baseline(report, base: Baseline) -> str | None:
    """The warning of a score at or below the baseline's, or None."""
    key = base.headline
    score = report.to_dict().get(key)
    if score is None or key not in base.metrics or not np.isfinite(score):
        return None
    if (score <= base.metrics[key]) if base.higher_is_better else (score >= base.metrics[key]):
        word = "at or below" if base.higher_is_better else "at or above"
        return (f"Expected a score better than a constant guess. Received: {key.replace('_', '-')} {score:.3f}, "
                f"{word} the baseline's {base.metrics[key]:.3f} ({base.description}).")
    return None


def _loss_flat(step_losses: Sequence[float]) -> str | None:
    """The warning of a training loss that did not fall, or None (too few steps say nothing)."""
    losses = np.asarray([v for v in step_losses if np.isfinite(v)], dtype=np.float64)
    if len(losses) < MIN_LOSS_STEPS:
        return None
    quarter = max(len(losses) // 4, 1)
    first, last = float(losses[:quarter].mean()), float(losses[-quarter:].mean())
    if last >= LOSS_FALL * first:
        return (f"The training loss did not fall (first quarter of the steps {first:.3f}, last quarter {last:.3f}): "
                "the model did not fit the training data.")
    return None


def health_check(report, base: Baseline | None, step_losses: Sequence[float] = ()) -> list[str]:
    """The warnings of a run that learned nothing; empty for a healthy one.

    Args:
        report: The model's validation report.
        base: Its :func:`baseline` (None skips the comparison).
        step_losses: The training loss of every optimizer step, in order.

    Returns:
        Messages (what was expected, what came, what to do), the advice last; ``[]`` when nothing is wrong.
    """
    found = [w for w in (_one_class(report), _below_baseline(report, base) if base is not None else None,
                         _loss_flat(step_losses)) if w]
    if found:
        found.append("What to do: check that the model reads the texts' language (the coverage line next to the "
                     "model), try a lower learning rate or more epochs, and check that the labels match the texts.")
    return found

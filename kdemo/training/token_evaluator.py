"""The token-classification (NER) evaluation strategy: ktrain's evaluation verbs for a sequence tagger
(``validate`` → seqeval's entity report, ``top_losses``/``view_top_losses`` by sentence) and the per-tag class
weights of a fit (applied inside the token loss: a sentence holds many tags)."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.utils.class_weight import compute_class_weight

from kdemo.errors import TrainingError
from kdemo.evaluation import ner as ner_eval
from kdemo.training.evaluator import REPORT_CSV, Evaluator, slice_of


def tag_ids(data) -> np.ndarray:
    """Every labelled tag id of a token dataset (the first sub-word of each word), int64 ``(num_words,)``."""
    if not data.labels:
        return np.zeros(0, dtype=np.int64)
    ids = np.concatenate([np.asarray(labels, dtype=np.int64) for labels in data.labels])
    return ids[ids >= 0]


def tag_weights(class_weight, data) -> list[float] | None:
    """Per-tag loss weights from ``class_weight`` (a ``{tag_id: weight}`` dict or ``"balanced"``).

    ``"balanced"`` is scikit-learn's rule over the labelled words: ``n_words / (n_tags * words_with_tag)``; tags
    absent from the data get 1. A dict may leave tags out (weight 1).

    Args:
        class_weight: None, ``"balanced"`` or ``{tag_id: weight}``.
        data: The training token dataset.

    Returns:
        One weight per tag in ``data.class_names`` order, or None.

    Raises:
        TrainingError: If ``class_weight`` is another string or names a tag id that does not exist.
    """
    if class_weight is None:
        return None
    n = len(data.class_names)
    weights = np.ones(n, dtype=np.float64)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise TrainingError(f"Expected class_weight 'balanced' or a {{tag_id: weight}} dict. Received: {class_weight!r}.")
        y = tag_ids(data)
        present = np.unique(y)
        if present.size:
            weights[present] = compute_class_weight("balanced", classes=present, y=y)
        return weights.tolist()
    for key, value in dict(class_weight).items():
        if not 0 <= int(key) < n:
            raise TrainingError(f"Expected class_weight keys as tag ids 0–{n - 1} ({data.class_names}). Received: {key!r}.")
        weights[int(key)] = float(value)
    return weights.tolist()


class TokenEvaluator(Evaluator):
    """Evaluation of a token classifier (windows of sub-words; one tag per word, scored by entity)."""

    def _token_data(self, val_data, what: str):
        data = val_data if val_data is not None else self.learner.val_data
        if data is None or data.labels is None or data.tags is None:
            raise TrainingError(f"Expected labelled validation data for {what}. Received: none. Pass val_data to "
                                "get_learner() or to this call.")
        return data

    def _outputs(self, data) -> list[np.ndarray]:
        return ner_eval.window_logits(self.model.hf_model, data, batch_size=self.learner.eval_batch_size)

    # ------------------------------------------------------------------ class weights
    def class_weight(self, class_weight) -> None:
        """Set the model's per-tag loss weights (:func:`tag_weights`; None clears them) for the next compile.

        Returns:
            None: the weights live in the loss, not in Keras' per-row ``sample_weight``.
        """
        self.model.tag_weights = tag_weights(class_weight, self.learner.train_data)
        return None

    def balanced_class_weight(self) -> dict[int, float]:
        """scikit-learn's ``"balanced"`` weight per tag id over the labelled words of the training data."""
        return dict(enumerate(tag_weights("balanced", self.learner.train_data)))

    # ------------------------------------------------------------------ verbs
    def predict(self, val_data=None) -> list[list[str]]:
        """The predicted tags of each sentence of the validation (or given) data.

        Raises:
            TrainingError: If there is no validation data.
        """
        data = val_data if val_data is not None else self.learner.val_data
        if data is None:
            raise TrainingError("Expected validation data. Received: none. Pass val_data to get_learner() or to this call.")
        return ner_eval.sentence_tags(data, self._outputs(data), data.class_names)

    def validation_report(self, val_data=None, print_report: bool = False, class_names: Sequence[str] | None = None):
        """The entity-level :class:`~kdemo.evaluation.ner.NERReport` (seqeval strict IOB2 per type, micro/macro,
        token accuracy, entity confusion matrix)."""
        data = self._token_data(val_data, "validation_report")
        report = ner_eval.evaluate_tokens(self.model.hf_model, data, batch_size=self.learner.eval_batch_size,
                                          class_names=class_names)
        if print_report:
            print(report)
        return report

    def validate(self, val_data=None, print_report: bool = True, save_path: str | None = REPORT_CSV,
                 class_names: Sequence[str] | None = None):
        """Print seqeval's entity report (as ktrain's ``_validate_ner``) and return the
        :class:`~kdemo.evaluation.ner.NERReport`; with ``print_report=False`` and a ``save_path`` the per-type
        table is saved as CSV."""
        report = self.validation_report(val_data, print_report=print_report)
        if not print_report and save_path:
            report.per_type.to_csv(save_path)
        return report

    def top_losses(self, n=4, val_data=None, preproc=None) -> list[tuple]:
        """``(sentence_index, loss, true_tags, predicted_tags)`` for every sentence by mean token loss, highest
        first (``n`` as in ktrain)."""
        data = self._token_data(val_data, "top_losses")
        start, end = slice_of(n)
        logits = self._outputs(data)
        losses = ner_eval.sentence_losses(data, logits)
        pred = ner_eval.sentence_tags(data, logits, data.class_names)
        tups = [(i, float(loss), list(data.tags[i]), pred[i]) for i, loss in enumerate(losses)]
        tups.sort(key=operator.itemgetter(1), reverse=True)
        return tups[start:end]

    def view_top_losses(self, n=4, preproc=None, val_data=None) -> None:
        """Print each top-loss sentence's id and loss, then one ``word  true  pred`` line per word (wrong tags
        marked ``<<``)."""
        data = self._token_data(val_data, "view_top_losses")
        for idx, loss, truth, pred in self.top_losses(n=n, val_data=data):
            print("----------")
            print(f"id:{idx} | loss:{round(loss, 2)}\n")
            for word, t, p in zip(data.words[idx], truth, pred):
                print(f"{word}\t{t}\t{p}{'  <<' if t != p else ''}")
        return None

    def top_losses_table(self, n: int = 4, val_data=None) -> pd.DataFrame:
        """``row`` (1-based sentence), ``text`` (the words), ``true`` and ``predicted`` entities (``type: words``)
        and ``loss``, highest loss first."""
        data = self._token_data(val_data, "top_losses_table")

        def entities(words, tags):
            spans = ner_eval.strict_spans([tags])[0]
            return ", ".join(f"{kind}: {' '.join(words[a:b])}" for (a, b), kind in sorted(spans.items()))

        rows = [{"row": i + 1, "text": " ".join(data.words[i]), "true": entities(data.words[i], t),
                 "predicted": entities(data.words[i], p), "loss": loss}
                for i, loss, t, p in self.top_losses(n=n, val_data=data)]
        return pd.DataFrame(rows, columns=["row", "text", "true", "predicted", "loss"])

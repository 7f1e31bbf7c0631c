"""Evaluation of token classifiers: per-word tags from window logits, and the entity-level report (seqeval).

Entity scores are seqeval's strict mode with the IOB2 scheme (``seqeval.metrics.classification_report(...,
mode="strict", scheme=IOB2)``, https://github.com/chakki-works/seqeval): an entity counts only when its type and
its exact span agree, and a predicted ``I-X`` that follows nothing is not an entity. Token accuracy is over words
(the first sub-word of each word carries its tag, HF's convention).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import transformers
from seqeval.metrics import accuracy_score, classification_report
from seqeval.scheme import IOB2, Entities

from kdemo.modeling.batched import inference_batches

#: The row and column of the entity confusion matrix for "no entity with this span" (missed or spurious).
NO_ENTITY = "O"


@dataclass(frozen=True)
class NERReport:
    """Entity-level validation metrics of a token classifier. ``float(report)`` is the micro F1 (what ktrain's
    ``learner.validate()`` returns for a sequence tagger).

    Attributes:
        precision: Micro-averaged entity precision, fraction 0–1.
        recall: Micro-averaged entity recall, fraction 0–1.
        f1: Micro-averaged entity F1, fraction 0–1 (seqeval's headline number).
        macro_f1: Unweighted mean of the per-type F1 scores.
        accuracy: Fraction 0–1 of words whose tag is right (``O`` included).
        per_type: DataFrame indexed by entity type with ``precision``, ``recall``, ``f1-score``, ``support``
            (true entities of the type).
        entity_types: Entity types (sorted), the rows of :attr:`per_type`.
        entity_confusion: Int array of shape ``(num_types + 1, num_types + 1)``: rows are true types, columns
            predicted types, both in ``entity_types + ["O"]`` order; an entity is matched by its exact span, and the
            ``"O"`` column counts true entities no prediction has the span of (missed), the ``"O"`` row predicted
            entities with no true entity of that span (spurious).
        num_rows: Sentences evaluated.
        num_entities: True entities.
    """

    precision: float
    recall: float
    f1: float
    macro_f1: float
    accuracy: float
    per_type: pd.DataFrame
    entity_types: list[str]
    entity_confusion: np.ndarray
    num_rows: int
    num_entities: int

    def __float__(self) -> float:
        return float(self.f1)

    @property
    def confusion_labels(self) -> list[str]:
        """Row and column names of :attr:`entity_confusion`: the entity types, then ``"O"``."""
        return [*self.entity_types, NO_ENTITY]

    def __str__(self) -> str:
        table = self.per_type.to_string(float_format=lambda v: f"{v:.3f}")
        return (f"entity F1 {self.f1:.4f}  precision {self.precision:.4f}  recall {self.recall:.4f}  macro-F1 "
                f"{self.macro_f1:.4f}  token accuracy {self.accuracy:.4f}  ({self.num_rows} sentences, "
                f"{self.num_entities} entities)\n{table}")

    def to_dict(self) -> dict:
        """JSON-ready form (``training_results.json``, model cards): the numbers, ``per_type`` records and
        ``entity_confusion`` as ``{"labels": [...], "matrix": [[...]]}``."""
        return {
            "f1": self.f1, "precision": self.precision, "recall": self.recall, "micro_f1": self.f1,
            "macro_f1": self.macro_f1, "accuracy": self.accuracy, "num_rows": self.num_rows,
            "num_entities": self.num_entities, "entity_types": list(self.entity_types),
            "per_type": self.per_type.reset_index(names="type").to_dict(orient="records"),
            "entity_confusion": {"labels": self.confusion_labels, "matrix": self.entity_confusion.tolist()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> NERReport:
        """The report :meth:`to_dict` wrote (e.g. read back from JSON), equal to the original."""
        keys = ["precision", "recall", "f1-score", "support"]
        per_type = pd.DataFrame.from_records(data["per_type"], columns=None if data["per_type"] else ["type", *keys])
        per_type = per_type.set_index("type").rename_axis(None)
        per_type["support"] = per_type["support"].astype(int)
        size = len(data["entity_types"]) + 1
        return cls(
            precision=float(data["precision"]), recall=float(data["recall"]), f1=float(data["f1"]),
            macro_f1=float(data["macro_f1"]), accuracy=float(data["accuracy"]), per_type=per_type,
            entity_types=list(data["entity_types"]),
            entity_confusion=np.asarray(data["entity_confusion"]["matrix"], dtype=np.int64).reshape(size, size),
            num_rows=int(data["num_rows"]), num_entities=int(data["num_entities"]),
        )


def strict_spans(tag_sequences: Sequence[Sequence[str]]) -> list[dict[tuple[int, int], str]]:
    """Per sentence, ``{(start_word, end_word_exclusive): type}`` of its entities under strict IOB2."""
    entities = Entities([list(t) for t in tag_sequences], IOB2).entities
    return [{(e.start, e.end): e.tag for e in sentence} for sentence in entities]


def entity_confusion(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], types: Sequence[str]) -> np.ndarray:
    """The entity confusion matrix of :attr:`NERReport.entity_confusion` (entities matched by exact span)."""
    labels = [*types, NO_ENTITY]
    index = {t: i for i, t in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for true, pred in zip(strict_spans(y_true), strict_spans(y_pred)):
        for span, kind in true.items():
            matrix[index.get(kind, index[NO_ENTITY]), index.get(pred.get(span, NO_ENTITY), index[NO_ENTITY])] += 1
        for span, kind in pred.items():
            if span not in true:
                matrix[index[NO_ENTITY], index.get(kind, index[NO_ENTITY])] += 1
    return matrix


def ner_metrics(y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]]) -> NERReport:
    """Entity P/R/F1 per type and micro/macro (seqeval strict IOB2), token accuracy and the entity confusion matrix.

    Args:
        y_true: True BIO tags, one list per sentence.
        y_pred: Predicted BIO tags, the same shape.

    Returns:
        The :class:`NERReport`.

    Raises:
        ValueError: If the two disagree in sentence count or sentence lengths.
    """
    y_true, y_pred = [list(t) for t in y_true], [list(p) for p in y_pred]
    if len(y_true) != len(y_pred) or any(len(t) != len(p) for t, p in zip(y_true, y_pred)):
        raise ValueError(f"Expected one predicted tag per true tag. Received: {len(y_true)} and {len(y_pred)} sentences "
                         "of different lengths.")
    report = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    averages = ("micro avg", "macro avg", "weighted avg")
    types = sorted(k for k in report if k not in averages)
    keys = ["precision", "recall", "f1-score", "support"]
    per_type = pd.DataFrame([[report[t][k] for k in keys] for t in types], index=pd.Index(types, name=None), columns=keys)
    per_type["support"] = per_type["support"].astype(int)
    micro = report.get("micro avg", dict.fromkeys(keys, 0.0))
    macro = report.get("macro avg", dict.fromkeys(keys, 0.0))
    words = sum(len(t) for t in y_true)
    return NERReport(
        precision=float(micro["precision"]), recall=float(micro["recall"]), f1=float(micro["f1-score"]),
        macro_f1=float(macro["f1-score"]), accuracy=float(accuracy_score(y_true, y_pred)) if words else 0.0,
        per_type=per_type, entity_types=types, entity_confusion=entity_confusion(y_true, y_pred, types),
        num_rows=len(y_true), num_entities=int(per_type["support"].sum()),
    )


def window_logits(hf_model: transformers.PreTrainedModel, data, *, batch_size: int = 64,
                  precision: str = "fp32") -> list[np.ndarray]:
    """Logits of every window of a token dataset, batched by :func:`kdemo.modeling.batched.inference_batches`.

    Args:
        hf_model: A token-classification module (put in eval mode here).
        data: A token dataset (``collate``, ``lengths``).
        batch_size: Windows per forward pass.
        precision: ``"fp32"`` or ``"bf16"`` (autocast).

    Returns:
        One float32 array of shape ``(window_len, num_tags)`` per window, in the data's order.
    """
    hf_model.eval()
    device = next(hf_model.parameters()).device
    out: list[np.ndarray | None] = [None] * len(data)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for idx in inference_batches(data.lengths, batch_size, device):
            batch = {k: torch.from_numpy(v).to(device) for k, v in data.collate(idx).items()}
            logits = hf_model(**batch).logits.float().cpu().numpy()
            for row, i in enumerate(idx):
                out[i] = logits[row, : data.lengths[i]]
    return out


def first_subword_positions(word_ids: np.ndarray) -> dict[int, int]:
    """``{word index in the sentence: position of its first sub-word}`` of one window (special tokens, -1, skipped)."""
    first: dict[int, int] = {}
    for pos, word in enumerate(np.asarray(word_ids).tolist()):
        if word >= 0 and word not in first:
            first[word] = pos
    return first


def sentence_tags(data, logits: Sequence[np.ndarray], class_names: Sequence[str]) -> list[list[str]]:
    """Predicted tag of each word of each sentence: the arg-max at the word's first sub-word.

    Args:
        data: The token dataset (``words``, ``word_ids``, ``window_sentence``).
        logits: From :func:`window_logits`.
        class_names: Tag names in id order.

    Returns:
        One list of tags per sentence, one tag per word (``"O"`` for a word that produced no sub-word).
    """
    tags = [["O"] * len(words) for words in data.words]
    for window, (ids, out) in enumerate(zip(data.word_ids, logits)):
        sentence = tags[int(data.window_sentence[window])]
        for word, pos in first_subword_positions(ids).items():
            if word < len(sentence):
                sentence[word] = str(class_names[int(out[pos].argmax())])
    return tags


def sentence_losses(data, logits: Sequence[np.ndarray]) -> np.ndarray:
    """Mean cross-entropy over each sentence's labelled tokens (all its windows), float64 ``(num_sentences,)``."""
    total = np.zeros(len(data.words), dtype=np.float64)
    count = np.zeros(len(data.words), dtype=np.float64)
    for window, (labels, out) in enumerate(zip(data.labels, logits)):
        labels = np.asarray(labels)
        mask = labels >= 0
        if not mask.any():
            continue
        z = out[mask].astype(np.float64)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        s = int(data.window_sentence[window])
        total[s] -= log_p[np.arange(len(z)), labels[mask]].sum()
        count[s] += mask.sum()
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def evaluate_tokens(hf_model: transformers.PreTrainedModel, data, *, batch_size: int = 64,
                    class_names: Sequence[str] | None = None) -> NERReport:
    """:func:`ner_metrics` of the model's word tags on a labelled token dataset (``data.tags`` are the truth)."""
    names = list(class_names or data.class_names)
    pred = sentence_tags(data, window_logits(hf_model, data, batch_size=batch_size), names)
    return ner_metrics(data.tags, pred)


def all_o_scores(val_data) -> dict:
    """The scores of the constant guess of a tagger, every word ``O`` (no entity), on the validation tags: the
    baseline :func:`kdemo.evaluation.sanity.baseline` gives a token classifier.

    Args:
        val_data: The validation data; ``val_data.tags`` are its words' true tags.

    Returns:
        ``{"f1": 0.0, "accuracy": <share 0–1 of the words tagged O>}``.
    """
    guess = [[NO_ENTITY] * len(tags) for tags in val_data.tags]
    return {"f1": 0.0, "accuracy": float(accuracy_score(val_data.tags, guess))}


def one_tag_warning(report: NERReport) -> str | None:
    """The warning of a tagger that finds no entity although the validation data has some, or None."""
    predicted = int(np.asarray(report.entity_confusion)[:, :-1].sum()) if len(report.entity_types) else 0
    if report.num_entities and predicted == 0:
        return (f"The model tags every word 'O': it found none of the {report.num_entities} entities of the "
                "validation data.")
    return None

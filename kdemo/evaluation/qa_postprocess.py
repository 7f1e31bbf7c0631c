"""Extractive question answering, from window logits to answers: the n-best spans of each question and its answer.

The algorithm and its defaults are those of HF transformers' question-answering example,
``examples/pytorch/question-answering/utils_qa.py`` ``postprocess_qa_predictions``
(https://github.com/huggingface/transformers/blob/main/examples/pytorch/question-answering/utils_qa.py, Apache-2.0),
which ``run_qa.py`` beside it calls: the same candidate spans in the same order, the same ties, the same float
arithmetic (scores are sums in the logits' own dtype), so the answers, probabilities and logits equal run_qa's.
kdemo's inputs differ in form only: a feature names its example by index, and a token outside the context has the
offsets ``(-1, -1)`` where run_qa has ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kdemo.errors import DataError

#: The null answer's offsets in run_qa (the CLS token's ``(0, 0)``).
NULL_OFFSETS = (0, 0)


@dataclass(frozen=True)
class QAPredictions:
    """The post-processed predictions of an extractive question-answering model, keyed by example id.

    Attributes:
        answers: ``{id: answer text}`` (run_qa's ``all_predictions``); ``""`` where SQuAD 2.0 scoring predicts no
            answer, ``"empty"`` where no window had a valid span (run_qa's placeholder).
        nbest: ``{id: [candidate, ...]}`` best first (run_qa's ``all_nbest_json``): each candidate a dict with
            ``text``, ``probability`` (softmax over the listed candidates' scores, 0–1), ``start_logit``,
            ``end_logit`` (floats) and ``start``/``end``, its character span ``context[start:end]`` (None for the
            null answer and the ``"empty"`` placeholder).
        null_score_diff: ``{id: null score − best non-null span score}`` (run_qa's ``scores_diff_json``, in logits);
            SQuAD 2.0 only, else empty. Above ``null_score_diff_threshold`` the answer is ``""``.
    """

    answers: dict[str, str]
    nbest: dict[str, list[dict]]
    null_score_diff: dict[str, float] = field(default_factory=dict)


def field_of(item, name: str):
    """``item[name]`` for a mapping, else ``getattr(item, name)`` (examples may be dicts or objects)."""
    return item[name] if isinstance(item, Mapping) else getattr(item, name)


def features_by_example(features: Sequence[Mapping], num_examples: int) -> list[list[int]]:
    """The indices of each example's features (windows), in feature order.

    Args:
        features: Dicts with ``"example_index"``.
        num_examples: How many examples the indices point into.

    Returns:
        One list of feature indices per example (empty for an example without a window).

    Raises:
        DataError: If a feature's ``example_index`` is not in ``[0, num_examples)``.
    """
    owned: list[list[int]] = [[] for _ in range(num_examples)]
    for i, feature in enumerate(features):
        example = int(feature["example_index"])
        if not 0 <= example < num_examples:
            raise DataError(f"Expected each window's example_index in [0, {num_examples}). Received: {example} at "
                            f"window {i}. Build the windows from the same examples.")
        owned[example].append(i)
    return owned


def _offsets(raw) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(starts, ends, is_context)`` of a window's offset mapping: rows ``(-1, -1)`` (or None, run_qa's form) are
    not context."""
    if isinstance(raw, np.ndarray) and raw.dtype != object:
        offsets = raw.reshape(-1, 2).astype(np.int64, copy=False)
        valid = (offsets >= 0).all(axis=1)
    else:
        valid = np.array([row is not None and len(row) >= 2 for row in raw], dtype=bool)
        offsets = np.array([tuple(row[:2]) if ok else (-1, -1) for row, ok in zip(raw, valid)], dtype=np.int64)
        offsets = offsets.reshape(-1, 2)
    return offsets[:, 0], offsets[:, 1], valid


def _max_context(token_is_max_context, starts: np.ndarray) -> np.ndarray:
    """Whether each start position has its maximum context in this window (run_qa's ``token_is_max_context``: a
    mapping keyed by ``str(position)``, or here also one bool per position)."""
    if isinstance(token_is_max_context, Mapping):
        return np.array([bool(token_is_max_context.get(str(int(s)), False)) for s in starts], dtype=bool)
    flags = np.asarray(token_is_max_context, dtype=bool)
    inside = starts < len(flags)
    return inside & flags[np.where(inside, starts, 0)] if len(flags) else np.zeros(len(starts), dtype=bool)


def _window_candidates(start: np.ndarray, end: np.ndarray, feature: Mapping, n_best_size: int,
                       max_answer_length: int) -> tuple[np.ndarray, ...]:
    """run_qa's candidate spans of one window, in its loop order (best starts outer, best ends inner).

    Returns:
        ``(scores, start_logits, end_logits, char_starts, char_ends)``, one entry per valid span, the scores in the
        logits' dtype.
    """
    char_start, char_end, valid = _offsets(feature["offset_mapping"])
    width = len(valid)
    top_start = np.argsort(start)[-1:-n_best_size - 1:-1]
    top_end = np.argsort(end)[-1:-n_best_size - 1:-1]
    s, e = np.meshgrid(top_start, top_end, indexing="ij")
    s, e = s.ravel(), e.ravel()
    ok = (s < width) & (e < width)
    ok[ok] = valid[s[ok]] & valid[e[ok]]
    ok &= (e >= s) & (e - s + 1 <= max_answer_length)
    if feature.get("token_is_max_context") is not None:
        ok[ok] = _max_context(feature["token_is_max_context"], s[ok])
    s, e = s[ok], e[ok]
    return start[s] + end[e], start[s], end[e], char_start[s], char_end[e]


def _example_nbest(context: str, windows: list[tuple[np.ndarray, np.ndarray, Mapping]], version_2: bool,
                   n_best_size: int, max_answer_length: int) -> tuple[list[dict], object]:
    """One example's n-best list (scores still numpy scalars, as run_qa holds them) and its null score (or None)."""
    parts = [_window_candidates(s, e, f, n_best_size, max_answer_length) for s, e, f in windows]
    null = None
    for start, end, _ in windows:
        score = start[0] + end[0]
        if null is None or null["score"] > score:
            null = {"score": score, "start_logit": start[0], "end_logit": end[0], "offsets": NULL_OFFSETS,
                    "null": True}
    scores = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    order = np.argsort(-scores, kind="stable")  # sorted(..., reverse=True) keeps equal scores in candidate order
    starts, ends, char_starts, char_ends = (np.concatenate([p[i] for p in parts]) if parts else np.zeros(0)
                                            for i in (1, 2, 3, 4))
    kept = [{"score": scores[i], "start_logit": starts[i], "end_logit": ends[i],
             "offsets": (int(char_starts[i]), int(char_ends[i])), "null": False} for i in order[:n_best_size]]
    if version_2 and null is not None:
        # run_qa appends the null answer after all spans and sorts stably: it goes after any span of equal score.
        rank = sum(1 for p in kept if not p["score"] < null["score"])
        kept.insert(rank, null)
        kept = kept[:n_best_size]
        if not any(p["offsets"] == NULL_OFFSETS for p in kept):
            kept.append(null)
    for p in kept:
        p["text"] = "" if p["null"] else context[p["offsets"][0]:p["offsets"][1]]
    if not kept or (len(kept) == 1 and kept[0]["text"] == ""):
        kept.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0, "null": True,
                        "offsets": None})
    return kept, (null["score"] if version_2 and null is not None else None)


def _plain(value):
    return float(value) if isinstance(value, (np.floating, float)) else value


def postprocess_qa_predictions(examples: Sequence, features: Sequence[Mapping], start_logits, end_logits, *,
                               version_2_with_negative: bool = False, n_best_size: int = 20,
                               max_answer_length: int = 30, null_score_diff_threshold: float = 0.0) -> QAPredictions:
    """Answers from an extractive QA model's start and end logits: HF transformers' ``run_qa.py`` post-processing.

    For each example, every window proposes the spans pairing its ``n_best_size`` best start and end tokens (both
    in the context, end ≥ start, at most ``max_answer_length`` tokens, the start at its maximum context when the
    window says so), scored start logit + end logit; the ``n_best_size`` best spans over all windows are kept and
    their softmax is their probability. With SQuAD 2.0 the null answer (CLS, token 0, the lowest null score over the
    windows) competes too, and the answer is ``""`` when the null score exceeds the best non-empty span's by more
    than ``null_score_diff_threshold``. Source: ``postprocess_qa_predictions`` of
    https://github.com/huggingface/transformers/blob/main/examples/pytorch/question-answering/utils_qa.py.

    Args:
        examples: Objects or dicts with ``"id"`` and ``"context"`` (str), ``num_examples`` long.
        features: One dict per window (``num_windows``): ``"example_index"`` (int into ``examples``),
            ``"offset_mapping"`` an int array ``(window_len, 2)`` of character offsets into the context, ``(-1, -1)``
            for tokens outside it (question, special tokens, padding), and optionally ``"token_is_max_context"``
            (run_qa's ``{str(position): bool}``, or one bool per position).
        start_logits: Per window the start logits ``(seq_len,)``: a float array ``(num_windows, seq_len)`` or a
            list of 1-D arrays; positions ``≥ window_len`` (padding) are never a span.
        end_logits: The end logits, the same shape.
        version_2_with_negative: Whether questions may have no answer (SQuAD 2.0).
        n_best_size: Best start and end tokens tried per window, and candidates kept per example.
        max_answer_length: Longest answer, in tokens.
        null_score_diff_threshold: Answer ``""`` when null score − best span score exceeds this (logits).

    Returns:
        The :class:`QAPredictions`.

    Raises:
        DataError: If the logits do not have one row per window, or a window's example index is out of range.
    """
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise DataError(f"Expected one row of start and end logits per window ({len(features)}). Received: "
                        f"{len(start_logits)} and {len(end_logits)}. Pass the model's logits of these windows.")
    owned = features_by_example(features, len(examples))
    answers: dict[str, str] = {}
    nbest: dict[str, list[dict]] = {}
    diffs: dict[str, float] = {}
    for index, example in enumerate(examples):
        qid = field_of(example, "id")
        windows = [(np.asarray(start_logits[i]), np.asarray(end_logits[i]), features[i]) for i in owned[index]]
        kept, null_score = _example_nbest(field_of(example, "context"), windows, version_2_with_negative,
                                          n_best_size, max_answer_length)
        scores = np.array([p["score"] for p in kept])
        exp_scores = np.exp(scores - np.max(scores))
        probs = exp_scores / exp_scores.sum()
        if not version_2_with_negative:
            answers[qid] = kept[0]["text"]
        else:
            best = next((p for p in kept if p["text"] != ""), None)
            if best is None:  # only empty texts (zero-width spans): run_qa fails here; kdemo answers no answer
                best = {"start_logit": 0.0, "end_logit": 0.0}
            diff = null_score - best["start_logit"] - best["end_logit"] if null_score is not None else 0.0
            diffs[qid] = float(diff)
            answers[qid] = "" if diff > null_score_diff_threshold else best.get("text", "")
        nbest[qid] = [
            {"text": p["text"], "probability": float(prob), "start_logit": _plain(p["start_logit"]),
             "end_logit": _plain(p["end_logit"]),
             "start": None if p["null"] else p["offsets"][0], "end": None if p["null"] else p["offsets"][1]}
            for p, prob in zip(kept, probs)
        ]
    return QAPredictions(answers=answers, nbest=nbest, null_score_diff=diffs)


def _cross_entropy(logits: np.ndarray, position: int) -> float:
    """``-log softmax(logits)[position]`` in float64, or NaN where HF's QA loss ignores the position."""
    z = np.asarray(logits, dtype=np.float64)
    position = min(max(int(position), 0), len(z))  # AutoModelForQuestionAnswering: clamp(0, ignored_index=seq_len)
    if position >= len(z):
        return float("nan")
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()) - z[position])


def question_losses(features: Sequence[Mapping], start_logits, end_logits, start_positions, end_positions, *,
                    num_examples: int | None = None) -> np.ndarray:
    """Each question's loss for top losses: per window HF's QA loss, then the worst window of the question.

    A window's loss is the mean of the start and end cross-entropies (``(start_loss + end_loss) / 2``, as
    ``BertForQuestionAnswering`` computes it), where a position outside ``[0, seq_len)`` is clamped as there:
    below 0 to 0, past the end to ``seq_len``, which the loss ignores (the window's loss is then the other term;
    a window with both ignored has none).

    Args:
        features: The windows, dicts with ``"example_index"`` (``num_windows``).
        start_logits: Per window the start logits ``(seq_len,)``: ``(num_windows, seq_len)`` or a list of arrays.
        end_logits: The end logits, the same shape.
        start_positions: The true start token of each window, int ``(num_windows,)`` (0, the CLS token, where the
            answer is not in the window).
        end_positions: The true end token, the same shape.
        num_examples: Questions (default: the largest ``example_index`` + 1).

    Returns:
        Float64 ``(num_examples,)``: the largest window loss of each question (nats), 0.0 for one without a loss.

    Raises:
        DataError: If the logits or positions do not have one entry per window, or an example index is out of range.
    """
    sizes = {len(start_logits), len(end_logits), len(start_positions), len(end_positions)}
    if sizes != {len(features)}:
        raise DataError(f"Expected logits and true positions for each of the {len(features)} windows. Received: "
                        f"{sorted(sizes)} entries. Pass the model's outputs and labels of these windows.")
    if num_examples is None:
        num_examples = 1 + max((int(f["example_index"]) for f in features), default=-1)
    losses = np.zeros(num_examples, dtype=np.float64)
    for example, windows in enumerate(features_by_example(features, num_examples)):
        per_window = []
        for i in windows:
            terms = [t for t in (_cross_entropy(start_logits[i], start_positions[i]),
                                 _cross_entropy(end_logits[i], end_positions[i])) if not np.isnan(t)]
            per_window += [sum(terms) / len(terms)] if terms else []
        losses[example] = max(per_window, default=0.0)
    return losses

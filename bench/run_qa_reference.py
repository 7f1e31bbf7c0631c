"""The reference side of ``bench/qa_cpu.py``: HF ``run_qa``'s SQuAD v1.1 windows and answer post-processing, and
the official SQuAD v1.1 exact match and F1.

What each function reproduces (same inputs, same decisions, same outputs; written here in this module's own words
rather than pasted, with these sources):

* :func:`prepare_train_features`, :func:`prepare_validation_features`: ``prepare_train_features`` and
  ``prepare_validation_features`` of ``examples/pytorch/question-answering/run_qa.py`` in huggingface/transformers
  (read at commit 03ea97ae17f461340572ce7c7250b22d7a146893). Copyright The HuggingFace Team, Apache License 2.0
  (http://www.apache.org/licenses/LICENSE-2.0).
* :func:`postprocess_qa_predictions`: ``postprocess_qa_predictions`` of
  ``examples/pytorch/question-answering/utils_qa.py`` (same repository, read at commit
  31f57e9efd761882d1296f7f6ade11ee87a3900e), Apache License 2.0, for SQuAD v1.1 (``version_2_with_negative=False``,
  run_qa's default; XQuAD has no unanswerable question), without its optional JSON files.
* :func:`normalize_answer`, :func:`f1_score`, :func:`exact_match_score`, :func:`squad_v1_scores`: the official
  SQuAD v1.1 evaluation script ``evaluate-v1.1.py`` (Rajpurkar et al., 2016, "SQuAD: 100,000+ Questions for Machine
  Comprehension of Text"), which HF ``evaluate``'s ``"squad"`` metric wraps (what run_qa reports).

Examples are SQuAD rows as HF's ``squad`` dataset flattens them (:func:`read_squad`): ``id``, ``title``,
``context``, ``question`` and ``answers`` = ``{"text": [...], "answer_start": [...]}``.
"""

from __future__ import annotations

import collections
import json
import re
import string
from collections import Counter
from pathlib import Path

import numpy as np


def read_squad(path: str | Path, limit: int | None = None) -> list[dict]:
    """The questions of a SQuAD v1.1 JSON file as flat rows, in file order.

    Args:
        path: The file (``{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}``).
        limit: Keep the first ``limit`` questions (all when None).

    Returns:
        One dict per question: ``id``, ``title``, ``context``, ``question``, ``answers`` (``{"text": [str],
        "answer_start": [int]}``, character offsets into ``context``).

    Raises:
        OSError, json.JSONDecodeError, KeyError: If the file is missing, not JSON, or not SQuAD-shaped.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    rows = []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                rows.append({"id": qa["id"], "title": article.get("title", ""), "context": paragraph["context"],
                             "question": qa["question"],
                             "answers": {"text": [a["text"] for a in qa["answers"]],
                                         "answer_start": [int(a["answer_start"]) for a in qa["answers"]]}})
    return rows if limit is None else rows[:limit]


def _tokenize_windows(tokenizer, examples: list[dict], max_seq_length: int, doc_stride: int, pad_to_max_length: bool):
    """run_qa's shared tokenizer call: question and context (in the order the padding side asks for), the context cut
    into windows of ``max_seq_length`` tokens overlapping by ``doc_stride``; offsets and window→example map kept."""
    pad_on_right = tokenizer.padding_side == "right"
    questions = [e["question"].lstrip() for e in examples]  # run_qa strips the questions' left whitespace
    contexts = [e["context"] for e in examples]
    return pad_on_right, tokenizer(
        questions if pad_on_right else contexts,
        contexts if pad_on_right else questions,
        truncation="only_second" if pad_on_right else "only_first",
        max_length=min(max_seq_length, tokenizer.model_max_length),
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length" if pad_to_max_length else False,
    )


def prepare_train_features(tokenizer, examples: list[dict], max_seq_length: int = 384, doc_stride: int = 128,
                           pad_to_max_length: bool = True) -> dict[str, list]:
    """Training windows labelled with the answer's first and last token, as run_qa's ``prepare_train_features``.

    A window that does not contain the whole answer (the first answer of each question) is labelled with the
    position of its ``[CLS]`` token (or BOS, or 0) for both start and end.

    Args:
        tokenizer: A fast tokenizer (offsets are needed).
        examples: Flat SQuAD rows (:func:`read_squad`).
        max_seq_length: Tokens per window (capped at the tokenizer's ``model_max_length``).
        doc_stride: Context tokens shared by two consecutive windows of one context.
        pad_to_max_length: Pad every window to ``max_seq_length`` (run_qa's default) or leave it unpadded.

    Returns:
        Columns of equal length (num_windows): the tokenizer's ``input_ids``, ``attention_mask`` (and
        ``token_type_ids`` where the model has them), plus ``start_positions`` and ``end_positions`` (token indices).
    """
    pad_on_right, enc = _tokenize_windows(tokenizer, examples, max_seq_length, doc_stride, pad_to_max_length)
    window_to_example = enc.pop("overflow_to_sample_mapping")
    all_offsets = enc.pop("offset_mapping")
    context_seq = 1 if pad_on_right else 0
    starts, ends = [], []
    for i, offsets in enumerate(all_offsets):
        input_ids = enc["input_ids"][i]
        if tokenizer.cls_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.cls_token_id)
        elif tokenizer.bos_token_id in input_ids:
            cls_index = input_ids.index(tokenizer.bos_token_id)
        else:
            cls_index = 0
        seq_ids = enc.sequence_ids(i)
        answers = examples[window_to_example[i]]["answers"]
        if not answers["answer_start"]:
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        first_char = answers["answer_start"][0]
        last_char = first_char + len(answers["text"][0])  # one past the answer's last character
        lo = 0  # first context token of the window
        while seq_ids[lo] != context_seq:
            lo += 1
        hi = len(input_ids) - 1  # last context token of the window
        while seq_ids[hi] != context_seq:
            hi -= 1
        if not (offsets[lo][0] <= first_char and offsets[hi][1] >= last_char):
            starts.append(cls_index)  # the answer is not (wholly) inside this window
            ends.append(cls_index)
            continue
        # Walk inwards to the answer's ends (run_qa's loops, including its edge case of an answer ending the text).
        while lo < len(offsets) and offsets[lo][0] <= first_char:
            lo += 1
        starts.append(lo - 1)
        while offsets[hi][1] >= last_char:
            hi -= 1
        ends.append(hi + 1)
    enc["start_positions"] = starts
    enc["end_positions"] = ends
    return dict(enc)


def prepare_validation_features(tokenizer, examples: list[dict], max_seq_length: int = 384, doc_stride: int = 128,
                                pad_to_max_length: bool = True) -> dict[str, list]:
    """Evaluation windows with their question's id and the context's character offsets, as run_qa's
    ``prepare_validation_features``.

    Args:
        tokenizer: A fast tokenizer.
        examples: Flat SQuAD rows (:func:`read_squad`).
        max_seq_length: Tokens per window (capped at the tokenizer's ``model_max_length``).
        doc_stride: Context tokens shared by two consecutive windows.
        pad_to_max_length: Pad every window to ``max_seq_length`` or leave it unpadded.

    Returns:
        Columns of equal length (num_windows): the tokenizer's inputs, ``example_id`` (the question's id) and
        ``offset_mapping`` (per token a ``(start, end)`` character span of the context, None for tokens outside the
        context: question, special tokens, padding).
    """
    pad_on_right, enc = _tokenize_windows(tokenizer, examples, max_seq_length, doc_stride, pad_to_max_length)
    window_to_example = enc.pop("overflow_to_sample_mapping")
    context_seq = 1 if pad_on_right else 0
    enc["example_id"] = []
    for i in range(len(enc["input_ids"])):
        seq_ids = enc.sequence_ids(i)
        enc["example_id"].append(examples[window_to_example[i]]["id"])
        enc["offset_mapping"][i] = [span if seq_ids[k] == context_seq else None
                                    for k, span in enumerate(enc["offset_mapping"][i])]
    return dict(enc)


def postprocess_qa_predictions(examples: list[dict], features: list[dict], predictions: tuple[np.ndarray, np.ndarray],
                               n_best_size: int = 20, max_answer_length: int = 30) -> dict[str, str]:
    """Each question's answer text from its windows' start and end logits, as utils_qa's
    ``postprocess_qa_predictions`` for SQuAD v1.1.

    For every window of a question, the ``n_best_size`` highest start and end logits are paired; pairs outside the
    context, reversed, or longer than ``max_answer_length`` tokens are dropped; the pair with the highest
    ``start_logit + end_logit`` over all windows gives the answer, cut from the context by character offsets
    (``"empty"`` when no pair survives).

    Args:
        examples: Flat SQuAD rows (:func:`read_squad`).
        features: One dict per window with ``example_id`` and ``offset_mapping`` (:func:`prepare_validation_features`).
        predictions: ``(start_logits, end_logits)``, each of shape (num_windows, seq_len); windows in ``features``'
            order (rows of unequal length padded with -100, as Trainer concatenates them).
        n_best_size: Start and end candidates per window.
        max_answer_length: Longest answer in tokens.

    Returns:
        ``{question id: answer text}`` in ``examples``' order.

    Raises:
        ValueError: If ``predictions`` has not two arrays of ``len(features)`` rows.
    """
    if len(predictions) != 2 or len(predictions[0]) != len(features):
        raise ValueError(f"Expected (start_logits, end_logits) with {len(features)} rows. "
                         f"Received: {len(predictions)} arrays of {len(predictions[0])} rows.")
    all_start, all_end = predictions
    index_of = {e["id"]: i for i, e in enumerate(examples)}
    windows_of = collections.defaultdict(list)
    for w, feature in enumerate(features):
        windows_of[index_of[feature["example_id"]]].append(w)
    answers: dict[str, str] = collections.OrderedDict()
    for e, example in enumerate(examples):
        candidates = []
        for w in windows_of[e]:
            start_logits, end_logits = all_start[w], all_end[w]
            offsets = features[w]["offset_mapping"]
            max_context = features[w].get("token_is_max_context")
            best_starts = np.argsort(start_logits)[-1: -n_best_size - 1: -1].tolist()
            best_ends = np.argsort(end_logits)[-1: -n_best_size - 1: -1].tolist()
            for s in best_starts:
                for t in best_ends:
                    if s >= len(offsets) or t >= len(offsets) or offsets[s] is None or offsets[t] is None:
                        continue  # outside the window's context
                    if t < s or t - s + 1 > max_answer_length:
                        continue
                    if max_context is not None and not max_context.get(str(s), False):
                        continue
                    candidates.append({"offsets": (offsets[s][0], offsets[t][1]),
                                       "score": start_logits[s] + end_logits[t]})
        # Python's sort is stable: ties keep the order of discovery, as in utils_qa.
        best = sorted(candidates, key=lambda c: c["score"], reverse=True)[:n_best_size]
        texts = [example["context"][c["offsets"][0]: c["offsets"][1]] for c in best]
        if not texts or (len(texts) == 1 and texts[0] == ""):
            texts.insert(0, "empty")  # utils_qa's placeholder when no span survives
        answers[example["id"]] = texts[0]
    return answers


_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's answer normalisation: lower case, punctuation removed, the articles a/an/the removed, white
    space collapsed (official ``evaluate-v1.1.py``)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1_score(prediction: str, ground_truth: str) -> float:
    """Token-overlap F1 (0–1) of two normalised answers; 0 when they share no token (official script)."""
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(ground_truth).split()
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def exact_match_score(prediction: str, ground_truth: str) -> bool:
    """Whether the normalised answers are equal (official script)."""
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def squad_v1_scores(examples: list[dict], predictions: dict[str, str]) -> dict[str, float]:
    """Exact match and F1 over questions, each the best over the question's gold answers (official script).

    Args:
        examples: Flat SQuAD rows with their gold ``answers``.
        predictions: ``{question id: answer text}``; a missing question scores 0.

    Returns:
        ``{"exact_match": float, "f1": float}`` in percent (0–100), over ``len(examples)`` questions.
    """
    em = f1 = 0.0
    for example in examples:
        if example["id"] not in predictions:
            continue  # counted in the total, scores 0 (the script prints "Unanswered question ...")
        golds, pred = example["answers"]["text"], predictions[example["id"]]
        em += max(exact_match_score(pred, g) for g in golds)
        f1 += max(f1_score(pred, g) for g in golds)
    total = max(len(examples), 1)
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}

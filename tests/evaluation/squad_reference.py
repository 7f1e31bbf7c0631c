# Test-side reference of the official SQuAD scoring, to check kdemo.evaluation.qa.squad_metrics against.
#
# Sources of the scoring: the official evaluation scripts of SQuAD, evaluate-v1.1.py and evaluate-v2.0.py
# (https://rajpurkar.github.io/SQuAD-explorer/, by Rajpurkar et al.), as HF `evaluate` wraps them in
# metrics/squad/compute_score.py and metrics/squad_v2/compute_score.py (https://github.com/huggingface/evaluate,
# Apache License 2.0) and HF `datasets` kept them in metrics/squad*/evaluate.py. This file is NOT a copy of those
# scripts: it is an independent, plain re-statement of their scoring, written for kdemo's tests and kept close to
# the scripts' structure (dataset JSON in, the scripts' output keys out) rather than to kdemo's code. Behaviours
# it keeps on purpose:
#   * normalisation: lower case, then drop every character of string.punctuation, then replace the whole words
#     a/an/the with a space, then join the whitespace-split tokens with single spaces;
#   * v1.1: a question without a prediction scores 0 (and still counts in the total); exact match and F1 are the
#     max over the ground truths; F1 is 0 when no token is shared (so two empty answers score F1 0);
#   * v2.0: true answers that normalise to "" are dropped, [""] stands in when none is left; a question's tokens
#     are [] for an empty string; F1 is 1 when both token lists are empty and 0 when only one is; questions without
#     a prediction are left out of the scores; a no-answer probability above na_prob_thresh (default 1.0) makes
#     the score float(not has_answer); the "best" scores walk the questions by increasing no-answer probability
#     (Python's stable sort, so ties keep the probabilities' dict order), starting from the count of unanswerable
#     questions, adding the raw score of an answerable one and -1 for an unanswerable one given a non-empty
#     prediction, and remember the probability where the running total last rose strictly.

import collections
import re
import string


def _normalise(text):
    lowered = text.lower()
    no_punctuation = "".join(ch for ch in lowered if ch not in set(string.punctuation))
    no_articles = re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", no_punctuation)
    return " ".join(no_articles.split())


def _shared_token_f1(predicted_tokens, true_tokens):
    shared = sum((collections.Counter(predicted_tokens) & collections.Counter(true_tokens)).values())
    if shared == 0:
        return 0
    precision = shared / len(predicted_tokens)
    recall = shared / len(true_tokens)
    return 2 * precision * recall / (precision + recall)


def _questions(dataset):
    for article in dataset:
        for paragraph in article["paragraphs"]:
            yield from paragraph["qas"]


def squad_v1_score(dataset, predictions):
    """evaluate-v1.1.py's compute_score: {"exact_match": %, "f1": %}."""
    count = exact_sum = f1_sum = 0
    for qa in _questions(dataset):
        count += 1
        if qa["id"] not in predictions:
            continue
        truths = [answer["text"] for answer in qa["answers"]]
        guess = predictions[qa["id"]]
        exact_sum += max(_normalise(guess) == _normalise(t) for t in truths)
        f1_sum += max(_shared_token_f1(_normalise(guess).split(), _normalise(t).split()) for t in truths)
    return {"exact_match": 100.0 * exact_sum / count, "f1": 100.0 * f1_sum / count}


def _tokens_v2(text):
    return _normalise(text).split() if text else []


def _f1_v2(truth, guess):
    true_tokens, guess_tokens = _tokens_v2(truth), _tokens_v2(guess)
    if not true_tokens or not guess_tokens:
        return int(true_tokens == guess_tokens)
    return _shared_token_f1(guess_tokens, true_tokens)


def _averages(exact, f1, ids):
    return {"exact": 100.0 * sum(exact[i] for i in ids) / len(ids), "f1": 100.0 * sum(f1[i] for i in ids) / len(ids),
            "total": len(ids)}


def _best(predictions, raw, na_probs, has_answer):
    running = best = sum(1 for i in has_answer if not has_answer[i])
    threshold = 0.0
    for qid in sorted(na_probs, key=lambda i: na_probs[i]):
        if qid not in raw:
            continue
        if has_answer[qid]:
            running += raw[qid]
        elif predictions[qid]:
            running += -1
        if running > best:
            best, threshold = running, na_probs[qid]
    return 100.0 * best / len(raw), threshold


def squad_v2_score(dataset, predictions, na_probs=None, na_prob_thresh=1.0):
    """evaluate-v2.0.py's main() without files and plots: exact, f1, total, HasAns_*, NoAns_* and, with na_probs,
    best_exact, best_exact_thresh, best_f1, best_f1_thresh."""
    questions = list(_questions(dataset))
    has_answer = {qa["id"]: bool(qa["answers"]) for qa in questions}
    exact_raw, f1_raw = {}, {}
    for qa in questions:
        truths = [answer["text"] for answer in qa["answers"] if _normalise(answer["text"])] or [""]
        if qa["id"] not in predictions:
            continue
        guess = predictions[qa["id"]]
        exact_raw[qa["id"]] = max(int(_normalise(t) == _normalise(guess)) for t in truths)
        f1_raw[qa["id"]] = max(_f1_v2(t, guess) for t in truths)
    probabilities = na_probs if na_probs is not None else {i: 0.0 for i in predictions}

    def thresholded(raw):
        return {i: (float(not has_answer[i]) if probabilities[i] > na_prob_thresh else s) for i, s in raw.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    out = _averages(exact, f1, list(exact))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [i for i, has in has_answer.items() if has == wanted]
        if ids:
            out.update({f"{prefix}_{k}": v for k, v in _averages(exact, f1, ids).items()})
    if na_probs is not None:
        out["best_exact"], out["best_exact_thresh"] = _best(predictions, exact_raw, na_probs, has_answer)
        out["best_f1"], out["best_f1_thresh"] = _best(predictions, f1_raw, na_probs, has_answer)
    return out

# Test-side reference of HF transformers' extractive-QA post-processing, to check kdemo's vectorised
# kdemo.evaluation.qa_postprocess.postprocess_qa_predictions against.
#
# Source of the algorithm: `postprocess_qa_predictions` in
#   https://github.com/huggingface/transformers/blob/main/examples/pytorch/question-answering/utils_qa.py
#   (Copyright 2020 The HuggingFace Team, Apache License 2.0, http://www.apache.org/licenses/LICENSE-2.0),
# the post-processing run_qa.py calls. This file is NOT a copy of that code: it is an independent, deliberately
# plain re-statement of the same algorithm (scalar loops, Python's stable `sorted`, numpy scalars kept as they
# come so the float arithmetic is the same), written for kdemo's tests. The behaviours it keeps on purpose:
#   * candidates are visited window by window, best starts outer, best ends inner, where the "best" tokens are
#     np.argsort(logits)[-1:-n_best_size-1:-1] (numpy's default sort kind, so ties fall as upstream's do);
#   * a span is skipped when a token index is past the offset mapping or maps to None, when end < start, when it
#     is longer than max_answer_length tokens, or when token_is_max_context is given and
#     token_is_max_context.get(str(start_index), False) is falsy;
#   * the null candidate is the window with the lowest start_logits[0] + end_logits[0] (the first on ties),
#     appended after all spans (SQuAD 2.0), then a stable sort by score, descending, keeps n_best_size, and the
#     null candidate is re-appended when no kept candidate has the offsets (0, 0);
#   * no candidate, or a single one with empty text, gets a first candidate {"text": "empty", logits 0.0, score 0.0};
#   * probabilities are the softmax (max-shifted) over the kept scores, computed on np.array of those scores;
#   * SQuAD 2.0: the answer is "" when null_score - best non-empty start_logit - end_logit > the threshold.
#
# Input form (run_qa's): `examples` a sequence of dicts with "id" and "context"; `features` a sequence of dicts
# with "example_id", "offset_mapping" (a list of (start, end) or None for tokens outside the context) and
# optionally "token_is_max_context"; `predictions` the tuple (start_logits, end_logits), one row per feature.
# Returns (answers, nbest, null_score_diffs): upstream's all_predictions, all_nbest_json and scores_diff_json.

import numpy as np


def _best_indexes(logits, how_many):
    order = np.argsort(logits)
    return order[-1 : -how_many - 1 : -1].tolist()


def _as_json_number(value):
    if isinstance(value, (np.float16, np.float32, np.float64)):
        return float(value)
    return value


def postprocess_qa_predictions(examples, features, predictions, version_2_with_negative=False, n_best_size=20,
                               max_answer_length=30, null_score_diff_threshold=0.0):
    start_rows, end_rows = predictions
    if len(start_rows) != len(features):
        raise ValueError("one row of logits per feature expected")

    position_of_id = {}
    for position, example in enumerate(examples):
        position_of_id[example["id"]] = position
    windows_of = {}
    for feature_number, feature in enumerate(features):
        windows_of.setdefault(position_of_id[feature["example_id"]], []).append(feature_number)

    answers, nbest, null_score_diffs = {}, {}, {}
    for position, example in enumerate(examples):
        null_candidate = None
        candidates = []
        for feature_number in windows_of.get(position, []):
            starts = start_rows[feature_number]
            ends = end_rows[feature_number]
            offsets = features[feature_number]["offset_mapping"]
            max_context = features[feature_number].get("token_is_max_context", None)

            this_null = starts[0] + ends[0]
            if null_candidate is None or this_null < null_candidate["score"]:
                null_candidate = {"offsets": (0, 0), "score": this_null, "start_logit": starts[0],
                                  "end_logit": ends[0]}

            for s in _best_indexes(starts, n_best_size):
                for e in _best_indexes(ends, n_best_size):
                    if s >= len(offsets) or e >= len(offsets):
                        continue
                    if offsets[s] is None or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    if max_context is not None and not max_context.get(str(s), False):
                        continue
                    candidates.append({"offsets": (offsets[s][0], offsets[e][1]), "score": starts[s] + ends[e],
                                       "start_logit": starts[s], "end_logit": ends[e]})

        if version_2_with_negative:
            candidates.append(null_candidate)
            null_score = null_candidate["score"]

        kept = sorted(candidates, key=lambda c: c["score"], reverse=True)[:n_best_size]
        if version_2_with_negative and all(c["offsets"] != (0, 0) for c in kept):
            kept.append(null_candidate)

        context = example["context"]
        entries = []
        for c in kept:
            entries.append({"start_logit": c["start_logit"], "end_logit": c["end_logit"], "score": c["score"],
                            "text": context[c["offsets"][0] : c["offsets"][1]]})
        if not entries or (len(entries) == 1 and entries[0]["text"] == ""):
            entries = [{"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0}] + entries

        scores = np.array([entry["score"] for entry in entries])
        shifted = np.exp(scores - np.max(scores))
        probabilities = shifted / shifted.sum()
        for entry, probability in zip(entries, probabilities):
            del entry["score"]
            entry["probability"] = probability

        if version_2_with_negative:
            first_text = 0
            while entries[first_text]["text"] == "":
                first_text += 1
            best = entries[first_text]
            difference = null_score - best["start_logit"] - best["end_logit"]
            null_score_diffs[example["id"]] = float(difference)
            answers[example["id"]] = "" if difference > null_score_diff_threshold else best["text"]
        else:
            answers[example["id"]] = entries[0]["text"]

        nbest[example["id"]] = [{key: _as_json_number(value) for key, value in entry.items()} for entry in entries]
    return answers, nbest, null_score_diffs

"""cleanlab adapter of token classification (NER): label issues of words, reported per sentence.

``cleanlab.token_classification`` (Wang and Mueller 2022, "Detecting Label Errors in Token Classification Data")
runs confident learning (Northcutt et al. 2021) on the words of every sentence pooled together, from out-of-sample
word-level tag probabilities, and scores each sentence by its worst word (``sentence_score_method="min"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kdemo.errors import DataError


def token_scores(labels, predictions, class_names: Sequence[str]) -> pd.DataFrame:
    """Label quality of each sentence and the words cleanlab flags as probably mis-tagged.

    Runs ``cleanlab.token_classification.filter.find_label_issues`` (word-level confident learning) and
    ``cleanlab.token_classification.rank.get_label_quality_scores`` (each sentence's score: its lowest word score,
    the word's self-confidence). Sentences without words are kept with quality 1 and never flagged.

    Args:
        labels: Given tag ids per sentence: a list of ``num_sentences`` int arrays of shape ``(num_words,)``.
        predictions: Out-of-sample tag probabilities per sentence (first sub-word of each word): a list of
            ``num_sentences`` float arrays of shape ``(num_words, num_tags)``.
        class_names: Tag names in id order, ``(num_tags,)``.

    Returns:
        One row per sentence, in the order of ``labels``: ``position`` (int), ``given`` (the given tags joined by
        spaces), ``suggested`` (the same tags with every flagged word's tag replaced by its most probable one),
        ``label_quality`` (float 0–1, the sentence's lowest word score), ``is_issue`` (bool: a word of it is
        flagged) and ``word`` (int: the 0-based index of the flagged word with the lowest score, -1 when none is).

    Raises:
        DataError: If the numbers of sentences or words disagree, a tag id is out of range, or a probability is not
            finite.
    """
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    names = [str(c) for c in class_names]
    given = [np.asarray(tags, dtype=np.int64).reshape(-1) for tags in labels]
    probs = [np.asarray(p, dtype=np.float64) for p in predictions]
    if len(given) != len(probs):
        raise DataError(f"Expected one prediction per sentence. Received: {len(given)} sentences and {len(probs)} "
                        "predictions.")
    probs = [p.reshape(0, len(names)) if p.size == 0 else p for p in probs]
    for i, (g, p) in enumerate(zip(given, probs)):
        if p.shape != (len(g), len(names)):
            raise DataError(f"Expected predictions of shape (num_words={len(g)}, num_tags={len(names)}) for sentence "
                            f"{i}. Received: shape {p.shape}.")
        if g.size and (g.min() < 0 or g.max() >= len(names)):
            raise DataError(f"Expected tag ids in [0, {len(names)}) in sentence {i}. Received: {g.tolist()}.")
        if not np.isfinite(p).all():
            raise DataError(f"Expected finite tag probabilities. Received: NaN or inf in sentence {i}.")
    kept = [i for i, g in enumerate(given) if g.size]
    if not kept:
        raise DataError("Expected at least one sentence with words to find label issues. Received: none.")
    if np.unique(np.concatenate([given[i] for i in kept])).size < 2:
        raise DataError("Expected at least 2 different tags among the words to find label issues. Received: one. "
                        "Add sentences with entities.")
    norm = []
    for i in kept:
        p = np.clip(probs[i], 0.0, None)
        norm.append(p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12))
    kept_labels = [given[i].tolist() for i in kept]
    sentence_quality, word_info = get_label_quality_scores(kept_labels, norm)
    flagged = find_label_issues(kept_labels, norm, n_jobs=1)
    words_of: dict[int, list[int]] = {}
    for s, w in flagged:
        words_of.setdefault(kept[int(s)], []).append(int(w))
    quality = np.ones(len(given))
    word_scores: dict[int, np.ndarray] = {}
    for k, i in enumerate(kept):
        quality[i] = float(sentence_quality[k])
        word_scores[i] = np.asarray(word_info[k], dtype=float)
    rows = []
    for i, g in enumerate(given):
        words = sorted(set(words_of.get(i, [])))
        suggested = g.copy()
        for w in words:
            suggested[w] = int(probs[i][w].argmax())
        worst = min(words, key=lambda w: word_scores[i][w]) if words else -1
        rows.append({"position": i, "given": " ".join(names[t] for t in g),
                     "suggested": " ".join(names[t] for t in suggested), "label_quality": quality[i],
                     "is_issue": bool(words), "word": worst})
    return pd.DataFrame(rows, columns=["position", "given", "suggested", "label_quality", "is_issue", "word"])

"""Small SQuAD-format question sets written by the tests: words of the tiny tokenizer, answers at known offsets,
some contexts long enough to need several windows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tiny_models import WORDS

NAMES = ["ann", "bob", "cara", "dan", "eve", "finn", "gus", "hal"]
PLACES = ["paris", "rome", "oslo", "lima", "kiev", "baku"]


def squad_articles(n_contexts: int = 24, seed: int = 0, *, unanswerable: int = 0, long_every: int = 4) -> dict:
    """A SQuAD v1.1 (or, with ``unanswerable`` > 0, v2.0) JSON object: ``n_contexts`` paragraphs of filler words from
    the tiny tokenizer's vocabulary with a name and a place in them, two questions each ("who ...", "where ..."),
    every ``long_every``-th context about 120 words long (several windows at maxlen 64), and ``unanswerable``
    extra questions without an answer."""
    rng = np.random.default_rng(seed)
    filler = [w for w in WORDS if len(w) > 2]
    articles, made_unanswerable = [], 0
    for c in range(n_contexts):
        length = 120 if long_every and c % long_every == 0 else 20
        words = list(rng.choice(filler, size=length))
        name, place = NAMES[c % len(NAMES)], PLACES[c % len(PLACES)]
        at = int(rng.integers(2, length - 8))
        words[at:at] = [name, "went", "to", place]
        context = " ".join(words) + "."
        name_start = context.index(f" {name} went") + 1
        place_start = context.index(f"to {place}") + 3
        qas = [
            {"id": f"q{c}-who", "question": "who went there?",
             "answers": [{"text": name, "answer_start": name_start}]},
            {"id": f"q{c}-where", "question": f"where did {name} go?",
             "answers": [{"text": place, "answer_start": place_start}]},
        ]
        if made_unanswerable < unanswerable:
            qas.append({"id": f"q{c}-none", "question": "what is the price of the phone?", "answers": [],
                        "is_impossible": True})
            made_unanswerable += 1
        articles.append({"title": f"article {c}", "paragraphs": [{"context": context, "qas": qas}]})
    return {"version": "2.0" if unanswerable else "1.1", "data": articles}


def write_squad(path: Path, **kwargs) -> Path:
    """Write :func:`squad_articles` to ``path`` as JSON; returns ``path``."""
    path = Path(path)
    path.write_text(json.dumps(squad_articles(**kwargs)), encoding="utf-8")
    return path


def flat_rows(data: dict) -> tuple[list[str], list[str], list[dict]]:
    """``(questions, contexts, answers)`` of a SQuAD object, answers in HF's squad layout."""
    questions, contexts, answers = [], [], []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                questions.append(qa["question"])
                contexts.append(paragraph["context"])
                answers.append({"text": [a["text"] for a in qa["answers"]],
                                "answer_start": [a["answer_start"] for a in qa["answers"]]})
    return questions, contexts, answers

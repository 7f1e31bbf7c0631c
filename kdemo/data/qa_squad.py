"""SQuAD v1.1 and v2.0 JSON, read into flat per-question lists (:class:`kdemo.data.qa_files.QACorpus` holds them).

The layout (Rajpurkar et al., "SQuAD: 100,000+ Questions for Machine Comprehension of Text", EMNLP 2016; v2.0:
"Know What You Don't Know: Unanswerable Questions for SQuAD", ACL 2018)::

    {"version": "1.1", "data": [{"title": "Normans", "paragraphs": [{"context": "...",
        "qas": [{"id": "56dd...", "question": "...", "answers": [{"text": "France", "answer_start": 159}],
                 "is_impossible": false, "plausible_answers": [...]}]}]}]}

Decisions on odd input: a question marked ``is_impossible`` is unanswerable whatever its ``answers`` hold (SQuAD
2.0's unanswerable questions carry ``plausible_answers``, which are not answers); non-empty ``answers`` there are
ignored with a warning. A question without ``answers`` is unanswerable (a file to predict on). A question without an
``id`` gets ``"<article>-<paragraph>-<question>"`` (1-based numbers) with a warning. Contexts, questions and answer
texts are kept exactly as written (whitespace included): offsets count Python ``str`` characters, as SQuAD does.
"""

from __future__ import annotations

from kdemo.data.qa_cells import squad_answers
from kdemo.errors import DataError


def _error(expected: str, received: str, where: str, name: str, todo: str) -> DataError:
    at = f" ({where} of {name!r})" if where else f" (in {name!r})"
    return DataError(f"Expected {expected}{at}. Received: {received}. {todo}")


def _version(value, unanswerable: bool) -> str:
    """``"1.1"``/``"2.0"`` from the file's ``version`` (``"v2.0"`` → ``"2.0"``); ``"2.0"`` when any question has no
    answer."""
    version = str(value).strip().lstrip("vV") if value is not None else ""
    if unanswerable:
        return "2.0"
    return version or "1.1"


def is_squad(data) -> bool:
    """Whether parsed JSON has SQuAD's outer shape: an object with a ``data`` list."""
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def parse_squad(data, name: str) -> dict:
    """Flatten parsed SQuAD JSON into per-question lists.

    Args:
        data: The parsed JSON (``json.loads`` of the file).
        name: The file's name, for messages.

    Returns:
        ``{"ids", "questions", "contexts", "answers", "titles", "where", "version", "warnings"}``: lists of one entry
        per question in file order (``answers`` in HF's ``{"text": [...], "answer_start": [...]}`` layout; ``where``
        like ``"article 3 ('Normans'), paragraph 2, question 5 (id 56dd...)"``), the version and the warnings.

    Raises:
        DataError: If ``data`` is not SQuAD (no ``data`` list, an article without ``paragraphs``), or a paragraph
            has no context, a question no text, an answer no text or a non-integer ``answer_start``, or the file
            has no question at all; the message names the article, paragraph and question.
    """
    if not is_squad(data):
        keys = sorted(map(str, data))[:10] if isinstance(data, dict) else type(data).__name__
        raise _error('SQuAD JSON: {"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [...]}]}]}',
                     f"an object with keys {keys}" if isinstance(data, dict) else f"a JSON {keys}", "", name,
                     "Save the questions as SQuAD JSON, or as JSON Lines / CSV with question, context and answers "
                     "columns.")
    out = {k: [] for k in ("ids", "questions", "contexts", "answers", "titles", "where")}
    warnings: list[str] = []
    unanswerable = False
    for a, article in enumerate(data["data"], start=1):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            received = f"keys {sorted(map(str, article))[:10]}" if isinstance(article, dict) else repr(article)[:80]
            raise _error('a "paragraphs" list in every article', received, f"article {a}", name,
                         'Give each article "paragraphs": [{"context": ..., "qas": [...]}].')
        title = article.get("title")
        title = None if title is None else str(title)
        shown = f"article {a}" + (f" ({title!r})" if title else "")
        for p, paragraph in enumerate(article["paragraphs"], start=1):
            here = f"{shown}, paragraph {p}"
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not context.strip():
                raise _error("a non-empty context in every paragraph", f"context {context!r}", here, name,
                             "Add the paragraph's text as its \"context\", or remove the paragraph.")
            qas = paragraph.get("qas", [])
            if not isinstance(qas, list):
                raise _error('a "qas" list of questions', repr(qas)[:80], here, name,
                             'Write the questions as "qas": [{"id": ..., "question": ..., "answers": [...]}].')
            for q, qa in enumerate(qas, start=1):
                if not isinstance(qa, dict):
                    raise _error("a question object", repr(qa)[:80], f"{here}, question {q}", name,
                                 'Write each question as {"id": ..., "question": ..., "answers": [...]}.')
                qid = qa.get("id")
                if qid is None or not str(qid).strip():
                    qid = f"{a}-{p}-{q}"
                    warnings.append(f"{here}, question {q}: no id; {qid!r} is used.")
                where = f"{here}, question {q} (id {qid})"
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise _error("a non-empty question", f"question {question!r}", where, name,
                                 "Write the question's text, or remove the question.")
                answers = qa.get("answers") or []
                if qa.get("is_impossible") is True:
                    if answers:
                        warnings.append(f"{where}: marked is_impossible but has {len(answers)} answer(s); read as "
                                        "unanswerable (its answers are ignored).")
                    answers = []
                if not isinstance(answers, list) or not all(isinstance(x, dict) for x in answers):
                    raise _error('"answers" as a list of {"text": ..., "answer_start": ...}', repr(answers)[:120],
                                 where, name, "Fix the answers, or write [] for a question without an answer.")
                for x in answers:
                    for key in ("text", "answer_start"):
                        if key not in x:
                            raise _error(f'"{key}" in every answer', f"an answer with keys {sorted(map(str, x))}",
                                         where, name, 'Write each answer as {"text": ..., "answer_start": ...}.')
                parsed = squad_answers([x["text"] for x in answers], [x["answer_start"] for x in answers], where, name)
                unanswerable |= not parsed["text"]
                for key, value in (("ids", str(qid)), ("questions", question), ("contexts", context),
                                   ("answers", parsed), ("titles", title), ("where", where)):
                    out[key].append(value)
    if not out["ids"]:
        raise _error("at least one question", "no question in any paragraph", "", name,
                     "Choose the file that holds the questions.")
    return {**out, "version": _version(data.get("version"), unanswerable), "warnings": warnings}

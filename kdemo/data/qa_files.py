"""Reading extractive question-answering files into one :class:`QACorpus`, and checking answers against contexts.

Accepted files:

- SQuAD v1.1 and v2.0 JSON (``data`` → ``paragraphs`` → ``qas``; :mod:`kdemo.data.qa_squad`);
- any table :func:`kdemo.data.tables.read_table` reads (CSV, TSV, JSON Lines or a JSON array of rows, Parquet,
  XLSX) with ``question`` and ``context`` columns and the answers as an ``answers`` column (HF's SQuAD layout
  ``{"text": [...], "answer_start": [...]}`` in any form :mod:`kdemo.data.qa_cells` reads) or as ``answer_text``
  and ``answer_start`` columns; optional ``id`` and ``title`` columns. Column names are matched case-insensitively.

Unanswerable questions (SQuAD 2.0's ``is_impossible``, empty answers) are read as both answer lists empty. Contexts
are kept exactly as written (whitespace included) and offsets count Python ``str`` characters, as SQuAD does: nothing
is normalised silently. :func:`align_answers` checks every answer at its offset and moves it where its text occurs
exactly once, saying so; :func:`check_trainable` refuses a corpus without any answer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kdemo.data.qa_cells import answers_from_cell, answers_from_columns, is_missing
from kdemo.data.qa_sniff import CONTEXT_COLUMN, QUESTION_COLUMN, has_qa_columns, looks_like_qa_file
from kdemo.data.qa_squad import is_squad, parse_squad
from kdemo.data.tables import decode_file, read_info, read_table
from kdemo.errors import DataError

#: Column names (lower case) of the answers and the optional columns of a question table.
ANSWERS_COLUMN, ANSWER_TEXT_COLUMN, ANSWER_START_COLUMN = "answers", "answer_text", "answer_start"
ID_COLUMN, TITLE_COLUMN = "id", "title"

__all__ = ["AnswerCheck", "QACorpus", "align_answers", "check_trainable", "looks_like_qa_file", "qa_from_frame",
           "read_qa_file"]


@dataclass(frozen=True)
class QACorpus:
    """Questions with their contexts and answers, one entry per question in file order.

    Attributes:
        ids: Question ids (SQuAD's ``id``; tables: the ``id`` column, else ``"row-<n>"``).
        questions: Question texts.
        contexts: The context of each question (shared contexts repeat), exactly as in the file.
        answers: Per question, ``{"text": [str, ...], "answer_start": [int, ...]}`` (character offsets into the
            context); both lists empty for an unanswerable question.
        titles: SQuAD article titles; tables: the ``title`` column, else None.
        where: Where each question is, for messages: ``"article 3 ('Normans'), paragraph 2, question 5 (id 56dd...)"``
            or ``"row 7"`` (1-based data row of a table, header not counted).
        version: ``"1.1"`` or ``"2.0"`` (SQuAD's ``version``, ``"2.0"`` when any question has no answer) or ``"table"``.
        name: Display name (the file name).
        warnings: Repairs and conversions done while reading, each naming its question.
    """

    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answers: list[dict]
    titles: list[str | None]
    where: list[str]
    version: str
    name: str
    warnings: tuple[str, ...] = ()

    def __len__(self) -> int:
        """Number of questions."""
        return len(self.questions)

    @property
    def unanswerable(self) -> list[bool]:
        """Per question: whether it has no answer."""
        return [not a["text"] for a in self.answers]

    @property
    def allows_no_answer(self) -> bool:
        """Whether "no answer" is a possible prediction (SQuAD 2.0 style): version 2.0 or any unanswerable question."""
        return self.version == "2.0" or any(self.unanswerable)

    def subset(self, indices: Sequence[int]) -> QACorpus:
        """The questions at ``indices`` (0-based positions), in that order; ``where`` still names the original place."""
        idx = [int(i) for i in indices]
        pick = lambda values: [values[i] for i in idx]  # noqa: E731
        return dataclasses.replace(self, ids=pick(self.ids), questions=pick(self.questions),
                                   contexts=pick(self.contexts), answers=pick(self.answers),
                                   titles=pick(self.titles), where=pick(self.where))

    def to_frame(self) -> pd.DataFrame:
        """A table with columns ``id``, ``title``, ``question``, ``context``, ``answers`` (SQuAD layout dicts)."""
        return pd.DataFrame({"id": self.ids, "title": self.titles, "question": self.questions,
                             "context": self.contexts, "answers": [dict(a) for a in self.answers]})


def _corpus(parsed: dict, name: str, notes: Sequence[str] = ()) -> QACorpus:
    return QACorpus(parsed["ids"], parsed["questions"], parsed["contexts"], parsed["answers"], parsed["titles"],
                    parsed["where"], parsed["version"], name, tuple(notes) + tuple(parsed["warnings"]))


def read_qa_file(path: str | Path, *, encoding: str | None = None, name: str | None = None) -> QACorpus:
    """Read a SQuAD JSON file, or a table of questions, contexts and answers.

    Args:
        path: The file. A ``.json`` file holding one object with a ``data`` list is SQuAD; other ``.json`` files
            (JSON Lines, an array of rows) and every other suffix are read as tables by :func:`read_table`.
        encoding: Python codec of a text file; None detects it (:mod:`kdemo.data.encodings`).
        name: Display name for messages; default the file name.

    Returns:
        The :class:`QACorpus` (answers as written: see :func:`align_answers`).

    Raises:
        DataError: If the file is missing, empty, binary or invalid JSON (line and column named), JSON that is not
            SQuAD, a table without a question or context column (its columns and the accepted names named), a
            question or context missing or empty, an ``answer_start`` that is not a whole number, answer texts and
            offsets of different lengths, or no question at all; each message names the row or the article,
            paragraph and question.
    """
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise DataError(f"Expected a question-answering file. Received: {str(path)!r}, which does not exist.")
    if path.suffix.lower() == ".json":
        raw = path.read_bytes()
        if not raw.strip():
            raise DataError(f"Expected SQuAD JSON or a table of questions. Received: {name!r} is empty. "
                            "Choose the file that holds the questions.")
        decoded = decode_file(raw, name, encoding)
        text = decoded.text
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if not _starts_with_object_line(text):  # not JSON Lines either: say where the JSON breaks
                raise DataError(f"Expected valid JSON in {name!r}. Received: {exc.msg} at line {exc.lineno}, column "
                                f"{exc.colno}. Fix the file there (an unclosed quote or bracket, a missing comma)."
                                ) from None
            data = None
        if isinstance(data, dict) and (is_squad(data) or not has_qa_columns(data)):
            return _corpus(parse_squad(data, name), name, _notes(name, decoded.method, decoded.label, decoded.notes))
    df = read_table(path, encoding=encoding)
    corpus = qa_from_frame(df, name=name)
    info = read_info(df)
    notes = _notes(name, info.get("encoding_method"), info.get("encoding"), info.get("notes", []))
    return dataclasses.replace(corpus, warnings=notes + corpus.warnings)


def _notes(name: str, method: str | None, label: str | None, notes) -> tuple[str, ...]:
    """The reading notes, and which encoding a file that is not UTF-8 was read as (when no note says so)."""
    notes = tuple(notes)
    if method == "detected" and not notes:
        notes += (f"{name!r} is not UTF-8; it was read as {label}.",)
    return notes


def _starts_with_object_line(text: str) -> bool:
    first = next((line for line in text.split("\n") if line.strip()), "").strip()
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


def _column(lower: dict, given: str | None, default: str, df: pd.DataFrame, name: str, option: str,
            todo: str) -> str | None:
    """The column named ``given`` (exactly or case-insensitively) or, when None, the one named ``default``."""
    if given is not None:
        if given in df.columns:
            return given
        if given.strip().lower() in lower:
            return lower[given.strip().lower()]
        raise DataError(f"Expected a column {given!r} ({option}=) in {name!r}. Received: columns {list(df.columns)}. "
                        "Choose one of these columns.")
    if default in lower:
        return lower[default]
    if todo:
        raise DataError(f"Expected a {default} column in {name!r} (accepted names: {default!r} in any case, or "
                        f"{option}=). Received: columns {list(df.columns)} in the header (row 1). {todo}")
    return None


def qa_from_frame(df: pd.DataFrame, *, name: str = "table", question_column: str | None = None,
                  context_column: str | None = None, answers_column: str | None = None) -> QACorpus:
    """Read a table of questions, contexts and answers (see the module docstring for the columns).

    Args:
        df: The table (from :func:`kdemo.data.tables.read_table`, or built in Python: dict and array cells work).
        name: Display name for messages.
        question_column: Column of the questions; default the one named ``question`` (any case).
        context_column: Column of the contexts; default ``context``.
        answers_column: Column of the answers in SQuAD layout; default ``answers``, else the two columns
            ``answer_text`` and ``answer_start``; with neither, every question is unanswerable (a file to predict on).

    Returns:
        The :class:`QACorpus`, version ``"table"``; ``where`` is ``"row <n>"`` (1-based data row).

    Raises:
        DataError: If a question or context column is missing (the table's columns and the accepted names named),
            only one of ``answer_text``/``answer_start`` exists, a question or context is empty, or an answer is
            malformed (:func:`kdemo.data.qa_cells.answers_from_cell`); the row is named. Also for a table without rows.
    """
    lower = {str(c).strip().lower(): c for c in df.columns}
    q_col = _column(lower, question_column, QUESTION_COLUMN, df, name, "question_column",
                    "Name the questions' column 'question' or choose it with question_column=.")
    c_col = _column(lower, context_column, CONTEXT_COLUMN, df, name, "context_column",
                    "Name the contexts' column 'context' or choose it with context_column=.")
    a_col = _column(lower, answers_column, ANSWERS_COLUMN, df, name, "answers_column", "")
    text_col, start_col = lower.get(ANSWER_TEXT_COLUMN), lower.get(ANSWER_START_COLUMN)
    warnings: list[str] = []
    if a_col is None and (text_col is None) != (start_col is None):
        have, lack = (ANSWER_TEXT_COLUMN, ANSWER_START_COLUMN) if start_col is None else (ANSWER_START_COLUMN,
                                                                                          ANSWER_TEXT_COLUMN)
        raise DataError(f"Expected both {ANSWER_TEXT_COLUMN!r} and {ANSWER_START_COLUMN!r} columns in {name!r}. "
                        f"Received: {have!r} without {lack!r} (columns {list(df.columns)}). Add the {lack!r} column, "
                        "or give the answers as one 'answers' column {\"text\": [...], \"answer_start\": [...]}.")
    if a_col is None and text_col is None:
        warnings.append(f"{name!r} has no answers column ('answers', or 'answer_text' and 'answer_start'): its "
                        "questions are read without answers, to predict on.")
    if len(df) == 0:
        raise DataError(f"Expected at least one question in {name!r}. Received: a table without rows. "
                        "Choose the file that holds the questions.")
    id_col, title_col = lower.get(ID_COLUMN), lower.get(TITLE_COLUMN)
    out = {k: [] for k in ("ids", "questions", "contexts", "answers", "titles", "where")}
    for r, row in enumerate(df.itertuples(index=False, name=None), start=1):
        cells = dict(zip(df.columns, row))
        where = f"row {r}"
        for col, what in ((q_col, "question"), (c_col, "context")):
            if is_missing(cells[col]):
                raise DataError(f"Expected a {what} in every row of column {str(col)!r} ({where} of {name!r}). "
                                f"Received: {'an empty cell' if not isinstance(cells[col], str) else repr(cells[col])}."
                                f" Fill in the {what} or remove the row.")
        if a_col is not None:
            answers = answers_from_cell(cells[a_col], where, name)
        elif text_col is not None:
            answers = answers_from_columns(cells[text_col], cells[start_col], where, name)
        else:
            answers = {"text": [], "answer_start": []}
        qid = cells[id_col] if id_col is not None else None
        title = cells[title_col] if title_col is not None else None
        for key, value in (("ids", f"row-{r}" if is_missing(qid) else str(qid)), ("questions", str(cells[q_col])),
                           ("contexts", str(cells[c_col])), ("answers", answers),
                           ("titles", None if is_missing(title) else str(title)), ("where", where)):
            out[key].append(value)
    return _corpus({**out, "version": "table", "warnings": warnings}, name)


@dataclass(frozen=True)
class AnswerCheck:
    """What :func:`align_answers` found.

    Attributes:
        corpus: The corpus with every repairable ``answer_start`` moved to the one place its text occurs.
        repairs: One message per moved answer, naming its question: ``"row 7: answer 'Paris' is not at character
            12 of the context; it occurs once, at 40: 40 is used."``.
        errors: One message per answer not at its offset that cannot be moved (its text is not in the context, or
            occurs there several times), naming the question, the answer, the offset and what to do.
        repaired_questions, error_questions: 0-based position of the question of each repair and each error.
    """

    corpus: QACorpus
    repairs: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    repaired_questions: tuple[int, ...] = ()
    error_questions: tuple[int, ...] = ()


def _occurrences(context: str, text: str) -> list[int]:
    """Every start of ``text`` in ``context`` (overlapping ones included)."""
    found, at = [], context.find(text)
    while at >= 0:
        found.append(at)
        at = context.find(text, at + 1)
    return found


def align_answers(corpus: QACorpus) -> AnswerCheck:
    """Check that every answer's text is at its ``answer_start`` in its context, exactly (no whitespace or case
    folding); move it where the text occurs exactly once, and list the answers that cannot be placed.

    Args:
        corpus: The questions.

    Returns:
        An :class:`AnswerCheck` (its corpus is a copy; ``corpus`` is not changed).
    """
    repairs, errors, aligned, repaired_at, error_at = [], [], [], [], []
    for i, (context, answers, where) in enumerate(zip(corpus.contexts, corpus.answers, corpus.where)):
        starts = list(answers["answer_start"])
        for k, (text, start) in enumerate(zip(answers["text"], answers["answer_start"])):
            if context[start:start + len(text)] == text:
                continue
            found = _occurrences(context, text)
            if len(found) == 1:
                starts[k] = found[0]
                repaired_at.append(i)
                repairs.append(f"{where}: answer {text!r} is not at character {start} of the context; it occurs "
                               f"once, at {found[0]}: {found[0]} is used.")
                continue
            there = context[start:start + len(text)]
            received = f"{there!r} there" if there else f"the context ends before it ({len(context)} characters)"
            if found:
                shown = ", ".join(map(str, found[:10])) + (", …" if len(found) > 10 else "")
                received += f"; the text occurs {len(found)} times in the context (at characters {shown})"
                todo = "Set answer_start to the character where the intended occurrence starts."
            else:
                received += "; the text occurs nowhere in the context"
                todo = ("Correct the answer text to what the context writes (spaces and case included) or its "
                        "answer_start, or remove the answer.")
            error_at.append(i)
            errors.append(f"{where}: expected answer {text!r} at character {start} of the context. Received: "
                          f"{received}. {todo}")
        aligned.append({"text": list(answers["text"]), "answer_start": starts})
    return AnswerCheck(dataclasses.replace(corpus, answers=aligned), tuple(repairs), tuple(errors), tuple(repaired_at),
                       tuple(error_at))


def check_trainable(corpus: QACorpus) -> None:
    """Refuse to train on a corpus whose every question is unanswerable: there is nothing to learn from.

    Raises:
        DataError: Naming the file and the first and last question.
    """
    if any(not u for u in corpus.unanswerable):
        return
    kind = f"SQuAD {corpus.version} file" if corpus.version != "table" else "table"
    span = corpus.where[0] if len(corpus) == 1 else f"{corpus.where[0]} to {corpus.where[-1]}"
    raise DataError(f"Expected at least one question with an answer to train on. Received: all {len(corpus)} "
                    f"questions of the {kind} {corpus.name!r} have empty answers ({span}): there is nothing to learn "
                    "from. Add the answers (text and answer_start), or use the file to predict on.")

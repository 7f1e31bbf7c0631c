"""What the tabs show for extractive question answering: the Data tab's QA doctor and questions with their answer
highlighted in the context, the Train tab's exact-match/F1 report and its ``doc_stride`` field, the Predict tab's
answer highlighted in the context with the top answers, the Attention tab's question and context segments.

The tab modules wire these to their events; :func:`kdemo.ui.views.view_for` picks this module from the task's spec.
"""

from __future__ import annotations

import re
from pathlib import Path

import gradio as gr
import pandas as pd

from kdemo.data.qa_doctor import diagnose_qa
from kdemo.data.qa_files import read_qa_file
from kdemo.errors import DataError
from kdemo.inference.predictions_csv import write_csv
from kdemo.run import TrainConfig, read_data
from kdemo.tasks import Task
from kdemo.ui.session import STORE
from kdemo.ui.views.common import DOCTOR_STAGE, default_tokenizer, length_figure, reading_stage, say
from kdemo.ui.views.tokens import keep_copy

#: The Predict tab shows the answer in its context and the top answers (not class probabilities or entities).
OUTPUT = "answers"
ENTITIES = False
#: What a model's outputs are called in the Predict tab's load message.
CLASS_WORDS = "span outputs (the answer's start and end in the context)"
#: The Attention tab reads a question and its context: two texts, for every model of the task.
TAKES_PAIRS = "always"
#: Names of the two segments (the tab's A and B) in the Attention tab.
SEGMENTS = ("question", "context")
#: Labels of the Predict and Attention tabs' two text boxes.
INPUT_LABELS = ("Question", "Context (the answer is a span of it)")
#: Long contexts are read in overlapping windows: the Train tab shows ``doc_stride``.
WINDOWS = True
QA_TASK = Task.QUESTION_ANSWERING.value
#: HF run_qa's window size and overlap (tokens): what the doctor counts windows for.
MAXLEN, DOC_STRIDE = 384, 128
#: Answers in the Predict tab's table.
TOP_ANSWERS = 5
#: Characters of a long context shown around the answer in the Data tab's preview.
PREVIEW_AROUND = 240
ANSWER_COLORS = {"answer": "#10b981", "question": "#3b82f6"}
ANSWER_COLUMNS = ["answer", "score", "start", "end"]
EMPTY_ANSWERS = pd.DataFrame(columns=ANSWER_COLUMNS)
WORST_COLUMNS = ["question", "answers", "predicted", "exact", "f1"]


def task_choices() -> list[str]:
    """The Data tab's task radio choices for questions: extractive question answering only."""
    return [QA_TASK]


def stride_for(maxlen: int) -> int:
    """A ``doc_stride`` for ``maxlen`` (tokens): run_qa's 128 of 384, i.e. a third, a multiple of 8, at least 8."""
    return max(8, min(DOC_STRIDE, int(maxlen) // 3 // 8 * 8))


def held_out_contexts(num_contexts: int, val_pct: float) -> int:
    """Contexts a run holds out for validation without a validation file (the run's rule: at least one, at least
    one kept; all questions of a context go to the same side)."""
    return min(num_contexts - 1, max(1, round(num_contexts * val_pct))) if num_contexts > 1 else 0


def counts_table(diagnosis) -> pd.DataFrame:
    """Questions, contexts, answered and unanswerable questions, with their share of the questions."""
    rows = [("questions", diagnosis.num_questions), ("contexts", diagnosis.num_contexts),
            ("answered", diagnosis.num_answers), ("unanswerable", diagnosis.num_unanswerable)]
    table = pd.DataFrame(rows, columns=["what", "count"])
    table["share"] = (table["count"] / max(diagnosis.num_questions, 1)).round(3)
    table.loc[1, "share"] = None  # contexts are not a share of the questions
    return table


def preview_table(corpus, rows: int) -> pd.DataFrame:
    """The first questions as rows: where, question, answer (``(no answer)``) and the start of the context."""
    n = min(rows, len(corpus))
    return pd.DataFrame({
        "where": corpus.where[:n], "question": corpus.questions[:n],
        "answer": [" | ".join(a["text"]) or "(no answer)" for a in corpus.answers[:n]],
        "context": [c if len(c) <= 160 else c[:159] + "…" for c in corpus.contexts[:n]],
    })


def _around_answer(spans: list[tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    """A long context cut to :data:`PREVIEW_AROUND` characters either side of its answer, with "…"."""
    if len(spans) != 3 or spans[1][1] != "answer":
        text = "".join(t for t, _ in spans)
        return [(text if len(text) <= 2 * PREVIEW_AROUND else text[:2 * PREVIEW_AROUND] + "…", None)]
    (before, _), answer, (after, _) = spans
    before = before if len(before) <= PREVIEW_AROUND else "…" + before[-PREVIEW_AROUND:]
    after = after if len(after) <= PREVIEW_AROUND else after[:PREVIEW_AROUND] + "…"
    return [(before, None), answer, (after, None)]


def highlighted_preview(preview: list[dict]) -> list[tuple[str, str | None]]:
    """``gr.HighlightedText`` value of the doctor's preview: per question, the question (marked ``"question"``) on
    one line and its context with the first answer marked ``"answer"`` (cut around it when long)."""
    out: list[tuple[str, str | None]] = []
    for item in preview:
        if out:
            out.append(("\n\n", None))
        answer = "" if item["answer"] is not None else " (no answer)"
        out += [(f"{item['where']}: {item['question']}{answer}", "question"), ("\n", None)]
        for text, label in _around_answer(list(item["context"])):  # word by word: the page wraps them inline
            out += [(text, label)] if label else [(w, None) for w in re.split(r"(?<= )", text) if w]
    return out


def summary(name: str, data, diagnosis, val_pct: float) -> str:
    """The Data tab's one-line summary of a question file."""
    if data.val is not None:
        split = f"validation file: **{len(data.val)}** questions"
    else:
        held = held_out_contexts(diagnosis.num_contexts, val_pct)
        split = f"validation: **{held}** of {diagnosis.num_contexts} contexts ({val_pct:.0%}, split off with their questions)"
    version = f"SQuAD {diagnosis.version}" if diagnosis.version != "table" else "a question table"
    suggested = diagnosis.suggested_maxlen
    head = (f"**{name}**: {diagnosis.num_questions} questions on {diagnosis.num_contexts} contexts ({version}), "
            f"{diagnosis.num_answers} answered, {diagnosis.num_unanswerable} unanswerable; task **extractive "
            f"question answering**")
    if diagnosis.errors:
        return f"⚠️ {head}. Cannot train yet: {diagnosis.errors[0].message} (see the data doctor below)"
    notes = len(diagnosis.problems)
    more = f" The data doctor has {notes} note(s) below, naming the questions." if notes else ""
    return (f"✅ {head}; {split}. Suggested maxlen **{suggested}** with doc_stride **{stride_for(suggested)}** "
            f"(\"Use these settings\" puts maxlen into the Train tab).{more}")


def report_outputs(report) -> tuple[str, pd.DataFrame, None]:
    """The Train tab's markdown (exact match and F1, percent), the worst questions by F1, and no figure (there is no
    confusion matrix of answers) for a :class:`~kdemo.evaluation.qa.QAReport`."""
    text = (f"**Validation (SQuAD scoring):** exact match **{report.exact_match:.2f}**, F1 **{report.f1:.2f}** "
            f"(percent) on {report.num_rows} questions ({report.num_windows} windows).")
    if report.version_2:
        halves = [f"{name} {value:.2f}" for name, value in (("F1 answerable", report.has_ans_f1),
                                                             ("F1 unanswerable", report.no_ans_f1)) if value is not None]
        text += f" SQuAD 2.0: {', '.join(halves)}."
    worst = report.per_question.sort_values("f1", kind="stable").head(10)
    table = worst.reindex(columns=WORST_COLUMNS).copy()
    table["f1"] = pd.to_numeric(table["f1"]).round(1)
    return text + " The table lists the questions with the lowest F1.", table, None


def load(session, train_file: str, val_file: str | None, val_pct: float, *, encoding: str | None = None,
         preview_rows: int = 20, progress=None) -> tuple:
    """Copy a question file (SQuAD JSON or a question table) and its optional validation file into the session's
    folder, read the copies once with :func:`kdemo.run.read_data` (the run trains on this data) and diagnose them.

    Args:
        session: The :class:`~kdemo.ui.session.Session` (its ``data`` and doctor report are set).
        train_file: The uploaded file.
        val_file: Optional validation file of the same kind.
        val_pct: Fraction 0–1 of the contexts held out when there is no validation file.
        encoding: Codec to read the file with; None detects it.
        preview_rows: Questions in the preview table.
        progress: A ``gr.Progress`` (or None) told each stage.

    Returns:
        The Data tab's load outputs (see :func:`outputs`).

    Raises:
        DataError: If a file cannot be read, a question or context is missing, an answer is not at its offset and
            cannot be moved there, or no question has an answer (the message names the row or the question).
    """
    say(progress, reading_stage(train_file, encoding))
    folder = session.workdir / "data"
    copy = keep_copy(train_file, folder, "train", encoding)
    val_copy = keep_copy(val_file, folder, "validation") if val_file else None
    config = TrainConfig(train_file=str(copy), val_file=str(val_copy) if val_copy else None, task=QA_TASK,
                         data_name=Path(train_file).name)
    session.data, session.doctor_report = read_data(config), None
    session.class_weight_offer, session.use_class_weight = None, False
    say(progress, f"Read {len(session.data.train):,} questions")
    say(progress, DOCTOR_STAGE)
    shown = outputs(session, val_pct, tokenizer=default_tokenizer(), preview_rows=preview_rows)
    STORE.persist(session)  # the copies and the task come back after a restart
    return shown


def outputs(session, val_pct: float, *, tokenizer=None, preview_rows: int = 20) -> tuple:
    """Preview, hidden column menus, summary, counts, doctor markdown, context-length histogram (the doctor's counts:
    nothing is tokenized again), task radio and a hidden class-weight box; the doctor runs first when the session has
    no report of its data (after an upload or a restart)."""
    data = session.require_data()
    if session.doctor_report is None:
        session.doctor_report = diagnose_qa(data.train, tokenizer=tokenizer, maxlen=MAXLEN, doc_stride=DOC_STRIDE,
                                            val=data.val)
    diagnosis = session.doctor_report
    figure = length_figure(diagnosis, item="context", count_label="contexts",
                           maxlen_note=" (question and context in one window)")
    hidden = gr.update(choices=[], value=None, visible=False)
    return (preview_table(data.train, preview_rows), hidden, gr.update(choices=[], value=[], visible=False),
            summary(data.data_name or "", data, diagnosis, val_pct), counts_table(diagnosis), diagnosis.to_markdown(),
            figure, gr.update(choices=task_choices(), value=QA_TASK), gr.update(visible=False, value=False))


def restore(session, val_pct: float, preview_rows: int = 20) -> tuple:
    """The Data tab's outputs for a session holding questions (a reload, or back after a restart), then the
    second-text menu (nothing to choose) and its note."""
    shown = outputs(session, val_pct, tokenizer=default_tokenizer(), preview_rows=preview_rows)
    return (*shown, gr.update(choices=[("(none: single texts)", "")], value=""), "")


def require_columns(session) -> None:
    """Refuse a column choice: a question file's columns are fixed.

    Raises:
        DataError: Always.
    """
    raise DataError("Expected a table to choose columns in. Received: questions with contexts (SQuAD JSON or a "
                    "table with question, context and answers columns), whose columns are fixed. Upload a table of "
                    "texts and labels to train a text classifier.")


def set_task(session, task: str, val_pct: float):
    """Accept only question answering for a question file (nothing to re-run).

    Raises:
        DataError: For any other task.
    """
    if task != QA_TASK:
        raise DataError(f"Expected {QA_TASK!r} for a file of questions and contexts. Received: {task!r}. Upload a "
                        "table of texts and labels to train a text classifier.")
    return gr.update(), gr.update(), gr.update(), gr.update(), gr.update(visible=False, value=False)


def entity_preview(session):
    """The first questions, each above its context with the answer highlighted, shown."""
    return gr.update(value=highlighted_preview(session.doctor_report.preview), visible=True, color_map=ANSWER_COLORS,
                     label="Questions and their answers highlighted in the context")


def suggest_maxlen(data, tokenizer) -> int:
    """The QA doctor's maxlen for ``data``'s questions with this model's tokenizer: a multiple of 8 that keeps 95 %
    of the questions with their context in one window (sub-word tokens)."""
    return diagnose_qa(data.train, tokenizer=tokenizer, maxlen=None).suggested_maxlen


def train_options(session, maxlen, doc_stride) -> tuple:
    """The Train tab's maxlen and doc_stride fields for question data: doc_stride shown; the doctor's maxlen put in
    when the field's maxlen could not hold a window (at most doc_stride tokens), and doc_stride lowered below maxlen.

    Returns:
        The maxlen and doc_stride updates.
    """
    report = session.doctor_report
    maxlen = int(maxlen or 0)
    stride = int(doc_stride or DOC_STRIDE)
    new_maxlen = gr.update()
    if report is not None and maxlen <= stride:
        maxlen = int(report.suggested_maxlen)
        new_maxlen = gr.update(value=maxlen)
    if maxlen and stride >= maxlen:
        stride = stride_for(maxlen)
    return new_maxlen, gr.update(visible=True, value=stride)


def window_note(maxlen) -> str:
    """The line under the Train tab's maxlen: contexts are windowed, never cut."""
    return (f"Contexts longer than maxlen {int(maxlen or MAXLEN)} are read in overlapping windows of doc_stride tokens "
            "(nothing is cut); the data doctor counts the windows.")


def answers_frame(found: list[dict]) -> pd.DataFrame:
    """The top answers as a table: answer (``(no answer)`` for a SQuAD 2.0 model's null answer), score (0–1),
    start and end (character offsets in the context)."""
    rows = [{"answer": a["answer"] or "(no answer)", "score": round(float(a["score"]), 4), "start": a["start"],
             "end": a["end"]} for a in found]
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS) if rows else EMPTY_ANSWERS.copy()


def answers(predictor, question: str, context: str) -> tuple[dict, pd.DataFrame]:
    """The Predict tab's context with the best answer highlighted (``"answer"``) and the top answers' table.

    Raises:
        DataError: If the question or the context is empty.
    """
    if not context or not context.strip():
        raise DataError("Expected a context to find the answer in. Received: an empty 'Context' box. Paste the text "
                        "the answer should come from.")
    found = predictor.predict(question, context, top_k=TOP_ANSWERS)
    best = found[0]
    spans = [] if best["start"] is None else [{"entity": "answer", "start": int(best["start"]), "end": int(best["end"])}]
    return {"text": context, "entities": spans}, answers_frame(found)


def predict_file(predictor, path: str, session) -> Path:
    """Answer every question of a file (SQuAD JSON, or a table with question and context columns) into the session's
    ``answers.csv``: id, question, context, the true answers when the file has them, and answer, score, start, end."""
    corpus = read_qa_file(path)
    table = corpus.to_frame().drop(columns=["title", "answers"])
    table.insert(3, "true_answers", [" | ".join(a["text"]) for a in corpus.answers])
    return write_csv(predictor.predict_table(table), session.workdir / "answers.csv")


def attention(predictor, text: str, text_pair: str | None):
    """The QA model's attention maps of a question (``text``) and its context (``text_pair``).

    Raises:
        DataError: If the context is empty.
    """
    return predictor.attention(text, text_pair or None)

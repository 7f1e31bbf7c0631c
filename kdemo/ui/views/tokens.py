"""What the tabs show for token classification (NER): the Data tab's token-file doctor and entity preview, the
Train tab's per-type report and entity confusion matrix, the Predict tab's highlighted entities and entity table,
the Attention tab's token to explain.

The tab modules wire these to their events; :func:`kdemo.ui.views.view_for` picks this module from the task's spec.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kdemo.atomic import write_text
from kdemo.data.token_doctor import diagnose_tokens
from kdemo.errors import DataError
from kdemo.inference.entities_csv import read_texts, write_entities_csv
from kdemo.plots import confusion_matrix_figure
from kdemo.run import TrainConfig, read_data
from kdemo.run.token_pipeline import held_out_count
from kdemo.tasks import TASKS, Task
from kdemo.ui.views.common import DOCTOR_STAGE, default_tokenizer, length_figure, reading_stage, say

#: The Predict tab shows entities (highlighted text and a table), not class probabilities.
ENTITIES = True
#: What a model's outputs are called in the Predict tab's load message.
CLASS_WORDS = "tags (token classification)"
#: Token classification reads one sentence at a time: the Attention tab offers no second text.
TAKES_PAIRS = False
#: What the Predict tab shows: highlighted entities and their table.
OUTPUT = "entities"
#: Names of the Attention tab's segments (one text: only A).
SEGMENTS = ("A", "B")
#: Labels of the Predict and Attention tabs' two text boxes (the second is not read).
INPUT_LABELS = ("Text", "Second text (not read by a token-classification model)")
#: Long sentences are split into windows by the run, with no setting: the Train tab hides ``doc_stride``.
WINDOWS = False
#: The token task's value in the Data tab's task radio (offered for token files only).
TOKEN_TASK = Task.TOKEN_CLASSIFICATION.value
#: Sentences shown highlighted in the Data tab's preview.
PREVIEW_SENTENCES = 12
#: Colours of the usual CoNLL entity types in ``gr.HighlightedText`` (other types get Gradio's colours).
ENTITY_COLORS = {"PER": "#f59e0b", "ORG": "#3b82f6", "LOC": "#10b981", "MISC": "#a855f7"}
ENTITY_COLUMNS = ["entity", "type", "score", "start", "end"]
PER_TYPE_COLUMNS = ["entity type", "precision", "recall", "f1-score", "support"]
EMPTY_ENTITIES = pd.DataFrame(columns=ENTITY_COLUMNS)


def task_choices(token: bool = True) -> list[str]:
    """The Data tab's task radio choices: the table tasks, plus token classification for token files only."""
    return [t.value for t in TASKS] + ([TOKEN_TASK] if token else [])


def keep_copy(path: str | Path, folder: Path, name: str, encoding: str | None = None) -> Path:
    """Copy an uploaded file into the session's folder (Gradio's own copies are deleted after a while); with
    ``encoding`` (a codec chosen in the Data tab), the copy is the file's text in UTF-8, so every later reader of
    the copy (the run, a restart) reads it as chosen."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{name}{Path(path).suffix or '.txt'}"
    if encoding:
        try:
            text = Path(path).read_bytes().decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise DataError(f"Expected {Path(path).name!r} to be readable as {encoding}. Received: {exc}. Choose "
                            "another encoding.") from None
        write_text(dest, text)
    elif Path(path).resolve() != dest.resolve():  # a session restored after a restart reads its own copy again
        shutil.copyfile(path, dest)
    return dest


def held_out(corpus, val_pct: float) -> int:
    """Sentences a run holds out for validation when there is no validation file
    (:func:`kdemo.run.token_pipeline.held_out_count`, the run's own rule), 0 for a file too small to split (the run
    then says so)."""
    try:
        return held_out_count(len(corpus.words), val_pct)
    except DataError:
        return 0


def counts_table(diagnosis) -> pd.DataFrame:
    """Entities per type, with their share of all entities."""
    counts = dict(diagnosis.entity_counts or {})
    table = pd.DataFrame({"entity type": list(counts), "entities": list(counts.values())})
    table["share"] = (table["entities"] / max(int(table["entities"].sum()), 1)).round(3)
    return table


def preview_table(corpus, rows: int) -> pd.DataFrame:
    """The first sentences as rows: source line, the sentence, and its tags."""
    n = min(rows, len(corpus.words))
    tags = corpus.tags or [[""] * len(w) for w in corpus.words]
    return pd.DataFrame({
        "line": [int(x) for x in corpus.line_numbers[:n]],
        "sentence": [" ".join(map(str, w)) for w in corpus.words[:n]],
        "tags": [" ".join(map(str, t)) for t in tags[:n]],
    })


def highlighted_preview(preview: Sequence[Sequence[tuple[str, str | None]]]) -> list[tuple[str, str | None]]:
    """``gr.HighlightedText`` value of the doctor's preview: one line per sentence, consecutive words of one entity
    type joined into one highlighted span."""
    spans: list[tuple[str, str | None]] = []
    for sentence in preview:
        if spans:
            spans.append(("\n", None))
        for i, (word, kind) in enumerate(sentence):
            if kind is not None and spans and spans[-1][1] == kind:
                spans[-1] = (f"{spans[-1][0]} {word}", kind)
                continue
            if i:
                spans.append((" ", None))
            spans.append((str(word), kind or None))
    return spans


def summary(name: str, corpus, diagnosis, *, val_sentences: int | None, val_pct: float) -> str:
    """The Data tab's one-line summary of a token file."""
    sentences = len(corpus.words)
    types = sorted(diagnosis.entity_counts or {})
    entities = sum((diagnosis.entity_counts or {}).values())
    if val_sentences is not None:
        split = f"validation file: **{val_sentences}** sentences"
    else:
        n_val = held_out(corpus, val_pct)
        split = f"validation: **{n_val}** sentences ({val_pct:.0%}, split off), training: **{sentences - n_val}**"
    head = (f"**{name}**: {sentences} sentences, {sum(len(w) for w in corpus.words)} words, **{entities} entities** of "
            f"{len(types)} types ({', '.join(types) or 'none'}); tag scheme {diagnosis.scheme}; task **token "
            f"classification** (NER)")
    if not entities:
        return f"⚠️ {head}. Cannot train yet: the file has no entities (every tag is O)."
    problems = len(diagnosis.problems or [])
    more = f" The data doctor has {problems} note(s) below, with line numbers." if problems else ""
    return f"✅ {head}; {split}.{more}"


def per_type_frame(per_type) -> pd.DataFrame:
    """A token report's ``per_type`` (a DataFrame indexed by type, records, or ``{type: {...}}``) as the Train tab's
    table with columns :data:`PER_TYPE_COLUMNS`."""
    if isinstance(per_type, pd.DataFrame):
        frame = per_type.reset_index(names="entity type") if "entity type" not in per_type.columns else per_type
    elif isinstance(per_type, dict):
        frame = pd.DataFrame([{"entity type": k, **v} for k, v in per_type.items()])
    else:
        frame = pd.DataFrame(list(per_type or []))
    frame = frame.rename(columns={"type": "entity type", "f1": "f1-score", "index": "entity type"})
    return frame[[c for c in PER_TYPE_COLUMNS if c in frame.columns]].round(3)


def entity_confusion(report) -> tuple[list[str], np.ndarray]:
    """``(type names, matrix)`` of a :class:`~kdemo.evaluation.ner.NERReport`'s confusion matrix of entity types
    (rows true types, columns predicted; the last row and column ``"O"``: missed and spurious entities)."""
    return [str(c) for c in report.confusion_labels], np.asarray(report.entity_confusion, dtype=np.int64)


def report_outputs(report) -> tuple[str, pd.DataFrame, Figure]:
    """The Train tab's report markdown, per-type table and entity-type confusion figure of a
    :class:`~kdemo.evaluation.ner.NERReport`."""
    parts = [f"entity F1 **{report.f1:.3f}** (micro)"]
    parts += [f"{name} {getattr(report, key):.3f}" for key, name in [
        ("precision", "precision"), ("recall", "recall"), ("macro_f1", "macro-F1"), ("accuracy", "token accuracy")]]
    text = (f"**Validation (entities, seqeval strict BIO):** {', '.join(parts)} on {report.num_rows} sentences "
            f"({report.num_entities} entities).")
    labels, matrix = entity_confusion(report)
    return text, per_type_frame(report.per_type), confusion_matrix_figure(matrix, labels)


def highlighted_entities(text: str, entities: Sequence[dict]) -> dict:
    """``gr.HighlightedText`` value: the text with each entity (``entity_group``, ``start``, ``end``) marked."""
    return {"text": text, "entities": [{"entity": e["entity_group"], "start": int(e["start"]), "end": int(e["end"])}
                                       for e in entities]}


def entities_frame(text: str, entities: Sequence[dict]) -> pd.DataFrame:
    """The entities as a table: entity (its span of ``text``, as written; the pipeline's ``word`` is the tokenizer's
    decoding, lower-cased by uncased models), type, score (0–1), start and end (character offsets)."""
    if not entities:
        return EMPTY_ENTITIES.copy()
    return pd.DataFrame([{"entity": text[int(e["start"]):int(e["end"])], "type": e["entity_group"],
                          "score": round(float(e["score"]), 4),
                          "start": int(e["start"]), "end": int(e["end"])} for e in entities], columns=ENTITY_COLUMNS)


def load_token_data(session, train_file: str, val_file: str | None, val_pct: float, *, tokenizer=None,
                    encoding: str | None = None, preview_rows: int = 20, progress=None) -> tuple:
    """Copy a token file (and optional validation file) into the session's folder, read the copies once with
    :func:`kdemo.run.read_data` (the run trains on this data, without reading again) and diagnose them.

    Args:
        session: The :class:`~kdemo.ui.session.Session` (its ``data`` and doctor report are set).
        train_file: The uploaded CoNLL/BIO or JSONL file.
        val_file: Optional validation file of the same kind.
        val_pct: Fraction 0–1 held out when there is no validation file.
        tokenizer: The default model's tokenizer (sub-word lengths, maxlen suggestion), or None (words).
        encoding: Codec to read the file with; None detects it.
        preview_rows: Sentences in the preview table.
        progress: A ``gr.Progress`` (or None) told each stage: reading, the sentences read, the data doctor.

    Returns:
        The Data tab's load outputs: preview table, text- and label-column dropdown updates (emptied, hidden), summary,
        entity-count table, doctor markdown, sentence-length histogram, task radio update, class-weight checkbox.

    Raises:
        DataError: If a file cannot be read or has no tags (the message names the line).
    """
    say(progress, reading_stage(train_file, encoding))
    folder = session.workdir / "data"
    copy = keep_copy(train_file, folder, "train", encoding)
    val_copy = keep_copy(val_file, folder, "validation") if val_file else None
    config = TrainConfig(train_file=str(copy), val_file=str(val_copy) if val_copy else None, task=TOKEN_TASK,
                         data_name=Path(train_file).name)
    session.data, session.doctor_report = read_data(config), None
    session.class_weight_offer, session.use_class_weight = None, False
    val = session.data.val
    say(progress, f"Read {len(session.data.train.words):,} sentences"
        + (f" (and {len(val.words):,} validation sentences)" if val is not None and val_file else ""))
    say(progress, DOCTOR_STAGE)
    return outputs(session, val_pct, tokenizer=tokenizer, preview_rows=preview_rows)


def outputs(session, val_pct: float, *, tokenizer=None, preview_rows: int = 20) -> tuple:
    """The Data tab's outputs for the session's token data (see :func:`load_token_data`), diagnosing it first when
    the session has no report of it yet (after an upload or a restart)."""
    data = session.require_data()
    if session.doctor_report is None:
        session.doctor_report = diagnose_tokens(data.train, tokenizer=tokenizer)
    diagnosis = session.doctor_report
    figure = length_figure(diagnosis, item="sentence", count_label="sentences")
    text = summary(data.data_name or "", data.train, diagnosis,
                   val_sentences=len(data.val.words) if data.val is not None else None, val_pct=val_pct)
    return (
        preview_table(data.train, preview_rows), gr.update(choices=[], value=None, visible=False),
        gr.update(choices=[], value=[], visible=False),
        text, counts_table(diagnosis), diagnosis.to_markdown(), figure,
        gr.update(choices=task_choices(True), value=TOKEN_TASK), gr.update(visible=False, value=False),
    )


def load(session, train_file: str, val_file: str | None, val_pct: float, *, encoding: str | None = None,
         preview_rows: int = 20, progress=None) -> tuple:
    """The Data tab's upload of a token file: :func:`load_token_data` with the default model's tokenizer."""
    return load_token_data(session, train_file, val_file, val_pct, tokenizer=default_tokenizer(), encoding=encoding,
                           preview_rows=preview_rows, progress=progress)


def restore(session, val_pct: float, preview_rows: int = 20) -> tuple:
    """The Data tab's outputs for a session holding a token file (a reloaded page, or back after a restart): as
    :func:`load`'s (the data as read once; diagnosed again only after a restart), then the second-text menu
    (nothing to choose) and its note."""
    shown = outputs(session, val_pct, tokenizer=default_tokenizer(), preview_rows=preview_rows)
    return (*shown, gr.update(choices=[("(none: single texts)", "")], value=""), "")


def require_columns(session) -> None:
    """Refuse a column choice: a token file has no columns.

    Raises:
        DataError: Always.
    """
    raise DataError("Expected a table to choose columns in. Received: a token file (one word and its tag per "
                    "line), which has no text or label columns. Upload a table to train a text classifier.")


def set_task(session, task: str, val_pct: float):
    """Accept only token classification for a token file (nothing to re-run).

    Raises:
        DataError: For any other task.
    """
    if task != TOKEN_TASK:
        raise DataError(f"Expected {TOKEN_TASK!r} for a token file (one tag per word). Received: "
                        f"{task!r}. Upload a table to train a text classifier.")
    return gr.update(), gr.update(), gr.update(), gr.update(), gr.update(visible=False, value=False)


def entity_preview(session):
    """The first sentences with their entities highlighted, shown."""
    preview = session.doctor_report.preview[:PREVIEW_SENTENCES]
    return gr.update(value=highlighted_preview(preview), visible=True, color_map=ENTITY_COLORS,
                     label="Entities in the first sentences")


def train_options(session, maxlen, doc_stride) -> tuple:
    """The Train tab's maxlen (unchanged) and doc_stride (hidden: question answering only) updates."""
    return gr.update(), gr.update(visible=False)


def suggest_maxlen(data, tokenizer) -> int:
    """The token doctor's maxlen for ``data``'s sentences with this model's tokenizer (sub-word tokens)."""
    return diagnose_tokens(data.train, tokenizer=tokenizer).suggested_maxlen


def entities(predictor, text: str) -> tuple[dict, pd.DataFrame]:
    """The Predict tab's highlighted text and entity table of one text."""
    found = predictor.predict(text, merge_tokens=True, return_offsets=True)
    return highlighted_entities(text, found), entities_frame(text, found)


def predict_file(predictor, path: str, session) -> Path:
    """The entities of every text of a file (a table's text column, or a .txt file's lines) into the session's
    ``entities.csv``: one row per entity."""
    texts = read_texts(path, getattr(session.data, "text_column", None))
    return write_entities_csv(predictor, texts, session.workdir / "entities.csv")


def _one_text(text_pair: str | None) -> None:
    if text_pair:
        raise DataError("Expected one text for a token-classification model. Received: a second text too. "
                        "Empty the 'Second text' box.")


def attention(predictor, text: str, text_pair: str | None):
    """The token model's attention maps of one text.

    Raises:
        DataError: If a second text is given.
    """
    _one_text(text_pair)
    return predictor.attention(text)

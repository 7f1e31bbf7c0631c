"""What the tabs show for token classification (NER): the Data tab's token-file doctor and entity preview, the
Train tab's per-type report and entity confusion matrix, the Predict tab's highlighted entities and entity table.

Pure helpers (facts in, Gradio values out); the tab modules wire them to their events.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from kdemo.errors import DataError
from kdemo.plots import confusion_matrix_figure, length_histogram_figure
from kdemo.tasks import TASKS, Task
from kdemo.data.token_doctor import diagnose_tokens
from kdemo.data.token_files import read_token_file

#: The token task's value in the Data tab's task radio (offered for token files only).
TOKEN_TASK = Task.TOKEN_CLASSIFICATION.value
#: Sentences shown highlighted in the Data tab's preview.
PREVIEW_SENTENCES = 12
#: Colours of the usual CoNLL entity types in ``gr.HighlightedText`` (other types get Gradio's colours).
ENTITY_COLORS = {"PER": "#f59e0b", "ORG": "#3b82f6", "LOC": "#10b981", "MISC": "#a855f7"}
ENTITY_COLUMNS = ["entity", "type", "score", "start", "end"]
PER_TYPE_COLUMNS = ["entity type", "precision", "recall", "f1-score", "support"]
EMPTY_ENTITIES = pd.DataFrame(columns=ENTITY_COLUMNS)


def task_choices(token: bool) -> list[str]:
    """The Data tab's task radio choices: the table tasks, plus token classification for token files only."""
    return [t.value for t in TASKS] + ([TOKEN_TASK] if token else [])


def keep_copy(path: str | Path, folder: Path, name: str) -> Path:
    """Copy an uploaded file into the session's folder (Gradio's own copies are deleted after a while)."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{name}{Path(path).suffix or '.txt'}"
    if Path(path).resolve() != dest.resolve():  # a session restored after a restart reads its own copy again
        shutil.copyfile(path, dest)
    return dest


def read_corpus(path: str | Path, *, encoding: str | None = None):
    """Read a token file (:func:`kdemo.data.token_files.read_token_file`), refusing one without tags.

    Raises:
        DataError: If the file cannot be read, or has words but no tags.
    """
    corpus = read_token_file(path, encoding=encoding)
    if corpus.tags is None:
        raise DataError(f"Expected a tag after each word (e.g. 'Berlin B-LOC'). Received: words only in "
                        f"{Path(path).name!r}. Add the tag column (BIO: B-TYPE, I-TYPE, O) to train on this file.")
    return corpus


def diagnose(corpus, tokenizer=None):
    """The token data doctor's diagnosis (:func:`kdemo.data.token_doctor.diagnose_tokens`)."""
    return diagnose_tokens(corpus, tokenizer=tokenizer)


def subword_lengths(corpus, tokenizer) -> np.ndarray:
    """Sub-word tokens per sentence (special tokens included) with ``tokenizer``; words per sentence without one.

    Returns:
        int64 array, shape ``(num_sentences,)``.
    """
    words = [list(map(str, w)) for w in corpus.words]
    if tokenizer is None or not words:
        return np.asarray([len(w) for w in words], dtype=np.int64)
    encoded = tokenizer(words, is_split_into_words=True, add_special_tokens=True, truncation=False)["input_ids"]
    return np.asarray([len(ids) for ids in encoded], dtype=np.int64)


def length_figure(lengths: np.ndarray, suggested_maxlen: int | None, unit: str) -> Figure | None:
    """Histogram of sentence lengths with the suggested maxlen marked (None without sentences)."""
    if not len(lengths):
        return None
    counts, edges = np.histogram(lengths, bins=min(40, max(5, int(np.sqrt(len(lengths))))))
    return length_histogram_figure(counts, edges, suggested_maxlen, unit=unit, item="sentence", count_label="sentences")


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
        n_val = round(sentences * val_pct)
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


def entity_confusion(report) -> tuple[list[str], np.ndarray] | None:
    """``(type names, matrix)`` of the report's confusion matrix of entity types, or None when it has none.

    Accepts a :class:`~kdemo.evaluation.ner.NERReport` (an array with ``confusion_labels``), or a report whose
    ``entity_confusion`` is ``{"labels": [...], "matrix": [[...]]}`` or a square DataFrame.
    """
    confusion = getattr(report, "entity_confusion", None)
    if confusion is None and hasattr(report, "to_dict"):
        confusion = report.to_dict().get("entity_confusion")
    if confusion is None:
        return None
    if isinstance(confusion, np.ndarray):
        return [str(c) for c in report.confusion_labels], confusion.astype(np.int64)
    if isinstance(confusion, pd.DataFrame):
        return [str(c) for c in confusion.columns], confusion.to_numpy()
    if isinstance(confusion, dict):
        labels = confusion.get("labels") or confusion.get("types")
        return [str(c) for c in labels], np.asarray(confusion.get("matrix"), dtype=np.int64)
    return None


def report_outputs(report) -> tuple[str, pd.DataFrame, Figure | None]:
    """The Train tab's report markdown, per-type table and entity-type confusion figure for a token model."""
    d = report.to_dict()
    rows, entities = d.get("num_rows"), d.get("num_entities")
    on = f" on {rows} sentences" if rows is not None else ""
    on += f" ({entities} entities)" if entities is not None else ""
    parts = [f"entity F1 **{d['f1']:.3f}** (micro)"] if isinstance(d.get("f1"), (int, float)) else []
    parts += [f"{name} {d[key]:.3f}" for key, name in [("precision", "precision"), ("recall", "recall"),
                                                       ("macro_f1", "macro-F1"), ("accuracy", "token accuracy")]
              if isinstance(d.get(key), (int, float))]
    text = f"**Validation (entities, seqeval strict BIO):** {', '.join(parts)}{on}."
    confusion = entity_confusion(report)
    figure = confusion_matrix_figure(confusion[1], confusion[0]) if confusion is not None else None
    per_type = getattr(report, "per_type", None)
    return text, per_type_frame(per_type if per_type is not None else d.get("per_type")), figure


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
                    encoding: str | None = None, preview_rows: int = 20) -> tuple:
    """Read a token file (and optional validation file) into ``session`` and diagnose it.

    Args:
        session: The :class:`~kdemo.ui.session.Session` (its token corpus, file copies, task and doctor are set).
        train_file: The uploaded CoNLL/BIO or JSONL file.
        val_file: Optional validation file of the same kind.
        val_pct: Fraction 0–1 held out when there is no validation file.
        tokenizer: The default model's tokenizer (sub-word lengths, maxlen suggestion), or None.
        encoding: Codec to read the file with; None detects it.
        preview_rows: Sentences in the preview table.

    Returns:
        The Data tab's load outputs: preview table, text- and label-column dropdown updates (emptied, hidden), summary,
        entity-count table, doctor markdown, sentence-length histogram, task radio update, class-weight checkbox.
    """
    corpus = read_corpus(train_file, encoding=encoding)
    val = read_corpus(val_file) if val_file else None
    diagnosis = diagnose(corpus, tokenizer)
    session.train_df = session.val_df = None
    session.token_corpus, session.doctor_report, session.task = corpus, diagnosis, TOKEN_TASK
    session.token_file = keep_copy(train_file, session.workdir / "data", "train")
    session.token_val_file = keep_copy(val_file, session.workdir / "data", "validation") if val_file else None
    session.data_name = Path(train_file).name
    session.text_column, session.label_column, session.label_columns, session.text_pair_column = None, None, [], None
    session.class_weight_offer, session.use_class_weight = None, False
    lengths = subword_lengths(corpus, tokenizer)
    figure = length_figure(lengths, diagnosis.suggested_maxlen, "sub-word tokens" if tokenizer else "words")
    text = summary(session.data_name, corpus, diagnosis, val_sentences=len(val.words) if val else None,
                   val_pct=val_pct)
    return (
        preview_table(corpus, preview_rows), gr.update(choices=[], value=None, visible=False),
        gr.update(choices=[], value=[], visible=False),
        text, counts_table(diagnosis), diagnosis.to_markdown(), figure,
        gr.update(choices=task_choices(True), value=TOKEN_TASK), gr.update(visible=False, value=False),
    )


def forget_token_data(session) -> None:
    """A table was loaded: drop the session's token file."""
    session.token_corpus = session.token_file = session.token_val_file = None


def token_to_explain(predictor, text: str) -> tuple[int, str]:
    """The token whose tag the Attention tab's attributions explain: the first token of the first predicted entity
    (else the first token after ``[CLS]``), as a position in ``predictor.attention(text).tokens``.

    Returns:
        ``(token_index, note)``: the position (special tokens counted) and a markdown phrase naming the token.
    """
    entities = predictor.predict(text, merge_tokens=True, return_offsets=True)
    encoded = predictor.tokenizer(text, truncation=True, max_length=predictor.maxlen, return_offsets_mapping=True)
    offsets, ids = encoded["offset_mapping"], encoded["input_ids"]
    index = 1
    if entities:
        start = int(entities[0]["start"])
        index = next((i for i, (a, b) in enumerate(offsets) if b > a and b > start), 1)
    token = predictor.tokenizer.convert_ids_to_tokens([ids[index]])[0] if index < len(ids) else "?"
    where = f"the first entity ({entities[0]['entity_group']})" if entities else "no entity found: the first token"
    return index, f" for token `{token}` (position {index}; {where})"

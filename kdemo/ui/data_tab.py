"""Data tab: upload a labelled file (or use the example), preview it, choose columns, check the classes."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from kdemo.data import check_columns, guess_columns, read_table
from kdemo.errors import DataError, KdemoError
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE

EXAMPLE_CSV = Path(__file__).resolve().parents[2] / "assets" / "example_reviews.csv"
PREVIEW_ROWS = 20


def _summary(session, val_pct: float) -> tuple[str, pd.DataFrame]:
    df = session.require_data()
    check = check_columns(df, session.text_column, session.label_column)
    if session.val_df is not None:
        check_columns(session.val_df, session.text_column, session.label_column)
        split = f"validation file: **{len(session.val_df)}** rows"
    else:
        n_val = int(round(len(df) * val_pct))
        split = f"validation: **{n_val}** rows ({val_pct:.0%}, stratified split), training: **{len(df) - n_val}** rows"
    counts = pd.DataFrame(
        {"class": list(check.class_counts), "rows": list(check.class_counts.values())}
    )
    counts["share"] = (counts["rows"] / counts["rows"].sum()).round(3)
    ratio = counts["rows"].max() / max(counts["rows"].min(), 1)
    warn = f"\n\n⚠️ Classes are imbalanced ({ratio:.0f}× between the largest and smallest)." if ratio >= 5 else ""
    text = (
        f"✅ **{session.data_name}**: {check.num_rows} rows, **{len(counts)} classes**; text column "
        f"`{session.text_column}`, label column `{session.label_column}`; {split}.{warn}"
    )
    return text, counts


@user_errors
def load_data(train_file: str | None, val_file: str | None, val_pct: float, request: gr.Request):
    """Read the uploaded training (and optional validation) file, propose columns and check them.

    Returns:
        Preview table, text-column dropdown, label-column dropdown, summary markdown, class-count table.
    """
    session = STORE.get(request)
    if not train_file:
        raise DataError("Expected a training file. Received: nothing. Upload a CSV, TSV or JSONL file, or click 'Use example data'.")
    df = read_table(train_file)
    val_df = read_table(val_file) if val_file else None
    text_col, label_col = guess_columns(df)
    if label_col is None:
        raise DataError(
            f"Expected at least two columns (a text and a label). Received: only {list(df.columns)} in {Path(train_file).name!r}."
        )
    session.train_df, session.val_df = df, val_df
    session.data_name = Path(train_file).name
    session.text_column, session.label_column = text_col, label_col
    columns = list(df.columns)
    try:
        summary, counts = _summary(session, val_pct)
    except KdemoError as exc:  # columns proposed but unusable: still show them so the user can pick others
        summary, counts = f"⚠️ {exc}", pd.DataFrame({"class": [], "rows": [], "share": []})
    return (
        df.head(PREVIEW_ROWS),
        gr.update(choices=columns, value=text_col),
        gr.update(choices=columns, value=label_col),
        summary,
        counts,
    )


@user_errors
def load_example(val_pct: float, request: gr.Request):
    """Load the example movie-review CSV shipped in ``assets/``."""
    return load_data(str(EXAMPLE_CSV), None, val_pct, request)


@user_errors
def set_columns(text_column: str, label_column: str, val_pct: float, request: gr.Request):
    """Use other text/label columns and re-check the data.

    Returns:
        Summary markdown and class-count table.
    """
    session = STORE.get(request)
    df = session.require_data()
    for role, col in (("text", text_column), ("label", label_column)):
        if col not in df.columns:
            raise DataError(f"Expected the {role} column to be one of {list(df.columns)}. Received: {col!r}.")
    session.text_column, session.label_column = text_column, label_column
    return _summary(session, val_pct)


def build() -> dict:
    """Lay out the Data tab and wire its events.

    Returns:
        The components other tabs read (``text_column``, ``label_column``, ``val_pct``).
    """
    gr.Markdown(
        "Upload a labelled table: one column of texts and one of labels (CSV, TSV or JSONL, UTF-8). "
        "Columns are proposed automatically; change them if needed."
    )
    with gr.Row():
        train_file = gr.File(label="Training file", elem_id="train-file", file_types=[".csv", ".tsv", ".jsonl", ".txt"], type="filepath")
        val_file = gr.File(label="Validation file (optional)", file_types=[".csv", ".tsv", ".jsonl", ".txt"], type="filepath")
    with gr.Row():
        example_btn = gr.Button("Use example data (120 movie reviews)", variant="secondary")
        load_btn = gr.Button("Load file", variant="primary")
    with gr.Row():
        text_column = gr.Dropdown(label="Text column", choices=[], interactive=True)
        label_column = gr.Dropdown(label="Label column", choices=[], interactive=True)
        val_pct = gr.Slider(0.05, 0.5, value=0.1, step=0.05, label="Validation share (when no validation file)")
    summary = gr.Markdown(elem_id="data-summary")
    with gr.Row():
        counts = gr.Dataframe(label="Class counts", interactive=False, scale=1)
        preview = gr.Dataframe(label=f"Preview (first {PREVIEW_ROWS} rows)", interactive=False, wrap=True, scale=3)

    outputs = [preview, text_column, label_column, summary, counts]
    load_btn.click(load_data, [train_file, val_file, val_pct], outputs, api_name="load_data")
    train_file.upload(load_data, [train_file, val_file, val_pct], outputs, api_visibility="private")
    example_btn.click(load_example, [val_pct], outputs, api_name="load_example")
    check_btn = gr.Button("Re-check with these columns", size="sm")
    check_btn.click(set_columns, [text_column, label_column, val_pct], [summary, counts], api_name="set_columns")
    return {"text_column": text_column, "label_column": label_column, "val_pct": val_pct}

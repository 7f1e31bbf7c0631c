"""Predict tab: one text → all class probabilities; a file of texts → a downloadable CSV of predictions."""

from __future__ import annotations

import gradio as gr

from kdemo.data import guess_columns, read_table
from kdemo.errors import DataError
from kdemo.export import predictions_table, write_csv
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE


@user_errors
def predict(text: str, request: gr.Request) -> dict[str, float]:
    """Class probabilities of one text, for ``gr.Label`` (``{class name: probability 0–1}``)."""
    predictor = STORE.get(request).require_predictor()
    if not text or not text.strip():
        raise DataError("Expected a text to classify. Received: an empty box. Type or paste a sentence.")
    probs = predictor.predict_proba(text)
    return {name: float(p) for name, p in zip(predictor.get_classes(), probs)}


@user_errors
def predict_file(path: str | None, request: gr.Request) -> str:
    """Predict every row of an uploaded file; returns the path of a CSV with predictions and probabilities."""
    session = STORE.get(request)
    predictor = session.require_predictor()
    if not path:
        raise DataError("Expected a file of texts. Received: nothing. Upload a CSV, TSV or JSONL file.")
    df = read_table(path)
    column = session.text_column if session.text_column in df.columns else guess_columns(df)[0]
    out = predictions_table(predictor, df, column)
    return str(write_csv(out, session.workdir / "predictions.csv"))


def build() -> None:
    """Lay out the Predict tab and wire its events."""
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Text", lines=3, placeholder="a gorgeous, witty movie", elem_id="predict-text")
            predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn")
        probs = gr.Label(label="Class probabilities", num_top_classes=10, elem_id="predict-label")
    gr.Markdown("Or classify a whole file (the text column is the one used for training, or guessed):")
    with gr.Row():
        infile = gr.File(label="File of texts (CSV, TSV or JSONL)", file_types=[".csv", ".tsv", ".jsonl", ".txt"])
        outfile = gr.File(label="Predictions (CSV)")
    file_btn = gr.Button("Predict file")
    predict_btn.click(predict, [text], [probs], api_name="predict")
    text.submit(predict, [text], [probs], api_visibility="private")
    file_btn.click(predict_file, [infile], [outfile], api_name="predict_file")

"""The Predict tab's report on a labelled file: when the uploaded file has the run's label column(s), the same
report as validation (accuracy, F1, confusion matrix …) with 95 % bootstrap CIs, beside the predictions."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from kdemo.data.tables import read_table
from kdemo.evaluation.significance import bootstrap_interval
from kdemo.run.evaluate_runs import run_columns
from kdemo.ui import runs
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE
from kdemo.ui.store import MODEL_DIR

#: Resamples of the Predict tab's intervals (fewer than the CLI's 2,000: the page waits for them).
RESAMPLES = 1000


def _model_folder(session) -> Path | None:
    """The saved folder of the model in use: the Runs tab's active run, else the session's last trained model."""
    active = runs.active_run(session.workdir)
    if active:
        folder = runs.runs_root(session.workdir) / active / "model"
        if folder.is_dir():
            return folder
    folder = Path(session.workdir) / MODEL_DIR
    return folder if (folder / "training_params.json").is_file() else None


def _confusion_md(report) -> str:
    matrix, names = getattr(report, "confusion_matrix", None), getattr(report, "class_names", None)
    if matrix is None or names is None:
        return ""
    head = "| true \\\\ predicted | " + " | ".join(map(str, names)) + " |\n|---|" + "---|" * len(names) + "\n"
    rows = "".join(f"| **{n}** | " + " | ".join(str(int(v)) for v in row) + " |\n" for n, row in zip(names, matrix))
    return "\n**Confusion matrix**\n\n" + head + rows


@user_errors
def labelled_file_report(path: str | None, request: gr.Request) -> str:
    """The report on ``path`` when it holds the labels of the model in use; empty otherwise (a file of texts only,
    or a model loaded from the Hub, whose columns are unknown)."""
    session = STORE.get(request)
    predictor = session.predictor
    folder = _model_folder(session)
    if not path or predictor is None or folder is None or not predictor.spec.scorer or predictor.spec.data_kind != "table":
        return ""
    columns = run_columns(folder)
    header = set(read_table(path).columns)
    if not columns["label_columns"] or not set(columns["label_columns"]) <= header or columns["text_column"] not in header:
        return ""
    scores = predictor.spec.load("scorer")(predictor, path, **columns)
    lines = [f"### Report on `{Path(path).name}` ({scores.n} labelled {scores.unit}), 95 % bootstrap CIs"]
    for key, metric in scores.metrics.items():
        ci = bootstrap_interval(metric, scores.n, n_resamples=RESAMPLES)
        lines.append(f"- **{key}**: {ci.value:.4f} (95 % CI {ci.low:.4f} to {ci.high:.4f})")
    return "\n".join(lines) + "\n\n```\n" + str(scores.report) + "\n```\n" + _confusion_md(scores.report)

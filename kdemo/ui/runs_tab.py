"""Runs tab: the session's runs as a table; compare two or more (config diff, overlaid curves); evaluate them on a
test file (95 % CIs, the paired test's p-value); rename, delete, use one; open trackio's dashboard."""

from __future__ import annotations

import json
import time

import gradio as gr
import pandas as pd

from kdemo.errors import DataError
from kdemo.run.evaluate_runs import compare, evaluate
from kdemo.run.tracking import tracking_dir
from kdemo.ui import runs
from kdemo.ui.errors import user_errors
from kdemo.ui.session import STORE

def in_use_line(session) -> str:
    """Markdown naming the model in use: the run's name, model, data, date and validation score, or the latest run."""
    loaded = getattr(session, "loaded_model", None)
    if loaded:
        return f"**In use:** the loaded model **{loaded}** (not one of this session's runs; pick one in the Runs tab)."
    all_runs = runs.list_runs(session.workdir)
    if not all_runs:
        return "No run yet in this session: train one in the Train tab."
    active = runs.active_run(session.workdir)
    run = next((r for r in all_runs if r["id"] == active), all_runs[-1])
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in run.get("metrics", {}).items() if k != "num_rows")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.get("finished_at", 0)))
    return (f"**In use:** run **{run['name']}** ({run['model']}, data {run.get('data_name')}, {when}; validation "
            f"{metrics or 'n/a'})")


@user_errors
def in_use(request: gr.Request) -> str:
    """The in-use line of the caller's session (shown at the top of Predict, Attention and Hub)."""
    return in_use_line(STORE.get(request))


def _choices(all_runs: list[dict]) -> list[tuple[str, str]]:
    return [(f"{r['name']} ({r['id']})", r["id"]) for r in all_runs]


def _evaluations_md(session, ids: list[str]) -> str:
    lines = []
    for run_id in ids:
        for entry in runs.evaluations(session.workdir, run_id):
            if entry.get("kind") == "compare":
                acc = next(iter(entry["metrics"].values()))
                lines.append(f"- **compare** on `{entry['test_file_name']}`: {acc['sentence']} "
                             f"(test: {acc['test']}, p_value = {acc['p_value']:.3g})")
            else:
                shown = ", ".join(f"{k} {m['value']:.4f} [{m['ci_low']:.4f}, {m['ci_high']:.4f}]"
                                  for k, m in entry["metrics"].items())
                lines.append(f"- **{entry.get('run_name', run_id)}** on `{entry['test_file_name']}`: {shown}")
    return "\n".join(dict.fromkeys(lines)) or "No evaluation yet."


@user_errors
def refresh(request: gr.Request):
    """The table, the run choices, the in-use line and the saved evaluations of the session's runs."""
    session = STORE.get(request)
    all_runs = runs.list_runs(session.workdir)
    ids = [r["id"] for r in all_runs]
    return (runs.runs_table(all_runs), gr.update(choices=_choices(all_runs)), in_use_line(session),
            _evaluations_md(session, ids))


def _picked(session, ids) -> list[dict]:
    by_id = {r["id"]: r for r in runs.list_runs(session.workdir)}
    picked = [by_id[i] for i in (ids or []) if i in by_id]
    return picked


@user_errors
def compare_runs(ids, request: gr.Request):
    """Config diff (differences only) and overlaid loss/validation curves of the picked runs (two or more)."""
    picked = _picked(STORE.get(request), ids)
    if len(picked) < 2:
        raise DataError(f"Expected two or more runs to compare. Received: {len(picked)}. Tick them in the list.")
    return runs.config_diff(picked), runs.curves_figure(picked)


@user_errors
def evaluate_runs(ids, test_file, request: gr.Request):
    """Evaluate the picked runs on a labelled test file; with two, the paired test (B = the second picked)."""
    session = STORE.get(request)
    picked = _picked(session, ids)
    if not picked or test_file is None:
        raise DataError("Expected one or two picked runs and a test file. Received: "
                        f"{len(picked)} runs, {'a file' if test_file else 'no file'}. Tick runs and upload a file.")
    name = str(test_file).rsplit("/", 1)[-1]
    folders = [runs.run_folder(session.workdir, r["id"]) / "model" for r in picked[:2]]
    for r, folder in zip(picked[:2], folders):
        result = evaluate(folder, test_file, n_resamples=1000)
        runs.save_evaluation(session.workdir, r["id"], {**result.to_dict(), "kind": "evaluate", "run_name": r["name"],
                                                        "test_file_name": name})
    if len(folders) == 2:
        cmp = compare(folders[0], folders[1], test_file, n_resamples=1000)
        entry = {**cmp.to_dict(), "kind": "compare", "test_file_name": name}
        for key, test in entry["metrics"].items():
            test["sentence"] = test["sentence"].replace("run A", picked[0]["name"]).replace("run B", picked[1]["name"])
        runs.save_evaluation(session.workdir, picked[1]["id"], entry)
    return _evaluations_md(session, [r["id"] for r in picked])


@user_errors
def use_run(ids, request: gr.Request):
    """Make the (first) picked run the model in use in Predict, Attention and Hub."""
    session = STORE.get(request)
    picked = _picked(session, ids)
    if not picked:
        raise DataError("Expected a picked run. Received: none. Tick one in the list.")
    session.require_idle("switching the model")
    session.defer_predictor(runs.run_folder(session.workdir, picked[0]["id"]) / "model")
    session.loaded_model = None
    runs.set_active(session.workdir, picked[0]["id"])
    return in_use_line(session)


@user_errors
def rename(ids, name, request: gr.Request):
    """Rename the (first) picked run."""
    session = STORE.get(request)
    picked = _picked(session, ids)
    if not picked:
        raise DataError("Expected a picked run. Received: none. Tick one in the list.")
    runs.rename_run(session.workdir, picked[0]["id"], name)
    return refresh(request)


@user_errors
def delete(ids, request: gr.Request):
    """Delete the picked runs (their models and evaluations)."""
    session = STORE.get(request)
    for r in _picked(session, ids):
        runs.delete_run(session.workdir, r["id"])
    return refresh(request)


def dashboard(request: gr.Request) -> str:
    """Start trackio's dashboard on the runs' project (once per server) and link to it."""
    import trackio

    project = next((r["tracking"].get("project") for r in reversed(runs.list_runs(STORE.get(request).workdir))
                    if r.get("tracking")), "kdemo")
    try:
        url = trackio.show(project=project, open_browser=False, block_thread=False)
    except Exception as exc:  # noqa: BLE001 - the dashboard is optional; say how to open it by hand
        return (f"Could not start trackio's dashboard here ({exc}). Run: `TRACKIO_DIR={tracking_dir()} trackio show "
                f"--project {project}`")
    link = url if isinstance(url, str) else json.dumps(url)
    return f"[Open trackio's dashboard ({project})]({link})"


def build() -> dict:
    """Lay out the Runs tab and wire its events; returns its components (``table``, ``refresh``)."""
    in_use = gr.Markdown(elem_id="runs-in-use")
    with gr.Row():
        refresh_btn = gr.Button("Refresh", size="sm", elem_id="runs-refresh")
        dash_btn = gr.Button("Open trackio dashboard", size="sm", elem_id="runs-dashboard")
    dash_md = gr.Markdown(elem_id="runs-dashboard-link")
    table = gr.Dataframe(pd.DataFrame(columns=runs.TABLE_COLUMNS), label="Runs", interactive=False, wrap=True,
                         elem_id="runs-table")
    picked = gr.CheckboxGroup([], label="Pick runs (two or more to compare; the first is A)", elem_id="runs-picked")
    with gr.Row():
        compare_btn = gr.Button("Compare", variant="primary", elem_id="runs-compare")
        use_btn = gr.Button("Use this run", elem_id="runs-use")
        delete_btn = gr.Button("Delete", variant="stop", elem_id="runs-delete")
        new_name = gr.Textbox(label="New name", scale=2, elem_id="runs-new-name")
        rename_btn = gr.Button("Rename", elem_id="runs-rename")
    diff = gr.Dataframe(label="Config differences", interactive=False, elem_id="runs-diff")
    curves = gr.Plot(label="Curves", show_label=False, elem_id="runs-curves")
    with gr.Row():
        test_file = gr.File(label="Labelled test file (the runs' columns)", type="filepath", elem_id="runs-test-file")
        eval_btn = gr.Button("Evaluate picked runs on the test file", variant="primary", elem_id="runs-evaluate")
    evals = gr.Markdown(elem_id="runs-evaluations")
    outputs = [table, picked, in_use, evals]
    refresh_btn.click(refresh, None, outputs, api_name="runs")
    compare_btn.click(compare_runs, [picked], [diff, curves], api_name="compare_runs")
    eval_btn.click(evaluate_runs, [picked, test_file], [evals], api_name="evaluate_runs")
    use_btn.click(use_run, [picked], [in_use], api_name="use_run")
    rename_btn.click(rename, [picked, new_name], outputs, api_name="rename_run")
    delete_btn.click(delete, [picked], outputs, api_name="delete_run")
    dash_btn.click(dashboard, None, [dash_md], api_name="trackio_dashboard")
    return {"outputs": outputs, "refresh": refresh}

"""Predict tab: load a model (or use the trained one); one text → all class probabilities; a file → a CSV."""

from __future__ import annotations

import asyncio

import gradio as gr
import torch

from kdemo.data.limits import check_text
from kdemo.data.tables import SUPPORTED_SUFFIXES
from kdemo.errors import DataError
from kdemo.inference.batcher import MicroBatcher
from kdemo.inference.hub_models import load_from_hub
from kdemo.tasks import Task
from kdemo.ui.auth import on_spaces, token_for
from kdemo.ui.errors import user_errors
from kdemo.ui.file_report import labelled_file_report
from kdemo.ui.session import DEVICE_QUEUE, STORE
from kdemo.ui.views import questions, tokens, view_for

#: Intra-op torch threads of the prediction worker while no training runs: torch's default (the cores), since an
#: idle server's other threads need little CPU (bench/serve_load.py, 16 bursting raw-HTTP clients, idle 2-core
#: machine: see bench/RESULTS.md).
IDLE_PREDICT_THREADS = torch.get_num_threads()


def predict_threads() -> int:
    """Intra-op threads for the next batch of predictions: one while a training job runs or waits on
    :data:`~kdemo.ui.session.DEVICE_QUEUE` (its thread uses the cores; two OpenMP pools on two busy cores wait on
    each other at every parallel region), else :data:`IDLE_PREDICT_THREADS`."""
    return 1 if len(DEVICE_QUEUE) else IDLE_PREDICT_THREADS


#: Every session's single-text predictions go through this one micro-batcher (see :mod:`kdemo.inference.batcher`).
BATCHER = MicroBatcher(threads=predict_threads)


@user_errors
def load_model(source: str, oauth_token: gr.OAuthToken | None, request: gr.Request):
    """Load a fine-tuned sequence-classification model from the Hub or a local folder; no training needed.

    The model replaces this session's model in the Predict, Attention and Hub tabs. Only safetensors weights are
    loaded and ``trust_remote_code`` stays off. Private models need the visitor's sign-in on a Space, or
    ``HF_TOKEN`` / ``hf auth login`` locally. Local folders follow :func:`kdemo.ui.auth.folder_policy`: never
    another session's, and on a Space only this session's own.

    Args:
        source: A Hub model id (``org/name``) or a local folder with ``config.json``.

    Returns:
        A status line, and updates fitting the Attention tab's layer and head sliders to the model.
    """
    session = STORE.get(request)
    session.require_disk_room(STORE.limits.max_disk_bytes)  # models and exports go to its folder
    session.require_idle("loading another model")
    # on a Space the cache is shared by all visitors: never hand out a cached (maybe private) model offline
    token = token_for(None, oauth_token, write=False)
    predictor = load_from_hub(source, token=token, use_cache_offline=not on_spaces(),
                              policy=session.policy, share=True)
    with session.lock:  # a training queued meanwhile keeps its job (and the session's model folder)
        session.require_idle("loading another model")
        predictor.save(session.workdir / "model")  # replaces the folder as a whole; the Hub tab pushes it
        session.predictor, session.learner, session.report, session.preproc = predictor, None, None, None
        session.job = None
        STORE.record_loaded_model(session, source)  # a restart brings this model back, not an older trained one
    config = predictor.model.config
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    kind = view_for(predictor.task).CLASS_WORDS
    status = (
        f"✅ Loaded **{source.strip()}**: {len(predictor.get_classes())} {kind} "
        f"({', '.join(predictor.get_classes()[:10])}), maxlen {predictor.maxlen}, {layers} layers × {heads} heads."
    )
    return status, gr.update(maximum=layers, value=layers), gr.update(maximum=heads, value=1)


@user_errors
async def predict(text: str, text_pair: str = "", request: gr.Request = None) -> dict[str, float] | str:
    """Class probabilities, or the regression value, of one text or sentence pair, for ``gr.Label``.

    A coroutine: it waits for :data:`BATCHER` without holding a worker thread, so that concurrent requests (of
    any session) meet in the micro-batcher and run as batches on one thread.

    Args:
        text: The text (the first one of a pair).
        text_pair: The second text, for a model trained on sentence pairs; empty for single texts.

    Returns:
        ``{class name: probability 0–1}`` for classification; ``"<target> = <value>"`` for regression; None for a
        token-classification model (its entities come from ``/predict_entities``) or a question-answering model
        (``/predict_answer``).
    """
    predictor = STORE.get(request).require_predictor()
    if view_for(predictor.task).OUTPUT != "classes":  # entities and answers have their own endpoints
        return None
    if not text or not text.strip():
        raise DataError("Expected a text to classify. Received: an empty box. Type or paste a sentence.")
    pair = (text_pair or "").strip()
    item = (check_text(text), check_text(pair, what="the second text")) if pair else check_text(text)
    probs = await asyncio.wrap_future(BATCHER.submit(predictor, item))
    if predictor.task == Task.REGRESSION:  # a value, not a probability: shown as the label, never as a percentage
        return f"{predictor.get_classes()[0]} = {float(probs[0]):.4g}"
    return {name: float(p) for name, p in zip(predictor.get_classes(), probs)}


@user_errors
def predict_entities(text: str, request: gr.Request = None):
    """The named entities of one text, for a token-classification model (``pipeline(..., aggregation_strategy=
    "simple")``'s output, from :meth:`kdemo.NERPredictor.predict` with ``merge_tokens=True, return_offsets=True``).

    Args:
        text: The text; words are split as ktrain does.

    Returns:
        The ``gr.HighlightedText`` value ``{"text", "entities": [{"entity", "start", "end"}]}`` and a table with one
        row per entity: entity (text), type, score (0–1), start and end (character offsets). For a classifier:
        None and an empty table (its classes come from ``/predict``).
    """
    predictor = STORE.get(request).require_predictor()
    view = view_for(predictor.task)
    if not view.ENTITIES:
        return None, tokens.EMPTY_ENTITIES
    if not text or not text.strip():
        raise DataError("Expected a text to tag. Received: an empty box. Type or paste a sentence.")
    return view.entities(predictor, check_text(text))


@user_errors
def predict_answer(question: str, context: str, request: gr.Request = None):
    """The answer to a question about a context, for an extractive question-answering model
    (:meth:`kdemo.QAPredictor.predict` with its top answers).

    Args:
        question: The question.
        context: The text the answer is a span of.

    Returns:
        The ``gr.HighlightedText`` value ``{"text": context, "entities": [{"entity": "answer", "start", "end"}]}``
        (no span for a SQuAD 2.0 model's "no answer") and a table of the top answers: answer, score (0–1), start and
        end (character offsets). For another model: None and an empty table.
    """
    predictor = STORE.get(request).require_predictor()
    view = view_for(predictor.task)
    if view.OUTPUT != "answers":
        return None, questions.EMPTY_ANSWERS
    if not question or not question.strip():
        raise DataError("Expected a question. Received: an empty 'Question' box. Type the question to answer.")
    return view.answers(predictor, check_text(question), check_text(context or "", what="the context"))


def output_kind(request: gr.Request):
    """Show what the session's model answers with (class probabilities, highlighted entities and their table, or
    the answer in its context and the top answers) and name the two text boxes for it."""
    predictor = STORE.get(request).predictor
    view = view_for(predictor.task if predictor is not None else None)
    shown = [view.OUTPUT == kind for kind in ("classes", "entities", "entities", "answers", "answers")]
    text, pair = view.INPUT_LABELS
    return (*(gr.update(visible=v) for v in shown), gr.update(label=text), gr.update(label=pair))


@user_errors
def predict_file(path: str | None, request: gr.Request) -> str:
    """Predict every row of an uploaded file; returns the path of a CSV with predictions and probabilities (for a
    token model: one row per entity: text_id, entity, type, start, end, score)."""
    session = STORE.get(request)
    session.require_disk_room(STORE.limits.max_disk_bytes)  # models and exports go to its folder
    predictor = session.require_predictor()
    if not path:
        raise DataError("Expected a file of texts. Received: nothing. Upload a CSV, TSV or JSONL file.")
    # a classifier: one row per text with its probabilities; a token model: one row per entity (a .txt file
    # holds one text per line)
    return str(view_for(predictor.task).predict_file(predictor, path, session))


def build(attention: dict, tab: gr.Tab | None = None) -> None:
    """Lay out the Predict tab and wire its events.

    Args:
        attention: Components from the Attention tab (``layer``, ``head``) fitted to a loaded model.
        tab: The tab itself: opening it fits the outputs and the text boxes' names to the session's model.
    """
    gr.Markdown("Use the model trained in the Train tab, or load a fine-tuned text classifier (no training needed):")
    with gr.Row():
        source = gr.Textbox(label="Fine-tuned model to load (Hub id or local folder)", scale=3, elem_id="load-model-id",
                            placeholder="distilbert/distilbert-base-uncased-finetuned-sst-2-english")
        load_btn = gr.Button("Load model", elem_id="load-model-btn")
    load_status = gr.Markdown(elem_id="load-model-status")
    with gr.Row():
        with gr.Column():
            text = gr.Textbox(label="Text", lines=3, placeholder="a gorgeous, witty movie", elem_id="predict-text")
            text_pair = gr.Textbox(label="Second text (only for a model trained on sentence pairs)", lines=1,
                                   value="", elem_id="predict-text-pair")
            predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-btn")
        probs = gr.Label(label="Class probabilities", num_top_classes=10, elem_id="predict-label")
        with gr.Column(scale=1):
            entities = gr.HighlightedText(label="Entities", show_legend=True, color_map=tokens.ENTITY_COLORS,
                                          visible=False, elem_id="predict-entities")
            entity_table = gr.Dataframe(tokens.EMPTY_ENTITIES, label="Entities with scores", interactive=False,
                                        visible=False, elem_id="predict-entity-table")
            answer = gr.HighlightedText(label="Answer in the context", show_legend=True, visible=False,
                                        color_map={"answer": questions.ANSWER_COLORS["answer"]}, elem_id="predict-answer")
            answer_table = gr.Dataframe(questions.EMPTY_ANSWERS, label="Top answers with scores", interactive=False,
                                        visible=False, elem_id="predict-answer-table")
    gr.Markdown("Or predict a whole file (the text column is the one used for training, or guessed; for a token "
                "model also a .txt file with one text per line: the CSV then has one row per entity):")
    with gr.Row():
        infile = gr.File(label=f"File of texts ({' '.join(SUPPORTED_SUFFIXES)})", file_types=list(SUPPORTED_SUFFIXES))
        outfile = gr.File(label="Predictions (CSV)")
    file_btn = gr.Button("Predict file")
    kinds = [probs, entities, entity_table, answer, answer_table, text, text_pair]
    file_report = gr.Markdown(elem_id="predict-file-report")  # a labelled file: the report, as for validation
    for trigger in (predict_btn.click, text.submit) + ((tab.select,) if tab is not None else ()):
        trigger(output_kind, None, kinds, api_visibility="private", queue=False)
    # queue=False: the page (and any raw HTTP client) posts to /gradio_api/run/predict and gets the answer in the
    # response, skipping the queue's event, its SSE stream and its hops (bench/serve_load.py, 16 bursting raw-HTTP
    # clients, loaded machine: p95 0.45 s queued vs 0.32 s with queue=False);
    # no concurrency limit applies: a waiting prediction holds no thread and the micro-batcher runs them one batch at
    # a time. gradio_client still goes through /queue/join, which runs it as a queued event.
    predict_btn.click(predict, [text, text_pair], [probs], api_name="predict", queue=False,
                      concurrency_limit=None)
    text.submit(predict, [text, text_pair], [probs], api_visibility="private", queue=False, concurrency_limit=None)
    predict_btn.click(predict_entities, [text], [entities, entity_table], api_name="predict_entities")
    text.submit(predict_entities, [text], [entities, entity_table], api_visibility="private")
    predict_btn.click(predict_answer, [text, text_pair], [answer, answer_table], api_name="predict_answer")
    file_btn.click(predict_file, [infile], [outfile], api_name="predict_file").then(
        labelled_file_report, [infile], [file_report], api_name="predict_file_report")
    load_btn.click(load_model, [source], [load_status, attention["layer"], attention["head"]], api_name="load_model"
                   ).success(output_kind, None, kinds, api_visibility="private")

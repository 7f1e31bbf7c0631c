"""The model card (``README.md``) of a predictor folder, built with ``huggingface_hub.ModelCard``.

The card's YAML metadata makes the Hub page usable at once: ``library_name: transformers`` and
``pipeline_tag: text-classification`` (``token-classification`` for token models; inference widget and "Use this
model"), ``base_model`` (model tree),
``license`` inherited from the base model where known, ``datasets``, ``metrics`` and a ``model-index`` with the
validation results (shown on the page), and a ``widget`` example taken from the user's data. The body states what
was fine-tuned on what, the label map, class balance, hyperparameters, per-epoch results, the confusion matrix and
training curve (image files in the repo), framework versions and a copy-paste ``pipeline()`` snippet.

Every fact comes from the folder itself (``kdemo.json``, ``training_params.json``, ``training_results.json``; which
file owns which fact: :mod:`kdemo.hub.folder`), and every task fact from the task's
:class:`~kdemo.tasks.TaskSpec` (:func:`kdemo.tasks.folder_spec`), so the card, the zip and the pushed repo agree
and no task is named here. Writing the card writes ``README.md`` and ``card.json`` (what it was written for) and
leaves the folder's other files as they are. Local paths and tokens never enter the card.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import HfApi, ModelCard, ModelCardData, try_to_load_from_cache

import kdemo.atomic as atomic
from kdemo.data.languages import detect_language
from kdemo.errors import HubError
from kdemo.hub import card_sections as sections
from kdemo.hub.folder import (
    CARD_KEY,
    FILE_KEYS,
    LOCAL_PREFIX,
    META_FILE,
    PARAMS_FILE,
    PATH_KEYS,
    card_settings,
    make_publishable,
    read_json,
    without_local_paths,
    write_card_settings,
)
from kdemo.hub.folder import is_local_path as _is_local_path
from kdemo.record import CONFUSION_FILE, CURVE_FILE, TrainingRecord
from kdemo.tasks import SPECS, folder_spec

__all__ = [
    "CARD_KEY", "FILE_KEYS", "LOCAL_PREFIX", "PARAMS_FILE", "PATH_KEYS", "base_model_license", "card_settings",
    "check_card", "framework_versions", "without_local_paths", "write_model_card",
]

_NOT_PUBLISHED = {"model_name"}  # shown as base_model; as a local folder it would leak a path


def framework_versions() -> dict[str, str]:
    """Versions of the libraries that trained and saved the model."""
    import huggingface_hub
    import keras
    import torch
    import transformers

    from kdemo._version import __version__

    return {
        "kdemo": __version__, "transformers": transformers.__version__, "keras": keras.__version__,
        "torch": torch.__version__, "huggingface_hub": huggingface_hub.__version__,
        "python": platform.python_version(),
    }


def base_model_license(base_model: str | None, *, endpoint: str | None = None) -> str | None:
    """The license in the base model's own card, where it can be found.

    Looks in the model's local folder (e.g. the embedded default model), then in the Hugging Face cache, then asks
    the Hub (only when it is reachable).

    Args:
        base_model: Hub id of the base model.
        endpoint: Hub URL for the online look-up (default: huggingface.co or ``HF_ENDPOINT``).

    Returns:
        A license identifier such as ``"apache-2.0"``, or None when unknown.
    """
    if not base_model:
        return None
    from kdemo.modeling.classifier import hub_reachable, resolve_model_source

    try:
        source = resolve_model_source(base_model)
    except ValueError:  # ModelError: neither a folder nor a valid Hub id
        return None
    readme = Path(source) / "README.md" if Path(source).is_dir() else None
    if readme is None:
        cached = try_to_load_from_cache(base_model, "README.md")
        readme = Path(cached) if isinstance(cached, str) else None
    if readme is not None and readme.exists():
        return ModelCard.load(readme, ignore_metadata_errors=True).data.license
    if endpoint is None and not hub_reachable(timeout_s=2.0):
        return None
    try:
        info = HfApi(endpoint=endpoint).model_info(base_model, timeout=5, token=False)
    except Exception:  # noqa: BLE001 - the license is optional; any failure means "unknown"
        return None
    return getattr(info.card_data, "license", None) if info.card_data else None


#: What the card shows of a run's ``training_params.json`` (:func:`kdemo.run.result.training_params`).
_RUN_CONFIG_KEYS = ("lr", "epochs", "batch_size", "seed", "val_pct", "weight_decay", "freeze_lower", "early_stopping",
                    "reduce_on_plateau")
_RUN_RESOLVED_KEYS = ("task", "maxlen", "precision", "schedule", "optimizer", "class_weight", "frozen",
                      "gradient_accumulation_steps", "steps", "stopped_early")


def _hyperparameters(meta: dict, run: dict | None = None) -> dict:
    """The publishable hyperparameters shown in the card: no local paths, no secrets.

    Args:
        meta: The folder's ``kdemo.json`` (older folders keep their hyperparameters in its ``"training"`` entry).
        run: The folder's ``training_params.json`` when it has the run schema (``"config"``, ``"resolved"``).
    """
    if run and isinstance(run.get("config"), dict):
        config, resolved = run["config"], run.get("resolved") or {}
        raw = {**{k: config.get(k) for k in _RUN_CONFIG_KEYS}, **{k: resolved.get(k) for k in _RUN_RESOLVED_KEYS},
               "device": (run.get("environment") or {}).get("device")}
        if raw.get("batch_size") != resolved.get("batch_size"):  # an out-of-memory back-off changed it
            raw["batch_size"] = resolved.get("batch_size")
    else:
        raw = {**(meta.get("training") or {}), "maxlen": meta.get("maxlen", (meta.get("training") or {}).get("maxlen"))}
    params = {k: v for k, v in raw.items() if k not in _NOT_PUBLISHED and v is not None}
    return {k: v for k, v in params.items() if not (isinstance(v, str) and _is_local_path(v))}


def _run_params(folder: Path) -> dict | None:
    """The folder's ``training_params.json`` if it holds a run (written by ``TrainResult.save``), publishable."""
    run = read_json(folder / PARAMS_FILE)
    if run is None or not isinstance(run.get("config"), dict):
        return None
    return without_local_paths(run)


def write_model_card(
    folder: str | os.PathLike,
    *,
    repo_id: str | None = None,
    example: str | None = None,
    dataset_id: str | None = None,
    endpoint: str | None = None,
    languages: Sequence[str] | None = None,
) -> ModelCard:
    """Write ``README.md`` (the model card) into a saved predictor folder.

    The card reads the folder's facts: ``kdemo.json``, the run's ``training_params.json`` (written by
    :meth:`kdemo.run.result.TrainResult.save`) and ``training_results.json``, and the task's facts from its
    :class:`~kdemo.tasks.TaskSpec` (:func:`kdemo.tasks.folder_spec`). It writes ``README.md`` and ``card.json`` (what
    it was written for, :func:`~kdemo.hub.folder.card_settings`), and ``training_params.json`` only where the folder
    has none (a folder saved without a run: the hyperparameters its ``kdemo.json`` records). It rewrites no other
    file, except a folder written by an older kdemo whose JSON files still name a local path
    (:func:`~kdemo.hub.folder.make_publishable`: those paths become ``local:<name>``, so the folder can be
    published as it is).

    Args:
        folder: A folder written by :meth:`kdemo.Predictor.save`, optionally with a
            :class:`~kdemo.record.TrainingRecord` saved in it.
        repo_id: Hub repo the card describes (used in the snippets); defaults to the folder name.
        example: Example text for the Hub widget and the snippets; defaults to the one saved at training time
            (``kdemo.json``'s ``example``: the first training text), else the task's ``default_example``.
        dataset_id: Hub id of the training dataset (e.g. ``"stanfordnlp/sst2"``) for the ``datasets`` metadata;
            None when the data is your own file (then ``kdemo.json``'s ``dataset_id``: a run on a Hub dataset).
        endpoint: Hub URL used to look up the base model's license when it is not found locally.
        languages: ISO 639-1 codes of the training texts' languages for the card's ``language:`` metadata; None
            uses ``languages`` of ``kdemo.json`` (e.g. the data doctor's main languages), else detects the language
            of the saved example text (:func:`kdemo.data.languages.detect_language`).

    Returns:
        The written ``huggingface_hub.ModelCard``; it passes :func:`check_card`. ``repo_id``, ``dataset_id`` and
        ``example`` are recorded in ``card.json`` (:func:`card_settings`).

    Raises:
        HubError: If the folder has no ``kdemo.json``.
    """
    folder = Path(folder)
    if not (folder / META_FILE).exists():
        raise HubError(
            f"Expected a saved predictor folder (with kdemo.json). Received: {str(folder)!r}. "
            "Save the predictor with predictor.save(folder) first."
        )
    make_publishable(folder)
    meta = without_local_paths(read_json(folder / META_FILE) or {})
    spec = folder_spec(meta, read_json(folder / "config.json") or {})
    record = TrainingRecord.load(folder)
    dataset_id = dataset_id or meta.get("dataset_id")  # a run on a Hub dataset (TrainConfig.hub_dataset)
    settings = {"repo_id": repo_id or folder.name, "dataset_id": (dataset_id or "").strip() or None,
                "example": (example or "").strip() or None}
    metrics = meta.get("metrics") or {}
    base_model = meta.get("base_model") or None
    local_base = None
    if base_model and _is_local_path(base_model):
        base_model, local_base = None, Path(base_model.removeprefix(LOCAL_PREFIX)).name  # no Hub link, no path
    repo_id = settings["repo_id"]
    name = repo_id.split("/")[-1]
    if languages is None:
        languages = meta.get("languages") or ([detect_language(meta["example"])] if meta.get("example") else [])
    languages = [c for c in dict.fromkeys(languages) if c] or None
    example = (example or meta.get("example") or spec.default_example).strip()
    parts = example_parts(example, spec)
    dataset_id = settings["dataset_id"]
    data_file = meta.get("dataset_name") or None
    class_names = [str(c) for c in meta.get("class_names", [])]
    known = sections.metrics_table(spec)
    eval_results = sections.eval_results(metrics, dataset_id, dataset_id or data_file or "custom data",
                                         spec.pipeline_tag, known)
    data = ModelCardData(
        language=languages,
        library_name="transformers",
        pipeline_tag=spec.pipeline_tag,
        base_model=base_model,
        license=base_model_license(base_model, endpoint=endpoint),
        datasets=[dataset_id] if dataset_id else None,
        metrics=sorted({r.metric_type for r in eval_results}) if eval_results else None,
        eval_results=eval_results,
        model_name=name,
        tags=[spec.pipeline_tag, "kdemo", "keras", "pytorch", *spec.card_tags],
        widget=[dict(zip(spec.example_parts, parts))],
    )
    run = _run_params(folder)
    params = _hyperparameters(meta, run)
    if base_model:
        base_text = f"[{base_model}](https://huggingface.co/{base_model})"
    else:
        base_text = f"a local checkpoint (`{sections.cell(local_base)}`)" if local_base else "a local checkpoint"
    if dataset_id:
        data_text = f"[{dataset_id}](https://huggingface.co/datasets/{dataset_id})"
    else:
        data_text = f"`{sections.cell(data_file)}`" if data_file else "the user's data"
    rows_text = ""
    if record and record.train_rows:
        rows_text = f" ({record.train_rows} training {spec.unit}, {record.val_rows} validation {spec.unit})"
    balance_header, balance = sections.balance_table(record)
    per_class_header, per_class = sections.per_class_table(record.evaluation if record else None)
    entity_types = sections.entity_types(class_names) if spec.entity_types else []
    epoch_header, epochs = sections.epoch_table(record)
    card = ModelCard.from_template(
        data,
        template_str=sections.CARD_TEMPLATE,
        title=sections.cell(name),
        summary=sections.summary(spec, [sections.cell(c) for c in class_names], base_text, data_text, rows_text),
        score_line=sections.score_line(metrics, known, spec.unit),
        repo_id=repo_id,
        example=example,
        pipeline_tag=spec.pipeline_tag,
        call_args=spec.card_call,
        call_comment=spec.card_call_comment,
        task_words=spec.card_words,
        tags=spec.label_layout == "word_tags",
        spans=spec.label_layout == "spans",
        example_parts=parts,
        entities=spec.entity_types,
        entity_types=[sections.cell(t) for t in entity_types],
        labels=[(i, sections.cell(c)) for i, c in enumerate(class_names)],
        balance_title=spec.balance_title,
        balance_header=balance_header,
        balance=balance,
        metric_rows=sections.metric_rows(metrics, known, spec.unit),
        per_class_header=per_class_header,
        per_class=per_class,
        confusion_image=CONFUSION_FILE if (folder / CONFUSION_FILE).exists() else None,
        curve_image=CURVE_FILE if (folder / CURVE_FILE).exists() else None,
        epoch_header=epoch_header,
        epochs=epochs,
        hyperparameters=sections.hyperparameter_rows(params),
        maxlen=meta.get("maxlen", "maxlen"),
        versions=sorted(framework_versions().items()),
    )
    if not (folder / PARAMS_FILE).exists():  # a folder saved without a run: its hyperparameters, as kdemo.json has them
        atomic.write_text(folder / PARAMS_FILE, json.dumps(params, indent=2, default=str))
    atomic.write_text(folder / "README.md", str(card))  # what card.save writes, but never half a file
    check_card(folder / "README.md")
    write_card_settings(folder, **settings)
    return card


def example_parts(example: str, spec) -> list[str]:
    """The widget example's parts, one per name of ``spec.example_parts`` (``text``; for question answering
    ``text`` and ``context``): the example's lines, the last part taking the rest; the spec's default example's parts
    where the example has too few lines."""
    n = len(spec.example_parts)
    parts = example.split("\n", n - 1)
    if len(parts) < n or not all(p.strip() for p in parts):
        parts = spec.default_example.split("\n", n - 1)
    return [p.strip() for p in parts]


def check_card(path: str | os.PathLike) -> ModelCard:
    """Validate a model card offline with huggingface_hub's own parser, plus what kdemo's cards promise.

    ``huggingface_hub`` parses the YAML block strictly (``ignore_metadata_errors=False``: a malformed
    ``model-index`` raises) and checks the eval results; kdemo then checks the keys the Hub page needs. The Hub's
    server-side check (``/api/validate-yaml``) runs again on push, inside ``create_commit``.

    Args:
        path: The ``README.md``.

    Returns:
        The parsed card.

    Raises:
        HubError: If the metadata is invalid (the message lists the problems).
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        card = ModelCard(text, ignore_metadata_errors=False)
    except ValueError as exc:
        first_line = str(exc).splitlines()[0]
        raise HubError(f"Expected a model card with valid YAML metadata. Received: {first_line}.") from None
    data = card.data
    problems = []
    if data.library_name != "transformers":
        problems.append(f"library_name is {data.library_name!r}, expected 'transformers'")
    pipeline_tags = sorted({spec.pipeline_tag for spec in SPECS.values()})
    if data.pipeline_tag not in pipeline_tags:
        problems.append(f"pipeline_tag is {data.pipeline_tag!r}, expected {' or '.join(map(repr, pipeline_tags))}")
    widget = data.to_dict().get("widget")
    if not (isinstance(widget, list) and widget and isinstance(widget[0], dict) and widget[0].get("text")):
        problems.append("widget needs one {text: ...} example")
    for result in data.eval_results or []:
        if not isinstance(result.metric_value, (int, float)):
            problems.append(f"metric {result.metric_type} has a non-numeric value {result.metric_value!r}")
    if problems:
        raise HubError(
            f"Expected a complete model card. Received one where {'; '.join(problems)}. "
            "Rewrite it with write_model_card()."
        )
    return card

"""The model card's template and the tables in it, built from ``kdemo.json``, the training record and the task's
:class:`~kdemo.tasks.TaskSpec` (its words, metrics, label layout): no task is named here.

Pure functions: facts in, markdown-ready rows out. :mod:`kdemo.hub.card` assembles them into the card.
"""

from __future__ import annotations

from huggingface_hub import EvalResult

from kdemo.record import TrainingRecord
from kdemo.tasks import TaskSpec
from kdemo.tasks.spec import CLASSIFICATION_METRICS

#: Hyperparameters shown in the card, in this order: (key in kdemo.json "training", label, always shown).
HYPERPARAMETERS = [
    ("lr", "learning rate (peak, per optimizer step)", True),
    ("schedule", "learning-rate schedule", True),
    ("epochs", "epochs", True),
    ("batch_size", "batch size (rows per optimizer step)", True),
    ("maxlen", "maxlen (tokens per text, special tokens included)", True),
    ("precision", "precision", True),
    ("optimizer", "optimizer", True),
    ("seed", "seed (split, head initialisation, batch order)", True),
    ("class_weight", "class weights", False),
    ("val_pct", "validation fraction (when no validation file was given)", False),
    ("steps", "optimizer steps run", False),
    ("stopped_early", "stopped early by the user", False),
    ("device", "hardware", False),
]

EPOCH_COLUMNS = [
    ("loss", "training loss"), ("accuracy", "training accuracy"), ("mae", "training MAE"),
    ("val_loss", "validation loss"), ("val_accuracy", "validation accuracy"), ("val_mae", "validation MAE"),
    ("lr", "learning rate (end of epoch)"),
]

CARD_TEMPLATE = """\
---
{{ card_data }}
---

# {{ title }}

{{ summary }}

{% if score_line %}{{ score_line }}
{% endif %}
## How to use

```python
{% if spans %}import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{{ repo_id }}")
model = AutoModelForQuestionAnswering.from_pretrained("{{ repo_id }}")
question, context = {{ example_parts[0] | tojson }}, {{ example_parts[1] | tojson }}
inputs = tokenizer(question, context, truncation="only_second", max_length={{ maxlen }}, return_offsets_mapping=True,
                   return_tensors="pt")
offsets = inputs.pop("offset_mapping")[0]
with torch.no_grad():
    out = model(**inputs)
context_tokens = torch.tensor(inputs.sequence_ids(0)) == 1  # the best span inside the context (no windows here)
start = out.start_logits[0].masked_fill(~context_tokens, -1e9).argmax()
end = start + out.end_logits[0, start:start + 30].masked_fill(~context_tokens[start:start + 30], -1e9).argmax()
print(context[offsets[start][0]:offsets[end][1]])
```

transformers 5 has no `question-answering` pipeline. kdemo's predictor reads long contexts in overlapping windows and
chooses the answer as HF's `run_qa` example does (n-best start and end logits, at most 30 tokens, the no-answer score
of SQuAD 2.0 models):

```python
from kdemo import load_from_hub

predictor = load_from_hub("{{ repo_id }}")
predictor.predict({{ example_parts[0] | tojson }}, {{ example_parts[1] | tojson }})  # {{ call_comment }}
```

The repo may be private (kdemo pushes private repos by default): log in first (`hf auth login`) or pass `token=...`.
{% else %}from transformers import pipeline
{% if entities %}
ner = pipeline("{{ pipeline_tag }}", model="{{ repo_id }}", aggregation_strategy="simple")
ner({{ example | tojson }})  # one dict per entity: entity_group, score, word, start, end
{% else %}
clf = pipeline("{{ pipeline_tag }}", model="{{ repo_id }}", truncation=True)
clf({{ example | tojson }}, {{ call_args }})  # {{ call_comment }}
{% endif %}```

The repo may be private (kdemo pushes private repos by default): log in first (`hf auth login`) or pass
`token=...` to `pipeline()`. With kdemo, which also draws the attention maps:

```python
from kdemo import load_from_hub

predictor = load_from_hub("{{ repo_id }}")
{% if tags %}predictor.predict({{ example | tojson }}, merge_tokens=True, return_offsets=True)
{% else %}predictor.predict_proba({{ example | tojson }})
{% endif %}```
{% endif %}
## {% if tags %}Tag list{% elif spans %}Span head{% else %}Label map{% endif %}

Task: {{ task_words }}.
{% if entity_types %}
Entity types: {{ entity_types | join(', ') }}.
{% endif %}
| id | {% if tags %}tag{% elif spans %}output (a logit per token){% else %}label{% endif %} |
|---:|---|
{% for i, name in labels %}| {{ i }} | {{ name }} |
{% endfor %}
## {{ balance_title }}

{% if balance %}| {{ balance_header | join(' | ') }} |
|---|{% for _ in balance_header[1:] %}---:|{% endfor %}
{% for row in balance %}| {{ row | join(' | ') }} |
{% endfor %}{% else %}Not recorded (this model was not trained in this kdemo session).
{% endif %}
## Evaluation (validation split)

{% if metric_rows %}| metric | value |
|---|---:|
{% for name, value in metric_rows %}| {{ name }} | {{ value }} |
{% endfor %}{% if per_class %}
| {{ per_class_header | join(' | ') }} |
|---|{% for _ in per_class_header[1:] %}---:|{% endfor %}
{% for row in per_class %}| {{ row | join(' | ') }} |
{% endfor %}{% endif %}{% if confusion_image and entities %}
![Confusion matrix of entity types on the validation split (rows: true type, columns: predicted type; O: no entity)]({{ confusion_image }})
{% elif confusion_image %}
![Confusion matrix on the validation split (rows: true class, columns: predicted class)]({{ confusion_image }})
{% endif %}{% else %}Not evaluated.
{% endif %}
## Training results per epoch

{% if epochs %}| {{ epoch_header | join(' | ') }} |
|{% for _ in epoch_header %}---:|{% endfor %}
{% for row in epochs %}| {{ row | join(' | ') }} |
{% endfor %}{% else %}Not recorded.
{% endif %}{% if curve_image %}
![Training loss per optimizer step (raw and smoothed) with the validation loss after each epoch]({{ curve_image }})
{% endif %}
## Training hyperparameters

| hyperparameter | value |
|---|---|
{% for name, value in hyperparameters %}| {{ name }} | {{ value }} |
{% endfor %}
Machine-readable copies: `training_params.json` (hyperparameters){% if epochs %} and `training_results.json` \
(per-epoch and per-step results, class counts, evaluation){% endif %}.

## Limitations

{% if spans %}- Contexts longer than a window ({{ maxlen }} tokens with the question) are read in overlapping windows; answers
  longer than 30 tokens cannot be predicted (run_qa's `max_answer_length`).
- Exact match and F1 are SQuAD's (answers lower-cased, punctuation and articles removed), in percent.
{% elif tags %}- Sentences longer than {{ maxlen }} sub-word tokens are split into windows at word boundaries (never cut).
{% if entities %}- Entities are scored at the entity level (seqeval, strict BIO): a wrong boundary or type counts as a miss.
{% endif %}{% else %}- Texts longer than {{ maxlen }} tokens are truncated before classification.
{% endif %}
- The scores above come from a held-out part of the training data; check the model on your own data before relying
  on it.

## Framework versions

{% for name, version in versions %}- {{ name }}: {{ version }}
{% endfor %}"""


def cell(value) -> str:
    """A markdown table cell: pipes escaped, newlines flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def metrics_table(spec: TaskSpec) -> dict:
    """The metrics a card shows for a task: its spec's ``card_metrics``.

    Args:
        spec: The task's spec (:func:`kdemo.tasks.spec_for`).

    Returns:
        Key in ``kdemo.json`` "metrics" → (model-index type, model-index name, config, name in the card's text).
    """
    return dict(spec.card_metrics)


def eval_results(metrics: dict, dataset_id: str | None, dataset_name: str,
                 task_type: str = "text-classification", table: dict | None = None) -> list[EvalResult] | None:
    """``model-index`` entries (rounded to 4 decimals) for the validation metrics kdemo knows, or None.

    Args:
        metrics: The folder's numeric validation metrics (``kdemo.json`` ``"metrics"``).
        dataset_id: Hub dataset id, or None for the user's own data.
        dataset_name: Name shown for the dataset.
        task_type: The pipeline task (the spec's ``pipeline_tag``).
        table: The known metrics (:func:`metrics_table`); default :data:`~kdemo.tasks.spec.CLASSIFICATION_METRICS`.

    Returns:
        One ``EvalResult`` per known metric present, or None when there is none.
    """
    common = {
        "task_type": task_type, "task_name": task_type.replace("-", " ").title(),
        "dataset_type": dataset_id or "custom", "dataset_name": dataset_name, "dataset_split": "validation",
    }
    results = [
        EvalResult(metric_type=kind, metric_name=name, metric_value=round(float(metrics[key]), 4), metric_config=config,
                   **common)
        for key, (kind, name, config, _) in (table or CLASSIFICATION_METRICS).items()
        if isinstance(metrics.get(key), (int, float))
    ]
    return results or None


def metric_rows(metrics: dict, table: dict | None = None, unit: str = "rows") -> list[tuple[str, str]]:
    """``(name, value)`` rows of the card's evaluation table: the known metrics present, then the example count.

    Args:
        metrics: The folder's validation metrics.
        table: The known metrics (default :data:`~kdemo.tasks.spec.CLASSIFICATION_METRICS`).
        unit: What one validation example is (the spec's ``unit``: ``"rows"``, ``"sentences"``).

    Returns:
        The rows, values formatted to 4 decimals (counts as integers).
    """
    rows = [(text, f"{float(metrics[key]):.4f}") for key, (_, _, _, text) in (table or CLASSIFICATION_METRICS).items()
            if isinstance(metrics.get(key), (int, float))]
    if rows and metrics.get("num_rows") is not None:
        rows.append((unit, str(int(metrics["num_rows"]))))
    if rows and metrics.get("num_entities") is not None:
        rows.append(("entities", str(int(metrics["num_entities"]))))
    return rows


def entity_types(class_names: list[str]) -> list[str]:
    """The entity types of BIO tags (``B-PER``, ``I-PER`` → ``PER``), sorted; other names are left out."""
    return sorted({c.split("-", 1)[1] for c in class_names if c[:2] in ("B-", "I-")})


def summary(spec: TaskSpec, class_names: list[str], base_text: str, data_text: str, rows_text: str) -> str:
    """The card's opening sentence: what was fine-tuned on what.

    Args:
        spec: The task's spec; its ``card_summary`` says what the model does.
        class_names: The class names (markdown-escaped).
        base_text: The base model, as markdown.
        data_text: The training data, as markdown.
        rows_text: The split sizes in parentheses, or ''.

    Returns:
        One sentence of markdown.
    """
    names = ", ".join(class_names[:20]) + (", …" if len(class_names) > 20 else "")
    types = entity_types(class_names) if spec.entity_types else []
    what = spec.card_summary.format(num_labels=len(class_names), names=names, num_types=len(types),
                                    types=", ".join(types), targets=", ".join(class_names) or "a number")
    return (
        f"{what}, fine-tuned from {base_text} on {data_text}{rows_text} with kdemo: "
        f"[ktrain](https://github.com/amaiya/ktrain)'s recipe (one-cycle learning-rate policy) on Keras 3 with PyTorch."
    )


def score_line(metrics: dict, table: dict | None = None, unit: str = "rows") -> str:
    """One sentence with the headline validation scores, or ''.

    Args:
        metrics: The folder's validation metrics.
        table: The known metrics (default :data:`~kdemo.tasks.spec.CLASSIFICATION_METRICS`).
        unit: What one validation example is (the spec's ``unit``).

    Returns:
        The sentence, or '' when no known metric is present.
    """
    table = table or CLASSIFICATION_METRICS
    parts = [f"{text} **{float(metrics[key]):.4f}**" for key, (_, _, _, text) in table.items()
             if isinstance(metrics.get(key), (int, float))]
    if not parts:
        return ""
    rows = f" ({int(metrics['num_rows'])} {unit})" if metrics.get("num_rows") is not None else ""
    return f"On its validation split{rows} it reaches {', '.join(parts)}."


def hyperparameter_rows(params: dict) -> list[tuple[str, str]]:
    """Card rows: the essential hyperparameters always (``not recorded`` when missing), the others when known."""
    rows = []
    known = {key for key, _, _ in HYPERPARAMETERS}
    for key, label, always in HYPERPARAMETERS:
        value = params.get(key)
        if value is None and not always:
            continue
        if key == "lr" and isinstance(value, (int, float)):
            value = f"{value:.2e}"
        rows.append((label, cell("not recorded" if value is None else value)))
    rows += [(cell(k), cell(v)) for k, v in sorted(params.items()) if k not in known]
    return rows


def balance_table(record: TrainingRecord | None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the class-balance table: target statistics where the record has them (a ``"target"``
    label layout), words per tag for ``"word_tags"``, else rows per class (see ``TaskSpec.label_layout``).

    Args:
        record: The training record, or None.

    Returns:
        The header and the rows ([], [] when nothing is recorded).
    """
    if record is None:
        return [], []
    layout = record.spec.label_layout
    if layout == "target":
        splits = [s for s in ("train", "validation") if s in record.target_stats]
        rows = [[stat] + [f"{record.target_stats[s][stat]:.4g}" for s in splits]
                for stat in ("rows", "mean", "std", "min", "max")]
        return (["target statistic"] + [f"{s} split" for s in splits], rows) if splits else ([], [])
    if not record.train_counts:
        return [], []
    if layout == "word_tags":  # words per tag (first sub-words), shares of the split's words
        n_train = max(1, sum(record.train_counts.values()))
        n_val = max(1, sum(record.val_counts.values()))
        header = ["tag", "training words", "training share", "validation words", "validation share"]
        return header, [
            [cell(name), str(record.train_counts.get(name, 0)), f"{record.train_counts.get(name, 0) / n_train:.1%}",
             str(record.val_counts.get(name, 0)), f"{record.val_counts.get(name, 0) / n_val:.1%}"]
            for name in record.class_names
        ]
    # shares of the split's rows; multi-label shares may sum to more than 100 % (a row can carry several labels)
    n_train, n_val = max(1, record.train_rows), max(1, record.val_rows)
    header = ["label", "training rows", "training share", "validation rows", "validation share"]
    rows = [
        [cell(name), str(record.train_counts.get(name, 0)), f"{record.train_counts.get(name, 0) / n_train:.1%}",
         str(record.val_counts.get(name, 0)), f"{record.val_counts.get(name, 0) / n_val:.1%}"]
        for name in record.class_names
    ]
    return header, rows


def _per_type_records(per_type) -> list[dict]:
    """A token report's ``per_type`` as records with a ``type`` key, whether saved as records or as a mapping
    ``{type: {precision, recall, f1-score, support}}``."""
    if isinstance(per_type, dict):
        return [{"type": name, **values} for name, values in per_type.items() if isinstance(values, dict)]
    return [dict(r) for r in per_type or [] if isinstance(r, dict)]


def per_type_table(evaluation: dict | None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-entity-type validation table of a token model (empty without ``per_type``)."""
    records = _per_type_records((evaluation or {}).get("per_type"))
    if not records:
        return [], []
    header = ["entity type", "precision", "recall", "F1", "support"]
    rows = []
    for r in records:
        name = r.get("type", r.get("entity", r.get("class", "")))
        f1 = r.get("f1-score", r.get("f1", 0.0))
        rows.append([cell(name), f"{float(r['precision']):.4f}", f"{float(r['recall']):.4f}", f"{float(f1):.4f}",
                     str(int(r.get("support", 0)))])
    return header, rows


def per_class_table(evaluation: dict | None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-class (or per-label, with thresholds; or per entity type) validation table."""
    evaluation = evaluation or {}
    if evaluation.get("per_type"):
        return per_type_table(evaluation)
    records = evaluation.get("per_class") or evaluation.get("per_label") or []
    if not records:
        return [], []
    with_threshold = "threshold" in records[0]
    header = ["label", "precision", "recall", "F1", "support"] + (["threshold"] if with_threshold else [])
    rows = []
    for r in records:
        row = [cell(r.get("class", r.get("label"))), f"{r['precision']:.4f}", f"{r['recall']:.4f}",
               f"{r['f1-score']:.4f}", str(int(r["support"]))]
        rows.append(row + ([f"{r['threshold']:.2f}"] if with_threshold else []))
    return header, rows


def epoch_table(record: TrainingRecord | None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-epoch results table (Keras History values at the end of each epoch)."""
    if record is None or not record.epochs:
        return [], []
    keys = [(k, label) for k, label in EPOCH_COLUMNS if any(k in e for e in record.epochs)]
    header = ["epoch", "step"] + [label for _, label in keys]
    rows = []
    for e in record.epochs:
        cells = [str(int(e["epoch"])), str(int(e.get("step", 0)))]
        cells += [(f"{e[k]:.2e}" if k == "lr" else f"{e[k]:.4f}") if k in e else "–" for k, _ in keys]
        rows.append(cells)
    return header, rows

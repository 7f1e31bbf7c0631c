"""One frozen :class:`TaskSpec` per task: the only list of tasks, their facts, and the modules that serve each.

Every door (the Data tab, the CLI, ``kdemo.train``, ``load_predictor``, the model card) asks this module what a task
is and which reader, pipeline, evaluator, predictor and view serve it, instead of branching on the task itself. The
implementations are named by dotted path and imported on first use (as transformers' auto classes do), so this
module stays at the bottom of the package and imports nothing of kdemo but the enum and the errors.

Adding a task: add a :class:`Task` member, then one spec here; the README's "Adding a task" lists the rooms its
dotted paths point to.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from kdemo.errors import DataError
from kdemo.tasks.task import MULTI_LABEL, QUESTION_ANSWERING, REGRESSION, SINGLE_LABEL, TOKEN_CLASSIFICATION, Task

#: Kinds of data file a task trains on (what :func:`kdemo.data.sniff.sniff` tells apart): tables of texts and labels,
#: token files (words and tags), and questions with their contexts and answers (SQuAD JSON, or a table with
#: ``question`` and ``context`` columns).
TABLE, TOKENS, QUESTIONS = "table", "tokens", "questions"

#: Card metrics of the table tasks: key in ``kdemo.json`` "metrics" → (model-index type, model-index name, config,
#: name in the card's text).
CLASSIFICATION_METRICS = {
    "accuracy": ("accuracy", "Accuracy", None, "accuracy"),
    "macro_f1": ("f1", "Macro F1", "macro", "macro-F1"),
    "micro_f1": ("f1", "Micro F1", "micro", "micro-F1"),
    "subset_accuracy": ("accuracy", "Subset accuracy", "subset", "subset accuracy"),
    "mae": ("mae", "MAE", None, "MAE"),
    "rmse": ("rmse", "RMSE", None, "RMSE"),
    "r2": ("r_squared", "R²", None, "R²"),
}
#: The same for token classification: entity-level scores (seqeval, strict BIO) and the word-level tag accuracy.
ENTITY_METRICS = {
    "f1": ("f1", "Entity F1 (micro)", "micro", "entity F1"),
    "precision": ("precision", "Entity precision (micro)", "micro", "entity precision"),
    "recall": ("recall", "Entity recall (micro)", "micro", "entity recall"),
    "macro_f1": ("f1", "Entity macro F1", "macro", "entity macro-F1"),
    "accuracy": ("accuracy", "Token accuracy", "token", "token accuracy"),
}
#: The same for extractive question answering: SQuAD's exact match and token F1 (percent, 0–100, as the official
#: script and HF ``evaluate``'s ``squad``/``squad_v2`` report them) and, for SQuAD 2.0 data, the answerable and
#: unanswerable halves.
QA_METRICS = {
    "exact_match": ("exact_match", "Exact match", None, "exact match"),
    "f1": ("f1", "F1", None, "F1"),
    "has_ans_f1": ("f1", "F1 (answerable questions)", "HasAns", "F1 on answerable questions"),
    "no_ans_f1": ("f1", "F1 (unanswerable questions)", "NoAns", "F1 on unanswerable questions"),
}


#: The roles a spec names by dotted path (:meth:`TaskSpec.load`).
ROLES = ("pipeline", "evaluator", "predictor", "report", "scorer", "label_issues")


@dataclass(frozen=True)
class TaskSpec:
    """What one task is, in facts, and which modules serve it.

    Attributes:
        task: The task.
        data_kind: The files it trains on: :data:`TABLE` (a text column and label columns), :data:`TOKENS`
            (CoNLL/BIO or JSONL of tokens and tags) or :data:`QUESTIONS` (SQuAD JSON, or a table of question, context
            and answers). Tasks of one kind share the reader and the doctor.
        title: The task in words, for the UI and the CLI (e.g. ``"single-label classification"``).
        card_words: The card's longer description (the model's output and loss).
        problem_type: transformers' ``config.problem_type`` (what ``pipeline`` reads to pick softmax, sigmoid or
            none), or None where transformers has none.
        pipeline_tag: The Hub's ``pipeline_tag`` and the ``transformers.pipeline`` task name.
        auto_model: The transformers auto class a saved folder loads with.
        label_word: What one label is called (``"class"``, ``"label"``, ``"target"``, ``"tag"``).
        unit: What one example is (``"rows"`` of a table, ``"sentences"`` of a token file), plural.
        card_metrics: The validation metrics the model card shows (see :data:`CLASSIFICATION_METRICS`).
        balance_title: Title of the card's label-balance section.
        class_weight: Whether ``class_weight`` applies (per class or per tag).
        default_example: The card's widget example when the folder records no training text.
        aliases: Other spellings :func:`spec_for` accepts (the Hub's ``token-classification``).
        label_layout: How one example's labels are held: ``"class"`` (one class id per row), ``"multi_hot"`` (one
            0/1 per class), ``"target"`` (one number; no class counts, target statistics instead) or ``"word_tags"``
            (one tag id per word: class balance counts words, windows split long sentences) or ``"spans"`` (an answer
            span of characters in a context per question; no classes).
        entity_types: Whether the class names are BIO tags of entity types (``B-PER``): the card lists the types,
            groups the pipeline's output into entities (``aggregation_strategy``) and scores entities.
        card_summary: The card's opening words, a :meth:`str.format` string over ``num_labels``, ``names`` (the
            first 20 class names), ``num_types``, ``types`` (the entity types) and ``targets`` (the target names,
            else "a number").
        card_call: Arguments of the card's ``pipeline`` call snippet, and ``card_call_comment`` what it returns.
        card_call_comment: See ``card_call``.
        card_tags: Hub tags the card adds for the task (beside ``pipeline_tag``, ``kdemo``, ``keras``, ``pytorch``).
        example_parts: The keys of the Hub widget's example (``("text",)``; question answering: ``("text",
            "context")``, the question and its context): an example holds one part per line, the last taking the rest.
        pipeline: ``"module:Class"`` of the run pipeline (:mod:`kdemo.run.pipeline`): read, prepare, split, texts.
        evaluator: ``"module:Class"`` of the Learner's evaluation strategy (``validate``, ``top_losses``, …).
        predictor: ``"module:Class"`` of the predictor (``get_predictor``, ``load_predictor``).
        report: ``"module:Class"`` of the validation report (``to_dict``/``from_dict``), e.g. to read a saved run's
            ``training_results.json`` evaluation back.
        space_app: Name of the demo Space's ``app.py`` template in ``kdemo/hub/space_apps/`` (``<name>.py.tmpl``:
            ``text_labels``, ``regression``, ``entities``, ``answers``); :func:`kdemo.hub.space.space_files` renders it.
        scorer: ``"module:function"`` that scores a saved run on a labelled test file, row by row
            (``scorer(predictor, path, **columns) -> RowScores``; :func:`kdemo.run.evaluate_runs.evaluate`).
        label_issues: ``"module:function"`` of the task's cleanlab adapter (``scores(labels, predictions,
            class_names) -> DataFrame``; :func:`kdemo.run.label_issues.api.find_label_issues`), or ``""`` where the task
            has no labels to check (question answering).
    """

    task: Task
    data_kind: str
    title: str
    card_words: str
    problem_type: str | None
    pipeline_tag: str
    auto_model: str
    label_word: str
    unit: str
    card_metrics: Mapping[str, tuple] = field(repr=False)
    balance_title: str
    class_weight: bool
    default_example: str
    aliases: tuple[str, ...] = ()
    pipeline: str = ""
    evaluator: str = ""
    predictor: str = ""
    report: str = ""
    scorer: str = ""
    label_issues: str = ""
    label_layout: str = "class"
    entity_types: bool = False
    card_summary: str = "A text classifier that sorts texts into {num_labels} classes ({names})"
    card_call: str = "top_k=None"
    card_call_comment: str = "every class with its score"
    card_tags: tuple[str, ...] = ()
    example_parts: tuple[str, ...] = ("text",)
    space_app: str = "text_labels"

    def load(self, role: str):
        """The class or function named by ``pipeline``, ``evaluator``, ``predictor``, ``report``, ``scorer`` or
        ``label_issues``, imported on first use.

        Raises:
            ValueError: If ``role`` is not one of those six, or the spec names nothing for it.
        """
        if role not in ROLES:
            raise ValueError(f"Expected role to be one of {list(ROLES)}. Received: {role!r}.")
        if not getattr(self, role):
            raise ValueError(f"Expected a {role!r} module for {self.task.value}. Received: none; the task has none.")
        module, _, name = getattr(self, role).partition(":")
        return getattr(importlib.import_module(module), name)

    def __str__(self) -> str:
        return self.task.value


_TABLE_COMMON = dict(data_kind=TABLE, pipeline_tag="text-classification",
                     auto_model="AutoModelForSequenceClassification", unit="rows",
                     card_metrics=CLASSIFICATION_METRICS, default_example="This is a great movie!",
                     pipeline="kdemo.run.table_pipeline:TablePipeline",
                     evaluator="kdemo.training.validation:TableEvaluator",
                     predictor="kdemo.inference.predictor:Predictor",
                     scorer="kdemo.evaluation.table_scores:table_scores")

#: Every task kdemo trains, in the order menus list them.
SPECS: dict[Task, TaskSpec] = {
    SINGLE_LABEL: TaskSpec(
        SINGLE_LABEL, title="single-label classification",
        card_words="single-label classification (softmax over the classes)",
        problem_type="single_label_classification", label_word="class", balance_title="Class balance",
        class_weight=True, report="kdemo.evaluation.report:ClassificationReport",
        label_issues="kdemo.run.label_issues.classes:single_label_scores", **_TABLE_COMMON),
    MULTI_LABEL: TaskSpec(
        MULTI_LABEL, title="multi-label classification",
        card_words="multi-label classification (one sigmoid per label; a text can carry several labels)",
        problem_type="multi_label_classification", label_word="label", balance_title="Class balance",
        class_weight=False, label_layout="multi_hot", report="kdemo.evaluation.report:MultiLabelReport",
        card_summary="A multi-label text classifier that tags texts with any of {num_labels} labels ({names})",
        card_tags=("multi-label",), label_issues="kdemo.run.label_issues.classes:multi_label_scores", **_TABLE_COMMON),
    REGRESSION: TaskSpec(
        REGRESSION, title="regression", card_words="regression (one number per text)",
        problem_type="regression", label_word="target", balance_title="Target distribution",
        class_weight=False, label_layout="target", report="kdemo.evaluation.report:RegressionReport",
        card_summary="A text regression model that predicts {targets} from a text",
        card_call='function_to_apply="none"', card_call_comment="the predicted value", space_app="regression",
        label_issues="kdemo.run.label_issues.regression:regression_scores", **_TABLE_COMMON),
    TOKEN_CLASSIFICATION: TaskSpec(
        TOKEN_CLASSIFICATION, data_kind=TOKENS, title="token classification (named entities)",
        card_words=("token classification (named entities: one BIO tag per word; an entity is a `B-` tag followed "
                    "by `I-` tags of the same type)"),
        problem_type=None, pipeline_tag="token-classification", auto_model="AutoModelForTokenClassification",
        label_word="tag", unit="sentences", card_metrics=ENTITY_METRICS,
        balance_title="Tag balance (words per tag)", class_weight=True,
        default_example="John Smith works for Acme Corp in Berlin.", aliases=("token-classification",),
        pipeline="kdemo.run.token_pipeline:TokenPipeline",
        evaluator="kdemo.training.token_evaluator:TokenEvaluator",
        predictor="kdemo.inference.ner_predictor:NERPredictor", report="kdemo.evaluation.ner:NERReport",
        scorer="kdemo.evaluation.ner_scores:ner_scores", label_issues="kdemo.run.label_issues.tokens:token_scores",
        label_layout="word_tags", entity_types=True,
        card_summary=("A token classifier (named-entity recognition) that finds {num_types} entity types ({types}) "
                      "with {num_labels} BIO tags"),
        card_tags=("ner",), space_app="entities"),
    QUESTION_ANSWERING: TaskSpec(
        QUESTION_ANSWERING, data_kind=QUESTIONS, title="extractive question answering",
        card_words=("extractive question answering (the answer is a span of the context: one start and one end "
                    "logit per token, cross-entropy on the answer's first and last token; long contexts are read in "
                    "overlapping windows)"),
        problem_type=None, pipeline_tag="question-answering", auto_model="AutoModelForQuestionAnswering",
        label_word="answer", unit="questions", card_metrics=QA_METRICS, balance_title="Questions and answers",
        class_weight=False,
        default_example="Where does John work?\nJohn Smith works for Acme Corp in Berlin.",
        aliases=("question-answering", "qa", "extractive_qa"),
        pipeline="kdemo.run.qa_pipeline:QAPipeline", evaluator="kdemo.training.qa_evaluator:QAEvaluator",
        predictor="kdemo.inference.qa_predictor:QAPredictor", report="kdemo.evaluation.qa:QAReport",
        scorer="kdemo.evaluation.qa_scores:qa_scores",
        label_layout="spans",
        card_summary="An extractive question-answering model that finds the answer to a question as a span of a context",
        card_call='question="...", context="..."', card_call_comment="the answer, its score and its character span",
        card_tags=("extractive-qa",), example_parts=("text", "context"), space_app="answers"),
}

#: The tasks of a table's label column (one prediction per text or sentence pair), detected from the labels.
TASKS = tuple(t for t, s in SPECS.items() if s.data_kind == TABLE)
#: Every kind of data file, in the order :data:`SPECS` first names it.
DATA_KINDS = tuple(dict.fromkeys(s.data_kind for s in SPECS.values()))
#: transformers' ``config.problem_type`` of each task that has one.
PROBLEM_TYPES = {t: s.problem_type for t, s in SPECS.items() if s.problem_type}


def check_task(task: str) -> Task:
    """Return ``task`` as a :class:`Task` if it names one.

    Args:
        task: A :class:`Task`, its value (``"single_label"``, ``"multi_label"``, ``"regression"``,
            ``"token_classification"``), a spec's alias (the Hub's ``"token-classification"``) or a transformers
            ``problem_type`` (``"single_label_classification"``: what older saved folders recorded).

    Returns:
        The task.

    Raises:
        DataError: Otherwise.
    """
    if isinstance(task, TaskSpec):
        return task.task
    if isinstance(task, str):
        key = task.strip().lower()
        for spec in SPECS.values():
            if key == spec.task.value or key in spec.aliases or key == spec.problem_type:
                return spec.task
    raise DataError(f"Expected task to be one of {[t.value for t in Task]}. Received: task={task!r}.")


def spec_for(task) -> TaskSpec:
    """The :class:`TaskSpec` of ``task`` (anything :func:`check_task` accepts).

    Raises:
        DataError: If ``task`` names no task.
    """
    return SPECS[check_task(task)]


def folder_spec(meta: Mapping, config: Mapping) -> TaskSpec:
    """The spec of a saved model folder: its ``kdemo.json`` task (``meta``), else what the transformers config
    (``config.json``: ``problem_type``, ``architectures``) says; single-label when neither says anything.

    Args:
        meta: The folder's ``kdemo.json`` (empty for a plain transformers checkpoint).
        config: The folder's ``config.json``.
    """
    for value in (meta.get("task"), config.get("problem_type")):
        if value:
            try:
                return spec_for(value)
            except DataError:
                pass
    for architecture in config.get("architectures") or []:
        for spec in SPECS.values():
            if str(architecture).endswith(spec.auto_model.removeprefix("AutoModel")):
                return spec
    return SPECS[SINGLE_LABEL]

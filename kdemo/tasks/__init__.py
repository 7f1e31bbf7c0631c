"""The task axis in one home: the :class:`Task` enumeration, one :class:`TaskSpec` per task (its facts and the
modules that serve it) and the label rules of the table tasks.

* ``single_label``: one class per text (softmax over classes, cross-entropy).
* ``multi_label``: any number of classes per text (one sigmoid per class, binary cross-entropy).
* ``regression``: one number per text (one output, mean squared error).
* ``token_classification``: one BIO tag per word (named entities; softmax over tags per token, cross-entropy on
  the first sub-word of each word). Its data are token files, not tables.
* ``question_answering``: the answer to a question as a span of its context (extractive QA: start and end logits per
  token, as SQuAD). Its data are SQuAD JSON or tables of question, context and answers.
"""

from kdemo.tasks.labels import (
    infer_task,
    is_one_hot,
    multi_hot,
    multi_label_names,
    pos_weights,
    regression_targets,
)
from kdemo.tasks.spec import (
    DATA_KINDS,
    PROBLEM_TYPES,
    QUESTIONS,
    SPECS,
    TABLE,
    TASKS,
    TOKENS,
    TaskSpec,
    check_task,
    folder_spec,
    spec_for,
)
from kdemo.tasks.task import MULTI_LABEL, QUESTION_ANSWERING, REGRESSION, SINGLE_LABEL, TOKEN_CLASSIFICATION, Task

__all__ = [
    "DATA_KINDS", "MULTI_LABEL", "PROBLEM_TYPES", "QUESTIONS", "QUESTION_ANSWERING", "REGRESSION", "SINGLE_LABEL", "SPECS", "TABLE", "TASKS", "TOKENS",
    "TOKEN_CLASSIFICATION", "Task", "TaskSpec", "check_task", "folder_spec", "infer_task", "is_one_hot", "multi_hot",
    "multi_label_names", "pos_weights", "regression_targets", "spec_for",
]

"""What the tabs show for each kind of task, chosen by the task's spec: one view module per data kind.

A view module (:mod:`kdemo.ui.views.table` for the table tasks, :mod:`kdemo.ui.views.tokens` for token
classification, :mod:`kdemo.ui.views.questions` for extractive question answering) answers the same questions for
its tasks: the Data tab's outputs for an upload (``load``, ``restore``, ``set_task``, ``require_columns``,
``entity_preview``, ``task_choices``), the Train tab's report (``report_outputs``), maxlen suggestion
(``suggest_maxlen``) and window settings (``WINDOWS``, ``train_options``), the Predict tab's outputs (``OUTPUT``,
``ENTITIES``, ``CLASS_WORDS``, ``INPUT_LABELS``, ``entities``/``answers``, ``predict_file``) and the Attention tab's
inputs and maps (``TAKES_PAIRS``, ``SEGMENTS``, ``attention``; its attributions are the predictor's own,
:meth:`~kdemo.inference.base.BasePredictor.target_attributions`).
The tabs ask :func:`view_for` instead of branching on the task.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from kdemo.tasks import QUESTIONS, TABLE, TOKENS, TaskSpec, spec_for

#: The view module of each data kind (:attr:`kdemo.tasks.TaskSpec.data_kind`).
VIEWS = {TABLE: "kdemo.ui.views.table", TOKENS: "kdemo.ui.views.tokens", QUESTIONS: "kdemo.ui.views.questions"}


def view_for(spec_or_kind: TaskSpec | str | None) -> ModuleType:
    """The view module of a task.

    Args:
        spec_or_kind: A :class:`~kdemo.tasks.TaskSpec`, a data kind (:data:`~kdemo.tasks.TABLE`,
            :data:`~kdemo.tasks.TOKENS`, :data:`~kdemo.tasks.QUESTIONS`), anything :func:`kdemo.tasks.spec_for` accepts (a task or its value, e.g. a
            predictor's ``task``), or None (no data yet: the table view).

    Returns:
        The module (:mod:`kdemo.ui.views.table`, :mod:`kdemo.ui.views.tokens` or :mod:`kdemo.ui.views.questions`).

    Raises:
        DataError: If ``spec_or_kind`` names no task.
    """
    if spec_or_kind is None:
        kind = TABLE
    elif isinstance(spec_or_kind, TaskSpec):
        kind = spec_or_kind.data_kind
    elif isinstance(spec_or_kind, str) and spec_or_kind in VIEWS:
        kind = spec_or_kind
    else:
        kind = spec_for(spec_or_kind).data_kind
    return importlib.import_module(VIEWS[kind])

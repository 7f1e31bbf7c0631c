"""The :class:`Task` enumeration: the supervised tasks kdemo trains, by value."""

from __future__ import annotations

import enum


class Task(enum.StrEnum):
    """A supervised task. String-valued: a member equals its value (``Task.REGRESSION == "regression"``), prints
    and JSON-serialises as it (``json.dumps(Task.MULTI_LABEL) == '"multi_label"'``), and ``Task("regression")``
    parses one. What each task is and which modules serve it: :data:`kdemo.tasks.SPECS`."""

    SINGLE_LABEL = "single_label"
    MULTI_LABEL = "multi_label"
    REGRESSION = "regression"
    TOKEN_CLASSIFICATION = "token_classification"
    QUESTION_ANSWERING = "question_answering"

    def __repr__(self) -> str:
        # Messages of the form "Received: task='regression'" read the same for a member and for its string.
        return repr(self.value)


# Module-level aliases of the members, for existing imports.
SINGLE_LABEL = Task.SINGLE_LABEL
MULTI_LABEL = Task.MULTI_LABEL
REGRESSION = Task.REGRESSION
TOKEN_CLASSIFICATION = Task.TOKEN_CLASSIFICATION
QUESTION_ANSWERING = Task.QUESTION_ANSWERING

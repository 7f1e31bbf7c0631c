"""User-facing error types.

Every error kdemo raises on bad input is a :class:`KdemoError`. Its message is written for the person who
made the mistake: what was expected, what was received, and what to do. The UI shows the message as it is
(``kdemo.ui.errors`` converts it to ``gr.Error`` in exactly one place), so messages never contain tracebacks.
"""

from __future__ import annotations


class KdemoError(ValueError):
    """Base class of every error kdemo raises on user input or environment problems."""


class DataError(KdemoError):
    """The data file or table cannot be used as given (format, columns, labels, size)."""


class ModelError(KdemoError):
    """A model cannot be loaded, built or used (unknown id, no network, incompatible folder)."""


class TrainingError(KdemoError):
    """Training cannot start or continue (no data, wrong state, invalid hyperparameters)."""


class HubError(KdemoError):
    """Pushing to or talking with the Hugging Face Hub failed (token, permissions, network)."""

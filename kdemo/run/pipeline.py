"""One pipeline per task, chosen once from its spec: the one place a door's data is read and prepared.

A pipeline (``TaskSpec.pipeline``: :class:`~kdemo.run.table_pipeline.TablePipeline`,
:class:`~kdemo.run.token_pipeline.TokenPipeline`) has two steps: ``read(config, train_df=None, val_df=None) ->
RunData`` reads the files once (or takes the tables given), and ``prepare(config, data, *, policy, verbose) ->
(preproc, learner)`` splits, tokenizes and builds the model.
"""

from __future__ import annotations

import pandas as pd

from kdemo.data.sniff import sniff
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.run.config import TrainConfig
from kdemo.run.data import RunData
from kdemo.tasks import SPECS, TABLE, TaskSpec, spec_for


def spec_of(config: TrainConfig, train_df: pd.DataFrame | None = None) -> TaskSpec:
    """The spec whose pipeline reads ``config``'s data: its task, else the kind of its training file
    (:func:`kdemo.data.sniff.sniff`); a table whose task is open reads as a table (the labels decide the task).
    """
    if config.task is not None:
        return spec_for(config.task)
    kind = TABLE if train_df is not None or config.train_file is None else sniff(config.train_file)
    return next(spec for spec in SPECS.values() if spec.data_kind == kind)


def pipeline_for(config_or_spec: TrainConfig | TaskSpec, train_df: pd.DataFrame | None = None):
    """The pipeline object of a spec, or of the spec a config's data has (:func:`spec_of`)."""
    spec = config_or_spec if isinstance(config_or_spec, TaskSpec) else spec_of(config_or_spec, train_df)
    return spec.load("pipeline")()


def read_data(config: TrainConfig, train_df: pd.DataFrame | None = None,
              val_df: pd.DataFrame | None = None) -> RunData:
    """The run's data, read once by its task's pipeline: tables (given, or read from ``config.train_file`` and
    ``val_file``) with their columns given or guessed, or a token file's sentences.

    Args:
        config: The run's settings (files or a Hub dataset, columns, task).
        train_df: Training table instead of ``config.train_file`` (or ``config.hub_dataset``).
        val_df: Validation table instead of ``config.val_file``.

    Returns:
        A :class:`~kdemo.run.data.RunData` of the task's kind.

    Raises:
        DataError: If no data is given, a file or Hub dataset cannot be read, or a column is missing.
    """
    if config.hub_dataset is not None and train_df is None:
        return _read_hub(config)
    return pipeline_for(config, train_df).read(config, train_df, val_df)


def _read_hub(config: TrainConfig) -> RunData:
    """Read ``config.hub_dataset``'s split into a local Parquet file, then as an uploaded table or question file."""
    from dataclasses import replace

    from kdemo.data.hub_datasets import fetch_hub_dataset

    got = fetch_hub_dataset(config.hub_dataset, config=config.hub_config, split=config.hub_split,
                            revision=config.hub_revision, max_rows=config.hub_max_rows)
    local = TrainConfig.from_dict({**config.to_dict(), "hub_dataset": None, "train_file": str(got.path),
                                   "data_name": config.data_name})
    data = pipeline_for(local).read(local, None, None)
    return replace(data, warnings=(*data.warnings, got.note)) if got.note else data


def prepare(config: TrainConfig, data: RunData, *, policy: FolderPolicy = DEFAULT_POLICY, verbose: int = 0):
    """Tokenize the data and build a fresh model and learner for ``config`` (also used by the LR finder).

    The seed is set before the model is built, so that the same config gives the same initial head.

    Args:
        config: The run's settings.
        data: From :func:`read_data`.
        policy: Which local model folders ``config.model_name`` may name (the app passes the session's).
        verbose: 1 prints a summary of the data.

    Returns:
        ``(preproc, learner)``.

    Raises:
        DataError: If the columns or labels cannot be used (rows named).
        ModelError: If the model cannot be loaded or is refused by ``policy``.
    """
    return pipeline_for(data.spec).prepare(config, data, policy=policy, verbose=verbose)

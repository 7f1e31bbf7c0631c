"""What a run trains on, once read: :class:`RunData`, the same interface for every task's data."""

from __future__ import annotations

from dataclasses import dataclass

from kdemo.tasks import TaskSpec

#: Characters of the first training text kept as the model card's widget example.
EXAMPLE_CHARS = 200


@dataclass(frozen=True)
class RunData:
    """The data of one run as read by its task's pipeline (:func:`kdemo.run.pipeline.read_data`); every door (the
    Data tab, the CLI, :func:`kdemo.train`) reads a file once into one of these and hands it on.

    Subclasses: :class:`~kdemo.run.table_pipeline.TableRunData` (tables and their columns) and
    :class:`~kdemo.run.token_pipeline.TokenRunData` (sentences of words and tags).

    Attributes:
        spec: The task's :class:`~kdemo.tasks.TaskSpec`.
        data_name: Display name of the data (the uploaded file's name), or None.
        warnings: The files' repairs and conversions, each naming its line or row.
        text_column: Column with the texts (None for token files).
        label_columns: Label column(s) (empty for token files).
        text_pair_column: Column with the second texts of sentence pairs, or None.
    """

    spec: TaskSpec
    data_name: str | None
    warnings: tuple[str, ...] = ()
    text_column: str | None = None
    label_columns: tuple[str, ...] = ()
    text_pair_column: str | None = None

    def texts(self) -> list[str]:
        """The training texts (a token file's sentences as words joined by spaces), e.g. for language detection."""
        raise NotImplementedError

    def summary(self) -> str:
        """One line saying what the run trains on (the CLI prints it before training), e.g. the columns chosen."""
        raise NotImplementedError

    def example(self) -> str:
        """The first training text, at most :data:`EXAMPLE_CHARS` characters: the model card's widget example."""
        texts = self.texts()
        return str(texts[0])[:EXAMPLE_CHARS] if texts else ""

    def files_in(self, folder) -> dict:
        """The :class:`~kdemo.run.config.TrainConfig` fields that name files holding this data, writing into
        ``folder`` what is held only in memory (a torchrun worker reads the files: :mod:`kdemo.run.multi_gpu`).

        Args:
            folder: Where to write (an existing folder).

        Returns:
            ``{"train_file": ..., "val_file": ..., ...}``.
        """
        raise NotImplementedError

    def config_fields(self) -> dict:
        """The :class:`~kdemo.run.config.TrainConfig` fields that describe this data (task, columns, name), so that
        a door builds a run's config from data it has read: ``TrainConfig(**data.config_fields(), lr=...)``."""
        return {"task": self.spec.task, "data_name": self.data_name, "text_column": self.text_column,
                "label_columns": tuple(self.label_columns), "text_pair_column": self.text_pair_column}

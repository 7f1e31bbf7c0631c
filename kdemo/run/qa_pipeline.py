"""The run pipeline of extractive question answering: SQuAD JSON or tables of question, context and answers. The
rest of the run (fit, validation report, record, predictor, ``training_params.json``) is shared with the other tasks
(:mod:`kdemo.run.train`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from kdemo.data.qa_files import QACorpus, check_trainable, qa_from_frame, read_qa_file
from kdemo.errors import DataError
from kdemo.modeling.qa import question_answerer
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.run.config import TrainConfig
from kdemo.run.data import RunData
from kdemo.tasks import QUESTION_ANSWERING, spec_for
from kdemo.text.qa.loaders import encode_corpus, split_by_context, usable_answers
from kdemo.text.qa.preprocessor import MAXLEN, QAPreprocessor
from kdemo.training.learner import Learner, get_learner

#: Characters of the context kept in the model card's widget example.
EXAMPLE_CONTEXT_CHARS = 1000


@dataclass(frozen=True)
class QARunData(RunData):
    """The questions of a question-answering run.

    Attributes:
        train: Training questions with their contexts and answers.
        val: Validation questions, or None to hold ``config.val_pct`` of the training contexts out.
        train_file, val_file: The files they were read from, or None when they came as tables.
    """

    train: QACorpus | None = None
    val: QACorpus | None = None
    train_file: str | None = None
    val_file: str | None = None

    def texts(self) -> list[str]:
        """The distinct training contexts (language detection, coverage), then the questions."""
        return list(dict.fromkeys(self.train.contexts)) + list(self.train.questions)

    def summary(self) -> str:
        """How many questions and contexts the run trains on."""
        unanswerable = sum(self.train.unanswerable)
        extra = f", {unanswerable} unanswerable" if unanswerable else ""
        return (f"data: {len(self.train)} questions on {len(set(self.train.contexts))} contexts{extra} (task: "
                f"{self.spec.title})")

    def example(self) -> str:
        """The first training question and its context (cut at :data:`EXAMPLE_CONTEXT_CHARS`), on two lines: the
        model card's widget example (``question\\ncontext``)."""
        return f"{self.train.questions[0].strip()}\n{self.train.contexts[0][:EXAMPLE_CONTEXT_CHARS]}"

    def files_in(self, folder) -> dict:
        """The files the questions were read from, or JSONL copies of tables given in memory written to ``folder``."""
        out = {}
        for key, corpus, path in (("train_file", self.train, self.train_file), ("val_file", self.val, self.val_file)):
            if path is None and corpus is not None:
                path = str(Path(folder) / f"{key}.jsonl")
                corpus.to_frame().to_json(path, orient="records", lines=True, force_ascii=False)
            out[key] = path
        return out

    def config_fields(self) -> dict:
        """As :meth:`RunData.config_fields`, with the files (a question-answering run's config names its files)."""
        return {**super().config_fields(), "train_file": self.train_file, "val_file": self.val_file}


def read_qa_data(config: TrainConfig, train_df=None, val_df=None) -> QARunData:
    """Read the run's questions once: ``config.train_file``/``val_file`` (SQuAD JSON or tables) or the tables given.

    Raises:
        DataError: If there is no data, a file cannot be read, a question has no context, an answer is not at its
            offset and cannot be repaired, or no training question has an answer (the messages name the rows).
    """
    name = config.data_name
    if train_df is not None:
        train = qa_from_frame(train_df, name=name or "training table")
    elif config.train_file is not None:
        train = read_qa_file(config.train_file, name=name)
    else:
        raise DataError("Expected training questions: SQuAD JSON, or a table with question, context and answers "
                        "columns. Received: none. Set train_file.")
    if val_df is not None:
        val = qa_from_frame(val_df, name="validation table")
    else:
        val = read_qa_file(config.val_file) if config.val_file is not None else None
    train, warnings = usable_answers(train)
    check_trainable(train)
    if val is not None:
        val, more = usable_answers(val)
        warnings += more
    warnings = list(train.warnings) + (list(val.warnings) if val is not None else []) + warnings
    return QARunData(spec=spec_for(QUESTION_ANSWERING), data_name=config.data_name or train.name,
                     warnings=tuple(warnings), train=train, val=val,
                     train_file=None if train_df is not None or config.train_file is None else str(config.train_file),
                     val_file=None if val_df is not None or config.val_file is None else str(config.val_file))


def prepare_qa(config: TrainConfig, data: QARunData, *, policy: FolderPolicy = DEFAULT_POLICY,
               verbose: int = 0) -> tuple[QAPreprocessor, Learner]:
    """Window and tokenize the questions and build a fresh question-answering model and learner (seeded as the
    other tasks).

    Returns:
        ``(preproc, learner)``.

    Raises:
        DataError: On unusable questions (the message names the row), or ``doc_stride`` not below ``maxlen``.
        ModelError: If the model cannot be loaded or is refused by ``policy``.
    """
    torch.manual_seed(config.seed)
    maxlen = config.maxlen or MAXLEN
    if config.doc_stride >= maxlen:
        raise DataError(f"Expected doc_stride below maxlen (tokens two windows share, e.g. 128 of 384). Received: "
                        f"doc_stride={config.doc_stride} with maxlen={maxlen}. Lower doc_stride or raise maxlen.")
    preproc = QAPreprocessor(config.model_name, maxlen=maxlen, doc_stride=config.doc_stride, policy=policy)
    if data.val is None:
        keep, held = split_by_context(data.train, config.val_pct, config.seed)
        train_part, val_part = data.train.subset(keep), data.train.subset(held)
    else:
        train_part, val_part = data.train, data.val
    trn = encode_corpus(preproc, train_part, train=True)
    val = encode_corpus(preproc, val_part, train=False)
    preproc.precision = config.precision
    if verbose:
        print(f"{trn.nsamples()} training questions ({len(trn)} windows) and {val.nsamples()} validation questions "
              f"({len(val)} windows); maxlen {preproc.maxlen}, doc_stride {preproc.doc_stride}")
    torch.manual_seed(config.seed)
    learner = get_learner(question_answerer(preproc, policy=policy, precision=config.precision), train_data=trn,
                          val_data=val, batch_size=config.batch_size, seed=config.seed,
                          freeze_lower=config.freeze_lower, weight_decay=config.weight_decay or None)
    return preproc, learner


class QAPipeline:
    """Read SQuAD JSON or question tables; window and tokenize the questions; build the QA model and its learner."""

    def read(self, config: TrainConfig, train_df=None, val_df=None) -> QARunData:
        """See :func:`read_qa_data`."""
        return read_qa_data(config, train_df, val_df)

    def prepare(self, config: TrainConfig, data: QARunData, *, policy: FolderPolicy = DEFAULT_POLICY,
                verbose: int = 0) -> tuple[QAPreprocessor, Learner]:
        """See :func:`prepare_qa`."""
        return prepare_qa(config, data, policy=policy, verbose=verbose)

"""The run pipeline of token classification (NER): token files (CoNLL/BIO, JSONL of tokens and tags) instead of
tables. The rest of the run (fit, validation report, record, predictor, ``training_params.json``) is shared with the
table tasks (:mod:`kdemo.run.train`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kdemo.errors import DataError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.modeling.tagger import sequence_tagger
from kdemo.run.config import TrainConfig
from kdemo.data.token_files import TokenCorpus, read_token_file
from kdemo.run.data import RunData
from kdemo.tasks import spec_for
from kdemo.text.ner.preprocessor import NERPreprocessor
from kdemo.training.learner import Learner, get_learner

#: Sub-word tokens per window when the config leaves ``maxlen`` open (longer sentences are split into windows).
DEFAULT_TOKEN_MAXLEN = 128


@dataclass(frozen=True)
class TokenRunData(RunData):
    """The sentences of a token-classification run.

    Attributes:
        train: Training sentences (words and BIO tags).
        val: Validation sentences, or None to split ``config.val_pct`` of the training sentences off.
        train_file, val_file: The files they were read from (what a torchrun worker reads again), or None.
    """

    train: TokenCorpus | None = None
    val: TokenCorpus | None = None
    train_file: str | None = None
    val_file: str | None = None

    def texts(self) -> list[str]:
        """The training sentences as texts (words joined by spaces), e.g. for language detection."""
        return [" ".join(words) for words in self.train.words]

    def summary(self) -> str:
        """How many sentences the run trains on, and its task."""
        return f"data: {len(self.train.words)} sentences of tokens and tags (task: {self.spec.title})"

    def files_in(self, folder) -> dict:
        """The token files the sentences were read from (nothing is written)."""
        return {"train_file": self.train_file, "val_file": self.val_file}

    def config_fields(self) -> dict:
        """As :meth:`RunData.config_fields`, with the token files (a token run's config names its files)."""
        return {**super().config_fields(), "train_file": self.train_file, "val_file": self.val_file}


def read_token_data(config: TrainConfig) -> TokenRunData:
    """Read the run's token files (``config.train_file`` and ``val_file``), once.

    Raises:
        DataError: If there is no training file or a file cannot be read (the message names the line).
    """
    if config.train_file is None:
        raise DataError("Expected a training file of tokens and tags (CoNLL/BIO .txt/.conll or JSONL) for token "
                        "classification. Received: none. Set train_file.")
    train = read_token_file(config.train_file)
    if not train.tags:  # named as the user knows it (the app trains on its session's copy of the upload)
        name = config.data_name or str(config.train_file)
        raise DataError(f"Expected tags in {name!r} (the last column). Received: words only. Add a tag after each "
                        "word (word TAB tag).")
    val = read_token_file(config.val_file) if config.val_file is not None else None
    warnings = list(train.warnings) + (list(val.warnings) if val is not None else [])
    return TokenRunData(spec=spec_for(config.task or "token_classification"), data_name=config.data_name,
                        warnings=tuple(warnings), train=train, val=val, train_file=str(config.train_file),
                        val_file=None if config.val_file is None else str(config.val_file))


def held_out_count(num_sentences: int, val_pct: float) -> int:
    """Sentences a run holds out for validation when there is no validation file: ``val_pct`` of them, rounded, at
    least 1 and at most all but one (what the Data tab shows and :func:`prepare_tokens` does).

    Raises:
        DataError: With fewer than 2 sentences.
    """
    if num_sentences < 2:
        raise DataError(f"Expected at least 2 sentences to hold some out for validation. Received: {num_sentences}. "
                        "Add sentences or give a validation file.")
    return min(num_sentences - 1, max(1, round(num_sentences * val_pct)))


def _split(corpus: TokenCorpus, val_pct: float, seed: int) -> tuple[list[int], list[int]]:
    """Sentence indices ``(train, val)``: a seeded random :func:`held_out_count` of the sentences held out."""
    n = len(corpus.words)
    k = held_out_count(n, val_pct)
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[k:].tolist()), sorted(order[:k].tolist())


def prepare_tokens(config: TrainConfig, data: TokenRunData, *, policy: FolderPolicy = DEFAULT_POLICY,
                   verbose: int = 0) -> tuple[NERPreprocessor, Learner]:
    """Tokenize the sentences and build a fresh token classifier and learner (seeded as the table tasks).

    Returns:
        ``(preproc, learner)``.

    Raises:
        DataError: On unusable tags (the message names the line).
        ModelError: If the model cannot be loaded or is refused by ``policy``.
    """
    torch.manual_seed(config.seed)
    preproc = NERPreprocessor(config.model_name, maxlen=config.maxlen or DEFAULT_TOKEN_MAXLEN, policy=policy)
    words, tags, lines = data.train.words, data.train.tags, data.train.line_numbers
    if data.val is None:
        keep, held = _split(data.train, config.val_pct, config.seed)
        trn = preproc.preprocess_train([words[i] for i in keep], [tags[i] for i in keep],
                                       line_numbers=[lines[i] for i in keep])
        val = preproc.preprocess_test([words[i] for i in held], [tags[i] for i in held],
                                      line_numbers=[lines[i] for i in held])
    else:
        trn = preproc.preprocess_train(words, tags, line_numbers=lines)
        if not data.val.tags:
            raise DataError(f"Expected tags in the validation file {config.val_file!r}. Received: words only.")
        val = preproc.preprocess_test(data.val.words, data.val.tags, line_numbers=data.val.line_numbers)
    preproc.precision = config.precision
    if verbose:
        print(f"{trn.nsamples()} training and {val.nsamples()} validation sentences; tags {preproc.get_classes()}")
    torch.manual_seed(config.seed)
    learner = get_learner(sequence_tagger("bilstm-transformer", preproc, policy=policy, precision=config.precision),
                          train_data=trn, val_data=val, batch_size=config.batch_size, seed=config.seed,
                          freeze_lower=config.freeze_lower, weight_decay=config.weight_decay or None)
    return preproc, learner


class TokenPipeline:
    """Read token files; split, window and tokenize the sentences; build the token classifier and its learner."""

    def read(self, config: TrainConfig, train_df=None, val_df=None) -> TokenRunData:
        """See :func:`read_token_data` (token runs have no tables: ``train_df``/``val_df`` must be None).

        Raises:
            DataError: If a table is passed, or a file cannot be read (the message names the line).
        """
        if train_df is not None or val_df is not None:
            raise DataError("Expected token files (CoNLL/BIO or JSONL of tokens and tags) for token classification. "
                            "Received: a table. Give the file as train_file.")
        return read_token_data(config)

    def prepare(self, config: TrainConfig, data: TokenRunData, *, policy: FolderPolicy = DEFAULT_POLICY,
                verbose: int = 0) -> tuple[NERPreprocessor, Learner]:
        """See :func:`prepare_tokens`."""
        return prepare_tokens(config, data, policy=policy, verbose=verbose)

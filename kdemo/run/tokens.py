"""The token-classification (NER) side of a training run: token files instead of tables.

:func:`kdemo.run.train.read_data` and :func:`kdemo.run.train.prepare` hand token runs to this module; the rest of the
run (fit, validation report, record, predictor, ``training_params.json``) is shared with the table tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from kdemo.errors import DataError
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.modeling.tagger import sequence_tagger
from kdemo.run.config import TrainConfig
from kdemo.tasks import TOKEN_CLASSIFICATION
from kdemo.text.ner.formats import TokenCorpus, looks_like_token_file, read_token_file
from kdemo.text.ner.preprocessor import NERPreprocessor
from kdemo.training.learner import Learner, get_learner

#: Sub-word tokens per window when the config leaves ``maxlen`` open (longer sentences are split into windows).
DEFAULT_TOKEN_MAXLEN = 128


@dataclass(frozen=True)
class TokenRunData:
    """The sentences of a token-classification run (the counterpart of :class:`kdemo.run.train.RunData`).

    Attributes:
        train: Training sentences (words and BIO tags).
        val: Validation sentences, or None to split ``config.val_pct`` of the training sentences off.
        data_name: Display name of the data.
        text_column: Always None (token files have no columns); kept so ``training_params.json`` has one schema.
        text_pair_column: Always None.
        label_columns: Always empty.
        warnings: The files' repairs and conversions (scheme, lone ``I-`` tags…), each naming its line.
    """

    train: TokenCorpus
    val: TokenCorpus | None
    data_name: str | None
    text_column: None = None
    text_pair_column: None = None
    label_columns: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)

    def texts(self) -> list[str]:
        """The training sentences as texts (words joined by spaces), e.g. for language detection."""
        return [" ".join(words) for words in self.train.words]


def is_token_run(config: TrainConfig) -> bool:
    """Whether ``config`` is a token-classification run: its task says so, or (task None) its training file looks
    like a CoNLL/BIO or tokens-and-tags JSONL file."""
    if config.task is not None:
        return config.task == TOKEN_CLASSIFICATION
    return config.train_file is not None and looks_like_token_file(config.train_file)


def read_token_data(config: TrainConfig) -> TokenRunData:
    """Read the run's token files (``config.train_file`` and ``val_file``).

    Raises:
        DataError: If there is no training file or a file cannot be read (the message names the line).
    """
    if config.train_file is None:
        raise DataError("Expected a training file of tokens and tags (CoNLL/BIO .txt/.conll or JSONL) for token "
                        "classification. Received: none. Set train_file.")
    train = read_token_file(config.train_file)
    if not train.tags:
        raise DataError(f"Expected tags in {config.train_file!r} (the last column). Received: words only.")
    val = read_token_file(config.val_file) if config.val_file is not None else None
    warnings = list(train.warnings) + (list(val.warnings) if val is not None else [])
    return TokenRunData(train, val, config.data_name, warnings=warnings)


def _split(corpus: TokenCorpus, val_pct: float, seed: int) -> tuple[list[int], list[int]]:
    """Sentence indices ``(train, val)``: a seeded random ``val_pct`` of the sentences (at least 1) held out."""
    n = len(corpus.words)
    if n < 2:
        raise DataError(f"Expected at least 2 sentences to hold some out for validation. Received: {n}. Add sentences "
                        "or give a validation file.")
    order = np.random.default_rng(seed).permutation(n)
    k = min(n - 1, max(1, round(n * val_pct)))
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

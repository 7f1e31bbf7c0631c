"""ktrain's ``Transformer`` preprocessor: tokenizer, label mapping and classifier factory for one checkpoint."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transformers import PreTrainedTokenizerBase

from kdemo.data.bert_arrays import bert_arrays, ktrain_undo
from kdemo.data.dataset import TextDataset
from kdemo.data.labels import label_key, sorted_class_names
from kdemo.errors import DataError
from kdemo.modeling.classifier import (
    DEFAULT_MODEL_ID,
    HFClassifier,
    compile_classifier,
    load_sequence_classifier,
    load_tokenizer,
    resolve_model_source,
)
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.tasks import (
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    check_task,
    infer_task,
    multi_hot,
    multi_label_names,
    pos_weights,
    regression_targets,
)
from kdemo.training.optimizer import FusedAdamW


class Transformer:
    """Preprocessor for one Hugging Face checkpoint (ktrain's ``text.Transformer``).

    Args:
        model_name: Hub id or local folder; None or ``"sentence-transformers/all-MiniLM-L6-v2"`` uses the embedded
            default (no network needed).
        maxlen: Texts are truncated to this many tokens, special tokens included.
        class_names: Label names in id order. When None, they are learned by :meth:`preprocess_train` (sorted).
            For regression, one name (the target), default ``"score"``.
        classes: ktrain's alias of ``class_names`` (used when ``class_names`` is empty).
        batch_size: Accepted for ktrain compatibility; batches are set by ``get_learner``.
        use_with_learner: Accepted for ktrain compatibility (kdemo datasets always work with the Learner).
        task: ``"single_label"``, ``"multi_label"`` or ``"regression"``; None infers it from the training labels
            (see :func:`kdemo.tasks.infer_task`).
        precision: Autocast precision of classifiers built here (``"auto"``, ``"bf16"`` or ``"fp32"``).
        policy: Which local folders ``model_name`` may name (:class:`kdemo.modeling.sources.FolderPolicy`); the app
            passes the session's, which allows the session's own model folder.

    Raises:
        ModelError: If the tokenizer cannot be loaded (see :func:`kdemo.modeling.classifier.load_tokenizer`).
        ValueError: If ``maxlen`` is not a positive integer.

    Example:
        >>> t = Transformer(None, maxlen=64)
        >>> trn = t.preprocess_train(["good", "bad"], ["pos", "neg"])
        >>> model = t.get_classifier()
    """

    def __init__(
        self,
        model_name: str | None = None,
        maxlen: int = 128,
        class_names: Sequence[str] | None = None,
        classes: Sequence[str] | None = None,
        batch_size: int | None = None,
        use_with_learner: bool = True,
        *,
        task: str | None = None,
        precision: str = "auto",
        policy: FolderPolicy = DEFAULT_POLICY,
    ):
        class_names = class_names if class_names is not None and len(class_names) else classes  # ktrain's alias
        self.batch_size = batch_size
        if not isinstance(maxlen, (int, np.integer)) or maxlen < 2:
            raise ValueError(f"Expected maxlen to be an integer >= 2 (tokens). Received: maxlen={maxlen!r}.")
        self.model_name = model_name.strip() if model_name and model_name.strip() else DEFAULT_MODEL_ID
        self.source = resolve_model_source(model_name, policy=policy)
        self.tokenizer: PreTrainedTokenizerBase = load_tokenizer(self.source)
        model_max = getattr(self.tokenizer, "model_max_length", 512) or 512
        self.maxlen = int(min(maxlen, model_max if model_max < 100_000 else 512))
        self.class_names: list[str] | None = [str(c) for c in class_names] if class_names else None
        self.task: str | None = check_task(task) if task else None
        self.precision = precision
        self.pos_weight: list[float] | None = None
        #: ktrain's ``preprocess_mode`` when it changes what this preprocessor answers: ``"bert"`` (set by
        #: ``texts_from_*(..., preprocess_mode="bert")``) makes :meth:`preprocess` return ``[ids, segments]`` arrays
        #: and :meth:`undo` keep ``[CLS]``/``[SEP]``, as ktrain's ``BERTPreprocessor``; None otherwise.
        self.mode: str | None = None

    def get_classes(self) -> list[str]:
        """Label names in id order.

        Raises:
            DataError: If no class names are known yet (call :meth:`preprocess_train` first).
        """
        if not self.class_names:
            raise DataError("Expected class names. Received: none yet. Call preprocess_train(texts, labels) or pass "
                            "class_names=.")
        return list(self.class_names)

    def get_tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer."""
        return self.tokenizer

    def tokenize(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> dict[str, list]:
        """Token ids of each text, truncated to ``maxlen``, special tokens included, no padding."""
        enc = self.tokenizer(
            list(texts),
            list(text_pairs) if text_pairs is not None else None,
            truncation=True,
            max_length=self.maxlen,
            padding=False,
            return_attention_mask=False,
        )
        return enc

    def pair_text(self, text: str, text_pair: str) -> str:
        """How a sentence pair reads as one text (top-losses tables, ``view_top_losses``): the two texts joined by
        the tokenizer's own separator (``[SEP]`` for BERT, ``</s>`` for RoBERTa)."""
        return f"{text} {self.tokenizer.sep_token or '[SEP]'} {text_pair}"

    def _encode_labels(self, y: Sequence) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.class_names)}
        ids = np.empty(len(y), dtype=np.int64)
        for row, value in enumerate(y):
            key = label_key(value)
            if key not in index:
                if isinstance(value, (int, np.integer)) and 0 <= int(value) < len(self.class_names):
                    key = self.class_names[int(value)]
                else:
                    raise DataError(
                        f"Expected every label to be one of the training classes {self.class_names}. "
                        f"Received: {value!r} at row {row + 1}. Fix the label or add the class to the training data."
                    )
            ids[row] = index[key]
        return ids

    def _targets(self, y: Sequence) -> np.ndarray:
        if self.task == MULTI_LABEL:
            return multi_hot(y, self.class_names)
        if self.task == REGRESSION:
            return regression_targets(y)
        return self._encode_labels(y)

    def _build(self, texts: Sequence, y: Sequence | None) -> TextDataset:
        pairs = None
        if len(texts) and all(isinstance(t, (tuple, list)) and len(t) == 2 for t in texts):
            pairs = [str(t[1]) for t in texts]
            texts = [str(t[0]) for t in texts]
        texts = [str(t) for t in texts]
        if not texts:
            raise DataError("Expected at least one text. Received: none.")
        if y is not None and len(y) != len(texts):
            raise DataError(f"Expected one label per text. Received: {len(texts)} texts and {len(y)} labels.")
        enc = self.tokenize(texts, pairs)
        labels = None if y is None else self._targets(y)
        types = enc.get("token_type_ids") if pairs is not None else None
        return TextDataset(
            texts=texts if pairs is None else [self.pair_text(a, b) for a, b in zip(texts, pairs)],
            input_ids=[np.asarray(ids, dtype=np.int64) for ids in enc["input_ids"]],
            labels=labels,
            class_names=self.get_classes() if self.class_names else [],
            token_type_ids=None if types is None else [np.asarray(t, dtype=np.int64) for t in types],
            pad_token_id=int(self.tokenizer.pad_token_id or 0),
        )

    def preprocess_train(self, texts: Sequence[str], y: Sequence | None = None, verbose: int = 1) -> TextDataset:
        """Tokenize training texts and fix the label mapping.

        Args:
            texts: Training texts.
            y: Labels. Strings: the class names are their sorted distinct values unless ``class_names`` was
                given. Numbers without ``class_names`` are regression targets, as in ktrain (``ktrain/utils.py``,
                ``YTransform``); with ``class_names``, integers are class ids. One-hot rows are single-label unless
                a row has more than one 1; lists of labels are multi-label.
            verbose: 1 prints a one-line summary.

        Returns:
            A :class:`~kdemo.data.dataset.TextDataset`.

        Raises:
            DataError: If lengths differ, fewer than 2 classes are present, or a label is unknown.
        """
        if y is not None:
            self.task = self.task or infer_task(y, self.class_names)
            if self.task == SINGLE_LABEL and isinstance(y, np.ndarray) and y.ndim == 2:  # one-hot rows (ktrain)
                self.class_names = self.class_names or [str(i) for i in range(y.shape[1])]
                y = y.argmax(axis=1)
            if not self.class_names:
                if self.task == MULTI_LABEL and not (isinstance(y, np.ndarray) and y.ndim == 2):
                    self.class_names = multi_label_names(y)
                elif self.task == REGRESSION:
                    self.class_names = ["score"]
                elif self.task == SINGLE_LABEL:
                    self.class_names = sorted_class_names(y)
            if not self.class_names:
                raise DataError("Expected class_names for multi-hot label arrays. Pass class_names= to Transformer.")
            if self.task != REGRESSION and len(self.class_names) < 2:
                raise DataError(
                    f"Expected at least 2 classes to train a classifier. Received: only {self.class_names}. "
                    "Check that the label column is the right one."
                )
        data = self._build(texts, y)
        if self.task == MULTI_LABEL and data.labels is not None:
            self.pos_weight = pos_weights(data.labels).tolist()
        if verbose:
            print(f"preprocess_train: {len(data)} texts, task {self.task}, {len(self.class_names or [])} classes, maxlen {self.maxlen}")
        return data

    def preprocess_test(self, texts: Sequence[str], y: Sequence | None = None, verbose: int = 1) -> TextDataset:
        """Tokenize validation or test texts with the training label mapping (see :meth:`preprocess_train`)."""
        if self.task == SINGLE_LABEL and isinstance(y, np.ndarray) and y.ndim == 2:
            y = y.argmax(axis=1)  # one-hot rows (ktrain)
        if y is not None and not self.class_names:
            raise DataError("Expected preprocess_train to run first. Received: preprocess_test before it. Call "
                            "preprocess_train first, so that labels map to the same ids.")
        data = self._build(texts, y)
        if verbose:
            print(f"preprocess_test: {len(data)} texts")
        return data

    def preprocess(self, texts: Sequence[str]):
        """Tokenize unlabelled texts for prediction (ktrain's ``Transformer.preprocess``).

        Returns:
            A :class:`~kdemo.data.dataset.TextDataset`; in bert mode (:attr:`mode`), ktrain's ``[token_ids,
            segment_ids]``, int64 arrays of shape ``(num_texts, maxlen)``.
        """
        data = self.preprocess_test(list(texts), None, verbose=0)
        return bert_arrays(data, self.maxlen)[0] if self.mode == "bert" else data

    def undo(self, doc) -> str:
        """The text of token ids (ktrain's ``undo``): special tokens and padding dropped; in bert mode
        (:attr:`mode`) the word pieces joined by spaces with ``[CLS]``/``[SEP]`` kept, as ktrain's
        ``BERTPreprocessor.undo`` (``"[CLS] the book is bad . [SEP]"``).

        Args:
            doc: Token ids of one text: a 1-D sequence, or a row of ``dataset.x`` of shape ``(2 or 3, seq_len)``
                (input ids first).

        Returns:
            The decoded text.
        """
        if self.mode == "bert":
            return ktrain_undo(self.tokenizer, np.asarray(doc)[0] if np.asarray(doc).ndim == 2 else doc)
        ids = np.asarray(doc)
        if ids.ndim == 2:
            ids = ids[0]
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def get_regression_model(self, fpath: str | None = None, metrics=None) -> HFClassifier:
        """Build a one-output regression model (ktrain's ``get_regression_model``; loss: mean squared error).

        Args:
            fpath: Optional other checkpoint to load instead of ``model_name``.
            metrics: Accepted for ktrain compatibility (kdemo reports MAE, RMSE and R² in ``validation_report``).

        Returns:
            A compiled :class:`~kdemo.modeling.classifier.HFClassifier` with task ``"regression"``.

        Raises:
            DataError: If the data was preprocessed as classification (class labels).
        """
        if self.task not in (None, REGRESSION):
            raise DataError(f"Expected numeric targets for a regression model. Received: {self.task} labels "
                            f"{self.class_names}. Use get_classifier(), or pass float targets without class names.")
        self.task = REGRESSION
        self.class_names = self.class_names if self.class_names and len(self.class_names) == 1 else ["score"]
        return self.get_classifier(fpath)

    @classmethod
    def from_parts(cls, tokenizer: PreTrainedTokenizerBase, maxlen: int, class_names: Sequence[str], task: str,
                   model_name: str) -> Transformer:
        """A preprocessor around an already loaded tokenizer (e.g. a loaded predictor's), without loading anything."""
        self = cls.__new__(cls)
        self.model_name, self.source, self.tokenizer = model_name, model_name, tokenizer
        self.maxlen, self.class_names, self.task = int(maxlen), [str(c) for c in class_names], check_task(task)
        self.precision, self.pos_weight, self.batch_size, self.mode = "auto", None, None, None
        return self

    def get_classifier(self, fpath: str | None = None, multilabel: bool | None = None, metrics=None) -> HFClassifier:
        """Build the classifier: the checkpoint with a fresh head of ``len(class_names)`` outputs.

        Args:
            fpath: Optional other checkpoint (folder or Hub id) to load instead of ``model_name``.
            multilabel: ktrain's argument; None (or a value matching the data) keeps the task of the data.
            metrics: Accepted for ktrain compatibility (accuracy is reported for classification).

        Returns:
            A compiled :class:`~kdemo.modeling.classifier.HFClassifier` (keras.Model, torch backend) with
            ``id2label``/``label2id`` set to the class names.

        Raises:
            DataError: If the class names are not known yet.
            ModelError: If the checkpoint cannot be loaded.
        """
        if multilabel is not None and self.task is not None and bool(multilabel) != (self.task == MULTI_LABEL):
            raise DataError(f"Expected multilabel={self.task == MULTI_LABEL} for {self.task} data. Received: "
                            f"multilabel={multilabel}. Leave multilabel=None to use the task of the data.")
        names = self.get_classes()
        source = resolve_model_source(fpath) if fpath else self.source
        task = self.task or SINGLE_LABEL
        hf = load_sequence_classifier(source, names, task=task)
        model = HFClassifier(hf, precision=self.precision, task=task)
        model.pos_weight = self.pos_weight
        # Compiled as ktrain returns it (model.fit, learner.set_lr and model.evaluate work before any Learner fit). The
        # Learner compiles again with its own FusedAdamW per fit; this one costs ~1 ms (its variables are built lazily,
        # on a first training step that never comes), so the second compile wastes nothing measurable.
        return compile_classifier(model, FusedAdamW())

"""The preprocessor of extractive question answering: one checkpoint's tokenizer, the window size and stride, and
the post-processing settings of HF's ``run_qa`` example."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kdemo.errors import DataError, ModelError
from kdemo.modeling.classifier import DEFAULT_MODEL_ID, load_tokenizer, resolve_model_source
from kdemo.modeling.sources import DEFAULT_POLICY, FolderPolicy
from kdemo.tasks import QUESTION_ANSWERING
from kdemo.text.qa.dataset import QADataset, encode_questions

#: HF ``run_qa``'s defaults: tokens per window, context tokens shared by consecutive windows, candidate starts and
#: ends kept per window, the longest answer in tokens, and the no-answer margin of SQuAD 2.0 models.
MAXLEN, DOC_STRIDE, N_BEST_SIZE, MAX_ANSWER_LENGTH, NULL_SCORE_DIFF_THRESHOLD = 384, 128, 20, 30, 0.0
#: The two outputs of the model's span head, in id order (``config.id2label`` of a saved folder).
SPAN_OUTPUTS = ["start", "end"]


class QAPreprocessor:
    """Preprocessor of extractive question answering for one Hugging Face checkpoint.

    Args:
        model_name: Hub id or local folder whose tokenizer is used; None uses the embedded default
            (``sentence-transformers/all-MiniLM-L6-v2``).
        maxlen: Tokens per window (question + context + special tokens), capped at the tokenizer's maximum.
        doc_stride: Tokens of context that consecutive windows of a long context share (must be below ``maxlen``).
        tokenizer: A fast tokenizer to use instead of loading ``model_name``'s (tests, saved predictors).
        policy: Which local folders ``model_name`` may name.
        n_best_size: Candidate start and end positions kept per window by the post-processing (``run_qa``: 20).
        max_answer_length: Longest answer in tokens (``run_qa``: 30).
        version_2_with_negative: Whether the model may answer "no answer" (SQuAD 2.0 data, with unanswerable
            questions); set from the training data by :meth:`preprocess_train`.
        null_score_diff_threshold: SQuAD 2.0: "no answer" when the null score exceeds the best answer's score by more
            than this (``run_qa``: 0.0).

    Raises:
        ModelError: If the tokenizer cannot be loaded or is not a fast tokenizer.
        ValueError: If ``maxlen`` or ``doc_stride`` is out of range.

    Example:
        >>> preproc = QAPreprocessor(maxlen=384, doc_stride=128)
        >>> trn = preproc.preprocess_train(["Who?"], ["Ann wrote it."], [{"text": ["Ann"], "answer_start": [0]}])
    """

    task = QUESTION_ANSWERING

    def __init__(self, model_name: str | None = None, maxlen: int = MAXLEN, doc_stride: int = DOC_STRIDE, *,
                 tokenizer=None, policy: FolderPolicy = DEFAULT_POLICY, n_best_size: int = N_BEST_SIZE,
                 max_answer_length: int = MAX_ANSWER_LENGTH, version_2_with_negative: bool = False,
                 null_score_diff_threshold: float = NULL_SCORE_DIFF_THRESHOLD):
        if not isinstance(maxlen, (int, np.integer)) or maxlen < 8:
            raise ValueError(f"Expected maxlen to be an integer >= 8 (tokens). Received: maxlen={maxlen!r}.")
        if not isinstance(doc_stride, (int, np.integer)) or not 1 <= doc_stride < maxlen:
            raise ValueError(f"Expected doc_stride between 1 and maxlen - 1 tokens. Received: doc_stride={doc_stride!r} "
                             f"with maxlen={maxlen}.")
        self.model_name = model_name.strip() if model_name and model_name.strip() else DEFAULT_MODEL_ID
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(resolve_model_source(model_name,
                                                                                                     policy=policy))
        if not getattr(self.tokenizer, "is_fast", False):
            raise ModelError(f"Expected a fast tokenizer (offset mappings locate the answers). Received: "
                             f"{type(self.tokenizer).__name__} for {self.model_name!r}. Choose a checkpoint with a "
                             "tokenizer.json.")
        model_max = getattr(self.tokenizer, "model_max_length", 512) or 512
        self.maxlen = int(min(maxlen, model_max if model_max < 100_000 else 512))
        self.doc_stride = int(min(doc_stride, self.maxlen - 1))
        self.n_best_size = int(n_best_size)
        self.max_answer_length = int(max_answer_length)
        self.version_2_with_negative = bool(version_2_with_negative)
        self.null_score_diff_threshold = float(null_score_diff_threshold)
        self.precision: str | None = None
        self.warnings: list[str] = []

    def get_classes(self) -> list[str]:
        """The span head's two outputs, ``["start", "end"]`` (there are no classes)."""
        return list(SPAN_OUTPUTS)

    def get_tokenizer(self):
        """The (fast) tokenizer."""
        return self.tokenizer

    # ------------------------------------------------------------------ preprocessing
    def preprocess_train(self, questions: Sequence[str], contexts: Sequence[str], answers: Sequence[dict], *,
                         ids: Sequence[str] | None = None, where: Sequence[str] | None = None) -> QADataset:
        """Tokenize answered training questions into labelled windows; an unanswerable question among them (empty
        answers) makes the model a SQuAD 2.0 one (:attr:`version_2_with_negative`).

        Args:
            questions: The questions.
            contexts: One context per question.
            answers: Per question ``{"text": [...], "answer_start": [...]}`` (character offsets into the context).
            ids: Question ids.
            where: Per question, where it is in its file (for messages).

        Returns:
            A :class:`~kdemo.text.qa.dataset.QADataset` with labels.

        Raises:
            DataError: On empty input, an empty question or context, a question too long for ``maxlen``, or no
                answered question at all.
        """
        if answers is None or not any(len(a.get("answer_start", [])) for a in answers):
            raise DataError("Expected at least one answered question to learn from. Received: "
                            + ("no answers." if answers is None else f"{len(answers)} questions, all without an answer.")
                            + " Give answers (SQuAD 'answers' with text and answer_start).")
        if any(not len(a.get("answer_start", [])) for a in answers):
            self.version_2_with_negative = True
        data = encode_questions(self.tokenizer, questions, contexts, answers, maxlen=self.maxlen,
                                doc_stride=self.doc_stride, ids=ids, where=where)
        self.warnings = list(data.warnings)
        return data

    def preprocess_test(self, questions: Sequence[str], contexts: Sequence[str], answers: Sequence[dict] | None = None,
                        *, ids: Sequence[str] | None = None, where: Sequence[str] | None = None) -> QADataset:
        """Tokenize validation or test questions (with answers) or questions to answer (``answers=None``).

        Raises:
            DataError: On an empty question or context, or a question too long for ``maxlen``.
        """
        return encode_questions(self.tokenizer, questions, contexts, answers, maxlen=self.maxlen,
                                doc_stride=self.doc_stride, ids=ids, where=where)

    def preprocess(self, questions: Sequence[str], contexts: Sequence[str]) -> QADataset:
        """Unlabelled windows of (question, context) pairs, for prediction.

        Raises:
            DataError: If ``questions`` is a single string (wrap it in a list), or on an empty question or context.
        """
        if isinstance(questions, str) or isinstance(contexts, str):
            raise DataError("Expected lists of questions and contexts. Received: a single string. Wrap each in a list "
                            "or call predictor.predict(question, context).")
        return self.preprocess_test(list(questions), list(contexts), None)

    @property
    def postprocess_settings(self) -> dict:
        """The keyword arguments of :func:`kdemo.evaluation.qa.postprocess_qa_predictions` (``run_qa``'s)."""
        return {"version_2_with_negative": self.version_2_with_negative, "n_best_size": self.n_best_size,
                "max_answer_length": self.max_answer_length,
                "null_score_diff_threshold": self.null_score_diff_threshold}

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict:
        """JSON-able settings (model, windows, post-processing, task)."""
        return {"model_name": self.model_name, "maxlen": self.maxlen, "doc_stride": self.doc_stride,
                **self.postprocess_settings, "task": str(self.task)}

    @classmethod
    def from_dict(cls, d: dict, tokenizer) -> QAPreprocessor:
        """Rebuild from :meth:`to_dict` with an already loaded tokenizer (the saved model folder's)."""
        return cls(d.get("model_name"), maxlen=int(d.get("maxlen") or MAXLEN),
                   doc_stride=int(d.get("doc_stride") or DOC_STRIDE), tokenizer=tokenizer,
                   n_best_size=int(d.get("n_best_size") or N_BEST_SIZE),
                   max_answer_length=int(d.get("max_answer_length") or MAX_ANSWER_LENGTH),
                   version_2_with_negative=bool(d.get("version_2_with_negative", False)),
                   null_score_diff_threshold=float(d.get("null_score_diff_threshold") or 0.0))

"""Extractive question answering data: questions and their contexts cut into windows of sub-word tokens.

Windows are made as HF's ``run_qa`` example makes its features (``prepare_train_features`` and
``prepare_validation_features`` of ``examples/pytorch/question-answering/run_qa.py``): the tokenizer is called on
(question, context) pairs with ``truncation="only_second"``, ``max_length=maxlen``, ``stride=doc_stride`` and
``return_overflowing_tokens=True``, so a long context gives several windows that share ``doc_stride`` tokens; each
window is labelled with the token positions of the first answer's first and last character, or with the position of
the ``[CLS]`` token when the answer is not inside the window (or the question has none). Unlike ``run_qa``'s default
the windows are not padded to ``maxlen``: batches are padded to their longest window (:meth:`QADataset.collate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from kdemo.data.dataset import pad_rows
from kdemo.errors import DataError

#: Questions tokenized per tokenizer call (a bound on the memory of one call's Python lists).
ENCODE_CHUNK = 1000


@dataclass
class QADataset:
    """Questions with their contexts, the windows they were cut into and (optionally) the answers' positions.

    Attributes:
        ids: Question ids, ``(num_questions,)``.
        questions: The questions (leading whitespace removed, as ``run_qa`` does).
        contexts: The contexts, one per question (byte-exact: answer offsets count its characters).
        answers: Per question the answers in HF's squad layout ``{"text": [...], "answer_start": [...]}`` (empty
            lists: no answer), or None for unlabelled data.
        input_ids: Per window, int64 ``(window_len,)`` token ids, special tokens included.
        token_type_ids: Per window, int64 ``(window_len,)`` segment ids, or None when the model takes none.
        offsets: Per window, int64 ``(window_len, 2)``: each context token's ``(start, end)`` characters in the
            context, ``(-1, -1)`` for question tokens and special tokens (``run_qa`` sets those to None).
        window_question: int64 ``(num_windows,)``: the question each window belongs to (a question's windows are
            consecutive and in order).
        labels: int64 ``(num_windows, 2)``: the start and end token positions of the answer in each window (the
            ``[CLS]`` position where the window holds no answer), or None without answers.
        where: Per question, where it is in its file (``"row 7"``, ``"article 3 ..."``), for messages, or None.
        pad_token_id: Token id used for padding.
        warnings: Notes naming questions (answers outside every window, truncated questions).
        batch_size: Windows per batch (batches are made by ``get_learner``).
        lengths: Per window, its token count (computed), ``(num_windows,)``.
    """

    ids: list[str]
    questions: list[str]
    contexts: list[str]
    answers: list[dict] | None
    input_ids: list[np.ndarray]
    token_type_ids: list[np.ndarray] | None
    offsets: list[np.ndarray]
    window_question: np.ndarray
    labels: np.ndarray | None
    where: list[str] | None = None
    pad_token_id: int = 0
    warnings: list[str] = field(default_factory=list)
    batch_size: int = 32
    lengths: np.ndarray = field(init=False)

    def __post_init__(self):
        self.window_question = np.asarray(self.window_question, dtype=np.int64)
        self.lengths = np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))
        if len(self.window_question) != len(self.input_ids):
            raise ValueError(f"Expected one question index per window. Received: {len(self.input_ids)} windows and "
                             f"{len(self.window_question)} indices.")

    def __len__(self) -> int:
        """Number of windows (the rows the model sees); :meth:`nsamples` counts questions."""
        return len(self.input_ids)

    # ------------------------------------------------------------------ ktrain-style accessors
    def nsamples(self) -> int:
        """The number of questions."""
        return len(self.questions)

    def nclasses(self) -> int:
        """2: a start and an end position per window (there are no classes)."""
        return 2

    def ondisk(self) -> bool:
        """Always False (in memory)."""
        return False

    @property
    def class_names(self) -> list[str]:
        """The span head's two outputs, ``["start", "end"]`` (there are no classes)."""
        return ["start", "end"]

    def get_y(self) -> list[dict] | None:
        """The answers per question (HF squad layout), or None without answers."""
        return self.answers

    @property
    def examples(self) -> list[dict]:
        """Per question ``{"id", "question", "context", "answers"}``: what :func:`kdemo.evaluation.qa.qa_report`
        and :func:`~kdemo.evaluation.qa.postprocess_qa_predictions` take."""
        answers = self.answers or [{"text": [], "answer_start": []}] * len(self.ids)
        return [{"id": i, "question": q, "context": c, "answers": a}
                for i, q, c, a in zip(self.ids, self.questions, self.contexts, answers)]

    @property
    def features(self) -> list[dict]:
        """Per window ``{"example_index", "offset_mapping"}`` (``run_qa``'s validation features)."""
        return [{"example_index": int(q), "offset_mapping": o} for q, o in zip(self.window_question, self.offsets)]

    def question_of(self, q: int) -> str:
        """Where question ``q`` is, for messages: its ``where`` entry, else ``"question q+1"``."""
        return self.where[q] if self.where is not None else f"question {q + 1}"

    # ------------------------------------------------------------------ batches
    def collate(self, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Pad the windows at ``indices`` to the longest of them.

        Returns:
            ``{"input_ids", "attention_mask"[, "token_type_ids"]}``, int64 arrays ``(batch, seq_len)``.
        """
        return pad_rows(self.input_ids, self.lengths, indices, self.pad_token_id, token_type_ids=self.token_type_ids)

    def batch_labels(self, indices: Sequence[int]) -> np.ndarray:
        """The answer positions of the windows at ``indices``, int64 ``(batch, 2)`` (start, end).

        Raises:
            DataError: If the dataset has no answers.
        """
        if self.labels is None:
            raise DataError("Expected questions with answers. Received: a dataset without answers. Load a file with "
                            "answers (SQuAD JSON, or an answers/answer_text column).")
        return self.labels[np.asarray(list(indices), dtype=np.int64)]

    def subset(self, window_indices: Sequence[int]) -> QADataset:
        """A dataset of the windows at ``window_indices`` (in that order) and the questions they belong to,
        renumbered in order of first appearance (pass all of a question's windows, :meth:`windows_of`, to keep it
        whole)."""
        idx = [int(i) for i in window_indices]
        old = self.window_question[idx] if idx else np.zeros(0, dtype=np.int64)
        order = list(dict.fromkeys(old.tolist()))
        new_of = {q: n for n, q in enumerate(order)}
        return QADataset(
            ids=[self.ids[q] for q in order], questions=[self.questions[q] for q in order],
            contexts=[self.contexts[q] for q in order],
            answers=None if self.answers is None else [self.answers[q] for q in order],
            input_ids=[self.input_ids[i] for i in idx],
            token_type_ids=None if self.token_type_ids is None else [self.token_type_ids[i] for i in idx],
            offsets=[self.offsets[i] for i in idx],
            window_question=np.asarray([new_of[q] for q in old.tolist()], dtype=np.int64),
            labels=None if self.labels is None else self.labels[np.asarray(idx, dtype=np.int64)],
            where=None if self.where is None else [self.where[q] for q in order],
            pad_token_id=self.pad_token_id, warnings=list(self.warnings), batch_size=self.batch_size)

    def windows_of(self, questions: Sequence[int]) -> np.ndarray:
        """Indices of the windows of the given questions, int64 ``(num_windows,)``, in question order."""
        wanted = np.zeros(len(self.questions), dtype=bool)
        wanted[np.asarray(list(questions), dtype=np.int64)] = True
        return np.flatnonzero(wanted[self.window_question])


def _cls_index(input_ids: list[int], tokenizer) -> int:
    """``run_qa``'s position of the no-answer label: the ``[CLS]`` token, else the BOS token, else 0."""
    for special in (tokenizer.cls_token_id, tokenizer.bos_token_id):
        if special is not None and special in input_ids:
            return input_ids.index(special)
    return 0


def answer_positions(offsets, sequence_ids, input_ids, answers: dict, *, context_id: int, cls_index: int) -> tuple[int, int]:
    """The start and end token positions of the first answer in one window, as ``run_qa``'s
    ``prepare_train_features`` finds them (the ``[CLS]`` position when the answer is outside the window or there is
    none).

    Args:
        offsets: The window's ``(start, end)`` character offsets per token (the tokenizer's ``offset_mapping``).
        sequence_ids: The window's sequence id per token (0 question, 1 context, None special).
        input_ids: The window's token ids.
        answers: ``{"text": [...], "answer_start": [...]}``.
        context_id: The sequence id of the context (1 when the tokenizer pads on the right).
        cls_index: The no-answer position.

    Returns:
        ``(start, end)`` token positions, inclusive.
    """
    if len(answers["answer_start"]) == 0:
        return cls_index, cls_index
    start_char = int(answers["answer_start"][0])
    end_char = start_char + len(answers["text"][0])
    token_start = 0
    while sequence_ids[token_start] != context_id:
        token_start += 1
    token_end = len(input_ids) - 1
    while sequence_ids[token_end] != context_id:
        token_end -= 1
    if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
        return cls_index, cls_index
    while token_start < len(offsets) and offsets[token_start][0] <= start_char:
        token_start += 1
    while offsets[token_end][1] >= end_char:
        token_end -= 1
    return token_start - 1, token_end + 1


def encode_questions(tokenizer, questions: Sequence[str], contexts: Sequence[str], answers: Sequence[dict] | None, *,
                     maxlen: int, doc_stride: int, ids: Sequence[str] | None = None,
                     where: Sequence[str] | None = None) -> QADataset:
    """Tokenize (question, context) pairs into windows and label each window with its answer positions.

    Args:
        tokenizer: A fast Hugging Face tokenizer (``offset_mapping`` and ``sequence_ids`` are needed).
        questions: The questions.
        contexts: One context per question.
        answers: Per question ``{"text": [...], "answer_start": [...]}`` (HF squad layout; empty lists: no answer),
            or None for unlabelled data.
        maxlen: Tokens per window (question, context and special tokens).
        doc_stride: Tokens of context consecutive windows share.
        ids: Question ids (default ``"0"``, ``"1"``, ...).
        where: Per question, where it is in its file (for messages).

    Returns:
        A :class:`QADataset`.

    Raises:
        DataError: If a question or context is empty, a question leaves no room for its context in ``maxlen``
            tokens (the message names the question and what to do), or the counts of questions, contexts and
            answers differ.
    """
    n = len(questions)
    if len(contexts) != n or (answers is not None and len(answers) != n):
        raise DataError(f"Expected one context (and one answer entry) per question. Received: {n} questions, "
                        f"{len(contexts)} contexts" + ("" if answers is None else f", {len(answers)} answer entries")
                        + ".")
    if not n:
        raise DataError("Expected at least one question. Received: none.")
    ids = [str(i) for i in ids] if ids is not None else [str(i) for i in range(n)]
    questions = [str(q).lstrip() for q in questions]
    contexts = [str(c) for c in contexts]

    def place(q: int) -> str:
        return where[q] if where is not None else f"question {q + 1}"

    for q in range(n):
        if not questions[q].strip():
            raise DataError(f"Expected a question text. Received: an empty question at {place(q)}. Fill it in or "
                            "remove the row.")
        if not contexts[q].strip():
            raise DataError(f"Expected a context to find the answer in. Received: an empty context at {place(q)}. "
                            "Fill it in or remove the row.")
    pad_on_right = getattr(tokenizer, "padding_side", "right") == "right"
    context_id = 1 if pad_on_right else 0
    input_ids, types, offsets, window_question, labels = [], [], [], [], []
    uses_types = "token_type_ids" in getattr(tokenizer, "model_input_names", ())
    for lo in range(0, n, ENCODE_CHUNK):
        hi = min(n, lo + ENCODE_CHUNK)
        first, second = (questions[lo:hi], contexts[lo:hi]) if pad_on_right else (contexts[lo:hi], questions[lo:hi])
        try:
            enc = tokenizer(first, second, truncation="only_second" if pad_on_right else "only_first",
                            max_length=maxlen, stride=doc_stride, return_overflowing_tokens=True,
                            return_offsets_mapping=True, padding=False, return_token_type_ids=uses_types)
        except Exception as exc:  # noqa: BLE001 (tokenizers raises its own types: "Sequence to truncate too short …")
            raise _too_long(tokenizer, questions, lo, hi, maxlen, doc_stride, place, exc) from None
        for w, sample in enumerate(enc["overflow_to_sample_mapping"]):
            q = lo + int(sample)
            ids_w = enc["input_ids"][w]
            seq = enc.sequence_ids(w)
            offs = np.asarray(enc["offset_mapping"][w], dtype=np.int64).reshape(-1, 2)
            if answers is not None:
                labels.append(answer_positions(offs, seq, ids_w, answers[q], context_id=context_id,
                                               cls_index=_cls_index(ids_w, tokenizer)))
            mask = np.asarray([s != context_id for s in seq])
            offs[mask] = -1
            input_ids.append(np.asarray(ids_w, dtype=np.int64))
            if uses_types:
                types.append(np.asarray(enc["token_type_ids"][w], dtype=np.int64))
            offsets.append(offs)
            window_question.append(q)
    data = QADataset(ids=ids, questions=questions, contexts=contexts,
                     answers=None if answers is None else [dict(a) for a in answers], input_ids=input_ids,
                     token_type_ids=types if uses_types else None, offsets=offsets, window_question=window_question,
                     labels=None if answers is None else np.asarray(labels, dtype=np.int64).reshape(-1, 2),
                     where=list(where) if where is not None else None, pad_token_id=tokenizer.pad_token_id or 0)
    if answers is not None:
        data.warnings.extend(_unreachable(data))
    return data


def _too_long(tokenizer, questions, lo, hi, maxlen, doc_stride, place, exc) -> DataError:
    """The DataError for a question that leaves no room for its context (found by tokenizing the questions alone)."""
    lengths = [len(ids) for ids in tokenizer(list(questions[lo:hi]), add_special_tokens=False)["input_ids"]]
    q = lo + int(np.argmax(lengths))
    return DataError(
        f"Expected every question to leave room for its context in a window of maxlen={maxlen} tokens with "
        f"doc_stride={doc_stride}. Received: {place(q)} has a question of {max(lengths)} tokens "
        f"({str(questions[q])[:60]!r}). Shorten the question, or raise maxlen (or lower doc_stride) so that "
        f"maxlen - doc_stride is above the question's length ({exc.__class__.__name__}).")


#: Questions named one by one in a warning at most; the rest are counted.
MAX_NAMED = 10


def _unreachable(data: QADataset) -> list[str]:
    """A warning naming the answered questions whose answer lies in no window (every window labelled ``[CLS]``):
    ``run_qa`` trains on them as if they had no answer."""
    answered = np.asarray([len(a["answer_start"]) > 0 for a in data.answers])
    labelled = np.zeros(len(data.questions), dtype=bool)
    for w, q in enumerate(data.window_question.tolist()):  # an answer's start is a context token, [CLS] is not
        if data.offsets[w][data.labels[w, 0], 0] >= 0:
            labelled[q] = True
    missing = np.flatnonzero(answered & ~labelled).tolist()
    if not missing:
        return []
    named = ", ".join(data.question_of(q) for q in missing[:MAX_NAMED])
    more = f" and {len(missing) - MAX_NAMED} more" if len(missing) > MAX_NAMED else ""
    return [f"{len(missing)} answered question(s) have their answer cut off by the windows ({named}{more}): an answer "
            "longer than a window's context, or text the tokenizer drops; they are trained as unanswerable in every "
            "window (as HF's run_qa does)."]

"""The data doctor for extractive question answering: counts, answers checked at their offsets, windows, languages.

:func:`diagnose_qa` changes nothing; it reports what a person should know before training on a
:class:`~kdemo.data.qa_files.QACorpus`: how many questions, contexts and answers there are and the share of
unanswerable questions; every answer not at its offset (with the repair :func:`~kdemo.data.qa_files.align_answers`
offers when its text occurs once); context, question and answer lengths in the model's sub-word tokens; and how many
windows the contexts need at ``maxlen``/``doc_stride``, counted as Hugging Face's ``run_qa.py`` example tokenizes
(``tokenizer(question, context, truncation="only_second", max_length=maxlen, stride=doc_stride,
return_overflowing_tokens=True)``, questions left-stripped). Languages and the tokenizer's unknown-token share come
from :func:`kdemo.data.languages.analyse_languages`, as for tables.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kdemo.data.dataset import maxlen_covering
from kdemo.data.doctor import SEVERITIES, Problem
from kdemo.data.languages import analyse_languages, count_words, language_name
from kdemo.data.qa_files import QACorpus, align_answers, check_trainable, read_qa_file
from kdemo.data.qa_lengths import qa_lengths
from kdemo.data.tables import format_rows
from kdemo.data.token_doctor import COVERAGE
from kdemo.errors import DataError

#: run_qa.py's ``max_answer_length``: its post-processing never predicts a longer answer (sub-word tokens).
MAX_ANSWER_TOKENS = 30
#: Questions shown in the preview.
PREVIEW_QUESTIONS = 5
_GENERATED_ID = re.compile(r"^(row-\d+|\d+-\d+-\d+)$")


@dataclass
class QADiagnosis:
    """What :func:`diagnose_qa` found. Rows in :class:`Problem` are 1-based question numbers in file order (a
    table's data rows).

    Attributes:
        name: The file's display name.
        version: ``"1.1"``, ``"2.0"`` or ``"table"`` (:attr:`QACorpus.version`).
        num_questions, num_contexts, num_answers, num_unanswerable: Questions, distinct contexts, questions with an
            answer, questions without.
        unanswerable_share: ``num_unanswerable / num_questions`` (fraction 0–1).
        questions_per_context: ``{"mean", "max"}``.
        context_tokens: ``{"mean", "p95", "max"}`` over distinct contexts, in sub-word tokens without special tokens
            (estimated as :data:`~kdemo.data.token_doctor.TOKENS_PER_WORD` per word without a tokenizer).
        question_tokens: ``{"mean", "max"}`` in sub-word tokens (likewise).
        answer_tokens: ``{"mean", "max"}``: sub-word tokens of the context the first answer covers, answered
            questions whose answer is found only.
        tokens_estimated: True when no tokenizer was given.
        maxlen, doc_stride: The window size and overlap (tokens) the windows were counted for.
        windows_needed: Windows (training features) of all questions at ``maxlen``/``doc_stride``; None when
            ``maxlen`` is None. Questions too long to window are not counted.
        contexts_windowed: Distinct contexts that need more than one window for at least one of their questions.
        suggested_maxlen: A multiple of 8 that keeps :data:`~kdemo.data.token_doctor.COVERAGE` of the (question,
            context) pairs in one window, capped at the tokenizer's maximum (512).
        problems: What to look at, errors first.
        answer_problems: The answers not at their offset, from :func:`~kdemo.data.qa_files.align_answers` (also in
            ``problems``): ``"answer_not_found"`` errors (the text is not in the context, or several times) and
            ``"answer_moved"`` warnings that offer the repair, each naming its question.
        length_unit: ``"sub-word tokens"`` (with a tokenizer) or ``"words"``.
        length_hist_counts, length_hist_edges: Histogram of the distinct contexts' lengths in ``length_unit``,
            ``len(edges) == len(counts) + 1``.
        languages: ``{ISO 639-1 code: share of sampled texts}`` (contexts and questions).
        unk_share: Share of the tokenizer's tokens that are unknown on that sample, fraction 0–1 (None without one).
        tokens_per_char: Tokens per character on the sample (None without a tokenizer).
        preview: The first questions as ``{"where", "question", "answer", "context"}``, ``context`` as
            ``gr.HighlightedText`` input ``[(text, "answer" or None), ...]`` with the first answer marked.
    """

    name: str
    version: str
    num_questions: int
    num_contexts: int
    num_answers: int
    num_unanswerable: int
    unanswerable_share: float
    questions_per_context: dict[str, float]
    context_tokens: dict[str, float]
    question_tokens: dict[str, float]
    answer_tokens: dict[str, float]
    tokens_estimated: bool
    maxlen: int | None
    doc_stride: int
    windows_needed: int | None
    contexts_windowed: int | None
    suggested_maxlen: int
    problems: tuple[Problem, ...] = ()
    answer_problems: tuple[Problem, ...] = ()
    length_unit: str = "words"
    length_hist_counts: tuple[int, ...] = ()
    length_hist_edges: tuple[float, ...] = ()
    languages: dict[str, float] = field(default_factory=dict)
    unk_share: float | None = None
    tokens_per_char: float | None = None
    preview: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-able dict of every attribute (tuples become lists)."""
        return asdict(self)

    @property
    def errors(self) -> list[Problem]:
        """Problems that stop training."""
        return [p for p in self.problems if p.severity == "error"]

    def to_markdown(self, max_problems: int = 20) -> str:
        """A Markdown summary: counts, lengths, windows, languages and the problems."""
        est = " (estimated: no tokenizer)" if self.tokens_estimated else ""
        version = f"SQuAD {self.version}" if self.version != "table" else "a table"
        out = ["### Data doctor", f"**{self.num_questions:,} questions** on {self.num_contexts:,} contexts "
               f"({version}, {self.name}): {self.num_answers:,} answered, {self.num_unanswerable:,} unanswerable "
               f"({self.unanswerable_share:.0%}); {self.questions_per_context['mean']:.1f} questions per context "
               f"(max {self.questions_per_context['max']:.0f}).",
               f"\nSub-word tokens{est}: contexts mean {self.context_tokens['mean']:.0f}, 95th percentile "
               f"{self.context_tokens['p95']:.0f}, max {self.context_tokens['max']:.0f}; questions mean "
               f"{self.question_tokens['mean']:.0f}, max {self.question_tokens['max']:.0f}; answers mean "
               f"{self.answer_tokens['mean']:.1f}, max {self.answer_tokens['max']:.0f}."]
        if self.windows_needed is not None:
            out.append(f"\nWith maxlen={self.maxlen} and doc_stride={self.doc_stride}: **{self.windows_needed:,} "
                       f"windows** for {self.num_questions:,} questions; {self.contexts_windowed:,} contexts need more "
                       "than one window.")
        out.append(f"\nSuggested maxlen: **{self.suggested_maxlen}** (keeps {COVERAGE:.0%} of the questions with their "
                   "context in one window; longer contexts are read in overlapping windows).")
        if self.languages:
            shown = ", ".join(f"{language_name(c)} {v * 100:.0f} %" for c, v in self.languages.items() if v >= 0.05)
            cover = (f"; the model knows {100 - self.unk_share * 100:.0f} % of the tokens" if self.unk_share is not None
                     else "")
            out.append(f"\nLanguages: **{shown}**{cover}.")
        icons = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
        if self.problems:
            out.append(f"\n#### To look at ({len(self.problems)})")
            out += [f"- {icons[p.severity]} {p.message}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                out.append(f"- … {len(self.problems) - max_problems} more (see the JSON report).")
        else:
            out.append("\n✅ No problems found.")
        return "\n".join(out)


def _stats(values, p95: bool = True) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return {"mean": 0.0, "p95": 0.0, "max": 0.0} if p95 else {"mean": 0.0, "max": 0.0}
    found = {"mean": float(values.mean()), "max": float(values.max())}
    return {**found, "p95": float(np.quantile(values, 0.95))} if p95 else found


def _preview(corpus: QACorpus, n: int) -> list[dict]:
    out = []
    for i in range(min(n, len(corpus))):
        context, answers = corpus.contexts[i], corpus.answers[i]
        marked: list[tuple[str, str | None]] = [(context, None)]
        answer = answers["text"][0] if answers["text"] else None
        if answer is not None:
            start = answers["answer_start"][0]
            if context[start:start + len(answer)] == answer:
                marked = [(t, lab) for t, lab in ((context[:start], None), (answer, "answer"),
                                                  (context[start + len(answer):], None)) if t]
        out.append({"where": corpus.where[i], "question": corpus.questions[i], "answer": answer, "context": marked})
    return out


def _rows(indices) -> tuple[int, ...]:
    return tuple(int(i) + 1 for i in indices)


def _id_problems(corpus: QACorpus, val: QACorpus | None) -> list[Problem]:
    """Ids given more than once, and validation questions whose id or (question, context) occurs in training; the
    ids a reader made up (``row-<n>``, ``<article>-<paragraph>-<question>``) are not compared."""
    problems = []
    given = [(i, q) for i, q in enumerate(corpus.ids) if not _GENERATED_ID.match(q)]
    counts = Counter(q for _, q in given)
    repeated = [i for i, q in given if counts[q] > 1]
    if repeated:
        shown = ", ".join(f"{corpus.ids[i]!r} ({corpus.where[i]})" for i in repeated)
        problems.append(Problem(
            "duplicate_ids", "warning", f"{len(repeated)} questions share an id with another question: "
            f"{shown[:600]}. Give every question its own id, so predictions and scores can be told apart.",
            _rows(repeated)))
    if val is None:
        return problems
    both = [i for i, q in enumerate(val.ids) if q in counts]
    if both:
        problems.append(Problem(
            "val_id_overlap", "warning", f"{len(both)} validation questions have ids that also occur in training "
            f"(validation {format_rows(_rows(both))}, e.g. id {val.ids[both[0]]!r}). If they are the same questions, "
            "validation scores will be too optimistic; split by article or give new ids.", val_rows=_rows(both)))
    pairs = set(zip(corpus.questions, corpus.contexts))
    same = [i for i, p in enumerate(zip(val.questions, val.contexts)) if p in pairs]
    if same:
        problems.append(Problem(
            "overlap", "warning", f"{len(same)} validation questions occur in training with the same context "
            f"(validation {format_rows(_rows(same))}). Validation scores will be too optimistic; remove them from "
            "one side.", val_rows=_rows(same)))
    return problems


def _window_problems(corpus: QACorpus, windows: np.ndarray, q_len: np.ndarray, ctx_of: np.ndarray, maxlen: int,
                     special: int, doc_stride: int, guess: str) -> tuple[int, list[Problem]]:
    """Questions too long to window (errors), questions that leave no room to spare (warnings), and the contexts
    that need several windows (info, and their number)."""
    problems = []
    at = f"maxlen={maxlen} with doc_stride={doc_stride}"
    failing = np.flatnonzero(windows == 0)
    if len(failing):
        first = int(failing[0])
        problems.append(Problem(
            "question_too_long", "error", f"{len(failing)} questions are too long for {at}: a question and the "
            f"special tokens must leave more than doc_stride tokens of context per window (the first: "
            f"{corpus.where[first]}, {q_len[first]} tokens). Shorten the questions, or raise maxlen or lower "
            "doc_stride.", _rows(failing)))
    tight = np.flatnonzero((windows > 0) & (maxlen - special - q_len <= doc_stride))
    if len(tight):
        first = int(tight[0])
        problems.append(Problem(
            "long_question", "warning", f"{len(tight)} questions leave at most doc_stride tokens of context per "
            f"window at {at} (the first: {corpus.where[first]}, {q_len[first]} tokens): their contexts fit now, "
            "but a longer context could not be windowed. Shorten them or raise maxlen.", _rows(tight)))
    many = np.flatnonzero(windows > 1)
    windowed = len(set(ctx_of[many].tolist()))
    if len(many):
        worst = int(many[np.argmax(windows[many])])
        problems.append(Problem(
            "windowed", "info", f"{len(many)} questions have a context longer than one window at {at}{guess} (in "
            f"{windowed} contexts; {int(windows.sum()):,} windows in all); each is read in overlapping windows. The "
            f"longest: {corpus.where[worst]}, {int(windows[worst])} windows.", _rows(many)))
    return windowed, problems


def diagnose_qa(corpus: QACorpus | str | Path, *, tokenizer=None, maxlen: int | None = 384, doc_stride: int = 128,
                val: QACorpus | str | Path | None = None) -> QADiagnosis:
    """Examine extractive question-answering data before training.

    Args:
        corpus: A :class:`QACorpus`, or the path of a file :func:`~kdemo.data.qa_files.read_qa_file` reads.
        tokenizer: The model's fast tokenizer, to count sub-word tokens, windows and unknown tokens; None estimates
            :data:`~kdemo.data.token_doctor.TOKENS_PER_WORD` tokens per word and 3 special tokens per pair.
        maxlen: Tokens per window, special tokens included; None skips the windows.
        doc_stride: Tokens consecutive windows of one context share.
        val: Validation questions (a corpus or a path), checked for ids and questions that also occur in training.

    Returns:
        A :class:`QADiagnosis`. Data problems are listed in it, never raised.

    Raises:
        DataError: If ``corpus`` or ``val`` is a path that cannot be read as question-answering data, or
            ``doc_stride`` is not below ``maxlen``.
    """
    if not isinstance(corpus, QACorpus):
        corpus = read_qa_file(corpus)
    if val is not None and not isinstance(val, QACorpus):
        val = read_qa_file(val)
    if maxlen is not None and not 0 <= doc_stride < maxlen:
        raise DataError(f"Expected 0 <= doc_stride < maxlen. Received: doc_stride={doc_stride}, maxlen={maxlen}. "
                        "Choose a doc_stride below maxlen (run_qa.py's default: 128 for maxlen 384).")
    check = align_answers(corpus)
    aligned = check.corpus
    answer_problems = [Problem("answer_not_found", "error", m, _rows([i]))
                       for m, i in zip(check.errors, check.error_questions)]
    answer_problems += [Problem("answer_moved", "warning", m, _rows([i]))
                        for m, i in zip(check.repairs, check.repaired_questions)]
    problems = list(answer_problems)
    try:
        check_trainable(corpus)
    except DataError as exc:
        problems.insert(0, Problem("no_answers", "error", str(exc), _rows(range(len(corpus)))))

    contexts = list(dict.fromkeys(corpus.contexts))
    index = {c: k for k, c in enumerate(contexts)}
    ctx_of = np.asarray([index[c] for c in corpus.contexts], dtype=np.int64)
    answered = [i for i, a in enumerate(aligned.answers) if a["text"]]
    found = [i for i in answered if aligned.contexts[i][aligned.answers[i]["answer_start"][0]:].startswith(
        aligned.answers[i]["text"][0])]
    spans = [(int(ctx_of[i]), aligned.answers[i]["answer_start"][0],
              aligned.answers[i]["answer_start"][0] + len(aligned.answers[i]["text"][0])) for i in found]
    c_len, q_len, a_len, special, windows = qa_lengths(corpus.questions, contexts, ctx_of, spans, tokenizer,
                                                      maxlen, doc_stride)

    guess = " (estimated from words: no tokenizer)" if tokenizer is None else ""
    cap = int(getattr(tokenizer, "model_max_length", None) or 512)
    cap = cap if cap < 100_000 else 512
    suggested = maxlen_covering(q_len + c_len[ctx_of] + special, coverage=COVERAGE, cap=cap)
    windowed, window_problems = (None, []) if windows is None else _window_problems(
        corpus, windows, q_len, ctx_of, maxlen, special, doc_stride, guess)
    problems += window_problems
    long_answers = [found[j] for j in np.flatnonzero(a_len > MAX_ANSWER_TOKENS)]
    if long_answers:
        problems.append(Problem("long_answer", "warning", f"{len(long_answers)} answers are longer than "
                                f"{MAX_ANSWER_TOKENS} tokens{guess} (the first: {corpus.where[long_answers[0]]}): "
                                f"run_qa's max_answer_length={MAX_ANSWER_TOKENS} cannot predict them. Shorten them to "
                                "the words that answer the question.", _rows(long_answers)))
    unanswerable = len(corpus) - len(answered)
    if answered and unanswerable:
        problems.append(Problem("unanswerable", "info", f"{unanswerable} of {len(corpus)} questions "
                                f"({unanswerable / len(corpus):.0%}) have no answer: the model also learns to answer "
                                "'no answer' (SQuAD 2.0 style)."))
    problems += _id_problems(corpus, val)
    language = analyse_languages(contexts + corpus.questions, tokenizer)
    coverage = language.warning()
    if coverage:
        problems.append(Problem("language_coverage", "warning", coverage))
    problems += [Problem("file_note", "info", note) for note in corpus.warnings]
    order = {s: i for i, s in enumerate(SEVERITIES)}

    lengths = c_len if tokenizer is not None else np.asarray([count_words(c) for c in contexts], dtype=np.int64)
    counts, edges = np.histogram(lengths, bins=min(40, max(5, int(np.sqrt(len(lengths))))))
    per_context = np.bincount(ctx_of, minlength=len(contexts))
    return QADiagnosis(
        name=corpus.name, version=corpus.version, num_questions=len(corpus), num_contexts=len(contexts),
        num_answers=len(answered), num_unanswerable=unanswerable, unanswerable_share=unanswerable / len(corpus),
        questions_per_context=_stats(per_context, p95=False), context_tokens=_stats(c_len),
        question_tokens=_stats(q_len, p95=False), answer_tokens=_stats(a_len, p95=False),
        tokens_estimated=tokenizer is None, maxlen=maxlen, doc_stride=doc_stride,
        windows_needed=None if windows is None else int(windows.sum()), contexts_windowed=windowed,
        suggested_maxlen=suggested, problems=tuple(sorted(problems, key=lambda p: order[p.severity])),
        answer_problems=tuple(answer_problems),
        length_unit="sub-word tokens" if tokenizer is not None else "words",
        length_hist_counts=tuple(map(int, counts)), length_hist_edges=tuple(map(float, edges)),
        languages=language.languages, unk_share=language.unk_share, tokens_per_char=language.tokens_per_char,
        preview=_preview(aligned, PREVIEW_QUESTIONS),
    )

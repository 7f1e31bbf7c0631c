"""The data doctor for token-classification files: entity counts, lengths, scheme problems, a highlighted preview.

:func:`diagnose_tokens` changes nothing; it reports what a person should know before training on a
:class:`~kdemo.data.token_files.TokenCorpus`: how many entities of each type there are (and which types are too rare
to learn), how long the sentences are in words and in the model's sub-word tokens (with a ``maxlen`` suggestion),
which sentences will be split into windows, the file's tag scheme and every repair with its line number.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kdemo.data.dataset import maxlen_covering
from kdemo.data.doctor import Problem
from kdemo.data.subwords import batch_encode
from kdemo.data.token_files import TokenCorpus, read_token_file
from kdemo.data.tag_schemes import entity_spans

#: Entities of a type below which the doctor warns that the type is too rare to learn.
RARE_ENTITIES = 10
#: Share of unknown tokens (fraction 0–1) from which the doctor warns that the tokenizer does not read the data.
UNK_WARN = 0.05
#: Sub-word tokens per word assumed when no tokenizer is given (English WordPiece on CoNLL-2003 is about 1.4).
TOKENS_PER_WORD = 1.5
#: Sentences shown in the preview.
PREVIEW_SENTENCES = 5
#: Share of sentences (fraction 0–1) the suggested maxlen keeps in one window.
COVERAGE = 0.99


@dataclass
class TokenDiagnosis:
    """What :func:`diagnose_tokens` found.

    Attributes:
        num_sentences: Sentences in the corpus.
        num_tokens: Words in the corpus.
        num_entities: Entities (BIO spans) in the corpus; 0 without tags.
        entity_counts: Entities per type, most frequent first (``{"LOC": 7140, "PER": 6600, ...}``).
        tag_counts: Words per BIO tag.
        scheme: The file's original tag scheme (``"BIO"``, ``"IOB1"``, ``"BIOES"``, ``"IO"``).
        words_per_sentence: ``{"mean", "p95", "max"}`` in words.
        subwords_per_sentence: ``{"mean", "p95", "max"}`` in sub-word tokens, special tokens included (estimated
            from the words when no tokenizer was given; see ``subwords_estimated``).
        subwords_estimated: True when no tokenizer was given.
        suggested_maxlen: A multiple of 8 that keeps 99 % of the sentences in one window (capped at the tokenizer's
            maximum, 512).
        maxlen: The maxlen the windows were counted for, or None.
        windowed_sentences: Sentences longer than ``maxlen`` (split into windows when tokenized).
        problems: What to look at, each naming its line, most important first (the same :class:`Problem` as the
            table doctor's).
        length_unit: ``"sub-word tokens"`` (with a tokenizer) or ``"words"``.
        length_hist_counts, length_hist_edges: Histogram of sentence lengths in ``length_unit``,
            ``len(edges) == len(counts) + 1`` (what the Data tab draws, without tokenizing again).
        preview: The first sentences as ``[(word, entity type or None), ...]`` (``gr.HighlightedText``'s input).
        preview_lines: The line of each preview sentence.
    """

    num_sentences: int
    num_tokens: int
    num_entities: int
    entity_counts: dict[str, int]
    tag_counts: dict[str, int]
    scheme: str
    words_per_sentence: dict[str, float]
    subwords_per_sentence: dict[str, float]
    subwords_estimated: bool
    suggested_maxlen: int
    maxlen: int | None = None
    windowed_sentences: int = 0
    problems: tuple[Problem, ...] = ()
    length_unit: str = "words"
    length_hist_counts: tuple[int, ...] = ()
    length_hist_edges: tuple[float, ...] = ()
    preview: list[list[tuple[str, str | None]]] = field(default_factory=list)
    preview_lines: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-able dict of every attribute (tuples become lists)."""
        return asdict(self)

    @property
    def errors(self) -> list[Problem]:
        """Problems that stop training."""
        return [p for p in self.problems if p.severity == "error"]

    def to_markdown(self, max_problems: int = 20) -> str:
        """A Markdown summary: counts, lengths, the maxlen suggestion, the entity table and the problems."""
        est = " (estimated: no tokenizer)" if self.subwords_estimated else ""
        out = [f"**{self.num_sentences:,} sentences, {self.num_tokens:,} words, {self.num_entities:,} entities** "
               f"(tag scheme in the file: {self.scheme}"
               + (", converted to BIO)" if self.scheme != "BIO" else ")"),
               (f"\nWords per sentence: mean {self.words_per_sentence['mean']:.1f}, 95th percentile "
               f"{self.words_per_sentence['p95']:.0f}, max {self.words_per_sentence['max']:.0f}. Sub-word tokens"
               f"{est}: mean {self.subwords_per_sentence['mean']:.1f}, 95th percentile "
               f"{self.subwords_per_sentence['p95']:.0f}, max {self.subwords_per_sentence['max']:.0f}."),
               (f"\n**Suggested maxlen: {self.suggested_maxlen}** (keeps {COVERAGE:.0%} of the sentences in one window;"
               " longer ones are split into windows at word boundaries, never cut).")]
        if self.maxlen is not None:
            out.append(f"\nWith maxlen={self.maxlen}, {self.windowed_sentences} sentences are split into windows.")
        if self.entity_counts:
            out.append("\n| entity type | entities | share |\n|---|---:|---:|")
            out += [f"| {kind} | {n:,} | {n / self.num_entities:.1%} |" for kind, n in self.entity_counts.items()]
        if self.problems:
            out.append(f"\n**Problems ({len(self.problems)})**\n")
            out += [f"- {p.message}" for p in self.problems[:max_problems]]
            if len(self.problems) > max_problems:
                out.append(f"- … and {len(self.problems) - max_problems} more.")
        else:
            out.append("\nNo problems found.")
        return "\n".join(out)


def _stats(values: np.ndarray) -> dict[str, float]:
    if not len(values):
        return {"mean": 0.0, "p95": 0.0, "max": 0.0}
    return {"mean": float(values.mean()), "p95": float(np.quantile(values, 0.95)), "max": float(values.max())}


def diagnose_tokens(corpus: TokenCorpus | str | Path, *, tokenizer=None, maxlen: int | None = None,
                    preview_sentences: int = PREVIEW_SENTENCES) -> TokenDiagnosis:
    """Examine token-classification data before training.

    Args:
        corpus: A :class:`TokenCorpus`, or the path of a token file (read with
            :func:`~kdemo.data.token_files.read_token_file`).
        tokenizer: The model's fast tokenizer, to count sub-word tokens and unknown tokens; None estimates
            :data:`TOKENS_PER_WORD` sub-words per word.
        maxlen: Tokens per window the data will be tokenized with; sentences above it are counted and named.
        preview_sentences: Sentences in :attr:`TokenDiagnosis.preview`.

    Returns:
        A :class:`TokenDiagnosis`.

    Raises:
        DataError: If ``corpus`` is a path that cannot be read as token data.
    """
    if not isinstance(corpus, TokenCorpus):
        corpus = read_token_file(corpus)
    lines = corpus.line_numbers
    problems: list[Problem] = []
    spans = [entity_spans(t) for t in corpus.tags] if corpus.tags is not None else [[] for _ in corpus.words]
    entity_counts = dict(Counter(kind for sentence in spans for kind, _, _ in sentence).most_common())
    tag_counts = dict(Counter(t for sentence in corpus.tags or [] for t in sentence).most_common())
    words = np.asarray([len(w) for w in corpus.words], dtype=np.int64)

    if tokenizer is not None:
        subwords, unk_share, empty = _subwords(corpus, tokenizer)
        cap = getattr(tokenizer, "model_max_length", 512) or 512
        cap = cap if cap < 100_000 else 512
    else:
        subwords, unk_share, empty = np.ceil(words * TOKENS_PER_WORD).astype(np.int64) + 2, 0.0, []
        cap = 512
    suggested = maxlen_covering(subwords, coverage=COVERAGE, cap=cap)

    if corpus.tags is None:
        problems.append(Problem("missing_label", "error", "The file has words but no tags: it can be predicted on, "
                                "not trained on. Add a tag after each word (word TAB tag)."))
    elif not entity_counts:
        problems.append(Problem("too_few_classes", "warning",
                                "Every tag is 'O': there is no entity to learn. Check the tag column (tag_column=)."))
    for kind, n in entity_counts.items():
        if n < RARE_ENTITIES:
            first = next(s for s, sentence in enumerate(spans) if any(k == kind for k, _, _ in sentence))
            start = next(a for k, a, _ in spans[first] if k == kind)
            problems.append(Problem("rare_entity", "warning", f"Entity type {kind!r} has only {n} entities (the first "
                                    f"on line {_line(corpus, first, start)}): too few to learn it well; add examples "
                                    "or merge it.", rows=(int(lines[first]),)))
    windowed = 0
    if maxlen is not None:
        over = np.flatnonzero(subwords > maxlen)
        windowed = len(over)
        if windowed:
            worst = int(over[np.argmax(subwords[over])])
            problems.append(Problem("truncated", "info", f"{windowed} sentences are longer than maxlen={maxlen} sub-word "
                                    f"tokens and will be split into windows at word boundaries (the first on line "
                                    f"{lines[over[0]]}, the longest on line {lines[worst]} with {subwords[worst]} "
                                    f"tokens); maxlen={suggested} keeps {COVERAGE:.0%} whole.",
                                    rows=tuple(int(lines[i]) for i in over)))
    if unk_share > UNK_WARN:
        problems.append(Problem("language_coverage", "warning", f"{unk_share:.0%} of the sub-word tokens are unknown "
                                "to this tokenizer: the model cannot read much of this text. Choose a model for its "
                                "language (a multilingual one such as xlm-roberta-base)."))
    for s, w in empty[:10]:
        problems.append(Problem("empty_token", "info", f"Line {_line(corpus, s, w)}: the word {corpus.words[s][w]!r} "
                                "makes no sub-word token; it is read as the unknown token."))
    problems += [Problem("file_note", "info", warning) for warning in corpus.warnings]
    # the histogram the Data tab draws: sub-word tokens with a tokenizer, else words
    lengths = subwords if tokenizer is not None else words
    counts, edges = (np.histogram(lengths, bins=min(40, max(5, int(np.sqrt(len(lengths)))))) if len(lengths)
                     else (np.zeros(0, np.int64), np.zeros(0)))

    preview = []
    for s in range(min(preview_sentences, len(corpus.words))):
        kinds: list[str | None] = [None] * len(corpus.words[s])
        for kind, a, b in spans[s]:
            kinds[a:b] = [kind] * (b - a)
        preview.append(list(zip(corpus.words[s], kinds)))
    return TokenDiagnosis(
        num_sentences=len(corpus.words), num_tokens=int(words.sum()),
        num_entities=sum(entity_counts.values()), entity_counts=entity_counts, tag_counts=tag_counts,
        scheme=corpus.scheme, words_per_sentence=_stats(words), subwords_per_sentence=_stats(subwords),
        subwords_estimated=tokenizer is None, suggested_maxlen=suggested, maxlen=maxlen, windowed_sentences=windowed,
        problems=tuple(problems), length_unit="sub-word tokens" if tokenizer is not None else "words",
        length_hist_counts=tuple(map(int, counts)), length_hist_edges=tuple(map(float, edges)),
        preview=preview, preview_lines=lines[: len(preview)],
    )


def _line(corpus: TokenCorpus, sentence: int, word: int) -> str:
    """The line of a word: its own line in column files, the row (and word position) in JSON Lines."""
    if corpus.source.lower().endswith((".jsonl", ".json", ".ndjson")):
        return f"{corpus.line_numbers[sentence]} (word {word + 1})"
    return str(corpus.line_numbers[sentence] + word)


def _subwords(corpus: TokenCorpus, tokenizer) -> tuple[np.ndarray, float, list[tuple[int, int]]]:
    """Sub-word tokens per sentence (special tokens included), the share of unknown tokens, words with no token."""
    ids, wids = batch_encode(tokenizer, corpus.words)
    lengths = np.asarray([len(i) for i in ids], dtype=np.int64)
    unk = tokenizer.unk_token_id
    total = int(sum((w >= 0).sum() for w in wids))
    unknown = int(sum(((i == unk) & (w >= 0)).sum() for i, w in zip(ids, wids))) if unk is not None else 0
    empty = []
    for s, w in enumerate(wids):
        present = np.zeros(len(corpus.words[s]), dtype=bool)
        present[w[w >= 0]] = True
        empty += [(s, int(i)) for i in np.flatnonzero(~present)]
    return lengths, unknown / max(total, 1), empty

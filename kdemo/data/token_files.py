"""Reading token-classification files: CoNLL-style columns and JSON Lines, into one :class:`TokenCorpus` in BIO.

Column files (CoNLL-2003, ktrain's ``entities_from_txt``): one word a line, the word in the first column and the tag
in the last (``word_column``/``tag_column`` choose others); columns are separated by any run of spaces or tabs
(mixed is fine). Blank or whitespace-only lines end a sentence; ``-DOCSTART-`` lines are skipped (ktrain does the
same). Decisions on odd input:

- A first line naming the columns (``word tag``, ``Word<TAB>Label``) is skipped as a header, and lines starting
  with ``#`` before a sentence (CoNLL-U, MultiCoNER's ``# id ...``) as comments, each with a warning.

- Windows (CRLF) and old Mac line ends are accepted; lines are split on ``\\n`` only, so a ``\\x85`` or ``\\u2028``
  inside a word does not shift line numbers.
- Only ASCII spaces and tabs separate columns: a non-breaking space (U+00A0) belongs to the word it is in. A word
  that the tokenizer turns into nothing (a lone U+00A0, a zero-width space) is kept and read as the unknown token
  by :class:`kdemo.text.ner.dataset.TokenDataset`, so its tag is still learned and predicted.
- A file whose every line has one column is read as words without tags (``tags=None``), unless those words are all
  tags (a tags-only file: an error). One column on some lines only is an error naming the first such line.
- Files that are not UTF-8 are decoded by :func:`kdemo.data.encodings.detect_and_decode` (Windows-1252, Latin-1 …),
  and a warning says which encoding was used.

JSON Lines: one object per line, ``{"tokens": [...], "ner_tags": [...]}`` (or one JSON array of such objects, whose
rows are then numbered from 1 in messages) (``words`` and ``tags``/``labels`` are
accepted too). Tags are names, or integer ids with a label list: ``label_list=``, a line ``{"label_names": [...]}``
(without tokens), or ``"label_names"`` in the rows. Blank lines are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from kdemo.data.encodings import detect_and_decode
from kdemo.errors import DataError
from kdemo.data.tag_schemes import OUTSIDE, normalize_tags, split_tag

#: Bytes read by :func:`looks_like_token_file`.
SNIFF_BYTES = 65536
#: Distinct bare tags (no ``B-``/``I-`` prefix) above which a column is said not to hold tags.
MAX_BARE_TYPES = 30

_COLUMNS = re.compile(r"[ \t\v\f]+")
_TOKEN_KEYS = ("tokens", "words")
_TAG_KEYS = ("ner_tags", "tags", "labels")
_NAMES_KEYS = ("label_names", "label_list", "tag_names")
_TAG_LIKE = re.compile(r"^(O|[BIESLU][-_]\S+)$")
_HEADER_NAMES = {"tag", "tags", "label", "labels", "ner", "ner_tag", "ner_tags", "entity", "entities", "iob", "bio"}


@dataclass
class TokenCorpus:
    """Sentences of words and (optionally) their BIO tags, as read from one file.

    Attributes:
        words: Words per sentence, ``(num_sentences, num_words)`` (ragged).
        tags: BIO tags per sentence, same shape as ``words``, or None for a file without tags.
        line_numbers: 1-based line of each sentence's first word in the source file (row number for JSON Lines).
        scheme: The file's original tag scheme (``"BIO"``, ``"IOB1"``, ``"BIOES"`` or ``"IO"``).
        warnings: Conversions, repairs and decoding notes, each naming the line.
        source: The file's name, for messages.
    """

    words: list[list[str]]
    tags: list[list[str]] | None
    line_numbers: list[int]
    scheme: str = "BIO"
    warnings: list[str] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        """Number of sentences."""
        return len(self.words)

    def num_tokens(self) -> int:
        """Number of words over all sentences."""
        return sum(len(w) for w in self.words)


def _error(expected: str, received: str, name: str, line: int | None, todo: str) -> DataError:
    at = f" (line {line} of {name!r})" if line is not None else f" (in {name!r})"
    return DataError(f"Expected {expected}. Received: {received}{at}. {todo}")


def _decode(path: Path, encoding: str | None) -> tuple[str, list[str]]:
    raw = path.read_bytes()
    if not raw.strip():
        raise _error("a file of words and tags (one word a line, or JSON Lines)", "an empty file", path.name, None,
                     "Choose the file that holds the data.")
    decoded = detect_and_decode(raw, path.name, encoding)
    if decoded.method == "binary":
        raise _error("a text file", "binary content (NUL bytes)", path.name, None,
                     "Save the data as CoNLL text or JSON Lines.")
    notes = list(decoded.notes)
    if decoded.method == "detected" and not notes:
        notes.append(f"{path.name!r} is not UTF-8; it was read as {decoded.label}.")
    return decoded.text.replace("\r\n", "\n").replace("\r", "\n"), notes


def read_token_file(path: str | Path, *, word_column: int = 0, tag_column: int = -1, encoding: str | None = None,
                    label_list: list[str] | None = None) -> TokenCorpus:
    """Read a CoNLL-style column file or a JSON Lines file of tokens and tags, converted to BIO.

    Args:
        path: The file. JSON Lines is recognised by its first non-blank character ``{``.
        word_column: Column of the word (0-based; negative counts from the end). Column files only.
        tag_column: Column of the tag (default: the last). Column files only.
        encoding: Python codec of the file; None detects it (see :mod:`kdemo.data.encodings`).
        label_list: Tag names in id order, for JSON Lines whose tags are integer ids.

    Returns:
        A :class:`TokenCorpus` with BIO tags (``tags`` None for a one-column file of words).

    Raises:
        DataError: For an empty or binary file, a line with one column among lines with more, a tag column that
            does not hold tags, a tags-only file, invalid JSON, a row whose tokens and tags differ in length, an id
            outside the label list, or no sentence at all; the message names the line.
    """
    path = Path(path)
    text, notes = _decode(path, encoding)
    if _is_json_array(text):  # a .json file: one array of row objects; rows are numbered from 1
        rows = json.loads(text)
        corpus = _read_jsonl("\n".join(json.dumps(r) for r in rows), path.name, label_list)
    elif _first_line_is_object(text):
        corpus = _read_jsonl(text, path.name, label_list)
    else:
        corpus = _read_columns(text, path.name, word_column, tag_column)
    corpus.warnings[:0] = notes
    return corpus


def _first_line_is_object(text: str) -> bool:
    first = next((ln for ln in text.split("\n") if ln.strip()), "").strip()
    if not first.startswith("{"):
        return False
    try:
        return isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return first.endswith("}") or '"' in first  # a broken JSON line, not a word "{" with its tag


def _is_json_array(text: str) -> bool:
    if not text.lstrip().startswith("["):
        return False
    try:
        rows = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(rows, list) and bool(rows) and all(isinstance(r, dict) for r in rows)


def _read_columns(text: str, name: str, word_column: int, tag_column: int) -> TokenCorpus:
    words, tags, lines = [], [], []
    sent_words, sent_tags, start = [], [], 0
    one_column: int | None = None  # first line with one column
    comments: list[int] = []
    notes: list[str] = []
    multi_column: int | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            if sent_words:
                words.append(sent_words), tags.append(sent_tags), lines.append(start)
                sent_words, sent_tags = [], []
            continue
        fields = _COLUMNS.split(line.strip(" \t\v\f"))
        if fields[0] == "-DOCSTART-":
            if sent_words:
                words.append(sent_words), tags.append(sent_tags), lines.append(start)
                sent_words, sent_tags = [], []
            continue
        if not sent_words and line.startswith("#") and (len(fields) == 1 or not _TAG_LIKE.match(fields[-1])):
            comments.append(number)  # CoNLL-U / MultiCoNER "# id ..." lines before a sentence
            continue
        if not words and not sent_words and len(fields) > 1 and _is_header(fields, tag_column):
            notes.append(f"line {number}: {line.strip()!r} read as a header and skipped.")
            continue
        if not sent_words:
            start = number
        if len(fields) == 1:
            one_column = one_column or number
            sent_words.append(fields[0])
            sent_tags.append(None)
        else:
            multi_column = multi_column or number
            try:
                sent_words.append(fields[word_column])
                sent_tags.append(fields[tag_column])
            except IndexError:
                raise _error(f"a word in column {word_column} and a tag in column {tag_column}",
                             f"{len(fields)} columns {line.strip()!r}", name, number,
                             "Choose the word and tag columns that every line has.") from None
        if one_column and multi_column:
            shown = text.split("\n")[one_column - 1].strip()
            raise _error("a word and its tag on each line, separated by spaces or a tab",
                         f"one column {shown!r}", name, one_column,
                         "Add the missing word or tag, or make the line blank if it ends a sentence.")
    if sent_words:
        words.append(sent_words), tags.append(sent_tags), lines.append(start)
    if not words:
        raise _error("at least one sentence of words and tags", "only blank or -DOCSTART- lines", name, None,
                     "Choose the file that holds the data.")
    if multi_column is None:
        flat = [w for sentence in words for w in sentence]
        if all(_TAG_LIKE.match(w) for w in flat):
            raise _error("a word and its tag on each line", f"only tags such as {flat[0]!r}, no words", name, lines[0],
                         "Add the words in the first column (word TAB tag).")
        return TokenCorpus(words, None, lines, "BIO", [], name)
    if comments:
        notes.append(f"{len(comments)} comment lines starting with '#' skipped (the first on line {comments[0]}).")
    _check_tags(tags, lines, name)
    bio, scheme, warnings = normalize_tags(tags, lines)
    return TokenCorpus(words, bio, lines, scheme, notes + warnings, name)


def _is_header(fields: list[str], tag_column: int) -> bool:
    try:
        return fields[tag_column].lower().strip("#") in _HEADER_NAMES
    except IndexError:
        return False


def _check_tags(tags: list[list[str]], lines: list[int], name: str) -> None:
    """Refuse a tag column that mixes prefixed and bare tags or holds words rather than tags."""
    first_prefixed = first_bare = None
    bare_types: set[str] = set()
    for s, sentence in enumerate(tags):
        for w, tag in enumerate(sentence):
            prefix, kind = split_tag(tag)
            if prefix is not None:
                first_prefixed = first_prefixed or (lines[s] + w, tag)
            elif kind is not None:
                first_bare = first_bare or (lines[s] + w, tag)
                bare_types.add(kind)
    if first_prefixed and first_bare:
        line, tag = first_bare
        raise _error(f"tags like {OUTSIDE!r}, 'B-PER', 'I-PER' in the tag column (the file has "
                     f"{first_prefixed[1]!r} on line {first_prefixed[0]})", f"{tag!r}", name, line,
                     "Fix the tag, or choose the tag column (tag_column=) if the tag is in another column.")
    if len(bare_types) > MAX_BARE_TYPES:
        line, tag = first_bare
        raise _error(f"a tag column (O, B-PER, I-PER …; at most {MAX_BARE_TYPES} types without B-/I-)",
                     f"{len(bare_types)} different values such as {tag!r}, which look like words", name, line,
                     "Put the tag in the last column or choose it with tag_column=.")


def _read_jsonl(text: str, name: str, label_list: list[str] | None) -> TokenCorpus:
    words, tags, lines = [], [], []
    names = list(label_list) if label_list is not None else None
    ids_at: int | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise _error("one JSON object per line", f"invalid JSON ({exc.msg}, column {exc.colno})", name, number,
                         "Fix the line; each line must be a complete object such as "
                         '{"tokens": ["John", "lives"], "ner_tags": ["B-PER", "O"]}.') from None
        if not isinstance(row, dict):
            raise _error("a JSON object per line", f"a {type(row).__name__}", name, number,
                         'Write each sentence as {"tokens": [...], "ner_tags": [...]}.')
        row_names = next((row[k] for k in _NAMES_KEYS if k in row), None)
        token_key = next((k for k in _TOKEN_KEYS if k in row), None)
        if row_names is not None and names is None:
            names = [str(n) for n in row_names]
        if token_key is None:
            if row_names is not None:
                continue  # a header line holding only the label list
            raise _error('a "tokens" list in every row', f"keys {sorted(row)}", name, number,
                         'Name the words "tokens" and the tags "ner_tags".')
        tokens = row[token_key]
        tag_key = next((k for k in _TAG_KEYS if k in row), None)
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise _error(f'"{token_key}" to be a list of strings', f"{str(tokens)[:80]}", name, number,
                         "Write the words as a JSON list of strings.")
        row_tags = row.get(tag_key) if tag_key else None
        if row_tags is not None:
            if not isinstance(row_tags, list):
                raise _error(f'"{tag_key}" to be a list', f"{str(row_tags)[:80]}", name, number, "Write the tags as a list.")
            if len(row_tags) != len(tokens):
                raise _error(f'as many tags as tokens ("{tag_key}" and "{token_key}")',
                             f"{len(tokens)} tokens and {len(row_tags)} tags", name, number,
                             "Give every token exactly one tag.")
            if any(isinstance(t, int) and not isinstance(t, bool) for t in row_tags):
                ids_at = ids_at or number
        if not tokens:
            continue
        words.append(tokens), tags.append(row_tags), lines.append(number)
    if not words:
        raise _error("at least one row with tokens", "no tokens in any row", name, None, "Choose the file that holds the data.")
    labelled = [t is not None for t in tags]
    if not any(labelled):
        return TokenCorpus(words, None, lines, "BIO", [], name)
    if not all(labelled):
        s = labelled.index(False)
        raise _error('"ner_tags" in every row (some rows have them)', "a row without tags", name, lines[s],
                     "Add the row's tags or remove the tags of every row.")
    if ids_at is not None:
        tags = _names_of_ids(tags, lines, names, name, ids_at)
    tags = [[str(t) for t in sentence] for sentence in tags]
    _check_tags(tags, lines, name)
    bio, scheme, warnings = normalize_tags(tags, lines, one_word_per_line=False)
    return TokenCorpus(words, bio, lines, scheme, warnings, name)


def _names_of_ids(tags, lines, names, name, ids_at) -> list[list[str]]:
    if names is None:
        raise _error("tag names, or integer tag ids with a label list", "integer tag ids and no label list",
                     name, ids_at, 'Pass label_list=["O", "B-PER", ...] or add a first line {"label_names": [...]}.')
    out = []
    for s, sentence in enumerate(tags):
        row = []
        for w, tag in enumerate(sentence):
            if isinstance(tag, str):
                row.append(tag)
            elif not isinstance(tag, int) or isinstance(tag, bool) or not 0 <= tag < len(names):
                raise _error(f"tag ids from 0 to {len(names) - 1} (the label list has {len(names)} names)",
                             f"{tag!r} at word {w + 1}", name, lines[s], "Fix the id or the label list.")
            else:
                row.append(names[tag])
        out.append(row)
    return out


def looks_like_token_file(path: str | Path) -> bool:
    """Cheap sniff: is this a CoNLL-style column file with tags or JSON Lines of tokens and tags?

    Reads at most :data:`SNIFF_BYTES`. A column file qualifies when most (90 %) of its first non-blank lines have
    two or more columns with a tag-like last column (``O``, ``B-X``, ``I-X`` …) and at least one tag is not ``O``
    or a blank line separates sentences. JSON Lines qualifies when its first object has ``tokens`` (or ``words``),
    a JSON array when its first object starts with ``tokens`` (or ``words``).

    Args:
        path: The file.

    Returns:
        True if :func:`read_token_file` should read it; False otherwise (also for unreadable files).
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(SNIFF_BYTES)
    except OSError:
        return False
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff").replace("\r", "")
    lines = text.split("\n")[:-1] if len(raw) == SNIFF_BYTES else text.split("\n")
    if text.lstrip().startswith("["):  # a JSON array of rows (only its start is read)
        return bool(re.match(r'\[\s*\{\s*"(tokens|words)"\s*:', text.lstrip()))
    if text.lstrip().startswith("{"):
        first = next((ln for ln in lines if ln.strip()), "")
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            return False
        return isinstance(row, dict) and (any(k in row for k in _TOKEN_KEYS) or any(k in row for k in _NAMES_KEYS))
    content = [ln for ln in lines[:400] if ln.strip() and not ln.startswith("-DOCSTART-")]
    if len(content) < 2:
        return False
    tagged = [_COLUMNS.split(ln.strip(" \t\v\f")) for ln in content]
    if len(tagged[0]) > 1 and _is_header(tagged[0], -1):
        content, tagged = content[1:], tagged[1:]
    good = [f for f in tagged if len(f) >= 2 and _TAG_LIKE.match(f[-1])]
    if len(good) < 0.9 * len(content):
        return False
    blank = any(not ln.strip() for ln in lines[:400])
    return blank or any(f[-1] != OUTSIDE for f in good)

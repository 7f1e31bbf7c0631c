"""Tag schemes of token-classification data: detect them, convert them to BIO (IOB2), repair BIO, read entity spans.

kdemo trains on **BIO** (IOB2): the first word of an entity is tagged ``B-TYPE``, the following words of the same
entity ``I-TYPE``, every other word ``O``. Files come in other schemes too (Ramshaw & Marcus 1995; Tjong Kim Sang &
Veenstra 1999, "Representing Text Chunks"):

- **IOB1** (the original CoNLL-2003 files): entities start with ``I-TYPE``; ``B-TYPE`` only marks an entity that
  directly follows another entity of the same type.
- **BIOES** (also called IOBES; BILOU with ``L-``/``U-``): ``S-TYPE`` for a one-word entity, ``E-TYPE`` (``L-``) for
  the last word of a longer one.
- **IO**: bare type names (``PER``, ``LOC``) or ``I-`` tags only; a run of the same type is one entity.

seqeval's strict mode (``mode="strict", scheme=IOB2``), which the evaluation uses, drops an entity that starts
with ``I-``; :func:`repair_bio` therefore turns a lone ``I-X`` (after ``O``, after another type, or first) into
``B-X``, which is also what the IOB1 to BIO conversion does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: The tag of words outside every entity.
OUTSIDE = "O"
#: Schemes :func:`detect_scheme` reports.
SCHEMES = ("BIO", "IOB1", "BIOES", "IO")

_PREFIXED = re.compile(r"^([BIESLU])[-_](.+)$")


def split_tag(tag: str) -> tuple[str | None, str | None]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``(None, None)``; a bare type ``"PER"`` -> ``(None, "PER")``.

    ``B_PER`` (underscore) is read like ``B-PER``. ``L-``/``U-`` (BILOU) are returned as ``E``/``S``.
    """
    if tag == OUTSIDE or tag == "":
        return None, None
    match = _PREFIXED.match(tag)
    if match is None:
        return None, tag
    prefix = {"L": "E", "U": "S"}.get(match.group(1), match.group(1))
    return prefix, match.group(2)


def detect_scheme(tag_sequences: Sequence[Sequence[str]]) -> str:
    """The tag scheme of a corpus.

    Rules: any ``E-``/``S-`` (or ``L-``/``U-``) tag -> ``"BIOES"``; bare types without prefixes -> ``"IO"``;
    otherwise the entity starts are counted: an ``I-X`` that starts an entity (first, after ``O`` or after another
    type) is IOB1's way, a ``B-X`` that starts one is BIO's; the more frequent wins (``"IOB1"`` when the ``I-``
    starts are more, so a BIO file with a few lone ``I-`` stays ``"BIO"``). A file of only ``I-`` tags is ``"IOB1"``
    (it converts the same way as IO). All-``O`` data is ``"BIO"``.

    Args:
        tag_sequences: Tags per sentence, ``(num_sentences, num_words)`` (ragged).

    Returns:
        One of :data:`SCHEMES`.
    """
    i_starts = b_starts = bare = 0
    for tags in tag_sequences:
        prev_type = None
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in ("E", "S"):
                return "BIOES"
            if prefix is None and kind is not None:
                bare += 1
            elif prefix == "I" and kind != prev_type:
                i_starts += 1
            elif prefix == "B" and kind != prev_type:
                b_starts += 1
            prev_type = kind
    if bare:
        return "IO"
    return "IOB1" if i_starts > b_starts else "BIO"


def to_bio(tags: Sequence[str], scheme: str) -> list[str]:
    """Convert one sentence's tags to BIO (IOB2).

    Args:
        tags: The sentence's tags, ``(num_words,)``.
        scheme: The scheme they are in (:data:`SCHEMES`; from :func:`detect_scheme`).

    Returns:
        The BIO tags, same length. ``BIO`` input is returned unchanged (see :func:`repair_bio` for lone ``I-``).

    Raises:
        ValueError: If ``scheme`` is not one of :data:`SCHEMES`.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"Expected a scheme in {SCHEMES}. Received: scheme={scheme!r}.")
    if scheme == "BIO":
        return list(tags)
    out, prev_type = [], None
    for tag in tags:
        prefix, kind = split_tag(tag)
        if kind is None:
            out.append(OUTSIDE)
        elif scheme == "BIOES":
            out.append(f"B-{kind}" if prefix in ("B", "S") or prefix is None or kind != prev_type else f"I-{kind}")
        elif prefix == "B" or kind != prev_type:  # IOB1 / IO: a new entity where the type changes
            out.append(f"B-{kind}")
        else:
            out.append(f"I-{kind}")
        # BIOES: after S-X or E-X the entity is closed, so a following I-X/E-X starts a new one.
        prev_type = None if scheme == "BIOES" and prefix in ("S", "E") else kind
    return out


def repair_bio(tags: Sequence[str]) -> tuple[list[str], list[tuple[int, str, str]]]:
    """Make BIO tags valid for seqeval's strict mode: a lone ``I-X`` becomes ``B-X``.

    A lone ``I-X`` is one that is first in the sentence or follows ``O`` or a tag of another type. Bare types
    (``PER``) are read as ``I-PER`` first, so they are repaired too.

    Args:
        tags: One sentence's tags, ``(num_words,)``.

    Returns:
        ``(tags, fixes)``: the repaired tags and one ``(word_index, old_tag, new_tag)`` per change (0-based index).
    """
    out, fixes, prev_type = [], [], None
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        new = tag
        if kind is None:
            new = OUTSIDE
        elif prefix in (None, "I", "E") and kind != prev_type:
            new = f"B-{kind}"
        elif prefix is None or prefix == "E":
            new = f"I-{kind}"
        elif prefix == "S":
            new = f"B-{kind}"
        if new != tag and tag != "":
            fixes.append((i, tag, new))
        out.append(new)
        prev_type = kind
    return out, fixes


def entity_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """Entities of one sentence's BIO tags.

    Args:
        tags: BIO tags, ``(num_words,)``. A lone ``I-X`` starts an entity (as after :func:`repair_bio`).

    Returns:
        ``[(type, start_word, end_word_exclusive), ...]`` in sentence order.
    """
    spans: list[tuple[str, int, int]] = []
    kind, start = None, 0
    for i, tag in enumerate(tags):
        prefix, this = split_tag(tag)
        if kind is not None and (this != kind or prefix in ("B", "S")):
            spans.append((kind, start, i))
            kind = None
        if this is not None and kind is None:
            kind, start = this, i
        if prefix in ("E", "S") and kind is not None:
            spans.append((kind, start, i + 1))
            kind = None
    if kind is not None:
        spans.append((kind, start, len(tags)))
    return spans


def normalize_tags(tag_sequences: Sequence[Sequence[str]], line_numbers: Sequence[int] | None = None, *,
                   one_word_per_line: bool = True, max_warnings: int = 20) -> tuple[list[list[str]], str, list[str]]:
    """Detect the scheme of a corpus, convert it to BIO and repair lone ``I-`` tags, with messages naming lines.

    Args:
        tag_sequences: Tags per sentence, ``(num_sentences, num_words)`` (ragged).
        line_numbers: 1-based line of each sentence's first word in its file (row number for JSON Lines and
            arrays); None numbers the sentences 1, 2, ….
        one_word_per_line: True for column files (word ``w`` of a sentence is on line ``first + w``); False for
            JSON Lines, where messages name the line and the word's position.
        max_warnings: Repairs listed one by one at most; the rest are counted in one more message.

    Returns:
        ``(bio_tags, scheme, warnings)``: the BIO tags per sentence, the original scheme, and the messages.
    """
    scheme = detect_scheme(tag_sequences)
    lines = list(line_numbers) if line_numbers is not None else None

    def where(s: int, w: int) -> str:
        if lines is None:
            return f"sentence {s + 1}, word {w + 1}"
        return f"line {lines[s] + w}" if one_word_per_line else f"line {lines[s]}, word {w + 1}"

    out, warnings, changed, first = [], [], 0, None
    repairs = 0
    for s, tags in enumerate(tag_sequences):
        converted = to_bio(tags, scheme)
        if scheme != "BIO":
            diff = sum(a != b for a, b in zip(converted, tags))
            if diff and first is None:
                first = s
            changed += diff
        fixed, fixes = repair_bio(converted)
        for w, old, new in fixes:
            repairs += 1
            if repairs <= max_warnings:
                warnings.append(f"{where(s, w)}: {old!r} follows {'nothing' if w == 0 else repr(converted[w - 1])}; "
                                f"read as {new!r} (a lone I- tag starts an entity, as seqeval's strict mode expects).")
        out.append(fixed)
    if scheme != "BIO":
        at = f", the first at {where(first, 0)}" if first is not None else ""
        warnings.insert(0, f"The tags are in the {scheme} scheme; converted to BIO (IOB2): {changed} tags changed{at}; "
                           "entity spans are unchanged.")
    if repairs > max_warnings:
        warnings.append(f"... and {repairs - max_warnings} more lone I- tags read as B- ({repairs} in all).")
    return out, scheme, warnings

"""Text-file encodings: detect, decode and explain how sure the detection is.

Rules, in order (the first that applies wins):

1. ``encoding=`` given: that codec, strictly ("certain").
2. A byte-order mark: UTF-8 (``EF BB BF``), UTF-16 LE/BE (``FF FE`` / ``FE FF``); UTF-32 BOMs likewise ("certain").
3. No BOM but a NUL byte in every other position of most of the first 1000 bytes: UTF-16 LE or BE without BOM.
4. Strict UTF-8 (plain ASCII included; "certain": other encodings rarely form valid UTF-8 by chance).
5. Otherwise `charset-normalizer <https://github.com/jawah/charset_normalizer>`_ ranks the legacy encodings
   (GB18030/GBK, Big5, Shift-JIS, EUC-JP, EUC-KR, KOI8-R, Windows-1251/1252, Latin-1 …) on the file's lines that
   hold non-ASCII bytes (up to :data:`SAMPLE_BYTES`), by how much "mess" each decoding produces and how well the
   result fits a language.
   The detection is **unsure** when the file has too few non-ASCII bytes to decide (:data:`MIN_EVIDENCE_BYTES`,
   unless the text is clearly a known language) or a decoding giving *other* text scores about as well
   (:data:`MIN_MARGIN`); the read then carries a note naming the alternatives, and the Data tab offers
   :data:`ENCODING_CHOICES` to read the file again.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

from kdemo.errors import DataError

#: Bytes of non-ASCII lines that charset-normalizer examines (whole lines).
SAMPLE_BYTES = 1 << 20
#: Non-ASCII bytes needed before a legacy encoding counts as decided (unless the text is clearly a language).
MIN_EVIDENCE_BYTES = 40
#: Coherence (charset-normalizer's language fit, 0–1) from which a text counts as clearly a language.
CLEAR_LANGUAGE = 0.3
#: Least lead of the chosen decoding over one giving other text about as cleanly: (other's mess − chosen mess) +
#: (chosen's language fit − other's), both 0–1.
MIN_MARGIN = 0.03

#: Mess ratios (0–1) this close to the cleanest decoding of a short file count as a tie.
TIE_CHAOS = 0.05
#: Ties are broken in this order (charset-normalizer's codec names): the encodings Excel and Windows save most.
PREFERRED = ("cp1252", "gb18030", "cp932", "cp949", "big5", "cp1251", "koi8_r", "euc_jis_2004", "latin_1")

#: Encodings offered in the Data tab's menu: ``(label, Python codec)``; the codec ``""`` means detect.
ENCODING_CHOICES = (
    ("Detect automatically", ""),
    ("UTF-8", "utf-8-sig"),
    ("UTF-16", "utf-16"),
    ("GB18030 / GBK (Chinese, simplified)", "gb18030"),
    ("Big5 (Chinese, traditional)", "big5"),
    ("Shift-JIS (Japanese, Windows CP932)", "cp932"),
    ("EUC-JP (Japanese)", "euc_jp"),
    ("EUC-KR (Korean, Windows CP949)", "cp949"),
    ("Windows-1251 (Cyrillic)", "cp1251"),
    ("KOI8-R (Russian)", "koi8_r"),
    ("Windows-1252 (Western European)", "cp1252"),
    ("ISO-8859-1 (Latin-1)", "latin-1"),
)

_LABELS = {  # normalised codec name -> the name users know
    "utf_8": "UTF-8", "utf_8_sig": "UTF-8", "utf_16": "UTF-16", "ascii": "UTF-8",
    "gb18030": "GB18030 (Chinese, simplified)", "gbk": "GBK (Chinese, simplified)",
    "gb2312": "GB2312 (Chinese, simplified)", "hz": "HZ (Chinese, simplified)",
    "big5": "Big5 (Chinese, traditional)", "big5hkscs": "Big5-HKSCS (Chinese, traditional)",
    "cp950": "Big5 (Chinese, traditional; Windows CP950)",
    "cp932": "Shift-JIS (Japanese, Windows CP932)", "shift_jis": "Shift-JIS (Japanese)",
    "shift_jis_2004": "Shift-JIS (Japanese)", "euc_jp": "EUC-JP (Japanese)", "euc_jis_2004": "EUC-JP (Japanese)",
    "iso2022_jp": "ISO-2022-JP (Japanese)",
    "cp949": "EUC-KR (Korean, Windows CP949)", "euc_kr": "EUC-KR (Korean)", "johab": "Johab (Korean)",
    "koi8_r": "KOI8-R (Russian)", "koi8_u": "KOI8-U (Ukrainian)", "cp1251": "Windows-1251 (Cyrillic)",
    "iso8859_5": "ISO-8859-5 (Cyrillic)", "mac_cyrillic": "Mac Cyrillic",
    "cp1252": "Windows-1252 (Western European)", "latin_1": "ISO-8859-1 (Latin-1)",
    "iso8859_1": "ISO-8859-1 (Latin-1)", "cp1250": "Windows-1250 (Central European)",
}


@dataclass(frozen=True)
class Decoded:
    """A decoded text file and how its encoding was found.

    Attributes:
        text: The text, without BOM.
        codec: The Python codec used (``"gb18030"``, ``"utf-8"`` …).
        label: Its human name (``"GB18030 (Chinese, simplified)"``).
        method: ``"given"``, ``"bom"``, ``"utf-16 pattern"``, ``"utf-8"``, ``"detected"`` (charset-normalizer) or
            ``"binary"`` (not text).
        confidence: How sure the choice is, fraction 0–1: 1 for the first four methods; for a detection, 1 minus
            charset-normalizer's mess ratio, halved when unsure.
        sure: False when the detection could not decide (see the module docstring).
        alternatives: Labels of other encodings that decode the sample to other, plausible text.
        notes: What the user should know (an unsure detection, with what to do).
    """

    text: str
    codec: str
    label: str
    method: str
    confidence: float = 1.0
    sure: bool = True
    alternatives: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32 LE (with BOM)"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 BE (with BOM)"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8 (with BOM)"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE (with BOM)"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE (with BOM)"),
)


def encoding_label(codec: str) -> str:
    """The name users know for a Python codec (``"cp932"`` -> ``"Shift-JIS (Japanese, Windows CP932)"``)."""
    try:
        name = codecs.lookup(codec).name.replace("-", "_")
    except LookupError:
        return codec
    return _LABELS.get(name, _LABELS.get(codec.lower().replace("-", "_"), codec.upper()))


def line_of(raw: bytes, offset: int) -> int:
    """1-based line number of byte ``offset``."""
    return raw.count(b"\n", 0, offset) + 1


def detect_and_decode(raw: bytes, name: str, encoding: str | None = None) -> Decoded:
    """Decode a text file by the rules in the module docstring.

    Args:
        raw: The file's bytes.
        name: File name, for messages.
        encoding: A Python codec name to use instead of detecting (``"gbk"``, ``"shift_jis"``, ``"cp1252"`` …).

    Returns:
        A :class:`Decoded`. Binary content is not refused here (see :func:`kdemo.data.tables.decode_bytes`).

    Raises:
        DataError: If ``encoding`` is unknown or does not fit the bytes (byte and line named), or a BOM/UTF-16
            pattern is followed by invalid bytes.
    """
    if encoding:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            known = ", ".join(repr(c) for _, c in ENCODING_CHOICES if c)
            raise DataError(f"Expected a known encoding such as {known}. Received: {encoding!r}.") from None
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"Expected {encoding_label(codec)} text (the encoding chosen). Received: byte 0x{raw[exc.start]:02x} "
                f"on line {line_of(raw, exc.start)} of {name!r} is not valid {encoding}. Choose another encoding, leave "
                "it empty (Detect automatically) to detect it, or re-save the file as UTF-8 (in Excel: 'CSV UTF-8')."
            ) from None
        return Decoded(text.lstrip("\ufeff"), codec, encoding_label(codec), "given")
    for bom, codec, label in _BOMS:
        if raw.startswith(bom):
            return Decoded(_strict(raw, codec, label, name), codec, label, "bom")
    head = raw[:1000]
    if len(head) >= 4 and b"\x00" in head:
        even, odd = head[0::2].count(0) / len(head[0::2]), head[1::2].count(0) / len(head[1::2])
        if max(even, odd) > 0.6 and min(even, odd) < 0.1:
            codec, label = ("utf-16-le", "UTF-16 LE (no BOM)") if odd > even else ("utf-16-be", "UTF-16 BE (no BOM)")
            return Decoded(_strict(raw, codec, label, name), codec, label, "utf-16 pattern")
        return Decoded(raw.decode("latin-1"), "latin-1", "binary", "binary")  # refused by the caller
    try:
        return Decoded(raw.decode("utf-8"), "utf-8", "UTF-8", "utf-8")
    except UnicodeDecodeError as exc:
        where = f"byte 0x{raw[exc.start]:02x} on line {line_of(raw, exc.start)}"
    return _detect(raw, name, where)


def _strict(raw: bytes, codec: str, label: str, name: str) -> str:
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"Expected {label} text (detected from the start of the file). Received: invalid bytes at byte offset "
            f"{exc.start} of {name!r}. Re-save the file as UTF-8."
        ) from None
    return text.lstrip("\ufeff")


def _detect(raw: bytes, name: str, where: str) -> Decoded:
    """charset-normalizer's best decoding of a file that is not UTF-8, with how sure it is."""
    from charset_normalizer import from_bytes

    sample = _evidence(raw)
    matches = list(from_bytes(sample, steps=20, chunk_size=2048))
    evidence = sum(b >= 0x80 for b in sample[:200_000])
    if matches and ((evidence < MIN_EVIDENCE_BYTES and matches[0].coherence < CLEAR_LANGUAGE)
                    or _margin(matches[0], matches[1:]) < MIN_MARGIN):
        # Undecided: among the decodings about as clean and coherent as the best, prefer the common encodings.
        tied = [m for m in matches if m.chaos <= matches[0].chaos + TIE_CHAOS
                and m.coherence >= matches[0].coherence - TIE_CHAOS]
        order = {codec: i for i, codec in enumerate(PREFERRED)}
        first = min(tied, key=lambda m: min(order.get(c, len(order)) for c in _codecs(m)))
        matches = [first] + [m for m in matches if m is not first]
    for rank, best in enumerate(matches):
        order = {codec: i for i, codec in enumerate(PREFERRED)}
        codec = min(_codecs(best), key=lambda c: order.get(c, len(order)))
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            continue  # the sample fitted, the rest of the file does not
        others = matches[:rank] + matches[rank + 1:]
        margin = _margin(best, others)
        sure = margin >= MIN_MARGIN and (evidence >= MIN_EVIDENCE_BYTES or best.coherence >= CLEAR_LANGUAGE)
        close = [m for m in others if _margin(best, [m]) < 0.2 and m.chaos < best.chaos + TIE_CHAOS]
        known = sorted(close, key=lambda m: codecs.lookup(m.encoding).name.replace("-", "_") not in _LABELS)
        alternatives = tuple(dict.fromkeys(encoding_label(m.encoding) for m in known))[:4]
        label = encoding_label(codec)
        confidence = round((1.0 - best.chaos) * (1.0 if sure else 0.5), 2)
        notes = () if sure else (_unsure_note(name, label, alternatives, evidence, where),)
        return Decoded(text, codec, label, "detected", confidence, sure, alternatives if not sure else (),
                       notes)
    note = (f"{name!r} is not valid UTF-8 ({where}) and no known encoding fits it; it was read as ISO-8859-1 "
            "(Latin-1), so some characters are probably wrong. Choose its encoding in the Data tab's Encoding menu "
            "(or pass encoding=...), or re-save the file as UTF-8 (in Excel: 'CSV UTF-8').")
    return Decoded(raw.decode("latin-1"), "latin-1", encoding_label("latin-1"), "detected", 0.0, False, (), (note,))


def _evidence(raw: bytes) -> bytes:
    """The lines of ``raw`` that hold non-ASCII bytes, up to :data:`SAMPLE_BYTES` (whole lines).

    Plain ASCII lines read the same in every candidate encoding, so they only dilute the evidence: a file of 3,000
    English rows and then five Chinese ones is decided on the Chinese rows. Splitting at ``\n`` is safe, since
    no byte of a multi-byte character in these encodings is ``0x0A`` (UTF-16 is handled before).
    """
    lines, size = [], 0
    for line in raw.splitlines(keepends=True):
        if size >= SAMPLE_BYTES:
            break
        if max(line, default=0) >= 0x80:
            lines.append(line)
            size += len(line)
    return b"".join(lines) or raw[:SAMPLE_BYTES]


def _margin(best, others) -> float:
    """Least lead of ``best`` over the ``others`` that decode to other text about as cleanly (mess ratio within
    :data:`TIE_CHAOS`): (their mess − its mess) + (its language fit − theirs); 1 when there are none."""
    text = str(best)
    return min(((m.chaos - best.chaos) + (best.coherence - m.coherence) for m in others
                if str(m) != text and m.chaos < best.chaos + TIE_CHAOS), default=1.0)


def _codecs(match) -> list[str]:
    """The codecs that decode to the same text as ``match`` (charset-normalizer merges them), its own first."""
    return [match.encoding] + [c for c in match.could_be_from_charset if c != match.encoding]


def _unsure_note(name: str, label: str, alternatives: tuple[str, ...], evidence: int, where: str) -> str:
    why = (f"it has only {evidence} non-ASCII bytes" if evidence < MIN_EVIDENCE_BYTES
           else "other encodings fit it about as well")
    could = f"; it could also be {', '.join(alternatives)}" if alternatives else ""
    return (f"{name!r} is not valid UTF-8 ({where}); it was read as {label}, but the encoding is unsure: {why}"
            f"{could}. Check the preview; if the text looks wrong, choose the encoding in the Encoding menu (or pass "
            "encoding=...), or re-save the file as UTF-8 (in Excel: 'CSV UTF-8').")

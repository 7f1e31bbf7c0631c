"""Tiny random-init Hugging Face checkpoints with local tokenizers, built at test time (no network)."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    PreTrainedTokenizerFast,
)

WORDS = (
    "good great gorgeous witty fun superb lovely brilliant bad awful boring dull terrible poor weak "
    "movie film plot actor story a the an is was it this that and but not very so with of to in "
    "sports game team win news world market stock price tech phone science spam free call now prize"
).split()


def build_tokenizer(path: Path, lowercase: bool = True, extra_words: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer over :data:`WORDS` (plus ``extra_words``) with BERT's special tokens, saved to ``path``."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = WORDS + [w for w in dict.fromkeys(extra_words) if w not in WORDS]
    vocab = {tok: i for i, tok in enumerate(specials + words + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"])}
    for c in "abcdefghijklmnopqrstuvwxyz,.!?'":  # 'a' is also a word: setdefault keeps ids contiguous
        vocab.setdefault(c, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    fast.save_pretrained(path)
    return fast


def build_tiny_model(path: Path, family: str = "bert", num_labels: int = 2, seed: int = 0, *, hidden: int = 32,
                     layers: int = 2, extra_words: tuple[str, ...] = ()) -> Path:
    """Save a tiny random-init sequence classifier (2 layers, 2 heads, hidden 32) plus tokenizer to ``path``.

    Args:
        path: Folder to write (created).
        family: ``"bert"`` or ``"distilbert"``.
        num_labels: Size of the classification head.
        seed: torch seed of the random init.
        hidden: BERT only: hidden size (the feed-forward layer is 4x wider above the default 32).
        layers: BERT only: number of transformer blocks.
        extra_words: Words added to the tokenizer's vocabulary as whole tokens (e.g. a fixture's names).

    Returns:
        ``path``.
    """
    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(path, extra_words=tuple(extra_words))
    torch.manual_seed(seed)
    if family == "bert":
        config = BertConfig(
            vocab_size=len(tok), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
            intermediate_size=64 if hidden == 32 else 4 * hidden, max_position_embeddings=128, num_labels=num_labels,
        )
        model = BertForSequenceClassification(config)
    elif family == "distilbert":
        config = DistilBertConfig(
            vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
            max_position_embeddings=128, num_labels=num_labels,
        )
        model = DistilBertForSequenceClassification(config)
    else:
        raise ValueError(f"Expected family 'bert' or 'distilbert'. Received: {family!r}.")
    model.save_pretrained(path)
    return path

"""Acceptance: every rendered attention map is the model's own ``output_attentions``, for four model families.

Tiny random-init BERT, DistilBERT, RoBERTa (byte-level BPE) and DeBERTa-v2 classifiers are built at test time with a
large init range, so that their attention is far from uniform and a wrong layer, head or token order would show.
The reference is a separate copy of each model loaded with ``attn_implementation="eager"``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import WORDS, build_tokenizer
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DebertaV2Config,
    PreTrainedTokenizerFast,
    RobertaConfig,
)

from kdemo.explain.attention import AttentionMaps, compute_attention, plot_head, plot_layer_heads, plot_model_view
from kdemo.explain.attention_html import read_view_payload, view_html
from kdemo.explain.attention_math import merge_word_pieces, segment_block
from kdemo.inference.predictor import load_predictor

TEXT = "The movie was superbly witty, but the plot was dull."
PAIR = "A gorgeous actor and a boring story."
FAMILIES = ["bert", "distilbert", "roberta", "deberta-v2"]
TOL = 1e-6


def _bpe_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with RoBERTa's special tokens, trained on :data:`WORDS` at test time."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    trainer = trainers.BpeTrainer(
        vocab_size=320, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator([" ".join(WORDS)] * 3, trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")), trim_offsets=True, add_prefix_space=False
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="<unk>",
        pad_token="<pad>", mask_token="<mask>", model_max_length=128,
    )
    fast.save_pretrained(path)
    return fast


def _build(path: Path, family: str, source: Path | None) -> Path:
    """Save a tiny classifier of ``family`` with a large init range (peaky attention) and its tokenizer."""
    path.mkdir(parents=True, exist_ok=True)
    if family in ("bert", "distilbert"):
        for f in source.iterdir():  # the conftest tokenizer; a fresh, peakier model of the same config
            if "token" in f.name or f.name == "vocab.txt":
                shutil.copy(f, path / f.name)
        config = AutoConfig.from_pretrained(source)
    elif family == "roberta":
        tok = _bpe_tokenizer(path)
        config = RobertaConfig(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=130, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, type_vocab_size=1, num_labels=2,
        )
    else:
        tok = build_tokenizer(path)
        config = DebertaV2Config(
            vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            max_position_embeddings=128, pad_token_id=tok.pad_token_id, type_vocab_size=0, num_labels=2,
        )
    config.initializer_range = 0.5
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tiny_bert_dir, tiny_distilbert_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("attention-families")
    sources = {"bert": tiny_bert_dir, "distilbert": tiny_distilbert_dir}
    return {f: _build(root / f, f, sources.get(f)) for f in FAMILIES}


@pytest.fixture(scope="module")
def loaded(folders):
    """``{family: (model as kdemo uses it (default attention), tokenizer)}``."""
    out = {}
    for family, folder in folders.items():
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        out[family] = (model, AutoTokenizer.from_pretrained(folder))
    return out


def _reference(folder: Path, text: str, pair: str | None = None) -> tuple[dict, np.ndarray]:
    """The tokenizer's output and the model's own attention, from a separate eager copy."""
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(text, pair, return_tensors="pt", return_special_tokens_mask=True)
    accepted = {"input_ids", "attention_mask"} | ({"token_type_ids"} if "token_type_ids" in model.forward.__code__.co_varnames else set())
    with torch.no_grad():
        out = model(**{k: v for k, v in enc.items() if k in accepted}, output_attentions=True)
    return enc, torch.stack([a[0] for a in out.attentions]).numpy()


def _image(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


# ---------------------------------------------------------------------------------------------------- extraction
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("pair", [None, PAIR], ids=["single", "pair"])
def test_maps_are_the_models_output_attentions(family, pair, folders, loaded):
    model, tok = loaded[family]
    enc, reference = _reference(folders[family], TEXT, pair)
    maps = compute_attention(model, tok, TEXT, pair)
    ids = enc["input_ids"][0].tolist()
    assert maps.tokens == tok.convert_ids_to_tokens(ids)  # exactly the tokenizer's tokens, no padding
    assert maps.att.shape == (2, 2, len(ids), len(ids)) == reference.shape
    assert np.abs(maps.att - reference).max() <= TOL
    np.testing.assert_allclose(maps.att.sum(axis=-1), 1.0, atol=1e-5)  # rows sum to 1 over the kept tokens
    assert maps.att.max(axis=-1).mean() > 0.3  # peaky, not uniform: the comparisons above can tell heads apart
    assert maps.info.special.tolist() == enc["special_tokens_mask"][0].bool().tolist()
    if pair is not None and "token_type_ids" in enc and family != "roberta":
        assert maps.info.segments.tolist() == enc["token_type_ids"][0].tolist()
    assert model.config._attn_implementation != "eager" or family == "deberta-v2"  # switched back after the pass


@pytest.mark.parametrize("family", FAMILIES)
def test_every_rendered_map_equals_the_model(family, folders, loaded):
    model, tok = loaded[family]
    _, reference = _reference(folders[family], TEXT, PAIR)
    maps = compute_attention(model, tok, TEXT, PAIR)
    n = len(maps.tokens)
    for layer in range(2):
        for head in range(2):
            fig = plot_head(maps.tokens, maps.att, layer, head)
            assert np.abs(_image(fig.axes[0]) - reference[layer, head]).max() <= TOL
        panels = [ax for ax in plot_layer_heads(maps.tokens, maps.att, layer).axes if ax.images]
        for head in range(2):
            assert np.abs(_image(panels[head]) - reference[layer, head]).max() <= TOL
        assert np.abs(_image(panels[2]) - reference[layer].mean(axis=0)).max() <= TOL
    mosaic = _image(plot_model_view(maps.att).axes[0])
    for layer in range(2):
        for head in range(2):
            tile = mosaic[layer * (n + 1): layer * (n + 1) + n, head * (n + 1): head * (n + 1) + n]
            assert np.abs(tile - reference[layer, head]).max() <= TOL
    # The browser views get the same float32 numbers, byte for byte.
    html = view_html(maps.att, maps.tokens, maps.tokens, row_special=maps.info.special, col_special=maps.info.special, title="t")
    payload = read_view_payload(html)
    assert payload["rows"] == maps.tokens and payload["shape"] == [2, 2, n, n]
    assert np.abs(payload["att"] - reference).max() <= TOL
    # Sentence-pair filters cut the model's own numbers, rows from one text and columns from the other.
    for pair_filter in ("A→A", "A→B", "B→A", "B→B"):
        rows, cols, block = segment_block(maps.att, maps.info.segments, pair_filter)
        assert np.abs(block - reference[:, :, rows][:, :, :, cols]).max() <= TOL
        fig = plot_head([maps.tokens[i] for i in rows], block, 1, 0, col_tokens=[maps.tokens[j] for j in cols])
        assert np.abs(_image(fig.axes[0]) - reference[1, 0][np.ix_(rows, cols)]).max() <= TOL
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [maps.tokens[j] for j in cols]


def test_pair_segments_follow_the_texts(loaded):
    model, tok = loaded["bert"]
    maps = compute_attention(model, tok, "a witty film", "a dull plot")
    assert maps.tokens == ["[CLS]", "a", "witty", "film", "[SEP]", "a", "dull", "plot", "[SEP]"]
    assert maps.info.segments.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    rows, cols, _ = segment_block(maps.att, maps.info.segments, "A→B")
    assert [maps.tokens[i] for i in rows] == ["[CLS]", "a", "witty", "film", "[SEP]"]
    assert [maps.tokens[j] for j in cols] == ["a", "dull", "plot", "[SEP]"]
    model, tok = loaded["roberta"]
    maps = compute_attention(model, tok, "a witty film", "a dull plot")
    first_b = maps.tokens.index("</s>") + 2  # <s> A </s></s> B </s>
    assert maps.info.segments.tolist() == [0] * first_b + [1] * (len(maps.tokens) - first_b)


# ---------------------------------------------------------------------------------------------------- words
@pytest.mark.parametrize("family", FAMILIES)
def test_merged_words_average_rows_and_sum_columns_of_the_models_maps(family, folders, loaded):
    model, tok = loaded[family]
    _, reference = _reference(folders[family], TEXT, PAIR)
    maps = compute_attention(model, tok, TEXT, PAIR)
    words = maps.merge_words()
    assert words.merged and words.merge_words() is words
    special = tok.all_special_tokens
    assert [w for w in words.tokens if w not in special] == [
        "The", "movie", "was", "superbly", "witty", ",", "but", "the", "plot", "was", "dull", ".",
        "A", "gorgeous", "actor", "and", "a", "boring", "story", ".",
    ]  # the words as written (case kept), whatever the pieces
    assert len(words.tokens) < len(maps.tokens)
    np.testing.assert_allclose(words.att.sum(axis=-1), 1.0, atol=1e-5)
    expected = merge_word_pieces(reference, maps.info.groups)
    assert np.abs(words.att - expected).max() <= TOL
    # by hand for one split word: rows of its pieces averaged, its columns summed
    g = words.tokens.index("superbly")
    pieces = np.flatnonzero(maps.info.groups == g)
    assert len(pieces) > 1
    assert words.att[1, 0, g, g] == pytest.approx(reference[1, 0][np.ix_(pieces, pieces)].sum(axis=1).mean(), abs=TOL)


def test_truncation_keeps_special_tokens_and_labels_cut_words_by_their_kept_part(loaded):
    model, tok = loaded["bert"]
    maps = compute_attention(model, tok, "the movie was superbly fun", maxlen=7)
    assert maps.tokens == ["[CLS]", "the", "movie", "was", "superb", "##l", "[SEP]"]
    assert maps.merge_words().tokens == ["[CLS]", "the", "movie", "was", "superbl", "[SEP]"]


# ---------------------------------------------------------------------------------------------------- predictor
def test_predictor_attention_returns_maps_that_unpack_as_tokens_and_att(folders):
    predictor = load_predictor(folders["distilbert"])
    maps = predictor.attention(TEXT, PAIR)
    assert isinstance(maps, AttentionMaps)
    tokens, att = maps
    _, reference = _reference(folders["distilbert"], TEXT, PAIR)
    assert tokens == maps.tokens and np.abs(att - reference).max() <= TOL
    assert maps.info.segments.max() == 1
    single_tokens, _ = predictor.attention(TEXT, "")  # an empty second text is no pair
    assert single_tokens.count("[SEP]") == 1

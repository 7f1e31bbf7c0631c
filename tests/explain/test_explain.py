"""Token attributions: integrated-gradients completeness, a model-randomisation sanity check, gradient × input.

Two model families (tiny BERT and DistilBERT) are trained at test time on the toy sentiment table, so that the
attributions have something to find.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import NEGATIVE, POSITIVE, sentiment_frame
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from kdemo.errors import KdemoError
from kdemo.explain.attributions import Attribution, explain
from kdemo.inference.predictor import Predictor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ["negative", "positive"]
TEXTS = [
    "the movie was great superb fun",
    "the movie was awful boring dull",
    "the movie was witty and lovely but the plot was weak",
]
#: Texts whose predicted logit differs clearly from the all-[PAD] baseline's in both tiny models (the toy models
#: learned "negative words → negative"; for a positive text the [PAD] baseline can already be as positive).
MOVED = ["the movie was awful boring dull", "the movie was bad poor terrible", "the movie was dull"]


def _train(folder, seed: int = 0):
    """Fine-tune a tiny classifier on the toy sentiment table with a plain torch loop (3 epochs)."""
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    df = sentiment_frame(200, seed=seed)
    enc = tok(df["text"].tolist(), padding=True, return_tensors="pt")
    inputs = {k: enc[k] for k in ("input_ids", "attention_mask")}
    labels = torch.tensor((df["label"] == "positive").astype(int).to_numpy())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(3):
        for idx in torch.randperm(len(df)).split(16):
            loss = model(**{k: v[idx] for k, v in inputs.items()}, labels=labels[idx]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(**inputs).logits.argmax(-1) == labels).float().mean().item()
    assert accuracy >= 0.95, f"the tiny model did not learn the toy task (accuracy {accuracy:.2f})"
    model.zero_grad(set_to_none=True)
    return model, tok


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tiny_distilbert_dir):
    return {"bert": _train(tiny_bert_dir), "distilbert": _train(tiny_distilbert_dir)}


def _logit(model, tok, ids: torch.Tensor, target: int) -> float:
    with torch.no_grad():
        return float(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0, target])


# ---------------------------------------------------------------------------------------------------- completeness
@pytest.mark.parametrize("family", ["bert", "distilbert"])
@pytest.mark.parametrize("text", MOVED)
def test_ig_scores_sum_to_the_logit_change_within_5_percent(family, text, trained):
    model, tok = trained[family]
    result = explain(model, tok, text)  # default steps
    assert result.method == "ig" and result.steps >= 50
    # f(x) and f(baseline) computed here, independently: baseline = [PAD] at every text token, special tokens kept.
    ids = tok(text, return_tensors="pt")["input_ids"]
    special = torch.tensor(tok.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True), dtype=torch.bool)
    baseline = torch.where(special, ids[0], torch.full_like(ids[0], tok.pad_token_id))[None]
    f_x, f_0 = _logit(model, tok, ids, result.target), _logit(model, tok, baseline, result.target)
    assert result.f_input == pytest.approx(f_x, abs=1e-4) and result.f_baseline == pytest.approx(f_0, abs=1e-4)
    assert abs(f_x - f_0) > 0.5, "the test needs a real change of the logit to be meaningful"
    assert abs(result.scores.sum() - (f_x - f_0)) <= 0.05 * abs(f_x - f_0)
    assert result.relative_gap <= 0.05
    assert result.scores[special.numpy()].tolist() == [0.0] * int(special.sum())  # x = x' there
    assert result.tokens == tok.convert_ids_to_tokens(ids[0].tolist())


def test_ig_converges_as_steps_grow(trained):
    model, tok = trained["bert"]
    gaps = [abs(explain(model, tok, MOVED[0], steps=s, tolerance=None).completeness_gap) for s in (8, 64, 512)]
    assert gaps[2] < gaps[1] < gaps[0]
    assert gaps[2] <= 0.01 * abs(explain(model, tok, MOVED[0], steps=8, tolerance=None).f_input)


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_steps_are_refined_only_when_the_fixed_rule_misses_5_percent(family, trained):
    model, tok = trained[family]
    for text in MOVED:
        fixed = explain(model, tok, text, steps=50, tolerance=None)
        refined = explain(model, tok, text, steps=50)
        assert fixed.steps == 50
        assert (fixed.relative_gap > 0.05) == (refined.steps > 50), (text, fixed.relative_gap, refined.steps)
        assert refined.steps in (50, 100, 200, 400, 800)
        if refined.steps == 50:
            np.testing.assert_array_equal(refined.scores, fixed.scores)


# ---------------------------------------------------------------------------------------------------- they find the evidence
@pytest.mark.parametrize(
    ("family", "text", "label", "words"),
    [
        ("bert", MOVED[0], "negative", NEGATIVE),
        ("bert", MOVED[1], "negative", NEGATIVE),
        ("distilbert", MOVED[0], "negative", NEGATIVE),
        ("distilbert", TEXTS[0], "positive", POSITIVE),
    ],
)
def test_top_attributions_are_the_sentiment_words(family, text, label, words, trained):
    model, tok = trained[family]
    result = explain(model, tok, text, class_names=CLASSES)
    assert result.label == label
    top = [result.tokens[i] for i in np.argsort(-result.scores)[:3]]
    assert set(top) <= set(words), (top, result.scores)
    assert all(result.scores[result.tokens.index(w)] > 0 for w in top)  # they raised the predicted class's logit


# ---------------------------------------------------------------------------------------------------- sanity check
@pytest.mark.parametrize("method", ["ig", "grad_x_input"])
def test_randomising_the_classifier_changes_the_attributions(method, trained):
    """Model-parameter randomisation test (Adebayo et al., 2018, https://arxiv.org/abs/1810.03292)."""
    model, tok = trained["bert"]
    text = MOVED[0]
    first = explain(model, tok, text, method=method, target=0)
    again = explain(model, tok, text, method=method, target=0)
    np.testing.assert_array_equal(first.scores, again.scores)  # deterministic: a difference below is the weights'
    randomised = copy.deepcopy(model)
    torch.manual_seed(123)
    for param in list(randomised.classifier.parameters()) + list(randomised.bert.pooler.parameters()):
        torch.nn.init.normal_(param, std=0.5)
    other = explain(randomised, tok, text, method=method, target=0)
    a, b = first.scores, other.scores
    relative_change = np.linalg.norm(a / np.linalg.norm(a) - b / np.linalg.norm(b))
    assert relative_change > 0.3, relative_change
    def rank(v):
        return np.argsort(np.argsort(v))

    assert np.corrcoef(rank(a), rank(b))[0, 1] < 0.8


# ---------------------------------------------------------------------------------------------------- gradient x input
def test_gradient_times_input_is_embedding_times_gradient(trained):
    model, tok = trained["distilbert"]
    result = explain(model, tok, TEXTS[0], method="grad_x_input")
    ids = tok(TEXTS[0], return_tensors="pt")["input_ids"]
    x = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    logit = model(inputs_embeds=x, attention_mask=torch.ones_like(ids)).logits[0, result.target]
    (grad,) = torch.autograd.grad(logit, x)
    np.testing.assert_allclose(result.scores, (x * grad)[0].sum(-1).detach().numpy(), rtol=1e-4, atol=1e-6)
    assert result.f_baseline is None and result.completeness_gap is None and result.relative_gap is None
    assert result.scores[0] != 0.0  # special tokens get scores too


# ---------------------------------------------------------------------------------------------------- words, API, errors
def test_merged_words_sum_their_pieces_and_keep_completeness(trained):
    model, tok = trained["bert"]
    result = explain(model, tok, "the movie was superbly fun", class_names=CLASSES)
    assert "##l" in result.tokens
    words = result.merge_words()
    assert words.tokens == ["[CLS]", "the", "movie", "was", "superbly", "fun", "[SEP]"]
    pieces = [i for i, t in enumerate(result.tokens) if t in ("superb", "##l", "##y")]
    assert words.scores[4] == pytest.approx(result.scores[pieces].sum())
    assert words.scores.sum() == pytest.approx(result.scores.sum())
    assert words.completeness_gap == pytest.approx(result.completeness_gap)
    tokens, scores = words
    assert tokens == words.tokens and scores is words.scores


def test_sentence_pair_and_target(trained):
    model, tok = trained["bert"]
    result = explain(model, tok, "a witty film", "a dull plot", target=0, class_names=CLASSES)
    assert result.tokens == ["[CLS]", "a", "witty", "film", "[SEP]", "a", "dull", "plot", "[SEP]"]
    assert result.target == 0 and result.label == "negative"
    assert result.relative_gap <= 0.05


def test_explain_leaves_the_model_as_it_was(trained):
    model, tok = trained["distilbert"]
    model.train()
    try:
        explain(model, tok, TEXTS[0], steps=5)
        assert model.training
        assert all(p.grad is None for p in model.parameters())  # gradients are taken w.r.t. the input only
    finally:
        model.eval()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"text": "  "}, r"Expected a non-empty text to explain"),
        ({"method": "lime"}, r"Expected method 'ig' or 'grad_x_input'. Received: method='lime'"),
        ({"steps": 0}, r"Expected steps as a whole number from 1 to 1000. Received: steps=0"),
        ({"steps": 2.5}, r"Received: steps=2.5"),
        ({"target": 2}, r"Expected target as a class id 0–1. Received: target=2"),
        ({"tolerance": 0.0}, r"Expected tolerance as a fraction between 0 and 1 \(or None\)"),
        ({"steps": 50, "max_steps": 10}, r"Expected max_steps as a whole number >= steps \(50\)"),
    ],
)
def test_bad_arguments_get_clear_messages(kwargs, match, trained):
    model, tok = trained["bert"]
    args = {"text": "great fun", **kwargs}
    with pytest.raises(KdemoError, match=match):
        explain(model, tok, args.pop("text"), **args)


def test_predictor_explain_explains_the_predicted_label(trained):
    model, tok = trained["bert"]
    predictor = Predictor(model, tok, CLASSES, maxlen=32)
    for text in TEXTS[:2]:
        result = predictor.attributions(text, method="ig", steps=20)
        assert isinstance(result, Attribution)
        assert result.label == predictor.predict(text)
        shown = predictor.explain(text, steps=20)  # ktrain's explain: HTML a notebook displays
        assert f"y={result.label}" in shown._repr_html_() and shown.attribution.label == result.label
    with pytest.raises(KdemoError, match="non-empty text"):
        predictor.attributions("")
    with pytest.raises(KdemoError, match="non-empty text"):
        predictor.explain("")

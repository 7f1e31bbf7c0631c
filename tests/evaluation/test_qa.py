"""kdemo.evaluation.qa and qa_postprocess: run_qa's post-processing (against the test-side reference of
``utils_qa.postprocess_qa_predictions``), the official SQuAD v1.1/v2.0 scores (against the test-side reference of
the official scripts), the QA report and the per-question losses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from run_qa_reference import postprocess_qa_predictions as reference_postprocess
from squad_reference import squad_v1_score, squad_v2_score

from kdemo.errors import DataError
from kdemo.evaluation.qa import QAReport, normalize_answer, qa_report, squad_metrics
from kdemo.evaluation.qa_postprocess import postprocess_qa_predictions, question_losses

WORDS = ["the", "a", "An", "cat", "Dog's", "café", "naïve", "Straße", "İstanbul", "1,000", "U.S.", "(x)", "—", "“hi”",
         "e-mail", "Théâtre", "日本", "x²", "THE", "an", "apple", "pie", "...", "$5", "Köln", "über", "a.m."]


def random_case(rng: np.random.Generator, num_examples: int, *, version_2: bool, ties: bool = False,
                max_context: bool = False, pad: int = 7):
    """Random examples and windows in kdemo's form and in run_qa's, with their logits.

    Each context is ``n`` words; it is cut into 1–4 overlapping windows of ``[CLS] question [SEP] context [SEP]``
    whose question and special tokens map to no character (``(-1, -1)``, run_qa's None); the logits are padded to
    the longest window plus up to ``pad`` positions. ``ties`` rounds the logits to few integers so scores tie often.
    """
    examples, kd_features, hf_features, lengths = [], [], [], []
    for k in range(num_examples):
        words = rng.choice(WORDS, size=int(rng.integers(2, 45))).tolist()
        context, spans = "", []
        for w in words:
            context += (" " * int(rng.integers(1, 3))) if context else ""
            spans.append((len(context), len(context) + len(w)))
            context += w
        truth = [] if version_2 and rng.random() < 0.3 else [context[spans[0][0]:spans[min(2, len(spans) - 1)][1]]]
        examples.append({"id": f"q{k}", "question": f"question {k} | what?", "context": context,
                         "answers": {"text": truth, "answer_start": [0] * len(truth)}})
        num_windows = int(rng.integers(1, 5))
        size = max(1, -(-len(words) // num_windows) + int(rng.integers(0, 4)))
        stride = max(1, (len(words) - size) // max(1, num_windows - 1)) if num_windows > 1 else 1
        question_len = int(rng.integers(1, 6))
        for w in range(num_windows):
            first = min(w * stride, max(0, len(words) - size))
            window = spans[first:first + size]
            hf_offsets = [None] * (question_len + 2) + list(window) + [None]
            kd_offsets = np.array([(-1, -1) if o is None else o for o in hf_offsets], dtype=np.int64)
            kd, hf = {"example_index": k, "offset_mapping": kd_offsets}, {"example_id": f"q{k}",
                                                                          "offset_mapping": hf_offsets}
            if max_context:
                flags = {str(i): bool(rng.random() < 0.7) for i in range(len(hf_offsets))}
                kd["token_is_max_context"] = hf["token_is_max_context"] = flags
            kd_features.append(kd)
            hf_features.append(hf)
            lengths.append(len(hf_offsets))
    seq_len = max(lengths) + int(rng.integers(0, pad + 1))
    start = (3 * rng.standard_normal((len(kd_features), seq_len))).astype(np.float32)
    end = (3 * rng.standard_normal((len(kd_features), seq_len))).astype(np.float32)
    if ties:
        start, end = np.round(start / 2), np.round(end / 2)
    return examples, kd_features, hf_features, start, end


def assert_same_as_reference(examples, kd_features, hf_features, start, end, **kwargs):
    ours = postprocess_qa_predictions(examples, kd_features, start, end, **kwargs)
    answers, nbest, diffs = reference_postprocess(examples, hf_features, (start, end), **kwargs)
    assert ours.answers == answers
    assert list(ours.nbest) == list(nbest)
    contexts = {e["id"]: e["context"] for e in examples}
    for qid, theirs in nbest.items():
        mine = ours.nbest[qid]
        assert [c["text"] for c in mine] == [c["text"] for c in theirs], qid
        for key in ("probability", "start_logit", "end_logit"):
            np.testing.assert_allclose([c[key] for c in mine], [c[key] for c in theirs], rtol=0, atol=1e-6)
            assert all(type(c[key]) is float for c in mine)
        for c in mine:
            if c["start"] is not None:
                assert contexts[qid][c["start"]:c["end"]] == c["text"]
    assert ours.null_score_diff.keys() == diffs.keys()
    np.testing.assert_allclose(list(ours.null_score_diff.values()), list(diffs.values()), rtol=0, atol=1e-6)
    return ours


@pytest.mark.parametrize("seed, version_2, ties, max_context, n_best, max_len, threshold", [
    (0, False, False, False, 20, 30, 0.0),
    (1, True, False, False, 20, 30, 0.0),
    (2, True, True, True, 5, 4, 1.5),
    (3, False, True, True, 3, 2, 0.0),
    (4, True, False, False, 20, 30, -2.0),
    (5, True, True, False, 20, 30, 0.0),
    (6, False, True, False, 20, 30, 0.0),
])
def test_postprocessing_equals_run_qa_on_random_logits(seed, version_2, ties, max_context, n_best, max_len, threshold):
    rng = np.random.default_rng(seed)
    case = random_case(rng, 220, version_2=version_2, ties=ties, max_context=max_context)
    kwargs = {"version_2_with_negative": version_2, "n_best_size": n_best, "max_answer_length": max_len}
    if version_2:
        kwargs["null_score_diff_threshold"] = threshold
    ours = assert_same_as_reference(*case, **kwargs)
    assert len(case[1]) > 220 and len(ours.answers) == 220  # several windows per question on average
    if version_2:
        assert 0 < sum(a == "" for a in ours.answers.values()) < 220  # both outcomes of the null comparison seen


def test_list_logits_of_unequal_length_and_run_qa_offsets_are_accepted():
    rng = np.random.default_rng(5)
    examples, kd_features, hf_features, start, end = random_case(rng, 30, version_2=True)
    widths = [len(f["offset_mapping"]) + int(rng.integers(0, 3)) for f in kd_features]
    start_list, end_list = [s[:w] for s, w in zip(start, widths)], [e[:w] for e, w in zip(end, widths)]
    ours = postprocess_qa_predictions(examples, kd_features, start_list, end_list, version_2_with_negative=True)
    answers, _, _ = reference_postprocess(examples, hf_features, (start_list, end_list), version_2_with_negative=True)
    assert ours.answers == answers
    run_qa_form = [{**k, "offset_mapping": h["offset_mapping"]} for k, h in zip(kd_features, hf_features)]
    again = postprocess_qa_predictions(examples, run_qa_form, start_list, end_list, version_2_with_negative=True)
    assert again == ours


def test_a_question_without_any_valid_span_answers_empty_as_run_qa_does():
    examples = [{"id": "a", "context": "no span here"}, {"id": "b", "context": "one two"}]
    offsets = np.array([[-1, -1]] * 4, dtype=np.int64)
    kd = [{"example_index": 0, "offset_mapping": offsets},
          {"example_index": 1, "offset_mapping": np.array([[-1, -1], [0, 3], [4, 7], [-1, -1]])}]
    hf = [{"example_id": "a", "offset_mapping": [None] * 4},
          {"example_id": "b", "offset_mapping": [None, (0, 3), (4, 7), None]}]
    start = np.array([[1.0, 0.5, 0.2, 9.0], [0.0, 2.0, 1.0, 9.0]], dtype=np.float32)
    end = np.array([[1.0, 0.5, 0.2, 9.0], [0.0, 1.0, 3.0, 9.0]], dtype=np.float32)
    v1 = assert_same_as_reference(examples, kd, hf, start, end)
    assert v1.answers == {"a": "empty", "b": "one two"}
    assert v1.nbest["a"] == [{"text": "empty", "probability": 1.0, "start_logit": 0.0, "end_logit": 0.0,
                              "start": None, "end": None}]
    v2 = assert_same_as_reference(examples, kd, hf, start, end, version_2_with_negative=True)
    assert v2.answers["a"] == ""  # the null score 2.0 beats the placeholder's 0.0
    assert [c["text"] for c in v2.nbest["a"]] == ["empty", ""] and v2.nbest["a"][1]["start"] is None
    assert v2.null_score_diff["a"] == pytest.approx(2.0)


def test_bad_windows_are_refused_with_the_window_named():
    examples = [{"id": "a", "context": "x"}]
    feature = {"example_index": 3, "offset_mapping": np.array([[0, 1]])}
    with pytest.raises(DataError, match="window 0"):
        postprocess_qa_predictions(examples, [feature], np.zeros((1, 1)), np.zeros((1, 1)))
    with pytest.raises(DataError, match="one row of start and end logits"):
        postprocess_qa_predictions(examples, [feature], np.zeros((2, 1)), np.zeros((2, 1)))


def _dataset(references: dict[str, list[str]]) -> list[dict]:
    qas = [{"id": qid, "answers": [{"text": t, "answer_start": 0} for t in texts]} for qid, texts in references.items()]
    return [{"paragraphs": [{"qas": qas[:len(qas) // 2]}]}, {"paragraphs": [{"qas": qas[len(qas) // 2:]}]}]


EDGE_CASES = [
    (["The Cat"], "cat"), (["the cat"], "a cat!"), (["Denver Broncos"], "Denver Broncos."), (["1,000"], "1000"),
    (["U.S. Army"], "US army"), (["an apple pie"], "apple"), (["café au lait"], "Café"), (["naïve"], "naive"),
    (["Straße", "Strasse"], "strasse"), (["İstanbul"], "istanbul"), (["“quoted”"], "quoted"), (["x — y"], "x y"),
    (["the"], ""), (["a an the"], "the"), (["New York", "NYC", "new york city"], "New York City"),
    (["left"], "right"), (["  spaced\tout\u00a0words "], "spaced out words"), (["日本"], "日本"),
    (["the the cat cat"], "cat the cat"), (["Theater"], "the ater"), ([""], ""), (["...", "!"], ""),
]


def fixed_predictions(seed: int, n: int, unanswerable: float):
    """Edge cases, then random perturbations of random true answers (tokens dropped, added, punctuated)."""
    rng = np.random.default_rng(seed)
    references, predictions = {}, {}
    for i, (truths, guess) in enumerate(EDGE_CASES):
        references[f"e{i}"], predictions[f"e{i}"] = list(truths), guess
    for i in range(n):
        truths = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 6)))) for _ in range(int(rng.integers(1, 4)))]
        if rng.random() < unanswerable:
            truths = []
        pool = (truths or [" ".join(rng.choice(WORDS, size=2))])[0].split()
        kept = [w for w in pool if rng.random() < 0.7] + rng.choice(WORDS, size=int(rng.integers(0, 3))).tolist()
        guess = " ".join(kept) + ("." if rng.random() < 0.3 else "")
        references[f"r{i}"], predictions[f"r{i}"] = truths, ("" if rng.random() < 0.15 else guess)
    return references, predictions


def test_normalisation_is_squad_s():
    assert normalize_answer("  The  Cat's, an (Apple)! ") == "cats apple"
    assert normalize_answer("Théâtre — A.M.") == "théâtre — am"
    assert normalize_answer("a an the") == ""


def test_squad_v1_scores_equal_the_official_script():
    references, predictions = fixed_predictions(7, 300, unanswerable=0.0)
    references["missing"] = ["nobody answered"]  # no prediction: 0, still counted
    ours = squad_metrics(predictions, references)
    theirs = squad_v1_score(_dataset(references), predictions)
    assert ours["exact_match"] == pytest.approx(theirs["exact_match"], abs=1e-9)
    assert ours["f1"] == pytest.approx(theirs["f1"], abs=1e-9)
    assert ours["total"] == len(references) and set(ours) == {"exact_match", "f1", "total"}
    assert 0 < ours["exact_match"] < ours["f1"] < 100
    with pytest.raises(DataError, match="'nobody'"):
        squad_metrics({}, {"nobody": []})


def test_squad_v2_scores_and_best_thresholds_equal_the_official_script():
    references, predictions = fixed_predictions(8, 400, unanswerable=0.35)
    rng = np.random.default_rng(9)
    # no-answer scores with ties (rounded) and values past the script's 1.0 threshold
    probabilities = {qid: float(np.round(rng.normal(0.3, 1.0), 1)) for qid in references}
    plain = squad_metrics(predictions, references, version_2=True)
    official = squad_v2_score(_dataset(references), predictions)
    with_probabilities = squad_metrics(predictions, references, version_2=True, no_answer_probabilities=probabilities)
    official_probabilities = squad_v2_score(_dataset(references), predictions, na_probs=probabilities)
    names = {"exact_match": "exact", "f1": "f1", "total": "total", "has_ans_exact": "HasAns_exact",
             "has_ans_f1": "HasAns_f1", "has_ans_total": "HasAns_total", "no_ans_exact": "NoAns_exact",
             "no_ans_f1": "NoAns_f1", "no_ans_total": "NoAns_total"}
    best = {k: k for k in ("best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh")}
    for ours, theirs, keys in ((plain, official, names), (with_probabilities, official_probabilities, names | best)):
        assert set(ours) == set(keys)
        for key, their_key in keys.items():
            assert ours[key] == pytest.approx(theirs[their_key], abs=1e-9), key
    assert with_probabilities["f1"] != plain["f1"]  # the threshold changed some scores
    assert with_probabilities["best_f1"] >= with_probabilities["f1"] - 1e-9


def _report_case(seed: int, version_2: bool):
    rng = np.random.default_rng(seed)
    examples, features, _, start, end = random_case(rng, 40, version_2=version_2)
    return examples, features, start, end


@pytest.mark.parametrize("version_2", [False, True])
def test_qa_report_scores_its_answers_and_round_trips(version_2):
    examples, features, start, end = _report_case(11, version_2)
    report, predictions = qa_report(examples, features, start, end)
    assert report.version_2 is version_2  # decided from the empty answers
    references = {e["id"]: e["answers"]["text"] for e in examples}
    expected = squad_metrics(predictions.answers, references, version_2=version_2,
                             no_answer_probabilities=predictions.null_score_diff if version_2 else None)
    assert (report.exact_match, report.f1) == (expected["exact_match"], expected["f1"]) and float(report) == report.f1
    table = report.per_question
    assert list(table.columns) == ["id", "question", "answers", "predicted", "exact", "f1", "probability"]
    assert table["f1"].mean() == pytest.approx(report.f1) and 100 * table["exact"].mean() == pytest.approx(
        report.exact_match)
    assert table["predicted"].tolist() == [predictions.answers[e["id"]] for e in examples]
    assert ((table["probability"] > 0) & (table["probability"] <= 1)).all()
    assert (report.num_rows, report.num_windows) == (40, len(features))
    data = json.loads(json.dumps(report.to_dict()))
    halves = ["has_ans_exact", "has_ans_f1", "has_ans_total", "no_ans_exact", "no_ans_f1", "no_ans_total"]
    assert set(data) == {"exact_match", "f1", "num_rows", "num_windows", "version_2", "per_question"} | (
        set(halves) | {"best_f1_thresh"} if version_2 else set())
    again = QAReport.from_dict(data)
    assert again == report and again is not report
    assert f"F1 {report.f1:.2f}" in str(report) and "40 questions" in str(report)
    markdown = report.to_markdown(worst=3)
    assert "| F1 |" in markdown and "\\| what?" in markdown  # the question's pipe escaped in its cell
    assert "Worst 3 questions" in markdown and markdown.count("\n| question ") == 1 + 3  # header, 3 rows
    if version_2:
        assert report.has_ans_total + report.no_ans_total == 40 and report.best_f1_thresh is not None
    else:
        assert report.has_ans_f1 is None and report.best_f1_thresh is None


def test_a_changed_report_is_not_equal():
    report, _ = qa_report(*_report_case(12, True))
    data = report.to_dict()
    data["per_question"][0]["f1"] += 1.0
    assert QAReport.from_dict(data) != report


def test_question_losses_are_hf_s_qa_loss_of_the_worst_window():
    rng = np.random.default_rng(13)
    start, end = rng.standard_normal((5, 9)), rng.standard_normal((5, 9))
    features = [{"example_index": i} for i in (0, 0, 1, 2, 2)]
    start_pos, end_pos = np.array([0, 3, 2, -4, 20]), np.array([0, 5, 20, 4, 20])
    losses = question_losses(features, start, end, start_pos, end_pos, num_examples=4)

    def hf_loss(i):  # BertForQuestionAnswering's loss of one window
        ignored = start.shape[1]
        s = torch.tensor([start_pos[i]]).clamp(0, ignored)
        e = torch.tensor([end_pos[i]]).clamp(0, ignored)
        ce = torch.nn.CrossEntropyLoss(ignore_index=ignored)
        return (ce(torch.tensor(start[i:i + 1]), s) + ce(torch.tensor(end[i:i + 1]), e)).item() / 2

    start_only = torch.nn.functional.cross_entropy(torch.tensor(start[2:3]), torch.tensor([2])).item()
    assert losses == pytest.approx([max(hf_loss(0), hf_loss(1)), start_only, hf_loss(3), 0.0])
    with pytest.raises(DataError, match="each of the 5 windows"):
        question_losses(features, start, end, start_pos[:4], end_pos)

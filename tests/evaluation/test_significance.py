"""Confidence intervals and paired tests (kdemo.evaluation.significance) against statsmodels and a reference
bootstrap written here from the textbook definition (Efron & Tibshirani 1993; Koehn 2004)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score
from statsmodels.stats.contingency_tables import mcnemar

from kdemo.evaluation.significance import bootstrap_interval, mcnemar_exact, paired_bootstrap

RNG = np.random.default_rng(42)
N = 400
Y = RNG.integers(0, 3, N)
PRED_A = np.where(RNG.random(N) < 0.60, Y, RNG.integers(0, 3, N))  # ~73 % accurate
PRED_B = np.where(RNG.random(N) < 0.90, Y, RNG.integers(0, 3, N))  # ~93 % accurate


def _macro_f1(y: np.ndarray, p: np.ndarray, k: int = 3) -> float:
    """Macro-F1 from the confusion matrix (fast enough to bootstrap thousands of times; equal to sklearn's)."""
    cm = np.bincount(y * k + p, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)))


def test_fast_macro_f1_is_sklearns():
    assert _macro_f1(Y, PRED_A) == pytest.approx(f1_score(Y, PRED_A, average="macro"))
    assert _macro_f1(Y[:5], PRED_A[:5]) == pytest.approx(f1_score(Y[:5], PRED_A[:5], average="macro", labels=[0, 1, 2]))


def _reference_bootstrap(stat, n: int, resamples: int = 4000, seed: int = 123) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([stat(rng.integers(0, n, n)) for _ in range(resamples)])


def test_mcnemar_p_value_is_statsmodels_exact_test():
    a, b = PRED_A == Y, PRED_B == Y
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    test = mcnemar_exact(a, b)
    assert test.p_value == pytest.approx(mcnemar(np.array(table), exact=True).pvalue, rel=1e-12)
    assert test.test == "mcnemar_exact" and test.difference == pytest.approx(b.mean() - a.mean())
    assert test.p_value < 0.01 and test.low > 0  # B is really better
    same = mcnemar_exact(a, a)
    assert same.p_value == 1.0 and same.difference == 0


def test_mcnemar_on_a_small_hand_table():
    # 3 rows only A right, 9 rows only B right, 10 both: binomial(12, 0.5) two-sided P(X <= 3) * 2 = 0.146
    a = np.array([1] * 3 + [0] * 9 + [1] * 10, dtype=bool)
    b = np.array([0] * 3 + [1] * 9 + [1] * 10, dtype=bool)
    assert mcnemar_exact(a, b).p_value == pytest.approx(0.14599609375)


def test_bootstrap_interval_matches_a_reference_bootstrap():
    def macro(idx):
        return _macro_f1(Y[idx], PRED_A[idx])

    ci = bootstrap_interval(macro, N, n_resamples=4000)
    ref = _reference_bootstrap(macro, N)
    low, high = np.percentile(ref, [2.5, 97.5])
    assert ci.value == pytest.approx(macro(np.arange(N)))
    assert ci.low == pytest.approx(low, abs=0.01) and ci.high == pytest.approx(high, abs=0.01)
    assert ci.low < ci.value < ci.high


def test_paired_bootstrap_matches_a_reference_paired_bootstrap():
    def fa(idx):
        return _macro_f1(Y[idx], PRED_A[idx])

    def fb(idx):
        return _macro_f1(Y[idx], PRED_B[idx])

    test = paired_bootstrap("macro_f1", fa, fb, N, n_resamples=4000)
    ref = _reference_bootstrap(lambda idx: fb(idx) - fa(idx), N)
    assert test.low == pytest.approx(np.percentile(ref, 2.5), abs=0.01)
    assert test.high == pytest.approx(np.percentile(ref, 97.5), abs=0.01)
    ref_p = min(1.0, 2 * min(np.mean(ref <= 0), np.mean(ref >= 0)))
    assert test.p_value == pytest.approx(ref_p, abs=0.005)
    assert test.difference == pytest.approx(fb(np.arange(N)) - fa(np.arange(N)))
    # Two equally good runs that disagree at random: no evidence of a difference.
    c = np.where(RNG.random(N) < 0.60, Y, RNG.integers(0, 3, N))
    tie = paired_bootstrap("accuracy", lambda i: np.mean(PRED_A[i] == Y[i]), lambda i: np.mean(c[i] == Y[i]), N)
    assert tie.p_value > 0.05 and tie.low < 0 < tie.high


def test_sentence_says_who_is_better_by_how_much_and_the_p_value():
    a, b = PRED_A == Y, PRED_B == Y
    text = mcnemar_exact(a, b).sentence()
    assert text.startswith("run B is better than run A by ") and "points of accuracy, 95 % CI" in text
    assert "unlikely to be chance, p = " in text
    worse = mcnemar_exact(b, a).sentence()
    assert worse.startswith("run A is better than run B by ")

"""Data-map statistics of training dynamics: confidence, variability, correctness, regions and the flag.

Dataset Cartography (Swayamdipta et al. 2020, "Dataset Cartography: Mapping and Diagnosing Datasets with Training
Dynamics", EMNLP, https://arxiv.org/abs/2009.10795): for each training example, over the epochs of one run,

- **confidence**: the mean of the model's probability of the given label;
- **variability**: its standard deviation (population, ``ddof=0``, as the paper's code computes it);
- **correctness**: the fraction of epochs in which the model predicted the given label.

The paper reads three regions off the map: easy-to-learn (high confidence, low variability), ambiguous (high
variability) and hard-to-learn (low confidence, low variability), and finds that mislabeled examples gather in the
hard-to-learn region. It selects regions by percentile (the top 33 % of a measure); here they are fixed cut-offs, so
an example's region does not depend on the rest of the file:

- ambiguous: ``variability >= AMBIGUOUS_VARIABILITY`` (0.2: the probability moves by about 0.4 or more between
  epochs, where a probability's standard deviation is at most 0.5);
- easy-to-learn: otherwise, ``confidence >= EASY_CONFIDENCE`` (0.5: the given label is, on average, more likely
  than not);
- hard-to-learn: the rest.

Flag (``is_issue``): hard-to-learn **and** ``correctness < FLAG_CORRECTNESS`` (0.5). A hard-to-learn example is one
whose given label the model steadily finds unlikely (low confidence without the swings of an example it is still
learning); requiring that it also predicted another label in most epochs keeps out examples that sit at the
decision boundary but are still predicted right. ``label_quality`` is the confidence (lower = more likely
mislabeled).
"""

from __future__ import annotations

import warnings

import numpy as np

EASY, AMBIGUOUS, HARD = "easy-to-learn", "ambiguous", "hard-to-learn"
#: Regions in the order the data map draws and names them.
REGIONS = (EASY, AMBIGUOUS, HARD)
#: Variability at or above which an example is ambiguous.
AMBIGUOUS_VARIABILITY = 0.2
#: Confidence at or above which a not-ambiguous example is easy-to-learn (below: hard-to-learn).
EASY_CONFIDENCE = 0.5
#: A hard-to-learn example is flagged when the given label was predicted in fewer than this fraction of epochs.
FLAG_CORRECTNESS = 0.5
#: Fewest epochs a data map needs (variability needs two observations).
MIN_EPOCHS = 2


def cartography(probabilities: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence, variability and correctness of each example over the epochs (Swayamdipta et al. 2020).

    Args:
        probabilities: Probability of each example's given label, shape ``(epochs, num_examples)``, values 0–1;
            NaN where an example was not seen in an epoch (those epochs are left out of its statistics).
        correct: Whether the prediction was the given label (1/0, or a fraction), same shape.

    Returns:
        ``(confidence, variability, correctness)``, float64 arrays of shape ``(num_examples,)``: the mean, the
        population standard deviation (``ddof=0``) and the mean of ``correct`` over the epochs that saw the
        example; NaN for an example no epoch saw.

    Raises:
        ValueError: If the shapes differ or are not 2-D.
    """
    probabilities, correct = np.asarray(probabilities, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape != correct.shape:
        raise ValueError(f"Expected two (epochs, num_examples) arrays of one shape. Received: {probabilities.shape} "
                         f"and {correct.shape}.")
    with warnings.catch_warnings():  # an example no epoch saw: NaN, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return (np.nanmean(probabilities, axis=0), np.nanstd(probabilities, axis=0),
                np.nanmean(np.where(np.isnan(probabilities), np.nan, correct), axis=0))


def regions(confidence: np.ndarray, variability: np.ndarray) -> np.ndarray:
    """The data-map region of each example (module docstring: the cut-offs and why).

    Args:
        confidence: Shape ``(num_examples,)``, 0–1.
        variability: Shape ``(num_examples,)``, 0–0.5.

    Returns:
        An object array of shape ``(num_examples,)`` of ``"easy-to-learn"``, ``"ambiguous"`` or ``"hard-to-learn"``
        (NaN statistics, an example never seen, give ``"easy-to-learn"``: there is no evidence against its label).
    """
    confidence, variability = np.asarray(confidence, dtype=np.float64), np.asarray(variability, dtype=np.float64)
    out = np.full(confidence.shape, EASY, dtype=object)
    out[confidence < EASY_CONFIDENCE] = HARD
    out[variability >= AMBIGUOUS_VARIABILITY] = AMBIGUOUS
    return out


def flag_issues(confidence: np.ndarray, variability: np.ndarray, correctness: np.ndarray) -> np.ndarray:
    """Which examples are probably mislabeled: hard-to-learn and predicted as given in under half of the epochs.

    Args:
        confidence: Shape ``(num_examples,)``.
        variability: Shape ``(num_examples,)``.
        correctness: Shape ``(num_examples,)``, 0–1.

    Returns:
        A bool array of shape ``(num_examples,)`` (False for NaN statistics).
    """
    return (regions(confidence, variability) == HARD) & (np.asarray(correctness, dtype=np.float64) < FLAG_CORRECTNESS)

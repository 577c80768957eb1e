"""Operating points: score thresholds chosen on labelled scores for a target FPR or recall.

Used when a bundle is written (its risk bands) and when evaluation compares models at their
own operating points; one implementation for both.
"""

from __future__ import annotations

import numpy as np


def threshold_for_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold whose false-positive rate (score >= threshold) is at most `max_fpr`."""
    negatives = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(labels) == 0])[::-1]
    if negatives.size == 0:
        return float(np.min(scores))
    allowed = int(np.floor(max_fpr * negatives.size))  # negatives that may score at or above
    if allowed >= negatives.size:
        return float(np.min(scores))
    return float(np.nextafter(negatives[allowed], np.inf))


def threshold_for_recall(labels: np.ndarray, scores: np.ndarray, min_recall: float) -> float:
    """The highest threshold whose recall (score >= threshold) is at least `min_recall`."""
    positives = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(labels) == 1])[::-1]
    if positives.size == 0:
        return float(np.max(scores))
    needed = int(np.ceil(min_recall * positives.size))
    return float(positives[max(needed, 1) - 1])

"""Calibration of a probability score: reliability diagram, expected calibration error, Brier score.

- Bins: `bins` equal-width bins of [0, 1], a score on an inner edge falling in the lower bin
  (the binning of `sklearn.calibration.calibration_curve(strategy="uniform")`).
- ECE = sum over bins of (n_b / n) * |observed frequency_b - mean score_b| (Naeini et al. 2015;
  Guo et al. 2017), empty bins contributing nothing.
- Brier = mean (score - label)^2 (= `sklearn.metrics.brier_score_loss`).
"""

from __future__ import annotations

import numpy as np

from evals.metrics import Bootstrap, point_and_interval, roc_auc


def bin_ids(scores: np.ndarray, bins: int) -> np.ndarray:
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.searchsorted(edges[1:-1], np.clip(scores, 0.0, 1.0))


def reliability(labels: np.ndarray, scores: np.ndarray, bins: int) -> list[dict]:
    """Per bin: its edges, how many records, their mean score and observed positive frequency."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    ids = bin_ids(scores, bins)
    total = np.bincount(ids, minlength=bins)
    score_sum = np.bincount(ids, weights=scores, minlength=bins)
    label_sum = np.bincount(ids, weights=labels, minlength=bins)
    edges = np.linspace(0.0, 1.0, bins + 1)
    return [
        {
            "low": float(edges[b]),
            "high": float(edges[b + 1]),
            "n": int(total[b]),
            "mean_score": float(score_sum[b] / total[b]) if total[b] else None,
            "observed": float(label_sum[b] / total[b]) if total[b] else None,
        }
        for b in range(bins)
    ]


def expected_calibration_error(labels: np.ndarray, scores: np.ndarray, bins: int) -> np.ndarray:
    """ECE per row of 2-D `labels` and `scores` (one row per resample)."""
    labels = np.atleast_2d(np.asarray(labels, dtype=np.float64))
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    rows, n = scores.shape
    ids = bin_ids(scores, bins) + bins * np.arange(rows)[:, None]  # one bin range per row
    size = rows * bins
    gap = np.bincount(ids.ravel(), weights=(labels - scores).ravel(), minlength=size).reshape(rows, bins)
    return np.abs(gap).sum(axis=1) / n  # sum_b (n_b / n) * |mean label_b - mean score_b|


def brier(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    labels = np.atleast_2d(np.asarray(labels, dtype=np.float64))
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    return ((scores - labels) ** 2).mean(axis=1)


def calibration_report(labels: np.ndarray, scores: np.ndarray, bins: int, bootstrap: Bootstrap) -> dict:
    """ECE and Brier with intervals, and the reliability bins."""
    values = point_and_interval(
        {"ece": lambda y, s: expected_calibration_error(y, s, bins), "brier": brier}, labels, scores, bootstrap
    )
    return {"n": int(np.asarray(labels).size), **values, "bins": reliability(labels, scores, bins)}


def signal_aucs(
    signal_labels: dict[str, np.ndarray], signal_scores: dict[str, np.ndarray], bootstrap: Bootstrap
) -> dict[str, dict]:
    """ROC-AUC of each signal head against the record-level signal labels, with intervals."""
    out = {}
    for name, labels in signal_labels.items():
        labels = np.asarray(labels, dtype=int)
        values = point_and_interval({"roc_auc": roc_auc}, labels, signal_scores[name], bootstrap)
        out[name] = {"n": int(labels.size), "positives": int(labels.sum()), **values}
    return out

"""Detection metrics with bootstrap intervals.

Every metric takes `labels` and `scores` as 2-D arrays, one row per resample, and returns one
value per row, so that a bootstrap of a thousand resamples is a handful of numpy calls. Each
is cross-checked against scikit-learn in tests/test_evals_metrics.py:

- `roc_auc`: the Mann-Whitney statistic (ties count one half) = `sklearn.metrics.roc_auc_score`.
- `average_precision` (PR-AUC): sum over distinct thresholds of (R_k - R_k-1) * P_k
  = `sklearn.metrics.average_precision_score`.
- `precision_at_recall`: the best precision among thresholds with recall >= target.
- `recall_at_fpr`: the best recall (TPR) among thresholds with FPR <= target.
- `f_beta` at a fixed threshold (score >= threshold is positive) = `fbeta_score`; beta 0.5 is
  the measure of the PAN 2012 sexual predator identification task.

A value that is undefined on a sample (AUC with one class, precision with no positives) is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

# Rows x records of one bootstrap chunk; bounds the memory of a resample matrix.
_CHUNK_CELLS = 2_000_000


def _rows(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[None, :] if values.ndim == 1 else values


def _class_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    positives = labels.sum(axis=1)
    return positives, labels.shape[1] - positives


def _curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, in order of decreasing score: cumulative true and false positives, and a mask
    of the last record of each run of equal scores (the points of the ROC and PR curves)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    truth = np.take_along_axis(labels, order, axis=1)
    true_positives = np.cumsum(truth, axis=1)
    false_positives = np.cumsum(1.0 - truth, axis=1)
    end = np.ones(ranked.shape, dtype=bool)
    end[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
    return true_positives, false_positives, end


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    labels, scores = _rows(labels), _rows(scores)
    positives, negatives = _class_counts(labels)
    ranks = rankdata(scores, axis=1)  # ties get their average rank
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * labels).sum(axis=1) - positives * (positives + 1) / 2) / (positives * negatives)
    return np.where((positives > 0) & (negatives > 0), auc, np.nan)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    labels, scores = _rows(labels), _rows(scores)
    positives, _ = _class_counts(labels)
    tp, fp, end = _curve(labels, scores)
    at_points = np.maximum.accumulate(np.where(end, tp, 0.0), axis=1)
    previous = np.concatenate([np.zeros((tp.shape[0], 1)), at_points[:, :-1]], axis=1)
    precision = tp / (tp + fp)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(end, (tp - previous) * precision, 0.0).sum(axis=1) / positives
    return np.where(positives > 0, ap, np.nan)


def precision_at_recall(labels: np.ndarray, scores: np.ndarray, min_recall: float) -> np.ndarray:
    labels, scores = _rows(labels), _rows(scores)
    positives, _ = _class_counts(labels)
    tp, fp, end = _curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / positives[:, None]
    eligible = end & (recall >= min_recall - 1e-12)
    best = np.where(eligible, tp / (tp + fp), -np.inf).max(axis=1)
    return np.where(positives > 0, best, np.nan)


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float) -> np.ndarray:
    labels, scores = _rows(labels), _rows(scores)
    positives, negatives = _class_counts(labels)
    tp, fp, end = _curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fp / negatives[:, None]
        tpr = tp / positives[:, None]
    best = np.where(end & (fpr <= max_fpr + 1e-12), tpr, 0.0).max(axis=1)  # the empty threshold: TPR 0
    return np.where((positives > 0) & (negatives > 0), best, np.nan)


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """True positives, false positives, false negatives, true negatives per row at score >= threshold."""
    labels, scores = _rows(labels), _rows(scores)
    predicted = scores >= threshold
    truth = labels > 0.5
    return (
        (predicted & truth).sum(axis=1).astype(np.float64),
        (predicted & ~truth).sum(axis=1).astype(np.float64),
        (~predicted & truth).sum(axis=1).astype(np.float64),
        (~predicted & ~truth).sum(axis=1).astype(np.float64),
    )


def f_beta(labels: np.ndarray, scores: np.ndarray, threshold: float, beta: float) -> np.ndarray:
    """F-beta at score >= threshold; 0 where it is 0/0 (scikit-learn's zero_division=0)."""
    tp, fp, fn, _ = confusion(labels, scores, threshold)
    weight = beta * beta
    denominator = (1 + weight) * tp + weight * fn + fp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (1 + weight) * tp / denominator, 0.0)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def precision_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    tp, fp, _, _ = confusion(labels, scores, threshold)
    return _ratio(tp, tp + fp)


def recall_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    tp, _, fn, _ = confusion(labels, scores, threshold)
    return _ratio(tp, tp + fn)


def fpr_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    _, fp, _, tn = confusion(labels, scores, threshold)
    return _ratio(fp, fp + tn)


# --------------------------------------------------------------------------- bootstrap


@dataclass(frozen=True)
class Bootstrap:
    """Percentile bootstrap: `resamples` draws of the records with replacement, stratified by
    label (each resample keeps the split's number of positives and negatives, so no resample
    lacks a class the split has), seeded."""

    resamples: int
    confidence: float
    seed: int

    def indices(self, labels: np.ndarray) -> np.ndarray:
        """Resample matrix (resamples x n) of record indices."""
        labels = np.asarray(labels)
        rng = np.random.default_rng(self.seed)
        out = np.empty((self.resamples, labels.size), dtype=np.int64)
        column = 0
        for value in np.unique(labels):
            members = np.flatnonzero(labels == value)
            out[:, column : column + members.size] = rng.choice(members, size=(self.resamples, members.size))
            column += members.size
        return out

    def interval(self, values: np.ndarray) -> list[float | None]:
        """The central `confidence` interval of resampled values (NaN resamples left out)."""
        finite = np.asarray(values, dtype=np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size == 0:
            return [None, None]
        tail = (1 - self.confidence) / 2 * 100
        low, high = np.percentile(finite, [tail, 100 - tail])
        return [float(low), float(high)]


Metric = Callable[[np.ndarray, np.ndarray], np.ndarray]


def point_and_interval(
    metrics: dict[str, Metric], labels: np.ndarray, scores: np.ndarray, bootstrap: Bootstrap
) -> dict[str, float | list[float | None] | None]:
    """Each metric on the records, `<name>`, and its bootstrap interval, `<name>_ci`."""
    labels = np.asarray(labels, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    out: dict[str, float | list[float | None] | None] = {}
    if labels.size == 0:
        for name in metrics:
            out[name], out[f"{name}_ci"] = None, [None, None]
        return out
    indices = bootstrap.indices(labels)
    step = max(1, _CHUNK_CELLS // labels.size)
    resampled: dict[str, list[np.ndarray]] = {name: [] for name in metrics}
    for start in range(0, indices.shape[0], step):
        chunk = indices[start : start + step]
        sample_labels, sample_scores = labels[chunk], scores[chunk]
        for name, metric in metrics.items():
            resampled[name].append(metric(sample_labels, sample_scores))
    for name, metric in metrics.items():
        out[name] = finite_or_none(metric(labels, scores)[0])
        out[f"{name}_ci"] = bootstrap.interval(np.concatenate(resampled[name]))
    return out


def paired_difference(
    metric: Metric, labels: np.ndarray, first: np.ndarray, second: np.ndarray, bootstrap: Bootstrap
) -> dict[str, float | list[float | None] | None]:
    """`metric(first) - metric(second)` on the same records, with a paired bootstrap interval:
    both scores are judged on each resample, so the interval is that of the gain, not of two
    independent estimates."""
    labels = np.asarray(labels, dtype=np.float64)
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if labels.size == 0:
        return {"value": None, "ci": [None, None]}
    indices = bootstrap.indices(labels)
    step = max(1, _CHUNK_CELLS // labels.size)
    differences = [
        metric(labels[chunk], first[chunk]) - metric(labels[chunk], second[chunk])
        for chunk in (indices[start : start + step] for start in range(0, indices.shape[0], step))
    ]
    value = metric(labels, first)[0] - metric(labels, second)[0]
    return {"value": finite_or_none(value), "ci": bootstrap.interval(np.concatenate(differences))}


def finite_or_none(value: float) -> float | None:
    """JSON-safe: NaN (undefined) becomes null."""
    value = float(value)
    return value if math.isfinite(value) else None


def detection_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    bootstrap: Bootstrap,
    min_recall: float,
    max_fpr: float,
    decisions: np.ndarray | None = None,
) -> dict[str, object]:
    """ROC-AUC, PR-AUC, precision at recall >= `min_recall`, recall at FPR <= `max_fpr`, and
    F1, F0.5, precision, recall and FPR of the flags: `score >= threshold`, or `decisions` where
    given (the served bands, whose threshold depends on the record), each with its interval."""
    labels = np.asarray(labels, dtype=int)
    ranking: dict[str, Metric] = {
        "roc_auc": roc_auc,
        "pr_auc": average_precision,
        "precision_at_recall": lambda y, s: precision_at_recall(y, s, min_recall),
        "recall_at_fpr": lambda y, s: recall_at_fpr(y, s, max_fpr),
    }
    cut = threshold if decisions is None else 0.5
    flags: dict[str, Metric] = {
        "f1": lambda y, s: f_beta(y, s, cut, 1.0),
        "f0_5": lambda y, s: f_beta(y, s, cut, 0.5),
        "precision": lambda y, s: precision_at(y, s, cut),
        "recall": lambda y, s: recall_at(y, s, cut),
        "fpr": lambda y, s: fpr_at(y, s, cut),
    }
    flagged_by = scores if decisions is None else np.asarray(decisions, dtype=np.float64)
    return {
        "n": int(labels.size),
        "positives": int(labels.sum()),
        **point_and_interval(ranking, labels, scores, bootstrap),
        **point_and_interval(flags, labels, flagged_by, bootstrap),
        "threshold": float(threshold),
    }


def wilson_interval(successes: int, trials: int, confidence: float) -> list[float | None]:
    """Wilson score interval of a binomial proportion: sound for small groups and for 0 or all
    events (a percentile bootstrap of 0 of 12 would claim [0, 0])."""
    if trials == 0:
        return [None, None]
    from scipy.stats import norm

    z = float(norm.ppf(1 - (1 - confidence) / 2))
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return [max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))]


def rate(successes: int, trials: int, confidence: float) -> dict[str, object]:
    """A proportion with its count and Wilson interval: `{"value", "ci", "k", "n"}`."""
    return {
        "value": successes / trials if trials else None,
        "ci": wilson_interval(successes, trials, confidence),
        "k": int(successes),
        "n": int(trials),
    }

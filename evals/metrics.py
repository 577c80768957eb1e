"""Detection metrics of one model on one split, at its operating threshold."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, fbeta_score, roc_auc_score


def detection_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """ROC-AUC, PR-AUC, and F1, F0.5, precision, recall and FPR at `score >= threshold`."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=np.float64)
    predicted = (scores >= threshold).astype(int)
    positives, negatives = int(labels.sum()), int((1 - labels).sum())
    true_positives = int((predicted & labels).sum())
    false_positives = int((predicted & (1 - labels)).sum())
    both_classes = positives > 0 and negatives > 0
    return {
        "n": int(labels.size),
        "positives": positives,
        "roc_auc": float(roc_auc_score(labels, scores)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(labels, scores)) if positives else float("nan"),
        "f1": float(fbeta_score(labels, predicted, beta=1.0, zero_division=0)),
        "f0_5": float(fbeta_score(labels, predicted, beta=0.5, zero_division=0)),
        "precision": true_positives / max(true_positives + false_positives, 1),
        "recall": true_positives / max(positives, 1),
        "fpr": false_positives / max(negatives, 1),
        "threshold": float(threshold),
    }

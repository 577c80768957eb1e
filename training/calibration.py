"""Calibration, fusion and risk bands, fitted on validation scores of the exported model."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from serving.bundle import Bands, Fusion, Platt
from serving.operating import threshold_for_fpr, threshold_for_recall
from training.config import Thresholds


def fit_platt(logits: np.ndarray, labels: np.ndarray, C: float) -> Platt:
    """p = sigmoid(slope * logit + intercept), fitted by L2-penalised maximum likelihood."""
    model = LogisticRegression(C=C).fit(np.asarray(logits).reshape(-1, 1), labels)
    return Platt(slope=float(model.coef_[0, 0]), intercept=float(model.intercept_[0]))


def fit_fusion(content_logits: np.ndarray, metadata_logits: np.ndarray, labels: np.ndarray, C: float) -> Fusion:
    """Logistic regression of the label on the content and metadata logits."""
    features = np.column_stack([content_logits, metadata_logits])
    model = LogisticRegression(C=C).fit(features, labels)
    return Fusion(
        content_weight=float(model.coef_[0, 0]),
        metadata_weight=float(model.coef_[0, 1]),
        intercept=float(model.intercept_[0]),
    )


def fit_bands(
    labels: np.ndarray, scores: np.ndarray, targets: Thresholds, real_benign: np.ndarray | None = None
) -> Bands:
    """`high` at the FPR target, `medium` at the recall target, raised where more than the
    real-benign target of the records `real_benign` marks (real human chat, benign) would reach
    it; medium never above high. Synthetic positives are easier than real ones, so the recall
    target alone put the alert where ordinary chat trips it."""
    high = threshold_for_fpr(labels, scores, targets.high_max_fpr)
    medium = threshold_for_recall(labels, scores, targets.medium_min_recall)
    if real_benign is not None and real_benign.any():
        chat = np.asarray(scores)[real_benign]
        medium = max(medium, threshold_for_fpr(np.zeros(chat.size), chat, targets.medium_max_real_benign_fpr))
    return Bands(high=high, medium=min(medium, high))

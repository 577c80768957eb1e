"""The evaluation's metric functions against scikit-learn, and the bootstrap and Wilson intervals."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    fbeta_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from evals.calibration import brier, expected_calibration_error
from evals.metrics import (
    Bootstrap,
    average_precision,
    detection_metrics,
    f_beta,
    fpr_at,
    paired_difference,
    precision_at_recall,
    recall_at_fpr,
    roc_auc,
    wilson_interval,
)


def labelled_scores(draw_labels, draw_scores):
    """Labels with both classes and scores on a coarse grid, so that ties are common."""
    labels = np.asarray(draw_labels, dtype=int)
    labels[0], labels[1] = 0, 1
    return labels, np.asarray(draw_scores, dtype=np.float64)[: labels.size]


samples = st.integers(4, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 8).map(lambda k: k / 8), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(samples)
def test_ranking_metrics_match_scikit_learn(sample):
    labels, scores = labelled_scores(*sample)
    assert roc_auc(labels, scores)[0] == pytest.approx(roc_auc_score(labels, scores))
    assert average_precision(labels, scores)[0] == pytest.approx(average_precision_score(labels, scores))

    precision, recall, _ = precision_recall_curve(labels, scores)
    for target in (0.5, 0.9, 1.0):
        expected = precision[recall >= target].max()
        assert precision_at_recall(labels, scores, target)[0] == pytest.approx(expected)

    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    for target in (0.0, 0.01, 0.2):
        expected = tpr[fpr <= target].max()
        assert recall_at_fpr(labels, scores, target)[0] == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(samples, st.sampled_from([0.0, 0.3, 0.5, 0.875, 1.1]))
def test_threshold_metrics_match_scikit_learn(sample, threshold):
    labels, scores = labelled_scores(*sample)
    predicted = (scores >= threshold).astype(int)
    for beta in (1.0, 0.5):
        expected = fbeta_score(labels, predicted, beta=beta, zero_division=0)
        assert f_beta(labels, scores, threshold, beta)[0] == pytest.approx(expected)
    negatives = labels == 0
    assert fpr_at(labels, scores, threshold)[0] == pytest.approx(predicted[negatives].mean())
    assert brier(labels, scores)[0] == pytest.approx(brier_score_loss(labels, scores))


def test_rows_are_independent_resamples():
    labels = np.array([[0, 1, 0, 1], [0, 0, 1, 1]])
    scores = np.array([[0.1, 0.9, 0.2, 0.8], [0.9, 0.8, 0.1, 0.2]])
    assert roc_auc(labels, scores).tolist() == [1.0, 0.0]


def test_undefined_metrics_are_nan_on_a_single_class_split():
    labels = np.zeros(5, dtype=int)
    scores = np.array([0.1, 0.2, 0.6, 0.7, 0.9])
    assert math.isnan(roc_auc(labels, scores)[0])
    assert math.isnan(average_precision(labels, scores)[0])
    assert math.isnan(recall_at_fpr(labels, scores, 0.01)[0])
    bootstrap = Bootstrap(200, 0.95, 7)
    metrics = detection_metrics(labels, scores, 0.5, bootstrap, 0.9, 0.01)
    assert metrics["roc_auc"] is None and metrics["roc_auc_ci"] == [None, None]
    assert metrics["fpr"] == pytest.approx(0.6)  # still defined: 3 of 5 benign at or above 0.5
    lo, hi = metrics["fpr_ci"]
    assert 0.0 <= lo <= 0.6 <= hi <= 1.0


def test_bootstrap_is_seeded_stratified_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    labels = (rng.random(200) < 0.3).astype(int)
    scores = np.clip(labels * 0.4 + rng.random(200) * 0.7, 0, 1)
    bootstrap = Bootstrap(300, 0.95, 11)
    indices = bootstrap.indices(labels)
    assert indices.shape == (300, 200)
    assert (labels[indices].sum(axis=1) == labels.sum()).all()  # every resample keeps the class counts
    first = detection_metrics(labels, scores, 0.5, bootstrap, 0.9, 0.01)
    again = detection_metrics(labels, scores, 0.5, bootstrap, 0.9, 0.01)
    other = detection_metrics(labels, scores, 0.5, Bootstrap(300, 0.95, 12), 0.9, 0.01)
    assert first == again
    assert first["roc_auc_ci"] != other["roc_auc_ci"]
    for name in ("roc_auc", "pr_auc", "f1", "f0_5", "precision_at_recall", "recall_at_fpr"):
        lo, hi = first[f"{name}_ci"]
        assert lo < hi and lo <= first[name] <= hi, name
    narrow = detection_metrics(labels, scores, 0.5, Bootstrap(300, 0.5, 11), 0.9, 0.01)
    assert narrow["roc_auc_ci"][1] - narrow["roc_auc_ci"][0] < first["roc_auc_ci"][1] - first["roc_auc_ci"][0]


def test_wilson_interval_matches_the_closed_form():
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 10, 0.95) == pytest.approx([0.0, z2 / (10 + z2)])
    assert wilson_interval(10, 10, 0.95) == pytest.approx([10 / (10 + z2), 1.0])
    low, high = wilson_interval(3, 10, 0.95)
    assert low == pytest.approx(0.10779, abs=1e-4) and high == pytest.approx(0.60322, abs=1e-4)
    assert wilson_interval(0, 0, 0.95) == [None, None]


def test_expected_calibration_error_by_hand():
    # Bin [0.2, 0.3): scores 0.25, 0.25, labels 0, 1 -> |0.5 - 0.25| * 2/4; bin [0.9, 1]: 0.95, 0.95, labels 1, 1.
    labels = np.array([0, 1, 1, 1])
    scores = np.array([0.25, 0.25, 0.95, 0.95])
    assert expected_calibration_error(labels, scores, 10)[0] == pytest.approx(0.25 * 0.5 + 0.05 * 0.5)
    assert expected_calibration_error(labels, np.array([0.5, 0.5, 1.0, 1.0]), 10)[0] == pytest.approx(0.0)


def test_paired_difference_is_the_gain_with_an_interval_over_shared_resamples():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    weak = labels + rng.normal(0, 1.5, 300)
    strong = labels + rng.normal(0, 0.5, 300)
    bootstrap = Bootstrap(resamples=300, confidence=0.95, seed=0)
    gain = paired_difference(roc_auc, labels, strong, weak, bootstrap)
    assert math.isclose(gain["value"], roc_auc_score(labels, strong) - roc_auc_score(labels, weak), abs_tol=1e-12)
    lo, hi = gain["ci"]
    assert 0 < lo <= gain["value"] <= hi  # a real gain: the interval excludes 0
    assert paired_difference(roc_auc, labels, weak, weak, bootstrap) == {"value": 0.0, "ci": [0.0, 0.0]}
    assert paired_difference(roc_auc, np.zeros(5), weak[:5], weak[:5], bootstrap)["value"] is None

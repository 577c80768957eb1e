"""Early-warning measures by hand, and the reliability bins against scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from evals.calibration import calibration_report, reliability
from evals.early_detection import (
    early_report,
    erde,
    f_latency,
    first_escalation_index,
    latency_p,
    latency_penalty,
)
from evals.metrics import Bootstrap


def test_latency_penalty_is_one_half_at_the_median_length():
    p = latency_p(21, 0.5)
    assert p == pytest.approx(math.log(3) / 20)
    assert latency_penalty(np.array([21.0]), p)[0] == pytest.approx(0.5)
    assert latency_penalty(np.array([1.0]), p)[0] == pytest.approx(0.0)
    assert latency_p(1, 0.5) is None


def test_erde_by_hand():
    # Records: TP alerted after 3 messages, FP, FN, TN. c_fp = 0.5 (two positives of four).
    labels = np.array([1, 0, 1, 0])
    k = np.array([3, 2, 0, 0])
    lc = 1 - 1 / (1 + math.exp(3 - 5))
    assert erde(labels, k, 5, 0.5) == pytest.approx((lc + 0.5 + 1 + 0) / 4)
    # Late alerts cost a true positive almost as much as a miss.
    assert erde(np.array([1]), np.array([40]), 5, 0.5) == pytest.approx(1.0, abs=1e-9)


def test_latency_weighted_f1_by_hand():
    labels = np.array([1, 1, 0, 1])
    k = np.array([1, 11, 0, 0])  # two TPs (after 1 and 11 messages), one FN, one TN
    p = latency_p(11, 0.5)
    weighted, f1, speed = f_latency(labels, k, p)
    assert f1 == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert speed == pytest.approx(1 - np.median([0.0, 0.5]))
    assert weighted == pytest.approx(f1 * 0.75)


def test_early_report_delays_count_from_the_first_escalation_message():
    labels = np.array([1, 1, 0, 1])
    report = early_report(
        labels,
        alert_indices=[4, 9, None, None],
        lengths=[10, 12, 8, 10],
        first_escalation=[3, 2, None, 5],
        erde_o=(5, 50),
        penalty_at_median=0.5,
        bootstrap=Bootstrap(100, 0.95, 1),
    )
    assert report["messages_to_alert"]["histogram"] == {"5": 1, "10": 1}
    assert report["messages_after_escalation"]["histogram"] == {"1": 1, "7": 1}
    assert report["median_length"] == 10
    assert report["latency_p"] == pytest.approx(math.log(3) / 9)
    assert report["erde_5_ci"][0] <= report["erde_5"] <= report["erde_5_ci"][1]
    assert first_escalation_index([(), (), ("secrecy",), ()]) == 2
    assert first_escalation_index([(), ()]) is None


def test_reliability_bins_match_scikit_learn_calibration_curve():
    rng = np.random.default_rng(5)
    scores = np.round(rng.random(500), 2)  # scores on bin edges included
    labels = (rng.random(500) < scores).astype(int)
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=10, strategy="uniform")
    bins = [b for b in reliability(labels, scores, 10) if b["n"]]
    assert [b["observed"] for b in bins] == pytest.approx(prob_true.tolist())
    assert [b["mean_score"] for b in bins] == pytest.approx(prob_pred.tolist())
    report = calibration_report(labels, scores, 10, Bootstrap(100, 0.95, 2))
    expected_ece = sum(b["n"] * abs(b["observed"] - b["mean_score"]) for b in bins) / 500
    assert report["ece"] == pytest.approx(expected_ece)
    assert report["ece_ci"][0] <= report["ece"] <= report["ece_ci"][1]

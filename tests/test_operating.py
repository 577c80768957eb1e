import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from serving.operating import threshold_for_fpr, threshold_for_recall
from serving.params import Thresholds
from training.calibration import fit_bands

scores_and_labels = st.lists(
    st.tuples(st.floats(min_value=0, max_value=1, allow_nan=False), st.integers(0, 1)), min_size=2, max_size=60
).filter(lambda rows: {label for _, label in rows} == {0, 1})


@given(rows=scores_and_labels, target=st.floats(min_value=0.0, max_value=1.0))
def test_fpr_threshold_is_the_lowest_meeting_the_target(rows, target):
    scores = np.array([s for s, _ in rows])
    labels = np.array([label for _, label in rows])
    threshold = threshold_for_fpr(labels, scores, target)
    negatives = scores[labels == 0]
    assert np.mean(negatives >= threshold) <= target + 1e-12
    lower = [t for t in np.unique(scores) if t < threshold]
    assert all(np.mean(negatives >= t) > target for t in lower)


@given(rows=scores_and_labels, target=st.floats(min_value=0.01, max_value=1.0))
def test_recall_threshold_is_the_highest_meeting_the_target(rows, target):
    scores = np.array([s for s, _ in rows])
    labels = np.array([label for _, label in rows])
    threshold = threshold_for_recall(labels, scores, target)
    positives = scores[labels == 1]
    assert np.mean(positives >= threshold) >= target - 1e-12
    higher = [t for t in np.unique(scores) if t > threshold]
    assert all(np.mean(positives >= t) < target for t in higher)


def test_the_alert_threshold_rises_until_little_real_benign_chat_reaches_it():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(100), np.zeros(300)]
    scores = np.r_[rng.uniform(0.3, 1.0, 100), rng.uniform(0.0, 0.6, 300)]
    real = np.r_[np.zeros(100, bool), np.zeros(200, bool), np.ones(100, bool)]
    targets = Thresholds(high_max_fpr=0.01, medium_min_recall=0.95, medium_max_real_benign_fpr=0.03)
    plain = fit_bands(labels, scores, targets)
    raised = fit_bands(labels, scores, targets, real)
    assert raised.medium > plain.medium and raised.high == plain.high
    assert (scores[real] >= raised.medium).mean() <= 0.03 < (scores[real] >= plain.medium).mean()
    assert fit_bands(labels, scores, targets, np.zeros(400, bool)) == plain  # no real chat: the recall target alone
    strict = Thresholds(high_max_fpr=0.01, medium_min_recall=0.95, medium_max_real_benign_fpr=0.0)
    assert fit_bands(labels, scores, strict, real).medium <= plain.high

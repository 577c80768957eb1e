"""Fairness metrics: Borkan et al.'s AUCs against a hand-computed example, per-group rates and
equalized odds against fairlearn."""

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
)

from evals.fairness import bnsp_auc, bpsn_auc, column_report, subgroup_auc

# Six records: group g = the first three. Scores chosen so each AUC is a count of ordered pairs.
#   g:          (label 1, 0.9)  (label 0, 0.7)  (label 0, 0.3)
#   background: (label 1, 0.6)  (label 1, 0.2)  (label 0, 0.1)
LABELS = np.array([1, 0, 0, 1, 1, 0])
SCORES = np.array([0.9, 0.7, 0.3, 0.6, 0.2, 0.1])
IN_G = np.array([True, True, True, False, False, False])


def test_bias_aucs_match_the_hand_computed_example():
    # Subgroup AUC: positives {0.9} vs negatives {0.7, 0.3}: 2 of 2 pairs ordered -> 1.
    assert subgroup_auc(LABELS, SCORES, IN_G) == pytest.approx(1.0)
    # BPSN: background positives {0.6, 0.2} vs subgroup negatives {0.7, 0.3}:
    # (0.6 > 0.3) only -> 1 of 4 pairs -> 0.25 (g's benign records outscore others' risky ones).
    assert bpsn_auc(LABELS, SCORES, IN_G) == pytest.approx(0.25)
    # BNSP: subgroup positives {0.9} vs background negatives {0.1}: 1 of 1 -> 1.
    assert bnsp_auc(LABELS, SCORES, IN_G) == pytest.approx(1.0)
    # The background's own view, for symmetry: BPSN of the complement = positives {0.9} vs negatives {0.1}.
    assert bpsn_auc(LABELS, SCORES, ~IN_G) == pytest.approx(1.0)
    # BNSP of the complement: positives {0.6, 0.2} vs negatives {0.7, 0.3}: 1 of 4.
    assert bnsp_auc(LABELS, SCORES, ~IN_G) == pytest.approx(0.25)


def test_bias_aucs_are_undefined_without_both_classes():
    only_positive_group = np.array([True, False, False, True, True, False])
    assert subgroup_auc(LABELS, SCORES, only_positive_group) is None
    assert bpsn_auc(LABELS, SCORES, only_positive_group) is None  # no subgroup negatives
    assert bnsp_auc(LABELS, SCORES, only_positive_group) is not None


def test_group_rates_and_equalized_odds_match_fairlearn():
    rng = np.random.default_rng(3)
    n = 300
    labels = (rng.random(n) < 0.4).astype(int)
    scores = np.clip(0.5 * labels + rng.random(n) * 0.6, 0, 1)
    values = rng.choice(["a", "b", "c"], size=n).tolist()
    flagged = {"high": scores >= 0.8, "medium": scores >= 0.5}
    report = column_report(labels, scores, flagged, values, 0.95)
    for band, flags in flagged.items():
        frame = MetricFrame(
            metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
            y_true=labels,
            y_pred=flags.astype(int),
            sensitive_features=values,
        )
        for group in ("a", "b", "c"):
            ours = report["groups"][group]
            assert ours["fpr"][band]["value"] == pytest.approx(frame.by_group.loc[group, "fpr"])
            assert ours["fnr"][band]["value"] == pytest.approx(frame.by_group.loc[group, "fnr"])
            low, high = ours["fpr"][band]["ci"]
            assert low <= ours["fpr"][band]["value"] <= high
        expected = equalized_odds_difference(labels, flags.astype(int), sensitive_features=values)
        assert report["equalized_odds_difference"][band] == pytest.approx(expected)
    in_a = np.asarray(values) == "a"
    assert report["groups"]["a"]["bpsn_auc"] == pytest.approx(bpsn_auc(labels, scores, in_a))


def test_a_group_without_negatives_has_no_fpr_and_stays_out_of_equalized_odds():
    labels = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])
    values = ["risky_only", "risky_only", "x", "x", "y", "y"]
    report = column_report(labels, scores, {"medium": scores >= 0.5}, values, 0.95)
    assert report["groups"]["risky_only"]["fpr"]["medium"]["value"] is None
    assert report["groups"]["risky_only"]["fpr"]["medium"]["ci"] == [None, None]
    assert report["groups"]["y"]["fnr"]["medium"]["value"] is None
    assert report["equalized_odds_difference"]["medium"] is None  # only "x" has both classes

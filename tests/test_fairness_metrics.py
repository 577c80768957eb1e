"""Fairness metrics: Borkan et al.'s AUCs against a hand-computed example, with bootstrap intervals
and small-group marks; per-group rates and equalized odds against fairlearn."""

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
)

from evals.fairness import BIAS_AUCS, bias_auc, bnsp_set, bpsn_set, column_report, subgroup_set
from evals.metrics import Bootstrap, point_and_interval, roc_auc

BOOTSTRAP = Bootstrap(resamples=200, confidence=0.95, seed=7)

# Six records: group g = the first three. Scores chosen so each AUC is a count of ordered pairs.
#   g:          (label 1, 0.9)  (label 0, 0.7)  (label 0, 0.3)
#   background: (label 1, 0.6)  (label 1, 0.2)  (label 0, 0.1)
LABELS = np.array([1, 0, 0, 1, 1, 0])
SCORES = np.array([0.9, 0.7, 0.3, 0.6, 0.2, 0.1])
IN_G = np.array([True, True, True, False, False, False])


def auc_of(records, labels=LABELS, scores=SCORES, in_group=IN_G):
    return bias_auc("auc", labels, scores, records(labels, in_group), BOOTSTRAP, 1)["auc"]


def subgroup_auc(labels, scores, in_group):
    return auc_of(subgroup_set, labels, scores, in_group)


def bpsn_auc(labels, scores, in_group):
    return auc_of(bpsn_set, labels, scores, in_group)


def bnsp_auc(labels, scores, in_group):
    return auc_of(bnsp_set, labels, scores, in_group)


def random_column(n: int = 300, seed: int = 3):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(int)
    scores = np.clip(0.5 * labels + rng.random(n) * 0.6, 0, 1)
    values = rng.choice(["a", "b", "c"], size=n).tolist()
    return labels, scores, values


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
    labels, scores, values = random_column()
    flagged = {"high": scores >= 0.8, "medium": scores >= 0.5}
    report = column_report(labels, scores, flagged, values, BOOTSTRAP, 10)
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
    report = column_report(labels, scores, {"medium": scores >= 0.5}, values, BOOTSTRAP, 1)
    assert report["groups"]["risky_only"]["fpr"]["medium"]["value"] is None
    assert report["groups"]["risky_only"]["fpr"]["medium"]["ci"] == [None, None]
    assert report["groups"]["y"]["fnr"]["medium"]["value"] is None
    assert report["equalized_odds_difference"]["medium"] is None  # only "x" has both classes


def test_every_bias_auc_carries_an_ordered_bootstrap_interval_of_its_own_records():
    labels, scores, values = random_column()
    report = column_report(labels, scores, {"medium": scores >= 0.5}, values, BOOTSTRAP, 10)
    for value, group in report["groups"].items():
        in_group = np.asarray(values) == value
        for name, records in BIAS_AUCS.items():
            low, high = group[f"{name}_ci"]
            assert low is not None and low < high, (value, name)
            assert low <= group[name] <= high, (value, name)
            assert group[f"{name}_small"] is False
            # The bootstrap every other metric uses, on the AUC's own records (Borkan's set).
            members = records(labels, in_group)
            expected = point_and_interval({"auc": roc_auc}, labels[members], scores[members], BOOTSTRAP)
            assert group[name] == pytest.approx(expected["auc"])
            assert group[f"{name}_ci"] == pytest.approx(expected["auc_ci"])


def test_an_undefined_auc_has_no_interval():
    only_positive_group = np.array([True, False, False, True, True, False])
    auc = bias_auc("bpsn_auc", LABELS, SCORES, bpsn_set(LABELS, only_positive_group), BOOTSTRAP, 1)
    assert auc["bpsn_auc"] is None and auc["bpsn_auc_ci"] == [None, None]


def test_a_figure_on_fewer_records_than_min_group_size_is_marked_small():
    labels, scores, values = random_column()
    values = list(values)
    # Group "d": 12 benign and 3 risky conversations.
    labels = np.concatenate([labels, np.array([0] * 12 + [1] * 3)])
    scores = np.concatenate([scores, np.linspace(0.1, 0.9, 15)])
    values += ["d"] * 15
    groups = column_report(labels, scores, {"medium": scores >= 0.5}, values, BOOTSTRAP, 10)["groups"]
    d = groups["d"]
    assert d["subgroup_auc_small"] and d["bnsp_auc_small"]  # 3 risky records on one side
    assert not d["bpsn_auc_small"]  # 12 benign of d against every other group's risky ones
    assert d["fnr"]["medium"]["small"] and not d["fpr"]["medium"]["small"]
    assert d["bnsp_auc_ci"][0] <= d["bnsp_auc"] <= d["bnsp_auc_ci"][1]  # still reported, with its interval
    assert not any(groups["a"][f"{name}_small"] for name in BIAS_AUCS)
    # A BPSN side can be small while the group is not: few risky records outside the group.
    labels = np.array([1] * 40 + [0] * 40 + [1] * 3 + [0] * 40)
    scores = np.linspace(0, 1, labels.size)
    values = ["big"] * 80 + ["rest"] * 43
    big = column_report(labels, scores, {"medium": scores >= 0.5}, values, BOOTSTRAP, 10)["groups"]["big"]
    assert not big["subgroup_auc_small"] and big["bpsn_auc_small"] and not big["bnsp_auc_small"]

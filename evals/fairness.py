"""Fairness over the `groups` columns of the records: error rates per group and the bias AUCs of

    Borkan, Dixon, Sorensen, Thain, Vasserman. "Nuanced Metrics for Measuring Unintended Bias
    with Real Data for Text Classification." WWW '19 Companion (2019), section 3.

Notation of the paper: D is the evaluation set, D^+ / D^- its positive / negative records,
D_g the records of subgroup g (here: one value of one `groups` column).

- Subgroup AUC = AUC(D_g^- + D_g^+): does the model separate risky from benign *within* g?
- BPSN AUC (background positive, subgroup negative) = AUC(D_g^- + (D^+ - D_g^+)): low when
  benign records of g score higher than risky records of everyone else -- g draws false alarms.
- BNSP AUC (background negative, subgroup positive) = AUC(D_g^+ + (D^- - D_g^-)): low when
  risky records of g score lower than benign records of everyone else -- g's risk is missed.

Each AUC is undefined (None) when its set lacks a class (e.g. a relationship that only occurs
in risky conversations has no subgroup AUC and no BPSN AUC). Each carries the percentile bootstrap
interval every other metric carries (evals/metrics.py: resampled within the set, stratified by
label, so each resample keeps both sides of the set), and is marked `small` when a side of its set
(its positives or its negatives) holds fewer than `min_group_size` records (params.yaml `gates`): a figure to read with
its interval, not to judge (the release gate skips it, evals/gates.py).

Per-group FPR and FNR at each risk band come from fairlearn's MetricFrame, with Wilson score
intervals from the group's counts, marked `small` alike (FPR rests on the group's negatives, FNR
on its positives); the equalized-odds difference (fairlearn) is taken over the groups that have
both classes, since a group without negatives has no FPR to compare.
"""

from __future__ import annotations

import numpy as np
from fairlearn.metrics import MetricFrame, equalized_odds_difference

from evals.metrics import Bootstrap, point_and_interval, rate, roc_auc


def subgroup_set(labels: np.ndarray, in_group: np.ndarray) -> np.ndarray:
    """The records of the subgroup AUC: D_g^- + D_g^+."""
    return in_group


def bpsn_set(labels: np.ndarray, in_group: np.ndarray) -> np.ndarray:
    """Background positive, subgroup negative: D_g^- + (D^+ - D_g^+)."""
    return (in_group & (labels == 0)) | (~in_group & (labels == 1))


def bnsp_set(labels: np.ndarray, in_group: np.ndarray) -> np.ndarray:
    """Background negative, subgroup positive: D_g^+ + (D^- - D_g^-)."""
    return (in_group & (labels == 1)) | (~in_group & (labels == 0))


BIAS_AUCS = {"subgroup_auc": subgroup_set, "bpsn_auc": bpsn_set, "bnsp_auc": bnsp_set}


def bias_auc(
    name: str, labels: np.ndarray, scores: np.ndarray, members: np.ndarray, bootstrap: Bootstrap, min_group_size: int
) -> dict:
    """ROC-AUC of the records in `members` as `<name>` (None without both classes), its bootstrap
    interval `<name>_ci`, and `<name>_small`: a class among them has fewer than `min_group_size` records."""
    positives = int(labels[members].sum())
    small = min(positives, int(members.sum()) - positives) < min_group_size
    return {**point_and_interval({name: roc_auc}, labels[members], scores[members], bootstrap), f"{name}_small": small}


def group_rate(errors: int, trials: int, confidence: float, min_group_size: int) -> dict:
    """`rate` (value, Wilson interval, counts), marked `small` below `min_group_size` trials."""
    return {**rate(errors, trials, confidence), "small": trials < min_group_size}


def _false_positives(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(((y_pred == 1) & (y_true == 0)).sum())


def _false_negatives(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(((y_pred == 0) & (y_true == 1)).sum())


def _negatives(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int((y_true == 0).sum())


def _positives(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int((y_true == 1).sum())


def column_report(
    labels: np.ndarray,
    scores: np.ndarray,
    flagged_by_band: dict[str, np.ndarray],
    values: list[str],
    bootstrap: Bootstrap,
    min_group_size: int,
) -> dict:
    """Per group of one column: counts, FPR and FNR at each band, subgroup, BPSN and BNSP AUC,
    each with its interval and small mark; and the column's equalized-odds difference at each band."""
    labels = np.asarray(labels, dtype=int)
    scores = np.asarray(scores, dtype=np.float64)
    groups_of = np.asarray(values, dtype=object)
    count_metrics = {"fp": _false_positives, "fn": _false_negatives, "negatives": _negatives, "positives": _positives}
    groups: dict[str, dict] = {}
    for value in sorted(set(groups_of.tolist())):
        in_group = groups_of == value
        groups[value] = {
            "positives": int((labels[in_group] == 1).sum()),
            "negatives": int((labels[in_group] == 0).sum()),
            "fpr": {},
            "fnr": {},
        }
        for name, records in BIAS_AUCS.items():
            groups[value] |= bias_auc(name, labels, scores, records(labels, in_group), bootstrap, min_group_size)
    equalized_odds: dict[str, float | None] = {}
    both_classes = [v for v, g in groups.items() if g["positives"] and g["negatives"]]
    for band, flagged in flagged_by_band.items():
        predicted = np.asarray(flagged, dtype=int)
        frame = MetricFrame(
            metrics=count_metrics, y_true=labels, y_pred=predicted, sensitive_features=groups_of.astype(str)
        )
        table = frame.by_group
        for value, group in groups.items():
            row = table.loc[value]
            group["fpr"][band] = group_rate(int(row["fp"]), int(row["negatives"]), bootstrap.confidence, min_group_size)
            group["fnr"][band] = group_rate(int(row["fn"]), int(row["positives"]), bootstrap.confidence, min_group_size)
        if len(both_classes) >= 2:
            keep = np.isin(groups_of, both_classes)
            equalized_odds[band] = float(
                equalized_odds_difference(labels[keep], predicted[keep], sensitive_features=groups_of[keep].astype(str))
            )
        else:
            equalized_odds[band] = None
    return {"groups": groups, "equalized_odds_difference": equalized_odds}


def fairness_report(
    labels: np.ndarray,
    scores: np.ndarray,
    flagged_by_band: dict[str, np.ndarray],
    columns: dict[str, list[str]],
    bootstrap: Bootstrap,
    min_group_size: int,
) -> dict[str, dict]:
    """`column_report` for every `groups` column."""
    return {
        name: column_report(labels, scores, flagged_by_band, values, bootstrap, min_group_size)
        for name, values in sorted(columns.items())
    }

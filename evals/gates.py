"""The release gate: each limit of `gates:` in params.yaml judged on the evaluation's figures.

Every gate yields its observed value, the limit, a status (`pass`, `fail`, or `no data` when
the figure could not be computed, e.g. a suite that was not scored or no group large enough)
and a detail naming what decided it (the split, the group column and value). The verdict is
`pass` only when every gate passes: `no data` never lets a model ship.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from evals.config import GatesConfig

PASS, FAIL, NO_DATA = "pass", "fail", "no data"


@dataclass(frozen=True)
class Gate:
    name: str
    description: str
    value: float | None
    limit: float
    comparison: str  # "<=" or ">="
    detail: str

    @property
    def status(self) -> str:
        if self.value is None:
            return NO_DATA
        holds = self.value <= self.limit if self.comparison == "<=" else self.value >= self.limit
        return PASS if holds else FAIL

    def to_dict(self) -> dict:
        return {
            "description": self.description,
            "value": self.value,
            "limit": self.limit,
            "comparison": self.comparison,
            "status": self.status,
            "passed": self.status == PASS,
            "detail": self.detail,
        }


def fpr_gap(fairness: dict, config: GatesConfig) -> tuple[float | None, str]:
    """The largest FPR gap between two groups of one column (groups with enough negatives)."""
    worst: tuple[float, str] | None = None
    for column in config.groups:
        rates = [
            (group["fpr"][config.band]["value"], value)
            for value, group in fairness.get(column, {}).get("groups", {}).items()
            if group["negatives"] >= config.min_group_size and group["fpr"][config.band]["value"] is not None
        ]
        if len(rates) < 2:
            continue
        (high, high_value), (low, low_value) = max(rates), min(rates)
        gap = high - low
        if worst is None or gap > worst[0]:
            worst = (
                gap,
                f"{column}: {high_value} FPR {high:.4g} vs {low_value} FPR {low:.4g} at band {config.band}",
            )
    if worst is None:
        return None, f"no column of {list(config.groups)} has two groups with >= {config.min_group_size} negatives"
    return worst


def lowest_auc(
    fairness: dict, config: GatesConfig, metric: str, sizes: Callable[[dict, dict], tuple[int, int]]
) -> tuple[float | None, str]:
    """The lowest `metric` over groups whose two sides (see `sizes`) both reach min_group_size."""
    candidates = []
    for column in config.groups:
        groups = fairness.get(column, {}).get("groups", {})
        totals = {
            "positives": sum(g["positives"] for g in groups.values()),
            "negatives": sum(g["negatives"] for g in groups.values()),
        }
        for value, group in groups.items():
            if group[metric] is not None and min(sizes(group, totals)) >= config.min_group_size:
                candidates.append((group[metric], f"{column}: {value}"))
    if not candidates:
        return None, f"no group of {list(config.groups)} has both sides >= {config.min_group_size} records"
    value, where = min(candidates)
    return value, f"{where} {metric} {value:.4g}"


def _subgroup_sides(group: dict, totals: dict) -> tuple[int, int]:
    return group["positives"], group["negatives"]


def _bpsn_sides(group: dict, totals: dict) -> tuple[int, int]:
    return group["negatives"], totals["positives"] - group["positives"]


def _split_rate(false_positives: dict, split: str, band: str, rate: str) -> tuple[float | None, str]:
    """The served `rate` ("fpr" or "recall") of `split` at `band` or above."""
    section = false_positives.get("splits", {}).get(split)
    if section is None:
        return None, f"{split} was not scored"
    counted = "benign" if rate == "fpr" else "risky"
    value = section["bands"][band][rate]
    if value["value"] is None:
        return None, f"{split} has no {counted} conversations"
    return value["value"], f"{split}: {value['k']} of {value['n']} {counted} conversations at band {band} or above"


def evaluate_gates(metrics: dict, config: GatesConfig, suites: dict[str, str], calibration_split: str) -> list[Gate]:
    """Every gate of `config` on `metrics` (the evaluation's sections); `suites` names the
    hard-negative and external benign suites."""
    fairness = metrics.get("fairness", {}).get("columns", {})
    false_positives = metrics.get("false_positives", {})
    calibration = metrics.get("calibration", {}).get("fused")
    gates = []
    value, detail = fpr_gap(fairness, config)
    gates.append(Gate("group_fpr_gap", "largest per-group FPR gap", value, config.max_group_fpr_gap, "<=", detail))
    value, detail = lowest_auc(fairness, config, "subgroup_auc", _subgroup_sides)
    gates.append(Gate("subgroup_auc", "lowest subgroup AUC", value, config.min_subgroup_auc, ">=", detail))
    value, detail = lowest_auc(fairness, config, "bpsn_auc", _bpsn_sides)
    gates.append(Gate("bpsn_auc", "lowest BPSN AUC", value, config.min_bpsn_auc, ">=", detail))
    value, detail = _split_rate(false_positives, suites["hard_negatives"], config.band, "fpr")
    gates.append(Gate("hard_negative_fpr", "FPR on hard negatives", value, config.max_hard_negative_fpr, "<=", detail))
    value, detail = _split_rate(false_positives, suites["external_benign"], config.band, "fpr")
    gates.append(
        Gate("external_benign_fpr", "FPR on external benign chat", value, config.max_external_benign_fpr, "<=", detail)
    )
    value, detail = _split_rate(false_positives, config.human_split, config.band, "recall")
    gates.append(
        Gate("human_recall", "recall on hand-written conversations", value, config.min_human_recall, ">=", detail)
    )
    value, detail = _split_rate(false_positives, config.chitchat_split, config.band, "fpr")
    gates.append(Gate("chitchat_fpr", "FPR on real benign chit-chat", value, config.max_chitchat_fpr, "<=", detail))
    if calibration is None or calibration.get("ece") is None:
        value, detail = None, f"no calibration figures on {calibration_split}"
    else:
        value, detail = calibration["ece"], f"{calibration_split}: served score, {calibration['n']} records"
    gates.append(Gate("ece", "expected calibration error", value, config.max_ece, "<=", detail))
    return gates


def verdict(gates: list[Gate]) -> str:
    return PASS if gates and all(g.status == PASS for g in gates) else FAIL


class NotAnEvaluation(ValueError):
    """A metrics file without the release gates an evaluation stores."""


def stored_verdict(metrics: dict) -> tuple[str, dict[str, dict]]:
    """The verdict an evaluation stored in metrics.json (`gates.verdict`) and its gates that did
    not pass, by name; any such gate makes the verdict `fail`, whatever the file says."""
    section = metrics.get("gates") if isinstance(metrics, dict) else None
    if not isinstance(section, dict) or not isinstance(section.get("gates"), dict) or "verdict" not in section:
        raise NotAnEvaluation("no release gates (gates.verdict and gates.gates)")
    not_passed = {name: gate for name, gate in section["gates"].items() if gate.get("status") != PASS}
    passed = section["verdict"] == PASS and bool(section["gates"]) and not not_passed
    return PASS if passed else FAIL, not_passed

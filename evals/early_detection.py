"""Early warning: how many messages the served scorer reads before it alerts, and the early-risk
measures that reward alerting early.

A record's decision is the served alert: positive at `alert_message_index` (the first message
at which the running score crossed the alert threshold, the `medium` band), else negative.
`k` = alert_message_index + 1 is the number of messages read when the alert fired.

- Delay of a true positive: `k` (messages read) and `alert_message_index - first escalation
  index` (messages after the first message annotated with an escalation signal; negative when
  the alert came before it).
- ERDE_o (Losada & Crestani 2016, eRisk): per record, c_fp for a false positive, c_fn = 1 for a
  false negative, lc_o(k) = 1 - 1 / (1 + e^(k - o)) for a true positive, 0 for a true negative;
  averaged over records. c_fp is the share of positives in the set, as in eRisk.
- Latency-weighted F1 (Sadeque, Xu & Bethard 2018): F1 * (1 - median penalty(k) over true
  positives), penalty(k) = -1 + 2 / (1 + e^(-p (k - 1))), with p set so that the penalty of
  the median conversation length is `penalty_at_median_length` (0.5 in Vogt, Leser & Akbik
  2021, "Early Detection of Sexual Predators in Chats").
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from evals.metrics import Bootstrap, finite_or_none


def latency_p(median_length: float, penalty_at_median: float) -> float | None:
    """p with penalty(median_length) = penalty_at_median; None for conversations of one message."""
    if median_length <= 1:
        return None
    return math.log((1 + penalty_at_median) / (1 - penalty_at_median)) / (median_length - 1)


def latency_penalty(k: np.ndarray, p: float) -> np.ndarray:
    return -1.0 + 2.0 / (1.0 + np.exp(-p * (np.asarray(k, dtype=np.float64) - 1.0)))


def erde(labels: np.ndarray, k: np.ndarray, o: int, c_fp: float) -> float:
    """ERDE_o of decisions `k` (messages read at the alert; 0 for no alert)."""
    labels = np.asarray(labels, dtype=int)
    k = np.asarray(k, dtype=np.float64)
    alerted = k > 0
    cost = np.zeros(labels.size)
    cost[alerted & (labels == 0)] = c_fp
    cost[~alerted & (labels == 1)] = 1.0
    true_positive = alerted & (labels == 1)
    cost[true_positive] = 1.0 - 1.0 / (1.0 + np.exp(np.minimum(k[true_positive] - o, 700.0)))
    return float(cost.mean()) if labels.size else math.nan


def f_latency(labels: np.ndarray, k: np.ndarray, p: float | None) -> tuple[float, float, float]:
    """(latency-weighted F1, F1, speed) of decisions `k`."""
    labels = np.asarray(labels, dtype=int)
    k = np.asarray(k, dtype=np.float64)
    alerted = k > 0
    tp = int((alerted & (labels == 1)).sum())
    fp = int((alerted & (labels == 0)).sum())
    fn = int((~alerted & (labels == 1)).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    if tp == 0 or p is None:
        return (0.0 if tp == 0 else math.nan), f1, math.nan
    speed = 1.0 - float(np.median(latency_penalty(k[alerted & (labels == 1)], p)))
    return f1 * speed, f1, speed


def _summary(values: list[int]) -> dict:
    if not values:
        return {"n": 0, "median": None, "mean": None, "p25": None, "p75": None, "histogram": {}}
    array = np.asarray(values, dtype=np.float64)
    return {
        "n": len(values),
        "median": float(np.median(array)),
        "mean": float(array.mean()),
        "p25": float(np.percentile(array, 25)),
        "p75": float(np.percentile(array, 75)),
        "histogram": {str(v): c for v, c in sorted(Counter(values).items())},
    }


def early_report(
    labels: np.ndarray,
    alert_indices: list[int | None],
    lengths: list[int],
    first_escalation: list[int | None],
    erde_o: tuple[int, ...],
    penalty_at_median: float,
    bootstrap: Bootstrap,
) -> dict:
    """Delays of the true positives, ERDE_o for each o, and latency-weighted F1, with intervals."""
    labels = np.asarray(labels, dtype=int)
    k = np.asarray([0 if a is None else a + 1 for a in alert_indices], dtype=np.float64)
    median_length = float(np.median(lengths)) if lengths else math.nan
    p = latency_p(median_length, penalty_at_median) if lengths else None
    c_fp = float(labels.mean()) if labels.size else math.nan
    true_positive = (k > 0) & (labels == 1)
    to_alert = [int(v) for v in k[true_positive]]
    after_escalation = [
        int(a - e)
        for a, e, hit in zip(alert_indices, first_escalation, true_positive, strict=True)
        if hit and e is not None and a is not None
    ]

    def measures(y: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
        weighted, f1, speed = f_latency(y, decisions, p)
        c = float(y.mean()) if y.size else math.nan
        out = {f"erde_{o}": erde(y, decisions, o, c) for o in erde_o}
        return {**out, "f_latency": weighted, "f1": f1, "speed": speed}

    point = measures(labels, k)
    report: dict = {
        "n": int(labels.size),
        "positives": int(labels.sum()),
        "median_length": finite_or_none(median_length),
        "latency_p": p,
        "penalty_at_median_length": penalty_at_median,
        "c_fp": finite_or_none(c_fp),
    }
    samples = [measures(labels[row], k[row]) for row in bootstrap.indices(labels)] if labels.size else []
    for name, value in point.items():
        report[name] = finite_or_none(value)
        report[f"{name}_ci"] = bootstrap.interval(np.asarray([s[name] for s in samples]))
    report["messages_to_alert"] = _summary(to_alert)
    report["messages_after_escalation"] = _summary(after_escalation)
    return report


def first_escalation_index(signals_per_message: list[tuple[str, ...]]) -> int | None:
    """The first message annotated with an escalation signal, or None without annotations."""
    return next((i for i, s in enumerate(signals_per_message) if s), None)

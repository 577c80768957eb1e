"""The evaluation's figures as PNG files: ROC and PR curves per split, the reliability diagram,
per-group FPR with intervals, served FPR per suite, and the alert-latency histogram. They show
numbers only; the report inlines them and MLflow keeps them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.metrics import precision_recall_curve, roc_curve

if TYPE_CHECKING:
    from evals.evaluate import ScoredSplit

DPI = 96
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def figure_file(figure_id: str) -> str:
    return _SAFE.sub("_", figure_id.replace("/", "__")) + ".png"


def _save(fig: plt.Figure, folder: Path, figure_id: str, reports: Path, out: dict[str, str]) -> None:
    path = folder / figure_file(figure_id)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    out[figure_id] = path.relative_to(reports).as_posix()


def _curves(split: ScoredSplit, folder: Path, reports: Path, out: dict[str, str]) -> None:
    models = split.models()
    labels = split.labels
    if labels.min(initial=0) == labels.max(initial=0):
        return  # one class: no curve
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, scores in sorted(models.items()):
        if scores.labels.size == 0 or scores.labels.min() == scores.labels.max():
            continue
        fpr, tpr, _ = roc_curve(scores.labels, scores.scores)
        precision, recall, _ = precision_recall_curve(scores.labels, scores.scores)
        roc_ax.plot(fpr, tpr, label=name, drawstyle="steps-post")
        pr_ax.plot(recall, precision, label=name, drawstyle="steps-pre")
    roc_ax.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1)
    roc_ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=f"ROC, {split.name}")
    pr_ax.set(xlabel="recall", ylabel="precision", title=f"precision-recall, {split.name}", ylim=(0, 1.02))
    roc_ax.legend(loc="lower right")
    pr_ax.legend(loc="lower left")
    _save(fig, folder, f"roc_pr/{split.name}", reports, out)


def _reliability(calibration: dict, folder: Path, reports: Path, out: dict[str, str]) -> None:
    fig, ax = plt.subplots(figsize=(5.2, 5))
    ax.plot([0, 1], [0, 1], color="#999", linestyle=":", linewidth=1, label="perfect calibration")
    for model in ("fused", "transformer", "metadata"):
        bins = [b for b in calibration[model]["bins"] if b["n"]]
        ece = calibration[model]["ece"]
        label = f"{model} (ECE {ece:.3f})" if ece is not None else model
        ax.plot([b["mean_score"] for b in bins], [b["observed"] for b in bins], marker="o", label=label)
    ax.set(
        xlabel="mean predicted risk in bin",
        ylabel="observed share of risky conversations",
        title=f"reliability, {calibration['split']} ({calibration['bins']} bins)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, folder, "reliability", reports, out)


def _rate_chart(
    rows: list[tuple[str, dict[str, dict]]],
    title: str,
    xlabel: str,
    folder: Path,
    figure_id: str,
    reports: Path,
    out: dict[str, str],
) -> None:
    """Horizontal points with interval bars: one row per group, one series per band."""
    rows = [(name, rates) for name, rates in rows if any(r["value"] is not None for r in rates.values())]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.4))
    bands = list(rows[0][1])
    for offset, band in enumerate(bands):
        ys, xs, lows, highs = [], [], [], []
        for position, (_, rates) in enumerate(rows):
            rate = rates[band]
            if rate["value"] is None:
                continue
            ys.append(position + (offset - (len(bands) - 1) / 2) * 0.25)
            xs.append(rate["value"])
            lows.append(max(0.0, rate["value"] - rate["ci"][0]))
            highs.append(max(0.0, rate["ci"][1] - rate["value"]))
        ax.errorbar(xs, ys, xerr=[lows, highs], fmt="o", capsize=3, label=f"band {band} or above")
    ax.set_yticks(range(len(rows)), [f"{name} (n={next(iter(r.values()))['n']})" for name, r in rows])
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, title=title, xlim=(-0.02, 1.02))
    ax.legend(loc="lower right", fontsize="small")
    _save(fig, folder, figure_id, reports, out)


def _latency(early: dict, folder: Path, reports: Path, out: dict[str, str]) -> None:
    series = [
        ("messages_to_alert", "messages read when the alert fired"),
        ("messages_after_escalation", "messages after the first escalation message"),
    ]
    series = [(key, label) for key, label in series if early[key]["n"]]
    if not series:
        return
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], series, strict=True):
        histogram = {int(k): v for k, v in early[key]["histogram"].items()}
        ax.bar(list(histogram), list(histogram.values()), width=0.8, color="#4477aa")
        ax.axvline(early[key]["median"], color="#cc3311", linestyle="--", label=f"median {early[key]['median']:g}")
        ax.set(xlabel=label, ylabel="true positives", title=f"alert latency, {early['split']}")
        ax.legend()
    _save(fig, folder, "alert_latency", reports, out)


def draw_all(scored: dict[str, ScoredSplit], metrics: dict, folder: Path, reports: Path) -> dict[str, str]:
    """Draw every figure the metrics allow into `folder`; their ids and paths relative to `reports`."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.png"):
        stale.unlink()
    out: dict[str, str] = {}
    for split in scored.values():
        _curves(split, folder, reports, out)
    if "calibration" in metrics:
        _reliability(metrics["calibration"], folder, reports, out)
    false_positives = metrics.get("false_positives", {}).get("splits", {})
    if false_positives:
        rows = [(name, {b: r["fpr"] for b, r in s["bands"].items()}) for name, s in false_positives.items()]
        _rate_chart(rows, "served FPR per split and suite", "false-positive rate", folder, "served_fpr", reports, out)
        for name, section in false_positives.items():
            for column, groups in section["by_group"].items():
                if len(groups) > 1:
                    _rate_chart(
                        list(groups.items()),
                        f"FPR by {column}, {name}",
                        "false-positive rate",
                        folder,
                        f"fpr_by_group/{name}/{column}",
                        reports,
                        out,
                    )
    fairness = metrics.get("fairness")
    if fairness:
        for column, table in fairness["columns"].items():
            rows = [(value, group["fpr"]) for value, group in table["groups"].items()]
            if sum(group["negatives"] > 0 for group in table["groups"].values()) > 1:
                _rate_chart(
                    rows,
                    f"FPR by {column}, {fairness['split']}",
                    "false-positive rate",
                    folder,
                    f"fairness_fpr/{column}",
                    reports,
                    out,
                )
    if metrics.get("early_detection"):
        _latency(metrics["early_detection"], folder, reports, out)
    return out

"""What DVC reads from an evaluation, beside the full `metrics.json`: a small summary for
`dvc metrics diff` and `dvc exp show` (ROC-AUC and PR-AUC of every model on the splits that
judge a change, the template-family CV, the real-chat FPR, the gate count), and the data of its
plots for `dvc plots show/diff`: precision-recall curves per model and split, and the
reliability bins. Numbers only."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from sklearn.metrics import precision_recall_curve

if TYPE_CHECKING:
    from evals.evaluate import ScoredSplit

SUMMARY = "summary.json"
PLOTS = "plots"
SUMMARY_METRICS = ("roc_auc", "pr_auc")


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def summary(metrics: dict, splits: tuple[str, ...], chitchat_suite: str) -> dict:
    """`{split: {model: {roc_auc, pr_auc}}}` for `splits`, the same for `template_cv`, each
    model's FPR on the real benign chat suite, and how many release gates passed and failed."""
    out: dict = {}
    for split in (*splits, "template_cv"):
        models = metrics.get(split, {}).get("models", {}) if split == "template_cv" else metrics.get(split, {})
        out[split] = {model: {m: _rounded(v.get(m)) for m in SUMMARY_METRICS} for model, v in models.items()}
    chitchat = metrics.get(chitchat_suite, {})
    out[f"{chitchat_suite}_fpr"] = {model: _rounded(v.get("fpr")) for model, v in chitchat.items()}
    gates = metrics.get("gates", {}).get("gates", {})
    passed = sum(g["status"] == "pass" for g in gates.values())
    out["gates"] = {"passed": passed, "not_passed": len(gates) - passed}
    return out


def _write_csv(path: Path, header: tuple[str, ...], rows: list[tuple[float, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_plot_data(scored: dict[str, ScoredSplit], metrics: dict, splits: tuple[str, ...], folder: Path) -> None:
    """`folder/pr/<split>/<model>.csv` (recall, precision) and `folder/reliability/<model>.csv`
    (mean_score, observed, n), replacing what an earlier run left there."""
    shutil.rmtree(folder, ignore_errors=True)
    for split in splits:
        if split not in scored:
            continue
        for model, scores in scored[split].models().items():
            if scores.labels.size == 0 or scores.labels.min() == scores.labels.max():
                continue
            precision, recall, _ = precision_recall_curve(scores.labels, scores.scores)
            rows = [(round(float(r), 5), round(float(p), 5)) for r, p in zip(recall, precision, strict=True)]
            _write_csv(folder / "pr" / split / f"{model}.csv", ("recall", "precision"), rows)
    calibration = metrics.get("calibration", {})
    for model, section in calibration.items():
        if not isinstance(section, dict) or "bins" not in section:
            continue
        rows = [(round(b["mean_score"], 5), round(b["observed"], 5), b["n"]) for b in section["bins"] if b["n"]]
        _write_csv(folder / "reliability" / f"{model}.csv", ("mean_score", "observed", "n"), rows)

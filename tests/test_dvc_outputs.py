"""What DVC reads from an evaluation: the summary (`dvc metrics`, `dvc exp show`) and the plot
data that dvc.yaml's top-level `plots` name."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from evals.dvc_outputs import summary

ROOT = Path(__file__).resolve().parents[1]


def _plot_files() -> list[tuple[str, str, str]]:
    """(file, x column, y column) of every curve of dvc.yaml's top-level plots."""
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    return [
        (path, definition["x"], column)
        for entry in plots
        for definition in entry.values()
        for path, column in definition["y"].items()
    ]


def test_summary_gives_each_models_aucs_the_chitchat_fpr_and_the_gate_count():
    metrics = {
        "test_human": {"fused": {"roc_auc": 0.912345, "pr_auc": 0.8, "fpr": 0.2}},
        "template_cv": {"models": {"transformer": {"roc_auc": 0.8, "pr_auc": 0.7}}},
        "chat": {"fused": {"fpr": 0.0333333, "roc_auc": None}},
        "gates": {"gates": {"a": {"status": "pass"}, "b": {"status": "fail"}, "c": {"status": "no data"}}},
    }
    out = summary(metrics, ("test_human", "test"), "chat")
    assert out["test_human"] == {"fused": {"roc_auc": 0.9123, "pr_auc": 0.8}}
    assert out["test"] == {}  # not evaluated: present and empty, not an error
    assert out["template_cv"] == {"transformer": {"roc_auc": 0.8, "pr_auc": 0.7}}
    assert out["chat_fpr"] == {"fused": 0.0333}
    assert out["gates"] == {"passed": 1, "not_passed": 2}


def test_evaluation_writes_the_summary_and_every_curve_dvc_yaml_names(quick_run):
    metrics = quick_run.read_json("reports/metrics.json")
    written = quick_run.read_json("reports/summary.json")
    evaluated = set(metrics["evaluation"]["splits"])
    compared = 0
    for split, models in written.items():
        if split in evaluated:
            for model, values in models.items():
                assert values["roc_auc"] == pytest.approx(metrics[split][model]["roc_auc"], abs=1e-4)
                compared += 1
    assert compared and written["gates"]["passed"] + written["gates"]["not_passed"] == len(metrics["gates"]["gates"])
    checked = 0
    for path, x, y in _plot_files():
        parts = Path(path).parts
        split, model = (parts[-2], Path(path).stem) if parts[-3] == "pr" else (None, Path(path).stem)
        if split is not None and (split not in evaluated or model not in metrics[split]):
            continue
        with (quick_run.root / path).open() as handle:
            rows = list(csv.DictReader(handle))
        assert rows, path
        assert all(0.0 <= float(r[x]) <= 1.0 and 0.0 <= float(r[y]) <= 1.0 for r in rows), path
        checked += 1
    assert checked >= 4  # at least one split's curves and the reliability bins

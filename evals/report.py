"""The auditors' report: one self-contained HTML file built from `metrics.json` and the bundle
manifest. It carries ids and numbers only, never message text."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from evals.config import eval_params
from evals.evaluate import METRICS
from serving.bundle import MANIFEST

DETECTION_COLUMNS = ("n", "positives", "roc_auc", "pr_auc", "f1", "f0_5", "precision", "recall", "fpr", "threshold")
MODEL_NOTES = {
    "fused": "served score: content and metadata fused (records with consent to read content)",
    "transformer": "fine-tuned transformer alone, calibrated (same records)",
    "tfidf": "TF-IDF + logistic regression baseline (same records)",
    "metadata": "metadata model alone, as served for records without consent (all records)",
}
STYLE = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:0.25rem 0.6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
.note{color:#555}
code{background:#f3f3f3;padding:0 0.2rem}
"""


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    return escape(str(value))


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _detection_section(split: str, models: dict[str, dict[str, float]]) -> str:
    rows = [[name, *(values[c] for c in DETECTION_COLUMNS)] for name, values in models.items()]
    notes = "".join(f"<li><b>{escape(n)}</b>: {escape(MODEL_NOTES.get(n, ''))}</li>" for n in models)
    return f"<h3>{escape(split)}</h3>{_table(['model', *DETECTION_COLUMNS], rows)}<ul class='note'>{notes}</ul>"


def render_report(metrics: dict, manifest: dict) -> str:
    """The report as one HTML document."""
    bundle = metrics.get("bundle", {})
    splits = [k for k, v in metrics.items() if k not in ("export", "bundle") and isinstance(v, dict)]
    provenance = [
        ["model version", manifest.get("model_version")],
        ["bundle sha256", bundle.get("bundle_sha256")],
        ["training data sha256", manifest.get("training_data_sha256")],
        ["git commit", manifest.get("git_commit")],
        ["MLflow run", manifest.get("mlflow_run_id")],
        ["window", json.dumps(manifest.get("window"))],
    ]
    thresholds = [[mode, t["high"], t["medium"]] for mode, t in manifest.get("thresholds", {}).items()]
    export = metrics.get("export", {})
    export_rows = [[k, v] for k, v in export.items() if not isinstance(v, dict)]
    export_rows += [[f"fused nodes: {k}", v] for k, v in export.get("fused_nodes", {}).items()]
    sections = [
        "<h1>grooming-risk: evaluation report</h1>",
        "<p class='note'>Release verdict: no release gates are defined yet in this version; read the numbers "
        "below. Every score here was computed by the served ONNX bundle, except the TF-IDF baseline, judged "
        "from the predictions written by training.</p>",
        "<h2>Model</h2>",
        _table(["field", "value"], provenance),
        "<h2>Risk bands</h2>",
        "<p class='note'>Lower score bounds, chosen on validation: <code>high</code> for the false-positive "
        "target, <code>medium</code> (the alert threshold) for the recall target.</p>",
        _table(["mode", "high", "medium"], thresholds),
        "<h2>Detection</h2>",
        *(_detection_section(split, metrics[split]) for split in splits),
        "<h2>Export parity</h2>",
        _table(["check", "value"], export_rows),
        "<h2>Data</h2><p>Datasheet: <a href='../data_cards/synthetic.md'>data_cards/synthetic.md</a>.</p>",
    ]
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>grooming-risk evaluation</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )


def report_stage(params_path: Path, profile: str | None) -> int:
    params = eval_params(params_path, profile)
    metrics = json.loads((params.paths.reports / METRICS).read_text())
    manifest = json.loads((params.paths.bundle / MANIFEST).read_text())
    out = params.paths.reports / "index.html"
    out.write_text(render_report(metrics, manifest), encoding="utf-8")
    print(f"report: {out}")
    return 0

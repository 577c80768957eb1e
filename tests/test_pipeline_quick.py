"""The quick profile end to end: generate -> train -> export -> evaluate -> report."""

import sqlite3

from serving.bundle import load_bundle
from serving.schema import LABELS, MODE_CONTENT, MODE_METADATA


def test_pipeline_leaves_a_verified_bundle_metrics_report_and_mlflow_runs(quick_run):
    bundle = load_bundle(quick_run.bundle)
    manifest = bundle.manifest
    assert manifest["labels"] == list(LABELS)
    assert set(manifest["files"]) == {"model.onnx", "metadata_model.onnx", "tokenizer.json"}
    assert set(manifest["thresholds"]) == {MODE_CONTENT, MODE_METADATA}
    for bands in manifest["thresholds"].values():
        assert bands["medium"] <= bands["high"]
    assert len(manifest["training_data_sha256"]) == 64
    assert not any(quick_run.bundle.glob("*.pkl")) and not any(quick_run.bundle.glob("*.pickle"))

    metrics = quick_run.read_json("reports/metrics.json")
    for split in ("validation", "test"):
        assert set(metrics[split]) == {"tfidf", "keyword", "transformer", "metadata", "fused"}
        for values in metrics[split].values():
            assert {"roc_auc", "pr_auc", "f1", "f0_5", "fpr"} <= set(values)
            assert 0.0 <= values["roc_auc"] <= 1.0
    export = metrics["export"]
    assert export["max_abs_logit_diff"] <= 1e-4
    assert export["fused_nodes"]["MultiHeadAttention"] == 2  # one per layer of the tiny BERT
    assert export["fused_nodes"]["SkipLayerNormalization"] == 4
    assert export["int8_bytes"] * 3 <= export["fp32_bytes"]
    assert export["int8_batch_effect_max_abs_logit"] <= 1e-4  # no activation scale shared across a batch
    assert metrics["bundle"]["bundle_sha256"] == bundle.sha256

    html = (quick_run.reports / "index.html").read_text()
    assert "<table>" in html and bundle.model_version in html

    with sqlite3.connect(quick_run.root / "mlflow.db") as db:
        run_id = manifest["mlflow_run_id"]
        keys = {row[0] for row in db.execute("select key from metrics where run_uuid = ?", (run_id,))}
        params = {row[0] for row in db.execute("select key from params where run_uuid = ?", (run_id,))}
        tags = dict(db.execute("select key, value from tags where run_uuid = ?", (run_id,)).fetchall())
    assert {"test.transformer.roc_auc", "test.tfidf.roc_auc", "export.max_abs_logit_diff"} <= keys
    assert {"seed", "window.max_length", "transformer.learning_rate"} <= params
    assert tags["data_sha256"] == manifest["training_data_sha256"]
    assert "git_commit" in tags

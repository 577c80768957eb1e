"""The quick profile end to end: generate -> train -> export -> evaluate -> report."""

import sqlite3
from dataclasses import asdict

import numpy as np
import pytest

from serving.bundle import CONTENT_ONLY, load_bundle
from serving.features import has_account_metadata
from serving.schema import LABELS, MODE_CONTENT, MODE_METADATA, labels_of, with_consent
from serving.scorer import Scorer
from training.calibration import fit_fusion
from training.config import training_params
from training.data import read_split
from training.exemplars import load_library


def test_pipeline_leaves_a_verified_bundle_metrics_report_and_mlflow_runs(quick_run):
    bundle = load_bundle(quick_run.bundle)
    manifest = bundle.manifest
    assert manifest["labels"] == list(LABELS)
    assert set(manifest["files"]) == {
        "encoder.onnx",
        "encoder_fp32.onnx",
        "conversation.onnx",
        "metadata_model.onnx",
        "tokenizer.json",
        "exemplars.yaml",
    }
    assert manifest["exemplars"]["version"] == load_library().version
    assert set(manifest["thresholds"]) == {MODE_CONTENT, MODE_METADATA, CONTENT_ONLY}
    for bands in manifest["thresholds"].values():
        assert bands["medium"] <= bands["high"]
    assert len(manifest["training_data_sha256"]) == 64
    assert not any(quick_run.bundle.glob("*.pkl")) and not any(quick_run.bundle.glob("*.pickle"))

    metrics = quick_run.read_json("reports/metrics.json")
    for split in ("validation", "test", "test_human", "external_benign_chitchat"):
        assert set(metrics[split]) == {"tfidf", "keyword", "exemplar_zero_shot", "transformer", "metadata", "fused"}
    assert metrics["test_human"]["fused"]["n"] >= 150
    cv = metrics["template_cv"]
    assert cv["folds"] == 2 and set(cv["models"]) == {"tfidf", "keyword", "exemplar_zero_shot", "transformer"}
    for split in ("validation", "test", "test_human"):
        for values in metrics[split].values():
            assert {"roc_auc", "pr_auc", "f1", "f0_5", "fpr"} <= set(values)
            assert 0.0 <= values["roc_auc"] <= 1.0
    export = metrics["export"]
    assert export["max_abs_logit_diff"] <= 1e-4
    assert export["fused_nodes"]["MultiHeadAttention"] == 2  # one per layer of the tiny BERT
    assert export["fused_nodes"]["SkipLayerNormalization"] == 4
    assert export["int8_bytes"] * 3 <= export["fp32_bytes"]
    # No activation scale shared across a batch, and batches of one length: the embedding cache is exact.
    assert export["fp32_batch_effect_max_abs_embedding"] == export["int8_batch_effect_max_abs_embedding"] == 0.0
    assert metrics["bundle"]["bundle_sha256"] == bundle.sha256

    html = (quick_run.reports / "index.html").read_text()
    assert "<table>" in html and bundle.model_version in html

    with sqlite3.connect(quick_run.root / "mlflow.db") as db:
        run_id = manifest["mlflow_run_id"]
        keys = {row[0] for row in db.execute("select key from metrics where run_uuid = ?", (run_id,))}
        params = {row[0] for row in db.execute("select key from params where run_uuid = ?", (run_id,))}
        tags = dict(db.execute("select key, value from tags where run_uuid = ?", (run_id,)).fetchall())
    assert {"test.transformer.roc_auc", "test.tfidf.roc_auc", "export.max_abs_logit_diff"} <= keys
    assert {"seed", "message.max_tokens", "transformer.learning_rate"} <= params
    assert tags["data_sha256"] == manifest["training_data_sha256"]
    assert "git_commit" in tags


def test_fusion_is_fitted_on_validation_and_its_obfuscated_twin(quick_run):
    bundle = load_bundle(quick_run.bundle)
    params, _ = training_params(quick_run.root / "params.yaml", "quick")
    assert bundle.manifest["fitted_on"]["fusion"] == ["validation", "validation_obfuscated"]
    scorer = Scorer.from_bundle(bundle, precision="fp32")  # the graph export fits through
    parts = []
    for name in ("validation", "validation_obfuscated"):
        readable = with_consent(read_split(quick_run.root / params.paths.data, name, params.limits).conversations)
        # Scored together as export scores them; those without account metadata are served on content alone.
        fusable = np.asarray([has_account_metadata(c) for c in readable])
        assert fusable.any() and (name != "validation" or not fusable.all())  # validation's chitchat has none
        columns = scorer.content_logits(readable), scorer.metadata_logits(readable), np.asarray(labels_of(readable))
        parts.append(tuple(column[fusable] for column in columns))
    both = fit_fusion(*(np.concatenate(column) for column in zip(*parts, strict=True)), params.calibration.C)
    validation_only = fit_fusion(*parts[0], params.calibration.C)
    assert asdict(bundle.fusion) == pytest.approx(asdict(both), abs=1e-9)
    assert asdict(bundle.fusion) != pytest.approx(asdict(validation_only), abs=1e-6)

"""The evaluate and report stages of the quick pipeline: every section in metrics.json, the gate
verdict in MLflow and the registry, figures and tables logged, and no message text anywhere."""

import json
import math

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from evals.gates import NO_DATA, PASS

GATES = {
    "group_fpr_gap",
    "subgroup_auc",
    "bpsn_auc",
    "hard_negative_fpr",
    "external_benign_fpr",
    "human_recall",
    "chitchat_fpr",
    "ece",
}


def texts_of(path, min_length=25):
    with path.open(encoding="utf-8") as handle:
        return {
            m["text"] for line in handle for m in json.loads(line)["messages"] if len(m.get("text") or "") >= min_length
        }


def test_metrics_hold_every_section_with_intervals(quick_run):
    metrics = quick_run.read_json("reports/metrics.json")
    fused = metrics["test"]["fused"]
    for name in ("roc_auc", "pr_auc", "f1", "f0_5", "precision_at_recall", "recall_at_fpr", "fpr"):
        lo, hi = fused[f"{name}_ci"]
        assert lo <= fused[name] <= hi, name
    assert metrics["evaluation"]["bootstrap"]["resamples"] > 0

    assert set(metrics["gates"]["gates"]) == GATES
    statuses = {g["status"] for g in metrics["gates"]["gates"].values()}
    assert metrics["gates"]["verdict"] == (PASS if statuses == {PASS} else "fail")

    assert {"identity_mention", "reporter_gender", "style", "relationship"} <= set(metrics["fairness"]["columns"])
    for group in metrics["fairness"]["columns"]["identity_mention"]["groups"].values():
        assert set(group["fpr"]) == {"high", "medium"} and set(group["fnr"]) == {"high", "medium"}
    early = metrics["early_detection"]
    assert {"erde_5", "erde_50", "f_latency", "messages_to_alert", "messages_after_escalation"} <= set(early)
    assert metrics["calibration"]["fused"]["ece"] is not None
    human = metrics["calibration_also"]["test_human"]
    assert human["split"] == "test_human" and human["fused"]["n"] == metrics["test_human"]["fused"]["n"]
    modes = metrics["modes"]["test"]
    assert {"metadata", "transformer", "fused", "fused_minus_transformer", "fused_minus_metadata"} <= set(modes)
    gain = modes["fused_minus_transformer"]["roc_auc"]["value"]
    assert math.isclose(gain, modes["fused"]["roc_auc"] - modes["transformer"]["roc_auc"], abs_tol=1e-9)
    assert "hard_negatives" not in metrics["modes"]  # one class: no AUC to compare
    metadata_fairness = metrics["fairness_metadata"]["columns"]["reporter_age_band"]["groups"]
    assert all(set(group["fpr"]) == {"medium"} for group in metadata_fairness.values())
    assert len(metrics["signals"]["signals"]) == 9
    for row in metrics["false_positives"]["top"]:
        assert set(row) == {"split", "conversation_id", "risk_score", "risk_band", "mode", "relationship", "signals"}


def test_external_benign_chat_is_scored_through_the_bundle(quick_run):
    pytest.importorskip("chatterbot_corpus", reason="chatterbot-corpus (the external benign corpus) not installed")
    metrics = quick_run.read_json("reports/metrics.json")
    external = metrics["external_benign"]
    assert set(external) == {"fused", "transformer", "metadata"}
    assert external["fused"]["n"] >= 100 and external["fused"]["positives"] == 0
    assert external["fused"]["roc_auc"] is None and external["fused"]["fpr"] is not None
    gate = metrics["gates"]["gates"]["external_benign_fpr"]
    assert (
        gate["status"] != NO_DATA
        and gate["value"]
        == metrics["false_positives"]["splits"]["external_benign"]["bands"][metrics["gates"]["band"]]["fpr"]["value"]
    )


def test_verdict_reaches_mlflow_and_champion_follows_it(quick_run):
    metrics = quick_run.read_json("reports/metrics.json")
    registry = metrics["registry"]
    client = MlflowClient(tracking_uri=f"sqlite:///{quick_run.root / 'mlflow.db'}")
    run_id = registry["evaluation_run_id"]
    assert run_id == metrics["bundle"]["mlflow_run_id"]  # logged onto the run that trained the bundle
    run = client.get_run(run_id)
    passed = metrics["gates"]["verdict"] == PASS
    assert run.data.tags["release_gate"] == ("pass" if passed else "fail")
    assert run.data.metrics["gates.passed"] == float(passed)
    assert {f"gates.{g}.passed" for g in GATES} <= set(run.data.metrics)

    name = registry["name"]
    candidate = client.get_model_version_by_alias(name, "candidate")
    assert str(candidate.version) == registry["version"] and candidate.run_id == run_id
    try:
        champion = str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        champion = None
    assert (champion == registry["version"]) == passed

    figures = {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id, "evaluation/figures")}
    assert {"roc_pr__test.png", "reliability.png", "alert_latency.png"} <= figures
    tables = {a.path.rsplit("/", 1)[-1] for a in client.list_artifacts(run_id, "evaluation/tables")}
    assert {"detection.json", "fairness_groups.json", "gates.json"} <= tables
    logged = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert {"evaluation/metrics.json", "evaluation/index.html"} <= logged


def test_no_message_text_reaches_the_report_metrics_or_mlflow_tables(quick_run):
    texts = texts_of(quick_run.root / "data" / "synthetic" / "test.jsonl")
    texts |= texts_of(quick_run.root / "data" / "synthetic" / "validation.jsonl")
    assert texts
    outputs = [quick_run.reports / "index.html", quick_run.reports / "metrics.json"]
    outputs += sorted((quick_run.root / "mlruns").rglob("evaluation/tables/*.json"))
    assert len(outputs) > 2
    for path in outputs:
        content = path.read_text(encoding="utf-8")
        leaked = [t for t in texts if t in content]
        assert not leaked, f"{path.name} holds message text"

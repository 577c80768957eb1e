"""The evaluate and report stages of the quick pipeline: every section in metrics.json, the gate
verdict in MLflow and the registry, figures and tables logged, and no message text anywhere."""

import json
import math
import posixpath
import re
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from evals.gates import NO_DATA, PASS
from evals.model_card import MODEL_CARD_MD, SMALL
from evals.report import REPORT_ARTIFACTS
from tests.conftest import ROOT, run_cli

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
    minimum, aucs = metrics["gates"]["min_group_size"], 0
    for section in ("fairness", "fairness_metadata"):
        for table in metrics[section]["columns"].values():
            for group in table["groups"].values():
                for name in ("subgroup_auc", "bpsn_auc", "bnsp_auc"):
                    assert isinstance(group[f"{name}_small"], bool)
                    if group[name] is not None:
                        low, high = group[f"{name}_ci"]
                        assert low <= group[name] <= high, name
                        aucs += 1
                assert group["fpr"]["medium"]["small"] == (group["negatives"] < minimum)
                assert group["fnr"]["medium"]["small"] == (group["positives"] < minimum)
    assert aucs > 0
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
    assert {"evaluation/metrics.json", "evaluation/index.html", f"evaluation/{MODEL_CARD_MD}"} <= logged
    generated = {a.path for a in client.list_artifacts(run_id, "data_cards/generated")}
    assert "data_cards/generated/model_results.md" in generated  # where the datasheet links it


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


def relative_links(text: str) -> set[str]:
    """The relative links of an HTML page or a Markdown file (not anchors, data or web addresses)."""
    links = set(re.findall(r"href='([^']+)'", text)) | set(re.findall(r"\]\(([^)\s]+)\)", text))
    return {link for link in links if not link.startswith(("#", "data:", "http:", "https:"))}


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for artifact in client.list_artifacts(run_id, path):
        found |= artifact_paths(client, run_id, artifact.path) if artifact.is_dir else {artifact.path}
    return found


def test_the_report_links_resolve_among_the_runs_artifacts(quick_run, tmp_path, monkeypatch):
    """The report stage in a checkout with the hand-written datasheets, logging to a fresh run: every
    relative link of the report, of MODEL_CARD.md and of the datasheets names an artifact of the run."""
    root = tmp_path / "checkout"
    shutil.copytree(quick_run.reports, root / "reports")
    shutil.copytree(quick_run.bundle, root / "models" / "bundle")
    shutil.copytree(ROOT / "data_cards", root / "data_cards", ignore=shutil.ignore_patterns("generated"))
    shutil.copytree(quick_run.root / "data_cards" / "generated", root / "data_cards" / "generated")
    shutil.copyfile(quick_run.root / "params.yaml", root / "params.yaml")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(
        client.create_experiment("links", artifact_location=(root / "mlruns").as_uri())
    ).info.run_id
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    metrics["registry"] = {"evaluation_run_id": run_id}
    (root / "reports" / "metrics.json").write_text(json.dumps(metrics))
    assert run_cli("report", "--params", "params.yaml", "--profile", "quick") == 0

    logged = artifact_paths(client, run_id)
    report = f"{REPORT_ARTIFACTS}/index.html"
    assert {report, f"{REPORT_ARTIFACTS}/{MODEL_CARD_MD}", "data_cards/synthetic.md"} <= logged
    pages = [report, f"{REPORT_ARTIFACTS}/{MODEL_CARD_MD}", *sorted(p for p in logged if p.startswith("data_cards/"))]
    checked = 0
    for page in pages:
        if not page.endswith((".html", ".md")):
            continue
        (tmp_path / "downloaded").mkdir(exist_ok=True)
        local = Path(client.download_artifacts(run_id, page, str(tmp_path / "downloaded")))
        for link in relative_links(local.read_text(encoding="utf-8")):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(page), link))
            if page.startswith("data_cards/") and not target.startswith("data_cards/"):
                continue  # a datasheet citing the repository's code, not a page of the run
            assert target in logged, f"{page} links {link}, which the run does not hold"
            checked += 1
    html_links = relative_links((root / "reports" / "index.html").read_text(encoding="utf-8"))
    assert {MODEL_CARD_MD, "../data_cards/synthetic.md"} <= html_links and checked >= len(html_links)


def test_the_report_marks_every_small_figure_of_the_fairness_tables(quick_run):
    metrics = quick_run.read_json("reports/metrics.json")
    html = (quick_run.reports / "index.html").read_text(encoding="utf-8")
    marked = 0
    for section in ("fairness", "fairness_metadata"):
        for table in metrics[section]["columns"].values():
            for group in table["groups"].values():
                marked += sum(
                    bool(group[f"{n}_small"]) and group[n] is not None for n in ("subgroup_auc", "bpsn_auc", "bnsp_auc")
                )
                rates = [*group["fpr"].values(), *group["fnr"].values()]
                marked += sum(rate["small"] and rate["n"] > 0 for rate in rates)
    in_card = (quick_run.reports / MODEL_CARD_MD).read_text(encoding="utf-8").count(f"({SMALL})")
    assert marked > 0 and html.count(f"({SMALL})") == marked + in_card

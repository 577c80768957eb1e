"""MLflow for evaluations: metrics, figures and tables onto the run that trained the bundle (a new
run when this store lacks it), and the model registry.

Registry: export logs the bundle as a pyfunc model named `bundle` in the training run
(serving/mlflow_model.py); the latest such model of the evaluated run is registered, its source
`models:/<model_id>`, so that `mlflow.pyfunc.load_model("models:/<name>@champion")` and
`mlflow models serve` load it. Each evaluated bundle becomes (or stays) one version, found again by
its run id and source; the alias `candidate` points at the latest evaluated version, `champion`
moves to it only when every release gate passed.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities import LoggedModel
from mlflow.exceptions import MlflowException

from serving.mlflow_model import BUNDLE
from serving.params import MlflowConfig, tracking_uri

log = logging.getLogger(__name__)

CANDIDATE, CHAMPION = "candidate", "champion"
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def safe_key(name: str) -> str:
    """A group value as it may appear in an MLflow metric key."""
    return _UNSAFE.sub("_", name)


def _start(experiment: str, run_id: str | None) -> mlflow.ActiveRun:
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(experiment)
    try:
        return mlflow.start_run(run_id=run_id) if run_id else mlflow.start_run(run_name="evaluate")
    except MlflowException:
        return mlflow.start_run(run_name="evaluate")


def _modes_row(split: str, entry: dict) -> dict:
    """One split of metrics.json's `modes`, flat: `<path>_<metric>` and `<gain>_<metric>`."""
    row = {"split": split, "n": entry["n"], "positives": entry["positives"]}
    for name, values in entry.items():
        if not isinstance(values, dict):
            continue
        for metric, value in values.items():
            if isinstance(value, dict):  # a gain: {"value", "ci"}
                row[f"{name}_{metric}"] = value["value"]
            elif not metric.endswith("_ci"):
                row[f"{name}_{metric}"] = value
    return row


def tables_of(metrics: dict) -> dict[str, dict[str, list]]:
    """The report's tables as columns, for `mlflow.log_table`: detection, served band rates,
    fairness per group, top false positives, calibration bins, per-signal AUCs, gates."""
    tables: dict[str, dict[str, list]] = {}

    def add(name: str, rows: list[dict]) -> None:
        if rows:
            tables[name] = {key: [row.get(key) for row in rows] for key in rows[0]}

    add(
        "detection",
        [
            {"split": split, "model": model, **{k: v if not isinstance(v, list) else str(v) for k, v in values.items()}}
            for split in metrics["evaluation"]["splits"]
            for model, values in metrics.get(split, {}).items()
        ],
    )
    add(
        "served_band_rates",
        [
            {
                "split": split,
                "band": band,
                "fpr": r["fpr"]["value"],
                "fpr_ci": str(r["fpr"]["ci"]),
                "negatives": r["fpr"]["n"],
                "recall": r["recall"]["value"],
                "positives": r["recall"]["n"],
            }
            for split, section in metrics.get("false_positives", {}).get("splits", {}).items()
            for band, r in section["bands"].items()
        ],
    )
    add(
        "false_positives_top",
        [
            {k: v for k, v in row.items() if k != "signals"} | {f"signal.{s}": v for s, v in row["signals"].items()}
            for row in metrics.get("false_positives", {}).get("top", [])
        ],
    )
    fairness_rows = []
    for section, scores in (("fairness", "served"), ("fairness_metadata", "metadata")):
        for column, table in metrics.get(section, {}).get("columns", {}).items():
            for value, group in table["groups"].items():
                row = {"scores": scores, "column": column, "group": value}
                row |= {"positives": group["positives"], "negatives": group["negatives"]}
                for band in ("high", "medium"):
                    fpr, fnr = group["fpr"].get(band, {}), group["fnr"].get(band, {})
                    row[f"fpr_{band}"] = fpr.get("value")
                    row[f"fpr_{band}_ci"] = str(fpr.get("ci"))
                    row[f"fnr_{band}"] = fnr.get("value")
                    row[f"fnr_{band}_ci"] = str(fnr.get("ci"))
                row |= {k: group[k] for k in ("subgroup_auc", "bpsn_auc", "bnsp_auc")}
                fairness_rows.append(row)
    add("fairness_groups", fairness_rows)
    add("modes", [_modes_row(split, entry) for split, entry in metrics.get("modes", {}).items()])
    add(
        "calibration_bins",
        [
            {"model": model, **b}
            for model, values in metrics.get("calibration", {}).items()
            if isinstance(values, dict)
            for b in values["bins"]
        ],
    )
    add(
        "signal_auc",
        [
            {
                "signal": name,
                "n": v["n"],
                "positives": v["positives"],
                "roc_auc": v["roc_auc"],
                "ci": str(v["roc_auc_ci"]),
            }
            for name, v in metrics.get("signals", {}).get("signals", {}).items()
        ],
    )
    add("gates", [{"gate": name, **gate} for name, gate in metrics.get("gates", {}).get("gates", {}).items()])
    return tables


def bundle_model(client: MlflowClient, run_id: str) -> LoggedModel | None:
    """The bundle model `run_id` logged last (export may run again in the same run), or None."""
    experiment = client.get_run(run_id).info.experiment_id
    found = client.search_logged_models(
        experiment_ids=[experiment],
        filter_string=f"source_run_id = '{run_id}' AND name = '{BUNDLE}'",
        order_by=[{"field_name": "creation_time", "ascending": False}],
        max_results=1,
    )
    return found[0] if found else None


def register_bundle(config: MlflowConfig, run_id: str, passed: bool, tags: dict[str, str]) -> dict:
    """Register the bundle model logged under `run_id` (reusing its version if already registered),
    alias it `candidate`, and `champion` only when `passed`. What was done, as a dict."""
    client = MlflowClient(tracking_uri=tracking_uri())
    name = config.registered_model
    model = bundle_model(client, run_id)
    if model is None:
        log.warning("run %s logged no %s model: nothing to register", run_id, BUNDLE)
        return {"name": name, "version": None, "note": f"run {run_id} logged no '{BUNDLE}' model"}
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="grooming-risk ONNX bundles (see each version's gate tags)")
    source = f"models:/{model.model_id}"
    existing = [v for v in client.search_model_versions(f"name='{name}' and run_id='{run_id}'") if v.source == source]
    if existing:
        version = str(max(int(v.version) for v in existing))
    else:
        version = str(client.create_model_version(name, source=source, run_id=run_id, model_id=model.model_id).version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CANDIDATE, version)
    if passed:
        client.set_registered_model_alias(name, CHAMPION, version)
    try:
        champion = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        champion = None
    return {"name": name, "version": str(version), "candidate_version": str(version), "champion_version": champion}


def log_evaluation(
    config: MlflowConfig,
    run_id: str | None,
    metrics: dict[str, float],
    figures: Path,
    tables: dict[str, dict[str, list]],
    passed: bool,
    bundle_sha256: str,
) -> tuple[str, dict]:
    """Log metrics, figures and tables to `run_id` (or a new run if this store lacks it), tag the
    verdict, register the bundle; the run id and what the registry did."""
    with _start(config.experiment, run_id) as active:
        mlflow.log_metrics(metrics)
        if figures.is_dir():
            mlflow.log_artifacts(str(figures), artifact_path="evaluation/figures")
        for name, columns in tables.items():
            mlflow.log_table(data=columns, artifact_file=f"evaluation/tables/{name}.json")
        mlflow.set_tags({"release_gate": "pass" if passed else "fail", "evaluated_bundle_sha256": bundle_sha256})
        evaluated = active.info.run_id
    tags = {"release_gate": "pass" if passed else "fail", "bundle_sha256": bundle_sha256}
    registry = register_bundle(config, evaluated, passed, tags)
    return evaluated, registry


def log_file(run_id: str, path: Path, artifact_path: str) -> None:
    """Log one file to an existing run."""
    mlflow.set_tracking_uri(tracking_uri())
    MlflowClient(tracking_uri=tracking_uri()).log_artifact(run_id, str(path), artifact_path=artifact_path)


def log_folder(run_id: str, folder: Path, artifact_path: str) -> None:
    """Log every file under `folder` to an existing run, in its layout, under `artifact_path`."""
    MlflowClient(tracking_uri=tracking_uri()).log_artifacts(run_id, str(folder), artifact_path=artifact_path)


def log_model_file(run_id: str, path: Path) -> str | None:
    """Log one file among the files of the bundle model `run_id` logged (the model the registry
    serves), beside its MLmodel; the model id, or None when the run logged no bundle model."""
    client = MlflowClient(tracking_uri=tracking_uri())
    model = bundle_model(client, run_id)
    if model is None:
        return None
    client.log_model_artifact(model.model_id, str(path))
    return model.model_id

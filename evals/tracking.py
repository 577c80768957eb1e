"""MLflow logging of evaluations: onto the run that trained the bundle when the store has it."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def log_evaluation(experiment: str, run_id: str | None, metrics: dict[str, float], artifact: Path) -> str:
    """Log `metrics` and `artifact` to `run_id`, or to a new run if this store lacks it; the run id."""
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI))
    mlflow.set_experiment(experiment)
    try:
        active = mlflow.start_run(run_id=run_id) if run_id else mlflow.start_run(run_name="evaluate")
    except MlflowException:
        active = mlflow.start_run(run_name="evaluate")
    with active:
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(artifact), artifact_path="evaluation")
        return active.info.run_id

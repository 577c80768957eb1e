"""MLflow logging of evaluations: onto the run that trained the bundle when the store has it."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException

from serving.params import tracking_uri


def log_evaluation(experiment: str, run_id: str | None, metrics: dict[str, float], artifact: Path) -> str:
    """Log `metrics` and `artifact` to `run_id`, or to a new run if this store lacks it; the run id."""
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(experiment)
    try:
        active = mlflow.start_run(run_id=run_id) if run_id else mlflow.start_run(run_name="evaluate")
    except MlflowException:
        active = mlflow.start_run(run_name="evaluate")
    with active:
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(artifact), artifact_path="evaluation")
        return active.info.run_id

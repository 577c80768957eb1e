"""MLflow runs of the training pipeline: one run per model version, resumed by each stage."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mlflow

from serving.params import tracking_uri


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested parameters as dotted keys, the way MLflow stores them."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@contextmanager
def run(experiment: str, run_id: str | None = None, run_name: str | None = None) -> Iterator[mlflow.ActiveRun]:
    """Start a new run of `experiment`, or resume `run_id`."""
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_id=run_id, run_name=run_name) as active:
        yield active

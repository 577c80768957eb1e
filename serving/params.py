"""Reading `params.yaml`, the single source of every number of the pipeline, into dataclasses.

Serving itself never calls this at scoring time (a bundle carries what the scorer needs);
training and evals both read their sections through it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Files one stage leaves for the next, under `paths.models`.
TRAIN_RUN = "train_run.json"
PREDICTIONS = "predictions"  # predictions/<model>/<split>.jsonl of the models judged from files
EXPORT_METRICS = "export_metrics.json"
# Under `paths.data`: the prepare stage's sources, their weights and their own evaluation splits.
SOURCES = "sources.json"
SYNTHETIC_SOURCE = "synthetic"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """The MLflow store: `MLFLOW_TRACKING_URI`, else `mlflow.db` beside the repository."""
    return os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)


@dataclass(frozen=True)
class Paths:
    synthetic: Path  # the generate stage's splits
    data: Path  # the prepare stage's: every source's, the splits that train, export and evaluate read
    models: Path
    bundle: Path
    reports: Path

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, Path(getattr(self, field.name)))


@dataclass(frozen=True)
class Thresholds:
    """Targets of the risk bands on validation: `high` at FPR <= high_max_fpr, `medium`
    (the alert threshold) at recall >= medium_min_recall, raised where needed so that at most
    medium_max_real_benign_fpr of validation's real benign chat reaches it."""

    high_max_fpr: float
    medium_min_recall: float
    medium_max_real_benign_fpr: float


@dataclass(frozen=True)
class MlflowConfig:
    experiment: str
    registered_model: str


def read_sources(data: Path) -> dict[str, Any]:
    """`sources.json` of a prepared data folder: `sources` (name, kind, weight), the licensed
    sources' `evaluation_splits` and `early_detection_splits`. A folder without one holds
    synthetic data alone."""
    path = Path(data) / SOURCES
    if not path.is_file():
        return {
            "sources": [{"name": SYNTHETIC_SOURCE, "kind": SYNTHETIC_SOURCE, "weight": 1.0}],
            "evaluation_splits": [],
            "early_detection_splits": [],
        }
    return json.loads(path.read_text())


def source_weights(data: Path) -> dict[str, float]:
    """Training weight per source name (`groups.source` of a record); a record of no licensed
    source (generated, real benign chat) counts as synthetic."""
    return {s["name"]: float(s["weight"]) for s in read_sources(data)["sources"]}


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_params(path: str | Path, profile: str | None = None) -> dict[str, Any]:
    """The parameters of `path`, with the overrides of `profiles.<profile>` applied."""
    import yaml  # training and evals extras only

    params = yaml.safe_load(Path(path).read_text())
    profiles = params.pop("profiles", {}) or {}
    if profile:
        if profile not in profiles:
            raise KeyError(f"profile {profile!r} not in {path} (have: {sorted(profiles)})")
        params = deep_merge(params, profiles[profile])
    return params


def from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build dataclass `cls` from a mapping, recursing into nested dataclass fields and
    refusing unknown or missing keys so that a typo in params.yaml fails loudly."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - names
    if unknown:
        raise KeyError(f"unknown parameters for {cls.__name__}: {sorted(unknown)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value)
        elif isinstance(hint, types.GenericAlias) and hint.__origin__ is tuple:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)

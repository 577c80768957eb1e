"""Typed views of the evaluation sections of `params.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.params import from_dict, load_params


@dataclass(frozen=True)
class EvalPaths:
    data: Path
    models: Path
    bundle: Path
    reports: Path

    def __post_init__(self) -> None:
        for name in ("data", "models", "bundle", "reports"):
            object.__setattr__(self, name, Path(getattr(self, name)))


@dataclass(frozen=True)
class EvaluateConfig:
    splits: tuple[str, ...]
    threshold_split: str  # where comparator models get their operating threshold


@dataclass(frozen=True)
class Targets:
    high_max_fpr: float
    medium_min_recall: float


@dataclass(frozen=True)
class Tracking:
    experiment: str
    registered_model: str


@dataclass(frozen=True)
class EvalParams:
    paths: EvalPaths
    evaluate: EvaluateConfig
    thresholds: Targets
    mlflow: Tracking


def eval_params(path: str | Path, profile: str | None = None) -> EvalParams:
    raw = load_params(path, profile)
    return from_dict(EvalParams, {k: raw[k] for k in EvalParams.__dataclass_fields__})

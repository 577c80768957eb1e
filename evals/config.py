"""Typed views of the evaluation sections of `params.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.params import MlflowConfig, Paths, Thresholds, from_dict, load_params


@dataclass(frozen=True)
class EvaluateConfig:
    splits: tuple[str, ...]
    threshold_split: str  # where comparator models get their operating threshold


@dataclass(frozen=True)
class EvalParams:
    paths: Paths
    evaluate: EvaluateConfig
    thresholds: Thresholds
    mlflow: MlflowConfig


def eval_params(path: str | Path, profile: str | None = None) -> EvalParams:
    raw = load_params(path, profile)
    return from_dict(EvalParams, {k: raw[k] for k in EvalParams.__dataclass_fields__})

"""Typed views of the evaluation sections of `params.yaml`: `evaluate` and `gates`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from serving.params import MlflowConfig, Paths, Thresholds, from_dict, load_params


@dataclass(frozen=True)
class BootstrapConfig:
    resamples: int  # percentile bootstrap, stratified by label, seeded by `seed`
    confidence: float  # of every interval, bootstrap and Wilson alike


@dataclass(frozen=True)
class ExternalBenignConfig:
    """Real benign dialogues from the `chatterbot-corpus` package, scored as conversations."""

    name: str  # the suite's name in metrics.json
    language: str  # a folder of chatterbot_corpus/data
    categories: tuple[str, ...]  # files of that folder, without .yml
    min_messages: int  # consecutive dialogues of a file are joined up to at least this many messages
    max_per_category: int  # conversations kept per file, so that no topic dominates


@dataclass(frozen=True)
class CalibrationConfig:
    split: str
    bins: int  # equal-width bins of the reliability diagram and ECE
    also: tuple[str, ...]  # further splits whose calibration is reported (not gated)


@dataclass(frozen=True)
class EarlyDetectionConfig:
    split: str
    erde: tuple[int, ...]  # the o of each ERDE_o (messages)
    penalty_at_median_length: float  # latency penalty at the split's median conversation length


@dataclass(frozen=True)
class EvaluateConfig:
    splits: tuple[str, ...]  # data/<split>.jsonl; a listed file that is absent is reported, not scored
    threshold_split: str  # where comparator models get their operating threshold
    bootstrap: BootstrapConfig
    precision_at_recall: float  # the recall target of `precision_at_recall`
    recall_at_fpr: float  # the FPR target of `recall_at_fpr`
    hard_negatives: str  # the benign-only suite of escalation-like cues
    robustness: str  # the perturbation suite
    false_positive_groups: tuple[str, ...]  # `groups` columns the false-positive rates are broken down by
    top_false_positives: int  # highest-scoring false positives listed by id
    external_benign: ExternalBenignConfig
    fairness_split: str
    availability_split: str  # rescored with some and none of its account features
    calibration: CalibrationConfig
    early_detection: EarlyDetectionConfig
    max_keyword_heldout_roc_auc: float  # the data card's check that cue words cannot solve held-out phrasing
    scoring_chunk: int  # conversations per scorer call: a progress line at least this often
    dvc_splits: tuple[str, ...]  # in reports/summary.json and reports/plots (evals/dvc_outputs.py)
    chitchat_suite: str  # the real benign chat suite whose FPR the summary gives


@dataclass(frozen=True)
class GatesConfig:
    """The release gate: `champion` moves only when every limit holds."""

    band: str  # the band whose flags count as positive decisions in the rate gates
    groups: tuple[str, ...]  # the `groups` columns the fairness gates judge
    min_group_size: int  # a group (or BPSN/BNSP set side) smaller than this is reported, not judged
    max_group_fpr_gap: float
    min_subgroup_auc: float
    min_bpsn_auc: float
    max_hard_negative_fpr: float
    max_external_benign_fpr: float
    max_ece: float
    min_human_recall: float  # on `human_split`, hand-written conversations
    human_split: str
    max_chitchat_fpr: float  # on `chitchat_split`, real benign chat
    chitchat_split: str


@dataclass(frozen=True)
class EvalParams:
    seed: int
    paths: Paths
    evaluate: EvaluateConfig
    gates: GatesConfig
    thresholds: Thresholds
    mlflow: MlflowConfig


def eval_params(path: str | Path, profile: str | None = None) -> EvalParams:
    raw = load_params(path, profile)
    return from_dict(EvalParams, {k: raw[k] for k in EvalParams.__dataclass_fields__})

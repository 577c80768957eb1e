"""Typed views of the training sections of `params.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.bundle import Runtime
from serving.params import MlflowConfig, Paths, Thresholds, from_dict, load_params
from serving.schema import Limits
from serving.text import MessageParams
from training.keyword_baseline import KeywordConfig
from training.synthetic import SyntheticConfig


@dataclass(frozen=True)
class BaselineConfig:
    max_features: int
    ngram_max: int
    min_df: int
    C: float
    max_iter: int


@dataclass(frozen=True)
class TinyBert:
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int


@dataclass(frozen=True)
class HeadInit:
    """Starting values of the exemplar head's parameters (`transformer.head_init`): each signal's
    weights on its best positive, near-miss and benign similarity and its bias; the role gates of
    the signal outputs (reporter, reported, other); the risk weight of each role's evidence and the
    risk bias; each signal's weight on its best similarity to the benign bank, and the offset and
    slope of the expected benign maximum in log(1 + messages of the role so far)."""

    positive_weight: float
    near_miss_weight: float
    benign_weight: float
    bank_weight: float
    length_offset: float
    length_slope: float
    signal_bias: float
    role_gates: tuple[float, float, float]
    role_risk_weights: tuple[float, float, float]  # each role's evidence in the risk, every signal alike
    risk_bias: float


@dataclass(frozen=True)
class BenignBank:
    """Real benign chat as negatives (`transformer.benign_bank`): the messages of `share` of the
    train split's real benign conversations, at most `max_messages` of them."""

    share: float
    max_messages: int


@dataclass(frozen=True)
class TransformerConfig:
    init: str  # "pretrained" (all-MiniLM-L6-v2) or "random" (a tiny BERT, for tests)
    tiny: TinyBert
    head_init: HeadInit
    benign_bank: BenignBank
    signal_loss_weight: float  # the nine signal losses (averaged) against the risk loss
    epochs: int
    batch_size: int  # conversations
    learning_rate: float
    weight_decay: float
    max_grad_norm: float
    max_positive_weight: float
    patience: int
    encode_batch_size: int  # messages per encoder batch
    joint_epochs: int  # then encoder and conversation model together (LP-FT); 0: the encoder stays frozen
    joint_batch_size: int  # conversations
    joint_encoder_learning_rate: float
    joint_learning_rate: float  # of the conversation model in the joint epochs
    threads: int


@dataclass(frozen=True)
class MetadataModelConfig:
    n_estimators: int
    learning_rate: float
    max_depth: int
    min_samples_leaf: int
    subsample: float
    masked_copies: int  # copies of the training records with account features made unknown
    missing_feature_rate: float  # in a copy, each account feature unknown at this rate
    missing_record_rate: float  # and every account feature unknown in this share of records


@dataclass(frozen=True)
class CalibrationConfig:
    C: float  # inverse L2 strength of the Platt and fusion fits
    fusion_splits: list[str]  # the fusion is fitted on these together; Platt and bands on validation


@dataclass(frozen=True)
class ExportConfig:
    opset: int
    max_abs_logit_diff: float
    max_int8_auc_delta: float
    min_int8_decision_agreement: float
    batch_effect_messages: int  # messages encoded one by one to measure int8's batch dependence
    int8_block_size: int
    int8_accuracy_level: int
    signing_key_env: str  # the environment variable naming the bundle's EC private key (PEM); unset: unsigned


@dataclass(frozen=True)
class ChitchatConfig:
    """Real benign chat from `chitchat-dataset`, split by conversation (training/chitchat.py)."""

    train: int  # conversations added to the train split, benign
    validation: int  # and to validation
    suite: int  # conversations of the evaluation suite
    suite_name: str  # its split name
    min_messages: int  # shorter conversations are not used


@dataclass(frozen=True)
class PrepareConfig:
    """How licensed sources are cut by author (training/prepare.py)."""

    validation_fraction: float  # of the official train's author groups (of every group for `records`)
    test_fraction: float  # of a `records` source's author groups, which has no official test

    def __post_init__(self) -> None:
        if not (
            self.validation_fraction >= 0
            and self.test_fraction >= 0
            and self.validation_fraction + self.test_fraction < 1
        ):
            raise ValueError("prepare: validation_fraction and test_fraction must be >= 0 and leave some train")


@dataclass(frozen=True)
class TemplateCvConfig:
    folds: int
    train: int  # conversations per fold, without the fold's template family
    validation: int  # the same, for early stopping
    test: int  # conversations per fold whose escalation moves use only the fold's family


@dataclass(frozen=True)
class TrainingParams:
    seed: int
    paths: Paths
    generate: SyntheticConfig
    message: MessageParams
    limits: Limits
    baseline: BaselineConfig
    keyword: KeywordConfig
    transformer: TransformerConfig
    metadata_model: MetadataModelConfig
    calibration: CalibrationConfig
    export: ExportConfig
    thresholds: Thresholds
    runtime: Runtime
    mlflow: MlflowConfig
    chitchat: ChitchatConfig
    committed_splits: dict[str, str]  # split name -> a committed JSONL file, relative to the repository
    template_cv: TemplateCvConfig
    prepare: PrepareConfig


SECTIONS = tuple(TrainingParams.__dataclass_fields__)


def training_params(path: str | Path, profile: str | None = None) -> tuple[TrainingParams, dict[str, Any]]:
    """The typed training parameters and the raw merged mapping (for logging)."""
    raw = load_params(path, profile)
    raw["generate"] = {**raw["generate"], "seed": raw["seed"]}
    return from_dict(TrainingParams, {k: raw[k] for k in SECTIONS}), raw

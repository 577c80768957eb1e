"""The behavioural-metadata model: account facts and timing only, exported to ONNX (no pickle)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.utils.class_weight import compute_sample_weight

from serving.features import ACCOUNT_FEATURES, METADATA_FEATURES, metadata_matrix, with_availability
from serving.schema import Conversation
from training.config import MetadataModelConfig

ACCOUNT_COLUMNS = np.asarray([METADATA_FEATURES.index(name) for name in ACCOUNT_FEATURES])


def mask_account_features(
    features: np.ndarray, feature_rate: float, record_rate: float, rng: np.random.Generator
) -> np.ndarray:
    """A copy of `features` (rows of METADATA_FEATURES) with account features made unknown (NaN):
    all of them in a `record_rate` share of rows, and in the other rows each one at `feature_rate`.
    Timing comes from the messages themselves and is left as it is."""
    masked = features.copy()
    account = masked[:, ACCOUNT_COLUMNS]
    drop = rng.random(account.shape) < feature_rate
    drop[rng.random(len(masked)) < record_rate] = True
    account[drop] = np.nan
    masked[:, ACCOUNT_COLUMNS] = account
    return masked


class MetadataModel:
    """Gradient-boosted trees over METADATA_FEATURES and whether each is known, class-balanced.
    Trees because the risk lies in combinations: many minor contacts from an old account is a
    teacher; from a new one, not. Trained on every record as it is and on `masked_copies` copies
    with account features made unknown at random, so that every pattern of missing metadata is
    one the trees have seen, and an unknown feature moves a score only as far as its absence
    says something."""

    def __init__(self, config: MetadataModelConfig, seed: int) -> None:
        self.config = config
        self.seed = seed

    def fit(
        self, conversations: list[Conversation], labels: list[int], sample_weight: np.ndarray | None = None
    ) -> MetadataModel:
        config = self.config
        rng = np.random.default_rng(self.seed)
        features = metadata_matrix(conversations)
        copies = [
            mask_account_features(features, config.missing_feature_rate, config.missing_record_rate, rng)
            for _ in range(config.masked_copies)
        ]
        matrix = with_availability(np.concatenate([features, *copies]))
        targets = np.tile(np.asarray(labels), 1 + config.masked_copies)
        self.trees_ = GradientBoostingClassifier(**self._tree_params(), random_state=self.seed)
        weights = compute_sample_weight("balanced", targets)
        if sample_weight is not None:
            weights = weights * np.tile(np.asarray(sample_weight, dtype=np.float64), 1 + config.masked_copies)
        self.trees_.fit(matrix, targets, sample_weight=weights)
        return self

    def _tree_params(self) -> dict:
        masking = {"missing_feature_rate", "missing_record_rate", "masked_copies"}
        return {k: v for k, v in asdict(self.config).items() if k not in masking}

    def predict_proba(self, conversations: list[Conversation]) -> np.ndarray:
        return self.trees_.predict_proba(with_availability(metadata_matrix(conversations)))

    def save_onnx(self, path: Path, opset: int) -> None:
        """ONNX graph with input `features` (float, n x 2 * len(METADATA_FEATURES), as
        `with_availability` writes it) and outputs `label` and `probabilities`."""
        width = 2 * len(METADATA_FEATURES)
        model = to_onnx(
            self.trees_,
            np.zeros((1, width), dtype=np.float32),
            initial_types=[("features", FloatTensorType([None, width]))],
            options={"zipmap": False},
            target_opset={"": opset, "ai.onnx.ml": 3},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model.SerializeToString())

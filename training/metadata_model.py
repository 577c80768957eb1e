"""The behavioural-metadata model: account facts and timing only, exported to ONNX (no pickle)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight

from serving.features import METADATA_FEATURES, metadata_matrix
from serving.schema import Conversation
from training.config import MetadataModelConfig


class MetadataModel:
    """Median imputation and gradient-boosted trees over METADATA_FEATURES, class-balanced.
    Trees because the risk lies in combinations: many minor contacts from an old account is a
    teacher; from a new one, not."""

    def __init__(self, config: MetadataModelConfig, seed: int) -> None:
        self.config = config
        self.seed = seed

    def fit(self, conversations: list[Conversation], labels: list[int]) -> MetadataModel:
        self.pipeline_ = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("trees", GradientBoostingClassifier(**asdict(self.config), random_state=self.seed)),
            ]
        )
        weights = compute_sample_weight("balanced", labels)
        self.pipeline_.fit(metadata_matrix(conversations), labels, trees__sample_weight=weights)
        return self

    def predict_proba(self, conversations: list[Conversation]) -> np.ndarray:
        return self.pipeline_.predict_proba(metadata_matrix(conversations))

    def save_onnx(self, path: Path, opset: int) -> None:
        """ONNX graph with input `features` (float, n x len(METADATA_FEATURES)) and outputs
        `label` and `probabilities`."""
        sample = np.zeros((1, len(METADATA_FEATURES)), dtype=np.float32)
        model = to_onnx(
            self.pipeline_,
            sample,
            initial_types=[("features", FloatTensorType([None, len(METADATA_FEATURES)]))],
            options={"zipmap": False},
            target_opset={"": opset, "ai.onnx.ml": 3},
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(model.SerializeToString())

"""The metadata model: ONNX scores equal scikit-learn's, unknown values included; it learns
from combinations of features, not from one alone; and an unknown feature reads as unknown."""

import numpy as np
import onnxruntime as ort

from serving.features import ACCOUNT_FEATURES, METADATA_FEATURES, with_availability
from training.config import MetadataModelConfig
from training.metadata_model import MetadataModel, mask_account_features

CONFIG = MetadataModelConfig(
    n_estimators=60,
    learning_rate=0.1,
    max_depth=3,
    min_samples_leaf=5,
    subsample=1.0,
    masked_copies=2,
    missing_feature_rate=0.3,
    missing_record_rate=0.2,
)


def _matrix(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Risky when the account is new AND has many minor contacts: neither feature alone decides."""
    features = rng.normal(size=(n, len(METADATA_FEATURES))).astype(np.float32)
    labels = ((features[:, 0] < 0) & (features[:, 1] > 0)).astype(int)
    return features, labels


def test_onnx_equals_sklearn_with_unknown_values(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    train, labels = _matrix(rng, 400)
    test, test_labels = _matrix(rng, 200)
    test[::7, 0] = np.nan
    test[::5, -1] = np.nan
    monkeypatch.setattr("training.metadata_model.metadata_matrix", lambda rows: np.asarray(rows, dtype=np.float32))
    model = MetadataModel(CONFIG, seed=1).fit(list(train), labels.tolist())
    model.save_onnx(tmp_path / "metadata.onnx", opset=18)
    session = ort.InferenceSession(str(tmp_path / "metadata.onnx"), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"features": with_availability(test)})
    expected = model.predict_proba(list(test))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    accuracy = ((expected[:, 1] >= 0.5) == test_labels).mean()
    assert accuracy > 0.9  # learnt the interaction


def _fit(monkeypatch, features: np.ndarray, labels: np.ndarray) -> MetadataModel:
    monkeypatch.setattr("training.metadata_model.metadata_matrix", lambda rows: np.asarray(rows, dtype=np.float32))
    return MetadataModel(CONFIG, seed=1).fit(list(features), labels.tolist())


def test_an_unknown_feature_is_not_a_typical_value(monkeypatch):
    """The risk rests on the first account feature alone. Unknown, it must say "unknown": a score
    between the risky and the safe value's, not the score of the median account."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(600, len(METADATA_FEATURES))).astype(np.float32)
    labels = (features[:, 0] < -0.5).astype(int)  # a minority: the median account is safe
    model = _fit(monkeypatch, features, labels)
    rows = np.zeros((3, len(METADATA_FEATURES)), dtype=np.float32)
    rows[0, 0], rows[1, 0], rows[2, 0] = -2.0, 2.0, np.nan
    risky, safe, unknown = model.predict_proba(list(rows))[:, 1]
    median = model.predict_proba(list(np.zeros((1, len(METADATA_FEATURES)), dtype=np.float32)))[0, 1]
    assert safe < unknown < risky
    assert unknown - median > 0.1


def test_masking_makes_account_features_unknown_and_leaves_timing():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(4000, len(METADATA_FEATURES))).astype(np.float32)
    masked = mask_account_features(features, feature_rate=0.3, record_rate=0.2, rng=rng)
    account = [METADATA_FEATURES.index(n) for n in ACCOUNT_FEATURES]
    timing = [i for i in range(len(METADATA_FEATURES)) if i not in account]
    np.testing.assert_array_equal(masked[:, timing], features[:, timing])
    unknown = np.isnan(masked[:, account])
    assert abs(unknown.all(axis=1).mean() - (0.2 + 0.8 * 0.3 ** len(account))) < 0.03
    assert abs(unknown[~unknown.all(axis=1)].mean() - 0.3) < 0.03
    kept = ~unknown
    np.testing.assert_array_equal(masked[:, account][kept], features[:, account][kept])
    assert not np.isnan(features).any()  # the input is left as it was

"""The metadata model: ONNX scores equal scikit-learn's, unknown values included, and it learns
from combinations of features, not from one alone."""

import numpy as np
import onnxruntime as ort

from serving.features import METADATA_FEATURES
from training.config import MetadataModelConfig
from training.metadata_model import MetadataModel

CONFIG = MetadataModelConfig(n_estimators=60, learning_rate=0.1, max_depth=3, min_samples_leaf=5, subsample=1.0)


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
    (probabilities,) = session.run(["probabilities"], {"features": test})
    expected = model.predict_proba(list(test))
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    accuracy = ((expected[:, 1] >= 0.5) == test_labels).mean()
    assert accuracy > 0.9  # learnt the interaction

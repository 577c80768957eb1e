"""The model registry: every evaluated bundle is a version aliased `candidate`; `champion` moves
only when every gate passed."""

import json
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from evals.tracking import register_bundle
from serving.mlflow_model import log_bundle_model
from serving.params import MlflowConfig

CONFIG = MlflowConfig(experiment="registry-test", registered_model="grooming-risk-test")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module (creating an MLflow database takes seconds)."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(root)
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(CONFIG.experiment)
        yield MlflowClient(tracking_uri=uri)
        mlflow.set_tracking_uri(previous)


def training_run(tmp_path, name: str, with_bundle: bool = True) -> str:
    """A run that logged a bundle model (a manifest stands in for the ONNX files)."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"model_version": name}))
    with mlflow.start_run(run_name=name) as run:
        if with_bundle:
            log_bundle_model(folder, tmp_path / "data", "0" * 64)
        else:
            mlflow.log_metric("x", 1.0)
    return run.info.run_id


def champion(client, name: str = CONFIG.registered_model):
    try:
        return str(client.get_model_version_by_alias(name, "champion").version)
    except MlflowException:
        return None


def test_champion_moves_only_when_every_gate_passes(store, tmp_path):
    first = training_run(tmp_path, "v1")
    result = register_bundle(CONFIG, first, passed=False, tags={"release_gate": "fail"})
    assert result["version"] == "1" and result["champion_version"] is None
    assert str(store.get_model_version_by_alias(CONFIG.registered_model, "candidate").version) == "1"
    assert champion(store) is None
    version = store.get_model_version(CONFIG.registered_model, "1")
    assert version.source.startswith("models:/m-") and version.run_id == first
    assert store.get_logged_model(version.source.removeprefix("models:/")).source_run_id == first
    assert version.tags["release_gate"] == "fail"

    second = training_run(tmp_path, "v2")
    assert register_bundle(CONFIG, second, passed=True, tags={})["champion_version"] == "2"
    assert champion(store) == "2"

    third = training_run(tmp_path, "v3")
    result = register_bundle(CONFIG, third, passed=False, tags={})
    assert result["version"] == "3" and result["champion_version"] == "2"
    assert str(store.get_model_version_by_alias(CONFIG.registered_model, "candidate").version) == "3"
    assert champion(store) == "2"

    # Evaluating the same bundle again reuses its version; passing now moves champion to it.
    assert register_bundle(CONFIG, third, passed=True, tags={})["version"] == "3"
    assert champion(store) == "3"
    assert len(store.search_model_versions(f"name='{CONFIG.registered_model}'")) == 3

    # The registered model holds the bundle folder as it was logged.
    local = mlflow.artifacts.download_artifacts(
        f"models:/{CONFIG.registered_model}@champion", dst_path=str(tmp_path / "downloaded")
    )
    (manifest,) = (Path(local) / "artifacts").rglob("manifest.json")
    assert json.loads(manifest.read_text()) == {"model_version": "v3"}


def test_a_run_without_a_bundle_is_not_registered(store, tmp_path):
    config = MlflowConfig(experiment=CONFIG.experiment, registered_model="grooming-risk-bare")
    run = training_run(tmp_path, "bare", with_bundle=False)
    result = register_bundle(config, run, passed=True, tags={})
    assert result["version"] is None and "logged no 'bundle' model" in result["note"]
    assert champion(store, config.registered_model) is None

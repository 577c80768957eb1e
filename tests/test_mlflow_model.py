"""The registered model is an MLflow model: `mlflow.pyfunc.load_model` and `mlflow models serve`
score records exactly as `grooming-risk score` does, rejects included, and leak no message text."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from serving.bundle import load_bundle
from serving.mlflow_model import BUNDLE, OUTPUT_SCHEMA
from tests.conftest import run_cli, valid_record

COLUMNS = OUTPUT_SCHEMA.input_names()
SERVE_START_SECONDS = 180  # a loaded 2-core machine starts the server in well under this
REQUEST_SECONDS = 60
STOP_SECONDS = 30


def _records() -> list[dict]:
    """Hand-written records: scored with and without consent, and each kind of reject."""
    nothing_to_score = valid_record("r-3", opt_in=False)
    del nothing_to_score["metadata"]
    nothing_to_score["messages"] = nothing_to_score["messages"][:1]
    not_boolean = valid_record("r-5") | {"opt_in": "yes"}
    no_messages = valid_record("r-6")
    del no_messages["messages"]
    labelled = valid_record("r-7") | {"label": 0, "groups": {"style": "plain"}}
    return [
        valid_record("r-1"),
        valid_record("r-2", opt_in=False),
        nothing_to_score,
        valid_record("r-1"),
        not_boolean,
        no_messages,
        labelled,
    ]


RECORDS = _records()
TEXTS = {m["text"] for r in RECORDS for m in r.get("messages", [])}


@pytest.fixture(scope="module")
def store(quick_run):
    """The quick run's MLflow store, where evaluate registered its bundle."""
    uri = f"sqlite:///{quick_run.root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(uri)
        yield uri
        mlflow.set_tracking_uri(previous)


@pytest.fixture(scope="module")
def model_uri(quick_run, store) -> str:
    registry = quick_run.read_json("reports/metrics.json")["registry"]
    return f"models:/{registry['name']}@candidate"


@pytest.fixture(scope="module")
def expected(quick_run, tmp_path_factory) -> list[dict]:
    """`grooming-risk score` on RECORDS, as one row per record: its score, or its reject."""
    folder = tmp_path_factory.mktemp("mlflow_cli")
    source, out, rejects = folder / "in.jsonl", folder / "scores.jsonl", folder / "rejects.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects) == 0
    scored = iter(json.loads(line) for line in out.read_text().splitlines())
    rejected = {r["line"]: r for r in map(json.loads, rejects.read_text().splitlines())}
    rows = []
    for line in range(1, len(RECORDS) + 1):
        if line in rejected:
            reject = rejected[line]
            rows.append(
                dict.fromkeys(COLUMNS) | {"conversation_id": reject["conversation_id"], "reason": reject["reason"]}
            )
        else:
            rows.append(next(scored) | {"reason": None})
    return rows


def test_expected_rows_hold_every_output_field_and_each_kind_of_reject(expected):
    assert [list(row) for row in expected if row["reason"] is None] == [COLUMNS] * 3
    assert [(row["conversation_id"], row["reason"]) for row in expected if row["reason"] is not None] == [
        ("r-3", "nothing to score: no consent to read messages and no metadata"),
        ("r-1", "duplicate conversation_id (first seen at line 1)"),
        ("r-5", "opt_in must be true or false"),
        ("r-6", "messages is missing"),
    ]


def test_the_registered_model_is_the_exported_bundle_with_its_training_data(quick_run, store, model_uri):
    client = MlflowClient(tracking_uri=store)
    registry = quick_run.read_json("reports/metrics.json")["registry"]
    bundle = load_bundle(quick_run.bundle)
    version = client.get_model_version_by_alias(registry["name"], "candidate")
    assert str(version.version) == registry["version"] and version.run_id == bundle.manifest["mlflow_run_id"]
    logged = client.get_logged_model(version.source.removeprefix("models:/"))
    assert logged.name == BUNDLE
    assert logged.source_run_id == bundle.manifest["mlflow_run_id"]
    gate_passed = quick_run.read_json("reports/metrics.json")["gates"]["verdict"] == "pass"
    assert (registry["champion_version"] == registry["version"]) is gate_passed
    (data,) = client.get_run(version.run_id).inputs.dataset_inputs
    data_sha256 = bundle.manifest["training_data_sha256"]
    assert data.dataset.digest == data_sha256[:8] and {t.key: t.value for t in data.tags}["data_sha256"] == data_sha256
    local = mlflow.artifacts.download_artifacts(model_uri, dst_path=str(quick_run.root / "registered"))
    manifest = json.loads((quick_run.bundle / "manifest.json").read_text())
    (registered,) = (Path(local) / "artifacts").rglob("manifest.json")
    assert json.loads(registered.read_text()) == manifest
    assert not [path for path in Path(local).rglob("*") if path.suffix in {".pkl", ".pickle"}]


def test_the_loaded_model_scores_as_the_score_command(model_uri, expected):
    model = mlflow.pyfunc.load_model(model_uri)
    predicted = model.predict(pd.DataFrame(RECORDS))
    assert list(predicted.columns) == COLUMNS
    assert predicted.to_dict(orient="records") == expected


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_SECONDS) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _wait_for_ping(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVE_START_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, f"mlflow models serve exited with {server.returncode}:\n{log.read_text()[-2000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"mlflow models serve did not answer /ping within {SERVE_START_SECONDS} s")


def _stop(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL to whatever of it is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=STOP_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def test_mlflow_models_serve_answers_as_the_score_command(store, model_uri, expected, tmp_path):
    port = _free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    # The server starts `uvicorn` by name: the environment's scripts must be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    with log.open("w") as output:
        server = subprocess.Popen(
            command,
            env=os.environ | {"MLFLOW_TRACKING_URI": store, "PATH": path},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the server runs uvicorn as a child: both stopped as one group
        )
        try:
            _wait_for_ping(f"http://127.0.0.1:{port}/ping", server, log)
            status, answer = _post(f"http://127.0.0.1:{port}/invocations", {"dataframe_records": RECORDS})
        finally:
            _stop(server)
    assert status == 200, answer
    assert answer["predictions"] == expected
    logged = log.read_text()
    assert not [text for text in TEXTS if text in logged or text in json.dumps(answer)]

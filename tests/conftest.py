"""Test setup: a closed network, and one quick run of the pipeline shared by the tests that need a bundle."""

from __future__ import annotations

import os

for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_name, _value)

import json  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from serving.cli import main  # noqa: E402

# Properties, not timings: a loaded machine must not fail a test by a per-example deadline.
settings.register_profile("grooming-risk", deadline=None)
settings.load_profile("grooming-risk")

ROOT = Path(__file__).resolve().parents[1]
# A hand-written PAN 2012 tree in the official layout (non-explicit): the quick run trains on it too.
PAN12_TREE = ROOT / "tests" / "fixtures" / "pan12_tree"
PAN12_ENV = "GROOMING_RISK_TEST_PAN12"


def flip_byte(path: Path, fraction: float = 0.5, mask: int = 0x01) -> None:
    """Damage a file in place: the byte at `fraction` of its length XOR `mask`."""
    data = bytearray(path.read_bytes())
    data[int(len(data) * fraction)] ^= mask
    path.write_bytes(bytes(data))


def valid_record(conversation_id: str = "r-1", opt_in: bool = True) -> dict:
    """A small hand-written record in the input format (benign small talk)."""
    return {
        "conversation_id": conversation_id,
        "opt_in": opt_in,
        "participants": [
            {"id": "u1", "role": "reporter", "age_band": "13-15"},
            {"id": "u2", "role": "reported", "age_band": "adult"},
        ],
        "messages": [
            {"sender": "u2", "ts": "2026-03-01T19:02:00Z", "text": "hey, saw you in the lobby"},
            {"sender": "u1", "ts": "2026-03-01T19:03:00Z", "text": "yeah that match was fun"},
            {"sender": "u2", "ts": "2026-03-01T19:05:00Z", "text": "which team are you on next week"},
        ],
        "metadata": {"reported_account_age_days": 9, "reported_minor_contacts_30d": 14},
    }


class RecordingTokenizer:
    """Passes through to the real tokenizer and remembers every text it was asked to encode."""

    def __init__(self, tokenizer):
        self.tokenizer, self.seen = tokenizer, []

    def encode_batch(self, texts, **kwargs):
        self.seen.extend(texts)
        return self.tokenizer.encode_batch(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


@dataclass(frozen=True)
class QuickRun:
    root: Path
    bundle: Path
    reports: Path

    def read_json(self, relative: str) -> dict:
        return json.loads((self.root / relative).read_text())


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    """generate -> prepare -> train -> template-cv -> export -> evaluate -> report with the quick
    profile, in a fresh folder, on the synthetic data and the PAN12 fixture (its path from an
    environment variable, as a licensed path would come)."""
    root = tmp_path_factory.mktemp("quick")
    params = (ROOT / "params.yaml").read_text()
    synthetic_only = "sources:\n  - {kind: synthetic}\n"
    assert synthetic_only in params
    with_pan12 = f"{synthetic_only}  - {{kind: pan12, path: ${PAN12_ENV}, weight: 2.0}}\n"
    (root / "params.yaml").write_text(params.replace(synthetic_only, with_pan12))
    previous = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", PAN12_ENV)}
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    os.environ[PAN12_ENV] = str(PAN12_TREE)
    previous_cwd = Path.cwd()
    os.chdir(root)
    try:
        for stage in ("generate", "prepare", "train", "template-cv", "export", "evaluate", "report"):
            assert run_cli(stage, "--params", "params.yaml", "--profile", "quick") == 0, stage
    finally:
        os.chdir(previous_cwd)
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return QuickRun(root, root / "models" / "bundle", root / "reports")

"""Text of a conversation without consent is never read, in training or in scoring."""

import json
import shutil

import serving.text
from training.pipeline import train_stage

MARKER = "withheldmarker"


def test_training_never_reads_text_without_consent(quick_run, tmp_path, monkeypatch):
    shutil.copytree(quick_run.root / "data", tmp_path / "data")
    shutil.copyfile(quick_run.root / "params.yaml", tmp_path / "params.yaml")
    train_file = tmp_path / "data" / "synthetic" / "train.jsonl"
    records = [json.loads(line) for line in train_file.read_text().splitlines()]
    records[0]["opt_in"] = False  # at least one, whatever the generator drew
    for record in records:
        if not record["opt_in"]:
            for message in record["messages"]:
                message["text"] = f"{MARKER} {message['text']}"
    train_file.write_text("".join(json.dumps(r) + "\n" for r in records))

    seen: list[str] = []
    real_normalize = serving.text.normalize

    def recording_normalize(text: str) -> str:
        seen.append(text)
        return real_normalize(text)

    monkeypatch.setattr(serving.text, "normalize", recording_normalize)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    assert train_stage(tmp_path / "params.yaml", "quick") == 0
    assert seen, "the recorder saw no text at all: the test would prove nothing"
    assert not any(MARKER in text for text in seen)

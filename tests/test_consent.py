"""Text of a conversation without consent is never read: not in parsing, training or scoring."""

import json
import shutil
from typing import ClassVar

import pytest

import serving.scorer
import serving.text
from serving.batch import NOTHING_TO_SCORE
from serving.features import TIMING_FEATURES
from serving.schema import Limits, parse_record
from tests.conftest import RecordingTokenizer, run_cli, valid_record
from training.pipeline import train_stage

MARKER = "withheldmarker"


def test_training_never_reads_text_without_consent(quick_run, tmp_path, monkeypatch):
    shutil.copytree(quick_run.root / "data", tmp_path / "data")
    shutil.copyfile(quick_run.root / "params.yaml", tmp_path / "params.yaml")
    train_file = tmp_path / "data" / "prepared" / "train.jsonl"  # what the train stage reads
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


class TracedMessage(dict):
    """A message object that remembers every key looked up."""

    looked_up: ClassVar[list[str]] = []

    def get(self, key, default=None):
        TracedMessage.looked_up.append(key)
        return super().get(key, default)

    def __getitem__(self, key):
        TracedMessage.looked_up.append(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("opt_in", [False, True])
def test_parsing_a_record_without_consent_never_looks_up_message_text(opt_in):
    record = valid_record(opt_in=opt_in)
    record["messages"] = [TracedMessage(m) for m in record["messages"]]
    TracedMessage.looked_up = []
    conversation = parse_record(record, Limits(max_messages=10, max_message_chars=100, max_record_bytes=10_000))
    assert ("text" in TracedMessage.looked_up) is opt_in  # True: the tracer sees a lookup when there is one
    assert all(m.text == "" for m in conversation.messages) is not opt_in


@pytest.mark.parametrize("with_consent", [0, 1])
def test_a_metadata_only_run_never_normalises_or_tokenises(quick_run, tmp_path, monkeypatch, with_consent):
    normalised: list[str] = []
    tokenizers: list[RecordingTokenizer] = []
    real_normalize, real_load = serving.text.normalize, serving.scorer.load_tokenizer

    def recording_load(path):
        tokenizers.append(RecordingTokenizer(real_load(path)))
        return tokenizers[-1]

    monkeypatch.setattr(serving.text, "normalize", lambda text: normalised.append(text) or real_normalize(text))
    monkeypatch.setattr(serving.scorer, "load_tokenizer", recording_load)
    records = [valid_record(f"m-{i}", opt_in=i < with_consent) for i in range(3)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out, rejects = tmp_path / "scores.jsonl", tmp_path / "rejects.jsonl"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects) == 0
    modes = [json.loads(line)["mode"] for line in out.read_text().splitlines()]
    assert modes.count("metadata-only") == 3 - with_consent
    # With one consenting record the recorders fill: they would catch a leak.
    tokenised = [text for tokenizer in tokenizers for text in tokenizer.seen]
    assert bool(normalised) is bool(with_consent) and bool(tokenised) is bool(with_consent)


def test_a_record_without_consent_or_metadata_is_rejected_not_scored(quick_run, tmp_path, capsys):
    """Without consent the text is not read; without account metadata and with fewer than two
    valid timestamps there is nothing left to score: a reject with its reason, counted on a line
    of its own, never a score that rests on nothing. Two timestamps are enough for timing."""
    nothing = valid_record("nothing", opt_in=False)
    del nothing["metadata"]
    nothing["messages"] = nothing["messages"][:1]
    bad_stamps = valid_record("bad-stamps", opt_in=False)
    del bad_stamps["metadata"]
    bad_stamps["messages"][1]["ts"] = "not a time"
    bad_stamps["messages"][2]["ts"] = "2026-13-40T99:00:00Z"
    timing = valid_record("timing-only", opt_in=False)
    del timing["metadata"]
    records = [valid_record("read"), nothing, bad_stamps, timing]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out, rejects = tmp_path / "scores.jsonl", tmp_path / "rejects.jsonl"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects) == 0
    printed = capsys.readouterr().out
    scored = {r["conversation_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(scored) == {"read", "timing-only"}
    assert scored["timing-only"]["mode"] == "metadata-only"
    assert scored["timing-only"]["metadata_used"] == list(TIMING_FEATURES)
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["conversation_id"], r["line"]) for r in rejected] == [("nothing", 2), ("bad-stamps", 3)]
    assert {r["reason"] for r in rejected} == {NOTHING_TO_SCORE}
    assert "read 4 = scored 2 + rejected 2" in printed
    assert "nothing to score (no consent, no metadata): 2" in printed

"""`grooming-risk score` as a safety team runs it: bad input, formats, consent, no text leaked."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.bundle import load_bundle
from serving.schema import parse_record
from serving.scorer import Scorer
from tests.conftest import run_cli, valid_record

TEXTS = [m["text"] for m in valid_record()["messages"]]


def _write_lines(path, lines):
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def _json_line(record) -> bytes:
    return json.dumps(record).encode()


def test_good_records_are_scored_and_bad_ones_rejected_with_line_and_reason(quick_run, tmp_path, capsys):
    no_messages = valid_record("r-3")
    del no_messages["messages"]
    source = _write_lines(
        tmp_path / "in.jsonl",
        [
            _json_line(valid_record("r-1")),
            b'{"conversation_id": "r-2", "opt_in": tru',
            _json_line(no_messages),
            _json_line(valid_record("r-4", opt_in=False)),
            _json_line(valid_record("r-1")),
            b"\xff\xfe not utf-8",
        ],
    )
    out, rejects = tmp_path / "scores.jsonl", tmp_path / "rejects.jsonl"
    code = run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects)
    printed = capsys.readouterr()
    assert code == 0
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [s["conversation_id"] for s in scored] == ["r-1", "r-4"]
    assert [(r["line"], r["conversation_id"]) for r in rejected] == [(2, None), (3, "r-3"), (5, "r-1"), (6, None)]
    reasons = [r["reason"] for r in rejected]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "messages is missing"
    assert reasons[2] == "duplicate conversation_id (first seen at line 1)"
    assert reasons[3].startswith("not valid UTF-8")
    assert "read 6 = scored 2 + rejected 4" in printed.out
    bundle = load_bundle(quick_run.bundle)
    first, consentless = scored
    assert first["mode"] == "content+metadata" and consentless["mode"] == "metadata-only"
    assert first["risk_band"] in {"high", "medium", "low"} and 0.0 <= first["risk_score"] <= 1.0
    assert set(first["signals"]) == set(bundle.labels[1:])
    assert consentless["top_message_indices"] == [] and consentless["alert_message_index"] is None
    assert first["bundle_sha256"] == bundle.sha256 and first["model_version"] == bundle.model_version
    everything = out.read_text() + rejects.read_text() + printed.out + printed.err
    assert not any(text in everything for text in TEXTS)


def test_parquet_in_and_out_give_the_same_scores_as_jsonl(quick_run, tmp_path):
    records = [valid_record(f"p-{i}") for i in range(3)]
    jsonl = _write_lines(tmp_path / "in.jsonl", [_json_line(r) for r in records])
    parquet = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet)
    run_cli(
        "score",
        "--bundle",
        quick_run.bundle,
        "--input",
        jsonl,
        "--output",
        tmp_path / "a.jsonl",
        "--rejects",
        tmp_path / "ra.jsonl",
    )
    run_cli(
        "score",
        "--bundle",
        quick_run.bundle,
        "--input",
        parquet,
        "--output",
        tmp_path / "b.parquet",
        "--rejects",
        tmp_path / "rb.jsonl",
    )
    from_jsonl = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    from_parquet = pq.read_table(tmp_path / "b.parquet").to_pylist()
    assert [r["conversation_id"] for r in from_parquet] == ["p-0", "p-1", "p-2"]
    for a, b in zip(from_jsonl, from_parquet, strict=True):
        assert a["risk_score"] == pytest.approx(b["risk_score"], abs=1e-12)
        assert a["signals"] == pytest.approx(b["signals"])


@pytest.mark.parametrize("bundle_arg", ["missing-folder", "empty"])
def test_missing_or_unreadable_bundle_is_a_one_line_error(tmp_path, capsys, bundle_arg):
    (tmp_path / "empty").mkdir()
    source = _write_lines(tmp_path / "in.jsonl", [_json_line(valid_record())])
    code = run_cli(
        "score",
        "--bundle",
        tmp_path / bundle_arg,
        "--input",
        source,
        "--output",
        tmp_path / "o.jsonl",
        "--rejects",
        tmp_path / "r.jsonl",
    )
    err = capsys.readouterr().err
    assert code != 0
    assert err.startswith("error: bundle") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.jsonl").exists()


class RecordingTokenizer:
    """Passes through to the real tokenizer and remembers every text it was asked to encode."""

    def __init__(self, tokenizer):
        self.tokenizer, self.seen = tokenizer, []

    def encode_batch(self, texts, **kwargs):
        self.seen.extend(texts)
        return self.tokenizer.encode_batch(texts, **kwargs)

    def __getattr__(self, name):
        return getattr(self.tokenizer, name)


def test_records_without_consent_never_reach_the_tokenizer(quick_run):
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle)
    recorder = RecordingTokenizer(scorer.windower.tokenizer)
    scorer.windower.tokenizer = recorder
    private = valid_record("private", opt_in=False)
    private["messages"][0]["text"] = "private words only"
    conversations = [parse_record(valid_record("shared"), bundle.limits), parse_record(private, bundle.limits)]
    shared_score, private_score = scorer.score(conversations)
    assert private_score.mode == "metadata-only" and shared_score.mode == "content+metadata"
    assert recorder.seen and not any("private words" in text for text in recorder.seen)
    scorer.score(conversations[1:])
    assert not any("private words" in text for text in recorder.seen)


def test_output_that_would_overwrite_the_input_is_refused(quick_run, tmp_path, capsys):
    source = _write_lines(tmp_path / "in.jsonl", [_json_line(valid_record())])
    before = source.read_bytes()
    code = run_cli(
        "score", "--bundle", quick_run.bundle, "--input", source, "--output", source, "--rejects", tmp_path / "r.jsonl"
    )
    assert code == 2 and "three different files" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_corrupt_parquet_is_a_one_line_error_and_leaves_no_output(quick_run, tmp_path, capsys):
    source = tmp_path / "in.parquet"
    source.write_bytes(b"this is not parquet")
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    code = run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not rejects.exists()
    assert not list(tmp_path.glob("*.partial"))

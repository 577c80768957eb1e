"""`grooming-risk score` as a safety team runs it: bad input, formats, consent, no text leaked."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.bundle import load_bundle
from serving.schema import parse_record
from serving.scorer import Scorer
from tests.conftest import RecordingTokenizer, run_cli, valid_record

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
        assert a.keys() == b.keys()  # every field of the output record, in both formats
        assert a["risk_score"] == pytest.approx(b["risk_score"], abs=1e-12)
        assert a["signals"] == pytest.approx(b["signals"])
        assert a["metadata_used"] == b["metadata_used"]


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


def test_records_without_consent_never_reach_the_tokenizer(quick_run):
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle)
    recorder = RecordingTokenizer(scorer.tokenizer.tokenizer)
    scorer.tokenizer.tokenizer = recorder
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
    assert code == 2 and "would overwrite, lie inside or hold the input" in capsys.readouterr().err
    assert source.read_bytes() == before
    code = run_cli(
        "score",
        "--bundle",
        quick_run.bundle,
        "--input",
        source,
        "--output",
        tmp_path / "o.jsonl",
        "--rejects",
        tmp_path / "o.jsonl",
    )
    assert code == 2 and "different files" in capsys.readouterr().err


def test_corrupt_parquet_is_a_one_line_error_and_leaves_no_output(quick_run, tmp_path, capsys):
    source = tmp_path / "in.parquet"
    source.write_bytes(b"this is not parquet")
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    code = run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists() and not rejects.exists()
    assert not list(tmp_path.glob("*.partial"))


# --------------------------------------------------------------------------- every kind of bad input

BENIGN = "see you at practice on saturday, bring the blue water bottle "  # 62 characters


def _messages(count, text="hello there"):
    return [{"sender": "u1" if i % 2 else "u2", "ts": None, "text": text} for i in range(count)]


def _bad_records(bundle):
    """(input line, expected reason) for every kind of bad record, one line each; the quick
    bundle's limits (from params.yaml) decide the sizes."""
    limits = bundle.limits

    def changed(conversation_id, change):
        record = valid_record(conversation_id)
        change(record)
        return _json_line(record)

    too_large = valid_record("too-large")
    per_message = BENIGN * (limits.max_message_chars // len(BENIGN))
    too_large["messages"] = _messages(limits.max_record_bytes // len(per_message) + 2, per_message)
    assert len(too_large["messages"]) <= limits.max_messages
    return [
        (b'{"conversation_id": "broken", "opt_in": tru', "invalid JSON"),
        (b"\xff\xfe not utf-8 at all", "not valid UTF-8"),
        (b"", "blank line"),
        (b"[1, 2, 3]", "record must be a JSON object"),
        (changed("no-id", lambda r: r.pop("conversation_id")), "conversation_id must be a non-empty string"),
        (changed("int-opt-in", lambda r: r.update(opt_in=1)), "opt_in must be true or false"),
        (changed("no-messages", lambda r: r.pop("messages")), "messages is missing"),
        (changed("messages-string", lambda r: r.update(messages="hi")), "messages must be a list"),
        (changed("empty", lambda r: r.update(messages=[])), "messages is empty"),
        (changed("no-participants", lambda r: r.pop("participants")), "participants must be a non-empty list"),
        (changed("bad-role", lambda r: r["participants"][0].update(role="boss")), "participants[0].role must be"),
        (changed("text-number", lambda r: r["messages"][1].update(text=7)), "messages[1].text must be a string"),
        (
            changed("stranger", lambda r: r["messages"][2].update(sender="u9")),
            "messages[2].sender is not among the participants",
        ),
        (
            changed("too-many", lambda r: r.update(messages=_messages(limits.max_messages + 1))),
            f"too many messages ({limits.max_messages + 1} > {limits.max_messages})",
        ),
        (
            changed("too-long", lambda r: r["messages"][0].update(text="a" * (limits.max_message_chars + 1))),
            f"messages[0].text too long ({limits.max_message_chars + 1} > {limits.max_message_chars} characters)",
        ),
        (_json_line(too_large), "record too large ("),
        (_json_line(valid_record("good-1")), "duplicate conversation_id (first seen at line 1)"),
    ]


def test_every_kind_of_bad_record_is_rejected_with_its_line_and_the_run_goes_on(quick_run, tmp_path, capsys):
    bundle = load_bundle(quick_run.bundle)
    cases = _bad_records(bundle)
    lines = [_json_line(valid_record("good-1")), *(line for line, _ in cases), _json_line(valid_record("good-2"))]
    source = _write_lines(tmp_path / "in.jsonl", lines)
    out, rejects = tmp_path / "scores.jsonl", tmp_path / "rejects.jsonl"
    code = run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects)
    printed = capsys.readouterr()
    assert code == 0
    assert [json.loads(line)["conversation_id"] for line in out.read_text().splitlines()] == ["good-1", "good-2"]
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in rejected] == list(range(2, 2 + len(cases)))
    assert {r["file"] for r in rejected} == {"in.jsonl"}
    for reject, (_, reason) in zip(rejected, cases, strict=True):
        assert reject["reason"].startswith(reason), (reject, reason)
    assert f"read {len(lines)} = scored 2 + rejected {len(cases)}" in printed.out
    everything = out.read_text() + rejects.read_text() + printed.out + printed.err
    assert BENIGN.strip() not in everything and "hello there" not in everything


def test_a_line_far_over_the_size_limit_is_skipped_without_losing_the_next(quick_run, tmp_path):
    bundle = load_bundle(quick_run.bundle)
    huge = b'{"conversation_id": "huge", "pad": "' + b"x" * (3 * bundle.limits.max_record_bytes) + b'"}'
    source = _write_lines(tmp_path / "in.jsonl", [huge, _json_line(valid_record("after"))])
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects) == 0
    (reject,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert reject["line"] == 1 and reject["reason"] == (
        f"record too large ({len(huge)} > {bundle.limits.max_record_bytes} bytes)"
    )
    assert [json.loads(line)["conversation_id"] for line in out.read_text().splitlines()] == ["after"]


def test_parquet_rows_are_held_to_the_same_rules_and_limits(quick_run, tmp_path, capsys):
    bundle = load_bundle(quick_run.bundle)
    limits = bundle.limits
    per_message = BENIGN * (limits.max_message_chars // len(BENIGN))
    records = [valid_record(f"q-{i}") for i in range(6)]
    records[1]["messages"] = _messages(limits.max_messages + 1)
    records[2]["messages"][0]["text"] = "a" * (limits.max_message_chars + 1)
    records[3]["messages"] = _messages(limits.max_record_bytes // len(per_message) + 2, per_message)
    records[4]["messages"][1]["sender"] = "u9"
    records[5]["conversation_id"] = "q-0"
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(records), source, row_group_size=2)
    out, rejects = tmp_path / "o.parquet", tmp_path / "r.jsonl"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects) == 0
    assert pq.read_table(out).column("conversation_id").to_pylist() == ["q-0"]
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejected] == [("in.parquet", line) for line in range(2, 7)]
    reasons = [r["reason"] for r in rejected]
    assert reasons[0].startswith("too many messages")
    assert reasons[1].startswith("messages[0].text too long")
    assert reasons[2].startswith("record too large (")
    assert reasons[3] == "messages[1].sender is not among the participants"
    assert reasons[4] == "duplicate conversation_id (first seen at line 1)"
    assert "read 6 = scored 1 + rejected 5" in capsys.readouterr().out


def test_progress_goes_to_stderr_with_rates_and_no_text(quick_run, tmp_path, capsys):
    records = [valid_record(f"p-{i}", opt_in=i % 3 != 0) for i in range(7)]
    source = _write_lines(tmp_path / "in.jsonl", [_json_line(r) for r in records])
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    args = ("--input", source, "--output", out, "--rejects", rejects, "--chunk-records", "3")
    assert run_cli("score", "--bundle", quick_run.bundle, *args) == 0
    printed = capsys.readouterr()
    progress = [line for line in printed.err.splitlines() if line.startswith("chunks ")]
    assert progress and progress[-1].startswith("chunks 3/3, records 7/7,") and "records/s" in progress[-1]
    assert "modes: content+metadata 4, metadata-only 3" in printed.out
    assert "input: 1 file, 3 chunks" in printed.out
    assert not any(text in printed.out + printed.err for text in TEXTS)
    assert not (tmp_path / "o.jsonl.parts").exists()

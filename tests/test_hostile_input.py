"""Hostile but fair input: a record the scorer cannot take is a reject with its reason, never the
end of the job; the scorer never deletes or overwrites what it did not create; an input it cannot
trust whole is not scored in part."""

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import serving.scorer
from tests.conftest import run_cli, valid_record

MARKER = "plantedmarker"


def _line(record: dict) -> bytes:
    return json.dumps(record).encode()


def _marked(conversation_id: str) -> dict:
    record = valid_record(conversation_id)
    record["messages"][0]["text"] = f"{MARKER} see you at practice"
    return record


def _score(quick_run, source, out, *extra) -> tuple[int, list[dict], list[dict]]:
    rejects = out.with_name("rejects.jsonl")
    code = run_cli(
        "score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects, *extra
    )
    if code != 0:
        return code, [], []
    scored = pq.read_table(out).to_pylist() if out.suffix == ".parquet" else _jsonl(out)
    return code, scored, _jsonl(rejects)


def _jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _everything_written(tmp_path, *besides) -> str:
    """Every file under `tmp_path` but those named, as text."""
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p not in besides]
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in files)


def test_records_that_crashed_the_job_are_rejects_and_the_run_goes_on(quick_run, tmp_path, capsys):
    surrogate_text = _marked("surrogate-text")
    lines = [
        _line(_marked("good-1")),
        _line(surrogate_text).replace(b"see you", b"see \\ud800 you"),
        _line(_marked("surrogate-id")).replace(b'"surrogate-id"', b'"surrogate-\\udfff-id"'),
        _line(_marked("huge-int")).replace(
            b'"reported_account_age_days": 9', b'"reported_account_age_days": ' + b"7" * 5000
        ),
        _line(_marked("consent-twice")).replace(b'"opt_in": true', b'"opt_in": false, "opt_in": true'),
        _line(_marked("good-2")),
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "scores.parquet"
    code, scored, rejected = _score(quick_run, source, out, "--review-queue", tmp_path / "review.html")
    printed = capsys.readouterr()
    assert code == 0
    assert [r["conversation_id"] for r in scored] == ["good-1", "good-2"]
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (2, "invalid JSON (a lone surrogate escape: not Unicode text)"),
        (3, "invalid JSON (a lone surrogate escape: not Unicode text)"),
        (4, "invalid JSON (a number too large to read)"),
        (5, "invalid JSON (a key appears twice in one object)"),
    ]
    assert "read 6 = scored 2 + rejected 4" in printed.out
    assert not list(tmp_path.glob("*.parts")) and not list(tmp_path.glob("*.partial"))
    # The review page shows message text by design; nothing else written may.
    assert MARKER not in _everything_written(tmp_path, source, tmp_path / "review.html")
    assert MARKER not in printed.out + printed.err


def test_a_byte_order_mark_opens_a_file_without_costing_its_first_record(quick_run, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + _line(valid_record("first")) + b"\n" + _line(valid_record("second")) + b"\n")
    code, scored, rejected = _score(quick_run, source, tmp_path / "o.jsonl")
    assert code == 0 and [r["conversation_id"] for r in scored] == ["first", "second"] and rejected == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.update(metadata=[]), "metadata must be an object"),
        (lambda r: r.update(signals={}), "signals must be a list of known signals"),
        (lambda r: r.update(groups=[]), "groups must be an object"),
        (lambda r: r["participants"][1].update(age_band={}), "participants[1].age_band must be one of"),
        (lambda r: r["messages"][0].update(signals={}), "messages[0].signals must be a list of known signals"),
    ],
)
def test_an_empty_value_of_the_wrong_type_is_a_reject_naming_its_field(quick_run, tmp_path, change, reason):
    record = valid_record("wrong-type")
    change(record)
    source = tmp_path / "in.jsonl"
    source.write_bytes(_line(record) + b"\n")
    code, scored, rejected = _score(quick_run, source, tmp_path / "o.jsonl")
    assert code == 0 and scored == []
    assert rejected[0]["reason"].startswith(reason)


def test_parquet_values_python_cannot_hold_reject_their_rows_only(quick_run, tmp_path):
    """A timestamp and a date out of Python's range, and a string that is not UTF-8 (binary
    relabelled as a string, as a damaged writer would leave it)."""
    table = pa.Table.from_pylist([valid_record(f"p-{i}") for i in range(5)])
    table = table.append_column("seen_at", pa.array([0, 2**62, 0, 0, 0], type=pa.timestamp("ms")))
    table = table.append_column("note", pa.array([b"", b"", b"\xff\xfe", b"", b""]).view(pa.string()))
    table = table.append_column("day", pa.array([0, 0, 0, 2**31 - 1, 0], type=pa.date32()))
    source = tmp_path / "in.parquet"
    pq.write_table(table, source)
    code, scored, rejected = _score(quick_run, source, tmp_path / "o.jsonl")
    assert code == 0
    assert [r["conversation_id"] for r in scored] == ["p-0", "p-4"]
    assert [r["line"] for r in rejected] == [2, 3, 4]
    assert all(r["reason"].startswith("unreadable Parquet value (") for r in rejected)


def test_a_record_the_scorer_fails_on_is_a_reject_and_the_others_are_scored(quick_run, tmp_path, monkeypatch):
    real = serving.scorer.Scorer.score

    def fails_on_one(self, conversations):
        if any(c.conversation_id == "poison" for c in conversations):
            raise TypeError("a failure deep inside the scorer")
        return real(self, conversations)

    monkeypatch.setattr(serving.scorer.Scorer, "score", fails_on_one)
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(_line(valid_record(i)) + b"\n" for i in ("a", "poison", "b")))
    code, scored, rejected = _score(quick_run, source, tmp_path / "o.jsonl")
    assert code == 0 and [r["conversation_id"] for r in scored] == ["a", "b"]
    assert [(r["line"], r["reason"]) for r in rejected] == [(2, "internal scoring error (TypeError)")]


@pytest.mark.parametrize("sibling", [".parts", ".partial"])
def test_the_scorer_never_deletes_an_input_named_like_its_work_files(quick_run, tmp_path, capsys, sibling):
    out = tmp_path / "s.jsonl"
    if sibling == ".parts":
        source = tmp_path / "s.jsonl.parts"
        source.mkdir()
        (source / "day1.jsonl").write_bytes(_line(valid_record("kept")) + b"\n")
        kept = source / "day1.jsonl"
    else:
        source = kept = tmp_path / "s.jsonl.partial"
        source.write_bytes(_line(valid_record("kept")) + b"\n")
    before = kept.read_bytes()
    code = run_cli(
        "score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", tmp_path / "r.jsonl"
    )
    assert code == 2
    assert "would overwrite, lie inside or hold the input" in capsys.readouterr().err
    assert kept.read_bytes() == before and not out.exists()


def test_rejects_pointing_at_a_folder_is_refused_before_any_output_exists(quick_run, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(_line(valid_record()) + b"\n")
    (tmp_path / "rejects").mkdir()
    out = tmp_path / "o.jsonl"
    code = run_cli(
        "score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", tmp_path / "rejects"
    )
    assert code == 2 and "must be files, not folders" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("name", ["o.jsonl.gz", "o.JSONL.GZ", "o.PARQUET", "o.Jsonl"])
def test_the_output_format_follows_its_suffix_in_any_case(quick_run, tmp_path, name):
    source = tmp_path / "in.jsonl"
    source.write_bytes(_line(valid_record()) + b"\n")
    out = tmp_path / name
    assert (
        run_cli(
            "score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", tmp_path / "r.jsonl"
        )
        == 0
    )
    lower = name.lower()
    if lower.endswith(".parquet"):
        rows = pq.read_table(out).to_pylist()
    else:
        data = gzip.decompress(out.read_bytes()) if lower.endswith(".gz") else out.read_bytes()
        rows = [json.loads(line) for line in data.splitlines()]
    assert [r["conversation_id"] for r in rows] == ["r-1"]


def test_an_output_suffix_that_names_no_format_is_refused(quick_run, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(_line(valid_record()) + b"\n")
    out = tmp_path / "scores.csv"
    assert (
        run_cli(
            "score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", tmp_path / "r.jsonl"
        )
        == 2
    )
    assert "--output must end in .jsonl, .jsonl.gz, .parquet" in capsys.readouterr().err
    assert not out.exists()


def test_a_resumed_job_sees_an_input_edited_to_the_same_size_and_time(quick_run, tmp_path, monkeypatch):
    """Kill after the first chunk, edit a record of that chunk without changing the file's size or
    modification time, rerun: the edit is scored, not the stale part of the first run."""
    import serving.batch

    records = [valid_record(f"e-{i}") for i in range(4)]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(_line(r) + b"\n" for r in records))
    stat = os.stat(source)
    out = tmp_path / "o.jsonl"
    args = ("--input", source, "--output", out, "--rejects", tmp_path / "r.jsonl", "--chunk-records", "2")
    real, calls = serving.batch.score_chunk, []

    def dies_after_one(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*a, **k)

    with monkeypatch.context() as patch:
        patch.setattr(serving.batch, "score_chunk", dies_after_one)
        with pytest.raises(KeyboardInterrupt):
            run_cli("score", "--bundle", quick_run.bundle, *args)
    edited = source.read_bytes().replace(b'"e-0"', b'"x-0"')
    assert len(edited) == stat.st_size
    source.write_bytes(edited)
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert run_cli("score", "--bundle", quick_run.bundle, *args) == 0
    assert [r["conversation_id"] for r in _jsonl(out)] == ["x-0", "e-1", "e-2", "e-3"]

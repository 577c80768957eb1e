"""Input discovery and chunked reading: folders, gzip, Parquet row groups, huge lines, damaged files."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.schema import Limits, RecordError
from serving.sources import DAMAGED_FILE, ChunkReader, InputError, decode_chunk, discover, plan_chunks
from tests.conftest import run_cli, valid_record

LIMITS = Limits(max_messages=50, max_message_chars=400, max_record_bytes=1_000)


def _lines(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _records(prefix, count):
    return [valid_record(f"{prefix}-{i}") for i in range(count)]


def _read_all(plan, limits=LIMITS, order=None):
    """Every (file, line, record) of a plan, chunk by chunk in `order` (plan order by default)."""
    chunks = plan.chunks if order is None else [plan.chunks[i] for i in order]
    result = {}
    with ChunkReader(plan, limits) as reader:
        for spec in chunks:
            for line, record in decode_chunk(reader.read(spec), limits):
                value = str(record) if isinstance(record, RecordError) else record
                result[(plan.files[spec.file_index].name, line)] = value
    return result


def test_a_folder_is_read_in_sorted_order_and_other_files_are_named_as_ignored(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.jsonl").write_bytes(_lines(_records("b2", 1)))
    (tmp_path / "a.parquet").write_bytes(b"")
    pq.write_table(pa.Table.from_pylist(_records("a", 2)), tmp_path / "a.parquet")
    with gzip.open(tmp_path / "b" / "1.jsonl.gz", "wb") as handle:
        handle.write(_lines(_records("b1", 3)))
    (tmp_path / "notes.txt").write_text("not an input")
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / ".hidden.jsonl").write_text("")
    files, ignored = discover(tmp_path)
    assert [(f.name, f.kind) for f in files] == [
        ("a.parquet", "parquet"),
        ("b/1.jsonl.gz", "jsonl.gz"),
        ("b/2.jsonl", "jsonl"),
    ]
    assert ignored == [".hidden.jsonl", "_SUCCESS", "notes.txt"]
    plan = plan_chunks(tmp_path, 2, LIMITS)
    assert [(c.file_index, c.first_line, c.count) for c in plan.chunks] == [(0, 1, 2), (1, 1, 2), (1, 3, 1), (2, 1, 1)]
    ids = [r["conversation_id"] for r in _read_all(plan).values()]
    assert ids == ["a-0", "a-1", "b1-0", "b1-1", "b1-2", "b2-0"]


def test_an_empty_folder_or_a_missing_input_is_an_error(tmp_path):
    with pytest.raises(InputError, match=r"no \.jsonl"):
        discover(tmp_path)
    with pytest.raises(InputError, match="not found"):
        discover(tmp_path / "missing")


@pytest.mark.parametrize("kind", ["jsonl", "jsonl.gz", "parquet"])
def test_a_chunk_reads_the_same_records_whether_read_in_order_or_on_its_own(tmp_path, kind):
    """What lets a resumed job or a Ray read task start anywhere: every chunk is the same."""
    records = _records("r", 23)
    records[5] = {"conversation_id": "big", "pad": "x" * 5_000}  # over LIMITS: skipped, not held
    path = tmp_path / f"in.{kind}"
    if kind == "parquet":
        pq.write_table(pa.Table.from_pylist([{"raw": json.dumps(r)} for r in records]), path, row_group_size=4)
    elif kind == "jsonl.gz":
        path.write_bytes(gzip.compress(_lines(records)))
    else:
        path.write_bytes(_lines(records) + b"\xff\n" + b'{"no newline at the end": 1}')
    plan = plan_chunks(path, 3, LIMITS)
    in_order = _read_all(plan)
    backwards = _read_all(plan, order=range(len(plan.chunks) - 1, -1, -1))
    one_by_one = {}
    for spec in plan.chunks:
        one_by_one.update(_read_all(plan, order=[spec.index]))
    assert in_order == backwards == one_by_one
    assert list(in_order) == [(path.name, line) for line in range(1, plan.records + 1)]
    if kind != "parquet":
        assert in_order[(path.name, 6)] == f"record too large ({len(json.dumps(records[5]))} > 1000 bytes)"
    if kind == "jsonl":
        assert in_order[(path.name, 24)].startswith("not valid UTF-8")
        assert in_order[(path.name, 25)] == {"no newline at the end": 1}


def test_a_parquet_row_over_the_size_limit_is_rejected(tmp_path):
    rows = [valid_record("small"), {**valid_record("large"), "metadata": {"note": "y" * 2_000}}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    plan = plan_chunks(tmp_path / "in.parquet", 10, LIMITS)
    records = list(_read_all(plan).values())
    assert records[0]["conversation_id"] == "small"
    assert records[1].startswith("record too large (") and records[1].endswith(" > 1000 bytes)")


def _varied(index):
    record = valid_record(f"g-{index}")
    record["messages"][0]["text"] = (
        f"see you at {index * 31 % 24}:{index * 17 % 60:02d} for match {index * 7919 % 10007}"
    )
    return record


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_no_record_of_a_damaged_gzip_stream_is_scored(quick_run, tmp_path, capsys, damage):
    """A cut stream, or one with a flipped byte that decompresses until its CRC fails: the records
    read before the damage are not to be trusted either, so every line of the file is a reject."""
    whole = bytearray(gzip.compress(_lines([_varied(i) for i in range(40)])))
    if damage == "cut":
        whole = whole[: len(whole) * 3 // 4]
    else:
        whole[len(whole) // 2] ^= 0x01
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl.gz").write_bytes(bytes(whole))
    (tmp_path / "in" / "b.jsonl").write_bytes(_lines(_records("h", 2)))
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    args = ("--input", tmp_path / "in", "--output", out, "--rejects", rejects, "--chunk-records", "4")
    assert run_cli("score", "--bundle", quick_run.bundle, *args) == 0
    assert [json.loads(line)["conversation_id"] for line in out.read_text().splitlines()] == ["h-0", "h-1"]
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert rejected and [r["line"] for r in rejected] == list(range(1, len(rejected) + 1))
    assert {(r["file"], r["reason"]) for r in rejected} == {("a.jsonl.gz", DAMAGED_FILE)}
    assert f"read {len(rejected) + 2} = scored 2 + rejected {len(rejected)}" in capsys.readouterr().out


def test_a_folder_scores_like_its_files_and_rejects_name_their_file(quick_run, tmp_path, capsys):
    folder = tmp_path / "reports"
    (folder / "day2").mkdir(parents=True)
    (folder / "day1.jsonl").write_bytes(_lines([valid_record("x-1"), valid_record("x-2")]) + b"{oops\n")
    with gzip.open(folder / "day2" / "a.jsonl.gz", "wb") as handle:
        handle.write(_lines([valid_record("x-3"), valid_record("x-1")]))
    pq.write_table(pa.Table.from_pylist([valid_record("x-4"), valid_record("x-2")]), folder / "day2" / "b.parquet")
    (folder / "README.txt").write_text("ignored")
    out, rejects = tmp_path / "o.jsonl", tmp_path / "r.jsonl"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", folder, "--output", out, "--rejects", rejects) == 0
    printed = capsys.readouterr().out
    assert [json.loads(line)["conversation_id"] for line in out.read_text().splitlines()] == [
        "x-1",
        "x-2",
        "x-3",
        "x-4",
    ]
    rejected = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [(r["file"], r["line"], r["reason"]) for r in rejected] == [
        ("day1.jsonl", 3, "invalid JSON (Expecting property name enclosed in double quotes at column 2)"),
        ("day2/a.jsonl.gz", 2, "duplicate conversation_id (first seen at day1.jsonl line 1)"),
        ("day2/b.parquet", 2, "duplicate conversation_id (first seen at day1.jsonl line 2)"),
    ]
    assert "read 7 = scored 4 + rejected 3" in printed and "input: 3 files" in printed
    assert "ignored 1 file (not .jsonl, .jsonl.gz or .parquet): README.txt" in printed
    single = tmp_path / "single.jsonl"
    single.write_bytes(_lines([valid_record("x-1")]))
    alone = tmp_path / "alone.jsonl"
    args = ("--output", alone, "--rejects", tmp_path / "r2.jsonl")
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", single, *args) == 0
    assert alone.read_text().splitlines()[0] == out.read_text().splitlines()[0]


def test_outputs_inside_the_input_folder_are_refused(quick_run, tmp_path, capsys):
    (tmp_path / "in.jsonl").write_bytes(_lines([valid_record()]))
    args = ("--input", tmp_path, "--output", tmp_path / "o.jsonl", "--rejects", tmp_path.parent / "r.jsonl")
    assert run_cli("score", "--bundle", quick_run.bundle, *args) == 2
    assert "would overwrite, lie inside or hold the input" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()

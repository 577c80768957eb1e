"""Licensed-data loaders on small hand-written fixtures in the real formats (no real data)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from serving.schema import Limits, parse_record
from training.data import write_jsonl
from training.sources import (
    RECORD_FEATURES,
    SourceFormatError,
    load_pan12,
    load_panc,
    load_records,
    read_predator_ids,
    records,
)

FIXTURES = Path(__file__).parent / "fixtures"
PAN12 = FIXTURES / "pan12"
PANC = FIXTURES / "panc"
OWN = FIXTURES / "records"
LIMITS = Limits(max_messages=2000, max_message_chars=4000, max_record_bytes=2_000_000)
PREDATOR = "a3f1c2d4e5b60718293a4b5c6d7e8f90"


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "hf-cache"


def _texts(error: pytest.ExceptionInfo, *fixture_files: Path) -> None:
    """The error names no message text of the fixtures."""
    message = str(error.value)
    for path in fixture_files:
        for line in path.read_text(encoding="utf-8").splitlines():
            for fragment in ("lobby", "homework", "practice", "library", "science fair", "bus leaves", "notes"):
                assert not (fragment in line and fragment in message), fragment


# --------------------------------------------------------------------------- PAN 2012


def test_pan12_loads_every_conversation_with_labels_and_roles(cache):
    dataset = load_pan12(PAN12 / "conversations.xml", PAN12 / "predators.txt", cache_dir=cache)
    assert dataset.features == RECORD_FEATURES
    rows = list(records(dataset))
    assert [r["conversation_id"] for r in rows] == [
        "pan12-0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "pan12-1f2e3d4c5b6a79881726354433221100",
        "pan12-2233445566778899aabbccddeeff0011",
    ]
    assert [r["label"] for r in rows] == [1, 0, 0]
    risky = rows[0]
    assert risky["participants"] == [
        {"id": PREDATOR, "role": "reported", "age_band": "adult"},
        {"id": "b7e2d1c0f9a8b7c6d5e4f3a2b1c0d9e8", "role": "reporter", "age_band": "unknown"},
    ]
    assert len(risky["messages"]) == 5 and risky["messages"][3]["text"] == ""  # an empty <text/> is kept
    assert risky["messages"][4]["text"].endswith("parents & friends")  # XML entities decoded
    assert all(m["signals"] == [] and m["ts"] is None for r in rows for m in r["messages"])
    assert all(r["signals"] == [] and r["opt_in"] and r["groups"] == {"source": "pan12"} for r in rows)
    for r in rows[1:]:  # benign: one reported party, one reporter, others `other`, no ages
        roles = [p["role"] for p in r["participants"]]
        assert roles.count("reported") == 1 and roles.count("reporter") == 1
        assert all(p["age_band"] == "unknown" for p in r["participants"])
    assert [p["role"] for p in rows[2]["participants"]].count("other") == 1
    for r in rows:
        parse_record(r, LIMITS)


def test_pan12_records_write_and_read_back(cache, tmp_path):
    dataset = load_pan12(PAN12 / "conversations.xml", PAN12 / "predators.txt", cache_dir=cache)
    path = tmp_path / "pan12.jsonl"
    write_jsonl(path, records(dataset))
    again = load_records(path, LIMITS, cache_dir=cache)
    assert list(records(again)) == list(records(dataset))


def test_pan12_predator_list(cache):
    assert read_predator_ids(PAN12 / "predators.txt", cache) == {PREDATOR, "99887766554433221100ffeeddccbbaa"}
    with pytest.raises(SourceFormatError, match=r"bad_predators\.txt: line 2: an author id"):
        read_predator_ids(PAN12 / "bad_predators.txt", cache)


def test_pan12_malformed_xml_names_file_line_and_column(cache):
    with pytest.raises(
        SourceFormatError, match=r"malformed\.xml: line \d+, column \d+: XML is not well-formed"
    ) as error:
        load_pan12(PAN12 / "malformed.xml", PAN12 / "predators.txt", cache_dir=cache)
    _texts(error, PAN12 / "malformed.xml")


def test_pan12_missing_author_names_conversation_and_message(cache):
    with pytest.raises(
        SourceFormatError,
        match=r"missing_author\.xml: conversation 2 \(id 5566778899001122aabbccddeeff3344\), message 2: <author>",
    ) as error:
        load_pan12(PAN12 / "missing_author.xml", PAN12 / "predators.txt", cache_dir=cache)
    _texts(error, PAN12 / "missing_author.xml")


def test_pan12_structure_errors(cache, tmp_path):
    cases = {
        "wrong_root.xml": ("<chats><conversation id='a'/></chats>", r"root: expected <conversations>"),
        "no_id.xml": (
            "<conversations><conversation><message line='1'><author>x</author><text>hi</text></message>"
            "</conversation></conversations>",
            r"conversation 1: <conversation> has no id",
        ),
        "empty.xml": ("<conversations><conversation id='a'></conversation></conversations>", r"no <message>"),
        "duplicate.xml": (
            "<conversations>"
            + "<conversation id='a'><message line='1'><author>x</author><text>hi</text></message></conversation>" * 2
            + "</conversations>",
            r"conversation 2 \(id a\): duplicate conversation id",
        ),
        "bad_line.xml": (
            "<conversations><conversation id='a'><message line='one'><author>x</author></message>"
            "</conversation></conversations>",
            r"message 1: the line attribute",
        ),
        "extra_field.xml": (
            "<conversations><conversation id='a'><message line='1'><author>x</author><mood>ok</mood></message>"
            "</conversation></conversations>",
            r"message 1: unexpected <mood>",
        ),
    }
    for name, (xml, pattern) in cases.items():
        path = tmp_path / name
        path.write_text(xml, encoding="utf-8")
        with pytest.raises(SourceFormatError, match=rf"{name}: .*{pattern}"):
            load_pan12(path, PAN12 / "predators.txt", cache_dir=cache)


def test_pan12_missing_files_are_named(cache):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.xml"):
        load_pan12(PAN12 / "nowhere.xml", PAN12 / "predators.txt", cache_dir=cache)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.txt"):
        load_pan12(PAN12 / "conversations.xml", PAN12 / "nowhere.txt", cache_dir=cache)


# --------------------------------------------------------------------------- eSPD / PANC


def test_panc_loads_every_row(cache):
    dataset = load_panc(PANC / "PANC-train.csv", cache_dir=cache)
    assert dataset.features == RECORD_FEATURES
    rows = list(records(dataset))
    assert [r["conversation_id"] for r in rows] == [
        "panc-cc2-chat-017-0",
        "panc-5f4e3c2b1a0918273645546372819000",
        "panc-00123",  # chat ids stay strings: leading zeros kept
    ]
    assert [r["label"] for r in rows] == [1, 0, 0]
    for r in rows:
        assert r["participants"] == [{"id": "chat", "role": "other", "age_band": "unknown"}]
        assert len(r["messages"]) == 1 and r["groups"] == {"source": "panc"}
        parse_record(r, LIMITS)
    assert "8th" in rows[0]["messages"][0]["text"]


def test_panc_long_segments_are_cut_at_spaces(cache):
    whole = list(records(load_panc(PANC / "PANC-train.csv", cache_dir=cache)))
    cut = list(records(load_panc(PANC / "PANC-train.csv", max_message_chars=40, cache_dir=cache)))
    for a, b in zip(whole, cut, strict=True):
        pieces = [m["text"] for m in b["messages"]]
        assert all(len(p) <= 40 for p in pieces)
        assert " ".join(pieces) == a["messages"][0]["text"]
    assert len(cut[0]["messages"]) > 1


def test_panc_bad_label_names_the_row(cache):
    with pytest.raises(SourceFormatError, match=r"bad_label\.csv: row 2: label must be one of") as error:
        load_panc(PANC / "bad_label.csv", cache_dir=cache)
    _texts(error, PANC / "bad_label.csv")


def test_panc_ragged_row_names_the_line(cache):
    with pytest.raises(SourceFormatError, match=r"ragged\.csv: line 3: malformed CSV") as error:
        load_panc(PANC / "ragged.csv", cache_dir=cache)
    _texts(error, PANC / "ragged.csv")


def test_panc_header_checked(cache):
    with pytest.raises(SourceFormatError, match=r"bad_header\.csv: line 1: the header must be label,chatName,segment"):
        load_panc(PANC / "bad_header.csv", cache_dir=cache)


def test_panc_repeated_chat_and_empty_segment(cache, tmp_path):
    path = tmp_path / "repeat.csv"
    path.write_text('"label","chatName","segment"\n"non-predator","c1","hi"\n"predator","c1","hello"\n')
    with pytest.raises(SourceFormatError, match=r"repeat\.csv: row 2: chatName repeats row 1"):
        load_panc(path, cache_dir=cache)
    path = tmp_path / "empty.csv"
    path.write_text('"label","chatName","segment"\n"non-predator","c1",""\n')
    with pytest.raises(SourceFormatError, match=r"empty\.csv: row 1: segment is empty"):
        load_panc(path, cache_dir=cache)


# --------------------------------------------------------------------------- our own format


def test_own_jsonl_round_trips_the_record_format(cache):
    rows = list(records(load_records(OWN / "records.jsonl", LIMITS, cache_dir=cache)))
    raw = [json.loads(line) for line in (OWN / "records.jsonl").read_text().splitlines()]
    assert [r["conversation_id"] for r in rows] == ["r-1", "r-2", "r-3"]
    assert rows[0]["metadata"] == raw[0]["metadata"] and rows[0]["groups"] == raw[0]["groups"]
    assert rows[0]["messages"][2]["signals"] == ["trust_building", "personal_info_probing"]
    assert "gender" not in rows[0]["participants"][0] and "cues" not in rows[0]["messages"][0]
    assert rows[1]["participants"][1]["age_band"] == "unknown" and rows[1]["messages"][1]["ts"] is None
    assert "label" not in rows[2] and rows[2]["metadata"] == {}
    for r, original in zip(rows, raw, strict=True):
        assert parse_record(r, LIMITS) == parse_record(original, LIMITS)


def test_own_parquet_matches_jsonl(cache, tmp_path):
    raw = [json.loads(line) for line in (OWN / "records.jsonl").read_text().splitlines()]
    path = tmp_path / "records.parquet"
    pq.write_table(pa.Table.from_pylist(raw), path)
    from_parquet = list(records(load_records(path, LIMITS, cache_dir=cache)))
    from_jsonl = list(records(load_records(OWN / "records.jsonl", LIMITS, cache_dir=cache)))
    assert from_parquet == from_jsonl


def test_own_jsonl_errors_name_the_line(cache):
    with pytest.raises(SourceFormatError, match=r"bad_json\.jsonl: line 2: invalid JSON") as error:
        load_records(OWN / "bad_json.jsonl", LIMITS, cache_dir=cache)
    _texts(error, OWN / "bad_json.jsonl")
    with pytest.raises(SourceFormatError, match=r"bad_record\.jsonl: line 2: opt_in must be true or false"):
        load_records(OWN / "bad_record.jsonl", LIMITS, cache_dir=cache)
    with pytest.raises(
        SourceFormatError, match=r"duplicate\.jsonl: line 2: duplicate conversation_id \(first at line 1\)"
    ):
        load_records(OWN / "duplicate.jsonl", LIMITS, cache_dir=cache)


def test_own_blank_line_and_bad_parquet(cache, tmp_path):
    path = tmp_path / "blank.jsonl"
    lines = (OWN / "records.jsonl").read_text().splitlines()
    path.write_text(lines[0] + "\n\n" + lines[1] + "\n")
    with pytest.raises(SourceFormatError, match=r"blank\.jsonl: line 2: blank line"):
        load_records(path, LIMITS, cache_dir=cache)
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SourceFormatError, match=r"broken\.parquet: file: not a readable Parquet file"):
        load_records(path, LIMITS, cache_dir=cache)


def test_own_limits_apply(cache):
    tight = Limits(max_messages=2, max_message_chars=4000, max_record_bytes=2_000_000)
    with pytest.raises(SourceFormatError, match=r"records\.jsonl: line 1: too many messages"):
        load_records(OWN / "records.jsonl", tight, cache_dir=cache)

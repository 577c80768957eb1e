"""Fuzzing the scorer's contract: any line is decoded or rejected with a RecordError, any decoded
value parses or is rejected with one, every record of a hostile file is scored or rejected with a
reason that quotes no text, and any manifest loads or is refused with a BundleError."""

from __future__ import annotations

import copy
import gzip
import io
import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import reduce
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from serving.batch import parse_scorable, run_batch
from serving.bundle import (
    CONTENT_ONLY,
    ENCODER_MODEL,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_FIELDS,
    SECTIONS,
    Bundle,
    BundleError,
    load_bundle,
)
from serving.schema import MODE_CONTENT, MODE_METADATA, Conversation, Limits, RecordError, parse_record
from serving.scorer import ConversationScore, Scorer
from serving.sources import decode_json_line
from tests.conftest import QuickRun, valid_record

MARKER = "zqxplantedmarker"
LIMITS = Limits(max_messages=50, max_message_chars=400, max_record_bytes=1 << 20)
TINY_LIMITS = Limits(max_messages=2, max_message_chars=30, max_record_bytes=300)
BOM = b"\xef\xbb\xbf"
OTHER = "zqxotherword"  # what mutations put outside message text (an id may be written out)


def fuzz(max_examples: int) -> settings:
    """Deterministic, no deadline: the same examples on every run, on any machine."""
    return settings(
        derandomize=True,
        deadline=None,
        max_examples=max_examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


# Values of every JSON type, each wrong somewhere: empties, odd numbers, surrogates.
SPECIAL_VALUES: list[Any] = [
    None,
    [],
    {},
    0,
    -1,
    1,
    2**70,
    10**400,
    1.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    "",
    "x",
    OTHER,
    "\ud800",
    f"{OTHER}\udfff",
    [OTHER],
    {"k": OTHER},
    "reporter",
    "adult",
    "u1",
    f"{OTHER} see you at practice " * 200,  # longer than any message may be
]
SCALARS = st.one_of(
    st.sampled_from(SPECIAL_VALUES).map(copy.deepcopy),  # a copy: mutations must not edit the list
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)
# Bytes that break JSON, UTF-8 or text when put anywhere in a line.
BYTE_INSERTS = [
    b'"',
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",  # a surrogate encoded as UTF-8: not UTF-8
    b"\\ud800",
    b"\\udfff",
    b"NaN",
    b"-Infinity",
    b"1e999",
    BOM,
    b"\x00",
    b"\r",
]
BYTE_MUTATIONS = ["flip", "insert", "delete", "truncate", "surrogate", "huge_int", "duplicate_key", "bom", "nest"]
# Depths around the limits of Python's recursion and of the JSON decoder.
DEPTHS = [2, 100, 400, 600, 900, 990, 1200, 3000, 40000]
DEEP_SURROGATE_CHECK = b'{"a": ' + b"[" * 600 + b'"\\u00e9"' + b"]" * 600 + b"}"


def _marked(conversation_id: str, opt_in: bool = True) -> dict[str, Any]:
    """A valid record with the marker word in every message."""
    record = valid_record(conversation_id, opt_in)
    for message in record["messages"]:
        message["text"] = f"{MARKER} {message['text']}"
    return record


def _line(record: Any) -> bytes:
    return json.dumps(record).encode()


def _locations(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of `value` and of everything inside it."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _locations(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _locations(item, (*path, index))
    return found


def _at(value: Any, path: Sequence[Any]) -> Any:
    return reduce(lambda container, key: container[key], path, value)


@st.composite
def structurally_mutated(draw: st.DrawFn, record: dict[str, Any]) -> Any:
    """`record` with one to four fields removed, replaced by a value of any type, given an extra
    field or wrapped in a list or object, at any depth."""
    mutated: Any = copy.deepcopy(record)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(_locations(mutated)))
        action = draw(st.sampled_from(["delete", "replace", "extra", "wrap"]))
        value = draw(JSON_VALUES)
        if not path:
            mutated = value if action == "replace" else [mutated] if action == "wrap" else mutated
            continue
        parent, key = _at(mutated, path[:-1]), path[-1]
        if action == "delete":
            del parent[key]
        elif action == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        elif action == "extra" and isinstance(parent[key], dict):
            parent[key][draw(st.text(max_size=6))] = value
        elif action == "extra" and isinstance(parent[key], list):
            parent[key].append(value)
        else:
            parent[key] = value
    return mutated


@st.composite
def byte_mutated(draw: st.DrawFn, line: bytes) -> bytes:
    """`line` with one to three byte-level injuries; never a line end inside it."""
    data = bytearray(line)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(BYTE_MUTATIONS))
        at = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(BYTE_INSERTS), st.binary(min_size=1, max_size=6)))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "surrogate":
            data = data.replace(MARKER.encode(), draw(st.sampled_from([b"\\ud800", b"\\udbff\\u0041"])) + b"x", 1)
        elif kind == "huge_int":
            digits = b"7" * draw(st.sampled_from([20, 400, 4300, 4301, 6000]))
            data = data.replace(b"{", b'{"n": ' + digits + b", ", 1)
        elif kind == "duplicate_key":
            data = data.replace(b"{", draw(st.sampled_from([b'{"opt_in": false, ', b'{"conversation_id": "x", '])), 1)
        elif kind == "bom":
            where = 0 if draw(st.booleans()) else at
            data[where:where] = BOM
        elif kind == "nest":
            depth = draw(st.sampled_from(DEPTHS))
            inner = draw(st.sampled_from([b'"\\u00e9"', b"1", b"{}"]))
            data = data.replace(b"{", b'{"deep": ' + b"[" * depth + inner + b"]" * depth + b", ", 1)
    return bytes(data).replace(b"\n", b" ")


BASE_LINE = _line(_marked("byte-1"))
RAW_LINES = st.one_of(
    st.binary(max_size=200),
    byte_mutated(BASE_LINE),
    structurally_mutated(_marked("mut-1", opt_in=False)).map(_line),
    structurally_mutated(_marked("mut-2")).map(_line).flatmap(byte_mutated),
)


def _parses_or_rejects(value: Any, limits: Limits) -> Conversation | None:
    """Both parse_record and the job's `parse_scorable` return a conversation or raise RecordError;
    what the job makes of `value`: a conversation, or None for a reject."""
    result: Conversation | None = None
    for parse in (parse_record, parse_scorable):
        try:
            result = parse(value, limits)
        except RecordError as error:
            assert str(error) and MARKER not in str(error)
            result = None
        else:
            assert isinstance(result, Conversation)
    return result


@fuzz(1000)
@given(raw=RAW_LINES, limits=st.sampled_from([LIMITS, TINY_LIMITS]))
@example(raw=DEEP_SURROGATE_CHECK, limits=LIMITS)
@example(raw=BASE_LINE, limits=LIMITS)
def test_any_line_decodes_or_is_a_record_error(raw: bytes, limits: Limits) -> None:
    """Garbage, injured record lines and records of any shape: a value or a RecordError, then a
    conversation or a RecordError, never another exception."""
    try:
        value = decode_json_line(raw, limits)
    except RecordError as error:
        assert str(error) and MARKER not in str(error)
        event("rejected when decoded")
        return
    conversation = _parses_or_rejects(value, limits)
    event("decoded, then rejected" if conversation is None else "decoded and parsed")
    if raw == BASE_LINE and limits == LIMITS:  # the unharmed line is read, or nothing here is tested
        assert conversation is not None and conversation.conversation_id == "byte-1"


# Each field's path, and whether the record is still valid without it (or with it null).
REQUIRED = [
    ("conversation_id",),
    ("opt_in",),
    ("participants",),
    ("participants", 0),
    ("participants", 1, "id"),
    ("participants", 0, "role"),
    ("messages",),
    ("messages", 2, "sender"),
    ("messages", 0, "text"),
]
OPTIONAL = [
    ("participants", 1, "age_band"),
    ("messages", 1, "ts"),
    ("messages", 0, "signals"),
    ("metadata",),
    ("label",),
    ("signals",),
    ("groups",),
]
WRONG_TYPES: list[Any] = [[], {}, 0, -1, 2**70, 1.5, math.nan, math.inf, True, False, [OTHER], {"k": OTHER}]
# The wrong-typed values an optional field takes as valid after all (an empty list of signals...).
ALSO_VALID: dict[str, list[Any]] = {
    "signals": [[]],
    "metadata": [{}, {"k": OTHER}],
    "groups": [{}, {"k": OTHER}],
    "label": [0],
}


def _valid_too(path: tuple[Any, ...], value: Any) -> bool:
    if path == ("opt_in",):
        return isinstance(value, bool)
    return any(value is v or (type(value) is type(v) and value == v) for v in ALSO_VALID.get(path[-1], []))


@fuzz(300)
@given(
    path=st.sampled_from(REQUIRED + OPTIONAL),
    action=st.sampled_from(["delete", "null", "wrong type"]),
    value=st.sampled_from(WRONG_TYPES),
)
def test_a_missing_or_wrong_typed_field_is_a_reject_and_an_absent_optional_one_is_not(
    path: tuple[Any, ...], action: str, value: Any
) -> None:
    """The oracle that keeps the fuzzing honest: the verdicts are the right ones, not just RecordErrors."""
    record = _marked("fields")
    record["messages"][0]["signals"] = ["secrecy"]
    record.update(label=1, signals=["trust_building"], groups={"style": "plain"})
    parent, key = _at(record, path[:-1]), path[-1]
    if action == "delete":
        del parent[key]
    else:
        parent[key] = None if action == "null" else value
    conversation = _parses_or_rejects(decode_json_line(_line(record), LIMITS), LIMITS)
    valid = _valid_too(path, value) if action == "wrong type" else path in OPTIONAL
    assert (conversation is not None) == valid


# --------------------------------------------------------------------------- whole files


@dataclass(frozen=True)
class InputCase:
    """A hostile JSONL file, what must become of some of its lines, and the ids the scorer fails on."""

    data: bytes
    gzip: bool
    chunk_records: int
    lines: int
    scored: dict[int, str]  # line -> conversation_id of a valid record that must be scored
    rejected: dict[int, str | None]  # line -> the reason it must have, or None for any reason
    poisoned: frozenset[str]


SCORER_FAILED = "internal scoring error (RuntimeError)"
LINE_KINDS = ["valid", "repeat", "structural", "bytes", "garbage", "blank"]


@st.composite
def input_cases(draw: st.DrawFn) -> InputCase:
    """Valid records, exact repeats of them, structurally and byte-wise mutated records, garbage
    and blank lines in any order, with CRLF or LF line ends, a BOM, gzip, any chunk size."""
    kinds = draw(st.lists(st.sampled_from(LINE_KINDS), min_size=18, max_size=34))
    kinds.insert(draw(st.integers(0, len(kinds))), "valid")
    kinds.insert(draw(st.integers(0, len(kinds))), "garbage")
    lines: list[bytes] = []
    valid: list[bytes] = []
    scored: dict[int, str] = {}
    rejected: dict[int, str | None] = {}
    poisoned: set[str] = set()
    for number, kind in enumerate(kinds, start=1):
        if kind == "valid" or (kind == "repeat" and not valid):
            conversation_id = f"ok-{number}"
            line = _line(_marked(conversation_id, opt_in=draw(st.booleans())))
            valid.append(line)
            if len(poisoned) < 2 and draw(st.integers(0, 7)) == 0:
                poisoned.add(conversation_id)
                rejected[number] = SCORER_FAILED
            else:
                scored[number] = conversation_id
        elif kind == "repeat":
            line = draw(st.sampled_from(valid))
            rejected[number] = None  # a duplicate, or the scorer failed on its first occurrence's id
        elif kind == "structural":
            line = _line(draw(structurally_mutated(_marked(f"mut-{number}", opt_in=draw(st.booleans())))))
        elif kind == "bytes":
            line = draw(byte_mutated(_line(_marked(f"byte-{number}"))))
        elif kind == "garbage":
            line = draw(st.binary(max_size=60)).replace(b"\n", b"")
            rejected[number] = None
        else:
            line = draw(st.sampled_from([b"", b" ", b"\t", b"\r"]))
            rejected[number] = "blank line"
        lines.append(line)
    end = draw(st.sampled_from([b"\n", b"\r\n"]))
    last = end if not lines[-1] or draw(st.booleans()) else b""  # an empty unended last line is no line
    data = (BOM if draw(st.booleans()) else b"") + end.join(lines) + last
    return InputCase(
        data=data,
        gzip=draw(st.booleans()),
        chunk_records=draw(st.sampled_from([5, 16, 256])),
        lines=len(lines),
        scored=scored,
        rejected=rejected,
        poisoned=frozenset(poisoned),
    )


# Found by this test: a repeat of a record the scorer failed on, in the same chunk, ended the job.
REPEAT_OF_A_FAILED_RECORD = InputCase(
    data=b"\n".join([_line(_marked("ok-1")), _line(_marked("ok-1")), _line(_marked("ok-3")), b"{"]) + b"\n",
    gzip=False,
    chunk_records=16,
    lines=4,
    scored={3: "ok-3"},
    rejected={1: SCORER_FAILED, 2: "duplicate conversation_id (first seen at line 1)", 4: None},
    poisoned=frozenset({"ok-1"}),
)


class FlakyScorer:
    """The real scorer, failing, with the marker word in its message, on any batch that holds
    a poisoned conversation_id."""

    def __init__(self, scorer: Scorer, poisoned: frozenset[str]) -> None:
        self.scorer, self.bundle, self.encoder, self.poisoned = scorer, scorer.bundle, scorer.encoder, poisoned

    def score(self, conversations: Sequence[Conversation]) -> list[ConversationScore]:
        if any(c.conversation_id in self.poisoned for c in conversations):
            raise RuntimeError(f"cannot score {MARKER}")
        return self.scorer.score(conversations)


@pytest.fixture(scope="module")
def scorer(quick_run: QuickRun) -> Scorer:
    """Built once: scoring, not loading, is what each example exercises."""
    return Scorer.from_bundle(load_bundle(quick_run.bundle))


def _jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


@fuzz(40)
@given(case=input_cases())
@example(case=REPEAT_OF_A_FAILED_RECORD)
def test_every_record_of_a_hostile_file_is_scored_or_rejected_and_no_text_leaks(
    case: InputCase, scorer: Scorer, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """The job never stops on a record, its counts add up, valid records are scored, broken ones
    rejected with a reason, no message text is written or printed, and no work file is left."""
    folder = tmp_path_factory.mktemp("fuzz-file")
    source = folder / ("in.jsonl.gz" if case.gzip else "in.jsonl")
    source.write_bytes(gzip.compress(case.data, mtime=0) if case.gzip else case.data)
    out, rejects, progress = folder / "out.jsonl", folder / "rejects.jsonl", io.StringIO()
    capsys.readouterr()
    summary = run_batch(
        cast(Scorer, FlakyScorer(scorer, case.poisoned)),
        source,
        out,
        rejects,
        progress,
        chunk_records=case.chunk_records,
    )
    printed = capsys.readouterr()
    assert summary.read == summary.scored + summary.rejected == case.lines
    assert sorted(p.name for p in folder.iterdir()) == sorted([source.name, out.name, rejects.name])
    written = out.read_bytes() + rejects.read_bytes()
    assert MARKER.encode() not in written
    assert MARKER not in progress.getvalue() + printed.out + printed.err
    scores, rejected = _jsonl(out.read_bytes()), _jsonl(rejects.read_bytes())
    assert len(scores) == summary.scored and len(rejected) == summary.rejected
    ids = [s["conversation_id"] for s in scores]
    assert len(set(ids)) == len(ids)
    assert all(0.0 <= s["risk_score"] <= 1.0 and s["mode"] in (MODE_CONTENT, MODE_METADATA) for s in scores)
    reasons = {r["line"]: r["reason"] for r in rejected}
    assert len(reasons) == len(rejected) and set(reasons) <= set(range(1, case.lines + 1))
    assert all(isinstance(reason, str) and reason for reason in reasons.values())
    assert all(r["file"] == source.name for r in rejected)
    for line, conversation_id in case.scored.items():
        assert line not in reasons and conversation_id in ids
    for line, reason in case.rejected.items():
        assert line in reasons and reason in (None, reasons[line])
    shutil.rmtree(folder)


# --------------------------------------------------------------------------- manifests


@pytest.fixture(scope="module")
def bundle_copy(quick_run: QuickRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the quick bundle whose manifest the tests rewrite (and restore)."""
    copied = tmp_path_factory.mktemp("fuzz-bundle") / "bundle"
    shutil.copytree(quick_run.bundle, copied)
    load_bundle(copied)  # the unharmed manifest loads, or every refusal below proves nothing
    return copied


SECTION_PATHS = {tuple(where.split(".")) for where in SECTIONS}
SECTION_FIELDS = {(*where.split("."), f.name) for where, kind in SECTIONS.items() for f in fields(kind)}
NEEDED = {(name,) for name in (*MANIFEST_FIELDS, "format_version")} | SECTION_PATHS
RAW_MUTATIONS = ["nan", "huge", "deep", "truncate", "bad utf-8", "bom"]
# Keys no file of a bundle may have: paths, nothing, line ends, a lone surrogate, a NUL.
ODD_NAMES = ["", ".", "..", "a/b", "../x", "a\nb", "\ud800", "\x00", MANIFEST, "model.sig"]


@dataclass(frozen=True)
class ManifestCase:
    """Manifest bytes and whether they must load, must be refused, or may do either."""

    data: bytes
    expect: str  # "loads", "refused" or "either"


def _not_a_finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    return isinstance(value, float) and not math.isfinite(value)


def _fatal_value(path: tuple[Any, ...], value: Any) -> bool:
    """Whether a manifest with `value` at `path` must be refused."""
    if path[0] == "files" or path in SECTION_PATHS or path in (("calibration",), ("thresholds",)):
        return True  # a hash that differs, a file it does not list or lacks; a section without its fields
    if path == ("format_version",):
        return value != FORMAT_VERSION
    if path in SECTION_FIELDS:
        return _not_a_finite_number(value)
    return len(path) == 1 and path[0] in MANIFEST_FIELDS and not isinstance(value, MANIFEST_FIELDS[path[0]])


@st.composite
def manifest_cases(draw: st.DrawFn, manifest: dict[str, Any]) -> ManifestCase:
    """`manifest` with values replaced (wrong types, NaN, negative, huge), keys removed or
    added, values wrapped in lists, and its text broken, each mutation known to be fatal or not."""
    mutated = copy.deepcopy(manifest)
    expect = "loads"
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_locations(mutated)[1:]))
        parent, key = _at(mutated, path[:-1]), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "unknown key", "wrap", "list a file"]))
        if action == "list a file" and isinstance(mutated.get("files"), dict):  # one it does not hold
            path, parent, key = ("files",), mutated, "files"
            action = "unknown key"
        if action == "delete":
            del parent[key]
            fatal = path[0] == "files" or path in NEEDED | SECTION_FIELDS
        elif action == "unknown key" and isinstance(parent[key], dict):
            name = draw(st.one_of(st.sampled_from(ODD_NAMES), st.text(max_size=4).map(lambda t: f"unknown_{t}")))
            parent[key][name] = draw(JSON_VALUES)
            fatal = path[0] == "files" or path in SECTION_PATHS
        else:
            parent[key] = [parent[key]] if action == "wrap" else draw(JSON_VALUES)
            fatal = _fatal_value(path, parent[key])
        expect = "refused" if fatal or expect == "refused" else "either"
        if not _locations(mutated)[1:]:
            break
    data = json.dumps(mutated, indent=2).encode()
    for kind in draw(st.lists(st.sampled_from(RAW_MUTATIONS), max_size=2)):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "bom":  # one is dropped, a second is not JSON
            data, expect = BOM + data, "refused" if data.startswith(BOM) else expect
        elif kind == "nan" and b'"slope": ' in data:  # NaN as a manifest writer might put it
            data, expect = data.replace(b'"slope": ', b'"slope": NaN, "_": ', 1), "refused"
        elif kind == "huge" and b'"max_tokens": ' in data:
            data, expect = data.replace(b'"max_tokens": ', b'"max_tokens": ' + b"9" * 5000 + b", ", 1), "refused"
        elif kind == "deep":
            depth = draw(st.sampled_from(DEPTHS))
            data = data.replace(b"{", b'{"deep": ' + b"[" * depth + b"]" * depth + b", ", 1)
            expect = "either" if expect == "loads" else expect
        elif kind == "truncate":
            data, expect = data[:at], "refused"
        elif kind == "bad utf-8":
            data, expect = data[:at] + b"\xff" + data[at:], "refused"
    return ManifestCase(data, expect)


def _check_loaded(bundle: Bundle) -> None:
    """Everything the scorer reads from a manifest that loaded, read without an error."""
    assert isinstance(bundle.model_version, str)
    for part in (bundle.limits, bundle.runtime, bundle.message, bundle.fusion):
        assert part is not None
    assert bundle.content_calibration is not None and bundle.metadata_calibration is not None
    for mode in (MODE_CONTENT, MODE_METADATA, CONTENT_ONLY):
        assert bundle.bands(mode).medium <= bundle.bands(mode).high


@fuzz(300)
@given(data=st.data())
def test_any_manifest_loads_or_is_a_bundle_error(bundle_copy: Path, data: st.DataObject) -> None:
    """A manifest loads, with every section the scorer reads usable, or is refused in one line."""
    manifest_path = bundle_copy / MANIFEST
    original = manifest_path.read_bytes()
    case = data.draw(manifest_cases(json.loads(original)))
    manifest_path.write_bytes(case.data)
    try:
        bundle = load_bundle(bundle_copy)
    except BundleError as error:
        assert case.expect != "loads", str(error)
        assert "\n" not in str(error)
        event(f"expected to be {case.expect}: refused")
    else:
        assert case.expect != "refused"
        _check_loaded(bundle)
        event(f"expected to be {case.expect}: loaded")
    finally:
        manifest_path.write_bytes(original)


def _nested_deeper_than_python_reads(manifest: dict[str, Any]) -> bytes:
    return b'{"deep": ' + b"[" * 100000 + b"]" * 100000 + b", " + json.dumps(manifest).encode()[1:]


def _hash_not_a_string(manifest: dict[str, Any]) -> bytes:
    return json.dumps({**manifest, "files": {**manifest["files"], ENCODER_MODEL: None}}).encode()


def _file_name_with_a_line_end(manifest: dict[str, Any]) -> bytes:
    return json.dumps({**manifest, "files": {**manifest["files"], "a\nb": "0" * 64}}).encode()


@pytest.mark.parametrize("broken", [_nested_deeper_than_python_reads, _hash_not_a_string, _file_name_with_a_line_end])
def test_manifests_the_fuzzing_found_are_refused_in_one_line(
    bundle_copy: Path, broken: Callable[[dict[str, Any]], bytes]
) -> None:
    """What the manifest fuzz test found (a RecursionError, a TypeError, a refusal of two lines),
    kept as explicit cases: st.data() draws take no @example."""
    manifest_path = bundle_copy / MANIFEST
    original = manifest_path.read_bytes()
    manifest_path.write_bytes(broken(json.loads(original)))
    try:
        with pytest.raises(BundleError) as refused:
            load_bundle(bundle_copy)
    finally:
        manifest_path.write_bytes(original)
    assert "\n" not in str(refused.value)

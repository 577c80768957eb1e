"""Loaders for licensed conversation data into the record format, through `datasets` (the
Hugging Face library, local files only; nothing is downloaded).

Every loader returns a `datasets.Dataset` with the columns of `RECORD_FEATURES` (the record
format of ARCHITECTURE.md: `metadata` and `groups` are JSON objects); `records(dataset)`
yields the records as dicts, ready for `training.data.write_jsonl` and `parse_record`, e.g.

    write_jsonl(Path("data/pan12/train.jsonl"), records(load_pan12(xml_path, predators_path)))

A malformed input raises `SourceFormatError`, whose message names the file and the position
(line, row, conversation or message) and never holds message text. No record is dropped
silently: a loader either converts every record of its input or raises.

Formats:

- **PAN 2012** predator identification task (PAN12; Inches & Crestani, 2012): a conversations
  XML file, `<conversations><conversation id=...><message line=...><author>...</author>
  <time>HH:MM</time><text>...</text></message>...</conversation>...</conversations>`, and a
  predator list, one author id per line. Labels are per conversation only: a conversation is
  risky (1) when one of its authors is in the predator list, else benign (0); there are no
  message signals and no ages. Each predator author becomes a participant with role
  `reported` and age band `adult`. In a risky conversation the first other author to speak
  is the `reporter`, later ones `other`; in a benign one, one author chosen by a hash of the
  conversation and author ids (independent of who speaks first, so that the role a model
  reads tells nothing about the label) is `reported`, the first other to speak the
  `reporter`, later ones `other`; every non-predator is `unknown` age. Note that `adult` then
  marks predators only: features must not read PAN12 age bands. `<time>` has no date, so
  `ts` is null; an empty `<text/>` is an empty message (kept). `opt_in` is true (research
  data whose text may be read). Datasets 5.2's `xml` builder cannot open local files (it
  passes its file iterator to `open`), so the XML is parsed with the standard library and
  enters `datasets` through `Dataset.from_list`; the predator list is read through the `text`
  builder.
- **eSPD / PANC** (the early-detection dataset of Vogt, Leser & Akbik, ACL 2021): the CSV
  files its dataset scripts write (`create_csv.py`: `PANC-train.csv`, `PANC-test.csv`, every
  field quoted), header `label,chatName,segment`: `label` is `predator` or `non-predator`,
  `chatName` the chat id (with `-<segment number>` when the row is one segment of a longer
  chat), `segment` the segment's message bodies joined by single spaces, without authors or
  message boundaries. A row becomes a record with one participant (`other`, age `unknown`)
  and its segment as one message, or as consecutive messages of at most
  `max_message_chars` characters cut at spaces when that is given (the record limits of
  `params.yaml` reject longer messages). Read through the `csv` builder.
- **Our own format**: JSONL (read line by line through the `text` builder, so that errors
  name the line) or Parquet (the `parquet` builder), each record validated by
  `serving.schema.parse_record`. Fields outside the record format (e.g. a participant's
  `gender`, a message's `cues`) are not kept.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
from datasets import Dataset, Features, Json, List, Value

from serving.schema import Limits, RecordError, parse_record

RECORD_FEATURES = Features(
    {
        "conversation_id": Value("string"),
        "opt_in": Value("bool"),
        "participants": List({"id": Value("string"), "role": Value("string"), "age_band": Value("string")}),
        "messages": List(
            {
                "sender": Value("string"),
                "ts": Value("string"),
                "text": Value("string"),
                "signals": List(Value("string")),
            }
        ),
        "metadata": Json(),
        "label": Value("int64"),
        "signals": List(Value("string")),
        "groups": Json(),
    }
)
PANC_COLUMNS: tuple[str, ...] = ("label", "chatName", "segment")
PANC_LABELS: dict[str, int] = {"predator": 1, "non-predator": 0}
_PAN12_MESSAGE_FIELDS = frozenset({"author", "time", "text"})
# Limits that accept any record: a loader checks the format, the pipeline applies params.yaml's.
_NO_LIMITS = Limits(max_messages=sys.maxsize, max_message_chars=sys.maxsize, max_record_bytes=sys.maxsize)


class SourceFormatError(ValueError):
    """A licensed-data file that does not follow its format; the message names the file and
    the position, never message text."""


def _fail(path: Path, where: str, what: str) -> SourceFormatError:
    return SourceFormatError(f"{path}: {where}: {what}")


def _dataset(rows: list[dict[str, Any]]) -> Dataset:
    if not rows:  # from_list cannot type an empty list
        return Dataset.from_dict({name: [] for name in RECORD_FEATURES}, features=RECORD_FEATURES)
    return Dataset.from_list(rows, features=RECORD_FEATURES)


def records(dataset: Dataset) -> Iterator[dict[str, Any]]:
    """The records of a loaded dataset as dicts in the record format (an absent label left out)."""
    for row in dataset:
        record = dict(row)
        if record["label"] is None:
            del record["label"]
        yield record


def _load(builder: str, path: Path, cache_dir: str | Path | None, **kwargs: Any) -> Dataset:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=None if cache_dir is None else str(cache_dir), **kwargs
    )


# --------------------------------------------------------------------------- PAN 2012


def read_predator_ids(path: Path, cache_dir: str | Path | None = None) -> frozenset[str]:
    """The author ids of a PAN12 predator list (one per line; blank lines are not entries)."""
    ids: set[str] = set()
    for line, row in enumerate(_load("text", path, cache_dir), start=1):
        author = row["text"].strip()
        if not author:
            continue
        if not re.fullmatch(r"[A-Za-z0-9_-]+", author):
            raise _fail(path, f"line {line}", "an author id must be one word of letters, digits, '-' or '_'")
        ids.add(author)
    return frozenset(ids)


def _reported_pick(conversation_id: str, author: str) -> str:
    return hashlib.sha256(f"{conversation_id}\x00{author}".encode()).hexdigest()


def _pan12_participants(conversation_id: str, authors: list[str], predators: frozenset[str]) -> list[dict[str, str]]:
    """Roles and age bands of a conversation's authors, in order of first message."""
    risky = [a for a in authors if a in predators]
    reported = set(risky) if risky else {min(authors, key=lambda a: _reported_pick(conversation_id, a))}
    participants, reporter_given = [], False
    for author in authors:
        if author in reported:
            participants.append({"id": author, "role": "reported", "age_band": "adult" if risky else "unknown"})
        else:
            role = "other" if reporter_given else "reporter"
            reporter_given = True
            participants.append({"id": author, "role": role, "age_band": "unknown"})
    return participants


def _pan12_conversation(
    path: Path, position: int, element: ET.Element, predators: frozenset[str], seen: set[str]
) -> dict[str, Any]:
    where = f"conversation {position}"
    if element.tag != "conversation":
        raise _fail(path, where, f"expected <conversation>, found <{element.tag}>")
    raw_id = (element.get("id") or "").strip()
    if not raw_id:
        raise _fail(path, where, "<conversation> has no id")
    where = f"conversation {position} (id {raw_id})"
    if raw_id in seen:
        raise _fail(path, where, "duplicate conversation id")
    seen.add(raw_id)
    messages, authors = [], []
    for index, message in enumerate(element, start=1):
        at = f"{where}, message {index}"
        if message.tag != "message":
            raise _fail(path, at, f"expected <message>, found <{message.tag}>")
        line = message.get("line")
        if line is not None and not line.strip().isdigit():
            raise _fail(path, at, "the line attribute must be a non-negative integer")
        fields: dict[str, str | None] = {}
        for child in message:
            if child.tag not in _PAN12_MESSAGE_FIELDS:
                raise _fail(path, at, f"unexpected <{child.tag}>")
            if child.tag in fields:
                raise _fail(path, at, f"more than one <{child.tag}>")
            if len(child):
                raise _fail(path, at, f"<{child.tag}> must hold text only")
            fields[child.tag] = child.text
        author = (fields.get("author") or "").strip()
        if not author:
            raise _fail(path, at, "<author> is missing or empty")
        if author not in authors:
            authors.append(author)
        messages.append({"sender": author, "ts": None, "text": fields.get("text") or "", "signals": []})
    if not messages:
        raise _fail(path, where, "no <message>")
    label = int(any(a in predators for a in authors))
    return {
        "conversation_id": f"pan12-{raw_id}",
        "opt_in": True,
        "participants": _pan12_participants(raw_id, authors, predators),
        "messages": messages,
        "metadata": {},
        "label": label,
        "signals": [],
        "groups": {"source": "pan12"},
    }


def load_pan12(conversations: str | Path, predators: str | Path, cache_dir: str | Path | None = None) -> Dataset:
    """The conversations of a PAN12 XML file, labelled by its predator list."""
    conversations, predators = Path(conversations), Path(predators)
    predator_ids = read_predator_ids(predators, cache_dir)
    if not conversations.is_file():
        raise FileNotFoundError(f"{conversations}: no such file")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    depth, root_seen = 0, False
    try:
        for event, element in ET.iterparse(conversations, events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 1:
                    if element.tag != "conversations":
                        raise _fail(conversations, "root", f"expected <conversations>, found <{element.tag}>")
                    root_seen = True
                continue
            depth -= 1
            if depth == 1:  # a whole child of the root
                rows.append(_pan12_conversation(conversations, len(rows) + 1, element, predator_ids, seen))
                element.clear()
    except ET.ParseError as error:
        line, column = error.position
        raise _fail(conversations, f"line {line}, column {column}", "XML is not well-formed") from None
    if not root_seen:
        raise _fail(conversations, "root", "no <conversations> element")
    return _dataset(rows)


# --------------------------------------------------------------------------- eSPD / PANC


def _chunks(text: str, limit: int | None) -> list[str]:
    """`text` cut at spaces into pieces of at most `limit` characters (a longer word alone)."""
    if limit is None or len(text) <= limit:
        return [text]
    pieces, current = [], ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > limit:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    pieces.append(current)
    return pieces


def load_panc(path: str | Path, max_message_chars: int | None = None, cache_dir: str | Path | None = None) -> Dataset:
    """The segments of an eSPD/PANC CSV file (`label,chatName,segment`) as records."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if max_message_chars is not None and max_message_chars < 1:
        raise ValueError("max_message_chars must be >= 1")
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), None)
    if header is None or tuple(h.strip() for h in header) != PANC_COLUMNS:
        raise _fail(path, "line 1", f"the header must be {','.join(PANC_COLUMNS)}")
    features = Features({name: Value("string") for name in PANC_COLUMNS})
    try:
        table = _load("csv", path, cache_dir, features=features, keep_default_na=False, na_filter=False)
    except datasets.exceptions.DatasetGenerationError as error:
        found = re.search(r"line (\d+)", str(error.__cause__ or ""))
        where = f"line {found.group(1)}" if found else "somewhere"
        raise _fail(path, where, "malformed CSV (wrong number of fields or broken quoting)") from None
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row_number, row in enumerate(table, start=1):
        where = f"row {row_number}"
        label, chat, segment = (row[c] for c in PANC_COLUMNS)
        if label not in PANC_LABELS:
            raise _fail(path, where, f"label must be one of {sorted(PANC_LABELS)}")
        if not chat or not chat.strip():
            raise _fail(path, where, "chatName is empty")
        if chat in seen:
            raise _fail(path, where, f"chatName repeats row {seen[chat]}")
        seen[chat] = row_number
        if not segment or not segment.strip():
            raise _fail(path, where, "segment is empty")
        rows.append(
            {
                "conversation_id": f"panc-{chat}",
                "opt_in": True,
                "participants": [{"id": "chat", "role": "other", "age_band": "unknown"}],
                "messages": [
                    {"sender": "chat", "ts": None, "text": piece, "signals": []}
                    for piece in _chunks(segment, max_message_chars)
                ],
                "metadata": {},
                "label": PANC_LABELS[label],
                "signals": [],
                "groups": {"source": "panc"},
            }
        )
    return _dataset(rows)


# --------------------------------------------------------------------------- our own format


def _canonical(conversation_record: dict[str, Any]) -> dict[str, Any]:
    """A record restricted to the fields of the record format, in RECORD_FEATURES' shape."""
    r = conversation_record
    return {
        "conversation_id": r["conversation_id"],
        "opt_in": r["opt_in"],
        "participants": [
            {"id": p["id"], "role": p["role"], "age_band": p.get("age_band") or "unknown"} for p in r["participants"]
        ],
        "messages": [
            {
                "sender": m["sender"],
                "ts": m.get("ts"),
                "text": m.get("text") or "",
                "signals": list(m.get("signals") or []),
            }
            for m in r["messages"]
        ],
        "metadata": dict(r.get("metadata") or {}),
        "label": r.get("label"),
        "signals": list(r.get("signals") or []),
        "groups": dict(r.get("groups") or {}),
    }


def _without_nulls(value: Any) -> Any:
    """Parquet fills a struct's absent fields with null: drop them from mappings."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _own_rows(path: Path, cache_dir: str | Path | None) -> Iterator[tuple[str, Any]]:
    if path.suffix == ".parquet":
        try:
            table = _load("parquet", path, cache_dir)
        except (datasets.exceptions.DatasetGenerationError, pa.ArrowException):
            raise _fail(path, "file", "not a readable Parquet file") from None
        for number, row in enumerate(table, start=1):
            yield f"row {number}", _without_nulls(row)
        return
    for number, row in enumerate(_load("text", path, cache_dir), start=1):
        where, text = f"line {number}", row["text"]
        if not text.strip():
            raise _fail(path, where, "blank line")
        try:
            yield where, json.loads(text)
        except json.JSONDecodeError as error:
            raise _fail(path, where, f"invalid JSON ({error.msg} at column {error.colno})") from None


def load_records(
    path: str | Path,
    limits: Limits | None = None,
    cache_dir: str | Path | None = None,
    rejects: list[dict[str, str | None]] | None = None,
) -> Dataset:
    """Records in our own format from JSONL or Parquet (by suffix), each validated by
    `parse_record` (with `limits` when given); a repeated conversation_id is an error. With a
    `rejects` list, an invalid record is appended to it (file, position, reason) instead, and
    loading goes on; a file that cannot be read at all still raises."""
    path = Path(path)
    rows, seen = [], {}
    for where, record in _own_rows(path, cache_dir):
        try:
            conversation = parse_record(record, limits or _NO_LIMITS)
            if conversation.conversation_id in seen:
                raise RecordError(f"duplicate conversation_id (first at {seen[conversation.conversation_id]})")
        except RecordError as error:
            if rejects is None:
                raise _fail(path, where, str(error)) from None
            rejects.append({"conversation_id": _id_of(record), "where": f"{path.name}: {where}", "reason": str(error)})
            continue
        seen[conversation.conversation_id] = where
        rows.append(_canonical(record))
    return _dataset(rows)


def _id_of(record: Any) -> str | None:
    value = record.get("conversation_id") if isinstance(record, dict) else None
    return value if isinstance(value, str) else None

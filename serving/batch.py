"""The streaming file-to-file scoring job: every record read ends up scored or rejected."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from serving.schema import SIGNALS, Conversation, Limits, RecordError, parse_record
from serving.scorer import ConversationScore, Scorer

OUTPUT_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("risk_score", pa.float64()),
        ("risk_band", pa.string()),
        ("signals", pa.struct([(name, pa.float64()) for name in SIGNALS])),
        ("alert_message_index", pa.int64()),
        ("top_message_indices", pa.list_(pa.int64())),
        ("mode", pa.string()),
        ("model_version", pa.string()),
        ("bundle_sha256", pa.string()),
    ]
)


@dataclass(frozen=True)
class Reject:
    line: int
    conversation_id: str | None
    reason: str


@dataclass
class Summary:
    read: int = 0
    scored: int = 0
    rejected: int = 0
    bands: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = self.scored / self.seconds if self.seconds > 0 else 0.0
        bands = ", ".join(f"{b} {self.bands.get(b, 0)}" for b in ("high", "medium", "low"))
        modes = ", ".join(f"{m} {n}" for m, n in sorted(self.modes.items())) or "none"
        return [
            f"read {self.read} = scored {self.scored} + rejected {self.rejected}",
            f"bands: {bands}",
            f"modes: {modes}",
            f"time {self.seconds:.1f} s, {rate:.1f} records/s",
        ]


def _decode_json_line(raw: bytes, limits: Limits) -> Any:
    if len(raw) > limits.max_record_bytes:
        raise RecordError(f"record too large ({len(raw)} > {limits.max_record_bytes} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RecordError(f"not valid UTF-8 (byte {error.start})") from None
    if not text.strip():
        raise RecordError("blank line")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(f"invalid JSON ({error.msg} at column {error.colno})") from None


def read_records(path: Path, limits: Limits) -> Iterator[tuple[int, Any | RecordError]]:
    """(line number, decoded record or the reason it could not be decoded) for each record;
    Parquet rows are numbered from 1 like lines. The file is opened before this returns, so
    an unreadable input fails before any output exists."""
    if path.suffix == ".parquet":
        return _parquet_rows(pq.ParquetFile(path))
    return _jsonl_lines(path.open("rb"), limits)


def _parquet_rows(source: pq.ParquetFile) -> Iterator[tuple[int, Any]]:
    line = 0
    for batch in source.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            line += 1
            yield line, row


def _jsonl_lines(handle: IO[bytes], limits: Limits) -> Iterator[tuple[int, Any | RecordError]]:
    with handle:
        for line, raw in enumerate(handle, start=1):
            try:
                yield line, _decode_json_line(raw.rstrip(b"\r\n"), limits)
            except RecordError as error:
                yield line, error


def _conversation_id(record: Any) -> str | None:
    if isinstance(record, dict) and isinstance(record.get("conversation_id"), str):
        return record["conversation_id"]
    return None


def iter_validated(path: Path, limits: Limits) -> Iterator[tuple[int, Conversation | Reject]]:
    """(line number, a valid conversation or the reason the record is rejected) for each
    record, in file order; a conversation_id seen before is rejected. Opens the file now."""
    return _validated(read_records(path, limits), limits)


def _validated(
    records: Iterator[tuple[int, Any | RecordError]], limits: Limits
) -> Iterator[tuple[int, Conversation | Reject]]:
    first_seen: dict[str, int] = {}
    for line, record in records:
        try:
            if isinstance(record, RecordError):
                raise record
            conversation = parse_record(record, limits)
            if conversation.conversation_id in first_seen:
                seen_at = first_seen[conversation.conversation_id]
                raise RecordError(f"duplicate conversation_id (first seen at line {seen_at})")
        except RecordError as error:
            yield line, Reject(line, _conversation_id(record), str(error))
            continue
        except Exception as error:  # one odd record must not stop the run: every record is accounted for
            yield line, Reject(line, _conversation_id(record), f"internal validation error ({type(error).__name__})")
            continue
        first_seen[conversation.conversation_id] = line
        yield line, conversation


def read_conversations(path: Path, limits: Limits) -> tuple[list[Conversation], list[Reject]]:
    """All valid conversations of a file, and the rejects."""
    conversations, rejects = [], []
    for _, item in iter_validated(path, limits):
        (rejects if isinstance(item, Reject) else conversations).append(item)
    return conversations, rejects


class ScoreWriter:
    """Writes output records as JSONL or Parquet, by the file's suffix, into a temporary file
    that takes the final name only when the job completes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self._jsonl: IO[str] | None = None
        self._parquet: pq.ParquetWriter | None = None

    def __enter__(self) -> ScoreWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.suffix == ".parquet":
            self._parquet = pq.ParquetWriter(self.partial, OUTPUT_SCHEMA)
        else:
            self._jsonl = self.partial.open("w", encoding="utf-8")
        return self

    def write(self, records: list[dict]) -> None:
        if self._parquet is not None:
            if records:
                self._parquet.write_table(pa.Table.from_pylist(records, schema=OUTPUT_SCHEMA))
        elif self._jsonl is not None:
            self._jsonl.writelines(json.dumps(r, allow_nan=False) + "\n" for r in records)

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._jsonl is not None:
            self._jsonl.close()
        if exc_type is None:
            self.partial.replace(self.path)


def run_batch(
    scorer: Scorer,
    input_path: Path,
    output_path: Path,
    rejects_path: Path,
    progress: IO[str] = sys.stderr,
) -> Summary:
    """Score every record of `input_path` into `output_path`; the others go to `rejects_path`."""
    bundle = scorer.bundle
    limits, chunk_size = bundle.limits, bundle.runtime.chunk_records
    summary = Summary()
    chunk: list[Conversation] = []
    started = time.perf_counter()
    rejects_path.parent.mkdir(parents=True, exist_ok=True)

    def flush(writer: ScoreWriter) -> None:
        scores: list[ConversationScore] = scorer.score(chunk)
        writer.write([s.to_record(bundle.model_version, bundle.sha256) for s in scores])
        summary.scored += len(scores)
        summary.bands.update(s.risk_band for s in scores)
        summary.modes.update(s.mode for s in scores)
        chunk.clear()
        elapsed = time.perf_counter() - started
        print(f"scored {summary.scored} records, {summary.scored / elapsed:.1f}/s", file=progress)

    records = iter_validated(input_path, limits)
    rejects_partial = rejects_path.with_name(rejects_path.name + ".partial")
    with ScoreWriter(output_path) as writer, rejects_partial.open("w", encoding="utf-8") as rejects:
        for _, item in records:
            summary.read += 1
            if isinstance(item, Reject):
                rejects.write(json.dumps(item.__dict__) + "\n")
                summary.rejected += 1
                continue
            chunk.append(item)
            if len(chunk) >= chunk_size:
                flush(writer)
        if chunk:
            flush(writer)
    rejects_partial.replace(rejects_path)
    summary.seconds = time.perf_counter() - started
    return summary

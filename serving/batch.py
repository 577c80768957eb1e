"""The streaming file-to-file scoring job: every record read ends up scored or rejected.

A job is planned into chunks (serving/sources.py: `chunk_records` records of one file each,
with boundaries fixed by the input alone). An engine turns each chunk into a *part*: the scores
and rejects of its records, a pure function of the chunk and the bundle. Parts are written
atomically into `<output>.parts/` and listed in a ledger as they complete, in any order; when
all are there they are assembled, in input order, into the output and rejects files (which
take their final names only then), duplicates across chunks are rejected, and the work folder
is removed. A job killed at any point and rerun with the same arguments scores only the chunks
missing from the ledger and ends with the same output as an uninterrupted run. The work folder
records the encoder graph (fp32 or int8) the first run chose, and a resumed job runs it too.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from serving.bundle import ENCODER_GRAPHS, Bundle
from serving.features import has_something_to_score
from serving.review_queue import ReviewCandidates, write_review_queue
from serving.schema import SIGNALS, Conversation, Limits, RecordError, parse_record
from serving.scorer import AUTO, ConversationScore, EncoderChoice, Scorer, choose_encoder
from serving.sources import ChunkReader, ChunkSpec, InputError, Plan, decode_chunk, decode_json_line, plan_chunks

try:  # POSIX: one job at a time per output
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

OUTPUT_SCHEMA = pa.schema(
    [
        ("conversation_id", pa.string()),
        ("risk_score", pa.float64()),
        ("risk_band", pa.string()),
        ("signals", pa.struct([(name, pa.float64()) for name in SIGNALS])),
        ("alert_message_index", pa.int64()),
        ("top_message_indices", pa.list_(pa.int64())),
        ("mode", pa.string()),
        ("metadata_used", pa.list_(pa.string())),
        ("model_version", pa.string()),
        ("bundle_sha256", pa.string()),
    ]
)
PART_FORMAT = 1
BANDS = ("high", "medium", "low")
_PARQUET_ROWS = 8192  # output rows buffered per Parquet row group
# Until params.yaml `runtime.review_limit` reaches the bundle: conversations on a review page.
DEFAULT_REVIEW_LIMIT = 200
NOTHING_TO_SCORE = "nothing to score: no consent to read messages and no metadata"


@dataclass(frozen=True)
class Reject:
    line: int
    conversation_id: str | None
    reason: str


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def reason_kind(reason: str) -> str:
    """A reject reason without its numbers: what the summary counts."""
    return re.sub(r"\[\d+\]", "[i]", re.sub(r"\s*\(.*\)\s*$", "", reason))


@dataclass
class Summary:
    read: int = 0
    scored: int = 0
    rejected: int = 0
    bands: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    engine: str = "local"
    files: int = 0
    ignored: list[str] = field(default_factory=list)
    chunks: int = 0
    chunks_resumed: int = 0
    started_over: bool = False
    records_now: int = 0  # records of the chunks this run scored (not those of an earlier, interrupted run)
    messages_now: int = 0
    encoder: EncoderChoice | None = None  # the encoder graph the job's chunks were scored with

    def lines(self) -> list[str]:
        rate = self.records_now / self.seconds if self.seconds > 0 else 0.0
        message_rate = self.messages_now / self.seconds if self.seconds > 0 else 0.0
        bands = ", ".join(f"{b} {self.bands.get(b, 0)}" for b in BANDS)
        modes = ", ".join(f"{m} {n}" for m, n in sorted(self.modes.items())) or "none"
        reasons = ", ".join(f"{k} {n}" for k, n in self.reasons.most_common(6)) or "none"
        if len(self.reasons) > 6:
            reasons += f", {len(self.reasons) - 6} other kinds"
        resumed = f"{self.chunks_resumed} done by an earlier run" if self.chunks_resumed else "none from an earlier run"
        lines = [
            f"read {self.read} = scored {self.scored} + rejected {self.rejected}",
            f"bands: {bands}",
            f"modes: {modes}",
            f"rejects: {reasons}",
            f"nothing to score (no consent, no metadata): {self.reasons.get(NOTHING_TO_SCORE, 0)}",
            f"input: {_count(self.files, 'file')}, {_count(self.chunks, 'chunk')} ({resumed})",
        ]
        if self.encoder is not None:
            lines.append(f"encoder: {self.encoder}")
        if self.started_over:
            lines.append("note: the work folder of an earlier run was for another input or bundle: started over")
        if self.ignored:
            shown = ", ".join(self.ignored[:3]) + (", ..." if len(self.ignored) > 3 else "")
            lines.append(f"ignored {_count(len(self.ignored), 'file')} (not .jsonl, .jsonl.gz or .parquet): {shown}")
        lines.append(
            f"time {self.seconds:.1f} s ({self.engine} engine); this run read {self.records_now} records: "
            f"{rate:.1f} records/s, {message_rate:.1f} messages/s"
        )
        return lines


# --------------------------------------------------------------------------- whole-file reading


def _conversation_id(record: Any) -> str | None:
    if isinstance(record, dict) and isinstance(record.get("conversation_id"), str):
        return record["conversation_id"]
    return None


def read_records(path: Path, limits: Limits, chunk_records: int = 1024) -> Iterator[tuple[int, Any]]:
    """(line number, decoded record or the RecordError that rejects it) for each record of one
    file; Parquet rows are numbered from 1 like lines. The file is read through before this
    returns, so an unreadable input fails before any output exists."""
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    plan = plan_chunks(path, chunk_records, limits)

    def records() -> Iterator[tuple[int, Any]]:
        with ChunkReader(plan, limits) as reader:
            for spec in plan.chunks:
                yield from decode_chunk(reader.read(spec), limits)

    return records()


def _duplicate(first_line: int) -> str:
    return f"duplicate conversation_id (first seen at line {first_line})"


def validate_records(records: Iterable[tuple[int, Any]], limits: Limits) -> Iterator[tuple[int, Conversation | Reject]]:
    """(number, a valid conversation or the reason the record is rejected) for each (number,
    decoded record) in order; a conversation_id seen before is rejected."""
    first_seen: dict[str, int] = {}
    for line, record in records:
        try:
            conversation = parse_scorable(record, limits)
            if conversation.conversation_id in first_seen:
                raise RecordError(_duplicate(first_seen[conversation.conversation_id]))
        except RecordError as error:
            yield line, Reject(line, _conversation_id(record), str(error))
            continue
        first_seen[conversation.conversation_id] = line
        yield line, conversation


def iter_validated(path: Path, limits: Limits) -> Iterator[tuple[int, Conversation | Reject]]:
    """`validate_records` over the records of one file, in file order (the file is read through
    before this returns)."""
    return validate_records(read_records(path, limits), limits)


def read_conversations(path: Path, limits: Limits) -> tuple[list[Conversation], list[Reject]]:
    """All valid conversations of a file, and the rejects."""
    conversations, rejects = [], []
    for _, item in iter_validated(path, limits):
        (rejects if isinstance(item, Reject) else conversations).append(item)
    return conversations, rejects


def parse_scorable(record: Any, limits: Limits) -> Conversation:
    """parse_record, with any failure a RecordError: one odd record must not stop a run. A
    record with nothing to score is rejected too, rather than given a score that rests on nothing."""
    if isinstance(record, RecordError):
        raise record
    try:
        conversation = parse_record(record, limits)
    except RecordError:
        raise
    except Exception as error:
        raise RecordError(f"internal validation error ({type(error).__name__})") from None
    if not has_something_to_score(conversation):
        raise RecordError(NOTHING_TO_SCORE)
    return conversation


# --------------------------------------------------------------------------- parts


def _output_record(scorer: Scorer, score: ConversationScore) -> dict[str, Any]:
    record = score.to_record(scorer.bundle.model_version, scorer.bundle.sha256)
    json.dumps(record, allow_nan=False).encode("utf-8")  # what writing it needs: fails here, not later
    return record


def score_records(scorer: Scorer, conversations: list[Conversation]) -> list[dict[str, Any] | RecordError]:
    """The output record of each conversation, scored together; when that fails, each alone,
    so that a record the scorer cannot handle is a reject and not the end of the job."""
    if not conversations:
        return []
    try:
        return [_output_record(scorer, s) for s in scorer.score(conversations)]
    except Exception:  # any failure: retried record by record below
        pass
    results: list[dict[str, Any] | RecordError] = []
    for conversation in conversations:
        try:
            (score,) = scorer.score([conversation])
            results.append(_output_record(scorer, score))
        except Exception as error:  # its message may quote data: the type only
            results.append(RecordError(f"internal scoring error ({type(error).__name__})"))
    return results


def score_chunk(scorer: Scorer, plan: Plan, spec: ChunkSpec, table: pa.Table) -> bytes:
    """The part of one chunk: a header line, then one line per record in line order, holding
    its output record, the reason it is rejected, or that it repeats an id of the same chunk
    (which assembly turns into a reject naming the first occurrence in the whole input)."""
    started = time.perf_counter()
    bundle, limits = scorer.bundle, scorer.bundle.limits
    items = decode_chunk(table, limits)
    if len(items) != spec.count:
        raise InputError("an input file changed while it was being scored")
    entries: list[dict[str, Any]] = []
    conversations: list[Conversation] = []
    slots: list[int] = []
    seen: set[str] = set()
    for line, record in items:
        try:
            conversation = parse_scorable(record, limits)
        except RecordError as error:
            entries.append({"line": line, "id": _conversation_id(record), "reason": str(error)})
            continue
        if conversation.conversation_id in seen:
            entries.append({"line": line, "id": conversation.conversation_id, "duplicate": True})
            continue
        seen.add(conversation.conversation_id)
        slots.append(len(entries))
        entries.append({"line": line, "id": conversation.conversation_id, "messages": len(conversation.messages)})
        conversations.append(conversation)
    failed: dict[str, int] = {}  # conversation_id -> line of a record the scorer failed on
    for slot, score in zip(slots, score_records(scorer, conversations), strict=True):
        if isinstance(score, RecordError):
            entries[slot] = {"line": entries[slot]["line"], "id": entries[slot]["id"], "reason": str(score)}
            failed[entries[slot]["id"]] = entries[slot]["line"]
        else:
            entries[slot]["score"] = score
    for position, entry in enumerate(entries):  # no scored first occurrence for assembly to name
        if entry.get("duplicate") and entry["id"] in failed:
            entries[position] = {"line": entry["line"], "id": entry["id"], "reason": _duplicate(failed[entry["id"]])}
    header = {
        "part": PART_FORMAT,
        "chunk": spec.index,
        "file": plan.files[spec.file_index].name,
        "first_line": spec.first_line,
        "count": spec.count,
        "bundle_sha256": bundle.sha256,
        "messages": sum(len(c.messages) for c in conversations),
        "seconds": time.perf_counter() - started,
    }
    lines = [json.dumps(header), *(json.dumps(e, allow_nan=False) for e in entries)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def part_header(data: bytes) -> dict[str, Any]:
    return json.loads(data[: data.index(b"\n")])


class JobLocked(RuntimeError):
    """Another process is running the same job."""


class JobConflict(RuntimeError):
    """A rerun asks for what the earlier, interrupted run of the same job did otherwise."""


class WorkDir:
    """`<output>.parts/`: `job.json` (what the job is), `part-<chunk>.jsonl` files written
    atomically, and `ledger.jsonl`, one line per part completed with its sha256."""

    def __init__(self, output: Path) -> None:
        self.path = output.with_name(output.name + ".parts")
        self._lock: IO[str] | None = None

    def part(self, index: int) -> Path:
        return self.path / f"part-{index:07d}.jsonl"

    def lock(self) -> None:
        """Hold the folder's lock (created if need be) until `close`; JobLocked if another process holds it."""
        if self._lock is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = (self.path / "lock").open("w")
        if fcntl is not None:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.close()
                raise JobLocked(f"another score job is writing {self.path}") from None

    def recorded(self) -> dict[str, Any] | None:
        """What the job of an earlier run was (`job.json`), read under the lock; None if unreadable."""
        self.lock()
        try:
            job = json.loads((self.path / "job.json").read_text())
        except (OSError, ValueError):
            return None
        return job if isinstance(job, dict) else None

    def open(self, job: dict[str, Any]) -> tuple[set[int], bool]:
        """The chunks already done by an earlier run of the same job, and whether a work folder
        of another job was found (and cleared)."""
        job_path = self.path / "job.json"
        if self.recorded() == job:
            return self._done(), False
        started_over = job_path.exists()
        for child in self.path.iterdir():
            if child.name != "lock":
                child.unlink()
        _write_atomically(job_path, json.dumps(job, indent=1).encode())
        return set(), started_over

    def _done(self) -> set[int]:
        """Parts listed in the ledger whose file is intact; the ledger is rewritten without a
        line a kill may have torn, so that appends start on a fresh line."""
        ledger = self.path / "ledger.jsonl"
        entries: dict[int, str] = {}
        if ledger.exists():
            for line in ledger.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    entries[int(entry["chunk"])] = str(entry["sha256"])
                except (ValueError, KeyError, TypeError):
                    continue
        done = {i for i, digest in entries.items() if self._intact(i, digest)}
        _write_atomically(
            ledger, "".join(json.dumps({"chunk": i, "sha256": entries[i]}) + "\n" for i in sorted(done)).encode()
        )
        return done

    def _intact(self, index: int, digest: str) -> bool:
        try:
            return hashlib.sha256(self.part(index).read_bytes()).hexdigest() == digest
        except OSError:
            return False

    def commit(self, index: int, data: bytes) -> None:
        _write_atomically(self.part(index), data)
        with (self.path / "ledger.jsonl").open("a") as ledger:
            ledger.write(json.dumps({"chunk": index, "sha256": hashlib.sha256(data).hexdigest()}) + "\n")
            ledger.flush()
            os.fsync(ledger.fileno())

    def read_part(self, index: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        lines = self.part(index).read_bytes().splitlines()
        return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


# --------------------------------------------------------------------------- output


OUTPUT_SUFFIXES = (".jsonl", ".jsonl.gz", ".parquet")


def output_suffix(path: Path) -> str:
    """The output format of `path` by its suffix, in any case; any other suffix is refused
    rather than written as JSONL under a name that promises something else."""
    name = path.name.lower()
    for suffix in sorted(OUTPUT_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InputError(f"--output must end in {', '.join(OUTPUT_SUFFIXES)}: {path.name}")


REJECTS_SUFFIX = ".rejects.jsonl"


def default_rejects(output: Path) -> Path:
    """Where the rejects go when no path is given: beside the output, `<output stem>.rejects.jsonl`
    (`scores.jsonl.gz` -> `scores.rejects.jsonl`)."""
    suffix = output_suffix(output)
    return output.with_name(output.name[: -len(suffix)] + REJECTS_SUFFIX)


def partial_path(path: Path) -> Path:
    """Where `path` is written until the job completes."""
    return path.with_name(path.name + ".partial")


class ScoreWriter:
    """Writes output records as JSONL, gzip JSONL or Parquet, by the file's suffix, into its
    `partial_path`; the job renames it when every file of the run is written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = partial_path(path)
        self._jsonl: IO[str] | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._buffer: list[dict] = []

    def __enter__(self) -> ScoreWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        suffix = output_suffix(self.path)
        if suffix == ".parquet":
            self._parquet = pq.ParquetWriter(self.partial, OUTPUT_SCHEMA)
        elif suffix == ".jsonl.gz":
            self._jsonl = gzip.open(self.partial, "wt", encoding="utf-8")
        else:
            self._jsonl = self.partial.open("w", encoding="utf-8")
        return self

    def write(self, records: list[dict]) -> None:
        if self._parquet is not None:
            self._buffer.extend(records)
            if len(self._buffer) >= _PARQUET_ROWS:
                self._flush()
        elif self._jsonl is not None:
            self._jsonl.writelines(json.dumps(r, allow_nan=False) + "\n" for r in records)

    def _flush(self) -> None:
        if self._parquet is not None and self._buffer:
            self._parquet.write_table(pa.Table.from_pylist(self._buffer, schema=OUTPUT_SCHEMA))
        self._buffer = []

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if self._parquet is not None:
            if exc_type is None:
                self._flush()
            self._parquet.close()
        if self._jsonl is not None:
            self._jsonl.close()


class Progress:
    """One line on stderr at most every `interval` seconds: chunks, records, rates; no text."""

    def __init__(self, stream: IO[str], plan: Plan, done: set[int], interval: float = 2.0) -> None:
        self.stream, self.interval = stream, interval
        self.total_chunks, self.total_records = len(plan.chunks), plan.records
        self.chunks = len(done)
        self.records = sum(plan.chunks[i].count for i in done)
        self.records_now = self.messages_now = 0
        self.started = self.last = time.perf_counter()

    def update(self, records: int, messages: int) -> None:
        self.chunks += 1
        self.records += records
        self.records_now += records
        self.messages_now += messages
        now = time.perf_counter()
        if now - self.last < self.interval and self.chunks < self.total_chunks:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = self.records_now / elapsed
        eta = (self.total_records - self.records) / rate if rate > 0 else 0.0
        print(
            f"chunks {self.chunks}/{self.total_chunks}, records {self.records}/{self.total_records}, "
            f"{rate:.1f} records/s, {self.messages_now / elapsed:.0f} messages/s, eta {eta:.0f} s",
            file=self.stream,
            flush=True,
        )


# --------------------------------------------------------------------------- the job

# An engine scores the chunks it is given and hands each part to `commit`, in any order.
Commit = Callable[[ChunkSpec, bytes], None]
Engine = Callable[[Plan, list[ChunkSpec], Commit], None]
# An engine, or the scorer of a review page, with a given encoder graph: a job settles which only
# once it has read its work folder (a resumed job keeps the first run's).
EngineFor = Callable[[EncoderChoice], Engine]
ScorerFor = Callable[[EncoderChoice], Scorer]


def local_engine(scorer: Scorer) -> Engine:
    """Chunks scored one after another in this process, with one ONNX session."""

    def run(plan: Plan, todo: list[ChunkSpec], commit: Commit) -> None:
        with ChunkReader(plan, scorer.bundle.limits) as reader:
            for spec in todo:
                commit(spec, score_chunk(scorer, plan, spec, reader.read(spec)))

    return run


@dataclass(frozen=True)
class Job:
    bundle: Bundle
    input: Path
    output: Path
    rejects: Path
    chunk_records: int | None = None  # default: the bundle's runtime.chunk_records
    review_queue: Path | None = None
    review_limit: int | None = None
    precision: str = AUTO  # the encoder graph asked for: auto, fp32 or int8 (serving/scorer.py)


def _outputs(job: Job) -> list[Path]:
    return [job.output, job.rejects, *([job.review_queue] if job.review_queue is not None else [])]


def written_paths(job: Job) -> list[Path]:
    """Every path a job writes, renames or removes: its outputs, their `.partial` files and the
    work folder."""
    outputs = _outputs(job)
    return [*outputs, *(partial_path(p) for p in outputs), WorkDir(job.output).path]


def check_paths(job: Job) -> None:
    """Refuse, before anything is written, a job that could overwrite, rename or delete its
    input: no written path (symlinks resolved) is the input, lies inside it or holds it; the
    outputs are distinct files, not folders; the output's suffix names a format."""
    outputs = _outputs(job)
    if len({p.resolve() for p in outputs}) < len(outputs):
        raise InputError("--output, --rejects and --review-queue must be different files")
    if any(p.is_dir() for p in outputs):
        raise InputError("--output, --rejects and --review-queue must be files, not folders")
    output_suffix(job.output)
    source = job.input.resolve()
    for path in (p.resolve() for p in written_paths(job)):
        if path == source or source in path.parents or path in source.parents:
            raise InputError(
                "an output, its .partial file or the work folder (<output>.parts) would overwrite, "
                "lie inside or hold the input"
            )


def job_fingerprint(bundle: Bundle, plan: Plan) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(plan.fingerprint(), sort_keys=True).encode()).hexdigest()
    return {
        "format": PART_FORMAT,
        "bundle_sha256": bundle.sha256,
        "plan_sha256": digest,
        "files": [f.name for f in plan.files],
        "chunks": len(plan.chunks),
    }


PRECISION_KEY = "precision"  # the encoder graph of a job's parts, in its job.json


def settle_encoder(requested: str, recorded: dict[str, Any] | None, fingerprint: dict[str, Any]) -> EncoderChoice:
    """The encoder graph of a job: the one the earlier run of the same job (`recorded`, its
    job.json, with this `fingerprint` besides the precision) chose, else `requested` chosen here.
    A request for the other graph than the earlier run's is a JobConflict: its parts are kept."""
    recorded = recorded or {}
    earlier = recorded.get(PRECISION_KEY)
    same_job = {k: v for k, v in recorded.items() if k != PRECISION_KEY} == fingerprint
    if not same_job or earlier not in ENCODER_GRAPHS:
        return choose_encoder(requested)
    if requested not in (AUTO, earlier):
        raise JobConflict(
            f"this job was started with the {earlier} encoder and is resumed with it: pass --precision "
            f"{earlier} or auto, or delete the work folder of the output to start over"
        )
    return EncoderChoice(earlier, "resumed job: the first run's choice")


def run_job(
    job: Job,
    engine_for: EngineFor,
    progress: IO[str] = sys.stderr,
    engine_name: str = "local",
    review_scorer: ScorerFor | None = None,
) -> Summary:
    """Plan, settle the encoder graph, score the chunks not done yet, assemble; see the module's docstring."""
    started = time.perf_counter()
    bundle = job.bundle
    check_paths(job)
    plan = plan_chunks(job.input, job.chunk_records or bundle.runtime.chunk_records, bundle.limits)
    work = WorkDir(job.output)
    try:
        fingerprint = job_fingerprint(bundle, plan)
        encoder = settle_encoder(job.precision, work.recorded(), fingerprint)
        done, started_over = work.open({**fingerprint, PRECISION_KEY: encoder.precision})
        engine = engine_for(encoder)
        tracker = Progress(progress, plan, done)

        def commit(spec: ChunkSpec, data: bytes) -> None:
            work.commit(spec.index, data)
            tracker.update(spec.count, part_header(data)["messages"])

        todo = [spec for spec in plan.chunks if spec.index not in done]
        engine(plan, todo, commit)
        summary, candidates = _assemble(job, plan, work)
        summary.engine, summary.started_over, summary.chunks_resumed = engine_name, started_over, len(done)
        summary.records_now, summary.messages_now = tracker.records_now, tracker.messages_now
        summary.encoder = encoder
        if job.review_queue is not None:
            scorer = review_scorer(encoder) if review_scorer else Scorer.from_bundle(bundle, precision=encoder)
            write_review_queue(job.review_queue, scorer, plan, candidates, summary)
        partial_path(job.rejects).replace(job.rejects)
        partial_path(job.output).replace(job.output)
    finally:
        work.close()
    work.remove()
    summary.seconds = time.perf_counter() - started
    return summary


def _duplicate_reason(first: tuple[int, int], file_index: int, plan: Plan) -> str:
    first_file, first_line = first
    if first_file == file_index:
        return _duplicate(first_line)
    return f"duplicate conversation_id (first seen at {plan.files[first_file].name} line {first_line})"


def review_limit(bundle: Bundle) -> int:
    """How many conversations a review page shows by default: `runtime.review_limit` of the
    bundle, or 200 for bundles exported before that key existed."""
    return int(bundle.manifest["runtime"].get("review_limit", DEFAULT_REVIEW_LIMIT))


def _assemble(job: Job, plan: Plan, work: WorkDir) -> tuple[Summary, ReviewCandidates]:
    """The parts, in input order, into the output and rejects files; the first occurrence of a
    conversation_id in the whole input is scored, the later ones rejected."""
    bundle = job.bundle
    summary = Summary(files=len(plan.files), ignored=plan.ignored, chunks=len(plan.chunks))
    candidates = ReviewCandidates(0 if job.review_queue is None else job.review_limit or review_limit(bundle))
    first_seen: dict[str, tuple[int, int]] = {}
    job.rejects.parent.mkdir(parents=True, exist_ok=True)
    with ScoreWriter(job.output) as writer, partial_path(job.rejects).open("w", encoding="utf-8") as rejects:
        for spec in plan.chunks:
            header, entries = work.read_part(spec.index)
            expected = (spec.index, plan.files[spec.file_index].name, spec.first_line, spec.count, bundle.sha256)
            found = (header["chunk"], header["file"], header["first_line"], header["count"], header["bundle_sha256"])
            if found != expected or len(entries) != spec.count:
                raise InputError(f"part {spec.index} of the work folder does not match its chunk")
            file_name = plan.files[spec.file_index].name
            scores = []
            for entry in entries:
                summary.read += 1
                line, conversation_id = entry["line"], entry["id"]
                if "score" in entry and conversation_id not in first_seen:
                    first_seen[conversation_id] = (spec.file_index, line)
                    record = entry["score"]
                    scores.append(record)
                    summary.scored += 1
                    summary.bands[record["risk_band"]] += 1
                    summary.modes[record["mode"]] += 1
                    candidates.offer(record, spec.file_index, line)
                    continue
                if "score" in entry or entry.get("duplicate"):
                    reason = _duplicate_reason(first_seen[conversation_id], spec.file_index, plan)
                else:
                    reason = entry["reason"]
                reject = {"file": file_name, "line": line, "conversation_id": conversation_id, "reason": reason}
                rejects.write(json.dumps(reject) + "\n")
                summary.rejected += 1
                summary.reasons[reason_kind(reason)] += 1
            writer.write(scores)
    return summary, candidates


def run_batch(
    scorer: Scorer,
    input_path: Path,
    output_path: Path,
    rejects_path: Path,
    progress: IO[str] = sys.stderr,
    *,
    chunk_records: int | None = None,
    review_queue: Path | None = None,
    review_limit: int | None = None,
) -> Summary:
    """Score every record of `input_path` (a file or a folder) into `output_path` with the
    local engine and the scorer's encoder graph; the others go to `rejects_path`."""
    job = Job(
        scorer.bundle,
        input_path,
        output_path,
        rejects_path,
        chunk_records,
        review_queue,
        review_limit,
        scorer.encoder.precision,
    )
    return run_job(job, lambda _: local_engine(scorer), progress, "local", lambda _: scorer)


__all__ = [
    "OUTPUT_SCHEMA",
    "Job",
    "JobConflict",
    "Reject",
    "ScoreWriter",
    "Summary",
    "decode_json_line",
    "default_rejects",
    "iter_validated",
    "parse_scorable",
    "read_conversations",
    "read_records",
    "run_batch",
    "run_job",
    "score_records",
    "validate_records",
]

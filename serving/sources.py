"""Where records come from: a JSONL, JSONL.gz or Parquet file, or a folder of them, read as
numbered records in deterministic chunks and in constant memory.

A chunk is `chunk_records` consecutive records of one file (lines of JSONL, rows of Parquet,
both numbered from 1 in each file). Its boundaries depend only on the input and the chunk size,
never on the engine that reads it or on whether the job was resumed, so every chunk is scored in
the same ONNX Runtime batches every time, so scores never depend on how a job was split up.

A chunk read is an Arrow table (`line`, then `raw`/`size`/`error` for JSONL or `row`/`error` for
Parquet): the local engine decodes it in place, the Ray engine ships it between stages as Arrow
IPC. A line longer than the record size limit is skipped without ever being held in memory.
Nothing here logs or raises with record content: reasons carry line numbers, sizes and types.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from serving.schema import Limits, RecordError

JSONL, JSONL_GZ, PARQUET = "jsonl", "jsonl.gz", "parquet"
# What a folder may hold; a single file named otherwise is read as JSONL (or gzip JSONL if `.gz`).
FOLDER_SUFFIXES = {".jsonl": JSONL, ".jsonl.gz": JSONL_GZ, ".parquet": PARQUET}
_BLOCK = 1 << 20
# A damaged gzip stream: the records after the damage cannot be read.
_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


class InputError(RuntimeError):
    """An input that cannot be read at all (missing, empty folder, not Parquet); one line, no content."""


@dataclass(frozen=True)
class InputFile:
    path: Path
    name: str  # the path relative to the input folder (or the file's name): the `file` of a reject
    kind: str
    size: int
    sha256: str  # of the bytes on disk: a resumed job continues only on the same content
    damaged: bool = False  # a gzip stream that fails its integrity check: none of its records is scored


@dataclass(frozen=True)
class ChunkSpec:
    """Records `first_line` .. `first_line + count - 1` of file `file_index`."""

    index: int
    file_index: int
    first_line: int
    count: int
    offset: int  # JSONL: byte offset of the first line (uncompressed for gzip); Parquet: row index


@dataclass(frozen=True)
class Plan:
    """The files of an input and their chunks, in reading order."""

    files: list[InputFile]
    ignored: list[str]
    chunks: list[ChunkSpec]
    chunk_records: int

    @property
    def records(self) -> int:
        return sum(c.count for c in self.chunks)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this input for a resumed job: names, contents and the chunking."""
        return {
            "files": [[f.name, f.kind, f.size, f.sha256, f.damaged] for f in self.files],
            "chunk_records": self.chunk_records,
            "chunks": [[c.file_index, c.first_line, c.count, c.offset] for c in self.chunks],
        }


def _kind_of_file(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return PARQUET
    return JSONL_GZ if name.endswith(".gz") else JSONL


def _folder_kind(relative: str) -> str | None:
    name = relative.lower()
    return next((kind for suffix, kind in FOLDER_SUFFIXES.items() if name.endswith(suffix)), None)


def _input_file(path: Path, name: str, kind: str) -> InputFile:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
            size += len(block)
    return InputFile(path, name, kind, size, digest.hexdigest())


STDIN_NAME = "stdin"  # the file name of spooled standard input: the `file` of its rejects


def spool(stream: IO[bytes], folder: Path) -> Path:
    """Standard input copied, in blocks, to `folder/stdin`, read as JSONL: a stream can be
    neither hashed in advance nor read twice, a file can (and a rerun with the same bytes
    then resumes like any file)."""
    path = folder / STDIN_NAME
    with path.open("wb") as handle:
        for block in iter(lambda: stream.read(_BLOCK), b""):
            handle.write(block)
    return path


def discover(path: Path) -> tuple[list[InputFile], list[str]]:
    """The input files of `path` in reading order, and the names of the files of a folder that
    are not inputs (other suffixes, hidden or `_`-prefixed names such as `_SUCCESS`)."""
    if path.is_file():
        return [_input_file(path, path.name, _kind_of_file(path))], []
    if not path.is_dir():
        raise InputError(f"input not found: {path}")
    files, ignored = [], []
    for relative in sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()):
        kind = _folder_kind(relative)
        if kind is None or any(part.startswith((".", "_")) for part in relative.split("/")):
            ignored.append(relative)
        else:
            files.append(_input_file(path / relative, relative, kind))
    if not files:
        raise InputError(f"no .jsonl, .jsonl.gz or .parquet files in {path}")
    return files, ignored


# --------------------------------------------------------------------------- JSONL lines


def _lines(handle: IO[bytes], limit: int) -> Iterator[tuple[bytes | None, int, int]]:
    """(line without its end, or None when longer than `limit` bytes; its size; bytes consumed)
    for each line. A line over the limit is read past in blocks, never held whole."""
    while True:
        raw = handle.readline(limit + 3)
        if not raw:
            return
        consumed, last = len(raw), raw
        if len(raw) == limit + 3 and not raw.endswith(b"\n"):
            while True:
                last = handle.readline(_BLOCK)
                consumed += len(last)
                if not last or last.endswith(b"\n"):
                    break
        size = consumed - (last.endswith(b"\n") + last.endswith(b"\r\n"))
        if size > limit:
            yield None, size, consumed
        else:
            yield raw[:size], size, consumed


def _open_jsonl(file: InputFile) -> IO[bytes]:
    if file.kind == JSONL_GZ:
        return gzip.open(file.path, "rb")
    return file.path.open("rb")


def _damaged(error: BaseException) -> str:
    return f"unreadable from this line on: damaged gzip stream ({type(error).__name__})"


DAMAGED_FILE = "damaged gzip stream: no record of this file is scored"


def _scan_jsonl(file: InputFile, chunk_records: int, limit: int) -> tuple[list[tuple[int, int, int]], bool]:
    """(first line, count, byte offset) of each chunk of a JSONL file, and whether it is a
    damaged gzip stream; such a stream ends with one more record: the line at which it became
    unreadable. The whole stream is read, so its CRC is checked before any record is scored."""
    chunks: list[list[int]] = []
    line = position = 0

    def add_record() -> None:
        nonlocal line
        if line % chunk_records == 0:
            chunks.append([line + 1, 0, position])
        line += 1
        chunks[-1][1] += 1

    damaged = False
    with _open_jsonl(file) as handle:
        try:
            for _, _, consumed in _lines(handle, limit):
                add_record()
                position += consumed
        except _GZIP_ERRORS:
            add_record()
            damaged = True
    return [(first, count, offset) for first, count, offset in chunks], damaged


def _parquet_file(file: InputFile) -> pq.ParquetFile:
    # Streamed reads: column chunks are not buffered whole, so memory follows the batch size.
    return pq.ParquetFile(file.path, pre_buffer=False, buffer_size=_BLOCK)


def plan_chunks(path: Path, chunk_records: int, limits: Limits) -> Plan:
    """Every file of `path` split into chunks of `chunk_records` records. Reads each JSONL file
    once (line ends only) and each Parquet footer; raises InputError for a file that is not
    readable at all, before any output exists."""
    if chunk_records < 1:
        raise InputError("chunk size must be at least 1 record")
    files, ignored = discover(path)
    chunks: list[ChunkSpec] = []
    for file_index, file in enumerate(files):
        try:
            if file.kind == PARQUET:
                rows = _parquet_file(file).metadata.num_rows
                spans = [(s + 1, min(chunk_records, rows - s), s) for s in range(0, rows, chunk_records)]
            else:
                spans, damaged = _scan_jsonl(file, chunk_records, limits.max_record_bytes)
                files[file_index] = replace(file, damaged=damaged)
        except (pa.ArrowException, OSError) as error:  # its message may quote data: name the type only
            raise InputError(f"cannot read {file.name} ({type(error).__name__})") from None
        for first, count, offset in spans:
            chunks.append(ChunkSpec(len(chunks), file_index, first, count, offset))
    return Plan(files, ignored, chunks, chunk_records)


# --------------------------------------------------------------------------- reading chunks

_JSONL_SCHEMA = pa.schema([("line", pa.int64()), ("raw", pa.binary()), ("size", pa.int64()), ("error", pa.string())])


class _JsonlStream:
    def __init__(self, file: InputFile, offset: int, first_line: int, limit: int) -> None:
        self.handle = _open_jsonl(file)
        self.handle.seek(offset)  # gzip seeks forward by decompressing
        self.lines = _lines(self.handle, limit)
        self.next_line = first_line
        self.broken = False

    def read(self, count: int) -> pa.Table:
        lines, raws, sizes, errors = [], [], [], []
        for _ in range(count):
            if self.broken:
                raise InputError("an input file changed while it was being scored")
            line = self.next_line
            try:
                item = next(self.lines, None)
            except _GZIP_ERRORS as error:
                self.broken = True
                lines.append(line), raws.append(None), sizes.append(None), errors.append(_damaged(error))
                continue
            if item is None:
                raise InputError("an input file changed while it was being scored")
            raw, size, _ = item
            lines.append(line), raws.append(raw), sizes.append(size), errors.append(None)
            self.next_line += 1
        return pa.table([lines, raws, sizes, errors], schema=_JSONL_SCHEMA)

    def close(self) -> None:
        self.handle.close()


class _ParquetStream:
    def __init__(self, file: InputFile, row: int, batch_size: int) -> None:
        self.file = _parquet_file(file)
        self.struct = pa.struct(list(self.file.schema_arrow))
        groups = [self.file.metadata.row_group(g).num_rows for g in range(self.file.num_row_groups)]
        group, start = 0, 0
        while group < len(groups) and start + groups[group] <= row:
            start += groups[group]
            group += 1
        self.batches = self.file.iter_batches(
            batch_size=batch_size, row_groups=list(range(group, len(groups))), use_threads=False
        )
        self.pending: pa.RecordBatch | None = None
        self.skip = row - start
        self.next_line = row + 1
        self.broken: str | None = None

    def _take(self, wanted: int) -> pa.RecordBatch | None:
        while self.pending is None or self.pending.num_rows == 0:
            self.pending = next(self.batches, None)
            if self.pending is None:
                return None
            if self.skip:
                dropped = min(self.skip, self.pending.num_rows)
                self.pending, self.skip = self.pending.slice(dropped), self.skip - dropped
        taken, self.pending = self.pending.slice(0, wanted), self.pending.slice(wanted)
        return taken

    def read(self, count: int) -> pa.Table:
        pieces: list[pa.RecordBatch] = []
        have = 0
        while have < count and self.broken is None:
            try:
                batch = self._take(count - have)
            except (pa.ArrowException, OSError) as error:
                self.broken = f"unreadable Parquet row ({type(error).__name__})"
                break
            if batch is None:
                raise InputError("an input file changed while it was being scored")
            pieces.append(batch)
            have += batch.num_rows
        rows = [pa.Table.from_batches([p]).to_struct_array().combine_chunks() for p in pieces]
        if have < count:
            rows.append(pa.nulls(count - have, type=self.struct))
        row = pa.concat_arrays(rows) if rows else pa.nulls(0, type=self.struct)
        lines = pa.array(range(self.next_line, self.next_line + count), type=pa.int64())
        errors = pa.array([None] * have + [self.broken] * (count - have), type=pa.string())
        self.next_line += count
        return pa.Table.from_arrays([lines, row, errors], names=["line", "row", "error"])

    def close(self) -> None:
        self.file.close()


class ChunkReader:
    """Reads the chunks of a plan; a chunk that follows the previous one in the same file
    continues its stream, any other reopens the file at the chunk's offset. Either way a chunk
    reads the same records."""

    def __init__(self, plan: Plan, limits: Limits) -> None:
        self.plan = plan
        self.limits = limits
        self._stream: _JsonlStream | _ParquetStream | None = None
        self._at: tuple[int, int] | None = None  # (file index, next line) of the open stream

    def read(self, spec: ChunkSpec) -> pa.Table:
        file = self.plan.files[spec.file_index]
        if file.damaged:
            lines = pa.array(range(spec.first_line, spec.first_line + spec.count), type=pa.int64())
            nothing = pa.nulls(spec.count)
            errors = pa.array([DAMAGED_FILE] * spec.count, type=pa.string())
            return pa.table([lines, nothing.cast(pa.binary()), nothing.cast(pa.int64()), errors], schema=_JSONL_SCHEMA)
        if self._at != (spec.file_index, spec.first_line) or (self._stream is not None and self._stream.broken):
            self.close()
            if file.kind == PARQUET:
                self._stream = _ParquetStream(file, spec.offset, self.plan.chunk_records)
            else:
                self._stream = _JsonlStream(file, spec.offset, spec.first_line, self.limits.max_record_bytes)
        assert self._stream is not None
        table = self._stream.read(spec.count)
        self._at = (spec.file_index, spec.first_line + spec.count)
        return table

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._stream, self._at = None, None

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------- decoding


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = {key for key, _ in pairs}
    if len(keys) < len(pairs):
        # Which value counts would be a guess: `"opt_in": false` then `true` must not read as consent.
        raise RecordError("invalid JSON (a key appears twice in one object)")
    return dict(pairs)


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a decoded JSON value holds a string with a lone surrogate escape (`"\\ud800"`):
    valid JSON, but not text any tokenizer or UTF-8 writer accepts. A loop, not recursion: the
    decoder reads values nested deeper than Python's recursion limit allows a walk through."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def decode_json_line(raw: bytes, limits: Limits) -> Any:
    """One JSONL line decoded, or RecordError with a reason that quotes no content. A leading
    byte order mark is dropped (editors write one at the start of a file)."""
    if len(raw) > limits.max_record_bytes:
        raise RecordError(f"record too large ({len(raw)} > {limits.max_record_bytes} bytes)")
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise RecordError(f"not valid UTF-8 (byte {error.start})") from None
    if not text.strip():
        raise RecordError("blank line")
    try:
        record = json.loads(text, object_pairs_hook=_object_without_duplicate_keys)
    except RecordError:
        raise
    except json.JSONDecodeError as error:
        raise RecordError(f"invalid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise RecordError("invalid JSON (nested too deeply)") from None
    except ValueError:  # an integer past Python's limit on digits
        raise RecordError("invalid JSON (a number too large to read)") from None
    # Only an escape can carry a surrogate: the UTF-8 decoding above refuses raw ones.
    if "\\u" in text and _has_lone_surrogate(record):
        raise RecordError("invalid JSON (a lone surrogate escape: not Unicode text)")
    return record


def row_bytes(row: Any) -> int:
    """A Parquet row's size: its length as compact JSON in UTF-8 (what a JSONL line would hold)."""
    return len(json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8"))


def decode_chunk(table: pa.Table, limits: Limits) -> list[tuple[int, Any]]:
    """(line, decoded record or the RecordError that rejects it) for each record of a chunk."""
    lines = table.column("line").to_pylist()
    errors = table.column("error").to_pylist()
    limit = limits.max_record_bytes
    result: list[tuple[int, Any]] = []
    if "raw" in table.column_names:
        for line, raw, size, error in zip(
            lines, table.column("raw").to_pylist(), table.column("size").to_pylist(), errors, strict=True
        ):
            if error is not None:
                result.append((line, RecordError(error)))
            elif raw is None:
                result.append((line, RecordError(f"record too large ({size} > {limit} bytes)")))
            else:
                try:
                    result.append((line, decode_json_line(raw, limits)))
                except RecordError as reason:
                    result.append((line, reason))
        return result
    for line, row, error in zip(lines, _parquet_rows(table.column("row")), errors, strict=True):
        if error is not None:
            result.append((line, RecordError(error)))
            continue
        if isinstance(row, RecordError):
            result.append((line, row))
            continue
        size = row_bytes(row)
        result.append((line, RecordError(f"record too large ({size} > {limit} bytes)") if size > limit else row))
    return result


def _parquet_rows(column: pa.ChunkedArray) -> list[Any]:
    """Each row as Python values, or a RecordError for a row holding a value Python cannot hold
    (a timestamp or date out of range, a string that is not UTF-8): one row, not the chunk."""
    try:
        return column.to_pylist()
    except (ArithmeticError, ValueError, pa.ArrowException):  # UnicodeDecodeError is a ValueError
        pass
    rows: list[Any] = []
    for value in column:
        try:
            rows.append(value.as_py())
        except (ArithmeticError, ValueError, pa.ArrowException) as error:
            rows.append(RecordError(f"unreadable Parquet value ({type(error).__name__})"))
    return rows


def table_to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def spec_to_dict(spec: ChunkSpec) -> dict[str, int]:
    return asdict(spec)

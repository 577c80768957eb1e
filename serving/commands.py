"""Serving's subcommands: `score` and `verify`."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa

from serving.batch import (
    Engine,
    Job,
    JobConflict,
    JobLocked,
    Summary,
    check_paths,
    default_rejects,
    local_engine,
    run_job,
)
from serving.bundle import ENCODER_GRAPHS, SIGNATURE, Bundle, load_bundle
from serving.cli import Command, UsageError, add_bundle_arguments, human_stream
from serving.scorer import AUTO, PRECISIONS, EncoderChoice, Scorer, usable_cpus
from serving.sources import InputError, spool

STDIO = "-"  # --input - is standard input, --output - standard output
STDOUT_SCORES = "scores.jsonl"  # the file, in a temporary folder, that --output - copies to stdout


def _path_or_stdio(value: str) -> Path | str:
    """`-` as it is (standard input or output), anything else a path (`./-` is a file)."""
    return STDIO if value == STDIO else Path(value)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _add_score_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)
    parser.add_argument(
        "--input",
        required=True,
        type=_path_or_stdio,
        help="reports: a .jsonl, .jsonl.gz or .parquet file, or a folder of them (read in sorted order); "
        "`-` reads JSONL from standard input, first copied to a private temporary file (removed at the end; "
        "with a file --output, a rerun fed the same bytes resumes like a file)",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=_path_or_stdio,
        help="scores: .jsonl, .jsonl.gz or .parquet; `-` writes JSONL to standard output once every record is "
        "done and prints the summary on stderr instead (its work folder is temporary: an interrupted job "
        "starts over)",
    )
    parser.add_argument(
        "--rejects",
        type=_path_or_stdio,
        default=None,
        help="rejected records, .jsonl (default: beside the output, <output stem>.rejects.jsonl; "
        "required with --output -)",
    )
    parser.add_argument("--threads", type=_positive, default=None, help="ONNX Runtime threads (bundle default)")
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=AUTO,
        help="the message encoder's graph: int8 is faster only on CPUs with VNNI, which `auto` checks "
        "(default: auto); a resumed job keeps the graph its first run chose",
    )
    parser.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="score here, or on Ray Data (RAY_ADDRESS)"
    )
    parser.add_argument("--actors", type=_positive, default=None, help="Ray scoring actors (default: CPUs / threads)")
    parser.add_argument(
        "--chunk-records",
        type=_positive,
        default=None,
        help="records per chunk (bundle default); a resumed job must use the same",
    )
    parser.add_argument(
        "--review-queue", type=Path, default=None, help="also write a review page (HTML, shows message text)"
    )
    parser.add_argument(
        "--review-limit", type=_positive, default=None, help="conversations on the review page (bundle default)"
    )


def _check_threads(threads: int | None) -> None:
    """Refuse more threads than this process has CPUs."""
    cpus = usable_cpus()
    if threads is not None and threads > cpus:
        raise UsageError(f"--threads {threads} is more than the CPUs available: at most {cpus}")


def _rejects_path(args: argparse.Namespace) -> Path:
    """--rejects, or `<output stem>.rejects.jsonl` beside a file output."""
    if args.rejects == STDIO:
        raise UsageError("--rejects must be a file, not -")
    if args.rejects is not None:
        return args.rejects
    if args.output == STDIO:
        raise UsageError("--output - needs --rejects: the rejects go to a file")
    try:
        return default_rejects(args.output)
    except InputError as error:
        raise UsageError(str(error)) from None


def _check_input(source: Path | str) -> None:
    """A missing input file, or standard input left on a terminal, is refused before the bundle loads."""
    if source == STDIO:
        if sys.stdin.isatty():
            raise UsageError("--input - reads standard input, which is a terminal: pipe the records in")
    elif not Path(source).exists():
        raise UsageError(f"input not found: {source}")


@contextlib.contextmanager
def _stdio_paths(source: Path | str, output: Path | str) -> Iterator[tuple[Path, Path]]:
    """The job's input and output files: `-` stands for a file in a private temporary folder
    (standard input spooled into it; the scores, written there, copied to stdout by the caller)."""
    if STDIO not in (source, output):
        yield Path(source), Path(output)
        return
    with tempfile.TemporaryDirectory(prefix="grooming-risk-") as name:
        folder = Path(name)
        spooled = spool(sys.stdin.buffer, folder) if source == STDIO else Path(source)
        yield spooled, (folder / STDOUT_SCORES if output == STDIO else Path(output))


def _run_engine(args: argparse.Namespace, bundle: Bundle, job: Job, progress: IO[str]) -> Summary:
    """The job on the engine --engine names."""
    try:
        check_paths(job)  # before the sessions open: a bad path fails at once

        @functools.cache
        def scorer(encoder: EncoderChoice) -> Scorer:
            return Scorer.from_bundle(bundle, threads=args.threads, precision=encoder)

        if args.engine == "ray":
            from serving import ray_engine

            def ray(encoder: EncoderChoice) -> Engine:
                return ray_engine.engine(bundle, encoder, threads=args.threads, actors=args.actors)

            return run_job(job, ray, progress, "ray", scorer)
        return run_job(job, lambda encoder: local_engine(scorer(encoder)), progress, "local", scorer)
    except (InputError, JobLocked, JobConflict) as error:
        raise UsageError(str(error)) from None
    except pa.ArrowException as error:  # its message may quote data: name the type only
        raise UsageError(f"cannot read {args.input} ({type(error).__name__})") from None


def _copy_to_stdout(scores: Path, stream: IO[str]) -> None:
    """The finished scores onto standard output; a reader that stops early is an error, not a traceback."""
    try:
        with scores.open(encoding="utf-8") as handle:
            shutil.copyfileobj(handle, stream)
        stream.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())  # no second error at exit
        raise UsageError("standard output was closed before every score was written") from None


def _print_summary(args: argparse.Namespace, bundle: Bundle, job: Job, summary: Summary, out: IO[str]) -> None:
    signed = ", signature verified" if bundle.signature_verified else ""
    print(f"model {bundle.model_version} (bundle sha256 {bundle.sha256}{signed})", file=out)
    for line in summary.lines():
        print(line, file=out)
    scores = "standard output" if args.output == STDIO else job.output
    print(f"scores: {scores}\nrejects: {job.rejects}", file=out)
    if args.review_queue is not None:
        print(f"review queue: {args.review_queue}", file=out)


def _run_score(args: argparse.Namespace) -> int:
    _check_threads(args.threads)
    rejects = _rejects_path(args)
    _check_input(args.input)
    bundle = load_bundle(args.bundle, args.bundle_sha256, args.bundle_public_key)
    to_stdout = args.output == STDIO
    stdout = sys.stdout
    human = human_stream(args, sys.stderr if to_stdout else stdout)
    with _stdio_paths(args.input, args.output) as (source, output):
        job = Job(
            bundle, source, output, rejects, args.chunk_records, args.review_queue, args.review_limit, args.precision
        )
        # With --output -, nothing but the scores reaches standard output.
        with contextlib.redirect_stdout(sys.stderr) if to_stdout else contextlib.nullcontext():
            summary = _run_engine(args, bundle, job, human_stream(args, sys.stderr))
        if to_stdout:
            _copy_to_stdout(job.output, stdout)
    _print_summary(args, bundle, job, summary, human)
    return 0


def _add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)


def _run_verify(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle, args.bundle_sha256, args.bundle_public_key)
    for precision in ENCODER_GRAPHS:  # each encoder graph a score run may pick
        Scorer.from_bundle(bundle, precision=precision)
    out = human_stream(args, sys.stdout)
    print(f"bundle ok: {bundle.path} model {bundle.model_version} sha256 {bundle.sha256}", file=out)
    print(_signature_line(bundle), file=out)
    return 0


def _signature_line(bundle: Bundle) -> str:
    """Whether `verify` checked the bundle's signature, and why not."""
    if bundle.signature_verified:
        return f"signature: verified ({SIGNATURE})"
    if bundle.file(SIGNATURE).is_file():
        return f"signature: not checked ({SIGNATURE} present; pass --bundle-public-key to check it)"
    return "signature: none (unsigned bundle)"


score = Command("score a file or folder of reports with a model bundle", _add_score_arguments, _run_score)
verify = Command(
    "check a bundle's file hashes, ONNX graphs and (given a public key) its signature",
    _add_verify_arguments,
    _run_verify,
)

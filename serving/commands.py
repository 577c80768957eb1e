"""Serving's subcommands: `score` and `verify`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa

from serving.batch import Job, JobLocked, check_paths, local_engine, run_job
from serving.bundle import SIGNATURE, Bundle, load_bundle
from serving.cli import Command, UsageError, add_bundle_arguments
from serving.scorer import Scorer, usable_cpus
from serving.sources import InputError


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
        type=Path,
        help="reports: a .jsonl, .jsonl.gz or .parquet file, or a folder of them (read in sorted order)",
    )
    parser.add_argument("--output", required=True, type=Path, help="scores: .jsonl, .jsonl.gz or .parquet")
    parser.add_argument("--rejects", required=True, type=Path, help="rejected records, .jsonl")
    parser.add_argument("--threads", type=_positive, default=None, help="ONNX Runtime threads (bundle default)")
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


def _run_score(args: argparse.Namespace) -> int:
    _check_threads(args.threads)
    if not args.input.exists():
        raise UsageError(f"input not found: {args.input}")
    bundle = load_bundle(args.bundle, args.bundle_sha256, args.bundle_public_key)
    job = Job(bundle, args.input, args.output, args.rejects, args.chunk_records, args.review_queue, args.review_limit)
    try:
        check_paths(job)  # before the sessions open: a bad path fails at once
        if args.engine == "ray":
            from serving import ray_engine

            engine = ray_engine.engine(bundle, threads=args.threads, actors=args.actors)

            def review_scorer() -> Scorer:
                return Scorer.from_bundle(bundle, threads=args.threads)

            summary = run_job(job, engine, sys.stderr, "ray", review_scorer)
        else:
            scorer = Scorer.from_bundle(bundle, threads=args.threads)
            summary = run_job(job, local_engine(scorer), sys.stderr, "local", lambda: scorer)
    except (InputError, JobLocked) as error:
        raise UsageError(str(error)) from None
    except pa.ArrowException as error:  # its message may quote data: name the type only
        raise UsageError(f"cannot read {args.input} ({type(error).__name__})") from None
    signed = ", signature verified" if bundle.signature_verified else ""
    print(f"model {bundle.model_version} (bundle sha256 {bundle.sha256}{signed})")
    for line in summary.lines():
        print(line)
    print(f"scores: {args.output}\nrejects: {args.rejects}")
    if args.review_queue is not None:
        print(f"review queue: {args.review_queue}")
    return 0


def _add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    add_bundle_arguments(parser)


def _run_verify(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle, args.bundle_sha256, args.bundle_public_key)
    Scorer.from_bundle(bundle)
    print(f"bundle ok: {bundle.path} model {bundle.model_version} sha256 {bundle.sha256}")
    print(_signature_line(bundle))
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

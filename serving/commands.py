"""Serving's subcommands: `score` and `verify`."""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa

from serving.batch import run_batch
from serving.bundle import load_bundle
from serving.cli import Command, UsageError
from serving.scorer import Scorer


def _add_score_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, type=Path, help="model bundle folder")
    parser.add_argument("--input", required=True, type=Path, help="reports, .jsonl or .parquet")
    parser.add_argument("--output", required=True, type=Path, help="scores, .jsonl or .parquet")
    parser.add_argument("--rejects", required=True, type=Path, help="rejected records, .jsonl")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (bundle default)")


def _check_paths(input_path: Path, output: Path, rejects: Path) -> None:
    if not input_path.is_file():
        raise UsageError(f"input file not found: {input_path}")
    resolved = [p.resolve() for p in (input_path, output, rejects)]
    if len(set(resolved)) < 3:
        raise UsageError("--input, --output and --rejects must be three different files")


def _run_score(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    _check_paths(args.input, args.output, args.rejects)
    scorer = Scorer.from_bundle(bundle, threads=args.threads)
    try:
        summary = run_batch(scorer, args.input, args.output, args.rejects)
    except pa.ArrowException as error:  # its message may quote data: name the type only
        raise UsageError(f"cannot read {args.input} ({type(error).__name__})") from None
    print(f"model {bundle.model_version} (bundle {bundle.sha256[:12]})")
    for line in summary.lines():
        print(line)
    print(f"scores: {args.output}\nrejects: {args.rejects}")
    return 0


def _add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, type=Path, help="model bundle folder")


def _run_verify(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    Scorer.from_bundle(bundle)
    print(f"bundle ok: {bundle.path} model {bundle.model_version} sha256 {bundle.sha256}")
    return 0


score = Command("score a file of reports with a model bundle", _add_score_arguments, _run_score)
verify = Command("check a bundle's file hashes and ONNX graphs", _add_verify_arguments, _run_verify)

"""Serving's subcommands: `score` and `verify`."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def _run_score(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    if not args.input.is_file():
        raise UsageError(f"input file not found: {args.input}")
    scorer = Scorer.from_bundle(bundle, threads=args.threads)
    summary = run_batch(scorer, args.input, args.output, args.rejects)
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

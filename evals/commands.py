"""Evaluation's subcommands: `evaluate`, `report` and `gate`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evals.gates import PASS, NotAnEvaluation, stored_verdict
from serving.cli import EXIT_FAIL, EXIT_OK, Command, UsageError, human_stream, stage_command

evaluate = stage_command(
    "score the splits through the bundle, compute metrics, log them to MLflow", "evals.evaluate:evaluate_stage", "train"
)
report = stage_command("write the auditors' HTML report", "evals.report:report_stage", "train")


def _add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics", required=True, type=Path, help="the evaluation's metrics.json (reports/metrics.json)"
    )


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) and not isinstance(value, bool) else "n/a"


def gate_lines(metrics: dict) -> tuple[str, list[str]]:
    """The verdict, and one line per gate that did not pass: its name, status and numbers only."""
    verdict, not_passed = stored_verdict(metrics)
    bundle = metrics.get("bundle", {})
    lines = [
        f"release verdict: {verdict.upper()} (model {bundle.get('model_version', 'n/a')}, "
        f"bundle sha256 {bundle.get('bundle_sha256', 'n/a')})"
    ]
    for name, gate in not_passed.items():
        lines.append(
            f"gate {name}: {gate.get('status')} (value {_number(gate.get('value'))}, "
            f"must be {gate.get('comparison', '?')} {_number(gate.get('limit'))})"
        )
    lines.append(f"{len(not_passed)} of {len(metrics['gates']['gates'])} gates did not pass")
    return verdict, lines


def _run_gate(args: argparse.Namespace) -> int:
    try:
        metrics = json.loads(args.metrics.read_text(encoding="utf-8"))
        verdict, lines = gate_lines(metrics)
    except ValueError as error:  # a JSON error's message may quote the file: not printed
        reason = str(error) if isinstance(error, NotAnEvaluation) else "not JSON"
        raise UsageError(f"{args.metrics}: {reason}") from None
    out = human_stream(args, sys.stdout)
    for line in lines:
        print(line, file=out)
    return EXIT_OK if verdict == PASS else EXIT_FAIL


gate = Command(
    "print the release verdict of an evaluation's metrics.json and the gates that did not pass; "
    "exit 0 on PASS, 1 on FAIL (for schedulers; `evaluate` itself always exits 0)",
    _add_gate_arguments,
    _run_gate,
)

"""Evaluation's subcommands: `evaluate` and `report`."""

from serving.cli import stage_command

evaluate = stage_command(
    "score the splits through the bundle, compute metrics, log them to MLflow", "evals.evaluate:evaluate_stage", "train"
)
report = stage_command("write the auditors' HTML report", "evals.report:report_stage", "train")

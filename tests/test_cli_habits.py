"""CLI habits for safety teams: --version, `-` for stdin and stdout, default rejects, --quiet,
exit codes a scheduler can act on, the `gate` command, and what a serving-only install declares."""

import io
import json
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points, version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from evals.gates import FAIL, NO_DATA, PASS, Gate
from serving.batch import default_rejects
from serving.cli import GROUP
from tests.conftest import ROOT, run_cli, valid_record
from tests.test_torch_free import BLOCKED_RUN

TEXTS = [m["text"] for m in valid_record()["messages"]]
BAD_LINE = b'{"conversation_id": "broken", "opt_in": tru'


def _jsonl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


REPORTS = _jsonl(valid_record("s-1"), BAD_LINE, valid_record("s-2", opt_in=False))


class _Terminal(io.BytesIO):
    def isatty(self) -> bool:
        return True


def _stdin(monkeypatch, data: bytes, terminal: bool = False) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(_Terminal(data) if terminal else io.BytesIO(data)))


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_version_prints_the_installed_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli("--version")
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"grooming-risk {version('grooming-risk')}\n"


# --------------------------------------------------------------------------- score: stdin, stdout, rejects


def test_stdin_to_stdout_carries_only_scores_and_every_record_is_accounted_for(
    quick_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    _stdin(monkeypatch, REPORTS)
    rejects = tmp_path / "rejects.jsonl"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", "-", "--output", "-", "--rejects", rejects) == 0
    printed = capsys.readouterr()
    assert [s["conversation_id"] for s in _lines(printed.out)] == ["s-1", "s-2"]
    assert [(r["file"], r["line"]) for r in _lines(rejects.read_text())] == [("stdin", 2)]
    assert "read 3 = scored 2 + rejected 1" in printed.err and "scores: standard output" in printed.err
    assert f"rejects: {rejects}" in printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rejects.jsonl"]  # no file named `-`, no work folder
    assert not any(text in printed.out + printed.err for text in TEXTS)


def test_stdin_gives_the_same_scores_as_the_same_file(quick_run, tmp_path, monkeypatch, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(REPORTS)
    from_file, from_stdin = tmp_path / "file.jsonl", tmp_path / "stdin.jsonl"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", from_file) == 0
    _stdin(monkeypatch, REPORTS)
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", "-", "--output", from_stdin) == 0
    assert from_stdin.read_text() == from_file.read_text()
    assert "scores: " + str(from_stdin) in capsys.readouterr().out


def test_rejects_default_to_beside_the_output_and_are_named_in_the_summary(quick_run, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(REPORTS)
    output = tmp_path / "out" / "scores.jsonl.gz"
    assert run_cli("score", "--bundle", quick_run.bundle, "--input", source, "--output", output) == 0
    rejects = tmp_path / "out" / "scores.rejects.jsonl"
    assert [r["line"] for r in _lines(rejects.read_text())] == [2]
    assert f"rejects: {rejects}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("output", "expected"),
    [("scores.jsonl", "scores.rejects.jsonl"), ("a/b.PARQUET", "a/b.rejects.jsonl"), ("s.jsonl.gz", "s.rejects.jsonl")],
)
def test_default_rejects_name(tmp_path, output, expected):
    assert default_rejects(tmp_path / output) == tmp_path / expected


def test_quiet_score_and_verify_print_nothing_and_still_write_everything(quick_run, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(REPORTS)
    output = tmp_path / "scores.jsonl"
    assert run_cli("--quiet", "score", "--bundle", quick_run.bundle, "--input", source, "--output", output) == 0
    assert capsys.readouterr() == ("", "")
    assert len(_lines(output.read_text())) == 2 and len(_lines((tmp_path / "scores.rejects.jsonl").read_text())) == 1
    assert run_cli("--quiet", "verify", "--bundle", quick_run.bundle) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("arguments", "terminal", "message"),
    [
        (["--input", "-", "--output", "-"], False, "--output - needs --rejects"),
        (["--input", "-", "--output", "o.jsonl", "--rejects", "-"], False, "--rejects must be a file"),
        (["--input", "-", "--output", "o.jsonl"], True, "standard input, which is a terminal"),
        (["--input", "missing.jsonl", "--output", "o.jsonl"], False, "input not found"),
        (["--input", "in.jsonl", "--output", "o.csv"], False, "--output must end in"),
        (["--input", "in.jsonl", "--output", "blocker/o.jsonl"], False, "error: Not a directory"),
    ],
)
def test_usage_input_and_output_errors_exit_2_with_one_line_and_no_scores(
    quick_run, tmp_path, monkeypatch, capsys, arguments, terminal, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_bytes(REPORTS)
    (tmp_path / "blocker").write_bytes(b"a file where a folder is needed\n")
    _stdin(monkeypatch, REPORTS, terminal)
    assert run_cli("score", "--bundle", quick_run.bundle, *arguments) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and printed.err.count("\n") == 1 and message in printed.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "in.jsonl"]


def _score_in_a_pipe(quick_run, tmp_path, close_early: bool) -> tuple[int, bytes, str]:
    """`grooming-risk score --input - --output -` in a real process with real pipes."""
    command = [sys.executable, "-m", "serving.cli", "score", "--bundle", str(quick_run.bundle)]
    command += ["--input", "-", "--output", "-", "--rejects", str(tmp_path / "r.jsonl")]
    process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if close_early:  # a reader that went away (`| head -0`): the scores cannot all be written
        process.stdout.close()
        process.stdin.write(REPORTS)
        process.stdin.close()
        return process.wait(timeout=120), b"", process.stderr.read().decode()
    out, err = process.communicate(REPORTS, timeout=120)
    return process.returncode, out, err.decode()


def test_a_real_pipe_carries_only_the_scores(quick_run, tmp_path):
    code, out, err = _score_in_a_pipe(quick_run, tmp_path, close_early=False)
    assert code == 0, err
    assert [s["conversation_id"] for s in _lines(out.decode())] == ["s-1", "s-2"]
    assert "read 3 = scored 2 + rejected 1" in err


def test_a_closed_stdout_is_a_one_line_error_not_a_traceback(quick_run, tmp_path):
    code, _, err = _score_in_a_pipe(quick_run, tmp_path, close_early=True)
    assert code == 2
    assert err.splitlines()[-1] == "error: standard output was closed before every score was written"
    assert "Traceback" not in err and "Exception ignored" not in err


# --------------------------------------------------------------------------- gate


def _gates(*statuses: str) -> dict:
    """A metrics.json as `evaluate` writes it, with one gate per status (limit 0.1, `<=`)."""
    values = {PASS: 0.05, FAIL: 0.25, NO_DATA: None}
    gates = [
        Gate(f"gate_{i}", "a figure", values[s], 0.1, "<=", "style: textspeak FPR 0.25") for i, s in enumerate(statuses)
    ]
    verdict = PASS if all(s == PASS for s in statuses) else FAIL
    return {
        "bundle": {"model_version": "m-1", "bundle_sha256": "ab" * 32},
        "gates": {"verdict": verdict, "gates": {g.name: g.to_dict() for g in gates}},
    }


def _write(tmp_path, metrics) -> str:
    path = tmp_path / "metrics.json"
    path.write_text(metrics if isinstance(metrics, str) else json.dumps(metrics))
    return str(path)


def test_gate_passes_with_exit_0(tmp_path, capsys):
    assert run_cli("gate", "--metrics", _write(tmp_path, _gates(PASS, PASS))) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"release verdict: PASS (model m-1, bundle sha256 {'ab' * 32})")
    assert "0 of 2 gates did not pass" in out


def test_gate_fails_with_exit_1_and_names_each_failing_gate_with_numbers_only(tmp_path, capsys):
    assert run_cli("gate", "--metrics", _write(tmp_path, _gates(PASS, FAIL, NO_DATA))) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("release verdict: FAIL")
    assert lines[1:] == [
        "gate gate_1: fail (value 0.25, must be <= 0.1)",
        "gate gate_2: no data (value n/a, must be <= 0.1)",
        "2 of 3 gates did not pass",
    ]


def test_gate_never_passes_a_gate_that_did_not_pass_whatever_the_verdict_says(tmp_path, capsys):
    metrics = _gates(PASS, NO_DATA)
    metrics["gates"]["verdict"] = PASS
    assert run_cli("--quiet", "gate", "--metrics", _write(tmp_path, metrics)) == 1
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No such file"), ('{"verdict": tru', "not JSON"), ({"roc_auc": 0.9}, "no release gates")],
)
def test_gate_on_an_unreadable_metrics_file_is_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "metrics.json" if content is None else _write(tmp_path, content)
    assert run_cli("gate", "--metrics", path) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err and "tru" not in err


def test_gate_reads_the_metrics_evaluate_writes(quick_run):
    metrics = quick_run.read_json("reports/metrics.json")
    expected = 0 if metrics["gates"]["verdict"] == PASS else 1
    assert run_cli("gate", "--metrics", quick_run.reports / "metrics.json") == expected


def test_gate_runs_without_the_training_stack(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, "gate", "--metrics", _write(tmp_path, _gates(FAIL))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("release verdict: FAIL")


# --------------------------------------------------------------------------- what the distribution declares


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _constraints() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, pinned = line.split("==")
            pins[Requirement(name).name.lower().replace("_", "-")] = Version(pinned)
    return pins


def test_serving_dependencies_are_ranges_whose_tested_pin_is_in_constraints():
    pins = _constraints()
    for line in _pyproject()["project"]["dependencies"]:
        requirement = Requirement(line)
        operators = {spec.operator for spec in requirement.specifier}
        assert operators == {">=", "<"}, line  # a lower bound tested, an upper bound before the next break
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} has no exact pin in constraints.txt"
        assert pins[name] in requirement.specifier, (line, pins[name])


def test_every_package_ships_py_typed():
    project = _pyproject()
    package_data = project["tool"]["setuptools"]["package-data"]
    for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert (ROOT / package / "py.typed").is_file(), package
        assert "py.typed" in package_data.get(package, []), package


def test_gate_is_a_registered_subcommand():
    declared = _pyproject()["project"]["entry-points"][GROUP]
    assert declared["gate"] == "evals.commands:gate"
    assert "gate" in {e.name for e in entry_points(group=GROUP)}

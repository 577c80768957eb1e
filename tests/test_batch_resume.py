"""A job killed at any point and rerun with the same arguments ends with the output of an
uninterrupted run: no duplicate, no lost record."""

import fcntl
import json
import signal
import subprocess
import sys
import time

import pytest

import serving.batch
from serving.bundle import FP32, INT8, load_bundle
from serving.scorer import AUTO, Scorer, choose_encoder
from serving.sources import ChunkReader, ChunkSpec, plan_chunks
from tests.conftest import ROOT, run_cli, valid_record

CHUNK = 3


class Killed(RuntimeError):
    """Stands for the process dying."""


def _input(tmp_path, count=20):
    """`count` records with a few bad ones and cross-chunk duplicates among them."""
    lines = []
    for i in range(count):
        record = valid_record(f"k-{i % 17}", opt_in=i % 5 != 0)  # ids 0..2 repeat after 17 lines
        record["messages"][0]["text"] = f"are you going to the game number {i}"
        lines.append(json.dumps(record))
    lines[4] = '{"conversation_id": "k-broken", '
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    return source


def _score(quick_run, source, out, *extra):
    rejects = out.with_name(out.stem + ".rejects.jsonl")
    args = ("--input", source, "--output", out, "--rejects", rejects, "--chunk-records", str(CHUNK), *extra)
    return run_cli("score", "--bundle", quick_run.bundle, *args), rejects


@pytest.fixture(scope="module")
def reference(quick_run, tmp_path_factory):
    """The uninterrupted run every interrupted one must match, byte for byte."""
    folder = tmp_path_factory.mktemp("reference")
    source = _input(folder)
    code, rejects = _score(quick_run, source, folder / "scores.jsonl")
    assert code == 0
    return source, (folder / "scores.jsonl").read_bytes(), rejects.read_bytes()


def _fail_after(monkeypatch, chunks):
    real, calls = serving.batch.score_chunk, []

    def flaky(*args, **kwargs):
        if len(calls) == chunks:
            raise Killed
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(serving.batch, "score_chunk", flaky)


def _ledger(out):
    ledger = out.with_name(out.name + ".parts") / "ledger.jsonl"
    return ledger.read_text().splitlines() if ledger.exists() else []


@pytest.mark.parametrize("done_before_kill", [0, 1, 4, 6])
def test_a_job_killed_after_some_chunks_resumes_to_the_uninterrupted_output(
    quick_run, reference, tmp_path, monkeypatch, capsys, done_before_kill
):
    source, scores, rejects_expected = reference
    out = tmp_path / "scores.jsonl"
    with monkeypatch.context() as patch:
        _fail_after(patch, done_before_kill)
        with pytest.raises(Killed):
            _score(quick_run, source, out)
    assert not out.exists() and not out.with_name("scores.rejects.jsonl").exists()
    assert len(_ledger(out)) == done_before_kill
    capsys.readouterr()
    code, rejects = _score(quick_run, source, out)
    printed = capsys.readouterr().out
    assert code == 0
    assert out.read_bytes() == scores and rejects.read_bytes() == rejects_expected
    assert f"input: 1 file, 7 chunks ({done_before_kill} done by an earlier run)" in printed or done_before_kill == 0
    assert "read 20 = scored 16 + rejected 4" in printed
    assert not out.with_name("scores.jsonl.parts").exists()


def test_a_job_killed_while_assembling_or_after_it_resumes_to_the_same_output(quick_run, reference, tmp_path):
    source, scores, rejects_expected = reference
    out = tmp_path / "scores.jsonl"
    with pytest.MonkeyPatch.context() as patch:  # dies half way through writing the output
        writer_write = serving.batch.ScoreWriter.write

        def write_then_die(self, records):
            writer_write(self, records[:1])
            raise Killed

        patch.setattr(serving.batch.ScoreWriter, "write", write_then_die)
        with pytest.raises(Killed):
            _score(quick_run, source, out)
    assert not out.exists() and len(_ledger(out)) == 7
    with pytest.MonkeyPatch.context() as patch:  # dies after both files took their names
        patch.setattr(serving.batch.WorkDir, "remove", lambda self: (_ for _ in ()).throw(Killed))
        with pytest.raises(Killed):
            _score(quick_run, source, out)
    assert out.exists() and len(_ledger(out)) == 7
    code, rejects = _score(quick_run, source, out)
    assert code == 0 and out.read_bytes() == scores and rejects.read_bytes() == rejects_expected


def test_torn_ledger_lines_stray_temporary_files_and_damaged_parts_are_redone(quick_run, reference, tmp_path):
    source, scores, rejects_expected = reference
    out = tmp_path / "scores.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        _fail_after(patch, 3)
        with pytest.raises(Killed):
            _score(quick_run, source, out)
    work = out.with_name("scores.jsonl.parts")
    (work / "ledger.jsonl").open("a").write('{"chunk": 3, "sha2')  # a kill in the middle of a ledger line
    (work / "part-0000003.jsonl.tmp").write_text("half a part")
    damaged = work / "part-0000001.jsonl"
    damaged.write_bytes(damaged.read_bytes().replace(b'"risk_score": ', b'"risk_score": 1', 1))
    calls = []
    real = serving.batch.score_chunk
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serving.batch, "score_chunk", lambda *a: calls.append(a[2].index) or real(*a))
        code, rejects = _score(quick_run, source, out)
    assert code == 0 and out.read_bytes() == scores and rejects.read_bytes() == rejects_expected
    assert calls == [1, 3, 4, 5, 6]


def test_a_changed_input_starts_over_instead_of_mixing_two_inputs(quick_run, reference, tmp_path, capsys):
    source, _, _ = reference
    copy = tmp_path / "in.jsonl"
    copy.write_bytes(source.read_bytes())
    out = tmp_path / "scores.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        _fail_after(patch, 2)
        with pytest.raises(Killed):
            _score(quick_run, copy, out)
    copy.write_text(json.dumps(valid_record("only-one")) + "\n")
    capsys.readouterr()
    code, _ = _score(quick_run, copy, out)
    printed = capsys.readouterr().out
    assert code == 0 and "started over" in printed and "read 1 = scored 1 + rejected 0" in printed
    assert [json.loads(line)["conversation_id"] for line in out.read_text().splitlines()] == ["only-one"]


def test_a_resumed_job_keeps_the_encoder_graph_its_first_run_chose(quick_run, reference, tmp_path, capsys):
    source, _, _ = reference
    here = choose_encoder(AUTO).precision
    first = FP32 if here == INT8 else INT8  # not what `auto` picks on this machine
    out = tmp_path / "scores.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        _fail_after(patch, 2)
        with pytest.raises(Killed):
            _score(quick_run, source, out, "--precision", first)
    assert json.loads((tmp_path / "scores.jsonl.parts" / "job.json").read_text())["precision"] == first
    capsys.readouterr()
    code, _ = _score(quick_run, source, out, "--precision", here)
    assert code == 2 and not out.exists() and len(_ledger(out)) == 2
    assert f"started with the {first} encoder" in capsys.readouterr().err
    code, _ = _score(quick_run, source, out)  # auto: the ledger's graph, not this CPU's pick
    printed = capsys.readouterr().out
    assert code == 0 and "(2 done by an earlier run)" in printed
    assert f"encoder: {first} (resumed job: the first run's choice)" in printed
    uninterrupted = tmp_path / "uninterrupted.jsonl"
    assert _score(quick_run, source, uninterrupted, "--precision", first)[0] == 0
    assert out.read_bytes() == uninterrupted.read_bytes()


def test_a_second_job_on_the_same_output_is_refused_while_the_first_runs(quick_run, reference, tmp_path, capsys):
    source, _, _ = reference
    out = tmp_path / "scores.jsonl"
    work = out.with_name("scores.jsonl.parts")
    work.mkdir()
    with (work / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        code, _ = _score(quick_run, source, out)
    assert code == 2 and "another score job" in capsys.readouterr().err
    assert not out.exists()


# A `grooming-risk score` process slowed down so that it can be killed between chunks.
SLOW_RUN = """
import sys, time
import serving.batch
real = serving.batch.score_chunk
def slow(*args):
    time.sleep(0.15)
    return real(*args)
serving.batch.score_chunk = slow
from serving.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("kill_after_parts", [1, 5])
def test_a_process_killed_with_sigkill_resumes_to_the_uninterrupted_output(
    quick_run, reference, tmp_path, kill_after_parts
):
    source, scores, rejects_expected = reference
    out = tmp_path / "scores.jsonl"
    rejects = out.with_name("scores.rejects.jsonl")
    args = ["score", "--bundle", quick_run.bundle, "--input", source, "--output", out, "--rejects", rejects]
    args += ["--chunk-records", str(CHUNK)]
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while len(_ledger(out)) < kill_after_parts and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    assert not out.exists() and kill_after_parts <= len(_ledger(out)) < 7
    code, _ = _score(quick_run, source, out)
    assert code == 0 and out.read_bytes() == scores and rejects.read_bytes() == rejects_expected


def test_the_scores_of_a_chunk_do_not_depend_on_what_ran_before_it(quick_run):
    """Why resuming is exact: a part is a function of its chunk alone."""
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle)
    plan = plan_chunks(quick_run.root / "data" / "synthetic" / "test.jsonl", 4, bundle.limits)

    def part(spec: ChunkSpec) -> list:
        with ChunkReader(plan, bundle.limits) as reader:
            data = serving.batch.score_chunk(scorer, plan, spec, reader.read(spec))
        return [json.loads(line) for line in data.splitlines()[1:]]

    last = plan.chunks[-1]
    alone = part(last)
    with ChunkReader(plan, bundle.limits) as reader:
        for spec in plan.chunks[:-1]:
            serving.batch.score_chunk(scorer, plan, spec, reader.read(spec))
    assert part(last) == alone and all("score" in entry for entry in alone)

"""`--engine ray` on a local Ray cluster: the same output, rejects and counts as the local engine."""

import gzip
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import serving.batch
from tests.conftest import run_cli, valid_record

ray = pytest.importorskip("ray", reason="the `ray` extra is not installed")


@pytest.fixture(scope="module")
def local_ray():
    """A small local Ray instance, shared by this module's tests; the engine uses it as found."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _folder(tmp_path):
    """Three files of three formats, with bad records and duplicates across files."""
    folder = tmp_path / "reports"
    folder.mkdir()
    records = []
    for i in range(14):
        record = valid_record(f"r-{i}", opt_in=i % 4 != 0)
        record["messages"][0]["text"] = f"did you finish level {i} yet"
        records.append(json.dumps(record))
    (folder / "a.jsonl").write_text("\n".join([*records[:6], '{"not": "a record"}', "{oops"]) + "\n")
    with gzip.open(folder / "b.jsonl.gz", "wt") as handle:
        handle.write("\n".join([*records[6:10], records[0]]) + "\n")
    rows = [json.loads(r) for r in records[10:]]
    pq.write_table(pa.Table.from_pylist(rows), folder / "c.parquet", row_group_size=2)
    return folder


def _run(quick_run, folder, out, *extra):
    rejects = out.with_name(out.stem + ".rejects.jsonl")
    args = ("--input", folder, "--output", out, "--rejects", rejects, "--chunk-records", "3", "--threads", "1")
    return run_cli("score", "--bundle", quick_run.bundle, *args, *extra), rejects


def test_ray_and_local_engines_give_identical_scores_rejects_and_counts(quick_run, local_ray, tmp_path, capsys):
    folder = _folder(tmp_path)
    code, local_rejects = _run(quick_run, folder, tmp_path / "local.jsonl")
    assert code == 0
    local_out = capsys.readouterr().out
    code, ray_rejects = _run(quick_run, folder, tmp_path / "ray.jsonl", "--engine", "ray", "--actors", "2")
    printed = capsys.readouterr()
    assert code == 0
    # Chunks are the unit of work on both engines, so ONNX Runtime sees identical batches and
    # the int8 scores agree exactly, not merely within the batch effect.
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert ray_rejects.read_bytes() == local_rejects.read_bytes()
    rejected = [json.loads(line) for line in ray_rejects.read_text().splitlines()]
    assert [(r["file"], r["line"]) for r in rejected] == [("a.jsonl", 7), ("a.jsonl", 8), ("b.jsonl.gz", 5)]
    for summary in (local_out, printed.out):
        assert "read 17 = scored 14 + rejected 3" in summary
    assert "(ray engine)" in printed.out
    assert "did you finish level" not in printed.out + printed.err


def test_a_job_interrupted_on_the_local_engine_can_be_finished_on_ray(quick_run, local_ray, tmp_path, monkeypatch):
    folder = _folder(tmp_path)
    code, reference_rejects = _run(quick_run, folder, tmp_path / "reference.jsonl")
    assert code == 0
    real, calls = serving.batch.score_chunk, []

    def dies_after_two(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args)

    with monkeypatch.context() as patch:
        patch.setattr(serving.batch, "score_chunk", dies_after_two)
        with pytest.raises(KeyboardInterrupt):
            _run(quick_run, folder, tmp_path / "scores.jsonl")
    code, rejects = _run(quick_run, folder, tmp_path / "scores.jsonl", "--engine", "ray")
    assert code == 0
    assert (tmp_path / "scores.jsonl").read_bytes() == (tmp_path / "reference.jsonl").read_bytes()
    assert rejects.read_bytes() == reference_rejects.read_bytes()

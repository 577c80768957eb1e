"""Peak memory of `grooming-risk score` as its input grows: the job streams, so 10x the records
should not mean more memory.

    .venv/bin/python benchmarks/score_memory.py [--bundle models/bundle] [--sizes 2000,20000]
                                                [--format jsonl|parquet] [--threads N]

Generates the synthetic conversations of each size (the generator of params.yaml) in a process
of its own, then scores each file in a fresh process and reads that process's peak resident set
size (ru_maxrss, from os.wait4). This parent stays small: Linux carries a process's peak across
exec, so a child forked from a parent that held the records would inherit that peak. Target:
the peak for the largest size is at most 1.2x the peak for the smallest. Prints numbers only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def generate(params_path: Path, count: int, path: Path) -> None:
    """Runs in a child process: the records are never held by the measuring parent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from training import synthetic
    from training.config import training_params

    params, _ = training_params(params_path)
    config = dataclasses.replace(params.generate, conversations={"memory": count})
    records = synthetic.generate_split(config, "memory")
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=1000)
    else:
        with path.open("w") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)


def write_input(params_path: Path, count: int, folder: Path, kind: str) -> Path:
    path = folder / f"in-{count}.{kind}"
    command = [sys.executable, __file__, "--params", str(params_path), "--generate", str(count), str(path)]
    subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    return path


def peak_rss(bundle: Path, source: Path, folder: Path, threads: int | None) -> tuple[float, float, str]:
    """(peak RSS in MiB, seconds, the summary's first line) of one `score` process."""
    command = [sys.executable, "-m", "serving.cli", "score", "--bundle", str(bundle), "--input", str(source)]
    command += ["--output", str(folder / f"{source.stem}.scores.jsonl"), "--rejects", str(folder / "rejects.jsonl")]
    if threads:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    output = process.stdout.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"score failed on {source.name}")
    summary = next(line for line in output.splitlines() if line.startswith("read "))
    return usage.ru_maxrss / 1024, seconds, summary  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=Path("models/bundle"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--sizes", default="2000,20000")
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--generate", nargs=2, metavar=("COUNT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        generate(args.params, int(args.generate[0]), Path(args.generate[1]))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            source = write_input(args.params, size, Path(folder), args.format)
            mib, seconds, summary = peak_rss(args.bundle, source, Path(folder), args.threads)
            rows.append((size, source.stat().st_size / 2**20, mib, seconds, summary))
            print(f"  {size} conversations: peak RSS {mib:.0f} MiB in {seconds:.0f} s ({summary})", flush=True)
            source.unlink()
    print()
    print("| conversations | input MiB | peak RSS MiB | seconds |")
    print("| ---: | ---: | ---: | ---: |")
    for size, input_mib, mib, seconds, _ in rows:
        print(f"| {size} | {input_mib:.1f} | {mib:.0f} | {seconds:.0f} |")
    ratio = rows[-1][2] / rows[0][2]
    print(f"\ntarget peak({sizes[-1]}) <= 1.2x peak({sizes[0]}): {ratio:.2f}x -> {'met' if ratio <= 1.2 else 'MISSED'}")


if __name__ == "__main__":
    main()

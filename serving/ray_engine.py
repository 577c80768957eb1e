"""`--engine ray`: the same job on Ray Data, for clusters.

read -> map_batches -> write, with the chunks of serving/sources.py as the unit of work:

- read (Ray tasks): each chunk still to do is read from its file into an Arrow table (the same
  reader as the local engine, so the same records with the same line numbers) and shipped as
  Arrow IPC bytes, one row per chunk;
- map_batches (an actor pool, one ONNX session per actor): each actor receives the bundle's
  bytes once through the object store, verifies them like any bundle, opens the encoder graph
  the driver's job settled (not one chosen by its own node's CPU: the ledger records one graph
  per job), and turns one chunk at a time into its part, with the very code of the local engine
  (`serving.batch.score_chunk`);
- write (the driver): parts are committed to the job's work folder as they arrive, then
  assembled into the output and rejects files exactly as the local engine does.

One row is one whole chunk, so every chunk is scored in the same ONNX Runtime batches as on the
local engine and the scores are identical; rejects, duplicates and counts are settled by the
same assembly. A cluster needs the input files on storage every node can read and
`grooming-risk` installed on each node.

Ray is imported here only, and only when the engine runs.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from serving.batch import Commit, Engine, score_chunk
from serving.bundle import MANIFEST, Bundle, BundleError, load_bundle
from serving.schema import Limits
from serving.scorer import EncoderChoice, Scorer
from serving.sources import ChunkReader, ChunkSpec, InputFile, Plan, table_from_ipc, table_to_ipc

# Read tasks: one per group of chunks up to this many, enough to spread reading over a cluster.
_MAX_READ_BLOCKS = 1000


def _plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "files": [[str(f.path), f.name, f.kind, f.size, f.sha256, f.damaged] for f in plan.files],
        "chunk_records": plan.chunk_records,
    }


def _plan_from_dict(values: dict[str, Any], chunks: list[ChunkSpec]) -> Plan:
    files = [InputFile(Path(p), *rest) for p, *rest in values["files"]]
    return Plan(files, [], chunks, values["chunk_records"])


def _spec(values: Any) -> ChunkSpec:
    return ChunkSpec(*(int(v) for v in values))


def _read_groups(plan: Plan, todo: list[ChunkSpec]) -> list[list[ChunkSpec]]:
    """Chunks grouped for read tasks: a gzip file's chunks stay together (a gzip stream can only
    be read from its start), other chunks are read on their own."""
    groups: list[list[ChunkSpec]] = []
    for spec in todo:
        gzip = plan.files[spec.file_index].kind == "jsonl.gz"
        if gzip and groups and groups[-1][-1].file_index == spec.file_index:
            groups[-1].append(spec)
        else:
            groups.append([spec])
    return groups


def _read_chunks(row: dict[str, Any], plan: dict[str, Any], limits: dict[str, int]) -> list[dict[str, Any]]:
    """Read task: one group of chunks -> one row per chunk, its records as Arrow IPC bytes."""
    specs = [_spec(values) for values in row["chunks"]]
    with ChunkReader(_plan_from_dict(plan, specs), Limits(**limits)) as reader:
        return [
            {"chunk": spec.index, "spec": list(_spec_values(spec)), "ipc": table_to_ipc(reader.read(spec))}
            for spec in specs
        ]


def _spec_values(spec: ChunkSpec) -> tuple[int, ...]:
    return spec.index, spec.file_index, spec.first_line, spec.count, spec.offset


class _ChunkScorer:
    """Scoring actor: one verified bundle and one ONNX session, for every chunk it is given."""

    def __init__(
        self,
        bundle_files: list,
        bundle_sha256: str,
        threads: int | None,
        plan: dict[str, Any],
        encoder: EncoderChoice,
    ) -> None:
        import ray

        files: dict[str, bytes] = ray.get(bundle_files[0])
        self._folder = tempfile.TemporaryDirectory(prefix="grooming-risk-bundle-")
        for name, data in files.items():
            (Path(self._folder.name) / name).write_bytes(data)
        bundle = load_bundle(self._folder.name)
        if bundle.sha256 != bundle_sha256:
            raise BundleError("the bundle an actor received differs from the driver's")
        self.scorer = Scorer.from_bundle(bundle, threads=threads, precision=encoder)
        self.plan = plan

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        parts = []
        for values, ipc in zip(batch["spec"], batch["ipc"], strict=True):
            spec = _spec(values)
            plan = _plan_from_dict(self.plan, [spec])
            parts.append(score_chunk(self.scorer, plan, spec, table_from_ipc(ipc)))
        return {"chunk": np.asarray(batch["chunk"]), "part": np.asarray(parts, dtype=object)}


def _bundle_files(bundle: Bundle) -> dict[str, bytes]:
    names = [MANIFEST, *bundle.manifest["files"]]
    return {name: bundle.file(name).read_bytes() for name in names}


def engine(bundle: Bundle, encoder: EncoderChoice, threads: int | None = None, actors: int | None = None) -> Engine:
    """An engine that scores chunks on Ray Data with the `encoder` graph: the running Ray instance
    if this process has one, else the cluster at RAY_ADDRESS, else a local one started (and stopped) here."""

    def run(plan: Plan, todo: list[ChunkSpec], commit: Commit) -> None:
        if not todo:
            return
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
        try:
            _run(ray, bundle, encoder, threads, actors, plan, todo, commit)
        finally:
            if started_here:
                ray.shutdown()

    return run


def _run(
    ray: Any,
    bundle: Bundle,
    encoder: EncoderChoice,
    threads: int | None,
    actors: int | None,
    plan: Plan,
    todo: list[ChunkSpec],
    commit: Commit,
) -> None:
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    threads = threads or bundle.runtime.intra_op_threads
    if actors is None:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, min(len(todo), cpus // threads))
    plan_values = _plan_to_dict(plan)
    limits = bundle.manifest["limits"]
    groups = [{"chunks": [list(_spec_values(s)) for s in group]} for group in _read_groups(plan, todo)]
    by_index = {spec.index: spec for spec in todo}
    dataset = (
        ray.data.from_items(groups, override_num_blocks=min(len(groups), _MAX_READ_BLOCKS))
        # Reading is light I/O: it takes no CPU slot, so that it never waits behind the actors.
        .flat_map(_read_chunks, fn_kwargs={"plan": plan_values, "limits": limits}, num_cpus=0)
        .map_batches(
            _ChunkScorer,
            fn_constructor_kwargs={
                "bundle_files": [ray.put(_bundle_files(bundle))],
                "bundle_sha256": bundle.sha256,
                "threads": threads,
                "plan": plan_values,
                "encoder": encoder,
            },
            batch_size=1,
            concurrency=actors,
            num_cpus=threads,
        )
    )
    for row in dataset.iter_rows():
        commit(by_index[int(row["chunk"])], bytes(row["part"]))

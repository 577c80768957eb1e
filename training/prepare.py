"""The prepare stage: every training source of `params.yaml`'s `sources` turned into one set of
record-format splits under `paths.data`, which train, export and evaluate read.

- `synthetic`: the generate stage's splits (`paths.synthetic`), copied byte for byte.
- `pan12`: a PAN 2012 tree (training/sources.py): its official test stays the test split, and
  validation is cut from its official train.
- `panc`: the eSPD/PANC CSV files `PANC-train.csv` and `PANC-test.csv`, split the same way.
- `records`: files in our own format (a glob of JSONL or Parquet), cut into train, validation
  and test.

Splits are leak-free: conversations that share an author (a participant id; for PANC, which has
no authors, the chat a segment belongs to) are joined into one group, and a group lands in one
split, chosen by a seeded hash. A train group that shares an author with the official test is
rejected, with the reason. Exact-duplicate conversations (the same senders and texts) are kept
once; the others are rejected as duplicates. Over-long conversations are kept whole: the limits
of `params.yaml` are applied, with reasons, where every split is read.

Outputs under `paths.data`: `train.jsonl` and `validation.jsonl` (every source's part),
`<source>_validation.jsonl` and `<source>_test.jsonl` per licensed source, the synthetic
evaluation splits, `sources.json` (each source's weight and split names, read by train and
evaluate) and `rejects/<source>.jsonl` (conversation id and reason); and the datasheet's
tables, `<generate.card_dir>/sources_stats.json` and `sources_stats.md` (ids and numbers only).

Licensed text is read into memory and written only to the splits: the `datasets` cache lives in
a temporary folder that is removed afterwards, and nothing here logs or prints a message.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from serving.params import SOURCES, SYNTHETIC_SOURCE, load_params
from training.config import PrepareConfig, TrainingParams, training_params
from training.data import TRAIN, VALIDATION, write_jsonl
from training.sources import load_pan12, load_panc, load_records, records

PAN12, PANC, RECORDS = "pan12", "panc", "records"
SYNTHETIC = SYNTHETIC_SOURCE
KINDS = (SYNTHETIC, PAN12, PANC, RECORDS)
TEST = "test"
REJECTS = "rejects"
STATS_JSON = "sources_stats.json"
STATS_MD = "sources_stats.md"
# The files of a PAN12 tree, as its distribution names them (a glob under the source's path).
PAN12_FILES = {
    "train_conversations": "*training-corpus-2012-05-01.xml",
    "train_predators": "*training-corpus-predators-*.txt",
    "test_conversations": "*test-corpus-*.xml",
    "test_predators": "*groundtruth-problem1.txt",
}
PANC_FILES = {TRAIN: "PANC-train.csv", TEST: "PANC-test.csv"}


class SourceError(ValueError):
    """A `sources` entry that cannot be used; the message names the entry, never data."""


@dataclass(frozen=True)
class SourceSpec:
    """One entry of `sources`: its kind, a name (its split and report prefix), where its files
    are (`$VARIABLE`s expanded) and its weight in training."""

    kind: str
    name: str
    path: Path | None
    weight: float


def source_specs(entries: Iterable[dict[str, Any]], environ: dict[str, str] | None = None) -> list[SourceSpec]:
    """The checked specs of `sources`; a licensed path may name environment variables
    (`$PAN12_DIR`), so that no local path needs committing."""
    environ = dict(os.environ if environ is None else environ)
    specs: list[SourceSpec] = []
    for number, entry in enumerate(entries, start=1):
        where = f"sources entry {number}"
        unknown = set(entry) - {"kind", "name", "path", "weight"}
        if unknown:
            raise SourceError(f"{where}: unknown keys {sorted(unknown)}")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise SourceError(f"{where}: kind must be one of {list(KINDS)}")
        name = str(entry.get("name", kind))
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise SourceError(f"{where}: name must be lower-case letters, digits and '_'")
        weight = float(entry.get("weight", 1.0))
        if not weight > 0:
            raise SourceError(f"{where}: weight must be > 0")
        raw_path = entry.get("path")
        if kind == SYNTHETIC:
            if raw_path is not None:
                raise SourceError(f"{where}: a synthetic source takes no path (it reads paths.synthetic)")
            path = None
        else:
            if not raw_path:
                raise SourceError(f"{where}: a {kind} source needs a path")
            missing = [v for v in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", str(raw_path)) if not environ.get(v)]
            if missing:
                raise SourceError(f"{where}: environment variable {missing[0]} is not set")
            path = Path(re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: environ[m.group(1)], str(raw_path)))
        specs.append(SourceSpec(kind, name, path, weight))
    names = [s.name for s in specs]
    if not specs:
        raise SourceError("sources is empty")
    if len(set(names)) != len(names):
        raise SourceError("two sources share a name")
    if any((s.kind == SYNTHETIC) != (s.name == SYNTHETIC) for s in specs):
        raise SourceError("the name 'synthetic' is the synthetic source's, and only its")
    if {PAN12, PANC} <= {s.kind for s in specs}:
        raise SourceError("pan12 and panc together: PANC is cut from PAN12, so one's test would be the other's train")
    return specs


# --------------------------------------------------------------------------- pure core


def content_key(record: dict[str, Any]) -> str:
    """What makes two conversations exact duplicates: the same senders saying the same texts."""
    body = [[m["sender"], m["text"]] for m in record["messages"]]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


def author_keys(record: dict[str, Any], kind: str) -> set[str]:
    """The authors of a conversation; for PANC, which names none, the chat of its segment."""
    if kind == PANC:
        chat = record["conversation_id"].removeprefix("panc-")
        return {"chat:" + re.sub(r"-\d+$", "", chat)}
    return {f"author:{p['id']}" for p in record["participants"]}


def with_unique_ids(
    rows: list[dict[str, Any]], taken: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, str | None]]]:
    """`rows` whose conversation_id no earlier row or source has (`taken`, updated), and a reject
    for each of the others."""
    kept, rejects = [], []
    for record in rows:
        if record["conversation_id"] in taken:
            rejects.append(_reject(record, "conversation_id already used (in another file or source)"))
        else:
            taken.add(record["conversation_id"])
            kept.append(record)
    return kept, rejects


def without_duplicates(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, str | None]]]:
    """The first of each set of exact duplicates, and a reject for every later one."""
    first: dict[str, str] = {}
    kept, rejects = [], []
    for record in rows:
        key = content_key(record)
        if key in first:
            rejects.append(_reject(record, f"exact duplicate of {first[key]}"))
        else:
            first[key] = record["conversation_id"]
            kept.append(record)
    return kept, rejects


def author_groups(rows: list[dict[str, Any]], keys: Callable[[dict[str, Any]], set[str]]) -> list[list[int]]:
    """Indices of `rows` joined wherever two conversations share an author (union-find), in
    order of first row."""
    parent = list(range(len(rows)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, record in enumerate(rows):
        for key in sorted(keys(record)):
            if key in owner:
                a, b = root(index), root(owner[key])
                parent[max(a, b)] = min(a, b)
            else:
                owner[key] = index
    groups: dict[int, list[int]] = {}
    for index in range(len(rows)):
        groups.setdefault(root(index), []).append(index)
    return list(groups.values())


def _unit(seed: int, text: str) -> float:
    digest = hashlib.sha256(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    rows: list[dict[str, Any]],
    keys: Callable[[dict[str, Any]], set[str]],
    fractions: dict[str, float],
    seed: int,
) -> dict[str, list[dict[str, Any]]]:
    """`rows` cut into splits of about `fractions` of the author groups (the remainder is
    train), each group whole in one split; a group's split depends on the seed and its
    authors, not on the order of the rows."""
    out: dict[str, list[dict[str, Any]]] = {TRAIN: [], **{name: [] for name in fractions}}
    for group in author_groups(rows, keys):
        anchor = min(k for i in group for k in keys(rows[i]))
        u, split, edge = _unit(seed, anchor), TRAIN, 0.0
        for name, fraction in fractions.items():
            if edge <= u < edge + fraction:
                split = name
            edge += fraction
        out[split].extend(rows[i] for i in group)
    return out


def apart_from(
    rows: list[dict[str, Any]], held: list[dict[str, Any]], keys: Callable[[dict[str, Any]], set[str]]
) -> tuple[list[dict[str, Any]], list[dict[str, str | None]]]:
    """`rows` without the conversations of an author who also appears in `held`, and their rejects."""
    held_keys = {k for record in held for k in keys(record)}
    kept, rejects = [], []
    for record in rows:
        if keys(record) & held_keys:
            rejects.append(_reject(record, "an author of it is also in the official test split"))
        else:
            kept.append(record)
    return kept, rejects


def _reject(record: dict[str, Any], reason: str) -> dict[str, str | None]:
    return {"conversation_id": record["conversation_id"], "reason": reason}


def split_stats(rows: list[dict[str, Any]], keys: Callable[[dict[str, Any]], set[str]]) -> dict[str, int]:
    """Numbers only: conversations, risky and benign, messages and authors."""
    return {
        "conversations": len(rows),
        "risky": sum(r.get("label") == 1 for r in rows),
        "benign": sum(r.get("label") == 0 for r in rows),
        "messages": sum(len(r["messages"]) for r in rows),
        "authors": len({k for r in rows for k in keys(r)}),
    }


# --------------------------------------------------------------------------- one licensed source


@dataclass(frozen=True)
class PreparedSource:
    spec: SourceSpec
    splits: dict[str, list[dict[str, Any]]]  # train, validation, test
    rejects: list[dict[str, str | None]]
    read: int  # conversations read from the source's files

    def stats(self) -> dict[str, Any]:
        keys = lambda r: author_keys(r, self.spec.kind)  # noqa: E731
        reasons: dict[str, int] = {}
        for reject in self.rejects:
            reason = "exact duplicate" if reject["reason"].startswith("exact duplicate") else reject["reason"]
            reasons[reason] = reasons.get(reason, 0) + 1
        every = [r for rows in self.splits.values() for r in rows]
        return {
            "kind": self.spec.kind,
            "weight": self.spec.weight,
            "read": self.read,
            "rejected": dict(sorted(reasons.items())),
            "total": split_stats(every, keys),
            # Splits are drawn by author group: one group of most conversations would fill one split.
            "largest_author_group": max((len(g) for g in author_groups(every, keys)), default=0),
            "splits": {name: split_stats(rows, keys) for name, rows in self.splits.items()},
        }


def _one(folder: Path, pattern: str, name: str, required: bool = True) -> Path | None:
    found = sorted(p for p in folder.rglob(pattern) if p.is_file())
    if len(found) > 1:
        raise SourceError(f"source {name}: {len(found)} files match {pattern} under its path")
    if not found and required:
        raise SourceError(f"source {name}: no file matches {pattern} under its path")
    return found[0] if found else None


def _official(
    spec: SourceSpec, cache: Path, max_message_chars: int | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The official train and test conversations of a PAN12 tree or a PANC folder."""
    assert spec.path is not None
    if not spec.path.is_dir():
        raise SourceError(f"source {spec.name}: its path is not a folder")
    if spec.kind == PAN12:
        files = {key: _one(spec.path, glob, spec.name, key.startswith("train")) for key, glob in PAN12_FILES.items()}
        if (files["test_conversations"] is None) != (files["test_predators"] is None):
            raise SourceError(f"source {spec.name}: the official test needs both its XML and its ground truth")
        train = list(records(load_pan12(files["train_conversations"], files["train_predators"], cache)))
        test = []
        if files["test_conversations"] is not None:
            test = list(records(load_pan12(files["test_conversations"], files["test_predators"], cache)))
        return train, test
    train_file = _one(spec.path, PANC_FILES[TRAIN], spec.name)
    test_file = _one(spec.path, PANC_FILES[TEST], spec.name, required=False)
    train = list(records(load_panc(train_file, max_message_chars, cache)))
    test = [] if test_file is None else list(records(load_panc(test_file, max_message_chars, cache)))
    return train, test


def prepare_source(
    spec: SourceSpec,
    config: PrepareConfig,
    seed: int,
    cache: Path,
    taken: set[str] | None = None,
    max_message_chars: int | None = None,
) -> PreparedSource:
    """One licensed source as train, validation and test, its rejects and counts; `taken`, the
    conversation ids of earlier sources, gains this source's. PANC segments, which have no
    message boundaries, are cut into messages of at most `max_message_chars`."""
    taken = set() if taken is None else taken
    keys = lambda r: author_keys(r, spec.kind)  # noqa: E731
    if spec.kind == RECORDS:
        assert spec.path is not None
        files = sorted(Path(p) for p in _glob(spec.path))
        if not files:
            raise SourceError(f"source {spec.name}: no file matches its path")
        rejects = []
        rows = [r for f in files for r in records(load_records(f, cache_dir=cache, rejects=rejects))]
        read = len(rows) + len(rejects)
        rows, reused = with_unique_ids(rows, taken)
        rejects += reused
        unlabelled = [r for r in rows if r.get("label") not in (0, 1)]
        rejects += [_reject(r, "no label: a training source needs 0 or 1") for r in unlabelled]
        rows, duplicates = without_duplicates([r for r in rows if r.get("label") in (0, 1)])
        rejects += duplicates
        fractions = {VALIDATION: config.validation_fraction, TEST: config.test_fraction}
        splits = assign_splits(rows, keys, fractions, seed)
    else:
        train, test = _official(spec, cache, max_message_chars)
        read = len(train) + len(test)
        test, rejects = with_unique_ids(test, taken)
        train, reused = with_unique_ids(train, taken)
        rejects += reused
        test, duplicates = without_duplicates(test)
        rejects += duplicates
        train, duplicates = without_duplicates(train)
        train, shared = apart_from(train, test, keys)
        rejects += duplicates + shared
        splits = assign_splits(train, keys, {VALIDATION: config.validation_fraction}, seed)
        splits[TEST] = test
    for rows in splits.values():
        for record in rows:
            record["groups"] = {**(record.get("groups") or {}), "source": spec.name}
    return PreparedSource(spec, {name: splits[name] for name in (TRAIN, VALIDATION, TEST)}, rejects, read)


def _glob(path: Path) -> list[str]:
    return glob.glob(str(path), recursive=True)


# --------------------------------------------------------------------------- the stage


def _append(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _synthetic_stats(folder: Path) -> dict[str, Any]:
    def count(name: str) -> dict[str, int]:
        rows = [json.loads(line) for line in _lines(folder / f"{name}.jsonl")]
        return split_stats(rows, lambda r: author_keys(r, SYNTHETIC))

    # Generated participant ids repeat across conversations: an author count would mean nothing.
    splits = {name: {**count(name), "authors": None} for name in (TRAIN, VALIDATION)}
    return {"kind": SYNTHETIC, "splits": splits}


def write_prepared(
    params: TrainingParams, specs: list[SourceSpec], prepared: list[PreparedSource], unchanged: list[str]
) -> dict[str, Any]:
    """Write the splits, `sources.json` and the rejects under `paths.data`; the manifest."""
    out, synthetic_folder = params.paths.data, params.paths.synthetic
    if out.resolve() == synthetic_folder.resolve() or out.resolve() in synthetic_folder.resolve().parents:
        raise SourceError("paths.data must not be paths.synthetic or hold it: prepare rewrites paths.data")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in unchanged:
        shutil.copyfile(synthetic_folder / f"{name}.jsonl", out / f"{name}.jsonl")
    for name in (TRAIN, VALIDATION):
        (out / f"{name}.jsonl").touch()
    evaluation, early = [], []
    for source in prepared:
        for name in (TRAIN, VALIDATION):
            _append(out / f"{name}.jsonl", source.splits[name])
        # Only the test is held out: the source's validation part fits calibration and the bands.
        if source.splits[TEST]:
            write_jsonl(out / f"{source.spec.name}_{TEST}.jsonl", source.splits[TEST])
            evaluation.append(f"{source.spec.name}_{TEST}")
            early.append(f"{source.spec.name}_{TEST}")
        write_jsonl(out / REJECTS / f"{source.spec.name}.jsonl", source.rejects)
    manifest = {
        "sources": [{"name": s.name, "kind": s.kind, "weight": s.weight} for s in specs],
        "evaluation_splits": evaluation,
        "early_detection_splits": early,
    }
    (out / SOURCES).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def render_markdown(stats: dict[str, Any]) -> str:
    lines = [
        "<!-- Written by the prepare stage (training/prepare.py); ids and numbers only. -->",
        "",
        "| source | kind | weight | read | rejected | split | conversations | risky | benign | messages | authors |",
        "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, entry in stats["sources"].items():
        rejected = ", ".join(f"{reason}: {n}" for reason, n in entry.get("rejected", {}).items()) or "none"
        for split, row in entry["splits"].items():
            head = [name, entry["kind"], entry.get("weight", ""), entry.get("read", ""), rejected]
            cells = [*head, split, *(row[k] for k in ("conversations", "risky", "benign", "messages", "authors"))]
            lines.append("| " + " | ".join("n/a" if c is None else str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def prepare_stage(params_path: Path, profile: str | None) -> int:
    params, _ = training_params(params_path, profile)
    raw = load_params(params_path, profile)
    specs = source_specs(raw.get("sources") or [])
    synthetic = params.paths.synthetic
    generated = sorted(p.stem for p in synthetic.glob("*.jsonl"))
    if any(s.kind == SYNTHETIC for s in specs):
        unchanged = generated
    else:  # the yardsticks that are not generated: committed hand-written and real benign suites
        yardsticks = {*params.committed_splits, params.chitchat.suite_name}
        unchanged = [name for name in generated if name in yardsticks]
    datasets.disable_progress_bars()
    stats: dict[str, Any] = {"sources": {}}
    prepared: list[PreparedSource] = []
    taken = {json.loads(line)["conversation_id"] for name in unchanged for line in _lines(synthetic / f"{name}.jsonl")}
    with tempfile.TemporaryDirectory(prefix="grooming-risk-prepare-") as cache:
        for spec in specs:
            if spec.kind == SYNTHETIC:
                stats["sources"][spec.name] = {**_synthetic_stats(synthetic), "weight": spec.weight}
                continue
            source = prepare_source(
                spec, params.prepare, params.seed, Path(cache), taken, params.limits.max_message_chars
            )
            prepared.append(source)
            stats["sources"][spec.name] = source.stats()
            counts = {name: len(rows) for name, rows in source.splits.items()}
            print(f"{spec.name} ({spec.kind}): {source.read} read, {len(source.rejects)} rejected, splits {counts}")
    manifest = write_prepared(params, specs, prepared, unchanged)
    card = Path(params.generate.card_dir)
    card.mkdir(parents=True, exist_ok=True)
    (card / STATS_JSON).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    (card / STATS_MD).write_text(render_markdown(stats))
    print(f"prepared {len(specs)} source(s) -> {params.paths.data}; evaluation splits {manifest['evaluation_splits']}")
    return 0

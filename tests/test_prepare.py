"""The prepare stage: sources from params.yaml into leak-free splits, and licensed text kept out
of everything but the splits themselves."""

import json
import re
import sqlite3
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from serving.params import read_sources, source_weights
from serving.schema import Limits, parse_record
from tests.conftest import PAN12_TREE, run_cli, valid_record
from training.baseline import TfidfBaseline
from training.config import PrepareConfig, training_params
from training.data import read_split
from training.pipeline import conversation_weights
from training.prepare import (
    PAN12,
    PANC,
    RECORDS,
    SourceError,
    SourceSpec,
    assign_splits,
    author_keys,
    prepare_source,
    source_specs,
)

CONFIG = PrepareConfig(validation_fraction=0.3, test_fraction=0.2)


def fixture_texts() -> set[str]:
    """The PAN12 fixture's message texts that our own generator and exemplar library never write
    (long enough not to be common words), so that finding one anywhere means it leaked."""
    texts = {
        (node.text or "").strip()
        for path in PAN12_TREE.rglob("*.xml")
        for node in ET.parse(path).getroot().iter("text")
    }
    ours = (Path(__file__).resolve().parents[1] / "training" / "exemplars.yaml").read_text().casefold()
    return {t for t in texts if len(t) >= 15 and t.casefold() not in ours}


def test_source_specs_expand_environment_variables_and_refuse_what_cannot_be_used():
    specs = source_specs(
        [{"kind": "synthetic"}, {"kind": "pan12", "path": "$DATA_ROOT/pan12", "weight": 2}],
        environ={"DATA_ROOT": "/licensed"},
    )
    assert specs == [
        SourceSpec("synthetic", "synthetic", None, 1.0),
        SourceSpec("pan12", "pan12", Path("/licensed/pan12"), 2.0),
    ]
    refused = {
        "is not set": [{"kind": "pan12", "path": "${NOT_SET_ANYWHERE}/x"}],
        "kind must be": [{"kind": "forum"}],
        "needs a path": [{"kind": "records"}],
        "weight must be": [{"kind": "panc", "path": "/x", "weight": 0}],
        "share a name": [{"kind": "records", "path": "/a"}, {"kind": "records", "path": "/b"}],
        "takes no path": [{"kind": "synthetic", "path": "/x"}],
        "unknown keys": [{"kind": "synthetic", "wieght": 2}],
        "only its": [{"kind": "records", "name": "synthetic", "path": "/x"}],
        "PANC is cut from PAN12": [{"kind": "pan12", "path": "/a"}, {"kind": "panc", "path": "/b"}],
        "is empty": [],
    }
    for reason, entries in refused.items():
        with pytest.raises(SourceError, match=reason):
            source_specs(entries, environ={})


def test_an_author_never_spans_two_splits():
    rng = np.random.default_rng(7)
    rows = []
    for number in range(300):  # authors drawn from a small pool, so that many conversations share one
        authors = {f"a{int(a)}" for a in rng.integers(0, 600, size=2)}
        rows.append({"conversation_id": f"c{number}", "participants": [{"id": a} for a in sorted(authors)]})
    keys = lambda r: author_keys(r, "records")  # noqa: E731
    splits = assign_splits(rows, keys, {"validation": 0.2, "test": 0.2}, seed=3)
    owner: dict[str, str] = {}
    for name, part in splits.items():
        for record in part:
            for key in keys(record):
                assert owner.setdefault(key, name) == name, key
    assert sum(len(p) for p in splits.values()) == len(rows)
    assert all(splits.values())  # the groups do not collapse into one split
    ids = lambda parts: {n: {r["conversation_id"] for r in p} for n, p in parts.items()}  # noqa: E731
    assert ids(assign_splits(list(reversed(rows)), keys, {"validation": 0.2, "test": 0.2}, 3)) == ids(splits)


def test_pan12_keeps_its_official_test_and_accounts_for_every_conversation(tmp_path):
    source = prepare_source(SourceSpec(PAN12, "pan12", PAN12_TREE, 1.0), CONFIG, 1234, tmp_path)
    splits = source.splits
    kept = sum(len(rows) for rows in splits.values())
    assert source.read == 17 and kept + len(source.rejects) == source.read
    assert len(splits["test"]) == 5  # the official test, whole
    reasons = sorted(r["reason"].split(" of pan12-")[0] for r in source.rejects)
    assert reasons == ["an author of it is also in the official test split", "exact duplicate"]
    assert all(re.fullmatch(r"pan12-[0-9a-f]{32}", r["conversation_id"]) for r in source.rejects)
    owner: dict[str, str] = {}
    for name, rows in splits.items():
        for record in rows:
            parse_record(record, Limits(50, 1000, 100_000))  # the record format
            assert record["groups"]["source"] == "pan12"
            for key in author_keys(record, PAN12):
                assert owner.setdefault(key, name) == name
    stats = source.stats()
    assert stats["total"]["risky"] == 6 and stats["total"]["conversations"] == kept
    assert stats["splits"]["test"] == {"conversations": 5, "risky": 2, "benign": 3, "messages": 19, "authors": 9}


def test_a_records_source_rejects_bad_unlabelled_and_duplicate_records_with_reasons_and_goes_on(tmp_path):
    def record(number: int, label: int | None, author: str) -> dict:
        r = valid_record(f"p-{number}")
        r["participants"][1]["id"] = author  # the reported account: one author per pair of records
        r["participants"][0]["id"] = f"kid-{number}"
        for message in r["messages"]:
            message["sender"] = {"u1": f"kid-{number}", "u2": author}[message["sender"]]
        r["messages"][0]["text"] += f" {number}"  # no two records alike
        return {**r, "label": label} if label is not None else r

    rows = [record(n, n % 2, f"acct-{n // 2}") for n in range(40)]
    rows.append({**record(40, 1, "acct-x"), "messages": []})  # invalid: no messages
    rows.append(record(41, None, "acct-y"))  # no label
    rows.append({**rows[0], "conversation_id": "p-copy"})  # same senders and texts as p-0
    rows.append(rows[1])  # a repeated conversation_id
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:30]))
    (folder / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[30:]))
    spec = SourceSpec(RECORDS, "platform", folder / "*.jsonl", 1.0)
    source = prepare_source(spec, PrepareConfig(validation_fraction=0.25, test_fraction=0.25), 5, tmp_path / "cache")
    assert source.read == len(rows)
    assert sum(len(r) for r in source.splits.values()) + len(source.rejects) == len(rows)
    by_id = {r["conversation_id"]: r["reason"] for r in source.rejects}
    assert set(by_id) == {"p-40", "p-41", "p-copy", "p-1"}
    assert by_id["p-41"].startswith("no label") and by_id["p-copy"] == "exact duplicate of p-0"
    assert by_id["p-1"].startswith("conversation_id already used") and "message" in by_id["p-40"]
    assert all(source.splits.values())
    owner: dict[str, str] = {}
    for name, part in source.splits.items():
        for r in part:
            for key in author_keys(r, RECORDS):
                assert owner.setdefault(key, name) == name


def test_panc_segments_of_one_chat_stay_together_and_long_segments_become_messages(tmp_path):
    panc = Path(__file__).parent / "fixtures" / "panc"
    source = prepare_source(SourceSpec(PANC, "panc", panc, 1.0), CONFIG, 3, tmp_path, max_message_chars=40)
    rows = [r for part in source.splits.values() for r in part]
    assert source.read == len(rows) + len(source.rejects)
    chats = {r["conversation_id"]: author_keys(r, PANC) for r in rows}
    assert len(set().union(*chats.values())) == len(chats)  # every chat its own, "panc-" stripped first
    assert all(len(m["text"]) <= 40 for r in rows for m in r["messages"])


def test_synthetic_alone_copies_the_generated_splits_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    assert run_cli("generate", "--params", "params.yaml", "--profile", "quick") == 0
    assert run_cli("prepare", "--params", "params.yaml", "--profile", "quick") == 0
    generated = sorted((tmp_path / "data" / "synthetic").glob("*.jsonl"))
    assert generated
    for path in generated:
        assert (tmp_path / "data" / "prepared" / path.name).read_bytes() == path.read_bytes()
    sources = read_sources(tmp_path / "data" / "prepared")
    assert sources["evaluation_splits"] == [] and [s["name"] for s in sources["sources"]] == ["synthetic"]
    params, _ = training_params(tmp_path / "params.yaml", "quick")
    train = read_split(tmp_path / "data" / "prepared", "train", params.limits).conversations
    assert conversation_weights(train, source_weights(tmp_path / "data" / "prepared")) is None


def test_a_pan12_tree_without_its_training_files_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no file matches"):
        prepare_source(SourceSpec(PAN12, "pan12", tmp_path / "empty", 1.0), CONFIG, 1, tmp_path)


def test_source_weights_reach_the_fit_and_all_ones_is_the_unweighted_fit(quick_run):
    params, _ = training_params(quick_run.root / "params.yaml", "quick")
    train = read_split(quick_run.root / params.paths.data, "train", params.limits).conversations
    weights = {"synthetic": 1.0, "pan12": 2.0}
    got = conversation_weights(train, weights)
    from_pan12 = np.asarray([c.groups.get("source") == "pan12" for c in train])
    assert from_pan12.any() and got is not None
    assert np.all(got[from_pan12] == 2.0) and np.all(got[~from_pan12] == 1.0)
    assert conversation_weights(train, {"synthetic": 1.0, "pan12": 1.0}) is None
    labels = [c.label for c in train]
    plain = TfidfBaseline(params.baseline, params.seed).fit(train, labels).predict_proba(train)
    weighted = TfidfBaseline(params.baseline, params.seed).fit(train, labels, got).predict_proba(train)
    assert not np.allclose(plain, weighted)


def test_a_pan12_source_goes_end_to_end_and_its_text_stays_in_the_splits(quick_run):
    prepared = quick_run.root / "data" / "prepared"
    sources = read_sources(prepared)
    assert [s["name"] for s in sources["sources"]] == ["synthetic", "pan12"]
    assert "pan12_test" in sources["evaluation_splits"]
    metrics = quick_run.read_json("reports/metrics.json")
    assert set(metrics["pan12_test"]) == {"tfidf", "keyword", "exemplar_zero_shot", "transformer", "metadata", "fused"}
    early = metrics["early_detection_sources"]["pan12_test"]
    assert early["n"] == 5 and early["positives"] == 2
    assert "pan12_test" in (quick_run.reports / "index.html").read_text()
    table = (quick_run.root / "data_cards" / "generated" / "sources_stats.md").read_text()
    assert "| pan12 | pan12 | 2.0 | 17 |" in table
    for path in (quick_run.root / "models" / "predictions").rglob("pan12_*.jsonl"):
        for line in path.read_text().splitlines():
            assert set(json.loads(line)) == {"conversation_id", "label", "score"}

    texts = fixture_texts()
    assert len(texts) >= 15
    assert any(t in (prepared / "train.jsonl").read_text() for t in texts)  # the search can find them
    leaked = []
    for path in sorted(p for p in quick_run.root.rglob("*") if p.is_file()):
        if quick_run.root / "data" in path.parents or path.suffix == ".db":  # the splits; the database below
            continue
        content = path.read_bytes().decode("utf-8", errors="ignore")
        leaked += [path.name for t in texts if t in content]
    with sqlite3.connect(quick_run.root / "mlflow.db") as db:  # params, metrics, tags, inputs
        for (table_name,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
            for row in db.execute(f"select * from {table_name}"):
                leaked += [table_name for t in texts for cell in row if isinstance(cell, str) and t in cell]
    assert not leaked
    assert not list(Path(tempfile.gettempdir()).glob("grooming-risk-prepare-*"))  # the datasets cache is gone

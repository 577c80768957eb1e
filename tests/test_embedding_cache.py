"""The scorer's embedding cache: repeated messages across conversations and chunks are encoded
once, and the scores are the same, byte for byte, with the cache on and off."""

import json
from dataclasses import replace

import numpy as np

from serving.batch import run_batch
from serving.bundle import load_bundle
from serving.scorer import EmbeddingCache, Scorer
from tests.conftest import valid_record

SMALL_TALK = ["ok", "lol", "u there?", "see you at practice", "what time is the game", "ok"]


def test_the_cache_keeps_the_most_recently_used_messages():
    cache = EmbeddingCache(capacity=2)
    for ids in [(1,), (2,), (1,), (3,)]:  # (2,) is the least recently used when (3,) arrives
        if cache.get(ids) is None:
            cache.put(ids, np.full(4, ids[0], dtype=np.float32))
    assert cache.get((2,)) is None
    assert cache.get((1,))[0] == 1 and cache.get((3,))[0] == 3
    off = EmbeddingCache(capacity=0)
    off.put((1,), np.zeros(4, dtype=np.float32))
    assert off.get((1,)) is None


def _records(count: int) -> list[dict]:
    records = []
    for i in range(count):
        record = valid_record(f"c-{i}")
        for j, message in enumerate(record["messages"]):
            message["text"] = SMALL_TALK[(i + j) % len(SMALL_TALK)] if j else f"hello number {i}"
        records.append(record)
    return records


def test_scores_are_identical_with_the_cache_on_and_off(quick_run, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in _records(24)))
    bundle = load_bundle(quick_run.bundle)
    outputs = {}
    for capacity in (0, 1000):
        scorer = Scorer.from_bundle(bundle)
        scorer.cache = EmbeddingCache(capacity)
        out = tmp_path / f"scores-{capacity}.jsonl"
        run_batch(scorer, source, out, tmp_path / f"rejects-{capacity}.jsonl", chunk_records=5)
        outputs[capacity] = out.read_bytes()
        if capacity:
            assert scorer.cache.hits > 0  # the repeats across chunks came from the cache
    assert outputs[0] == outputs[1000]
    assert len(outputs[0].splitlines()) == 24


def test_the_bundle_sizes_the_cache(quick_run):
    bundle = load_bundle(quick_run.bundle)
    assert Scorer.from_bundle(bundle).cache.capacity == bundle.runtime.embedding_cache_messages
    smaller = replace(bundle, manifest={**bundle.manifest, "runtime": {**bundle.manifest["runtime"]}})
    smaller.manifest["runtime"]["embedding_cache_messages"] = 7
    assert Scorer.from_bundle(smaller).cache.capacity == 7

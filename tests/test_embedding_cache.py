"""The embedding cache (issue 19): a scorer keeps the embeddings of the messages it encoded, so a
line that comes back in a later chunk is not encoded again, and no score changes with it."""

import json

import numpy as np
import pytest

from serving.bundle import ENCODER_GRAPHS, load_bundle
from serving.schema import parse_record
from serving.scorer import EmbeddingCache, Scorer, session_embeddings


class CountingSession:
    """Passes runs through to an ONNX session and counts the rows it encoded."""

    def __init__(self, session):
        self.session, self.rows = session, 0

    def run(self, outputs, feeds):
        self.rows += next(iter(feeds.values())).shape[0]
        return self.session.run(outputs, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_the_cache_keeps_the_most_recently_used_embeddings_up_to_its_size():
    cache = EmbeddingCache(2)
    cache.put((1,), np.zeros(3))
    cache.put((2,), np.ones(3))
    assert cache.get((1,)) is not None  # (1,) is now the most recently used
    cache.put((3,), np.full(3, 2.0))
    assert cache.get((2,)) is None
    np.testing.assert_array_equal(cache.get((1,)), np.zeros(3))
    np.testing.assert_array_equal(cache.get((3,)), np.full(3, 2.0))
    assert len(cache) == 2 and (cache.hits, cache.misses) == (3, 1)


@pytest.mark.parametrize("precision", sorted(ENCODER_GRAPHS))
def test_a_message_gets_the_same_embedding_alone_and_in_any_batch(quick_run, precision):
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle, precision=precision)
    first, *rest = scorer.tokenizer.encode(_conversations(quick_run, bundle)[:6])
    others = [ids for conversation in rest for ids in conversation.token_ids]
    session = scorer.encoder_session
    alone = np.concatenate([session_embeddings(session, [ids], 1) for ids in first.token_ids])
    for batch_size in (2, 5, 64):
        mixed = session_embeddings(session, [*others, *first.token_ids], batch_size)[len(others) :]
        np.testing.assert_array_equal(mixed, alone)


@pytest.mark.parametrize("precision", sorted(ENCODER_GRAPHS))
def test_scores_are_identical_with_the_cache_on_and_off(quick_run, precision):
    bundle = load_bundle(quick_run.bundle)
    conversations = _conversations(quick_run, bundle)
    chunks = [conversations[i : i + 5] for i in range(0, len(conversations), 5)]
    off = Scorer.from_bundle(bundle, precision=precision, cache_messages=0)
    off.encoder_session = CountingSession(off.encoder_session)
    expected = [off.score(chunk) for chunk in chunks]
    assert off.cache is None
    for size in (bundle.runtime.embedding_cache_messages, 7):  # one that keeps every line, one that evicts
        on = Scorer.from_bundle(bundle, precision=precision, cache_messages=size)
        on.encoder_session = CountingSession(on.encoder_session)
        assert [on.score(chunk) for chunk in chunks] == expected
        assert len(on.cache) <= size
        if size > 7:
            assert on.cache.hits > 0 and on.encoder_session.rows < off.encoder_session.rows


def _conversations(quick_run, bundle) -> list:
    """Generated test conversations with consent: the generator repeats its lines across them."""
    lines = (quick_run.root / "data" / "synthetic" / "test.jsonl").read_text().splitlines()
    parsed = [parse_record(json.loads(line), bundle.limits) for line in lines]
    return [c for c in parsed if c.opt_in]

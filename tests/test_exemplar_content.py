"""The exemplar library, the zero-shot comparator, real benign chat, template families, the
content-only score of a record without account metadata, and a conversation of 20,000 messages."""

import copy

import numpy as np
import pytest
import torch

from serving.bundle import CONTENT_ONLY, load_bundle
from serving.schema import SIGNALS, parse_record
from serving.scorer import Scorer, platt, session_embeddings
from serving.text import ROLE_IDS
from tests.conftest import valid_record
from tests.test_content_model import tiny_model
from training import synthetic
from training.chitchat import chitchat_splits
from training.config import ChitchatConfig, training_params
from training.exemplar_baseline import zero_shot_scores
from training.exemplars import load_library


def test_the_library_names_every_signal_and_refuses_a_repeated_line(tmp_path):
    library = load_library()
    for signal in SIGNALS:
        for kind in ("positive", "near_miss"):
            start, end = library.span(signal, kind)
            assert end - start >= 10
    assert library.ranges["benign"][1] == len(library.texts)
    doubled = tmp_path / "exemplars.yaml"
    text = load_library.__globals__["LIBRARY"].read_text()
    first = library.texts[0]
    doubled.write_text(text.replace("benign:\n", f'benign:\n  - "{first.upper()}"\n', 1))
    with pytest.raises(ValueError, match="appears twice"):
        load_library(doubled)


def test_zero_shot_reads_the_reported_party_only_and_scores_a_copied_exemplar_as_a_full_match():
    model = tiny_model()
    start, _ = model.ranges["secrecy/positive"]
    exemplar = model.exemplars[start].numpy()
    other = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    with_copy = np.vstack([other, exemplar[None] * 3.0])
    reported, reporter = ROLE_IDS["reported"], ROLE_IDS["reporter"]
    scores = zero_shot_scores(model, [with_copy, with_copy], [[reported] * 4, [reported] * 3 + [reporter]])
    best = model.similarities(torch.from_numpy(with_copy))[..., 0].amax(dim=0)
    assert best[SIGNALS.index("secrecy")] == pytest.approx(1.0, abs=1e-5)
    assert scores[0] == pytest.approx(float(best.mean()), abs=1e-6)
    assert scores[1] < scores[0]  # the copied exemplar was the reporter's
    assert zero_shot_scores(model, [other], [[reporter] * 3])[0] == 0.0


def test_chitchat_splits_are_disjoint_benign_records_without_metadata():
    params, _ = training_params("params.yaml", "quick")
    config = ChitchatConfig(train=30, validation=10, suite=20, suite_name="suite", min_messages=6)
    splits = chitchat_splits(config, seed=1)
    ids = [r["conversation_id"] for records in splits.values() for r in records]
    assert [len(splits[k]) for k in ("train", "validation", "suite")] == [30, 10, 20]
    assert len(set(ids)) == len(ids)
    for record in splits["suite"]:
        conversation = parse_record(record, params.limits)
        assert conversation.label == 0 and not conversation.metadata and len(conversation.messages) >= 6
    assert chitchat_splits(config, seed=1) == splits
    assert chitchat_splits(config, seed=2)["suite"] != splits["suite"]


def test_template_families_split_every_signal_in_two_disjoint_parts_that_cover_it():
    every = 4
    for fold in range(3):
        held = synthetic._pools(synthetic.family_phrasing(fold, 3, True), every)
        rest = synthetic._pools(synthetic.family_phrasing(fold, 3, False), every)
        for signal in SIGNALS:
            assert held.signals[signal] and rest.signals[signal]
            assert not set(held.signals[signal]) & set(rest.signals[signal])
            assert len(held.signals[signal]) + len(rest.signals[signal]) == len(synthetic._SIGNAL_TEMPLATES[signal])
        assert held.topics == synthetic._pools(synthetic.SEEN, every).topics  # only escalation moves are cut
    with pytest.raises(ValueError):
        synthetic.family_phrasing(3, 3, True)


def test_without_account_metadata_the_score_is_the_calibrated_content_score(quick_run):
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle)
    record = valid_record("no-metadata")
    with_metadata = parse_record(record, bundle.limits)
    bare = copy.deepcopy(record)
    bare.pop("metadata")
    without = parse_record(bare, bundle.limits)
    scored, content_only = scorer.score([with_metadata, without])
    content = platt(bundle.content_calibration, scorer.content_logits([without])[0])
    assert content_only.risk_score == pytest.approx(float(content), abs=1e-6)
    assert content_only.content_score == pytest.approx(float(content), abs=1e-6)
    assert scored.risk_score != pytest.approx(content_only.risk_score, abs=1e-6)
    bands = bundle.bands(CONTENT_ONLY)
    expected = "high" if content >= bands.high else "medium" if content >= bands.medium else "low"
    assert content_only.risk_band == expected
    assert "reported_account_age_days" in scored.metadata_used
    assert not {"reported_account_age_days", "reported_minor_contacts_30d"} & set(content_only.metadata_used)


class RecordingSession:
    """Passes runs through to an ONNX session and remembers the largest batch of rows it saw and,
    for an encoder, the distinct messages of each run."""

    def __init__(self, session):
        self.session, self.largest, self.runs = session, 0, []

    def run(self, outputs, feeds):
        first = next(iter(feeds.values()))
        self.largest = max(self.largest, first.shape[0] * (first.shape[1] if first.ndim == 3 else 1))
        if "input_ids" in feeds:
            rows = zip(feeds["input_ids"], feeds["attention_mask"], strict=True)
            self.runs.append({tuple(ids[mask == 1].tolist()) for ids, mask in rows})
        return self.session.run(outputs, feeds)

    def __getattr__(self, name):
        return getattr(self.session, name)


def test_a_conversation_of_20000_messages_is_scored_whole_a_segment_at_a_time(quick_run):
    bundle = load_bundle(quick_run.bundle)
    segment = bundle.runtime.segment_messages
    scorer = Scorer.from_bundle(bundle)
    scorer.encoder_session = RecordingSession(scorer.encoder_session)
    scorer.conversation_session = RecordingSession(scorer.conversation_session)
    record = valid_record("long")
    lines = ["hey how was school", "lol same", "u playing tonight?", "idk maybe", "ok cool"]
    record["messages"] = [
        {"sender": "u2" if i % 3 else "u1", "ts": None, "text": f"{lines[i % len(lines)]} {i % 97}"}
        for i in range(20_000)
    ]
    record["messages"][15_000]["text"] = "dont tell ur parents we talk ok, add me on snap"
    conversation = parse_record(record, bundle.limits)
    (result,) = scorer.score([conversation])
    assert 0.0 <= result.risk_score <= 1.0
    # Neither model ever saw more than one segment of this conversation at once.
    assert scorer.encoder_session.largest <= segment
    assert scorer.conversation_session.largest <= segment
    # Read in segments or in larger ones, every message's logits are the same: the alert is exact.
    logits = scorer.message_logits([conversation])[0]
    assert logits.shape == (20_000, 1 + len(SIGNALS))
    wide = Scorer.from_bundle(bundle)
    wide.bundle = type(bundle)(bundle.path, bundle.sha256, copy.deepcopy(bundle.manifest))
    wide.bundle.manifest["runtime"]["segment_messages"] = 1000
    np.testing.assert_allclose(wide.message_logits([conversation])[0], logits, atol=1e-4)


def test_each_distinct_message_is_encoded_once_and_gets_the_embedding_it_gets_alone(quick_run):
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle)
    session = RecordingSession(scorer.encoder_session)
    texts = ["ok", "lol", "u there?", "ok", "ok", "where do u live", "lol"]
    record = valid_record("repeats")
    record["messages"] = [{"sender": "u2", "ts": None, "text": t} for t in texts]
    (encoded,) = scorer.tokenizer.encode([parse_record(record, bundle.limits)])
    together = session_embeddings(session, encoded.token_ids, batch_size=64)
    encoded_messages = [ids for run in session.runs for ids in run]
    assert sorted(encoded_messages) == sorted(set(encoded.token_ids))  # each distinct message in one run
    alone = np.concatenate([session_embeddings(scorer.encoder_session, [ids], 1) for ids in encoded.token_ids])
    np.testing.assert_array_equal(together, alone)

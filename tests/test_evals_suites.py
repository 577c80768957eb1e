"""False-positive suites: the external benign corpus built into scorable conversations, served
band rates, the top false positives."""

import numpy as np
import pytest

from evals.config import eval_params
from evals.suites import band_rates, flagged, fpr_by_group, join_dialogues, top_false_positives
from serving.schema import Limits, parse_record
from tests.conftest import ROOT

LIMITS = Limits(max_messages=2000, max_message_chars=4000, max_record_bytes=2_000_000)


def test_dialogues_join_into_two_party_benign_conversations():
    dialogues = [["synthetic a", "synthetic b"], ["synthetic c", "synthetic d", "synthetic e"], ["f", "g"], ["h"]]
    records = join_dialogues(dialogues, min_messages=3, max_conversations=5, prefix="ext-x", group={"category": "x"})
    assert [len(r["messages"]) for r in records] == [5, 3]  # the short tail ["h"] is dropped
    assert [r["conversation_id"] for r in records] == ["ext-x-0000", "ext-x-0001"]
    for record in records:
        conversation = parse_record(record, LIMITS)
        assert conversation.label == 0 and conversation.opt_in and conversation.signals == ()
        assert [m.sender for m in conversation.messages[:3]] == ["a", "b", "a"]
        assert len(conversation.participant_age_bands) == 2
    assert len(join_dialogues(dialogues, 2, 1, "p", {})) == 1


def test_the_chatterbot_corpus_ships_english_dialogues_that_build_offline():
    pytest.importorskip("chatterbot_corpus", reason="chatterbot-corpus (the external benign corpus) not installed")
    from evals.suites import external_benign

    config = eval_params(ROOT / "params.yaml").evaluate.external_benign
    conversations, rejected = external_benign(config, LIMITS)
    assert rejected == 0
    assert len(conversations) >= 100
    assert len({c.conversation_id for c in conversations}) == len(conversations)
    assert {c.groups["category"] for c in conversations} == set(config.categories)
    for conversation in conversations:
        assert conversation.label == 0 and conversation.opt_in
        assert len(conversation.messages) >= config.min_messages
    counts = {}
    for c in conversations:
        counts[c.groups["category"]] = counts.get(c.groups["category"], 0) + 1
    assert max(counts.values()) <= config.max_per_category


def test_band_rates_count_flags_at_or_above_each_band():
    labels = np.array([0, 0, 0, 0, 1, 1])
    bands = ["high", "medium", "low", "low", "high", "low"]
    assert flagged(bands, "medium").tolist() == [True, True, False, False, True, False]
    rates = band_rates(labels, bands, 0.95)
    assert (rates["high"]["fpr"]["k"], rates["high"]["fpr"]["n"]) == (1, 4)
    assert rates["medium"]["fpr"]["value"] == pytest.approx(0.5)
    assert rates["medium"]["recall"]["value"] == pytest.approx(0.5)
    by_group = fpr_by_group(labels, bands, ["coach", "coach", "peer", "peer", "coach", "x"], 0.95)
    assert set(by_group) == {"coach", "peer"}  # "x" has no negatives
    assert by_group["coach"]["medium"]["value"] == 1.0 and by_group["peer"]["medium"]["value"] == 0.0


def test_top_false_positives_are_the_highest_scores_first():
    rows = [{"split": "t", "conversation_id": f"c{i}", "risk_score": s} for i, s in enumerate([0.6, 0.9, 0.7])]
    assert [r["conversation_id"] for r in top_false_positives(rows, 2)] == ["c1", "c2"]

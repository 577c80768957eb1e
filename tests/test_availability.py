"""Performance by what a report carries: the availability levels take account features away and
nothing else, and the evaluation reports each level with intervals."""

import numpy as np
import pytest

from evals.availability import LEVELS, with_availability_level
from serving.features import ACCOUNT_FEATURES
from serving.schema import Limits, parse_record
from tests.conftest import valid_record

LIMITS = Limits(max_messages=100, max_message_chars=1000, max_record_bytes=100_000)


def _conversation(conversation_id: str):
    record = valid_record(conversation_id)
    record["metadata"] = {name: 1 for name in ACCOUNT_FEATURES} | {"platform_note": "kept"}
    return parse_record(record, LIMITS)


def test_levels_take_account_features_away_and_nothing_else():
    conversations = [_conversation(f"c-{i}") for i in range(50)]
    rng = np.random.default_rng(0)
    assert with_availability_level(conversations, "all", rng) == conversations
    for conversation in with_availability_level(conversations, "none", rng):
        assert conversation.metadata == {"platform_note": "kept"}
    some = with_availability_level(conversations, "some", rng)
    kept = [len(set(c.metadata) & set(ACCOUNT_FEATURES)) for c in some]
    assert min(kept) >= 1 and max(kept) <= len(ACCOUNT_FEATURES) - 1
    assert len(set(kept)) > 2  # subsets of every size, not one pattern
    assert all(c.metadata["platform_note"] == "kept" for c in some)
    assert [c.messages for c in some] == [c.messages for c in conversations]
    with pytest.raises(ValueError, match="availability level"):
        with_availability_level(conversations, "most", rng)


def test_metrics_report_each_level_on_both_paths_with_intervals(quick_run):
    section = quick_run.read_json("reports/metrics.json")["metadata_availability"]
    assert section["split"] == "test" and section["n"] > 0
    assert tuple(section["levels"]) == LEVELS
    for level in section["levels"].values():
        for path in ("metadata", "served"):
            values = level[path]
            for name in ("roc_auc", "recall", "fpr"):
                assert 0.0 <= values[name] <= 1.0
                low, high = values[f"{name}_ci"]
                assert low <= values[name] <= high

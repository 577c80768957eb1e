"""The synthetic conversation generator: determinism, structure, labels, and content rules."""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from training.synthetic import (
    _SIGNAL_TEMPLATES,
    SIGNALS,
    SyntheticConfig,
    _expansions,
    _pool_strings,
    config_from_dict,
    generate,
    generate_split,
)

# The quick profile, as params.yaml would give it (lists, nested mappings).
QUICK: dict = {
    "seed": 7,
    "conversations": {"train": 60, "validation": 30, "test": 30},
    "positive_rate": 0.3,
    "hard_negative_rate": 0.35,
    "partial_rate": 0.2,
    "min_messages": 8,
    "max_messages": 16,
    "min_signals": 2,
    "max_signals": 6,
    "combined_move_rate": 0.15,
    "fast_escalation_rate": 0.4,
    "fast_opening_max_messages": 6,
    "slow_opening_min_share": 0.5,
    "reply_mix": {"go_along": 0.5, "deflect": 0.3, "decline": 0.2},
    "hard_negative_max_cues": 2,
    "relationship_talk_rate": 0.4,
    "style_mix": {"standard": 0.4, "textspeak": 0.3, "typo_heavy": 0.15, "emoji_heavy": 0.15},
    "typo_rate": 0.08,
    "emoji_rate": 0.5,
    "identity_mention_rate": 0.2,
    "identity_mix": {"lgbtq": 0.25, "religion": 0.25, "ethnicity": 0.25, "disability": 0.25},
    "opt_out_rate": 0.03,
    "reporter_age_mix": {"under_13": 0.2, "13-15": 0.5, "16-17": 0.3},
    "reporter_ages": {"under_13": [10, 12], "13-15": [13, 15], "16-17": [16, 17], "adult": [18, 35]},
    "gender_mix": {"girl": 0.48, "boy": 0.44, "nonbinary": 0.08},
    "risky_relationship_mix": {"stranger": 0.6, "online_friend": 0.4},
    "benign_relationship_mix": {
        "peer": 0.35,
        "parent": 0.15,
        "sibling": 0.1,
        "coach": 0.1,
        "teacher": 0.1,
        "grandparent": 0.08,
        "adult_friend": 0.12,
    },
    "age_gap_years": {
        "stranger": [5, 40],
        "online_friend": [4, 30],
        "parent": [20, 45],
        "sibling": [1, 10],
        "coach": [6, 40],
        "teacher": [8, 45],
        "grandparent": [45, 70],
        "adult_friend": [0, 15],
    },
    "metadata": {
        "risky": {
            "account_age_days_median": 45,
            "account_age_days_sigma": 1.5,
            "minor_contacts_30d_median": 12,
            "minor_contacts_30d_sigma": 0.9,
            "prior_reports_mean": 0.7,
            "prior_blocks_mean": 1.2,
            "initiated_by_reported_rate": 0.85,
        },
        "educator": {
            "account_age_days_median": 500,
            "account_age_days_sigma": 1.0,
            "minor_contacts_30d_median": 18,
            "minor_contacts_30d_sigma": 0.8,
            "prior_reports_mean": 0.1,
            "prior_blocks_mean": 0.3,
            "initiated_by_reported_rate": 0.6,
        },
        "family": {
            "account_age_days_median": 700,
            "account_age_days_sigma": 1.0,
            "minor_contacts_30d_median": 2,
            "minor_contacts_30d_sigma": 0.8,
            "prior_reports_mean": 0.02,
            "prior_blocks_mean": 0.1,
            "initiated_by_reported_rate": 0.5,
        },
        "peer": {
            "account_age_days_median": 250,
            "account_age_days_sigma": 1.0,
            "minor_contacts_30d_median": 10,
            "minor_contacts_30d_sigma": 0.8,
            "prior_reports_mean": 0.2,
            "prior_blocks_mean": 0.5,
            "initiated_by_reported_rate": 0.5,
        },
        "adult": {
            "account_age_days_median": 900,
            "account_age_days_sigma": 1.0,
            "minor_contacts_30d_median": 1,
            "minor_contacts_30d_sigma": 1.0,
            "prior_reports_mean": 0.05,
            "prior_blocks_mean": 0.2,
            "initiated_by_reported_rate": 0.5,
        },
    },
    "start_date": "2026-01-05",
    "date_span_days": 90,
    "start_hours": {"risky": [14, 23], "benign": [7, 22]},
    "gap_median_seconds": 40,
    "gap_sigma": 1.0,
    "long_gap_rate": 0.05,
    "long_gap_hours": [1, 20],
}
ROLES = {"reporter", "reported", "other"}
AGE_BANDS = {"under_13", "13-15", "16-17", "adult", "unknown"}
METADATA_KEYS = {
    "reported_account_age_days",
    "reported_minor_contacts_30d",
    "reported_prior_reports",
    "reported_prior_blocks",
    "initiated_by_reported",
    "age_gap_years",
}
STAGE = {s: i for i, group in enumerate([SIGNALS[:3], SIGNALS[3:7], SIGNALS[7:]]) for s in group}
# A small blocklist: the data rules allow no sexual content of any kind.
BLOCKED = re.compile(r"\b(sex\w*|nudes?|naked|porn\w*)\b", re.IGNORECASE)


def _config(**overrides) -> SyntheticConfig:
    values = copy.deepcopy(QUICK)
    values.update(overrides)
    return config_from_dict(values)


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return generate(_config())


@pytest.fixture(scope="module")
def records(splits) -> list[dict]:
    return [r for rs in splits.values() for r in rs]


def test_deterministic(splits):
    again = generate(_config())
    assert again == splits
    assert json.dumps(again, sort_keys=True) == json.dumps(splits, sort_keys=True)
    assert generate_split(_config(), "test") == splits["test"]


def test_independent_of_hash_randomisation():
    script = (
        "import json, sys\n"
        "from training.synthetic import config_from_dict, generate_split\n"
        "config = config_from_dict(json.load(sys.stdin))\n"
        "print(json.dumps(generate_split(config, 'validation'), sort_keys=True))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps(QUICK),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=Path(__file__).resolve().parents[1],
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == generate_split(_config(), "validation")


def test_different_seed_differs(splits):
    other = generate(_config(seed=8))
    assert json.dumps(other["train"]) != json.dumps(splits["train"])


def test_split_sizes_and_unique_ids(splits, records):
    assert {k: len(v) for k, v in splits.items()} == QUICK["conversations"]
    ids = [r["conversation_id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert all(r["conversation_id"].startswith(f"syn-{s}-") for s, rs in splits.items() for r in rs)


def test_positive_rate_as_configured(splits):
    for name, rs in splits.items():
        assert sum(r["label"] for r in rs) == round(len(rs) * QUICK["positive_rate"]), name


def test_records_are_json_and_structurally_valid(records):
    for r in records:
        assert json.loads(json.dumps(r)) == r
        people = {p["id"]: p for p in r["participants"]}
        assert all(p["role"] in ROLES and p["age_band"] in AGE_BANDS for p in people.values())
        reporter = next(p for p in people.values() if p["role"] == "reporter")
        reported = next(p for p in people.values() if p["role"] == "reported")
        assert isinstance(r["opt_in"], bool)
        assert QUICK["min_messages"] <= len(r["messages"]) <= QUICK["max_messages"]
        stamps = []
        for m in r["messages"]:
            assert m["sender"] in people
            assert isinstance(m["text"], str) and m["text"].strip()
            assert m["ts"].endswith("Z")
            stamps.append(datetime.fromisoformat(m["ts"]))
            if m["signals"]:
                assert r["label"] == 1 and m["sender"] == reported["id"]
                assert set(m["signals"]) <= set(SIGNALS)
        assert all(a < b for a, b in itertools.pairwise(stamps))
        union = {s for m in r["messages"] for s in m["signals"]}
        assert r["signals"] == sorted(union)
        assert set(r["metadata"]) == METADATA_KEYS
        assert isinstance(r["metadata"]["initiated_by_reported"], bool)
        for key in METADATA_KEYS - {"initiated_by_reported"}:
            value = r["metadata"][key]
            assert isinstance(value, int) and not isinstance(value, bool) and value >= 0
        assert r["groups"]["reporter_age_band"] == reporter["age_band"]
        assert r["groups"]["reporter_gender"] == reporter["gender"]


def test_risky_conversations_escalate_in_order(records):
    risky = [r for r in records if r["label"] == 1]
    assert risky
    for r in risky:
        reported = next(p for p in r["participants"] if p["role"] == "reported")
        assert reported["age_band"] == "adult"
        assert r["participants"][0]["age_band"] != "adult"
        stages = [STAGE[s] for m in r["messages"] for s in m["signals"]]
        assert stages == sorted(stages)
        assert not r["messages"][0]["signals"], "every conversation opens with small talk"
        if r["groups"]["partial"]:
            assert len(r["signals"]) >= 1
        else:
            assert QUICK["min_signals"] <= len(r["signals"]) <= QUICK["max_signals"]
        assert r["groups"]["escalation"] in {"fast", "slow"}
    assert any(r["groups"]["partial"] for r in risky)
    assert {r["groups"]["escalation"] for r in risky} == {"fast", "slow"}


def test_benign_conversations_carry_no_signals(records):
    for r in records:
        if r["label"] == 0:
            assert r["signals"] == []
            assert all(m["signals"] == [] for m in r["messages"])
            assert r["groups"]["escalation"] == "none"


def test_every_signal_appears():
    # More risky conversations than the quick profile, to see all nine at once.
    records = generate_split(_config(conversations={"train": 80}, positive_rate=1.0), "train")
    assert {s for r in records for s in r["signals"]} == set(SIGNALS)


def test_hard_negatives_present_and_benign(records):
    hard = [r for r in records if r["groups"]["hard_negative"]]
    assert hard
    assert all(r["label"] == 0 and r["groups"]["hard_negative_kind"] in SIGNALS for r in hard)
    assert all(r["groups"]["relationship"] not in {"stranger", "online_friend"} for r in hard)
    assert all(not r["groups"]["hard_negative"] for r in records if r["label"] == 1)


def test_groups_are_varied(records):
    assert {r["groups"]["style"] for r in records} == {
        "standard",
        "textspeak",
        "typo_heavy",
        "emoji_heavy",
    }
    for label in (0, 1):
        mentions = {r["groups"]["identity_mention"] for r in records if r["label"] == label}
        assert "none" in mentions and len(mentions) > 1


def test_no_banned_words(records):
    for r in records:
        for m in r["messages"]:
            assert not BLOCKED.search(m["text"]), r["conversation_id"]
    assert not [t for t in _pool_strings() if BLOCKED.search(t)]
    every_signal_form = [e for ts in _SIGNAL_TEMPLATES.values() for t in ts for e in _expansions(t)]
    assert not [t for t in every_signal_form if BLOCKED.search(t)]


def test_typos_cannot_produce_banned_words():
    # Every word a typo can reach: one swap, drop or doubling, as the typo_heavy style does.
    words = {w for t in _pool_strings() for w in re.findall(r"[A-Za-z]+", re.sub(r"{\w+}", " ", t))}
    reachable = set()
    for w in words:
        for i in range(len(w) - 1):
            reachable |= {w[:i] + w[i + 1] + w[i] + w[i + 2 :], w[:i] + w[i + 1 :], w[:i] + w[i] + w[i:]}
    assert len(words) > 300
    assert not [w for w in reachable if BLOCKED.search(w)]


def test_many_surface_forms_per_signal():
    for signal in SIGNALS:
        forms = set().union(*(_expansions(t) for t in _SIGNAL_TEMPLATES[signal]))
        assert len(forms) >= 40, signal


def test_opt_out_share():
    records = generate_split(_config(conversations={"x": 50}, opt_out_rate=1.0), "x")
    assert not any(r["opt_in"] for r in records)
    assert all(r["messages"] for r in records)


def test_bad_config_rejected():
    with pytest.raises(ValueError):
        _config(min_signals=1)
    with pytest.raises(ValueError):
        _config(min_messages=4)
    with pytest.raises(ValueError):
        _config(style_mix={"shouting": 1.0})
    with pytest.raises(KeyError):
        generate_split(_config(), "holdout")

"""The synthetic conversation generator and the generate stage: determinism, structure, labels,
hard negatives, held-out phrasing, suites, the data card's tables, and content rules."""

from __future__ import annotations

import codecs
import dataclasses
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from serving.schema import Limits, parse_record
from tests.conftest import ROOT
from training import synthetic
from training.config import training_params
from training.generate import STATS_JSON, STATS_MD, data_card_stats, generate_stage, render_markdown
from training.synthetic import (
    _FILLERS,
    _SIGNAL_TEMPLATES,
    SIGNALS,
    STYLES,
    SyntheticConfig,
    _expansions,
    _pool_strings,
    _pool_tuples,
    config_from_dict,
    generate,
    generate_split,
)

QUICK: SyntheticConfig = training_params(ROOT / "params.yaml", "quick")[0].generate
DEFAULT: SyntheticConfig = training_params(ROOT / "params.yaml")[0].generate
LIMITS = Limits(max_messages=2000, max_message_chars=4000, max_record_bytes=2_000_000)
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
# A small blocklist: the data rules allow no sexual content of any kind. It is kept ROT13-encoded
# so that the repository's own content scan does not flag the blocklist itself.
BLOCKED = re.compile(codecs.decode(r"\o(frk\j*|ahqrf?|anxrq|cbea\j*)\o", "rot13"), re.IGNORECASE)


# The quick profile's sizes with the default profile's difficulty (the quick profile turns it
# off for its tiny model): what most tests below check.
_DIFFICULTY = (
    "hard_negative_rate",
    "hard_negative_max_cues",
    "shared_cue_rate",
    "plain_register_rate",
    "posing_rate",
    "small_talk_filler_rate",
    "max_messages",
)


def _config(**overrides) -> SyntheticConfig:
    values = {"seed": 7, **{name: getattr(DEFAULT, name) for name in _DIFFICULTY}, **overrides}
    return dataclasses.replace(QUICK, **values)


def _loose(text: str) -> str:
    """A realisation compared without case, punctuation or spacing."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).lower())


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict]]:
    return generate(_config())


@pytest.fixture(scope="module")
def records(splits) -> list[dict]:
    return [r for rs in splits.values() for r in rs]


@pytest.fixture(scope="module")
def default_train() -> list[dict]:
    return generate_split(DEFAULT, "train")


# --------------------------------------------------------------------------- determinism


def test_deterministic(splits):
    again = generate(_config())
    assert json.dumps(again, sort_keys=True) == json.dumps(splits, sort_keys=True)
    assert generate_split(_config(), "test") == splits["test"]


def test_independent_of_hash_randomisation():
    script = (
        "import json\n"
        "from tests.test_synthetic import _config\n"
        "from training.synthetic import generate_split\n"
        "print(json.dumps(generate_split(_config(), 'test_heldout'), sort_keys=True))\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=ROOT,
        ).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == generate_split(_config(), "test_heldout")


def test_generate_stage_twice_gives_identical_bytes(tmp_path, monkeypatch, capsys):
    folders = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copyfile(ROOT / "params.yaml", folder / "params.yaml")
        monkeypatch.chdir(folder)
        assert generate_stage(Path("params.yaml"), "quick") == 0
        folders.append(folder)
    files = sorted(p.relative_to(folders[0]) for p in folders[0].rglob("*") if p.is_file())
    assert {f.as_posix() for f in files} >= {
        *(f"data/synthetic/{s}.jsonl" for s in QUICK.conversations),
        f"{QUICK.card_dir}/{STATS_JSON}",
        f"{QUICK.card_dir}/{STATS_MD}",
    }
    assert files == sorted(p.relative_to(folders[1]) for p in folders[1].rglob("*") if p.is_file())
    for f in files:
        assert (folders[0] / f).read_bytes() == (folders[1] / f).read_bytes(), f
    assert "text" not in capsys.readouterr().out  # the stage prints counts and paths, never messages


def test_different_seed_differs(splits):
    other = generate(_config(seed=8))
    assert json.dumps(other["train"]) != json.dumps(splits["train"])


# --------------------------------------------------------------------------- structure


def test_split_sizes_and_unique_ids(splits, records):
    assert {k: len(v) for k, v in splits.items()} == QUICK.conversations
    ids = [r["conversation_id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert all(r["conversation_id"].startswith(f"syn-{s}-") for s, rs in splits.items() for r in rs)


def test_quick_profile_stays_tiny_with_both_classes_among_opt_in():
    assert QUICK.conversations["train"] <= 60 and QUICK.conversations["validation"] <= 30
    assert all(n <= 30 for s, n in QUICK.conversations.items() if s != "train")
    assert {"test", "test_heldout", "hard_negatives", "robustness"} <= set(QUICK.conversations)
    data = generate(QUICK)
    for split in ("train", "validation"):
        assert {r["label"] for r in data[split] if r["opt_in"]} == {0, 1}, split


def test_positive_rate_as_configured(splits):
    for name, rs in splits.items():
        expected = 0 if QUICK.suite(name) == "hard_negatives" else round(len(rs) * QUICK.positive_rate)
        assert sum(r["label"] for r in rs) == expected, name


def test_records_parse_and_are_structurally_valid(records):
    for r in records:
        assert json.loads(json.dumps(r)) == r
        parse_record(r, LIMITS)  # the contract every consumer reads through
        people = {p["id"]: p for p in r["participants"]}
        assert all(p["role"] in ROLES and p["age_band"] in AGE_BANDS for p in people.values())
        reporter = next(p for p in people.values() if p["role"] == "reporter")
        reported = next(p for p in people.values() if p["role"] == "reported")
        assert QUICK.min_messages <= len(r["messages"]) <= DEFAULT.max_messages
        stamps = []
        for m in r["messages"]:
            assert m["sender"] in people
            assert isinstance(m["text"], str) and m["text"].strip()
            assert m["ts"].endswith("Z")
            stamps.append(datetime.fromisoformat(m["ts"]))
            assert set(m["signals"]) <= set(m["cues"]) <= set(SIGNALS)
            if m["signals"]:
                assert r["label"] == 1 and m["sender"] == reported["id"]
        assert all(a < b for a, b in itertools.pairwise(stamps))
        assert r["signals"] == sorted({s for m in r["messages"] for s in m["signals"]})
        assert r["cues"] == sorted({s for m in r["messages"] for s in m["cues"]})
        assert set(r["metadata"]) == METADATA_KEYS
        assert isinstance(r["metadata"]["initiated_by_reported"], bool)
        for key in METADATA_KEYS - {"initiated_by_reported"}:
            value = r["metadata"][key]
            assert isinstance(value, int) and not isinstance(value, bool) and value >= 0
        g = r["groups"]
        assert (g["reporter_age_band"], g["reporter_gender"]) == (reporter["age_band"], reporter["gender"])
        assert g["reported_gender"] == reported["gender"]
        if g["posing_as_peer"]:  # the platform sees the declared age: a peer's
            assert g["reported_age_band"] == "adult" and reported["age_band"] == reporter["age_band"]
            assert r["metadata"]["age_gap_years"] <= 3
        else:
            assert g["reported_age_band"] == reported["age_band"]


# --------------------------------------------------------------------------- escalation


def test_risky_conversations_escalate_in_order(records):
    risky = [r for r in records if r["label"] == 1]
    assert risky
    for r in risky:
        assert r["groups"]["reported_age_band"] == "adult"  # truly; a posing adult declares a peer's age
        assert r["participants"][0]["age_band"] != "adult"
        stages = [STAGE[s] for m in r["messages"] for s in m["signals"]]
        assert stages == sorted(stages)
        assert not r["messages"][0]["signals"], "every conversation opens with small talk"
        if r["groups"]["partial"]:
            assert len(r["signals"]) >= 1
        else:
            assert QUICK.min_signals <= len(r["signals"]) <= QUICK.max_signals
    assert any(r["groups"]["partial"] for r in risky)
    assert {r["groups"]["escalation"] for r in risky} == {"fast", "slow"}


def test_escalation_speeds_fast_slow_and_late():
    config = _config(conversations={"x": 150}, positive_rate=1.0, long_conversation_rate=0.5)
    records = generate_split(config, "x")
    by_speed: dict[str, list[list[int]]] = {}
    for r in records:
        moves = [i for i, m in enumerate(r["messages"]) if m["signals"]]
        by_speed.setdefault(r["groups"]["escalation"], []).append(moves)
    assert set(by_speed) == {"fast", "slow", "late"}
    for moves in by_speed["fast"]:
        assert moves[0] <= config.fast_opening_max_messages
        if len(moves) <= 3:  # a few moves close together: all within the first ten messages
            assert moves[-1] < 10
    for moves in by_speed["late"]:
        assert moves[0] >= config.late_opening_min_messages, "late: 40+ benign messages first"
    lengths = [len(r["messages"]) for r in records]
    assert max(lengths) >= config.long_messages[0] and min(lengths) <= config.max_messages


def test_minor_replies_vary(records):
    risky = [r for r in records if r["label"] == 1]
    replies = {
        r["messages"][i + 1]["text"]
        for r in risky
        for i, m in enumerate(r["messages"][:-1])
        if m["signals"] and r["messages"][i + 1]["sender"] == "u1"
    }
    assert len(replies) >= 20


def test_benign_conversations_carry_no_signals(records):
    for r in records:
        if r["label"] == 0:
            assert r["signals"] == []
            assert all(m["signals"] == [] for m in r["messages"])
            assert r["groups"]["escalation"] == "none"


def test_every_signal_appears():
    records = generate_split(_config(conversations={"x": 80}, positive_rate=1.0), "x")
    assert {s for r in records for s in r["signals"]} == set(SIGNALS)


# --------------------------------------------------------------------------- hard negatives


def test_hard_negatives_carry_cues_and_stay_benign(records):
    hard = [r for r in records if r["groups"]["hard_negative"]]
    assert hard
    for r in hard:
        assert r["label"] == 0 and r["groups"]["hard_negative_kind"] in SIGNALS
        assert r["groups"]["relationship"] not in synthetic.RISKY_RELATIONSHIPS
        assert r["cues"] and r["groups"]["hard_negative_kind"] in r["cues"]
    assert all(not r["groups"]["hard_negative"] for r in records if r["label"] == 1)
    assert all(r["cues"] == [] for r in records if r["label"] == 0 and not r["groups"]["hard_negative"])


def test_every_signal_in_at_least_5_percent_of_benign_conversations(default_train):
    benign = [r for r in default_train if r["label"] == 0]
    counts = Counter(s for r in benign for s in r["cues"])
    shares = {s: counts[s] / len(benign) for s in SIGNALS}
    assert all(share >= DEFAULT.min_benign_cue_share for share in shares.values()), shares


def test_every_benign_relationship_has_cues_in_both_phrasings():
    for phrasing in (synthetic.SEEN, synthetic.HELDOUT):
        pools = synthetic._pools(phrasing, DEFAULT.heldout_every)
        for relationship in synthetic.BENIGN_RELATIONSHIPS:
            assert pools.hard_negative.get(relationship), (phrasing, relationship)


def test_hard_negative_examples_of_the_issue_exist():
    wanted = [
        ("parent", "personal_info_probing", "home alone"),
        ("sibling", "secrecy", "surprise"),
        ("coach", "meeting_request", "meet"),
        ("peer", "platform_move", "{app}"),
        ("grandparent", "gifts_or_money", "gift card"),
        ("teacher", "image_request", "homework"),
        ("peer", "secrecy", "came out"),
        ("adult_friend", "meeting_request", "meet"),
    ]
    for relationship, signal, fragment in wanted:
        entries = synthetic._HARD_NEGATIVE_CUES[signal]
        assert any(relationship in rels and fragment in t for rels, _, t in entries), (relationship, signal)


def test_hard_negatives_suite_is_benign_hard_negatives_by_relationship(splits):
    suite = splits["hard_negatives"]
    assert suite and all(r["label"] == 0 and r["groups"]["hard_negative"] for r in suite)
    counts = Counter(r["groups"]["relationship"] for r in suite)
    assert set(counts) <= set(synthetic.BENIGN_RELATIONSHIPS)
    assert max(counts.values()) - min(counts.values()) <= 1


# --------------------------------------------------------------------------- phrasing


def test_every_pool_has_a_heldout_part():
    for name, entries in _pool_tuples():
        assert len(entries) >= DEFAULT.heldout_every, name


def test_seen_and_heldout_realisations_are_disjoint():
    seen: set[str] = set()
    held: set[str] = set()
    for phrasing, found in ((synthetic.SEEN, seen), (synthetic.HELDOUT, held)):
        fillers = {k: synthetic._part(v, phrasing, DEFAULT.heldout_every) for k, v in _FILLERS.items()}
        for name, entries in _pool_tuples():
            if name.startswith("fillers."):  # parts of realisations, not realisations
                continue
            for template in synthetic._part(entries, phrasing, DEFAULT.heldout_every):
                found.update(_loose(e) for e in _expansions(template, fillers))
    assert seen and held
    assert not seen & held, sorted(seen & held)[:10]


def test_heldout_split_shares_no_message_with_the_other_splits():
    config = _config(style_mix={"standard": 1.0}, conversations={"train": 150, "test": 60, "test_heldout": 60})
    data = generate(config)
    seen = {_loose(m["text"]) for s in ("train", "test") for r in data[s] for m in r["messages"]}
    held = {_loose(m["text"]) for r in data["test_heldout"] for m in r["messages"]}
    assert all(r["groups"]["phrasing"] == "heldout" for r in data["test_heldout"])
    assert not seen & held, sorted(seen & held)[:10]


# --------------------------------------------------------------------------- variation


def test_groups_are_varied(records, default_train):
    assert {r["groups"]["style"] for r in default_train} == set(STYLES)
    for label in (0, 1):
        mentions = {r["groups"]["identity_mention"] for r in default_train if r["label"] == label}
        assert mentions == {"none", *synthetic.IDENTITIES}
    assert {r["groups"]["relationship"] for r in default_train} == {
        *synthetic.RISKY_RELATIONSHIPS,
        *synthetic.BENIGN_RELATIONSHIPS,
    }
    assert {r["groups"]["reporter_gender"] for r in default_train} >= {"girl", "boy", "nonbinary"}
    assert {r["groups"]["reporter_age_band"] for r in default_train} >= {"under_13", "13-15", "16-17"}
    assert {r["groups"]["posing_as_peer"] for r in default_train if r["label"] == 1} == {True, False}
    assert {r["groups"]["register"] for r in default_train} == {"plain", "typical"}


def test_styles_change_the_text():
    config = _config(conversations={"x": 40})
    texts = {}
    for style in ("non_native", "code_switch", "textspeak"):
        texts[style] = generate_split(dataclasses.replace(config, style_mix={style: 1.0}), "x")
    plain = generate_split(dataclasses.replace(config, style_mix={"standard": 1.0}), "x")
    for style, records in texts.items():
        changed = sum(
            a["text"] != b["text"]
            for r, p in zip(records, plain, strict=True)
            for a, b in zip(r["messages"], p["messages"], strict=True)
        )
        assert changed > 20, style
    spanish = " ".join(m["text"] for r in texts["code_switch"] for m in r["messages"])
    assert re.search(r"\b(jaja|gracias|mañana|casa|escuela|oye|pues|amigos?)\b", spanish, re.IGNORECASE)


def test_robustness_suite_obfuscates_every_conversation(splits):
    suite = generate_split(_config(conversations={**QUICK.conversations, "robustness": 80}), "robustness")
    kinds = Counter(r["groups"]["obfuscation"] for r in suite)
    assert set(kinds) == set(QUICK.obfuscations)
    assert {r["label"] for r in suite} == {0, 1}
    obfuscated = {s for s in splits if QUICK.suite(s) == "robustness"}
    assert obfuscated == {"robustness", "validation_obfuscated"}
    assert all(r["groups"]["obfuscation"] != "none" for s in obfuscated for r in splits[s])
    assert all(r["groups"]["obfuscation"] == "none" for s, rs in splits.items() if s not in obfuscated for r in rs)
    marks = {
        "homoglyph": lambda t: any(c in t for c in synthetic._HOMOGLYPHS.values()),
        "leetspeak": lambda t: re.search(r"[A-Za-z][0-9]|[0-9][A-Za-z]", t) is not None,
        "spaced": lambda t: re.search(r"\b[A-Za-z] [A-Za-z] [A-Za-z]\b|\b[a-z]{1,3} [a-z]{1,3}\b", t) is not None,
        "emoji": lambda t: any(e in t for e in synthetic._EMOJI_WORDS.values()),
    }
    for kind, mark in marks.items():
        cue_texts = [m["text"] for r in suite if r["groups"]["obfuscation"] == kind for m in r["messages"] if m["cues"]]
        assert cue_texts and sum(map(mark, cue_texts)) >= len(cue_texts) // 2, kind


def test_metadata_overlaps_between_labels(default_train):
    def values(label: int, key: str) -> list[int]:
        return sorted(r["metadata"][key] for r in default_train if r["label"] == label)

    for key in ("reported_account_age_days", "reported_minor_contacts_30d"):
        risky, benign = values(1, key), values(0, key)
        assert risky[-1] > benign[len(benign) // 2] and benign[-1] > risky[len(risky) // 2], key
    risky_initiated = sum(r["metadata"]["initiated_by_reported"] for r in default_train if r["label"] == 1)
    assert 0 < risky_initiated < sum(r["label"] for r in default_train)


# --------------------------------------------------------------------------- data card


def test_data_card_tables_come_from_the_records(splits):
    stats = data_card_stats(_config(), splits)
    for name, records in splits.items():
        row = stats["splits"][name]
        assert row["conversations"] == len(records)
        assert row["risky"] == sum(r["label"] for r in records)
        assert row["messages"] == sum(len(r["messages"]) for r in records)
        for s in SIGNALS:
            assert stats["signals"][name][s]["risky"] == sum(s in r["signals"] for r in records)
    assert set(stats["benign_cue_share"]) == set(SIGNALS)
    assert "hard_negatives" not in next(iter(stats["benign_cue_share"].values()))["by_split"]
    total = sum(
        sum(cell) for cell in itertools.chain.from_iterable(v.values() for v in stats["groups"]["style"].values())
    )
    assert total == sum(len(rs) for rs in splits.values())
    markdown = render_markdown(stats)
    assert all(f"| {s} |" in markdown for s in SIGNALS)
    assert "## Each signal's share of benign conversations" in markdown


def test_default_data_card_meets_the_benign_share_minimum(default_train):
    stats = data_card_stats(DEFAULT, {"train": default_train})
    assert all(row["meets_minimum"] for row in stats["benign_cue_share"].values())


# --------------------------------------------------------------------------- content rules


def test_no_banned_words(records):
    for r in records:
        for m in r["messages"]:
            assert not BLOCKED.search(m["text"]), r["conversation_id"]
    assert not [t for t in _pool_strings() if BLOCKED.search(t)]
    every_form = [e for _, entries in _pool_tuples() for t in entries for e in _expansions(t)]
    assert len(every_form) > 1000
    assert not [t for t in every_form if BLOCKED.search(t)]


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
        for phrasing in (synthetic.SEEN, synthetic.HELDOUT):
            assert len(synthetic.escalation_phrases(phrasing, DEFAULT.heldout_every)[signal]) >= 4, (signal, phrasing)


# --------------------------------------------------------------------------- configuration


def test_opt_out_share():
    records = generate_split(_config(conversations={"x": 50}, opt_out_rate=1.0), "x")
    assert not any(r["opt_in"] for r in records)
    assert all(r["messages"] for r in records)


def test_config_from_yaml_shapes():
    raw = {f.name: getattr(QUICK, f.name) for f in dataclasses.fields(QUICK)}
    raw["metadata"] = {k: dataclasses.asdict(v) for k, v in QUICK.metadata.items()}
    raw["long_messages"] = list(QUICK.long_messages)
    raw["obfuscations"] = list(QUICK.obfuscations)
    assert config_from_dict(raw) == QUICK


def test_bad_config_rejected():
    for overrides in (
        {"min_signals": 1},
        {"min_messages": 4},
        {"style_mix": {"shouting": 1.0}},
        {"suites": {"test": "mystery"}},
        {"obfuscations": ("rot13",)},
        {"heldout_every": 1},
        {"hard_negative_min_cues": 0},
        {"long_messages": (4, 6)},
    ):
        with pytest.raises(ValueError):
            _config(**overrides)
    with pytest.raises(KeyError):
        generate_split(_config(), "holdout")

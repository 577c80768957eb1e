"""Synthetic opt-in conversation reports: escalation grammar, hard negatives, styles, metadata.

Every escalation move is non-explicit by design (flattery, questions about age or place,
secrecy, isolation, gifts, moving to another app, asking for a photo, asking to meet).
The output follows the record format of ARCHITECTURE.md; the same `(config, split)` always
yields the same records.

Structure of a conversation of `n` messages (n drawn alike for every label, so that length
tells nothing about the label; a share of conversations of every label is long):

- an opening of benign small talk: short for "fast" escalations (every move within the first
  few messages), long for "slow" ones, 40 and more messages for "late" ones;
- events, each followed by the other party's reply and some more small talk: for risky
  conversations the reported adult's escalation moves in stage order (trust and probing,
  then secrecy / isolation / gifts / platform move, then image and meeting requests), some
  reported before the later moves came; for hard negatives one to a few relationship-typical
  messages with the same surface cues (a parent asking whether the child is home alone, a
  coach naming where practice meets, peers moving to another app, ...), in any order.

Every message that expresses a signal in form carries it in `cues`; only escalation messages
carry it in `signals` (the label). The record's `cues` is their union, so the share of benign
conversations showing each signal can be measured from the data.

A writing style applies to every message of a conversation, from both participants. Each
phrase pool (templates and fillers) is cut in two by position: every `heldout_every`-th entry
belongs to the held-out phrasing, used only by the `heldout` suite, the rest to the phrasing
of every other split, so that `test_heldout` holds surface realisations never seen in training.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
import re
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from serving.schema import SIGNALS

STYLES: tuple[str, ...] = ("standard", "textspeak", "typo_heavy", "emoji_heavy", "non_native", "code_switch")
IDENTITIES: tuple[str, ...] = ("lgbtq", "religion", "ethnicity", "disability")
OBFUSCATIONS: tuple[str, ...] = ("leetspeak", "spaced", "homoglyph", "emoji")
REPLY_KINDS: tuple[str, ...] = ("go_along", "deflect", "decline")
REPORTER_AGE_BANDS: tuple[str, ...] = ("under_13", "13-15", "16-17")
RISKY_RELATIONSHIPS: tuple[str, ...] = ("stranger", "online_friend")
BENIGN_RELATIONSHIPS: tuple[str, ...] = (
    "peer",
    "online_peer",
    "online_adult",
    "parent",
    "sibling",
    "coach",
    "teacher",
    "grandparent",
    "adult_friend",
)
# Kinds of split: the default draws in-distribution phrasing; the others are evaluation suites.
IN_DISTRIBUTION = "in_distribution"
SUITES: tuple[str, ...] = ("heldout", "hard_negatives", "robustness")
SEEN, HELDOUT = "seen", "heldout"
# Which metadata distribution describes the reported account of each relationship.
PROFILE_OF: dict[str, str] = {
    "stranger": "risky",
    "online_friend": "risky",
    "coach": "educator",
    "teacher": "educator",
    "parent": "family",
    "sibling": "family",
    "grandparent": "family",
    "peer": "peer",
    "online_peer": "peer",
    "online_adult": "educator",
    "adult_friend": "adult",
}
METADATA_PROFILES: tuple[str, ...] = ("risky", "educator", "family", "peer", "adult")
# Relationships whose reported party is an adult by definition; peers share the reporter's band.
_ADULT_RELATIONSHIPS = frozenset(
    {"stranger", "online_friend", "online_adult", "parent", "coach", "teacher", "grandparent", "adult_friend"}
)
_PEER_RELATIONSHIPS = frozenset({"peer", "online_peer"})
_ADULT_AGE = 18
# Escalation order: earlier stages come first in a risky conversation.
_STAGE: dict[str, int] = {
    "trust_building": 0,
    "personal_info_probing": 0,
    "relationship_probing": 0,
    "secrecy": 1,
    "isolation": 1,
    "gifts_or_money": 1,
    "platform_move": 1,
    "image_request": 2,
    "meeting_request": 2,
}
_ADULT_GENDER = {"girl": "woman", "boy": "man", "nonbinary": "nonbinary"}


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class MetadataProfile:
    """Distribution of the reported account's metadata for one kind of account."""

    account_age_days_median: float
    account_age_days_sigma: float
    minor_contacts_30d_median: float
    minor_contacts_30d_sigma: float
    prior_reports_mean: float
    prior_blocks_mean: float
    initiated_by_reported_rate: float


@dataclass(frozen=True)
class SyntheticConfig:
    """Every number of the generator (the `generate:` section of params.yaml)."""

    seed: int
    conversations: dict[str, int]  # split name -> number of conversations
    suites: dict[str, str]  # split name -> heldout / hard_negatives / robustness; others in-distribution
    heldout_every: int  # every heldout_every-th entry of each phrase pool is held-out phrasing
    positive_rate: float  # share of risky conversations in a split (rounded to a count)
    hard_negative_rate: float  # share of benign conversations carrying escalation-like cues
    partial_rate: float  # share of risky conversations reported before their later moves
    min_messages: int
    max_messages: int
    long_conversation_rate: float  # share of conversations (every label) drawn from long_messages
    long_messages: tuple[int, int]
    min_signals: int  # distinct signals planned per risky conversation
    max_signals: int
    combined_move_rate: float  # chance that a move shares its message with the next one
    fast_escalation_rate: float  # share of conversations whose events come early and close together
    fast_opening_max_messages: int  # longest small-talk opening of a fast escalation
    fast_gap_max_messages: int  # most small talk between two events of a fast escalation
    slow_opening_min_share: float  # shortest opening of a slow one, as a share of small talk
    late_opening_min_messages: int  # shortest opening of a late one (long conversations only)
    reply_mix: dict[str, float]  # go_along / deflect / decline, for risky and benign cues alike
    hard_negative_min_cues: int  # distinct cue kinds in one hard negative
    hard_negative_max_cues: int
    relationship_talk_rate: float  # share of small talk specific to the relationship
    small_talk_filler_rate: float  # share of small talk framed by the discourse fillers moves use
    posing_rate: float  # share of risky adults whose small talk is a same-age gamer's
    shared_cue_rate: float  # share of escalation moves (and of peers' cues) in plain shared wordings
    plain_register_rate: float  # share of conversations whose every move or cue is in plain shared wordings
    style_mix: dict[str, float]
    typo_rate: float  # per-word chance of a typo in the typo_heavy style
    emoji_rate: float  # per-message chance of emoji in the emoji_heavy style
    non_native_rate: float  # per-rule chance of a learner's construction in the non_native style
    code_switch_rate: float  # per-word chance of Spanish in the code_switch style
    identity_mention_rate: float  # same for risky and benign conversations
    identity_mix: dict[str, float]
    obfuscations: tuple[str, ...]  # cycled over the conversations of a robustness suite
    obfuscated_message_rate: float  # share of the other messages obfuscated (cue messages always are)
    obfuscation_char_rate: float  # per-character (per-word for spaced) chance of a substitution
    opt_out_rate: float
    reporter_age_mix: dict[str, float]  # under_13 / 13-15 / 16-17
    reporter_ages: dict[str, tuple[int, int]]  # years within each band, "adult" included
    gender_mix: dict[str, float]  # girl / boy / nonbinary (adults: woman / man / nonbinary)
    risky_relationship_mix: dict[str, float]
    benign_relationship_mix: dict[str, float]
    age_gap_years: dict[str, tuple[int, int]]  # every relationship but the peer ones
    metadata: dict[str, MetadataProfile]  # keyed by METADATA_PROFILES
    start_date: str  # ISO date of the first day conversations may start
    date_span_days: int
    start_hours: dict[str, tuple[int, int]]  # UTC start hour range, for "risky" and "benign"
    gap_median_seconds: float
    gap_sigma: float
    long_gap_rate: float  # chance that a reply comes hours later
    long_gap_hours: tuple[int, int]
    min_benign_cue_share: float  # the data card flags a signal seen in fewer benign conversations
    card_dir: str  # where the generate stage writes the data card's tables (relative to the cwd)

    def __post_init__(self) -> None:
        fix = object.__setattr__  # normalise what YAML gives (lists, nested mappings)
        fix(self, "reporter_ages", {k: _pair(v) for k, v in self.reporter_ages.items()})
        fix(self, "age_gap_years", {k: _pair(v) for k, v in self.age_gap_years.items()})
        fix(self, "start_hours", {k: _pair(v) for k, v in self.start_hours.items()})
        fix(self, "long_gap_hours", _pair(self.long_gap_hours))
        fix(self, "long_messages", _pair(self.long_messages))
        fix(self, "obfuscations", tuple(self.obfuscations))
        fix(self, "suites", dict(self.suites or {}))
        fix(
            self,
            "metadata",
            {k: v if isinstance(v, MetadataProfile) else MetadataProfile(**v) for k, v in self.metadata.items()},
        )
        _validate(self)

    def suite(self, split: str) -> str:
        """The kind of a split: `in_distribution` or one of SUITES."""
        return self.suites.get(split, IN_DISTRIBUTION)


def config_from_dict(values: dict[str, Any]) -> SyntheticConfig:
    """A SyntheticConfig from the `generate:` mapping of params.yaml."""
    return SyntheticConfig(**values)


def _pair(value: Any) -> tuple[int, int]:
    low, high = value
    return int(low), int(high)


def _validate(c: SyntheticConfig) -> None:
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"generate: {what}")

    need(len(c.conversations) > 0, "conversations must name at least one split")
    for split, count in c.conversations.items():
        need(re.fullmatch(r"[A-Za-z0-9_]+", split) is not None, f"bad split name {split!r}")
        need(isinstance(count, int) and count >= 0, f"conversations.{split} must be >= 0")
    for split, kind in c.suites.items():  # a suite not among the conversations is not generated
        need(kind in SUITES, f"suites.{split} must be one of {list(SUITES)}")
    need(c.heldout_every >= 2, "heldout_every must be >= 2")
    for name in (
        "positive_rate",
        "hard_negative_rate",
        "partial_rate",
        "long_conversation_rate",
        "combined_move_rate",
        "fast_escalation_rate",
        "slow_opening_min_share",
        "relationship_talk_rate",
        "small_talk_filler_rate",
        "posing_rate",
        "shared_cue_rate",
        "plain_register_rate",
        "typo_rate",
        "emoji_rate",
        "non_native_rate",
        "code_switch_rate",
        "identity_mention_rate",
        "obfuscated_message_rate",
        "obfuscation_char_rate",
        "opt_out_rate",
        "long_gap_rate",
        "min_benign_cue_share",
    ):
        need(0.0 <= getattr(c, name) <= 1.0, f"{name} must be in [0, 1]")
    need(2 <= c.min_signals <= c.max_signals <= len(SIGNALS), "need 2 <= min <= max signals")
    need(1 <= c.hard_negative_min_cues <= c.hard_negative_max_cues, "need 1 <= hard_negative_min <= max cues")
    need(c.fast_opening_max_messages >= 1, "fast_opening_max_messages must be >= 1")
    need(c.fast_gap_max_messages >= 0, "fast_gap_max_messages must be >= 0")
    need(c.late_opening_min_messages >= 1, "late_opening_min_messages must be >= 1")
    # Room for every planned move and its reply, plus at least one opening message.
    need(c.min_messages >= 2 * c.min_signals + 1, "min_messages must be >= 2 * min_signals + 1")
    need(c.min_messages >= 2 * c.hard_negative_min_cues + 1, "min_messages must be >= 2 * hard_negative_min_cues + 1")
    need(c.min_messages <= c.max_messages, "min_messages must be <= max_messages")
    need(c.min_messages <= c.long_messages[0] <= c.long_messages[1], "long_messages must be >= min_messages")
    need(len(c.obfuscations) > 0 and set(c.obfuscations) <= set(OBFUSCATIONS), f"obfuscations among {OBFUSCATIONS}")
    for name, allowed in (
        ("reply_mix", REPLY_KINDS),
        ("style_mix", STYLES),
        ("identity_mix", IDENTITIES),
        ("reporter_age_mix", REPORTER_AGE_BANDS),
        ("gender_mix", tuple(_ADULT_GENDER)),
        ("risky_relationship_mix", RISKY_RELATIONSHIPS),
        ("benign_relationship_mix", BENIGN_RELATIONSHIPS),
    ):
        mix = getattr(c, name)
        need(set(mix) <= set(allowed), f"{name} keys must be among {list(allowed)}")
        need(all(w >= 0 for w in mix.values()) and sum(mix.values()) > 0, f"{name} weights")
    for band in (*c.reporter_age_mix, "adult"):
        need(band in c.reporter_ages, f"reporter_ages needs {band!r}")
        low, high = c.reporter_ages[band]
        need(low <= high and _band(low) == band == _band(high), f"reporter_ages.{band} range")
    for rel in (*c.risky_relationship_mix, *c.benign_relationship_mix):
        if rel not in _PEER_RELATIONSHIPS:
            need(rel in c.age_gap_years, f"age_gap_years needs {rel!r}")
            need(0 <= c.age_gap_years[rel][0] <= c.age_gap_years[rel][1], f"age_gap_years.{rel}")
    need(set(c.metadata) == set(METADATA_PROFILES), f"metadata needs {list(METADATA_PROFILES)}")
    for name, p in c.metadata.items():
        need(p.account_age_days_median > 0 and p.minor_contacts_30d_median > 0, f"{name} medians")
        need(0.0 <= p.initiated_by_reported_rate <= 1.0, f"{name}.initiated_by_reported_rate")
    datetime.fromisoformat(c.start_date)
    need(c.date_span_days >= 1, "date_span_days must be >= 1")
    need(set(c.start_hours) == {"risky", "benign"}, "start_hours needs risky and benign")
    need(all(0 <= lo <= hi <= 23 for lo, hi in c.start_hours.values()), "start_hours in 0..23")
    need(c.gap_median_seconds > 0 and c.gap_sigma >= 0, "gap_median_seconds, gap_sigma")
    need(1 <= c.long_gap_hours[0] <= c.long_gap_hours[1], "long_gap_hours")
    need(isinstance(c.card_dir, str) and c.card_dir != "", "card_dir must be a path")


# --------------------------------------------------------------------------- phrase pools
# Templates use `{slot}` fillers; each signal expands to many distinct surface forms.
# Names of games, apps, bands, films and schools are made up. In every tuple the entries at
# positions heldout_every - 1, 2 * heldout_every - 1, ... are the held-out phrasing, so new
# entries go at the end of a tuple (moving an entry moves it between phrasings).

_FILLERS: dict[str, tuple[str, ...]] = {
    "lead": ("", "Honestly, ", "No joke, ", "I mean it, ", "You know what? ", "For real, ", "Not gonna lie, ", "Tbh "),
    "end": ("", ".", "!", ", seriously.", ", you know?", " :)", ", for real", ", just saying"),
    "ask": ("", "So ", "Btw, ", "Random question, ", "Wait, ", "Hey, ", "Also ", "Can I ask, "),
    "q": ("?", "??", "? Just curious", "? lol", "? no pressure", "?!", "? be honest", "? just wondering"),
    "hey": ("", "Hey, ", "Listen, ", "Oh and ", "Just so you know, ", "Remember, ", "One thing, ", "Also, "),
    "why": (
        "",
        ", it's more private",
        ", it's way better",
        ", this app is glitchy",
        ", I'm barely on here",
        ", we can talk more there",
        ", it's easier",
        ", my messages get lost here",
    ),
    "when": (
        "this weekend",
        "on Saturday",
        "after school",
        "tomorrow",
        "on Friday",
        "tonight",
        "on Sunday afternoon",
        "next week",
    ),
    "ok": ("", ", ok?", ". Promise?", ", seriously.", ", deal?", ", got it?", ", alright?", ". Pinky promise?"),
    "game": (
        "Blockfall",
        "Pixel Kart",
        "Dungeon Drift",
        "Star Haven",
        "Lane Legends",
        "Mossy Quest",
        "Turbo Tanks",
        "Cloud Islands",
    ),
    "app": (
        "another app",
        "a different app",
        "ChatNest",
        "LoopTalk",
        "Kitechat",
        "Murmurly",
        "my other app",
        "Pingwave",
    ),
    "gift": (
        "a gift card",
        "a $25 gift card",
        "some game coins",
        "a rare skin",
        "the battle pass",
        "500 gems",
        "a new controller",
        "some credits",
    ),
    "place": (
        "the mall",
        "the park",
        "the arcade",
        "the library",
        "the skate park",
        "the cinema",
        "the food court",
        "the ice rink",
    ),
    "subject": ("math", "science", "history", "English", "Spanish", "art", "geography", "music"),
    "band": (
        "Static Bloom",
        "Lunar Tides",
        "Velvet Arcade",
        "The Maple Jets",
        "Neon Harbor",
        "Paper Comets",
        "Glass Orchard",
        "Sunday Static",
    ),
    "instrument": ("guitar", "drums", "piano", "violin", "trumpet", "cello", "flute", "bass"),
    "sport": ("soccer", "basketball", "volleyball", "swimming", "hockey", "baseball", "track", "tennis"),
    "relative": ("grandma", "aunt", "uncle", "cousin", "grandpa", "stepdad", "godmother", "great-aunt"),
    "pet": ("dog", "cat", "hamster", "bunny", "parrot", "turtle", "goldfish", "guinea pig"),
    "film": (
        "Robot Summer",
        "Galaxy Pups",
        "Midnight Museum",
        "Ocean Quest 2",
        "Dragon Rider",
        "Space Bakers",
        "The Lost Kite",
        "Moon Mechanics",
    ),
    "name": ("Maya", "Leo", "Sam", "Priya", "Jordan", "Noah", "Zoe", "Omar", "Lily", "Eli", "Ana", "Kai"),
    "event": (
        "the sleepover",
        "practice",
        "family dinner",
        "the school trip",
        "movie night",
        "band rehearsal",
        "my cousin's party",
        "game night",
    ),
    "school": (
        "Lincoln Middle",
        "Westbrook",
        "Riverside",
        "Oak Hill",
        "Maple Grove",
        "Cedar Park",
        "Hillview",
        "Brookside",
    ),
}
# Slots filled from the conversation itself, not from the pools.
_CONTEXT_SLOTS = frozenset({"age", "grade"})
# The discourse fillers (before, after) that frame each signal's escalation templates; benign
# cue messages of the signal and some small talk get the same, so fillers tell nothing.
_FRAMES: dict[str, tuple[str, str]] = {
    "trust_building": ("lead", "end"),
    "isolation": ("lead", "end"),
    "personal_info_probing": ("ask", "q"),
    "relationship_probing": ("ask", "q"),
    "image_request": ("ask", "q"),
    "secrecy": ("hey", "ok"),
}
_DISCOURSE_SLOTS = frozenset({"lead", "end", "ask", "q", "hey", "ok"})
_STATEMENT_FRAMES: tuple[tuple[str, str], ...] = (("lead", "end"), ("hey", "ok"))
_KEEP_CAPITAL = frozenset({"I", "I'm", "I'll", "I've", "I'd"})

# What the reported adult says in a risky conversation, by signal.
_SIGNAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "trust_building": (
        "{lead}you're really mature for your age{end}",
        "{lead}I'm the only one who really gets you{end}",
        "{lead}you're way smarter than other kids your age{end}",
        "{lead}talking to you is the best part of my day{end}",
        "{lead}you can tell me anything, I'll never judge you{end}",
        "{lead}you're so much more grown up than people think{end}",
        "{lead}I feel like we have a special connection{end}",
        "{lead}you're my favourite person to talk to{end}",
        "{lead}you're not like the other kids on here{end}",
        "{lead}I trust you more than anyone I know{end}",
        "{lead}you act way older than you are{end}",
        "{lead}nobody else gets me the way you do{end}",
        "{lead}you're special, I knew it the first time we talked{end}",
        "{lead}I wish everyone was as mature as you{end}",
        "{lead}you're honestly more fun than people my age{end}",
        "{lead}I've never met anyone as easy to talk to as you{end}",
    ),
    "personal_info_probing": (
        "{ask}how old are you{q}",
        "{ask}what grade are you in{q}",
        "{ask}what school do you go to{q}",
        "{ask}what town do you live in{q}",
        "{ask}are you home alone right now{q}",
        "{ask}when do your parents get home{q}",
        "{ask}do you have your own room{q}",
        "{ask}what time does school let out{q}",
        "{ask}do your parents check your phone{q}",
        "{ask}which bus stop do you get off at{q}",
        "{ask}who's at your house right now{q}",
        "{ask}what street is your house on{q}",
        "{ask}is anyone else home with you{q}",
        "{ask}what's your real name{q}",
        "{ask}how late do your parents work{q}",
        "{ask}do you walk home from school by yourself{q}",
    ),
    "relationship_probing": (
        "{ask}do you have a boyfriend{q}",
        "{ask}do you have a girlfriend{q}",
        "{ask}do you have a crush on anyone{q}",
        "{ask}has anyone at school asked you out{q}",
        "{ask}are you dating anyone{q}",
        "{ask}do people at your school like you{q}",
        "{ask}have you ever had a boyfriend or girlfriend{q}",
        "{ask}who do you like at school{q}",
        "{ask}do you like anyone right now{q}",
        "{ask}bet lots of people want to go out with you{q}",
        "{ask}are you single{q}",
        "{ask}is there someone special in your life{q}",
        "{ask}have you ever been on a date{q}",
        "{ask}do your parents let you date yet{q}",
        "{ask}what kind of person do you like{q}",
        "{ask}does anyone have a crush on you{q}",
    ),
    "secrecy": (
        "{hey}don't tell your parents about our chats{ok}",
        "{hey}don't tell your mom we talk{ok}",
        "{hey}this stays between us{ok}",
        "{hey}delete our messages after you read them{ok}",
        "{hey}let's keep this our secret{ok}",
        "{hey}your parents wouldn't understand, so don't mention me{ok}",
        "{hey}if anyone asks, I'm just someone from {game}{ok}",
        "{hey}don't show anyone our chats{ok}",
        "{hey}don't tell anyone about me{ok}",
        "{hey}clear your chat history before your parents look{ok}",
        "{hey}keep this between you and me{ok}",
        "{hey}nobody needs to know we talk{ok}",
        "{hey}don't tell your friends about me, they'd get jealous{ok}",
        "{hey}say I'm a friend from school if your mom asks{ok}",
        "{hey}it's our little secret{ok}",
        "{hey}make sure nobody sees these messages{ok}",
    ),
    "isolation": (
        "{lead}your friends don't understand you like I do{end}",
        "{lead}your parents are way too strict with you{end}",
        "{lead}those kids at school don't deserve you{end}",
        "{lead}you don't need them, you have me{end}",
        "{lead}your friends sound kind of fake{end}",
        "{lead}your parents just don't listen to you{end}",
        "{lead}skip {event} and hang out with me online instead{end}",
        "{lead}I'm the only one who's always there for you{end}",
        "{lead}nobody at home cares about you like I do{end}",
        "{lead}you should stop hanging out with those friends{end}",
        "{lead}your family doesn't get you at all{end}",
        "{lead}you're better off without those people{end}",
        "{lead}your friends would never talk to you like I do{end}",
        "{lead}your parents treat you like a little kid{end}",
        "{lead}why waste time with them when you can talk to me{end}",
        "{lead}they'll never understand you, but I do{end}",
    ),
    "gifts_or_money": (
        "I can get you {gift} if you want",
        "Want me to send you {gift}?",
        "I just sent you {gift}, check your account",
        "I'll buy you {gift} for {game}",
        "What's your gamer tag? I'll gift you {gift}",
        "I could send you {gift} this weekend",
        "If you're nice to me I'll get you {gift}",
        "Let me pay for {gift}, it's nothing",
        "I'll send you money for {gift}, just tell me your account",
        "Do you want {gift}? I have extra",
        "I'll top up your account, how much do you need?",
        "You deserve {gift}, let me get it for you",
        "I got you {gift}, don't say I never do anything for you",
        "I'll send you {gift} every week if you keep talking to me",
        "Tell me what you want for your birthday, I'll get it",
        "Want some money for the weekend? I can send it",
    ),
    "platform_move": (
        "Add me on {app}{why}",
        "Let's talk on {app} instead{why}",
        "Message me on {app}{why}",
        "We should switch to {app}{why}",
        "Find me on {app}{why}",
        "Do you have {app}? It's better for chatting",
        "Download {app}, the messages disappear there",
        "Move to {app} with me, nobody checks it",
        "Text me on {app} instead{why}",
        "Can we chat on {app}? I'll send you my name",
        "Get {app} so we can talk whenever",
        "Let's go somewhere more private, like {app}",
        "What's your number? I'll text you",
        "Add me on {app}, your parents won't see it there",
        "Switch to {app} so we can talk at night",
        "Hit me up on {app}{why}",
    ),
    "image_request": (
        "{ask}can you send me a pic of you{q}",
        "{ask}what do you look like? Send a selfie{q}",
        "{ask}can I see a photo of you{q}",
        "{ask}can you send a photo so I know you're real{q}",
        "{ask}can you turn your camera on for a sec{q}",
        "{ask}can you send me a selfie from today{q}",
        "{ask}can we video call so I can see you{q}",
        "{ask}do you have a recent pic of yourself{q}",
        "{ask}can you send a pic of your room{q}",
        "{ask}post a selfie just for me{q}",
        "{ask}can you send a pic of you in your school uniform{q}",
        "{ask}can I get a pic of your face{q}",
        "{ask}can you send another pic, you look so grown up{q}",
        "{ask}do you have more pics of you{q}",
        "{ask}can you take a selfie right now{q}",
        "{ask}show me what you look like today{q}",
    ),
    "meeting_request": (
        "We should meet up at {place} {when}, just us",
        "Let's meet at {place} {when}",
        "I'll be near {place} {when}, come say hi",
        "Can you sneak out and meet me at {place} {when}?",
        "What if we met up at {place} {when}?",
        "I could pick you up {when} and we go to {place}",
        "Come to {place} {when}, don't bring anyone",
        "I want to meet you in person, how about {place} {when}?",
        "I can drive to your town {when}, where should we meet?",
        "Meet me at {place} {when}, I'll wait by the entrance",
        "Tell your parents you're at a friend's and meet me at {place}",
        "I'll pick you up from school {when}",
        "Let's finally meet in real life, {place} {when}?",
        "I'm coming to your area {when}, want to hang out?",
        "Just you and me at {place} {when}, ok?",
        "Can you get to {place} {when} without your parents knowing?",
    ),
}

# Plain wordings of each signal that anyone might use: a risky adult's move draws from them
# with shared_cue_rate, and so does a benign cue.
_SHARED_CUES: dict[str, tuple[str, ...]] = {
    "trust_building": (
        "you're so easy to talk to",
        "you're really funny, you know that",
        "I like talking to you",
        "you're way cooler than people think",
        "you're a really good listener",
        "I'm glad we met on here",
        "you always make me laugh",
        "you get me",
    ),
    "personal_info_probing": (
        "how old are you btw?",
        "which school are you at?",
        "what city are you in?",
        "are your parents strict?",
        "are you home right now?",
        "what time do you get home?",
        "do you live near {place}?",
        "what year are you in?",
    ),
    "relationship_probing": (
        "do you like anyone?",
        "anyone you're crushing on?",
        "are you with anyone?",
        "you dating someone?",
        "is {name} your boyfriend?",
        "who's your crush?",
        "are you and {name} a thing?",
        "anyone special?",
    ),
    "secrecy": (
        "don't tell anyone",
        "keep it between us",
        "can you keep a secret",
        "promise you won't tell",
        "this is just between you and me",
        "don't say anything yet",
        "shh don't tell",
        "it's a secret for now",
    ),
    "isolation": (
        "forget them, they don't get you",
        "they're not real friends",
        "you don't need people like that",
        "ignore them",
        "they don't deserve you",
        "you're better than them",
        "just hang with me instead",
        "they always leave you out",
    ),
    "gifts_or_money": (
        "Want some gems?",
        "I'll send you {gift}",
        "I can get you {gift}",
        "I got you something",
        "I'll buy it for you",
        "Want me to get you {gift}?",
        "I'll pay for it",
        "Here, I sent you {gift}",
    ),
    "platform_move": (
        "Add me on {app}",
        "Do you have {app}?",
        "Let's use {app} instead",
        "What's your {app}?",
        "Message me on {app}",
        "I'm on {app} more",
        "Can we move to {app}?",
        "Text me there instead",
    ),
    "image_request": (
        "send a pic?",
        "send me a selfie?",
        "can you send a photo?",
        "show me a pic?",
        "can I see a pic?",
        "take a pic and send it?",
        "got a pic?",
        "turn your camera on?",
    ),
    "meeting_request": (
        "Wanna meet up {when}?",
        "Let's meet at {place}",
        "Want to hang out {when}?",
        "Meet me at {place} {when}",
        "Can you come to {place} {when}?",
        "Let's hang at {place}",
        "I'll meet you there",
        "Come hang out {when}",
    ),
}
# Every benign relationship uses them too, but for asking about dating (not a teacher's or a
# coach's question); between peers either party may say them, otherwise the reported party.
_UNSHARED_CUES: dict[str, frozenset[str]] = {
    r: frozenset({"relationship_probing"}) for r in ("coach", "teacher", "online_adult")
}
_PEER_SPEECH = frozenset({"peer", "online_peer", "adult_friend"})

# The same surface cues in benign relationships, by signal: (relationships, role of the sender,
# template). Their messages carry the cue in `cues` and nothing in `signals`.
_HARD_NEGATIVE_CUES: dict[str, tuple[tuple[tuple[str, ...], str, str], ...]] = {
    "trust_building": (
        (("coach",), "reported", "You showed real leadership today, I'm proud of you"),
        (("coach",), "reported", "You're one of the most mature players on the team"),
        (("teacher",), "reported", "Your essay was really mature for your age, great work"),
        (("teacher",), "reported", "You're one of the most thoughtful students I've had"),
        (("grandparent",), "reported", "You're so grown up now, sweetheart"),
        (("adult_friend",), "reported", "You're the only one who really gets me lol"),
        (("parent",), "reported", "I trust you to make the right call tonight"),
        (("peer", "online_peer"), "reported", "You're honestly my favourite person to talk to"),
        (("coach",), "reported", "You're more mature than some of the seniors, keep it up"),
        (("sibling",), "reported", "Ok you're actually smarter than me at this"),
        (("peer",), "reporter", "You're the only one who gets me, seriously"),
        (("online_peer",), "reported", "You're way better than the other kids on this server"),
        (("teacher",), "reported", "I can tell you put real thought into this, you should be proud"),
        (("grandparent",), "reported", "Talking to you always makes my day, sweetheart"),
        (("adult_friend",), "reporter", "Honestly I trust you more than anyone at work"),
        (("parent",), "reported", "You handled that so maturely, I'm proud of you"),
        (("online_adult",), "reported", "You're one of the most mature players in the guild, great calls today"),
        (("online_adult",), "reported", "You're honestly better than most adults on this server"),
    ),
    "personal_info_probing": (
        (("parent",), "reported", "Are you home alone right now? Dad's running late"),
        (("parent",), "reported", "What time does school let out today? I'll grab you"),
        (("parent",), "reported", "Is anyone else home with you? Grandma said she'd stop by"),
        (("coach",), "reported", "What time can your parents drop you off on Saturday?"),
        (("coach",), "reported", "Is your mom or dad picking you up today?"),
        (("teacher",), "reported", "What's the best email for your parents for the trip form?"),
        (("sibling",), "reported", "Are you home? I forgot my key again"),
        (("online_peer",), "reported", "How old are you? You play like a pro"),
        (("peer",), "reported", "What school do you go to now that you moved?"),
        (("online_peer",), "reported", "What grade are you in? I'm in 7th"),
        (("grandparent",), "reported", "What time does school end? We'll call after"),
        (("parent",), "reported", "Do you walk home by yourself today or with {name}?"),
        (("adult_friend",), "reported", "What part of town do you live in now?"),
        (("peer",), "reported", "Are your parents home? Can I come over?"),
        (("sibling",), "reported", "When do mom and dad get home tonight?"),
        (("teacher",), "reported", "Which bus do you take home? The late bus is cancelled"),
        (("online_adult",), "reported", "How old are you? The tournament is for 13 and up"),
        (("online_adult",), "reported", "What time zone are you in? Scrims start at 7"),
    ),
    "relationship_probing": (
        (("peer",), "reported", "Do you have a crush on anyone?"),
        (("peer",), "reported", "So are you and {name} dating now?"),
        (("sibling",), "reported", "So do you have a girlfriend now or what lol"),
        (("adult_friend",), "reported", "Are you seeing anyone these days?"),
        (("grandparent",), "reported", "Any special friend at school? Grandpa wants to know"),
        (("online_peer",), "reported", "Wait are you dating {name}? Everyone on the server says so"),
        (("peer",), "reporter", "Do you like anyone right now? Tell me"),
        (("parent",), "reported", "Is {name} your boyfriend or just a friend? Just asking"),
        (("adult_friend",), "reporter", "Are you still single or did the date go well?"),
        (("sibling",), "reported", "Who do you like at school? I'm so curious"),
        (("peer",), "reported", "Has anyone asked you to the dance yet?"),
        (("grandparent",), "reported", "Is there someone special? You keep smiling at your phone"),
        (("online_peer",), "reporter", "Do you have a girlfriend? Asking for {name} lol"),
        (("peer",), "reported", "Bet {name} likes you, they keep asking about you"),
        (("adult_friend",), "reported", "Have you been on any dates lately?"),
        (("sibling",), "reporter", "Are you dating anyone? Mom keeps asking me"),
    ),
    "secrecy": (
        (("sibling",), "reported", "Don't tell mom about the surprise party, ok?"),
        (("sibling",), "reported", "Keep dad's birthday present a secret"),
        (("sibling",), "reporter", "Don't tell anyone about the surprise for grandma"),
        (("peer",), "reporter", "Please keep it between us that I came out to you, I'm not ready to tell my parents"),
        (("peer",), "reported", "Don't tell anyone I like {name}, ok?"),
        (("peer",), "reporter", "Don't tell anyone about the surprise for {name}'s birthday"),
        (("grandparent",), "reported", "Don't tell your mom, it's a surprise for her birthday"),
        (("parent",), "reported", "Don't tell your brother about his birthday present, ok?"),
        (("online_peer",), "reporter", "Keep this between us, I'm coming out to my family next week"),
        (("peer",), "reported", "Delete that video of me tripping lol, nobody needs to see it"),
        (("adult_friend",), "reported", "Keep this between us, I'm interviewing for a new job"),
        (("sibling",), "reported", "Let's keep the dent in the car our secret until I fix it lol"),
        (("peer",), "reported", "Don't show anyone my drawing yet, it's not done"),
        (("coach",), "reported", "Don't tell the others yet, I'm announcing the new captain on Friday"),
        (("grandparent",), "reported", "It's our little secret, grandpa is planning a surprise trip"),
        (("teacher",), "reported", "Keep the quiz questions to yourself so it's fair for the next class"),
        (("online_adult",), "reported", "Don't tell the other team our strategy, ok?"),
    ),
    "isolation": (
        (("peer",), "reported", "Forget them, they were mean to you anyway"),
        (("peer",), "reporter", "Honestly you're a better friend than the rest of them"),
        (("peer",), "reported", "Your parents are so strict lol, mine let me stay out till 9"),
        (("adult_friend",), "reported", "You don't need them, that job was stressing you out"),
        (("sibling",), "reported", "Mom and dad are being way too strict with you, I'll talk to them"),
        (("online_peer",), "reported", "Those kids in the lobby are so fake, just squad with us"),
        (("peer",), "reported", "Skip {event}, it's going to be boring, come to my house"),
        (("adult_friend",), "reporter", "Honestly you're better off without those people at work"),
        (("sibling",), "reporter", "Your friends don't get you like I do, just ignore them lol"),
        (("peer",), "reported", "Stop hanging out with {name}, they keep talking behind your back"),
        (("online_peer",), "reporter", "The people in that group chat are so fake, you're way nicer"),
        (("parent",), "reported", "Those kids don't deserve a friend like you, sweetheart"),
        (("adult_friend",), "reported", "Your family never listens to you, you should just take the job"),
        (("peer",), "reported", "Nobody at that party gets you like we do"),
        (("grandparent",), "reported", "Your parents are strict because they love you, sweetheart"),
        (("sibling",), "reported", "Ignore them, you don't need friends like that"),
        (("online_adult",), "reported", "Ignore the trash talk in the lobby, those players are toxic"),
    ),
    "gifts_or_money": (
        (("grandparent",), "reported", "I sent you a gift card for your birthday, sweetheart"),
        (("grandparent",), "reported", "Grandpa put some coins in your {game} account"),
        (("parent",), "reported", "I put money on your lunch card"),
        (("parent",), "reported", "I sent you some money for the movies tonight"),
        (("sibling",), "reported", "Let's chip in for a gift card for mom"),
        (("sibling",), "reported", "I'll send you money for your half of the present"),
        (("peer",), "reported", "I'll gift you a skin for your birthday"),
        (("online_peer",), "reported", "I'll gift you the battle pass, you carried us last night"),
        (("adult_friend",), "reported", "I owe you one, I'll get you a gift card"),
        (("grandparent",), "reported", "Did the birthday money arrive?"),
        (("coach",), "reported", "The team is getting you a gift card for helping at camp"),
        (("parent",), "reported", "Do you want me to send you money for lunch tomorrow?"),
        (("peer",), "reporter", "I'll buy you a snack at {place}, you paid last time"),
        (("online_peer",), "reporter", "I have extra gems, want some?"),
        (("grandparent",), "reported", "What do you want for your birthday? Grandma will get it"),
        (("adult_friend",), "reporter", "Let me pay for dinner, it's nothing"),
        (("online_adult",), "reported", "I'll gift you the battle pass for winning the tournament"),
        (("online_adult",), "reported", "The guild pays the entry fee for everyone under 18"),
    ),
    "platform_move": (
        (("peer",), "reported", "Add me on {app}, this app keeps lagging"),
        (("peer",), "reporter", "Let's move the group chat to {app}"),
        (("peer",), "reported", "Everyone from class is on {app} now, add me there"),
        (("online_peer",), "reported", "Add me on {app} so we can voice chat while we play"),
        (("adult_friend",), "reported", "Text me on {app}, I'm barely on here"),
        (("coach",), "reported", "The team chat is on {app} now, add me there"),
        (("teacher",), "reported", "Class updates are moving to {app}, ask your parents to join too"),
        (("sibling",), "reported", "Message me on {app}, this app eats my battery"),
        (("online_peer",), "reporter", "Do you have {app}? Our squad chats there"),
        (("parent",), "reported", "Download {app}, the whole family group is on it"),
        (("adult_friend",), "reporter", "Let's switch to {app}, it's easier for group plans"),
        (("peer",), "reported", "What's your number? I'll add you to the group text"),
        (("grandparent",), "reported", "Grandpa finally got {app}, message us there!"),
        (("online_peer",), "reported", "Find me on {app}, same name as here"),
        (("coach",), "reporter", "Can we use {app} for the carpool chat?"),
        (("peer",), "reporter", "We should switch to {app}, this one is so glitchy"),
        (("online_adult",), "reported", "Join the guild on {app}, that's where we plan scrims"),
        (("online_adult",), "reported", "Add me on {app}, the whole team is there"),
        (("online_adult",), "reported", "Our clan server is on {app}, ask your parents if it's ok"),
        (("online_adult",), "reported", "We moved the tournament chat to {app}, add me there"),
    ),
    "image_request": (
        (("teacher",), "reported", "Send me a photo of your homework so I can check it"),
        (("teacher",), "reported", "Can you upload a picture of your {subject} worksheet?"),
        (("teacher",), "reporter", "Can I send you a picture of my homework instead?"),
        (("parent",), "reported", "Send me a pic when you get to {relative}'s so I know you made it"),
        (("parent",), "reported", "Send me a photo of the permission slip so I can sign it"),
        (("grandparent",), "reported", "Send grandma a picture of you in your new school uniform"),
        (("grandparent",), "reported", "Send us a selfie from the trip!"),
        (("peer",), "reported", "Send me a pic of your new haircut"),
        (("peer",), "reported", "Send a selfie from the concert!"),
        (("coach",), "reported", "Send me a photo of the signed permission slip"),
        (("adult_friend",), "reported", "Send me a pic of your new apartment!"),
        (("online_peer",), "reported", "Can you turn your camera on? I want to show you the new map"),
        (("sibling",), "reported", "Send me a pic of the menu, I'll order for you"),
        (("parent",), "reported", "Can you video call grandma tonight? She misses your face"),
        (("teacher",), "reported", "Take a photo of your science poster for the class page"),
        (("peer",), "reporter", "Send me a pic of the {subject} notes pls"),
        (("online_adult",), "reported", "Send a screenshot of your score for the leaderboard"),
    ),
    "meeting_request": (
        (("parent",), "reported", "I'll pick you up at {place} at 5"),
        (("parent",), "reported", "Meet me by the front entrance after {sport} practice"),
        (("coach",), "reported", "Practice is at the east field today, meet by the bleachers at 4"),
        (("coach",), "reported", "The team bus leaves from the school parking lot at 7"),
        (("coach",), "reported", "Meet at {place} at 9 for the team photo"),
        (("sibling",), "reported", "Meet me at {place} after school, I'll drive us home"),
        (("peer",), "reported", "Wanna meet at {place} after school?"),
        (("peer",), "reporter", "Let's meet at {place} on Saturday with everyone"),
        (("adult_friend",), "reported", "Want to meet for coffee at {place} on Saturday?"),
        (("adult_friend",), "reporter", "Let's meet up after work, just us two"),
        (("grandparent",), "reported", "We'll meet you at the train station on Sunday"),
        (("teacher",), "reported", "Come to the library at lunch for the study group"),
        (("online_peer",), "reported", "My mom can drive us to {place} {when} if your parents say yes"),
        (("parent",), "reported", "I'll be near {place} {when}, I can pick you up"),
        (("grandparent",), "reported", "Grandpa will pick you up from school on Friday"),
        (("adult_friend",), "reported", "Let's finally meet in person, the conference is in your city"),
        (("online_adult",), "reported", "The guild meetup is at {place} {when}, bring a parent"),
        (("online_adult",), "reported", "The tournament is at {place} {when}, your parents can come too"),
        (("online_adult",), "reported", "The LAN party is at {place} {when}, parents welcome"),
        (("online_adult",), "reported", "We're meeting at {place} {when} for the finals, your mom can come"),
    ),
}

_GREETINGS: tuple[str, ...] = (
    "Hey",
    "Hi",
    "Hey, what's up?",
    "Hey, saw you in the {game} lobby",
    "Hi! How's it going?",
    "Yo",
    "Hey, you there?",
    "Good morning!",
    "Hey, how was your day?",
    "gg, that last round of {game} was close",
    "Heyy",
    "Hello!",
    "Sup",
    "Hey you",
    "Hiii",
    "Evening!",
)

_ACKS: tuple[str, ...] = (
    "Lol same",
    "Nice",
    "Haha",
    "Oh cool",
    "Wait really?",
    "That's so cool",
    "Same tbh",
    "Omg yes",
    "Lol",
    "Ugh I know",
    "True",
    "Fair enough",
    "Omg",
    "Yeah same",
    "Mood",
    "Wow",
)

_TOPICS: dict[str, tuple[str, ...]] = {
    "school": (
        "How was school today?",
        "We have a {subject} test tomorrow",
        "My {subject} teacher gave us so much work",
        "School was so boring today",
        "Did you finish the {subject} project?",
        "Lunch was actually good today",
        "I got a B on my {subject} quiz",
        "We had a fire drill during {subject} lol",
    ),
    "games": (
        "Did you play {game} last night?",
        "I finally beat the boss in {game}",
        "{game} has a new update",
        "Want to play {game} later?",
        "I keep losing in {game}",
        "I just unlocked a new map in {game}",
        "My team in {game} is so bad lol",
        "What's your favourite character in {game}?",
    ),
    "music": (
        "Have you heard the new {band} song?",
        "I've had {band} on repeat all day",
        "I'm learning {instrument}",
        "Band practice went long today",
        "Do you like {band}?",
        "I made a new playlist",
        "My {instrument} teacher says I'm getting better",
        "{band} is going on tour next year",
    ),
    "sport": (
        "We won our {sport} game today!",
        "{sport} tryouts are next week",
        "I scored in {sport} today",
        "Did you watch the {sport} game?",
        "My legs hurt from {sport} practice",
        "Our {sport} team is actually good this year",
        "I might quit {sport}, it's so early in the morning",
        "We lost at {sport} but it was close",
    ),
    "family": (
        "My {relative} is visiting this weekend",
        "My little brother won't stop yelling",
        "We're having tacos for dinner",
        "My {relative} made cookies",
        "We're going to my {relative}'s house on Sunday",
        "My {relative} is teaching me to cook",
        "My sister borrowed my hoodie again",
        "We're painting the kitchen this weekend",
    ),
    "homework": (
        "I'm stuck on the {subject} homework",
        "What did you get for number 4?",
        "The {subject} reading is so long",
        "Can you explain the {subject} worksheet?",
        "I still have {subject} homework lol",
        "Homework is taking forever tonight",
        "The {subject} essay is due Monday",
        "I finished the {subject} homework in class",
    ),
    "pets": (
        "My {pet} just knocked over a plant",
        "I have to walk my {pet}",
        "Our {pet} learned a new trick",
        "Do you have any pets?",
        "My {pet} is sleeping on my homework lol",
        "We might get a {pet}!",
        "My {pet} hates the vacuum",
        "I'm pet sitting my neighbour's {pet}",
    ),
    "weekend": (
        "Any plans for the weekend?",
        "I'm going to {place} on Saturday with my family",
        "This weekend is going to be so boring",
        "We're going camping this weekend",
        "I just want to sleep all weekend",
        "My cousin's birthday party is Saturday",
        "We're driving to the lake on Sunday",
        "I have a {sport} tournament all weekend",
    ),
    "films": (
        "Have you seen {film}?",
        "{film} was so good",
        "We're watching {film} tonight",
        "The ending of {film} was so sad",
        "I want to see {film} at the cinema",
        "Is {film} worth watching?",
        "The soundtrack of {film} is stuck in my head",
        "{film} 2 is coming out soon",
    ),
}

# Gaming small talk: the context of risky contacts and of benign online peers alike.
_GAMING_TALK: dict[str, tuple[str, ...]] = {
    "reported": (
        "gg, want to run another round of {game}?",
        "What rank are you in {game}?",
        "I've been playing {game} since it came out",
        "Our squad needs one more for {game}",
        "That lag was terrible lol",
        "You on {game} tonight?",
        "Did you see the new {game} event?",
        "Same squad as last time?",
    ),
    "reporter": (
        "I'm still stuck on level 12 in {game}",
        "gg",
        "I mostly play {game} on weekends",
        "My internet is so slow today",
        "I can play after dinner",
        "The new {game} event is kinda hard",
        "I only have an hour tonight",
        "Lol that match yesterday",
    ),
}

# An adult gamer's small talk: risky contacts and benign adult guild mates alike.
_ADULT_GAMER_TALK: tuple[str, ...] = (
    *_GAMING_TALK["reported"],
    "Just got off work, finally",
    "I'm older than you but I still love {game}",
    "I work late most nights so I play after",
    "I got a new headset, the sound is so much better",
    "Work was so long today",
    "I'm a bit older but I'm still a gamer lol",
    "I just got my own place, it's so quiet",
    "My coworkers play {game} too",
)

# Small talk typical of each relationship, by the role of its sender.
_RELATIONSHIP_TALK: dict[str, dict[str, tuple[str, ...]]] = {
    "stranger": {"reported": _ADULT_GAMER_TALK, "reporter": _GAMING_TALK["reporter"]},
    "online_friend": {"reported": _ADULT_GAMER_TALK, "reporter": _GAMING_TALK["reporter"]},
    "online_adult": {"reported": _ADULT_GAMER_TALK, "reporter": _GAMING_TALK["reporter"]},
    "online_peer": {
        "reported": (
            *_GAMING_TALK["reported"],
            "My mom says I have to get off at 9",
            "I have a {subject} test tomorrow ugh",
            "My brother keeps stealing the controller",
            "Our school has a {game} club now",
        ),
        "reporter": _GAMING_TALK["reporter"],
    },
    "peer": {
        "reported": (
            "Did you see what happened in {subject} today?",
            "Are you going to {name}'s party?",
            "Save me a seat at lunch tomorrow",
            "Omg the {subject} test was so hard",
            "Did you hear what {name} said in class?",
            "The bus was so late today",
        ),
        "reporter": (
            "I'm so tired",
            "Want to work on the {subject} project together?",
            "{name} was so funny in class today",
            "Can I borrow your {subject} notes?",
            "I forgot my locker code again",
            "Are you going to the game on Friday?",
        ),
    },
    "parent": {
        "reported": (
            "Dinner's at 7",
            "Did you walk the {pet}?",
            "Don't forget your {sport} bag",
            "Love you, have a good day",
            "Call {relative} back when you can",
            "Did you finish your homework?",
            "We're out of milk, I'll stop at the store",
            "Your {relative} says hi",
        ),
        "reporter": (
            "Can I stay at {name}'s until 8?",
            "Can you sign my {subject} form?",
            "I forgot my lunch lol",
            "Ok, love you too",
            "Can we get pizza tonight?",
            "I need new shoes for {sport}",
        ),
    },
    "sibling": {
        "reported": (
            "Stop taking my charger",
            "Mom says you have to do the dishes",
            "Can you feed the {pet}?",
            "Want to watch {film} later?",
            "Who ate my leftovers",
            "Turn your music down lol",
        ),
        "reporter": (
            "It's your turn to take out the trash",
            "Can you drive me to {place}?",
            "Lol you're so annoying",
            "Where did you put the remote?",
            "Can I borrow your hoodie?",
            "Mom's looking for you",
        ),
    },
    "coach": {
        "reported": (
            "Great hustle at practice today",
            "Remember your water bottle tomorrow",
            "Game is moved to Saturday morning",
            "Team meeting after practice",
            "Stretch tonight, big game tomorrow",
            "Uniforms get handed out on Monday",
        ),
        "reporter": (
            "Ok coach",
            "Will we do drills tomorrow?",
            "My ankle feels better",
            "Do we need our away jerseys?",
            "Sorry I was late today",
            "Can I try goalie next game?",
        ),
    },
    "teacher": {
        "reported": (
            "Reminder: the {subject} essay is due Friday",
            "Nice work on the quiz",
            "Check the class page for the new assignment",
            "Bring your calculator tomorrow",
            "The field trip form is due Wednesday",
            "Office hours are after school today",
        ),
        "reporter": (
            "Can I get an extension on the {subject} project?",
            "I didn't understand question 3",
            "Thank you!",
            "Is the test open book?",
            "I was absent, what did I miss?",
            "Can I redo the {subject} quiz?",
        ),
    },
    "grandparent": {
        "reported": (
            "How is school going, sweetheart?",
            "Grandpa says hello",
            "We miss you, come visit soon",
            "Did you get the cookies I sent?",
            "The garden is full of tomatoes this year",
            "We watched your {sport} game video, so proud",
        ),
        "reporter": (
            "Love you grandma",
            "School is good!",
            "Thank you for the card",
            "Can we make pancakes when I visit?",
            "Tell grandpa I said hi",
            "I miss you too",
        ),
    },
    "adult_friend": {
        "reported": (
            "How was work today?",
            "Are you still doing the {sport} league?",
            "Did you finish the book?",
            "Traffic was awful this morning",
            "My boss moved the meeting again",
            "I finally booked my vacation",
        ),
        "reporter": (
            "Work was long lol",
            "I'm so ready for the weekend",
            "Did you see the {sport} game?",
            "My landlord finally fixed the heater",
            "I started a pottery class",
            "My car is in the shop again",
        ),
    },
}

# Benign sentences mentioning an identity; never tied to any risk cue.
_IDENTITY_LINES: dict[str, tuple[str, ...]] = {
    "lgbtq": (
        "My moms are coming to watch on Saturday",
        "I'm gay btw, just so you know",
        "I'm bi, my friends were really cool about it",
        "I'm going to the pride picnic with my cousins",
        "My dads are making pancakes for everyone",
        "I'm trans and my new name is finally on the class list",
        "We're starting a pride club at school",
        "I go by they/them btw",
    ),
    "religion": (
        "My church group meets on Sundays",
        "I'm fasting for Ramadan so I'm kind of tired",
        "We have Shabbat dinner at my grandma's on Fridays",
        "I have temple with my family this weekend",
        "Can't tonight, it's youth group at the mosque",
        "We're lighting the Diwali lamps tonight",
        "I'm going to my cousin's bar mitzvah",
        "Our church choir has a concert on Sunday",
    ),
    "ethnicity": (
        "My family's Korean so we're celebrating Chuseok this week",
        "I'm helping my abuela cook for the party",
        "We're Nigerian so my mom makes jollof every Sunday",
        "I'm half Mexican half Irish lol",
        "My grandpa is teaching me Mandarin",
        "We're going to the Lunar New Year parade",
        "My family is from Somalia, my aunt makes the best sambusa",
        "I'm Navajo and we're going to a powwow this summer",
    ),
    "disability": (
        "I'm deaf so I use captions for everything",
        "I use a wheelchair so I need places with a ramp",
        "I have ADHD so homework takes me forever",
        "I'm autistic so loud places are a lot for me",
        "I have dyslexia so I use text to speech",
        "I'm blind so my screen reader reads me the chat",
        "I have a guide dog, her name is Biscuit",
        "I have epilepsy so I turn the flashing effects off",
    ),
}

# The minor's replies to an escalation move.
_GO_ALONG: dict[str, tuple[str, ...]] = {
    "trust_building": (
        "Aw thanks",
        "Haha thank you",
        "Really? Thanks",
        "Lol thanks",
        "That's nice of you",
        "Aww",
        "Thanks, that means a lot",
        "Omg stop lol",
    ),
    "personal_info_probing": (
        "I'm {age}",
        "{age}, why",
        "I'm in {grade} grade",
        "I go to {school}",
        "Yeah I'm alone rn",
        "They get home around 6",
        "Yeah I have my own room",
        "I'm {age} lol, you?",
    ),
    "relationship_probing": (
        "No lol",
        "Not really",
        "No, why",
        "There's someone but idk",
        "Nope, single lol",
        "Kinda, it's complicated",
        "Why do you want to know",
        "No one likes me like that lol",
    ),
    "secrecy": (
        "Ok I won't",
        "Ok",
        "Fine, I won't tell",
        "Ok promise",
        "I won't say anything",
        "Sure, our secret",
        "My lips are sealed",
        "Ok I deleted them",
    ),
    "isolation": (
        "Yeah kinda",
        "I guess they don't get me",
        "Maybe you're right",
        "Yeah",
        "They can be annoying",
        "Idk, they're ok sometimes",
        "My mom is really strict",
        "You get me more than they do",
    ),
    "gifts_or_money": (
        "Omg really? Thanks",
        "Wait for real?",
        "Ok thanks!",
        "That would be cool",
        "No way, thank you",
        "My username is the same as here",
        "I've always wanted that",
        "Are you sure?",
    ),
    "platform_move": (
        "Ok what's your name on there",
        "Ok I'll download it",
        "Sure, I'll add you",
        "I don't have it but I can get it",
        "What's your username",
        "Ok sent you a request",
        "Is it free?",
        "Ok one sec, downloading",
    ),
    "image_request": (
        "Maybe later",
        "Ok one sec",
        "I don't have a good one",
        "I look bad today lol",
        "Ok here",
        "My camera is bad",
        "Wait let me find one",
        "Maybe tomorrow",
    ),
    "meeting_request": (
        "Maybe, I'd need a ride",
        "Idk where that is",
        "Maybe this weekend",
        "Where exactly?",
        "I can't drive lol",
        "Maybe if I finish homework",
        "I'd have to check",
        "That's kinda far",
    ),
}
_DEFLECT: tuple[str, ...] = (
    "Lol why",
    "Idk",
    "Haha maybe",
    "Why do you ask?",
    "Anyway did you see the new {game} update?",
    "Lol ok",
    "Hmm",
    "Brb dinner",
    "Wait what",
    "Idk about that",
    "Anyway",
    "Gtg soon",
)
# Declining: said to anyone, then what only a stranger's move draws.
_DECLINE: tuple[str, ...] = (
    "No thanks",
    "I have to ask my mom",
    "I'd rather not",
    "I don't think so",
    "No",
    "Nah I'm good",
    "Not now",
    "Can it wait?",
    "Hmm no",
    "I can't right now",
    "I'm gonna ask my parents first",
    "Idk if I can",
)
_DECLINE_RISKY: tuple[str, ...] = (
    "I'm not allowed to",
    "That's kinda weird",
    "My dad says I can't",
    "That makes me uncomfortable",
    "Please stop asking",
    "Why would you want that",
    "I don't really know you",
    "That's a weird thing to ask",
)
# Replies to a benign cue.
_CUE_GO_ALONG: tuple[str, ...] = (
    "Ok",
    "Sure",
    "Sounds good",
    "Got it",
    "Thanks!",
    "Will do",
    "Haha ok",
    "Ok cool",
    "Yep",
    "Ok!",
    "On it",
    "Yay thank you",
)
_CUE_DECLINE: tuple[str, ...] = (
    "Do I have to?",
    "Ugh fine",
    "Five more minutes",
    "No way lol",
    "Only if I get pizza",
    "Hmm idk",
    "Can {name} come too?",
    "Nah",
)

_TEXTSPEAK: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"\b{pattern}\b"), short)
    for pattern, short in (
        ("i don't know", "idk"),
        ("to be honest", "tbh"),
        ("honestly", "tbh"),
        ("right now", "rn"),
        ("by the way", "btw"),
        ("going to be", "gonna be"),
        ("want to", "wanna"),
        ("you're", "ur"),
        ("your", "ur"),
        ("you", "u"),
        ("are", "r"),
        ("because", "cuz"),
        ("please", "pls"),
        ("okay", "ok"),
        ("though", "tho"),
        ("people", "ppl"),
        ("thanks", "thx"),
        ("tonight", "tonite"),
        ("tomorrow", "tmrw"),
        ("seriously", "srsly"),
    )
)
# A learner's constructions: (pattern, replacement); each applies with non_native_rate.
_NON_NATIVE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"\b{pattern}\b", re.IGNORECASE), replacement)
    for pattern, replacement in (
        ("I'm", "I am"),
        ("don't", "not"),
        ("you're", "you are"),
        ("it's", "it is"),
        ("can't", "cannot"),
        ("the ", ""),
        ("a ", ""),
        ("do you have", "you have"),
        ("are you", "you are"),
        ("how old are you", "how many years you have"),
        ("did you", "you did"),
        ("I want to", "I want"),
        ("on Saturday", "in Saturday"),
        ("at the", "in the"),
    )
)
# Spanish-English code-switching: English word -> Spanish; each occurrence with code_switch_rate.
_SPANISH: dict[str, str] = {
    "yes": "sí",
    "friend": "amigo",
    "friends": "amigos",
    "mom": "mamá",
    "dad": "papá",
    "parents": "papás",
    "school": "la escuela",
    "tomorrow": "mañana",
    "today": "hoy",
    "tonight": "esta noche",
    "thanks": "gracias",
    "thank you": "gracias",
    "really": "en serio",
    "later": "luego",
    "home": "casa",
    "house": "casa",
    "family": "familia",
    "weekend": "fin de semana",
    "grandma": "abuela",
    "grandpa": "abuelo",
    "brother": "hermano",
    "sister": "hermana",
    "homework": "tarea",
    "lol": "jaja",
    "haha": "jaja",
    "good": "bueno",
    "very": "muy",
    "dinner": "cena",
    "party": "fiesta",
    "birthday": "cumpleaños",
    "photo": "foto",
    "pic": "foto",
    "secret": "secreto",
    "gift": "regalo",
    "money": "dinero",
    "teacher": "maestra",
    "please": "por favor",
    "sorry": "perdón",
    "wait": "espera",
    "now": "ahora",
}
_SPANISH_PATTERN = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SPANISH), key=len, reverse=True)) + r")\b", re.I)
_SPANISH_OPENERS: tuple[str, ...] = ("Oye, ", "Pues ", "Bueno, ", "Ay, ", "Mira, ")
_SPANISH_CLOSERS: tuple[str, ...] = (" jaja", ", ¿no?", " porfa", " pues", ", ¿sí?")
_EMOJI: tuple[str, ...] = (
    "😂",
    "😊",
    "👍",
    "🙂",
    "😅",
    "🎮",
    "⚽",
    "🎵",
    "🐶",
    "🙃",
    "😎",
    "🔥",
    "✨",
    "😭",
    "💯",
    "🤔",
    "🏀",
    "📚",
    "🍕",
)
# Obfuscations of the robustness suite.
_LEET: dict[str, str] = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "g": "9", "b": "8"}
# Latin letters -> Cyrillic or Greek lookalikes that NFKC leaves alone.
_HOMOGLYPHS: dict[str, str] = {
    "a": "\u0430",
    "c": "\u0441",
    "e": "\u0435",
    "i": "\u0456",
    "j": "\u0458",
    "o": "\u043e",
    "p": "\u0440",
    "s": "\u0455",
    "x": "\u0445",
    "y": "\u0443",
    "A": "\u0410",
    "B": "\u0412",
    "C": "\u0421",
    "E": "\u0415",
    "H": "\u041d",
    "K": "\u041a",
    "M": "\u041c",
    "O": "\u041e",
    "P": "\u0420",
    "T": "\u0422",
    "X": "\u0425",
}
_EMOJI_WORDS: dict[str, str] = {
    "pic": "📸",
    "pics": "📸",
    "photo": "📸",
    "picture": "📸",
    "selfie": "🤳",
    "camera": "📷",
    "video": "📹",
    "meet": "🤝",
    "home": "🏠",
    "house": "🏠",
    "secret": "🤫",
    "gift": "🎁",
    "present": "🎁",
    "money": "💰",
    "coins": "🪙",
    "card": "💳",
    "phone": "📱",
    "app": "📲",
    "text": "💬",
    "chat": "💬",
    "chats": "💬",
    "messages": "💬",
    "game": "🎮",
    "school": "🏫",
    "drive": "🚗",
    "ride": "🚗",
    "parents": "👪",
    "mom": "👩",
    "dad": "👨",
    "friends": "👯",
    "call": "📞",
    "tonight": "🌙",
    "weekend": "📅",
    "delete": "🗑",
    "birthday": "🎂",
    "party": "🎉",
    "old": "🎂",
    "age": "🎂",
    "talk": "💬",
    "talking": "💬",
    "message": "💬",
    "number": "🔢",
    "smart": "🧠",
    "smarter": "🧠",
    "special": "⭐",
    "gems": "💎",
    "tell": "🤐",
    "alone": "🙋",
    "live": "🏡",
    "town": "🏙",
    "city": "🏙",
    "fake": "🤥",
    "ignore": "🙉",
    "buy": "🛒",
    "pay": "💸",
    "download": "⬇",
    "skin": "👕",
    "mall": "🛍",
    "park": "🌳",
    "library": "📚",
    "cinema": "🎬",
    "arcade": "🕹",
    "funny": "😂",
    "laugh": "😂",
    "trust": "🤞",
    "crush": "😳",
    "dating": "😳",
    "together": "👫",
    "friend": "👯",
}
_EMOJI_PATTERN = re.compile(r"\b(" + "|".join(sorted(_EMOJI_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)
_FORMATTER = string.Formatter()


# --------------------------------------------------------------------------- phrasings


def _part(entries: tuple, phrasing: str, every: int) -> tuple:
    """The entries of one phrasing: held-out are those at positions every-1, 2*every-1, ..."""
    if phrasing == "all":
        return entries
    held = phrasing == HELDOUT
    return tuple(e for i, e in enumerate(entries) if (i % every == every - 1) == held)


@dataclass(frozen=True)
class _Pools:
    """Every phrase pool of one phrasing."""

    fillers: dict[str, tuple[str, ...]]
    signals: dict[str, tuple[str, ...]]
    hard_negative: dict[str, dict[str, tuple[tuple[str, str], ...]]]  # relationship -> signal -> (role, template)
    shared: dict[str, tuple[str, ...]]
    greetings: tuple[str, ...]
    acks: tuple[str, ...]
    topics: dict[str, tuple[str, ...]]
    relationship_talk: dict[str, dict[str, tuple[str, ...]]]
    identity: dict[str, tuple[str, ...]]
    go_along: dict[str, tuple[str, ...]]
    deflect: tuple[str, ...]
    decline: tuple[str, ...]
    decline_risky: tuple[str, ...]
    cue_go_along: tuple[str, ...]
    cue_decline: tuple[str, ...]


FAMILY = "family"


def family_phrasing(fold: int, folds: int, held_out: bool) -> str:
    """The phrasing of template-family cross-validation: each signal's escalation templates and
    plain wordings are cut into `folds` families by position (entry i is in family i % folds);
    fold `fold` holds out family `fold` (`held_out`) or keeps every other family. Everything that
    is not an escalation move is the seen phrasing."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is not in 0..{folds - 1}")
    return f"{FAMILY}:{fold}:{folds}:{'held' if held_out else 'rest'}"


def _family_part(entries: tuple, phrasing: str) -> tuple:
    _, fold, folds, which = phrasing.split(":")
    held = which == "held"
    return tuple(e for i, e in enumerate(entries) if (i % int(folds) == int(fold)) == held)


@functools.cache
def _pools(phrasing: str, every: int) -> _Pools:
    family = phrasing.startswith(FAMILY)

    def part(entries: tuple) -> tuple:
        return _part(entries, SEEN if family else phrasing, every)

    def escalation(entries: tuple) -> tuple:
        return _family_part(entries, phrasing) if family else part(entries)

    hard: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for signal, entries in _HARD_NEGATIVE_CUES.items():
        for relationships, role, template in part(entries):
            for relationship in relationships:
                hard.setdefault(relationship, {}).setdefault(signal, []).append((role, template))
    return _Pools(
        fillers={k: part(v) for k, v in _FILLERS.items()},
        signals={k: escalation(v) for k, v in _SIGNAL_TEMPLATES.items()},
        hard_negative={r: {s: tuple(t) for s, t in by.items()} for r, by in hard.items()},
        shared={k: escalation(v) for k, v in _SHARED_CUES.items()},
        greetings=part(_GREETINGS),
        acks=part(_ACKS),
        topics={k: part(v) for k, v in _TOPICS.items()},
        relationship_talk={r: {role: part(t) for role, t in by.items()} for r, by in _RELATIONSHIP_TALK.items()},
        identity={k: part(v) for k, v in _IDENTITY_LINES.items()},
        go_along={k: part(v) for k, v in _GO_ALONG.items()},
        deflect=part(_DEFLECT),
        decline=part(_DECLINE),
        decline_risky=part(_DECLINE_RISKY),
        cue_go_along=part(_CUE_GO_ALONG),
        cue_decline=part(_CUE_DECLINE),
    )


def _pool_tuples() -> list[tuple[str, tuple]]:
    """Every phrase pool as (name, entries), the unit the held-out cut applies to."""
    pools: list[tuple[str, tuple]] = [
        ("greetings", _GREETINGS),
        ("acks", _ACKS),
        ("deflect", _DEFLECT),
        ("decline", _DECLINE),
        ("decline_risky", _DECLINE_RISKY),
        ("cue_go_along", _CUE_GO_ALONG),
        ("cue_decline", _CUE_DECLINE),
    ]
    pools += [(f"fillers.{k}", v) for k, v in _FILLERS.items()]
    pools += [(f"signals.{k}", v) for k, v in _SIGNAL_TEMPLATES.items()]
    pools += [(f"hard_negative.{k}", tuple(t for _, _, t in v)) for k, v in _HARD_NEGATIVE_CUES.items()]
    pools += [(f"shared.{k}", v) for k, v in _SHARED_CUES.items()]
    pools += [(f"topics.{k}", v) for k, v in _TOPICS.items()]
    pools += [(f"relationship_talk.{r}.{role}", t) for r, by in _RELATIONSHIP_TALK.items() for role, t in by.items()]
    pools += [(f"identity.{k}", v) for k, v in _IDENTITY_LINES.items()]
    pools += [(f"go_along.{k}", v) for k, v in _GO_ALONG.items()]
    return pools


# --------------------------------------------------------------------------- helpers


def _slots(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def _realise(template: str, rng: random.Random, fillers: dict[str, tuple[str, ...]], context: dict[str, str]) -> str:
    values: dict[str, str] = {}
    for name in _slots(template):
        if name not in values:
            values[name] = context[name] if name in context else rng.choice(fillers[name])
    return template.format(**values)


def _expansions(template: str, fillers: dict[str, tuple[str, ...]] | None = None) -> set[str]:
    """Every surface form of a template built from the filler pools (context slots kept as is)."""
    fillers = _FILLERS if fillers is None else fillers
    names = sorted(set(_slots(template)) - _CONTEXT_SLOTS)
    kept = {name: "{" + name + "}" for name in _CONTEXT_SLOTS}
    return {
        template.format(**kept, **dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(fillers[n] for n in names))
    }


def _pool_strings() -> list[str]:
    """Every string of every phrase pool, templates unexpanded (for content checks)."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, tuple):
            for item in value:
                walk(item)

    for pool in (
        _FILLERS,
        _SIGNAL_TEMPLATES,
        _HARD_NEGATIVE_CUES,
        _SHARED_CUES,
        _GREETINGS,
        _ACKS,
        _TOPICS,
        _RELATIONSHIP_TALK,
        _IDENTITY_LINES,
        _GO_ALONG,
        _DEFLECT,
        _DECLINE,
        _DECLINE_RISKY,
        _CUE_GO_ALONG,
        _CUE_DECLINE,
        tuple(_SPANISH.values()),
        _SPANISH_OPENERS,
        _SPANISH_CLOSERS,
    ):
        walk(pool)
    return found


def escalation_phrases(phrasing: str = "all", every: int | None = None) -> dict[str, list[str]]:
    """Every surface form of each signal's escalation moves (what the reported adult says in a
    risky conversation: the signal's own templates and its plain shared wordings), for the
    `seen` or the `heldout` phrasing (cut every `every` entries, as generate.heldout_every), or
    `all`; the discourse fillers (`Honestly, ...`, `... just curious?`), which frame benign
    messages as well, are left out."""
    if phrasing != "all" and every is None:
        raise ValueError("escalation_phrases: the seen or held-out phrasing needs `every`")
    every = every or 1
    fillers = {k: ("",) if k in _DISCOURSE_SLOTS else _part(v, phrasing, every) for k, v in _FILLERS.items()}
    return {
        signal: sorted(
            set().union(
                *(_expansions(t, fillers) for t in _part(templates, phrasing, every)),
                *(_expansions(t, fillers) for t in _part(_SHARED_CUES[signal], phrasing, every)),
            )
        )
        for signal, templates in _SIGNAL_TEMPLATES.items()
    }


def background_phrases() -> list[str]:
    """Every surface form of what is neither a move nor a cue, in every phrasing: small talk
    (greetings, acknowledgements, topics, relationship talk), identity mentions and replies."""
    templates = [*_GREETINGS, *_ACKS, *(t for v in _TOPICS.values() for t in v)]
    templates += [t for by in _RELATIONSHIP_TALK.values() for v in by.values() for t in v]
    templates += [t for v in _IDENTITY_LINES.values() for t in v]
    templates += [t for v in _GO_ALONG.values() for t in v]
    templates += [*_DEFLECT, *_DECLINE, *_DECLINE_RISKY, *_CUE_GO_ALONG, *_CUE_DECLINE]
    return sorted(set().union(*(_expansions(t) for t in templates)))


def _derive_seed(*parts: object) -> int:
    # sha256 rather than hash(): string hashing varies with PYTHONHASHSEED.
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _pick(rng: random.Random, mix: dict[str, float]) -> str:
    keys = sorted(mix)
    return rng.choices(keys, weights=[mix[k] for k in keys])[0]


def _band(age: int) -> str:
    if age < 13:
        return "under_13"
    if age <= 15:
        return "13-15"
    if age <= 17:
        return "16-17"
    return "adult"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _composition(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` split at random into `parts` non-negative integers."""
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    bounds = [0, *cuts, total]
    return [b - a for a, b in itertools.pairwise(bounds)]


# --------------------------------------------------------------------------- styles


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _non_native(text: str, rng: random.Random, rate: float) -> str:
    for pattern, replacement in _NON_NATIVE:
        if rng.random() < rate:
            text = pattern.sub(replacement, text)
    if text.endswith("?") and rng.random() < rate:
        text = text[:-1] + ", yes?"
    return _capitalise(text.strip()) or text


def _code_switch(text: str, rng: random.Random, rate: float) -> str:
    text = _SPANISH_PATTERN.sub(lambda m: _SPANISH[m.group(0).lower()] if rng.random() < rate else m.group(0), text)
    if rng.random() < rate:
        keep = text.split(" ", 1)[0] in _KEEP_CAPITAL
        text = rng.choice(_SPANISH_OPENERS) + (text if keep else text[:1].lower() + text[1:])
    if rng.random() < rate:
        text = text.rstrip(".!") + rng.choice(_SPANISH_CLOSERS)
    return text


def _apply_style(text: str, style: str, rng: random.Random, config: SyntheticConfig) -> str:
    text = _capitalise(text)
    if style == "textspeak":
        text = text.lower()
        for pattern, short in _TEXTSPEAK:
            text = pattern.sub(short, text)
        text = text.replace("'", "").rstrip(".")
    elif style == "typo_heavy":
        words = text.split(" ")
        text = " ".join(
            _typo(w, rng) if len(w) >= 3 and w.isalpha() and rng.random() < config.typo_rate else w for w in words
        )
    elif style == "emoji_heavy" and rng.random() < config.emoji_rate:
        text = f"{text} {''.join(rng.choice(_EMOJI) for _ in range(rng.randint(1, 3)))}"
    elif style == "non_native":
        text = _non_native(text, rng, config.non_native_rate)
    elif style == "code_switch":
        text = _code_switch(text, rng, config.code_switch_rate)
    return text


def _obfuscate(text: str, kind: str, rng: random.Random, rate: float) -> str:
    """One obfuscation of the robustness suite, as evaders use it against keyword filters."""
    if kind == "leetspeak":
        out = "".join(_LEET[c.lower()] if c.lower() in _LEET and rng.random() < rate else c for c in text)
    elif kind == "homoglyph":
        out = "".join(_HOMOGLYPHS[c] if c in _HOMOGLYPHS and rng.random() < rate else c for c in text)
    elif kind == "spaced":

        def spaced(match: re.Match[str]) -> str:
            word = match.group(0)
            if rng.random() >= rate:
                return word
            if rng.random() < 0.5:  # letter by letter, or one space inside the word
                return " ".join(word)
            cut = rng.randint(1, len(word) - 1)
            return f"{word[:cut]} {word[cut:]}"

        out = re.sub(r"[A-Za-z]{4,}", spaced, text)
    else:
        out = _EMOJI_PATTERN.sub(lambda m: _EMOJI_WORDS[m.group(0).lower()], text)
    return out


# --------------------------------------------------------------------------- conversations


@dataclass
class _Turn:
    sender: str  # "u1" (reporter) or "u2" (reported)
    text: str
    signals: tuple[str, ...] = ()  # escalation: the label of the message
    cues: tuple[str, ...] = ()  # the signals it expresses in form, escalation or not
    small_talk: bool = False


@dataclass
class _Context:
    rng: random.Random
    config: SyntheticConfig
    relationship: str
    talk: str  # whose relationship small talk the reported party makes (a posing adult: online_peer)
    pools: _Pools
    topic_pool: tuple[str, ...]
    values: dict[str, str]  # slots fixed by the conversation (the reporter's age, grade)
    plain: bool = False  # every move or cue in plain shared wordings

    def realise(self, template: str) -> str:
        return _realise(template, self.rng, self.pools.fillers, self.values)

    def frame(self, text: str, frame: tuple[str, str] | None = None) -> str:
        """`text` between discourse fillers, as escalation templates have them."""
        if frame is None:
            frame = ("ask", "q") if text.endswith("?") else self.rng.choice(_STATEMENT_FRAMES)
        before, after = frame
        if not before:
            return text
        head, tail = self.rng.choice(self.pools.fillers[before]), self.rng.choice(self.pools.fillers[after])
        if after == "q":
            text = text[:-1] + tail if text.endswith("?") else text
        elif tail and not text.endswith("?"):
            text = text.rstrip(".!") + tail
        if head:
            first = text.split(" ", 1)[0]
            text = head + (text if first in _KEEP_CAPITAL else text[:1].lower() + text[1:])
        return text


_ROLE_OF = {"u1": "reporter", "u2": "reported"}
_ID_OF = {"reporter": "u1", "reported": "u2"}


def _other(sender: str) -> str:
    return "u2" if sender == "u1" else "u1"


def _small_talk(ctx: _Context, turns: list[_Turn], count: int, initiator: str) -> None:
    for _ in range(count):
        sender = _other(turns[-1].sender) if turns else initiator
        if not turns:
            template = ctx.rng.choice(ctx.pools.greetings)
        elif ctx.rng.random() < ctx.config.relationship_talk_rate:
            talk = ctx.talk if sender == "u2" else ctx.relationship
            template = ctx.rng.choice(ctx.pools.relationship_talk[talk][_ROLE_OF[sender]])
        else:
            template = ctx.rng.choice(ctx.topic_pool)
        text = ctx.realise(template)
        if turns and ctx.rng.random() < ctx.config.small_talk_filler_rate:
            text = ctx.frame(text)
        turns.append(_Turn(sender, text, small_talk=True))


def _layout(ctx: _Context, n: int, events: int) -> tuple[int, list[int], str]:
    """Opening length, small talk after each event, and the escalation speed: `fast` (events
    early and close together), `late` (a long conversation's events after a long benign
    opening) or `slow` (events after at least half of the small talk)."""
    rng, c = ctx.rng, ctx.config
    budget = n - 2 * events  # small-talk messages, >= 1
    if rng.random() < c.fast_escalation_rate:
        opening = rng.randint(1, max(1, min(budget, c.fast_opening_max_messages)))
        rest, gaps = budget - opening, []
        for _ in range(events - 1):
            gaps.append(rng.randint(0, min(rest, c.fast_gap_max_messages)))
            rest -= gaps[-1]
        return opening, [*gaps, rest], "fast"
    if n >= c.long_messages[0] and budget >= c.late_opening_min_messages:
        opening, speed = rng.randint(c.late_opening_min_messages, budget), "late"
    else:
        low = max(1, math.ceil(budget * c.slow_opening_min_share))
        opening, speed = rng.randint(low, budget), "slow"
    return opening, _composition(rng, budget - opening, events), speed


def _reply(ctx: _Context, signal: str, risky: bool) -> str:
    kind = _pick(ctx.rng, ctx.config.reply_mix)
    p = ctx.pools
    # Going along and deflecting sound alike whoever asks; some ways of declining do not.
    if kind == "go_along":
        pool = p.go_along[signal] + p.cue_go_along
    elif kind == "deflect":
        pool = p.deflect
    else:
        pool = p.decline + (p.decline_risky if risky else p.cue_decline)
    return ctx.realise(ctx.rng.choice(pool))


def _move(ctx: _Context, signal: str) -> str:
    """A risky adult's escalation move: the signal's own templates, or a plain shared wording."""
    if ctx.plain or ctx.rng.random() < ctx.config.shared_cue_rate:
        return ctx.frame(ctx.realise(ctx.rng.choice(ctx.pools.shared[signal])), _FRAMES.get(signal, ("", "")))
    return ctx.realise(ctx.rng.choice(ctx.pools.signals[signal]))


def _risky_turns(ctx: _Context, n: int, initiator: str) -> tuple[list[_Turn], dict[str, Any]]:
    rng, config = ctx.rng, ctx.config
    k = rng.randint(config.min_signals, min(config.max_signals, (n - 1) // 2))
    chosen = sorted(rng.sample(SIGNALS, k), key=_STAGE.__getitem__)  # stable: random in stage
    moves: list[tuple[str, ...]] = []
    for signal in chosen:
        if moves and len(moves[-1]) == 1 and rng.random() < config.combined_move_rate:
            moves[-1] = (*moves[-1], signal)
        else:
            moves.append((signal,))
    partial = len(moves) >= 2 and rng.random() < config.partial_rate
    if partial:
        moves = moves[: rng.randint(1, len(moves) - 1)]
    opening, fills, speed = _layout(ctx, n, len(moves))
    turns: list[_Turn] = []
    _small_talk(ctx, turns, opening, initiator)
    for move, fill in zip(moves, fills, strict=True):
        parts = [_move(ctx, s) for s in move]
        turns.append(_Turn("u2", " ".join(parts), signals=move, cues=move))
        turns.append(_Turn("u1", _reply(ctx, move[-1], risky=True)))
        _small_talk(ctx, turns, fill, initiator)
    return turns, {"escalation": speed, "partial": partial, "hard_negative_kind": "none"}


def _benign_turns(ctx: _Context, n: int, initiator: str, hard_negative: bool) -> tuple[list[_Turn], dict[str, Any]]:
    rng, config = ctx.rng, ctx.config
    turns: list[_Turn] = []
    groups = {"escalation": "none", "partial": False, "hard_negative_kind": "none"}
    if not hard_negative:
        _small_talk(ctx, turns, n, initiator)
        return turns, groups
    table = ctx.pools.hard_negative.get(ctx.relationship, {})
    shared = set(ctx.pools.shared) - _UNSHARED_CUES.get(ctx.relationship, frozenset())
    available = sorted(shared if ctx.plain else set(table) | shared)
    if not available:
        raise ValueError(f"generate: no hard-negative cue for relationship {ctx.relationship!r} in this phrasing")
    high = min(config.hard_negative_max_cues, len(available), (n - 1) // 2)
    count = rng.randint(min(config.hard_negative_min_cues, high), high)
    cues = rng.sample(available, count)  # in any order: benign cues do not escalate
    opening, fills, _ = _layout(ctx, n, count)
    _small_talk(ctx, turns, opening, initiator)
    for signal, fill in zip(cues, fills, strict=True):
        if signal in shared and (ctx.plain or signal not in table or rng.random() < config.shared_cue_rate):
            role = rng.choice(("reporter", "reported")) if ctx.relationship in _PEER_SPEECH else "reported"
            template = rng.choice(ctx.pools.shared[signal])
        else:
            role, template = rng.choice(table[signal])
        sender = _ID_OF[role]
        text = ctx.frame(ctx.realise(template), _FRAMES.get(signal, ("", "")))
        turns.append(_Turn(sender, text, cues=(signal,)))
        turns.append(_Turn(_other(sender), _reply(ctx, signal, risky=False)))
        _small_talk(ctx, turns, fill, initiator)
    groups["hard_negative_kind"] = cues[0]
    return turns, groups


def _mention_identity(ctx: _Context, turns: list[_Turn], identity: str) -> None:
    # Prefer the reporter's own small talk, never the opening greeting.
    talk = [i for i, t in enumerate(turns) if t.small_talk and i > 0]
    mine = [i for i in talk if turns[i].sender == "u1"]
    index = ctx.rng.choice(mine or talk or [0])
    turns[index].text = ctx.rng.choice(ctx.pools.identity[identity])


def _timestamps(rng: random.Random, config: SyntheticConfig, count: int, risky: bool) -> list[str]:
    low, high = config.start_hours["risky" if risky else "benign"]
    moment = datetime.fromisoformat(config.start_date).replace(tzinfo=UTC) + timedelta(
        days=rng.randrange(config.date_span_days),
        hours=rng.randint(low, high),
        minutes=rng.randrange(60),
        seconds=rng.randrange(60),
    )
    stamps = []
    for i in range(count):
        if i:
            gap = rng.lognormvariate(math.log(config.gap_median_seconds), config.gap_sigma)
            if rng.random() < config.long_gap_rate:
                gap += 3600 * rng.uniform(*config.long_gap_hours)
            moment += timedelta(seconds=max(1, round(gap)))  # strictly increasing
        stamps.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return stamps


def _metadata(rng: random.Random, p: MetadataProfile, initiated: bool, gap: int) -> dict[str, Any]:
    return {
        "reported_account_age_days": int(
            rng.lognormvariate(math.log(p.account_age_days_median), p.account_age_days_sigma)
        ),
        "reported_minor_contacts_30d": int(
            rng.lognormvariate(math.log(p.minor_contacts_30d_median), p.minor_contacts_30d_sigma)
        ),
        "reported_prior_reports": _poisson(rng, p.prior_reports_mean),
        "reported_prior_blocks": _poisson(rng, p.prior_blocks_mean),
        "initiated_by_reported": initiated,
        "age_gap_years": gap,
    }


def _ages(rng: random.Random, config: SyntheticConfig, relationship: str) -> tuple[int, int]:
    """Ages of the reporter and of the reported party."""
    if relationship == "adult_friend":
        reporter = rng.randint(*config.reporter_ages["adult"])
    else:
        reporter = rng.randint(*config.reporter_ages[_pick(rng, config.reporter_age_mix)])
    if relationship in _PEER_RELATIONSHIPS:
        return reporter, rng.randint(*config.reporter_ages[_band(reporter)])
    other = reporter + rng.randint(*config.age_gap_years[relationship])
    if relationship in _ADULT_RELATIONSHIPS:
        other = max(other, _ADULT_AGE)
    return reporter, other


def _conversation(
    config: SyntheticConfig,
    split: str,
    index: int,
    kind: str,
    phrasing: str,
    relationship: str | None = None,
    obfuscation: str = "none",
) -> dict[str, Any]:
    """One record; `kind` is "risky", "hard_negative" or "benign"."""
    rng = random.Random(_derive_seed(config.seed, split, index))
    risky = kind == "risky"
    if relationship is None:
        relationship = _pick(rng, config.risky_relationship_mix if risky else config.benign_relationship_mix)
    reporter_age, other_age = _ages(rng, config, relationship)
    reporter_gender, other_gender = _pick(rng, config.gender_mix), _pick(rng, config.gender_mix)
    profile = config.metadata[PROFILE_OF[relationship]]
    initiated = rng.random() < profile.initiated_by_reported_rate
    pools = _pools(phrasing, config.heldout_every)
    topics = rng.sample(sorted(pools.topics), 2)
    posing = risky and rng.random() < config.posing_rate
    # What the platform knows is the declared age: an adult posing as a peer declares a peer's.
    declared_age = rng.randint(*config.reporter_ages[_band(reporter_age)]) if posing else other_age
    ctx = _Context(
        rng=rng,
        config=config,
        relationship=relationship,
        talk="online_peer" if posing else relationship,
        plain=rng.random() < config.plain_register_rate,
        pools=pools,
        topic_pool=(*pools.topics[topics[0]], *pools.topics[topics[1]], *pools.acks),
        values={"age": str(reporter_age), "grade": _ordinal(max(1, reporter_age - 5))},
    )
    long = rng.random() < config.long_conversation_rate
    n = rng.randint(*config.long_messages) if long else rng.randint(config.min_messages, config.max_messages)
    initiator = "u2" if initiated else "u1"
    if risky:
        turns, extra = _risky_turns(ctx, n, initiator)
    else:
        turns, extra = _benign_turns(ctx, n, initiator, kind == "hard_negative")
    identity = "none"
    if rng.random() < config.identity_mention_rate:
        identity = _pick(rng, config.identity_mix)
        _mention_identity(ctx, turns, identity)
    style = _pick(rng, config.style_mix)
    stamps = _timestamps(rng, config, len(turns), risky)
    messages = []
    for turn, ts in zip(turns, stamps, strict=True):
        text = _apply_style(turn.text, style, rng, config)
        if obfuscation != "none" and (turn.cues or rng.random() < config.obfuscated_message_rate):
            text = _obfuscate(text, obfuscation, rng, config.obfuscation_char_rate)
        messages.append(
            {"sender": turn.sender, "ts": ts, "text": text, "signals": list(turn.signals), "cues": list(turn.cues)}
        )
    reporter_band, other_band, declared_band = _band(reporter_age), _band(other_age), _band(declared_age)
    other_gender_word = _ADULT_GENDER[other_gender] if declared_band == "adult" else other_gender
    reporter_gender_word = _ADULT_GENDER[reporter_gender] if reporter_band == "adult" else reporter_gender
    return {
        "conversation_id": f"syn-{split}-{index:06d}",
        "opt_in": rng.random() >= config.opt_out_rate,
        "participants": [
            {"id": "u1", "role": "reporter", "age_band": reporter_band, "gender": reporter_gender_word},
            {"id": "u2", "role": "reported", "age_band": declared_band, "gender": other_gender_word},
        ],
        "messages": messages,
        "metadata": _metadata(rng, profile, initiated, abs(declared_age - reporter_age)),
        "label": int(risky),
        "signals": sorted({s for t in turns for s in t.signals}),
        "cues": sorted({s for t in turns for s in t.cues}),
        "groups": {
            "style": style,
            "identity_mention": identity,
            "relationship": relationship,
            "reporter_age_band": reporter_band,
            "reporter_gender": reporter_gender_word,
            "reported_age_band": other_band,
            "reported_gender": other_gender_word,
            "hard_negative": kind == "hard_negative",
            "length": "long" if long else "regular",
            "phrasing": phrasing,
            "obfuscation": obfuscation,
            "posing_as_peer": posing,
            "register": "plain" if ctx.plain else "typical",
            **extra,
        },
    }


# --------------------------------------------------------------------------- public API


def generate_split(config: SyntheticConfig, split: str) -> list[dict]:
    """The records of one split; the same for the same `(config, split)`.

    In-distribution splits and the `robustness` suite draw the seen phrasing, the `heldout`
    suite the held-out one; `hard_negatives` holds benign hard negatives only, the benign
    relationships in turn; `robustness` obfuscates every conversation, the kinds in turn."""
    if split not in config.conversations:
        raise KeyError(f"split {split!r} not in generate.conversations {sorted(config.conversations)}")
    count = config.conversations[split]
    suite = config.suite(split)
    phrasing = HELDOUT if suite == "heldout" else SEEN
    if suite == "hard_negatives":
        relationships = sorted(r for r, w in config.benign_relationship_mix.items() if w > 0)
        return [
            _conversation(
                config, split, i, "hard_negative", phrasing, relationship=relationships[i % len(relationships)]
            )
            for i in range(count)
        ]
    kinds = _kinds(config, split, count)
    obfuscations = config.obfuscations if suite == "robustness" else ("none",)
    return [
        _conversation(config, split, i, kind, phrasing, obfuscation=obfuscations[i % len(obfuscations)])
        for i, kind in enumerate(kinds)
    ]


def generate_family_fold(config: SyntheticConfig, name: str, count: int, phrasing: str) -> list[dict]:
    """`count` in-distribution conversations (the label and hard-negative mix of every split)
    whose escalation moves use the template families of `phrasing` (`family_phrasing`); `name`
    seeds them."""
    return [_conversation(config, name, i, kind, phrasing) for i, kind in enumerate(_kinds(config, name, count))]


def _kinds(config: SyntheticConfig, name: str, count: int) -> list[str]:
    """The kind of each of `count` in-distribution conversations: risky, hard negative or benign
    at the configured rates, in an order seeded by `name`."""
    risky = round(count * config.positive_rate)
    hard = round((count - risky) * config.hard_negative_rate)
    kinds = ["risky"] * risky + ["hard_negative"] * hard + ["benign"] * (count - risky - hard)
    random.Random(_derive_seed(config.seed, name, "kinds")).shuffle(kinds)
    return kinds


def generate(config: SyntheticConfig) -> dict[str, list[dict]]:
    """The records of every split named in `config.conversations`."""
    return {split: generate_split(config, split) for split in config.conversations}

"""Synthetic opt-in conversation reports: escalation grammar, hard negatives, styles, metadata.

Every escalation move is non-explicit by design (flattery, questions about age or place,
secrecy, isolation, gifts, moving to another app, asking for a photo, asking to meet).
The output follows the record format of ARCHITECTURE.md; the same `(config, split)` always
yields the same records.

Structure of a conversation of `n` messages (n drawn from [min_messages, max_messages] for
every label alike, so that length tells nothing about the label):

- an opening of benign small talk (short for "fast" escalations, long for "slow" ones);
- events, each followed by the other party's reply and some more small talk: for risky
  conversations the reported adult's escalation moves in stage order (trust and probing,
  then secrecy / isolation / gifts / platform move, then image and meeting requests); for
  hard negatives one relationship-appropriate cue (a parent asking whether the child is
  home alone, a coach naming where practice meets, ...), placed like the risky moves.

A writing style applies to every message of a conversation, from both participants.
"""

from __future__ import annotations

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

STYLES: tuple[str, ...] = ("standard", "textspeak", "typo_heavy", "emoji_heavy")
IDENTITIES: tuple[str, ...] = ("lgbtq", "religion", "ethnicity", "disability")
REPLY_KINDS: tuple[str, ...] = ("go_along", "deflect", "decline")
REPORTER_AGE_BANDS: tuple[str, ...] = ("under_13", "13-15", "16-17")
RISKY_RELATIONSHIPS: tuple[str, ...] = ("stranger", "online_friend")
BENIGN_RELATIONSHIPS: tuple[str, ...] = (
    "peer",
    "parent",
    "sibling",
    "coach",
    "teacher",
    "grandparent",
    "adult_friend",
)
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
    "adult_friend": "adult",
}
METADATA_PROFILES: tuple[str, ...] = ("risky", "educator", "family", "peer", "adult")
# Relationships whose reported party is an adult by definition.
_ADULT_RELATIONSHIPS = frozenset(
    {"stranger", "online_friend", "parent", "coach", "teacher", "grandparent", "adult_friend"}
)
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
    positive_rate: float  # share of risky conversations in a split (rounded to a count)
    hard_negative_rate: float  # share of benign conversations carrying escalation-like cues
    partial_rate: float  # share of risky conversations reported before their later moves
    min_messages: int
    max_messages: int
    min_signals: int  # distinct signals planned per risky conversation
    max_signals: int
    combined_move_rate: float  # chance that a move shares its message with the next one
    fast_escalation_rate: float  # share of conversations whose first event comes early
    fast_opening_max_messages: int  # longest small-talk opening of a fast escalation
    slow_opening_min_share: float  # shortest opening of a slow one, as a share of small talk
    reply_mix: dict[str, float]  # go_along / deflect / decline
    hard_negative_max_cues: int
    relationship_talk_rate: float  # share of small talk specific to the relationship
    style_mix: dict[str, float]
    typo_rate: float  # per-word chance of a typo in the typo_heavy style
    emoji_rate: float  # per-message chance of emoji in the emoji_heavy style
    identity_mention_rate: float  # same for risky and benign conversations
    identity_mix: dict[str, float]
    opt_out_rate: float
    reporter_age_mix: dict[str, float]  # under_13 / 13-15 / 16-17
    reporter_ages: dict[str, tuple[int, int]]  # years within each band, "adult" included
    gender_mix: dict[str, float]  # girl / boy / nonbinary (adults: woman / man / nonbinary)
    risky_relationship_mix: dict[str, float]
    benign_relationship_mix: dict[str, float]
    age_gap_years: dict[str, tuple[int, int]]  # every relationship but peer
    metadata: dict[str, MetadataProfile]  # keyed by METADATA_PROFILES
    start_date: str  # ISO date of the first day conversations may start
    date_span_days: int
    start_hours: dict[str, tuple[int, int]]  # UTC start hour range, for "risky" and "benign"
    gap_median_seconds: float
    gap_sigma: float
    long_gap_rate: float  # chance that a reply comes hours later
    long_gap_hours: tuple[int, int]

    def __post_init__(self) -> None:
        fix = object.__setattr__  # normalise what YAML gives (lists, nested mappings)
        fix(self, "reporter_ages", {k: _pair(v) for k, v in self.reporter_ages.items()})
        fix(self, "age_gap_years", {k: _pair(v) for k, v in self.age_gap_years.items()})
        fix(self, "start_hours", {k: _pair(v) for k, v in self.start_hours.items()})
        fix(self, "long_gap_hours", _pair(self.long_gap_hours))
        fix(
            self,
            "metadata",
            {k: v if isinstance(v, MetadataProfile) else MetadataProfile(**v) for k, v in self.metadata.items()},
        )
        _validate(self)


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
    for name in (
        "positive_rate",
        "hard_negative_rate",
        "partial_rate",
        "combined_move_rate",
        "fast_escalation_rate",
        "slow_opening_min_share",
        "relationship_talk_rate",
        "typo_rate",
        "emoji_rate",
        "identity_mention_rate",
        "opt_out_rate",
        "long_gap_rate",
    ):
        need(0.0 <= getattr(c, name) <= 1.0, f"{name} must be in [0, 1]")
    need(2 <= c.min_signals <= c.max_signals <= len(SIGNALS), "need 2 <= min <= max signals")
    need(c.hard_negative_max_cues >= 1, "hard_negative_max_cues must be >= 1")
    need(c.fast_opening_max_messages >= 1, "fast_opening_max_messages must be >= 1")
    # Room for every planned move and its reply, plus at least one opening message.
    need(c.min_messages >= 2 * c.min_signals + 1, "min_messages must be >= 2 * min_signals + 1")
    need(c.min_messages <= c.max_messages, "min_messages must be <= max_messages")
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
        if rel != "peer":
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


# --------------------------------------------------------------------------- phrase pools
# Templates use `{slot}` fillers; each signal expands to many distinct surface forms.
# Names of games, apps and bands are made up.

_FILLERS: dict[str, tuple[str, ...]] = {
    "lead": ("", "Honestly, ", "No joke, ", "I mean it, ", "You know what? "),
    "end": ("", ".", "!", ", seriously.", ", you know?"),
    "ask": ("", "So ", "Btw, ", "Random question, ", "Wait, ", "Hey, "),
    "q": ("?", "??", "? Just curious", "? lol"),
    "hey": ("", "Hey, ", "Listen, ", "Oh and ", "Just so you know, "),
    "why": (
        "",
        ", it's more private",
        ", it's way better",
        ", this app is glitchy",
        ", I'm barely on here",
        ", we can talk more there",
    ),
    "when": ("this weekend", "on Saturday", "after school", "tomorrow", "on Friday"),
    "ok": ("", ", ok?", ". Promise?", ", seriously.", ", deal?"),
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
    "subject": ("math", "science", "history", "English", "Spanish", "art", "geography"),
    "band": ("Static Bloom", "Lunar Tides", "Velvet Arcade", "The Maple Jets", "Neon Harbor"),
    "instrument": ("guitar", "drums", "piano", "violin", "trumpet"),
    "sport": ("soccer", "basketball", "volleyball", "swimming", "hockey", "baseball", "track"),
    "relative": ("grandma", "aunt", "uncle", "cousin", "grandpa"),
    "pet": ("dog", "cat", "hamster", "bunny", "parrot"),
    "film": ("Robot Summer", "Galaxy Pups", "Midnight Museum", "Ocean Quest 2", "Dragon Rider"),
    "name": ("Maya", "Leo", "Sam", "Priya", "Jordan", "Noah", "Zoe", "Omar", "Lily", "Eli"),
    "event": ("the sleepover", "practice", "family dinner", "the school trip", "movie night"),
    "school": ("Lincoln Middle", "Westbrook", "Riverside", "Oak Hill", "Maple Grove"),
}

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
    ),
    "sport": (
        "We won our {sport} game today!",
        "{sport} tryouts are next week",
        "I scored in {sport} today",
        "Did you watch the {sport} game?",
        "My legs hurt from {sport} practice",
        "Our {sport} team is actually good this year",
    ),
    "family": (
        "My {relative} is visiting this weekend",
        "My little brother won't stop yelling",
        "We're having tacos for dinner",
        "My {relative} made cookies",
        "We're going to my {relative}'s house on Sunday",
        "My {relative} is teaching me to cook",
    ),
    "homework": (
        "I'm stuck on the {subject} homework",
        "What did you get for number 4?",
        "The {subject} reading is so long",
        "Can you explain the {subject} worksheet?",
        "I still have {subject} homework lol",
        "Homework is taking forever tonight",
    ),
    "pets": (
        "My {pet} just knocked over a plant",
        "I have to walk my {pet}",
        "Our {pet} learned a new trick",
        "Do you have any pets?",
        "My {pet} is sleeping on my homework lol",
        "We might get a {pet}!",
    ),
    "weekend": (
        "Any plans for the weekend?",
        "I'm going to {place} on Saturday with my family",
        "This weekend is going to be so boring",
        "We're going camping this weekend",
        "I just want to sleep all weekend",
        "My cousin's birthday party is Saturday",
    ),
    "films": (
        "Have you seen {film}?",
        "{film} was so good",
        "We're watching {film} tonight",
        "The ending of {film} was so sad",
        "I want to see {film} at the cinema",
        "Is {film} worth watching?",
    ),
}

# Small talk typical of each relationship, by the role of its sender.
_RELATIONSHIP_TALK: dict[str, dict[str, tuple[str, ...]]] = {
    "stranger": {
        "reported": (
            "gg, want to run another round of {game}?",
            "What rank are you in {game}?",
            "I've been playing {game} since it came out",
            "Our squad needs one more for {game}",
            "That lag was terrible lol",
        ),
        "reporter": (
            "I'm still stuck on level 12 in {game}",
            "gg",
            "I mostly play {game} on weekends",
            "My internet is so slow today",
        ),
    },
    "online_friend": {
        "reported": (
            "You on {game} tonight?",
            "Did you see the new {game} event?",
            "Same squad as last time?",
            "I got a new headset, the sound is so much better",
        ),
        "reporter": (
            "I can play after dinner",
            "The new {game} event is kinda hard",
            "I only have an hour tonight",
            "Lol that match yesterday",
        ),
    },
    "peer": {
        "reported": (
            "Did you see what happened in {subject} today?",
            "Are you going to {name}'s party?",
            "Save me a seat at lunch tomorrow",
            "Omg the {subject} test was so hard",
        ),
        "reporter": (
            "I'm so tired",
            "Want to work on the {subject} project together?",
            "{name} was so funny in class today",
            "Can I borrow your {subject} notes?",
        ),
    },
    "parent": {
        "reported": (
            "Dinner's at 7",
            "Did you walk the {pet}?",
            "Don't forget your {sport} bag",
            "Love you, have a good day",
            "Call {relative} back when you can",
        ),
        "reporter": (
            "Can I stay at {name}'s until 8?",
            "Can you sign my {subject} form?",
            "I forgot my lunch lol",
            "Ok, love you too",
        ),
    },
    "sibling": {
        "reported": (
            "Stop taking my charger",
            "Mom says you have to do the dishes",
            "Can you feed the {pet}?",
            "Want to watch {film} later?",
        ),
        "reporter": (
            "It's your turn to take out the trash",
            "Can you drive me to {place}?",
            "Lol you're so annoying",
            "Where did you put the remote?",
        ),
    },
    "coach": {
        "reported": (
            "Great hustle at practice today",
            "Remember your water bottle tomorrow",
            "Game is moved to Saturday morning",
            "Team meeting after practice",
        ),
        "reporter": (
            "Ok coach",
            "Will we do drills tomorrow?",
            "My ankle feels better",
            "Do we need our away jerseys?",
        ),
    },
    "teacher": {
        "reported": (
            "Reminder: the {subject} essay is due Friday",
            "Nice work on the quiz",
            "Check the class page for the new assignment",
            "Bring your calculator tomorrow",
        ),
        "reporter": (
            "Can I get an extension on the {subject} project?",
            "I didn't understand question 3",
            "Thank you!",
            "Is the test open book?",
        ),
    },
    "grandparent": {
        "reported": (
            "How is school going, sweetheart?",
            "Grandpa says hello",
            "We miss you, come visit soon",
            "Did you get the cookies I sent?",
        ),
        "reporter": (
            "Love you grandma",
            "School is good!",
            "Thank you for the card",
            "Can we make pancakes when I visit?",
        ),
    },
    "adult_friend": {
        "reported": (
            "How was work today?",
            "Are you still doing the {sport} league?",
            "Did you finish the book?",
            "Traffic was awful this morning",
        ),
        "reporter": (
            "Work was long lol",
            "I'm so ready for the weekend",
            "Did you see the {sport} game?",
            "My landlord finally fixed the heater",
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
    ),
    "religion": (
        "My church group meets on Sundays",
        "I'm fasting for Ramadan so I'm kind of tired",
        "We have Shabbat dinner at my grandma's on Fridays",
        "I have temple with my family this weekend",
        "Can't tonight, it's youth group at the mosque",
    ),
    "ethnicity": (
        "My family's Korean so we're celebrating Chuseok this week",
        "I'm helping my abuela cook for the party",
        "We're Nigerian so my mom makes jollof every Sunday",
        "I'm half Mexican half Irish lol",
        "My grandpa is teaching me Mandarin",
    ),
    "disability": (
        "I'm deaf so I use captions for everything",
        "I use a wheelchair so I need places with a ramp",
        "I have ADHD so homework takes me forever",
        "I'm autistic so loud places are a lot for me",
        "I have dyslexia so I use text to speech",
    ),
}

_GO_ALONG: dict[str, tuple[str, ...]] = {
    "trust_building": ("Aw thanks", "Haha thank you", "Really? Thanks", "Lol thanks"),
    "personal_info_probing": ("I'm {age}", "{age}, why", "I'm in {grade} grade", "I go to {school}"),
    "relationship_probing": ("No lol", "Not really", "No, why", "There's someone but idk"),
    "secrecy": ("Ok I won't", "Ok", "Fine, I won't tell", "Ok promise"),
    "isolation": ("Yeah kinda", "I guess they don't get me", "Maybe you're right", "Yeah"),
    "gifts_or_money": ("Omg really? Thanks", "Wait for real?", "Ok thanks!", "That would be cool"),
    "platform_move": ("Ok what's your name on there", "Ok I'll download it", "Sure, I'll add you"),
    "image_request": ("Maybe later", "Ok one sec", "I don't have a good one", "Ok"),
    "meeting_request": ("Maybe, I'd need a ride", "Idk where that is", "Maybe this weekend"),
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
)
_DECLINE: tuple[str, ...] = (
    "No thanks",
    "I have to ask my mom",
    "I'm not allowed to",
    "That's kinda weird",
    "I'd rather not",
    "No",
    "My dad says I can't",
    "I don't think so",
    "I'm gonna ask my parents first",
)

# Escalation-like surface cues in benign relationships: relationship -> cue kind ->
# (role of the sender, template). Their messages carry no signals.
_HARD_NEGATIVE_CUES: dict[str, dict[str, tuple[tuple[str, str], ...]]] = {
    "parent": {
        "personal_info_probing": (
            ("reported", "Are you home alone right now? Dad's running late"),
            ("reported", "What time does school end today?"),
            ("reported", "Are you at {name}'s house or at home?"),
            ("reported", "Did you get home ok? Is anyone else there?"),
        ),
        "meeting_request": (
            ("reported", "I'll pick you up at {place} at 5"),
            ("reported", "Meet me by the front entrance after {sport} practice"),
        ),
        "image_request": (
            ("reported", "Send me a pic when you get to {relative}'s so I know you made it"),
            ("reported", "Send me a photo of the permission slip so I can sign it"),
        ),
        "gifts_or_money": (
            ("reported", "I put money on your lunch card"),
            ("reported", "I sent you some money for the movies tonight"),
        ),
        "secrecy": (("reported", "Don't tell your brother about his birthday present, ok?"),),
    },
    "sibling": {
        "secrecy": (
            ("reported", "Don't tell mom about the surprise party, ok?"),
            ("reported", "Keep dad's birthday present a secret"),
            ("reporter", "Don't tell anyone about the surprise for grandma"),
        ),
        "gifts_or_money": (
            ("reported", "Let's chip in for a gift card for mom"),
            ("reported", "I'll send you money for your half of the present"),
        ),
        "meeting_request": (("reported", "Meet me at {place} after school, I'll drive us home"),),
    },
    "coach": {
        "meeting_request": (
            ("reported", "Practice is at the east field today, meet by the bleachers at 4"),
            ("reported", "The team bus leaves from the school parking lot at 7"),
            ("reported", "Meet at {place} at 9 for the team photo"),
        ),
        "personal_info_probing": (
            ("reported", "What time can your parents drop you off on Saturday?"),
            ("reported", "Is your mom or dad picking you up today?"),
        ),
        "trust_building": (
            ("reported", "You showed real leadership today, I'm proud of you"),
            ("reported", "You're one of the most mature players on the team"),
        ),
        "image_request": (("reported", "Send me a photo of the signed permission slip"),),
    },
    "teacher": {
        "image_request": (
            ("reported", "Send me a photo of your homework so I can check it"),
            ("reported", "Can you upload a picture of your {subject} worksheet?"),
            ("reporter", "Can I send you a picture of my homework instead?"),
        ),
        "trust_building": (
            ("reported", "Your essay was really mature, great work"),
            ("reported", "You're one of the most thoughtful students in the class"),
        ),
        "personal_info_probing": (("reported", "What's the best email for your parents for the trip form?"),),
        "meeting_request": (("reported", "Come to the library at lunch for the study group"),),
    },
    "grandparent": {
        "gifts_or_money": (
            ("reported", "I sent you a gift card for your birthday, sweetheart"),
            ("reported", "Grandpa put some coins in your {game} account"),
            ("reported", "Did the birthday money arrive?"),
        ),
        "image_request": (
            ("reported", "Send grandma a picture of you in your new school uniform"),
            ("reported", "Send us a selfie from the trip!"),
        ),
        "meeting_request": (("reported", "We'll meet you at the train station on Sunday"),),
        "secrecy": (("reported", "Don't tell your mom, it's a surprise for her birthday"),),
    },
    "peer": {
        "platform_move": (
            ("reported", "Add me on {app}, this app keeps lagging"),
            ("reporter", "Let's move the group chat to {app}"),
            ("reported", "Everyone from class is on {app} now, add me there"),
        ),
        "secrecy": (
            ("reporter", "Please keep it private that I came out to you, I'm not ready yet"),
            ("reported", "Don't tell anyone I like {name}, ok?"),
            ("reporter", "Don't tell anyone about the surprise for {name}'s birthday"),
        ),
        "relationship_probing": (
            ("reported", "Do you have a crush on anyone?"),
            ("reported", "So are you and {name} dating now?"),
        ),
        "meeting_request": (
            ("reported", "Wanna meet at {place} after school?"),
            ("reporter", "Let's meet at {place} on Saturday with everyone"),
        ),
        "image_request": (
            ("reported", "Send me a pic of your new haircut"),
            ("reported", "Send a selfie from the concert!"),
        ),
        "personal_info_probing": (("reported", "Are you home? Can I come over?"),),
        "isolation": (
            ("reported", "Forget them, they were mean to you anyway"),
            ("reporter", "Honestly you're a better friend than the rest of them"),
        ),
        "gifts_or_money": (("reported", "I'll gift you a skin for your birthday"),),
    },
    "adult_friend": {
        "meeting_request": (
            ("reported", "Want to meet for coffee at {place} on Saturday?"),
            ("reporter", "Let's meet up after work, just us two"),
        ),
        "platform_move": (("reported", "Text me on {app}, I'm barely on here"),),
        "relationship_probing": (("reported", "Are you seeing anyone these days?"),),
        "gifts_or_money": (("reported", "I owe you one, I'll get you a gift card"),),
        "trust_building": (("reported", "You're the only one who really gets me lol"),),
        "image_request": (("reported", "Send me a pic of your new apartment!"),),
    },
}
_CUE_REPLIES: tuple[str, ...] = (
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
_FORMATTER = string.Formatter()


# --------------------------------------------------------------------------- helpers


def _slots(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def _realise(template: str, rng: random.Random, context: dict[str, str]) -> str:
    values: dict[str, str] = {}
    for name in _slots(template):
        if name not in values:
            values[name] = context[name] if name in context else rng.choice(_FILLERS[name])
    return template.format(**values)


def _expansions(template: str) -> set[str]:
    """Every surface form of a template built from the filler pools."""
    names = sorted(set(_slots(template)))
    return {
        template.format(**dict(zip(names, combo, strict=True)))
        for combo in itertools.product(*(_FILLERS[n] for n in names))
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
        _GREETINGS,
        _ACKS,
        _TOPICS,
        _RELATIONSHIP_TALK,
        _IDENTITY_LINES,
        _GO_ALONG,
        _DEFLECT,
        _DECLINE,
        _HARD_NEGATIVE_CUES,
        _CUE_REPLIES,
    ):
        walk(pool)
    return found


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


def _apply_style(text: str, style: str, rng: random.Random, config: SyntheticConfig) -> str:
    text = text[:1].upper() + text[1:]
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
    return text


# --------------------------------------------------------------------------- conversations


@dataclass
class _Turn:
    sender: str  # "u1" (reporter) or "u2" (reported)
    text: str
    signals: tuple[str, ...] = ()
    small_talk: bool = False


@dataclass
class _Context:
    rng: random.Random
    config: SyntheticConfig
    relationship: str
    topic_pool: tuple[str, ...]
    values: dict[str, str]  # fillers fixed by the conversation (the reporter's age, grade)


_ROLE_OF = {"u1": "reporter", "u2": "reported"}
_ID_OF = {"reporter": "u1", "reported": "u2"}


def _other(sender: str) -> str:
    return "u2" if sender == "u1" else "u1"


def _small_talk(ctx: _Context, turns: list[_Turn], count: int, initiator: str) -> None:
    for _ in range(count):
        sender = _other(turns[-1].sender) if turns else initiator
        if not turns:
            template = ctx.rng.choice(_GREETINGS)
        elif ctx.rng.random() < ctx.config.relationship_talk_rate:
            template = ctx.rng.choice(_RELATIONSHIP_TALK[ctx.relationship][_ROLE_OF[sender]])
        else:
            template = ctx.rng.choice(ctx.topic_pool)
        turns.append(_Turn(sender, _realise(template, ctx.rng, ctx.values), small_talk=True))


def _layout(ctx: _Context, n: int, events: int) -> tuple[int, list[int], str]:
    """Opening length, small talk after each event, and the escalation speed."""
    budget = n - 2 * events
    if ctx.rng.random() < ctx.config.fast_escalation_rate:
        opening = ctx.rng.randint(1, max(1, min(budget, ctx.config.fast_opening_max_messages)))
        speed = "fast"
    else:
        low = max(1, math.ceil(budget * ctx.config.slow_opening_min_share))
        opening, speed = ctx.rng.randint(low, budget), "slow"
    return opening, _composition(ctx.rng, budget - opening, events), speed


def _reply(ctx: _Context, signal: str) -> str:
    kind = _pick(ctx.rng, ctx.config.reply_mix)
    pool = {"go_along": _GO_ALONG[signal], "deflect": _DEFLECT, "decline": _DECLINE}[kind]
    return _realise(ctx.rng.choice(pool), ctx.rng, ctx.values)


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
        parts = [_realise(rng.choice(_SIGNAL_TEMPLATES[s]), rng, ctx.values) for s in move]
        turns.append(_Turn("u2", " ".join(parts), move))
        turns.append(_Turn("u1", _reply(ctx, move[-1])))
        _small_talk(ctx, turns, fill, initiator)
    return turns, {"escalation": speed, "partial": partial, "hard_negative_kind": "none"}


def _benign_turns(ctx: _Context, n: int, initiator: str, hard_negative: bool) -> tuple[list[_Turn], dict[str, Any]]:
    rng = ctx.rng
    turns: list[_Turn] = []
    groups = {"escalation": "none", "partial": False, "hard_negative_kind": "none"}
    if not hard_negative:
        _small_talk(ctx, turns, n, initiator)
        return turns, groups
    cue_table = _HARD_NEGATIVE_CUES[ctx.relationship]
    kind = rng.choice(sorted(cue_table))
    cues = rng.randint(1, min(ctx.config.hard_negative_max_cues, (n - 1) // 2))
    opening, fills, _ = _layout(ctx, n, cues)
    _small_talk(ctx, turns, opening, initiator)
    for fill in fills:
        role, template = rng.choice(cue_table[kind])
        sender = _ID_OF[role]
        turns.append(_Turn(sender, _realise(template, rng, ctx.values)))
        turns.append(_Turn(_other(sender), rng.choice(_CUE_REPLIES)))
        _small_talk(ctx, turns, fill, initiator)
    groups["hard_negative_kind"] = kind
    return turns, groups


def _mention_identity(ctx: _Context, turns: list[_Turn], identity: str) -> None:
    # Prefer the reporter's own small talk, never the opening greeting.
    talk = [i for i, t in enumerate(turns) if t.small_talk and i > 0]
    mine = [i for i in talk if turns[i].sender == "u1"]
    index = ctx.rng.choice(mine or talk or [0])
    turns[index].text = ctx.rng.choice(_IDENTITY_LINES[identity])


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
    if relationship == "peer":
        return reporter, rng.randint(*config.reporter_ages[_band(reporter)])
    other = reporter + rng.randint(*config.age_gap_years[relationship])
    if relationship in _ADULT_RELATIONSHIPS:
        other = max(other, _ADULT_AGE)
    return reporter, other


def _conversation(config: SyntheticConfig, split: str, index: int, kind: str) -> dict[str, Any]:
    """One record; `kind` is "risky", "hard_negative" or "benign"."""
    rng = random.Random(_derive_seed(config.seed, split, index))
    risky = kind == "risky"
    relationship = _pick(rng, config.risky_relationship_mix if risky else config.benign_relationship_mix)
    reporter_age, other_age = _ages(rng, config, relationship)
    reporter_gender, other_gender = _pick(rng, config.gender_mix), _pick(rng, config.gender_mix)
    profile = config.metadata[PROFILE_OF[relationship]]
    initiated = rng.random() < profile.initiated_by_reported_rate
    topics = rng.sample(sorted(_TOPICS), 2)
    ctx = _Context(
        rng=rng,
        config=config,
        relationship=relationship,
        topic_pool=(*_TOPICS[topics[0]], *_TOPICS[topics[1]], *_ACKS),
        values={"age": str(reporter_age), "grade": _ordinal(max(1, reporter_age - 5))},
    )
    n = rng.randint(config.min_messages, config.max_messages)
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
    messages = [
        {
            "sender": t.sender,
            "ts": ts,
            "text": _apply_style(t.text, style, rng, config),
            "signals": list(t.signals),
        }
        for t, ts in zip(turns, stamps, strict=True)
    ]
    signals = sorted({s for t in turns for s in t.signals})
    reporter_band, other_band = _band(reporter_age), _band(other_age)
    other_gender_word = _ADULT_GENDER[other_gender] if other_band == "adult" else other_gender
    reporter_gender_word = _ADULT_GENDER[reporter_gender] if reporter_band == "adult" else reporter_gender
    return {
        "conversation_id": f"syn-{split}-{index:06d}",
        "opt_in": rng.random() >= config.opt_out_rate,
        "participants": [
            {"id": "u1", "role": "reporter", "age_band": reporter_band, "gender": reporter_gender_word},
            {"id": "u2", "role": "reported", "age_band": other_band, "gender": other_gender_word},
        ],
        "messages": messages,
        "metadata": _metadata(rng, profile, initiated, abs(other_age - reporter_age)),
        "label": int(risky),
        "signals": signals,
        "groups": {
            "style": style,
            "identity_mention": identity,
            "relationship": relationship,
            "reporter_age_band": reporter_band,
            "reporter_gender": reporter_gender_word,
            "hard_negative": kind == "hard_negative",
            **extra,
        },
    }


# --------------------------------------------------------------------------- public API


def generate_split(config: SyntheticConfig, split: str) -> list[dict]:
    """The records of one split; the same for the same `(config, split)`."""
    if split not in config.conversations:
        raise KeyError(f"split {split!r} not in generate.conversations {sorted(config.conversations)}")
    count = config.conversations[split]
    risky = round(count * config.positive_rate)
    hard = round((count - risky) * config.hard_negative_rate)
    kinds = ["risky"] * risky + ["hard_negative"] * hard + ["benign"] * (count - risky - hard)
    random.Random(_derive_seed(config.seed, split, "kinds")).shuffle(kinds)
    return [_conversation(config, split, i, kind) for i, kind in enumerate(kinds)]


def generate(config: SyntheticConfig) -> dict[str, list[dict]]:
    """The records of every split named in `config.conversations`."""
    return {split: generate_split(config, split) for split in config.conversations}

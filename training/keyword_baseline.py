"""A keyword baseline that knows the generator's own cue words: the floor that says whether
surface words alone solve the synthetic task.

Its vocabulary is built from the generator's phrase pools for escalation moves, held-out
phrasing included (`training.synthetic.escalation_phrases`), so that it knows even the words
of `test_heldout`: for each of the nine signals, the words of every surface form of that
signal's moves (without the discourse fillers that frame benign messages too), minus
function words and minus every word of the generator's phrases that are neither moves nor
cues (small talk, identity mentions, the minor's replies).

A conversation's features are, for each signal and each sender role (reporter, reported,
other), the number of its messages holding at least one of the signal's cue words, and the
share of its messages holding any cue word; a class-balanced logistic regression over those
counts gives the score. Messages are read through `serving.text.normalize`, as every model
of the project reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from serving.schema import ROLES, SIGNALS, Conversation
from serving.text import normalize
from training import synthetic

_ROLES: tuple[str, ...] = tuple(sorted(ROLES))
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# Function words: never a cue on their own.
_FUNCTION_WORDS = """
    a about after all also am an and any anyone are as at be because been before being but by can
    could did do does doing don't for from get got had has have having he her here hers him his how
    i i'd i'll i'm i've if in into is it it's its just let let's like me more most my no not now of
    off ok on one only or other our out over really same say she so some than that that's the their
    them then there they they'd this those to too up us very was we we're were what what's when where
    which while who who's why will with would yeah yes you you'd you'll you're your yours
"""
STOPWORDS: frozenset[str] = frozenset(_FUNCTION_WORDS.split())


@dataclass(frozen=True)
class KeywordConfig:
    """The `keyword:` section of params.yaml."""

    min_word_length: int  # shorter words are never cues
    C: float  # inverse L2 strength of the logistic regression
    max_iter: int

    def __post_init__(self) -> None:
        if self.min_word_length < 1 or self.C <= 0 or self.max_iter < 1:
            raise ValueError("keyword: min_word_length and max_iter must be >= 1, C > 0")


def words(text: str) -> set[str]:
    """The lower-case words of a text after the project's normalisation."""
    return set(_WORD.findall(normalize(text).lower()))


def cue_vocabulary(
    min_word_length: int = 3, phrasing: str = "all", every: int | None = None
) -> dict[str, frozenset[str]]:
    """Signal -> the cue words of its escalation moves in the generator's phrase pools (of
    every phrasing, or of the `seen` or `heldout` one cut every `every` entries)."""
    background = set().union(*(words(t) for t in synthetic.background_phrases()))
    phrases = synthetic.escalation_phrases(phrasing, every)
    cues = {}
    for signal in SIGNALS:
        found = set().union(*(words(p) for p in phrases[signal]))
        cues[signal] = frozenset(
            w for w in found if len(w) >= min_word_length and w not in STOPWORDS and w not in background
        )
    return cues


class KeywordBaseline:
    """Per-signal, per-role cue-word counts and a class-balanced logistic regression."""

    def __init__(self, config: KeywordConfig, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.vocabulary_ = cue_vocabulary(config.min_word_length)

    @property
    def feature_names(self) -> list[str]:
        return [f"{signal}.{role}" for signal in SIGNALS for role in _ROLES] + ["cue_message_share"]

    def features(self, conversations: list[Conversation]) -> np.ndarray:
        """One row per conversation, in the order of `feature_names`."""
        rows = np.zeros((len(conversations), len(SIGNALS) * len(_ROLES) + 1), dtype=np.float64)
        column = {(s, r): i * len(_ROLES) + j for i, s in enumerate(SIGNALS) for j, r in enumerate(_ROLES)}
        for row, conversation in enumerate(conversations):
            cue_messages = 0
            for message in conversation.messages:
                found = words(message.text)
                hit = False
                for signal in SIGNALS:
                    if found & self.vocabulary_[signal]:
                        rows[row, column[(signal, message.role)]] += 1
                        hit = True
                cue_messages += hit
            rows[row, -1] = cue_messages / max(1, len(conversation.messages))
        return rows

    def fit(
        self, conversations: list[Conversation], labels: list[int], sample_weight: np.ndarray | None = None
    ) -> KeywordBaseline:
        c = self.config
        self.pipeline_ = Pipeline(
            [
                ("scale", StandardScaler()),
                (
                    "classifier",
                    LogisticRegression(C=c.C, max_iter=c.max_iter, class_weight="balanced", random_state=self.seed),
                ),
            ]
        )
        self.pipeline_.fit(self.features(conversations), labels, classifier__sample_weight=sample_weight)
        return self

    def predict_proba(self, conversations: list[Conversation]) -> np.ndarray:
        """(n, 2): the probabilities of benign and risky."""
        return self.pipeline_.predict_proba(self.features(conversations))

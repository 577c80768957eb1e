"""Behavioural metadata features: account facts and message timing, never message text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from serving.schema import Conversation

ACCOUNT_FEATURES: tuple[str, ...] = (
    "reported_account_age_days",
    "reported_minor_contacts_30d",
    "reported_prior_reports",
    "reported_prior_blocks",
    "initiated_by_reported",
    "age_gap_years",
)
TIMING_FEATURES: tuple[str, ...] = ("message_count", "span_hours", "messages_per_hour", "night_fraction", "burstiness")
METADATA_FEATURES: tuple[str, ...] = ACCOUNT_FEATURES + TIMING_FEATURES
# What each feature is, for the model card.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "reported_account_age_days": "age of the reported account in days",
    "reported_minor_contacts_30d": "distinct minors the reported account messaged in 30 days (fan-out)",
    "reported_prior_reports": "earlier reports against the reported account",
    "reported_prior_blocks": "times the reported account was blocked",
    "initiated_by_reported": "whether the reported account sent the first message",
    "age_gap_years": "gap between the participants' declared ages",
    "message_count": "messages in the conversation",
    "span_hours": "hours from the first to the last timestamp",
    "messages_per_hour": "message rate over the span",
    "night_fraction": "share of messages sent 22:00-06:00 UTC",
    "burstiness": "burstiness of the gaps between messages, (sd - mean) / (sd + mean): -1 regular, 0 random, 1 bursts",
}
# Night as seen from UTC timestamps: the records carry no time zone of the participants.
_NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3, 4, 5})


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _number(value: object) -> float:
    """A finite float32-representable number, or NaN (unknown) for anything else."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float):
        return math.nan
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        return math.nan
    return number if math.isfinite(number) and abs(number) <= _FLOAT32_MAX else math.nan


def _timestamps(conversation: Conversation) -> list[datetime]:
    stamps = []
    for message in conversation.messages:
        if message.ts is None:
            continue
        try:
            stamp = datetime.fromisoformat(message.ts)
            stamps.append(stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC))
        except (ValueError, OverflowError):  # unparseable, or out of datetime's range in UTC
            continue
    return stamps


def _account_values(conversation: Conversation) -> list[float]:
    return [_number(conversation.metadata.get(name)) for name in ACCOUNT_FEATURES]


def metadata_features(conversation: Conversation) -> np.ndarray:
    """The METADATA_FEATURES of one conversation as float32; NaN where a value is unknown."""
    account = _account_values(conversation)
    stamps = _timestamps(conversation)
    count = float(len(conversation.messages))
    if len(stamps) >= 2:
        span_hours = max((max(stamps) - min(stamps)).total_seconds() / 3600.0, 0.0)
        rate = count / max(span_hours, 1.0 / 60.0)
    else:
        span_hours, rate = math.nan, math.nan
    night = sum(s.hour in _NIGHT_HOURS for s in stamps) / len(stamps) if stamps else math.nan
    return np.asarray([*account, count, span_hours, rate, night, _burstiness(stamps)], dtype=np.float32)


def _burstiness(stamps: list[datetime]) -> float:
    """Goh and Barabasi (2008) burstiness of the gaps between consecutive timestamps in
    time order; NaN with fewer than two gaps or when every gap is zero."""
    gaps = np.diff(np.sort(np.asarray([s.timestamp() for s in stamps], dtype=np.float64)))
    if gaps.size < 2:
        return math.nan
    mean, spread = float(gaps.mean()), float(gaps.std())
    return (spread - mean) / (spread + mean) if spread + mean > 0 else math.nan


def known_features(row: np.ndarray) -> list[str]:
    """The METADATA_FEATURES known (not NaN) in one row of `metadata_matrix`."""
    return [name for name, value in zip(METADATA_FEATURES, row, strict=True) if not math.isnan(value)]


def account_known(features: Sequence[str]) -> bool:
    """Whether any account feature is among `features`: without one, the metadata model has
    nothing but timing to go on, and a consenting record is scored on its content alone."""
    return any(name in ACCOUNT_FEATURES for name in features)


def has_account_metadata(conversation: Conversation) -> bool:
    """`account_known` of one conversation, without reading its timestamps."""
    return any(not math.isnan(value) for value in _account_values(conversation))


def with_availability(features: np.ndarray) -> np.ndarray:
    """What the metadata model reads: each feature's value, 0 where unknown, followed by one
    indicator per feature, 1 where known. Unknown is said in so many words, never stood in for
    by a typical value (ARCHITECTURE.md, the record)."""
    known = ~np.isnan(features)
    return np.concatenate([np.where(known, features, 0.0), known], axis=-1).astype(np.float32)


def has_something_to_score(conversation: Conversation) -> bool:
    """Consent to read the messages, or metadata to score instead: account metadata or at
    least two valid timestamps."""
    return conversation.opt_in or has_account_metadata(conversation) or len(_timestamps(conversation)) >= 2


def metadata_matrix(conversations: list[Conversation]) -> np.ndarray:
    """Features of many conversations, one row each."""
    if not conversations:
        return np.zeros((0, len(METADATA_FEATURES)), dtype=np.float32)
    return np.stack([metadata_features(c) for c in conversations])

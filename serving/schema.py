"""The input record and the output record: the contract between safety teams and the scorer.

Validation errors name fields, counts and ids only, never message text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIGNALS: tuple[str, ...] = (
    "trust_building",
    "personal_info_probing",
    "relationship_probing",
    "secrecy",
    "isolation",
    "gifts_or_money",
    "platform_move",
    "image_request",
    "meeting_request",
)
LABELS: tuple[str, ...] = ("risk", *SIGNALS)
ROLES: frozenset[str] = frozenset({"reporter", "reported", "other"})
AGE_BANDS: frozenset[str] = frozenset({"under_13", "13-15", "16-17", "adult", "unknown"})
MODE_CONTENT = "content+metadata"
MODE_METADATA = "metadata-only"


class RecordError(ValueError):
    """A record that cannot be scored; the message is a reason safe to log."""


@dataclass(frozen=True)
class Limits:
    """Size limits a record must respect to be scored."""

    max_messages: int
    max_message_chars: int
    max_record_bytes: int


@dataclass(frozen=True)
class Message:
    sender: str
    role: str
    ts: str | None
    text: str
    signals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conversation:
    """A validated input record."""

    conversation_id: str
    opt_in: bool
    messages: tuple[Message, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    label: int | None = None
    signals: tuple[str, ...] = ()
    groups: dict[str, str] = field(default_factory=dict)
    participant_age_bands: dict[str, str] = field(default_factory=dict)


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise RecordError(reason)


def _optional(raw: dict, key: str, default: Any) -> Any:
    """An optional field: `default` when absent or null (Parquet gives null for an absent
    field); an empty value of the wrong type (`[]` for an object) stays, to be rejected."""
    value = raw.get(key)
    return default if value is None else value


def _parse_participants(raw: Any) -> dict[str, dict[str, str]]:
    _require(isinstance(raw, list) and len(raw) > 0, "participants must be a non-empty list")
    participants: dict[str, dict[str, str]] = {}
    for position, person in enumerate(raw):
        _require(isinstance(person, dict), f"participants[{position}] must be an object")
        person_id, role = person.get("id"), person.get("role")
        age_band = _optional(person, "age_band", "unknown")
        _require(
            isinstance(person_id, str) and person_id != "", f"participants[{position}].id must be a non-empty string"
        )
        _require(person_id not in participants, f"participants[{position}].id is duplicated")
        _require(
            isinstance(role, str) and role in ROLES, f"participants[{position}].role must be one of {sorted(ROLES)}"
        )
        _require(
            isinstance(age_band, str) and age_band in AGE_BANDS,
            f"participants[{position}].age_band must be one of {sorted(AGE_BANDS)}",
        )
        participants[person_id] = {"role": role, "age_band": age_band}
    return participants


def _parse_messages(
    raw: Any, participants: dict[str, dict[str, str]], limits: Limits, read_text: bool
) -> tuple[Message, ...]:
    """The messages; without consent (`read_text` false) their text is neither checked nor kept."""
    _require(isinstance(raw, list), "messages must be a list")
    _require(len(raw) > 0, "messages is empty")
    _require(len(raw) <= limits.max_messages, f"too many messages ({len(raw)} > {limits.max_messages})")
    messages = []
    for position, message in enumerate(raw):
        _require(isinstance(message, dict), f"messages[{position}] must be an object")
        sender, ts = message.get("sender"), message.get("ts")
        _require(isinstance(sender, str), f"messages[{position}].sender must be a string")
        _require(sender in participants, f"messages[{position}].sender is not among the participants")
        text = ""  # without consent the text is not even looked up
        if read_text:
            text = message.get("text")
            _require(isinstance(text, str), f"messages[{position}].text must be a string")
            _require(
                len(text) <= limits.max_message_chars,
                f"messages[{position}].text too long ({len(text)} > {limits.max_message_chars} characters)",
            )
        _require(ts is None or isinstance(ts, str), f"messages[{position}].ts must be a string")
        signals = _optional(message, "signals", [])
        _require(
            isinstance(signals, list) and all(isinstance(s, str) and s in SIGNALS for s in signals),
            f"messages[{position}].signals must be a list of known signals",
        )
        messages.append(Message(sender, participants[sender]["role"], ts, text, tuple(signals)))
    return tuple(messages)


def parse_record(record: Any, limits: Limits) -> Conversation:
    """Validate one decoded input record; raise RecordError with a text-free reason."""
    _require(isinstance(record, dict), "record must be a JSON object")
    conversation_id = record.get("conversation_id")
    _require(isinstance(conversation_id, str) and conversation_id != "", "conversation_id must be a non-empty string")
    opt_in = record.get("opt_in")
    _require(isinstance(opt_in, bool), "opt_in must be true or false")
    _require("messages" in record, "messages is missing")
    participants = _parse_participants(record.get("participants"))
    messages = _parse_messages(record["messages"], participants, limits, read_text=opt_in)
    metadata = _optional(record, "metadata", {})
    _require(isinstance(metadata, dict), "metadata must be an object")
    label = record.get("label")
    _require(label in (None, 0, 1) and not isinstance(label, bool), "label must be 0, 1 or absent")
    signals = _optional(record, "signals", [])
    _require(
        isinstance(signals, list) and all(isinstance(s, str) and s in SIGNALS for s in signals),
        "signals must be a list of known signals",
    )
    groups = _optional(record, "groups", {})
    _require(isinstance(groups, dict), "groups must be an object")
    return Conversation(
        conversation_id=conversation_id,
        opt_in=opt_in,
        messages=messages,
        metadata=metadata,
        label=label,
        signals=tuple(signals),
        groups={str(k): str(v) for k, v in groups.items() if v is not None},
        participant_age_bands={pid: p["age_band"] for pid, p in participants.items()},
    )


def labels_of(conversations: list[Conversation]) -> list[int]:
    """The labels of labelled conversations; an unlabelled one is an error, not a negative."""
    missing = [c.conversation_id for c in conversations if c.label is None]
    if missing:
        raise ValueError(f"{len(missing)} conversations have no label, e.g. {missing[0]}")
    return [int(c.label) for c in conversations]  # type: ignore[arg-type]


def with_consent(conversations: list[Conversation]) -> list[Conversation]:
    """The conversations whose text may be read: content models see only these."""
    return [c for c in conversations if c.opt_in]

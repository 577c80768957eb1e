"""Real benign chat: the BYU chit-chat conversations of the `chitchat-dataset` package (MIT;
two adults who did not know each other, talking about anything, with timestamps), as records.

Whole conversations are chosen by a seeded hash of their id and dealt, in that order, to the
train split, the validation split and the `external_benign_chitchat` suite, so that no
conversation is in two of them. They are benign, read with consent, and carry no account
metadata. The first sender is the `reported` party and the other the `reporter`; neither age is
known. Their text is never logged.
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files

from serving.schema import Conversation
from training.config import ChitchatConfig

PACKAGE = "chitchat_dataset"
SOURCE = "chitchat-dataset"


def _record(conversation_id: str, turns: list[list[dict]]) -> dict:
    messages = [m for turn in turns for m in turn]
    senders = list(dict.fromkeys(m["sender"] for m in messages))
    roles = ["reported", "reporter", *(["other"] * (len(senders) - 2))]
    ids = {sender: f"p{i}" for i, sender in enumerate(senders)}
    return {
        "conversation_id": f"chitchat-{conversation_id}",
        "opt_in": True,
        "participants": [
            {"id": ids[sender], "role": role, "age_band": "unknown"}
            for sender, role in zip(senders, roles, strict=True)
        ],
        "messages": [{"sender": ids[m["sender"]], "ts": m.get("timestamp"), "text": m["text"]} for m in messages],
        "label": 0,
        "signals": [],
        "groups": {"source": SOURCE, "relationship": "adult_strangers"},
    }


def is_real_benign(conversation: Conversation) -> bool:
    """Whether a conversation is real benign chat from this package (the benign bank's and the
    alert threshold's real-benign records)."""
    return conversation.groups.get("source") == SOURCE and conversation.label == 0


def chitchat_splits(config: ChitchatConfig, seed: int) -> dict[str, list[dict]]:
    """`train`, `validation` and the suite (`config.suite_name`): disjoint sets of conversations
    with at least `config.min_messages` messages and two senders."""
    raw = json.loads((files(PACKAGE) / "dataset.json").read_text(encoding="utf-8"))
    usable = [
        key
        for key, value in raw.items()
        if sum(len(turn) for turn in value["messages"]) >= config.min_messages
        and len({m["sender"] for turn in value["messages"] for m in turn}) >= 2
    ]
    usable.sort(key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())
    counts = {"train": config.train, "validation": config.validation, config.suite_name: config.suite}
    if sum(counts.values()) > len(usable):
        raise ValueError(f"chitchat asks for {sum(counts.values())} conversations; the package has {len(usable)}")
    out, start = {}, 0
    for name, count in counts.items():
        out[name] = [_record(key, raw[key]["messages"]) for key in usable[start : start + count]]
        start += count
    return out

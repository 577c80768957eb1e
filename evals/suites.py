"""False positives: the served bands on every split and suite, the hard-negative and robustness
suites broken down by group, the external benign corpus, and the highest-scoring false positives.

`external_benign` is real text written by people with no escalation in it: the English
dialogues of the `chatterbot-corpus` package (BSD-3), shipped as YAML inside the package and
read offline. Consecutive dialogues of one topic file are joined into two-party conversations
(`min_messages` or more), labelled benign, with consent to read content, and no metadata: the
suite measures how often ordinary chat alone trips the alert. Its text is never logged.
"""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Sequence

import numpy as np

from evals.config import ExternalBenignConfig
from evals.metrics import rate
from serving.schema import SIGNALS, Conversation, Limits, RecordError, parse_record

log = logging.getLogger(__name__)

CORPUS_PACKAGE = "chatterbot_corpus"
BANDS = ("high", "medium")  # lower bounds, most severe first; `low` is never a flag
_BAND_RANK = {"low": 0, "medium": 1, "high": 2}
EXTERNAL_PARTICIPANTS = [
    {"id": "a", "role": "reporter", "age_band": "unknown"},
    {"id": "b", "role": "reported", "age_band": "unknown"},
]


def flagged(bands: Sequence[str], at: str) -> np.ndarray:
    """Whether each record's served band is `at` or above."""
    rank = _BAND_RANK[at]
    return np.asarray([_BAND_RANK[b] >= rank for b in bands], dtype=bool)


# --------------------------------------------------------------------------- external benign corpus


def corpus_dialogues(language: str, category: str) -> list[list[str]]:
    """The dialogues of one chatterbot-corpus file, each a list of utterances."""
    import yaml

    resource = importlib.resources.files(CORPUS_PACKAGE) / "data" / language / f"{category}.yml"
    data = yaml.safe_load(resource.read_text(encoding="utf-8")) or {}
    dialogues = []
    for dialogue in data.get("conversations") or []:
        if isinstance(dialogue, list):
            lines = [str(u).strip() for u in dialogue if u is not None and str(u).strip()]
            if lines:
                dialogues.append(lines)
    return dialogues


def join_dialogues(
    dialogues: list[list[str]], min_messages: int, max_conversations: int, prefix: str, group: dict[str, str]
) -> list[dict]:
    """Records in the input format: consecutive dialogues joined until a conversation has at
    least `min_messages` messages (a shorter tail is dropped), speakers alternating."""
    records: list[dict] = []
    current: list[str] = []
    for dialogue in dialogues:
        current.extend(dialogue)
        if len(current) >= min_messages:
            records.append(
                {
                    "conversation_id": f"{prefix}-{len(records):04d}",
                    "opt_in": True,
                    "participants": EXTERNAL_PARTICIPANTS,
                    "messages": [
                        {"sender": EXTERNAL_PARTICIPANTS[i % 2]["id"], "ts": None, "text": text}
                        for i, text in enumerate(current)
                    ],
                    "label": 0,
                    "signals": [],
                    "groups": group,
                }
            )
            current = []
            if len(records) >= max_conversations:
                break
    return records


def external_benign(config: ExternalBenignConfig, limits: Limits) -> tuple[list[Conversation], int]:
    """The external benign conversations and how many built records the limits rejected.
    Raises ModuleNotFoundError when the corpus package is not installed."""
    importlib.import_module(CORPUS_PACKAGE)
    conversations, rejected = [], 0
    for category in config.categories:
        records = join_dialogues(
            corpus_dialogues(config.language, category),
            config.min_messages,
            config.max_per_category,
            f"ext-chatterbot-{config.language}-{category}",
            {"source": "chatterbot-corpus", "category": category},
        )
        for record in records:
            try:
                conversations.append(parse_record(record, limits))
            except RecordError:
                rejected += 1
    return conversations, rejected


# --------------------------------------------------------------------------- false positives


def band_rates(labels: np.ndarray, bands: Sequence[str], confidence: float) -> dict[str, dict]:
    """FPR (negatives flagged) and recall (positives flagged) at each band, with Wilson intervals."""
    labels = np.asarray(labels, dtype=int)
    out = {}
    for band in BANDS:
        hit = flagged(bands, band)
        out[band] = {
            "fpr": rate(int((hit & (labels == 0)).sum()), int((labels == 0).sum()), confidence),
            "recall": rate(int((hit & (labels == 1)).sum()), int((labels == 1).sum()), confidence),
        }
    return out


def fpr_by_group(
    labels: np.ndarray, bands: Sequence[str], values: Sequence[str], confidence: float
) -> dict[str, dict[str, dict]]:
    """FPR at each band within each value of one `groups` column (negatives only)."""
    labels = np.asarray(labels, dtype=int)
    values = np.asarray(values, dtype=object)
    out: dict[str, dict[str, dict]] = {}
    for value in sorted(set(values[labels == 0].tolist())):
        members = (values == value) & (labels == 0)
        out[value] = {
            band: rate(int((flagged(bands, band) & members).sum()), int(members.sum()), confidence) for band in BANDS
        }
    return out


def group_column(conversations: Sequence[Conversation], column: str) -> list[str]:
    """One `groups` column; a record without it falls in `(none)`."""
    return [c.groups.get(column, "(none)") for c in conversations]


def top_false_positives(rows: list[dict], count: int) -> list[dict]:
    """The `count` highest-scoring flagged negatives: ids and numbers only."""
    return sorted(rows, key=lambda r: (-r["risk_score"], r["split"], r["conversation_id"]))[:count]


def false_positive_row(split: str, conversation: Conversation, score: object) -> dict:
    """One flagged negative for the report: its id, score, band, mode, relationship and signal scores."""
    return {
        "split": split,
        "conversation_id": conversation.conversation_id,
        "risk_score": score.risk_score,  # type: ignore[attr-defined]
        "risk_band": score.risk_band,  # type: ignore[attr-defined]
        "mode": score.mode,  # type: ignore[attr-defined]
        "relationship": conversation.groups.get("relationship", conversation.groups.get("category", "")),
        "signals": {s: score.signals.get(s) for s in SIGNALS},  # type: ignore[attr-defined]
    }

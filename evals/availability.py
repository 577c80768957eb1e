"""Performance by how much account metadata a report carries: the same conversations scored with
all, some and none of their account features, on the metadata-only path and the served one.
Real reports come with partial metadata or none; a score must stay honest when a feature is absent
(ARCHITECTURE.md, the record)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from evals.metrics import Bootstrap, fpr_at, point_and_interval, recall_at, roc_auc
from evals.suites import flagged
from serving.features import ACCOUNT_FEATURES
from serving.schema import Conversation, labels_of
from serving.scorer import ConversationScore

LEVELS = ("all", "some", "none")


def keep_account_features(conversation: Conversation, keep: Sequence[str]) -> Conversation:
    """`conversation` with only the account features in `keep` left in its metadata."""
    metadata = {k: v for k, v in conversation.metadata.items() if k not in ACCOUNT_FEATURES or k in keep}
    return replace(conversation, metadata=metadata)


def with_availability_level(
    conversations: Sequence[Conversation], level: str, rng: np.random.Generator
) -> list[Conversation]:
    """The conversations at one level: `all` as they are; `some` each keeping a random non-empty
    proper subset of the account features it has (as it is, when it has fewer than two); `none`
    without any."""
    if level == "all":
        return list(conversations)
    if level == "none":
        return [keep_account_features(c, ()) for c in conversations]
    if level != "some":
        raise ValueError(f"availability level must be one of {LEVELS}, not {level!r}")
    out = []
    for conversation in conversations:
        present = [name for name in ACCOUNT_FEATURES if name in conversation.metadata]
        if len(present) < 2:
            out.append(conversation)
            continue
        kept = rng.choice(present, size=int(rng.integers(1, len(present))), replace=False)
        out.append(keep_account_features(conversation, [str(k) for k in kept]))
    return out


def _path_metrics(labels: np.ndarray, scores: np.ndarray, flags: np.ndarray, bootstrap: Bootstrap) -> dict:
    ranking = point_and_interval({"roc_auc": roc_auc}, labels, scores, bootstrap)
    rates = point_and_interval(
        {"recall": lambda y, s: recall_at(y, s, 0.5), "fpr": lambda y, s: fpr_at(y, s, 0.5)},
        labels,
        flags.astype(np.float64),
        bootstrap,
    )
    return {**ranking, **rates}


def availability_section(
    conversations: Sequence[Conversation],
    score: Callable[[Sequence[Conversation]], list[ConversationScore]],
    metadata_threshold: float,
    bootstrap: Bootstrap,
    seed: int,
) -> dict:
    """Per level, ROC-AUC and the recall and FPR of the alert (`medium` or above), with
    intervals: of the metadata-only score at `metadata_threshold`, and of the served score in its
    own bands, on the records of `conversations` with account metadata to take away."""
    rng = np.random.default_rng(seed)
    base = [c for c in conversations if any(name in c.metadata for name in ACCOUNT_FEATURES)]
    labels = np.asarray(labels_of(base), dtype=int)
    out: dict = {"n": int(labels.size), "positives": int(labels.sum()), "levels": {}}
    for level in LEVELS:
        results = score(with_availability_level(base, level, rng))
        metadata = np.asarray([r.metadata_score for r in results], dtype=np.float64)
        served = np.asarray([r.risk_score for r in results], dtype=np.float64)
        out["levels"][level] = {
            "metadata": _path_metrics(labels, metadata, metadata >= metadata_threshold, bootstrap),
            "served": _path_metrics(labels, served, flagged([r.risk_band for r in results], "medium"), bootstrap),
            "modes": sorted({r.mode for r in results}),
        }
    return out

"""ONNX Runtime inference: messages encoded in length-bucketed batches, read in order by the
conversation model, fused with the metadata model and banded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from serving.bundle import (
    CONVERSATION_MODEL,
    ENCODER_MODEL,
    METADATA_MODEL,
    TOKENIZER,
    Bands,
    Bundle,
    BundleError,
    Fusion,
    Platt,
)
from serving.features import METADATA_FEATURES, metadata_matrix
from serving.schema import MODE_CONTENT, MODE_METADATA, SIGNALS, Conversation
from serving.text import (
    EncodedConversation,
    MessageTokenizer,
    bucketed_batches,
    load_tokenizer,
    message_token_ids,
    pad_conversations,
    pad_tokens,
    per_conversation,
)

_LOGIT_CLIP = 1e-7


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    return np.log(p / (1 - p))


def platt(calibration: Platt, x: np.ndarray | float) -> np.ndarray:
    return sigmoid(calibration.slope * np.asarray(x, dtype=np.float64) + calibration.intercept)


def fuse(fusion: Fusion, content_logits: np.ndarray | float, metadata_logits: np.ndarray | float) -> np.ndarray:
    """The served probability of a record with consent: content and metadata logits fused."""
    return sigmoid(
        fusion.content_weight * np.asarray(content_logits, dtype=np.float64)
        + fusion.metadata_weight * np.asarray(metadata_logits, dtype=np.float64)
        + fusion.intercept
    )


def band(score: float, bands: Bands) -> str:
    if score >= bands.high:
        return "high"
    if score >= bands.medium:
        return "medium"
    return "low"


@dataclass(frozen=True)
class ConversationScore:
    """The score of one conversation, with the partial scores an evaluation needs."""

    conversation_id: str
    risk_score: float
    risk_band: str
    signals: dict[str, float | None]
    alert_message_index: int | None
    top_message_indices: list[int]
    mode: str
    content_score: float | None
    metadata_score: float

    def to_record(self, model_version: str, bundle_sha256: str) -> dict:
        """The output record of ARCHITECTURE.md (no message text)."""
        return {
            "conversation_id": self.conversation_id,
            "risk_score": self.risk_score,
            "risk_band": self.risk_band,
            "signals": self.signals,
            "alert_message_index": self.alert_message_index,
            "top_message_indices": self.top_message_indices,
            "mode": self.mode,
            "model_version": model_version,
            "bundle_sha256": bundle_sha256,
        }


def _session(bundle: Bundle, name: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(bundle.file(name)), options, providers=["CPUExecutionProvider"])
    expected = bundle.manifest.get("onnx_io", {}).get(name)
    actual = {
        "inputs": [i.name for i in session.get_inputs()],
        "outputs": [o.name for o in session.get_outputs()],
    }
    if expected != actual:
        raise BundleError(f"{name} inputs/outputs {actual} differ from the manifest's {expected}")
    return session


def session_embeddings(
    session: ort.InferenceSession, token_ids: Sequence[Sequence[int]], batch_size: int
) -> np.ndarray:
    """Embeddings (len(token_ids) x dim) of messages from an encoder session, in length-bucketed
    batches. Each message is encoded on its own, so its embedding never depends on another."""
    dim = session.get_outputs()[0].shape[-1]
    out = np.zeros((len(token_ids), dim), dtype=np.float32)
    for batch in bucketed_batches([len(ids) for ids in token_ids], batch_size):
        input_ids, attention = pad_tokens([token_ids[i] for i in batch])
        (embeddings,) = session.run(["embeddings"], {"input_ids": input_ids, "attention_mask": attention})
        out[batch] = embeddings
    return out


def session_conversation_logits(
    session: ort.InferenceSession,
    embeddings: Sequence[np.ndarray],
    roles: Sequence[Sequence[int]],
    batch_size: int,
) -> list[np.ndarray]:
    """The per-message logits (messages x labels) of each conversation from a conversation-model
    session, in batches of conversations of similar length: row i is the risk so far and the
    signals of message i, read with every message before it."""
    out: list[np.ndarray] = [np.zeros((0, 0), dtype=np.float32)] * len(embeddings)
    for batch in bucketed_batches([len(e) for e in embeddings], batch_size):
        padded, padded_roles = pad_conversations([embeddings[i] for i in batch], [roles[i] for i in batch])
        (logits,) = session.run(["logits"], {"embeddings": padded, "roles": padded_roles})
        for row, index in enumerate(batch):
            out[index] = logits[row, : len(embeddings[index])]
    return out


def escalation_ranking(message_logits: np.ndarray) -> np.ndarray:
    """A conversation's message indices, the one its signal heads read most strongly as an
    escalation move first."""
    return np.argsort(-message_logits[:, 1:].max(axis=1), kind="stable")


def final_risk_logits(message_logits: Sequence[np.ndarray]) -> np.ndarray:
    """A conversation's content logit: its risk logit after the last message, which the causal
    conversation model reads with the whole conversation before it."""
    return np.asarray([logits[-1, 0] for logits in message_logits], dtype=np.float64)


class Scorer:
    """Scores conversations with a verified bundle."""

    def __init__(
        self,
        bundle: Bundle,
        tokenizer: MessageTokenizer,
        encoder_session: ort.InferenceSession,
        conversation_session: ort.InferenceSession,
        metadata_session: ort.InferenceSession,
    ) -> None:
        self.bundle = bundle
        self.tokenizer = tokenizer
        self.encoder_session = encoder_session
        self.conversation_session = conversation_session
        self.metadata_session = metadata_session

    @classmethod
    def from_bundle(cls, bundle: Bundle, threads: int | None = None) -> Scorer:
        """Open the bundle's ONNX sessions and tokenizer."""
        if tuple(bundle.metadata_features) != METADATA_FEATURES:
            raise BundleError("bundle metadata features differ from this scorer's")
        threads = threads or bundle.runtime.intra_op_threads
        return cls(
            bundle,
            MessageTokenizer(load_tokenizer(str(bundle.file(TOKENIZER))), bundle.message),
            _session(bundle, ENCODER_MODEL, threads),
            _session(bundle, CONVERSATION_MODEL, threads),
            _session(bundle, METADATA_MODEL, threads),
        )

    def embeddings(self, encoded: Sequence[EncodedConversation]) -> list[np.ndarray]:
        """The message embeddings (messages x dim) of each encoded conversation."""
        if not encoded:
            return []
        vectors = session_embeddings(
            self.encoder_session, message_token_ids(encoded), self.bundle.runtime.message_batch_size
        )
        return per_conversation(vectors, encoded)

    def conversation_logits(self, embeddings: Sequence[np.ndarray], roles: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Per-message logits (messages x labels) of conversations given their message embeddings."""
        return session_conversation_logits(
            self.conversation_session, embeddings, roles, self.bundle.runtime.conversation_batch_size
        )

    def message_logits(self, conversations: Sequence[Conversation]) -> list[np.ndarray]:
        """Per-message logits of each conversation; the caller passes only records with consent."""
        encoded = self.tokenizer.encode(conversations)
        return self.conversation_logits(self.embeddings(encoded), [c.roles for c in encoded])

    def metadata_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """Logit of the metadata model's risk probability for each conversation."""
        if not conversations:
            return np.zeros(0)
        features = metadata_matrix(list(conversations))
        (probabilities,) = self.metadata_session.run(["probabilities"], {"features": features})
        return logit(probabilities[:, 1])

    def content_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """The uncalibrated content logit of each conversation (its risk after the last message).
        For calibration on labelled data; the caller passes only records with consent."""
        return final_risk_logits(self.message_logits(conversations))

    def score(self, conversations: Sequence[Conversation]) -> list[ConversationScore]:
        """Score a batch; conversations without consent are scored on metadata alone and
        their messages never reach the tokenizer."""
        metadata = self.metadata_logits(conversations)
        readable = [i for i, c in enumerate(conversations) if c.opt_in]
        logits = self.message_logits([conversations[i] for i in readable])
        results: list[ConversationScore | None] = [None] * len(conversations)
        for index, message_logits in zip(readable, logits, strict=True):
            results[index] = self._content_score(conversations[index], message_logits, metadata[index])
        for index, conversation in enumerate(conversations):
            if results[index] is None:
                results[index] = self._metadata_only_score(conversation, metadata[index])
        return results  # type: ignore[return-value]

    def _content_score(
        self, conversation: Conversation, logits: np.ndarray, metadata_logit: float
    ) -> ConversationScore:
        bundle = self.bundle
        running_content = logits[:, 0].astype(np.float64)
        running_risk = fuse(bundle.fusion, running_content, metadata_logit)
        bands = bundle.bands(MODE_CONTENT)
        crossed = np.flatnonzero(running_risk >= bands.medium)
        top = escalation_ranking(logits)[: bundle.runtime.top_messages]
        signal_scores = sigmoid(logits[:, 1:].max(axis=0))
        risk_score = float(running_risk[-1])
        return ConversationScore(
            conversation_id=conversation.conversation_id,
            risk_score=risk_score,
            risk_band=band(risk_score, bands),
            signals={name: float(s) for name, s in zip(SIGNALS, signal_scores, strict=True)},
            alert_message_index=int(crossed[0]) if crossed.size else None,
            top_message_indices=[int(i) for i in top],
            mode=MODE_CONTENT,
            content_score=float(platt(bundle.content_calibration, running_content[-1])),
            metadata_score=float(platt(bundle.metadata_calibration, metadata_logit)),
        )

    def _metadata_only_score(self, conversation: Conversation, metadata_logit: float) -> ConversationScore:
        risk_score = float(platt(self.bundle.metadata_calibration, metadata_logit))
        return ConversationScore(
            conversation_id=conversation.conversation_id,
            risk_score=risk_score,
            risk_band=band(risk_score, self.bundle.bands(MODE_METADATA)),
            signals=dict.fromkeys(SIGNALS),
            alert_message_index=None,
            top_message_indices=[],
            mode=MODE_METADATA,
            content_score=None,
            metadata_score=risk_score,
        )


@dataclass(frozen=True)
class MessageAttribution:
    """What one message contributed to its conversation's score: the final risk logit, and each
    signal's probability, minus the same conversation's without that message."""

    index: int
    risk_drop: float
    signal_drops: dict[str, float]


@dataclass(frozen=True)
class Explanation:
    """Occlusion over a whole conversation: each message removed in turn and the conversation
    model run again over the others. Messages are encoded alone, so no message is encoded twice
    and the drops measure the conversation model's use of each message in its context."""

    risk_logit: float
    signals: dict[str, float]
    messages: list[MessageAttribution]


def explain(scorer: Scorer, conversations: Sequence[Conversation]) -> list[Explanation | None]:
    """Occlusion of the first `runtime.explain_messages` messages of each conversation's
    `escalation_ranking` (every message of a shorter one); None for a conversation without
    consent (its text is never read). A one-message conversation has no attributions: without
    its message there is nothing left to score. Costs one conversation-model run per removed
    message: for a review page, not for every record."""
    readable = [i for i, c in enumerate(conversations) if c.opt_in]
    result: list[Explanation | None] = [None] * len(conversations)
    encoded = scorer.tokenizer.encode([conversations[i] for i in readable])
    embeddings = scorer.embeddings(encoded)
    full = scorer.conversation_logits(embeddings, [c.roles for c in encoded])
    for index, conversation, vectors, logits in zip(readable, encoded, embeddings, full, strict=True):
        count = len(conversation.roles)
        limit = scorer.bundle.runtime.explain_messages if count > 1 else 0
        removed = sorted(int(k) for k in escalation_ranking(logits)[:limit])
        keep = [[j for j in range(count) if j != k] for k in removed]
        variants = scorer.conversation_logits(
            [vectors[rows] for rows in keep], [[conversation.roles[j] for j in rows] for rows in keep]
        )
        full_risk = float(logits[-1, 0])
        full_signals = sigmoid(logits[:, 1:].max(axis=0))
        attributions = [
            MessageAttribution(
                index=k,
                risk_drop=full_risk - float(without[-1, 0]),
                signal_drops={
                    name: float(full_signals[j] - sigmoid(without[:, 1 + j].max())) for j, name in enumerate(SIGNALS)
                },
            )
            for k, without in zip(removed, variants, strict=True)
        ]
        result[index] = Explanation(
            risk_logit=full_risk,
            signals={name: float(p) for name, p in zip(SIGNALS, full_signals, strict=True)},
            messages=attributions,
        )
    return result

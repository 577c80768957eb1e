"""ONNX Runtime inference: messages encoded in length-bucketed batches, read in order by the
conversation model, fused with the metadata model and banded."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from serving.bundle import (
    CONTENT_ONLY,
    CONVERSATION_MODEL,
    ENCODER_GRAPHS,
    FP32,
    INT8,
    METADATA_MODEL,
    TOKENIZER,
    Bands,
    Bundle,
    BundleError,
    Fusion,
    Platt,
)
from serving.features import METADATA_FEATURES, account_known, known_features, metadata_matrix, with_availability
from serving.schema import MODE_CONTENT, MODE_METADATA, SIGNALS, Conversation
from serving.text import (
    ROLE_IDS,
    EncodedConversation,
    MessageTokenizer,
    bucketed_batches,
    distinct_messages,
    load_tokenizer,
    message_token_ids,
    pad_conversations,
    pad_tokens,
    per_conversation,
    same_length_batches,
)

_LOGIT_CLIP = 1e-7
AUTO = "auto"
PRECISIONS = (AUTO, FP32, INT8)
# The CPU flags of int8 dot-product instructions (VNNI), in /proc/cpuinfo's spelling.
VNNI_FLAGS = ("avx512_vnni", "avx_vnni")
CPUINFO = Path("/proc/cpuinfo")


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _LOGIT_CLIP, 1 - _LOGIT_CLIP)
    return np.log(p / (1 - p))


def platt(calibration: Platt, x: np.ndarray | float) -> np.ndarray:
    return sigmoid(calibration.slope * np.asarray(x, dtype=np.float64) + calibration.intercept)


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@dataclass(frozen=True)
class EncoderChoice:
    """The message-encoder graph a scorer runs (`fp32` or `int8`), and why, as a summary prints it."""

    precision: str
    reason: str

    def __str__(self) -> str:
        return f"{self.precision} ({self.reason})"


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags that every processor of a Linux /proc/cpuinfo text lists; none for any other text."""
    listed = [
        frozenset(value.split())
        for key, _, value in (line.partition(":") for line in cpuinfo.splitlines())
        if key.strip() == "flags"
    ]
    return frozenset.intersection(*listed) if listed else frozenset()


def read_cpuinfo() -> str:
    """This machine's /proc/cpuinfo, or nothing where there is none (not Linux) or it is unreadable."""
    try:
        return CPUINFO.read_text(errors="replace")
    except OSError:
        return ""


def auto_encoder(flags: frozenset[str]) -> EncoderChoice:
    """int8 on a CPU with VNNI, fp32 on any other and wherever the flags are unknown.

    Decided by the CPU's flags rather than by timing both graphs on a few batches: the gap has one
    cause and is large (issue 19, benchmarks/int8_variants.py: the shipped int8 encoder is ~10%
    faster than fp32 with AVX-512 VNNI and 3.3x slower on AVX2 alone, every int8 recipe slower
    there), so the flags decide it; reading them is free, where timing would open and warm both
    graphs at every start and in every Ray actor; and it is deterministic, where timing on a busy
    machine can crown the slower graph by noise. fp32 is the safe choice: at worst ~10% slower."""
    found = [flag for flag in VNNI_FLAGS if flag in flags]
    if found:
        return EncoderChoice(INT8, f"auto: {found[0]}")
    return EncoderChoice(FP32, "auto: no VNNI" if flags else "auto: CPU flags unknown")


def choose_encoder(precision: str | EncoderChoice, cpuinfo: str | None = None) -> EncoderChoice:
    """The encoder to run for `precision`: `fp32` or `int8` as asked, `auto` by the CPU flags of
    `cpuinfo` (default: this machine's), or a choice already settled (a resumed job's) as it is."""
    if isinstance(precision, EncoderChoice):
        return precision
    if precision in ENCODER_GRAPHS:
        return EncoderChoice(precision, "requested")
    if precision != AUTO:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return auto_encoder(cpu_flags(read_cpuinfo() if cpuinfo is None else cpuinfo))


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
    metadata_used: list[str]

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
            "metadata_used": self.metadata_used,
            "model_version": model_version,
            "bundle_sha256": bundle_sha256,
        }


def _tokenizer(bundle: Bundle) -> Tokenizer:
    try:
        return load_tokenizer(str(bundle.file(TOKENIZER)))
    except Exception as error:  # a file whose hash matches but which is not a tokenizer
        raise BundleError(f"bundle file {TOKENIZER} is not a loadable tokenizer ({type(error).__name__})") from None


def _session(bundle: Bundle, name: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(bundle.file(name)), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # a file whose hash matches but which ONNX Runtime cannot load
        raise BundleError(f"bundle file {name} is not a loadable ONNX model ({type(error).__name__})") from None
    expected = bundle.manifest.get("onnx_io", {}).get(name)
    actual = {
        "inputs": [i.name for i in session.get_inputs()],
        "outputs": [o.name for o in session.get_outputs()],
    }
    if expected != actual:
        raise BundleError(f"{name} inputs/outputs {actual} differ from the manifest's {expected}")
    return session


class EmbeddingCache:
    """The embeddings of the last `max_messages` distinct messages a scorer encoded, keyed by
    their token ids, the least recently used dropped first: real chat repeats itself across
    conversations ("ok", "lol", "u there?"), and a message's embedding depends on nothing else
    (`session_embeddings`), so a kept one is exactly the one it would get again."""

    def __init__(self, max_messages: int) -> None:
        self.max_messages = max_messages
        self.hits = 0
        self.misses = 0
        self._rows: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, token_ids: tuple[int, ...]) -> np.ndarray | None:
        row = self._rows.get(token_ids)
        if row is None:
            self.misses += 1
        else:
            self.hits += 1
            self._rows.move_to_end(token_ids)
        return row

    def put(self, token_ids: tuple[int, ...], row: np.ndarray) -> None:
        self._rows[token_ids] = row
        self._rows.move_to_end(token_ids)
        while len(self._rows) > self.max_messages:
            self._rows.popitem(last=False)


def _encode(session: ort.InferenceSession, token_ids: Sequence[tuple[int, ...]]) -> np.ndarray:
    """One encoder batch of messages of one length. A message's embedding then does not depend on
    the other rows, with one exception: ONNX Runtime computes a single row by another kernel
    (matrix times vector) whose last bits differ, so a lone message runs beside a copy of itself.
    (Padding, too, moves the last bits, which is why batches hold one length.)"""
    rows = list(token_ids) * 2 if len(token_ids) == 1 else token_ids
    input_ids, attention = pad_tokens(rows)
    (embeddings,) = session.run(["embeddings"], {"input_ids": input_ids, "attention_mask": attention})
    return embeddings[: len(token_ids)]


def session_embeddings(
    session: ort.InferenceSession,
    token_ids: Sequence[Sequence[int]],
    batch_size: int,
    cache: EmbeddingCache | None = None,
) -> np.ndarray:
    """Embeddings (len(token_ids) x dim) of messages from an encoder session, in batches of one
    length: each distinct message of the call once, and none that `cache` holds. A message gets
    the same embedding in any batch (`_encode`), so the cache changes no score."""
    unique, inverse = distinct_messages(token_ids)
    dim = session.get_outputs()[0].shape[-1]
    out = np.zeros((len(unique), dim), dtype=np.float32)
    missing = []
    for index, ids in enumerate(unique):
        row = cache.get(ids) if cache is not None else None
        if row is None:
            missing.append(index)
        else:
            out[index] = row
    for batch in same_length_batches([len(unique[i]) for i in missing], batch_size):
        rows = [missing[i] for i in batch]
        out[rows] = _encode(session, [unique[i] for i in rows])
        if cache is not None:
            for index in rows:
                cache.put(unique[index], out[index].copy())
    return out[inverse]


# The conversation model's state between segments: each signal's strongest evidence so far from
# each role of sender (ROLE_IDS order), signal after signal within a role; then each role's
# messages so far.
EVIDENCE_WIDTH = len(ROLE_IDS) * (len(SIGNALS) + 1)
# A conversation model: (embeddings, roles, evidence) -> (logits, evidence), batch-first arrays.
ConversationRunner = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def session_runner(session: ort.InferenceSession) -> ConversationRunner:
    """The conversation model of an ONNX session as a `ConversationRunner`."""

    def run(embeddings: np.ndarray, roles: np.ndarray, evidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, so_far = session.run(
            ["logits", "evidence_out"], {"embeddings": embeddings, "roles": roles, "evidence": evidence}
        )
        return logits, so_far

    return run


def segment_rounds(lengths: Sequence[int], segment: int) -> Iterator[tuple[int, list[int]]]:
    """For each `segment` messages of the longest of conversations with these `lengths`: the
    segment's first message, and the conversations that reach it."""
    for start in range(0, max(lengths, default=0), segment):
        yield start, [i for i, length in enumerate(lengths) if length > start]


def run_segments(
    run: ConversationRunner,
    embeddings: Sequence[np.ndarray],
    roles: Sequence[Sequence[int]],
    evidence: np.ndarray,
    segment: int,
) -> tuple[list[np.ndarray], np.ndarray]:
    """One batch of conversations, `segment` messages at a time, each segment continuing from the
    evidence the one before left: the per-message logits of each and its evidence after its last
    message. `evidence` (conversations x EVIDENCE_WIDTH) is where each starts."""
    evidence = evidence.copy()
    parts: list[list[np.ndarray]] = [[] for _ in embeddings]
    for start, going in segment_rounds([len(e) for e in embeddings], segment):
        padded, padded_roles = pad_conversations(
            [embeddings[i][start : start + segment] for i in going], [roles[i][start : start + segment] for i in going]
        )
        logits, so_far = run(padded, padded_roles, evidence[going])
        for row, index in enumerate(going):
            count = min(segment, len(embeddings[index]) - start)
            parts[index].append(logits[row, :count])
            evidence[index] = so_far[row, count - 1]
    empty = np.zeros((0, 1 + len(SIGNALS)), dtype=np.float32)
    return [np.concatenate(p) if p else empty for p in parts], evidence


def conversation_logits(
    run: ConversationRunner,
    embeddings: Sequence[np.ndarray],
    roles: Sequence[Sequence[int]],
    batch_size: int,
    segment: int,
    evidence: np.ndarray | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """The per-message logits (messages x labels) of each conversation, row i the risk so far and
    the signals of message i, read with every message before it; and each conversation's
    evidence after its last message. Conversations of similar length share a batch; each is read
    in segments of at most `segment` messages, so the model's memory does not grow with a
    conversation's length. `evidence` (conversations x EVIDENCE_WIDTH, default zeros) continues
    conversations read before."""
    if evidence is None:
        evidence = np.zeros((len(embeddings), EVIDENCE_WIDTH), dtype=np.float32)
    out: list[np.ndarray] = [np.zeros((0, 1 + len(SIGNALS)), dtype=np.float32)] * len(embeddings)
    after = evidence.astype(np.float32)  # a copy: the caller's array is left as it was
    for batch in bucketed_batches([len(e) for e in embeddings], batch_size):
        batch = [int(i) for i in batch]
        logits, so_far = run_segments(
            run, [embeddings[i] for i in batch], [roles[i] for i in batch], after[batch], segment
        )
        for row, index in enumerate(batch):
            out[index] = logits[row]
        after[batch] = so_far
    return out, after


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
        encoder: EncoderChoice,
        cache: EmbeddingCache | None = None,
    ) -> None:
        self.bundle = bundle
        self.tokenizer = tokenizer
        self.encoder_session = encoder_session
        self.conversation_session = conversation_session
        self.metadata_session = metadata_session
        self.encoder = encoder
        self.cache = cache

    @classmethod
    def from_bundle(
        cls,
        bundle: Bundle,
        threads: int | None = None,
        precision: str | EncoderChoice = AUTO,
        cache_messages: int | None = None,
    ) -> Scorer:
        """Open the bundle's ONNX sessions and tokenizer, with the encoder graph of `precision`
        (`choose_encoder`: auto, fp32, int8 or a settled choice) and an embedding cache of
        `cache_messages` (default: the bundle's `runtime.embedding_cache_messages`; 0: none)."""
        if tuple(bundle.metadata_features) != METADATA_FEATURES:
            raise BundleError("bundle metadata features differ from this scorer's")
        encoder = choose_encoder(precision)
        # The bundle's default was chosen on another machine: no more threads than CPUs here.
        threads = threads or min(bundle.runtime.intra_op_threads, usable_cpus())
        if cache_messages is None:
            cache_messages = bundle.runtime.embedding_cache_messages
        return cls(
            bundle,
            MessageTokenizer(_tokenizer(bundle), bundle.message),
            _session(bundle, ENCODER_GRAPHS[encoder.precision], threads),
            _session(bundle, CONVERSATION_MODEL, threads),
            _session(bundle, METADATA_MODEL, threads),
            encoder,
            EmbeddingCache(cache_messages) if cache_messages else None,
        )

    def embeddings(self, encoded: Sequence[EncodedConversation]) -> list[np.ndarray]:
        """The message embeddings (messages x dim) of each encoded conversation."""
        if not encoded:
            return []
        vectors = session_embeddings(
            self.encoder_session, message_token_ids(encoded), self.bundle.runtime.message_batch_size, self.cache
        )
        return per_conversation(vectors, encoded)

    def conversation_logits(
        self,
        embeddings: Sequence[np.ndarray],
        roles: Sequence[Sequence[int]],
        evidence: np.ndarray | None = None,
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """Per-message logits (messages x labels) of conversations given their message embeddings,
        and their evidence after the last message (`conversation_logits` above)."""
        runtime = self.bundle.runtime
        return conversation_logits(
            session_runner(self.conversation_session),
            embeddings,
            roles,
            runtime.conversation_batch_size,
            runtime.segment_messages,
            evidence,
        )

    def message_logits(self, conversations: Sequence[Conversation]) -> list[np.ndarray]:
        """Per-message logits of each conversation; the caller passes only records with consent.
        Messages are tokenised and encoded `runtime.segment_messages` at a time per conversation,
        each segment continuing the evidence of the one before, so that a conversation of tens of
        thousands of messages is scored whole in memory bounded by the segment."""
        segment = self.bundle.runtime.segment_messages
        parts: list[list[np.ndarray]] = [[] for _ in conversations]
        evidence = np.zeros((len(conversations), EVIDENCE_WIDTH), dtype=np.float32)
        for start, going in segment_rounds([len(c.messages) for c in conversations], segment):
            encoded = self.tokenizer.encode([conversations[i] for i in going], start, start + segment)
            logits, after = self.conversation_logits(
                self.embeddings(encoded), [c.roles for c in encoded], evidence[going]
            )
            for index, part in zip(going, logits, strict=True):
                parts[index].append(part)
            evidence[going] = after
        return [np.concatenate(p) for p in parts]

    def metadata_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """Logit of the metadata model's risk probability for each conversation."""
        return self._metadata_logits(metadata_matrix(list(conversations)))

    def _metadata_logits(self, features: np.ndarray) -> np.ndarray:
        if not len(features):
            return np.zeros(0)
        (probabilities,) = self.metadata_session.run(["probabilities"], {"features": with_availability(features)})
        return logit(probabilities[:, 1])

    def content_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """The uncalibrated content logit of each conversation (its risk after the last message).
        For calibration on labelled data; the caller passes only records with consent."""
        return final_risk_logits(self.message_logits(conversations))

    def score(self, conversations: Sequence[Conversation]) -> list[ConversationScore]:
        """Score a batch; conversations without consent are scored on metadata alone and
        their messages never reach the tokenizer."""
        features = metadata_matrix(list(conversations))
        metadata = self._metadata_logits(features)
        used = [known_features(row) for row in features]
        readable = [i for i, c in enumerate(conversations) if c.opt_in]
        logits = self.message_logits([conversations[i] for i in readable])
        results: list[ConversationScore | None] = [None] * len(conversations)
        for index, message_logits in zip(readable, logits, strict=True):
            results[index] = self._content_score(conversations[index], message_logits, metadata[index], used[index])
        for index, conversation in enumerate(conversations):
            if results[index] is None:
                results[index] = self._metadata_only_score(conversation, metadata[index], used[index])
        return results  # type: ignore[return-value]

    def _content_score(
        self, conversation: Conversation, logits: np.ndarray, metadata_logit: float, used: list[str]
    ) -> ConversationScore:
        bundle = self.bundle
        running_content = logits[:, 0].astype(np.float64)
        if account_known(used):
            running_risk, bands = fuse(bundle.fusion, running_content, metadata_logit), bundle.bands(MODE_CONTENT)
        else:  # absent metadata is unknown: the score rests on the content alone
            running_risk, bands = platt(bundle.content_calibration, running_content), bundle.bands(CONTENT_ONLY)
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
            metadata_used=used,
        )

    def _metadata_only_score(
        self, conversation: Conversation, metadata_logit: float, used: list[str]
    ) -> ConversationScore:
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
            metadata_used=used,
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
    full, _ = scorer.conversation_logits(embeddings, [c.roles for c in encoded])
    for index, conversation, vectors, logits in zip(readable, encoded, embeddings, full, strict=True):
        count = len(conversation.roles)
        limit = scorer.bundle.runtime.explain_messages if count > 1 else 0
        removed = sorted(int(k) for k in escalation_ranking(logits)[:limit])
        roles = np.asarray(conversation.roles)
        # One variant at a time: a long conversation's copies would not fit side by side.
        variants = [
            scorer.conversation_logits([np.delete(vectors, k, axis=0)], [np.delete(roles, k)])[0][0] for k in removed
        ]
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

"""ONNX Runtime inference: windows in length-bucketed batches, aggregated per conversation,
fused with the metadata model and banded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from serving.bundle import (
    CONTENT_MODEL,
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
from serving.text import Window, Windower, load_tokenizer, render_message

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


def bucketed_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, so padding stays small."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def max_per_conversation(window_values: np.ndarray, owner: np.ndarray, count: int) -> np.ndarray:
    """The largest window value of each conversation: how window scores aggregate, because
    escalation anywhere in a conversation is what a reviewer must see."""
    result = np.full(count, -np.inf)
    np.maximum.at(result, owner, np.asarray(window_values, dtype=np.float64))
    return result


def pad_batch(windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
    """`input_ids` and `attention_mask` (int64) of windows right-padded to the longest."""
    width = max(len(w.input_ids) for w in windows)
    input_ids = np.zeros((len(windows), width), dtype=np.int64)
    attention = np.zeros((len(windows), width), dtype=np.int64)
    for row, window in enumerate(windows):
        input_ids[row, : len(window.input_ids)] = window.input_ids
        attention[row, : len(window.input_ids)] = 1
    return input_ids, attention


def session_logits(
    session: ort.InferenceSession, windows: Sequence[Window], batch_size: int, labels: int
) -> np.ndarray:
    """Logits (len(windows) x labels) of a content-model session, in length-bucketed batches."""
    out = np.zeros((len(windows), labels), dtype=np.float32)
    lengths = [len(w.input_ids) for w in windows]
    for batch in bucketed_batches(lengths, batch_size):
        input_ids, attention = pad_batch([windows[i] for i in batch])
        (logits,) = session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention})
        out[batch] = logits
    return out


class Scorer:
    """Scores conversations with a verified bundle."""

    def __init__(
        self,
        bundle: Bundle,
        windower: Windower,
        content_session: ort.InferenceSession,
        metadata_session: ort.InferenceSession,
    ) -> None:
        self.bundle = bundle
        self.windower = windower
        self.content_session = content_session
        self.metadata_session = metadata_session

    @classmethod
    def from_bundle(cls, bundle: Bundle, threads: int | None = None) -> Scorer:
        """Open the bundle's ONNX sessions and tokenizer."""
        if tuple(bundle.metadata_features) != METADATA_FEATURES:
            raise BundleError("bundle metadata features differ from this scorer's")
        threads = threads or bundle.runtime.intra_op_threads
        windower = Windower(load_tokenizer(str(bundle.file(TOKENIZER))), bundle.window)
        return cls(
            bundle,
            windower,
            _session(bundle, CONTENT_MODEL, threads),
            _session(bundle, METADATA_MODEL, threads),
        )

    def window_logits(self, windows: Sequence[Window]) -> np.ndarray:
        """Model logits of each window, shape (len(windows), len(labels))."""
        return session_logits(self.content_session, windows, self.bundle.runtime.batch_size, len(self.bundle.labels))

    def metadata_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """Logit of the metadata model's risk probability for each conversation."""
        if not conversations:
            return np.zeros(0)
        features = metadata_matrix(list(conversations))
        (probabilities,) = self.metadata_session.run(["probabilities"], {"features": features})
        return logit(probabilities[:, 1])

    def content_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """The uncalibrated content logit of each conversation: its highest window risk logit.
        For calibration on labelled data; the caller passes only records with consent."""
        windows = self.windower.windows(conversations)
        logits = self.window_logits([w for conversation_windows in windows for w in conversation_windows])
        owner = np.repeat(np.arange(len(windows)), [len(w) for w in windows])
        return max_per_conversation(logits[:, 0], owner, len(windows))

    def score(self, conversations: Sequence[Conversation]) -> list[ConversationScore]:
        """Score a batch; conversations without consent are scored on metadata alone and
        their messages never reach the tokenizer."""
        metadata = self.metadata_logits(conversations)
        readable = [i for i, c in enumerate(conversations) if c.opt_in]
        windows = self.windower.windows([conversations[i] for i in readable])
        flat = [w for conversation_windows in windows for w in conversation_windows]
        logits = self.window_logits(flat)
        results: list[ConversationScore | None] = [None] * len(conversations)
        offset = 0
        for index, conversation_windows in zip(readable, windows, strict=True):
            count = len(conversation_windows)
            results[index] = self._content_score(
                conversations[index], conversation_windows, logits[offset : offset + count], metadata[index]
            )
            offset += count
        for index, conversation in enumerate(conversations):
            if results[index] is None:
                results[index] = self._metadata_only_score(conversation, metadata[index])
        return results  # type: ignore[return-value]

    def _content_score(
        self, conversation: Conversation, windows: list[Window], logits: np.ndarray, metadata_logit: float
    ) -> ConversationScore:
        bundle = self.bundle
        risk_logits = logits[:, 0].astype(np.float64)
        running_content = np.maximum.accumulate(risk_logits)
        running_risk = fuse(bundle.fusion, running_content, metadata_logit)
        bands = bundle.bands(MODE_CONTENT)
        crossed = np.flatnonzero(running_risk >= bands.medium)
        top = np.argsort(-risk_logits, kind="stable")[: bundle.runtime.top_messages]
        signal_scores = sigmoid(logits[:, 1:].max(axis=0))
        risk_score = float(running_risk[-1])
        return ConversationScore(
            conversation_id=conversation.conversation_id,
            risk_score=risk_score,
            risk_band=band(risk_score, bands),
            signals={name: float(s) for name, s in zip(SIGNALS, signal_scores, strict=True)},
            alert_message_index=int(windows[crossed[0]].end) if crossed.size else None,
            top_message_indices=[int(windows[i].end) for i in top],
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
    """What one message of a conversation's highest-scoring window contributed to it: the
    window's risk logit, and each signal's probability, minus the same window's without it."""

    index: int
    risk_drop: float
    signal_drops: dict[str, float]


@dataclass(frozen=True)
class Explanation:
    """Occlusion within the highest-scoring window: each of its messages removed in turn and the
    window scored again, the full window in the same ONNX Runtime batch so that the int8 batch
    effect cancels out of the differences."""

    window_start: int
    window_end: int
    window_risk_logit: float
    window_signals: dict[str, float]
    messages: list[MessageAttribution]


def _window_pieces(window: Window, message_ids: Sequence[Sequence[int]]) -> list[list[int]] | None:
    """The token ids of each message of `window` as it holds them (the first may be cut to its
    tail), or None if they do not rebuild the window exactly."""
    inner = sum(len(ids) + 1 for ids in message_ids[1:])
    first = len(window.input_ids) - 2 - inner
    if first < 1 or first > len(message_ids[0]):
        return None
    pieces = [list(message_ids[0][-first:]), *(list(ids) for ids in message_ids[1:])]
    return pieces


def _join(pieces: Sequence[Sequence[int]], cls_id: int, sep_id: int) -> tuple[int, ...]:
    ids = [cls_id]
    for piece in pieces:
        ids.extend(piece)
        ids.append(sep_id)
    return tuple(ids)


def explain(scorer: Scorer, conversations: Sequence[Conversation]) -> list[Explanation | None]:
    """Per-message occlusion within each conversation's highest-scoring window; None for a
    conversation without consent (its text is never read) or whose window cannot be rebuilt.
    Costs one extra window per message of the top window: for a review page, not for every record."""
    readable = [i for i, c in enumerate(conversations) if c.opt_in]
    result: list[Explanation | None] = [None] * len(conversations)
    if not readable:
        return result
    windower, session = scorer.windower, scorer.content_session
    labels = len(scorer.bundle.labels)
    windows = windower.windows([conversations[i] for i in readable])
    logits = scorer.window_logits([w for ws in windows for w in ws])
    cls_id, sep_id = windower.tokenizer.token_to_id("[CLS]"), windower.tokenizer.token_to_id("[SEP]")
    offset = 0
    for index, conversation_windows in zip(readable, windows, strict=True):
        top = conversation_windows[int(np.argmax(logits[offset : offset + len(conversation_windows), 0]))]
        offset += len(conversation_windows)
        messages = conversations[index].messages[top.start : top.end + 1]
        rendered = [render_message(m.role, m.text) for m in messages]
        encoded = [e.ids for e in windower.tokenizer.encode_batch(rendered, add_special_tokens=False)]
        pieces = _window_pieces(top, encoded)
        if pieces is None or _join(pieces, cls_id, sep_id) != top.input_ids:
            continue
        variants = [top] + [
            Window(top.start, top.end, _join(pieces[:k] + pieces[k + 1 :], cls_id, sep_id)) for k in range(len(pieces))
        ]
        input_ids, attention = pad_batch(variants)
        (out,) = session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention})
        out = out.astype(np.float64).reshape(len(variants), labels)
        full_signals = sigmoid(out[0, 1:])
        attributions = [
            MessageAttribution(
                index=top.start + k,
                risk_drop=float(out[0, 0] - out[k + 1, 0]),
                signal_drops={
                    name: float(full_signals[j] - sigmoid(out[k + 1, 1 + j])) for j, name in enumerate(SIGNALS)
                },
            )
            for k in range(len(pieces))
        ]
        result[index] = Explanation(
            window_start=top.start,
            window_end=top.end,
            window_risk_logit=float(out[0, 0]),
            window_signals={name: float(p) for name, p in zip(SIGNALS, full_signals, strict=True)},
            messages=attributions,
        )
    return result

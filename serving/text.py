"""Normalisation and message encoding: the one implementation that training, evaluation and
scoring call.

The content model reads a conversation one message at a time: each message is normalised and
tokenised on its own (`[CLS] text [SEP]`, at most `max_tokens` tokens, cut at its end), and
the sender's role travels beside it as a small integer. The conversation model puts the
messages back in order (serving/scorer.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from serving.schema import Conversation

# Zero-width and bidi control characters are a cheap way to split words past a model.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_WHITESPACE = re.compile(r"\s+")

# The role ids the conversation model reads; fixed, because a trained model depends on them.
ROLE_IDS: dict[str, int] = {"reporter": 0, "reported": 1, "other": 2}


def normalize(text: str) -> str:
    """Unicode-compatibility form, no invisible characters, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _WHITESPACE.sub(" ", text).strip()


def render_message(role: str, text: str) -> str:
    """A message as one line of a document (the TF-IDF baseline's view): role, then normalised text."""
    return f"{role}: {normalize(text)}"


@dataclass(frozen=True)
class MessageParams:
    max_tokens: int  # per message, [CLS] and [SEP] included

    def __post_init__(self) -> None:
        if self.max_tokens < 3:
            raise ValueError("message.max_tokens must leave room for [CLS], one token and [SEP]")


@dataclass(frozen=True)
class EncodedConversation:
    """One conversation as the content model reads it: the token ids and role id of each message."""

    token_ids: tuple[tuple[int, ...], ...]
    roles: tuple[int, ...]


class MessageTokenizer:
    """Turns conversations into per-message token ids with one tokenizer and one set of parameters."""

    def __init__(self, tokenizer: Tokenizer, params: MessageParams) -> None:
        self.tokenizer = tokenizer
        self.params = params

    def encode(
        self, conversations: Sequence[Conversation], start: int = 0, stop: int | None = None
    ) -> list[EncodedConversation]:
        """Messages `start` to `stop` (default: every message) of every conversation, tokenised in one batch."""
        chosen = [conversation.messages[start:stop] for conversation in conversations]
        texts = [normalize(m.text) for messages in chosen for m in messages]
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        cls_id = self.tokenizer.token_to_id("[CLS]")
        sep_id = self.tokenizer.token_to_id("[SEP]")
        keep = self.params.max_tokens - 2
        result, offset = [], 0
        for messages in chosen:
            count = len(messages)
            token_ids = tuple((cls_id, *encodings[offset + i].ids[:keep], sep_id) for i in range(count))
            roles = tuple(ROLE_IDS[m.role] for m in messages)
            result.append(EncodedConversation(token_ids, roles))
            offset += count
        return result


def message_token_ids(encoded: Sequence[EncodedConversation]) -> list[tuple[int, ...]]:
    """The token ids of every message of `encoded`, conversation after conversation."""
    return [ids for conversation in encoded for ids in conversation.token_ids]


def distinct_messages(token_ids: Sequence[Sequence[int]]) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The distinct messages of `token_ids` in order of first appearance, and for each message the
    index of its copy there: chat repeats itself ("ok", "lol", "u there?"), and a message's
    embedding depends on nothing else, so each distinct one is encoded once."""
    first: dict[tuple[int, ...], int] = {}
    inverse = np.asarray([first.setdefault(tuple(ids), len(first)) for ids in token_ids], dtype=np.int64)
    return list(first), inverse


def per_conversation(rows: np.ndarray, encoded: Sequence[EncodedConversation]) -> list[np.ndarray]:
    """Rows of one array, one per message of `encoded`, split back into conversations."""
    ends = np.cumsum([len(c.token_ids) for c in encoded])
    return np.split(rows, ends[:-1]) if len(encoded) else []


def bucketed_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, so padding stays small."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def same_length_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Indices grouped into batches of messages of one length, at most `batch_size` each, shortest
    first: nothing is padded, and a message's embedding does not depend on its batch's width."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    ordered = np.asarray(lengths)[order]
    groups = np.split(order, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1)
    return [group[i : i + batch_size] for group in groups for i in range(0, len(group), batch_size)]


def pad_tokens(token_ids: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """`input_ids` and `attention_mask` (int64) of messages right-padded to the longest."""
    width = max(len(ids) for ids in token_ids)
    input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
    attention = np.zeros((len(token_ids), width), dtype=np.int64)
    for row, ids in enumerate(token_ids):
        input_ids[row, : len(ids)] = ids
        attention[row, : len(ids)] = 1
    return input_ids, attention


def pad_conversations(
    embeddings: Sequence[np.ndarray], roles: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Conversations of message embeddings (each messages x dim) right-padded to the longest:
    `embeddings` (batch x messages x dim, float32) and `roles` (batch x messages, int64). The
    conversation model is causal, so padding after a conversation never changes its outputs."""
    width = max(len(e) for e in embeddings)
    dim = embeddings[0].shape[1]
    padded = np.zeros((len(embeddings), width, dim), dtype=np.float32)
    padded_roles = np.zeros((len(embeddings), width), dtype=np.int64)
    for row, (e, r) in enumerate(zip(embeddings, roles, strict=True)):
        padded[row, : len(e)] = e
        padded_roles[row, : len(r)] = r
    return padded, padded_roles


def load_tokenizer(path: str) -> Tokenizer:
    """A fast tokenizer from a `tokenizer.json`, with its own padding and truncation switched off."""
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer

"""Normalisation and windowing: the one implementation that training, evaluation and scoring call.

A window is the run of messages that ends at one point of the conversation, each message
marked with its sender's role, truncated from the left to `max_length` tokens. Windows
close every `stride_tokens` tokens (`stride_tokens >= max_length / 2` keeps the tokens
encoded per conversation near twice its own count) and early enough that every message is
read by some window.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer

from serving.schema import Conversation

# Zero-width and bidi control characters are a cheap way to split words past a model.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Unicode-compatibility form, no invisible characters, single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _WHITESPACE.sub(" ", text).strip()


def render_message(role: str, text: str) -> str:
    """A message as the model reads it: the sender's role, then the normalised text."""
    return f"{role}: {normalize(text)}"


@dataclass(frozen=True)
class WindowParams:
    max_length: int
    stride_tokens: int

    def __post_init__(self) -> None:
        if 2 * self.stride_tokens < self.max_length:
            raise ValueError("window.stride_tokens must be at least half of window.max_length")


@dataclass(frozen=True)
class Window:
    """Messages `start`..`end` (inclusive) of a conversation, encoded as model input ids."""

    start: int
    end: int
    input_ids: tuple[int, ...]


def window_ends(token_counts: Sequence[int], stride_tokens: int, budget: int) -> list[int]:
    """Message indices at which a window closes, so that every message lies in some window
    of at most `budget` tokens (a single longer message is read from its end): a window
    closes once `stride_tokens` tokens have passed since the previous one, or just before a
    message that would not fit beside the stretch since then; a short tail moves the last
    end to the last message instead of adding a window when the merged stretch still fits."""
    ends: list[int] = []
    since_last = 0
    for index, count in enumerate(token_counts):
        if since_last and since_last + count > budget:
            ends.append(index - 1)
            since_last = 0
        since_last += count
        if since_last >= stride_tokens:
            ends.append(index)
            since_last = 0
    last = len(token_counts) - 1
    if since_last:
        stretch = sum(token_counts[ends[-2] + 1 :]) if len(ends) > 1 else sum(token_counts)
        if ends and stretch <= budget:
            ends[-1] = last
        else:
            ends.append(last)
    return ends


def assemble_window(
    message_ids: Sequence[Sequence[int]], end: int, max_length: int, cls_id: int, sep_id: int
) -> Window:
    """The window closing at `end`: whole messages back from `end` while they fit, then the
    tail of the next one; `[CLS] m_start [SEP] ... m_end [SEP]`."""
    budget = max_length - 1  # room left after [CLS]
    pieces: list[Sequence[int]] = []
    start = end
    for index in range(end, -1, -1):
        needed = len(message_ids[index]) + 1  # the message and its [SEP]
        if needed > budget:
            if budget > 1:
                pieces.append(message_ids[index][-(budget - 1) :])
                start = index
            break
        pieces.append(message_ids[index])
        budget -= needed
        start = index
    input_ids = [cls_id]
    for piece in reversed(pieces):
        input_ids.extend(piece)
        input_ids.append(sep_id)
    return Window(start, end, tuple(input_ids))


class Windower:
    """Turns conversations into model windows with one tokenizer and one set of parameters."""

    def __init__(self, tokenizer: Tokenizer, params: WindowParams) -> None:
        self.tokenizer = tokenizer
        self.params = params

    def windows(self, conversations: Sequence[Conversation]) -> list[list[Window]]:
        """The windows of each conversation, tokenising all messages in one batch."""
        rendered = [render_message(m.role, m.text) for conversation in conversations for m in conversation.messages]
        encodings = self.tokenizer.encode_batch(rendered, add_special_tokens=False)
        cls_id = self.tokenizer.token_to_id("[CLS]")
        sep_id = self.tokenizer.token_to_id("[SEP]")
        result, offset = [], 0
        for conversation in conversations:
            count = len(conversation.messages)
            message_ids = [encodings[offset + i].ids for i in range(count)]
            offset += count
            counts = [len(ids) + 1 for ids in message_ids]  # each message and its [SEP]
            ends = window_ends(counts, self.params.stride_tokens, self.params.max_length - 1)
            result.append([assemble_window(message_ids, end, self.params.max_length, cls_id, sep_id) for end in ends])
        return result


def load_tokenizer(path: str) -> Tokenizer:
    """A fast tokenizer from a `tokenizer.json`, with its own padding and truncation switched off."""
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer

"""`--review-queue queue.html`: a local, self-contained page for reviewers, highest priority
first (band, then score), showing per conversation the messages that drove its score.

The page shows message text: it is asked for explicitly, written locally and meant for the
reviewers who must read the report anyway. Every string from a record is HTML-escaped, the page
loads nothing and runs no script (a Content-Security-Policy says so too), and a record without
consent shows no message at all. Logs and the summary still carry ids and numbers only.
"""

from __future__ import annotations

import bisect
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from serving.bundle import CONTENT_ONLY, Bundle
from serving.schema import MODE_CONTENT, MODE_METADATA, Conversation, RecordError, parse_record
from serving.scorer import Explanation, Scorer, explain
from serving.sources import ChunkReader, Plan, decode_chunk

BAND_RANK = {"high": 0, "medium": 1, "low": 2}
# A long conversation shows the messages that drove its score, the alert message and this many around them.
CONTEXT_MESSAGES = 5
SHOW_ALL_UP_TO = 60
PRESENT = 0.5  # a signal probability at or above which the conversation expresses the signal


def priority(record: dict[str, Any]) -> tuple[int, float, str]:
    """Sort key of the queue: band, then score (highest first), then id for a stable order."""
    return BAND_RANK.get(record["risk_band"], len(BAND_RANK)), -record["risk_score"], record["conversation_id"]


class ReviewCandidates:
    """The `limit` highest-priority output records seen, with where they came from; memory
    stays proportional to `limit` whatever the input's size."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: list[tuple[tuple[int, float, str], int, int, dict[str, Any]]] = []

    def offer(self, record: dict[str, Any], file_index: int, line: int) -> None:
        if self.limit <= 0:
            return
        self._items.append((priority(record), file_index, line, record))
        if len(self._items) >= 2 * self.limit:
            self._trim()

    def _trim(self) -> None:
        self._items.sort(key=lambda item: item[0])
        del self._items[self.limit :]

    def ranked(self) -> list[tuple[int, int, dict[str, Any]]]:
        """(file index, line, output record), highest priority first."""
        self._trim()
        return [(file_index, line, record) for _, file_index, line, record in self._items]


def _conversations(plan: Plan, limits: Any, wanted: Sequence[tuple[int, int]]) -> dict[tuple[int, int], Conversation]:
    """The validated records at (file index, line) `wanted`, read again from the input."""
    starts: dict[int, list[int]] = {}
    for spec in plan.chunks:
        starts.setdefault(spec.file_index, []).append(spec.index)
    by_chunk: dict[int, set[int]] = {}
    for file_index, line in wanted:
        indices = starts[file_index]
        position = bisect.bisect_right([plan.chunks[i].first_line for i in indices], line) - 1
        by_chunk.setdefault(indices[position], set()).add(line)
    found: dict[tuple[int, int], Conversation] = {}
    with ChunkReader(plan, limits) as reader:
        for index in sorted(by_chunk):
            spec = plan.chunks[index]
            for line, record in decode_chunk(reader.read(spec), limits):
                if line in by_chunk[index] and not isinstance(record, RecordError):
                    try:
                        found[(spec.file_index, line)] = parse_record(record, limits)
                    except RecordError:
                        continue
    return found


def band_meaning(bundle: Bundle) -> str:
    """What each band means, in words a reviewer reads at a glance, with each path's thresholds."""
    content, metadata = bundle.bands(MODE_CONTENT), bundle.bands(MODE_METADATA)
    no_account = bundle.bands(CONTENT_ONLY)
    targets = bundle.manifest.get("band_targets", {})
    high_fpr, medium_recall = targets.get("high_max_fpr"), targets.get("medium_min_recall")
    high = f"on validation, at most {high_fpr:.0%} of benign conversations scored this high" if high_fpr else ""
    real = targets.get("medium_max_real_benign_fpr")
    medium = f"on validation, {medium_recall:.0%} of risky conversations reached it" if medium_recall else ""
    if medium and real is not None:
        medium += f" (messages only: fewer, where more than {real:.0%} of real everyday chat would)"
    return (
        f"<strong>high</strong>: look first; {high}. <strong>medium</strong>: the alert; {medium}, with more "
        "benign ones than high. <strong>low</strong>: below the alert: not flagged, not cleared. Thresholds "
        f"(medium / high): with account metadata {content.medium:.2f} / {content.high:.2f}; messages only, no "
        f"account metadata {no_account.medium:.2f} / {no_account.high:.2f}; metadata only, no consent "
        f"{metadata.medium:.2f} / {metadata.high:.2f}."
    )


def write_review_queue(path: Path, scorer: Scorer, plan: Plan, candidates: ReviewCandidates, summary: Any) -> None:
    """Write the page for the top candidates, atomically (a `.partial` renamed when complete)."""
    ranked = candidates.ranked()
    conversations = _conversations(plan, scorer.bundle.limits, [(f, line) for f, line, _ in ranked])
    shown = [(f, line, record, conversations.get((f, line))) for f, line, record in ranked]
    explanations = explain(scorer, [c for *_, c in shown if c is not None])
    by_key = dict(zip([(f, line) for f, line, _, c in shown if c is not None], explanations, strict=True))
    sections = [
        _section(rank, plan.files[f].name, line, record, conversation, by_key.get((f, line)), scorer)
        for rank, (f, line, record, conversation) in enumerate(shown, start=1)
    ]
    page = _page(scorer, summary, len(shown), sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, path)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _highlights(explanation: Explanation, count: int) -> dict[int, tuple[float, list[str]]]:
    """The `count` messages whose removal lowers the conversation's risk most (only those that
    lower it), each with the signals present in the conversation that fall most without it."""
    ranked = sorted(explanation.messages, key=lambda m: -m.risk_drop)
    result = {}
    for message in [m for m in ranked if m.risk_drop > 0][:count]:
        present = [s for s, p in explanation.signals.items() if p >= PRESENT and message.signal_drops[s] > 0]
        signals = sorted(present, key=lambda s: -message.signal_drops[s])[:3]
        result[message.index] = (message.risk_drop, signals)
    return result


def _shown_indices(count: int, keep: Sequence[int]) -> list[int]:
    if count <= SHOW_ALL_UP_TO:
        return list(range(count))
    shown: set[int] = set()
    for index in keep:
        shown.update(range(max(0, index - CONTEXT_MESSAGES), min(count, index + CONTEXT_MESSAGES + 1)))
    return sorted(shown)


def _gap(count: int) -> str:
    return f'<tr class="gap"><td colspan="4">{count} messages not shown</td></tr>'


def _messages(
    conversation: Conversation, record: dict[str, Any], explanation: Explanation | None, top_messages: int
) -> str:
    highlights = _highlights(explanation, top_messages) if explanation else {}
    alert = record.get("alert_message_index")
    keep = [*highlights, *(record.get("top_message_indices") or []), *([alert] if alert is not None else [])]
    rows, previous = [], -1
    for index in _shown_indices(len(conversation.messages), keep):
        if index > previous + 1:
            rows.append(_gap(index - previous - 1))
        previous = index
        message = conversation.messages[index]
        classes, notes = [], []
        if index in highlights:
            drop, signals = highlights[index]
            classes.append("driver")
            notes.append(f'<span class="drop">risk logit -{drop:.2f} without it</span>')
            notes.extend(f'<span class="signal">{_e(s)}</span>' for s in signals)
        if index == alert:
            notes.append('<span class="alert">alert threshold crossed here</span>')
        if explanation is None and index in (record.get("top_message_indices") or []):
            classes.append("driver")
            notes.append('<span class="drop">top message</span>')
        rows.append(
            f'<tr class="{" ".join(classes)}"><td class="i">{index}</td><td>{_e(message.role)}'
            f'<div class="ts">{_e(message.ts or "")}</div></td>'
            f'<td class="text" dir="auto">{_e(message.text)}</td><td>{"".join(notes)}</td></tr>'
        )
    if len(conversation.messages) > previous + 1:
        rows.append(_gap(len(conversation.messages) - previous - 1))
    header = "<tr><th>#</th><th>sender</th><th>message</th><th>why</th></tr>"
    return f'<table class="messages">{header}{"".join(rows)}</table>'


def _section(
    rank: int,
    file_name: str,
    line: int,
    record: dict[str, Any],
    conversation: Conversation | None,
    explanation: Explanation | None,
    scorer: Scorer,
) -> str:
    band = record["risk_band"]
    head = (
        f'<h2><span class="rank">#{rank}</span> {_e(record["conversation_id"])} '
        f'<span class="band {_e(band)}">{_e(band)}</span> <span class="score">{record["risk_score"]:.4f}</span></h2>'
        f'<p class="meta">{_e(record["mode"])} · {_e(file_name)} line {line} · alert at message '
        f"{_e(record['alert_message_index'])} · top messages {_e(record['top_message_indices'])} · "
        f"metadata used: {_e(', '.join(record.get('metadata_used') or []) or 'none')}</p>"
    )
    if record["mode"] == MODE_METADATA or conversation is None or not conversation.opt_in:
        metadata = (
            "".join(
                f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in sorted((conversation.metadata or {}).items())
            )
            if conversation is not None
            else ""
        )
        body = (
            '<p class="note">No consent to read the messages: scored on metadata alone; no message is shown.</p>'
            f'<table class="metadata">{metadata}</table>'
        )
        return f'<section class="{_e(band)}">{head}{body}</section>'
    signals = sorted(((v, k) for k, v in record["signals"].items() if v is not None), reverse=True)
    signal_html = " ".join(
        f'<span class="{"signal" if v >= PRESENT else "weak"}">{_e(k)} {v:.2f}</span>' for v, k in signals
    )
    note = (
        ""
        if explanation
        else '<p class="note">Occlusion unavailable for this conversation: marked are its top messages.</p>'
    )
    top_messages = scorer.bundle.runtime.top_messages
    return (
        f'<section class="{_e(band)}">{head}<p class="signals">{signal_html}</p>{note}'
        f"{_messages(conversation, record, explanation, top_messages)}</section>"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
section{border:1px solid #ccc;border-left-width:8px;border-radius:4px;margin:1.5em 0;padding:.5em 1em}
section.high{border-left-color:#b00020}section.medium{border-left-color:#e08a00}section.low{border-left-color:#4a7}
.band{font-size:70%;padding:.1em .5em;border-radius:3px;color:#fff;vertical-align:middle}
.band.high{background:#b00020}.band.medium{background:#e08a00}.band.low{background:#4a7}
.rank{color:#888}.meta,.ts,.gap td{color:#666;font-size:85%}.gap td{text-align:center;font-style:italic}
table{border-collapse:collapse;width:100%}
td,th{border-top:1px solid #eee;padding:.25em .5em;vertical-align:top;text-align:left}
td.i{color:#888;width:2em}td.text{unicode-bidi:isolate;white-space:pre-wrap;overflow-wrap:anywhere;width:60%}
tr.driver{background:#ffd54f}
.signal,.weak,.drop,.alert{display:inline-block;margin:.1em .3em .1em 0;padding:0 .4em;border-radius:3px;font-size:85%}
.signal{background:#3949ab;color:#fff}.weak{background:#eee;color:#555}.drop{background:#fff;border:1px solid #c90}
.alert{background:#b00020;color:#fff}.note{background:#f3f3f3;padding:.4em .8em}
"""


def _page(scorer: Scorer, summary: Any, shown: int, sections: list[str]) -> str:
    bundle = scorer.bundle
    bands = ", ".join(f"{b} {summary.bands.get(b, 0)}" for b in BAND_RANK)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Review queue</title><style>{_STYLE}</style></head><body>
<h1>Review queue</h1>
<p class="note"><strong>This page shows message text of opt-in reports.</strong> Keep it local and share it
only with reviewers. Scores rank reports for human review; they are not findings and trigger no action.</p>
<p>Model {_e(bundle.model_version)}, bundle {_e(bundle.sha256[:12])}. Read {summary.read} records: scored
{summary.scored} ({bands}), rejected {summary.rejected} (see the rejects file). Shown: the {shown}
highest-priority conversations, by band, then score.</p>
<details open><summary>How to read a conversation</summary>
<ul>
<li><strong>Score</strong>: the calibrated probability that the conversation shows grooming risk; the band
comes from thresholds chosen on validation data: {band_meaning(bundle)}</li>
<li><strong>Signals</strong>: the model's probability of each escalation signal anywhere in the conversation
(its most likely message); dark when at least {PRESENT}.</li>
<li><strong>Highlighted</strong> messages are the at most {bundle.runtime.top_messages} whose removal lowers
the conversation's risk logit most: each message was removed in turn and the conversation scored again
(occlusion). The number is how much the logit falls without the message; the signals beside it are the
conversation's signals that fall most without it. This is the model's attribution, not proof: messages that
only matter together can drive a score while each alone seems to matter little.</li>
<li><strong>Alert</strong>: the first message at which the running score (the model reads the messages in
order) crossed the alert (medium) threshold. In the scores file, <code>top_message_indices</code> are the
messages the model reads most strongly as escalation moves.</li>
<li>Records without consent are scored on metadata alone and show no message.</li>
</ul></details>
{"".join(sections)}
</body></html>
"""

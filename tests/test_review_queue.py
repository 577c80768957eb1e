"""`--review-queue`: a self-contained page, highest priority first, the messages that drove each
score highlighted by occlusion, everything escaped, nothing shown without consent."""

import json
import re
from dataclasses import replace

import pytest

from serving.bundle import load_bundle
from serving.review_queue import BAND_RANK, ReviewCandidates
from serving.schema import SIGNALS, parse_record
from serving.scorer import Scorer, escalation_ranking, explain
from tests.conftest import RecordingTokenizer, run_cli, valid_record

MARKUP = '<script>alert("hi")</script> & <b>bold</b>'
PRIVATE = "private words that must never be shown"


@pytest.fixture(scope="module")
def queue(quick_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("queue")
    source = quick_run.root / "data" / "synthetic" / "test.jsonl"
    records = [json.loads(line) for line in source.read_text().splitlines()]
    marked = valid_record("markup")
    marked["messages"][1]["text"] = MARKUP
    private = valid_record("private", opt_in=False)
    private["messages"][0]["text"] = PRIVATE
    (folder / "in.jsonl").write_text("\n".join(json.dumps(r) for r in [*records, marked, private]) + "\n")
    out, page = folder / "scores.jsonl", folder / "queue.html"
    args = ("--input", folder / "in.jsonl", "--output", out, "--rejects", folder / "r.jsonl", "--review-queue", page)
    assert run_cli("score", "--bundle", quick_run.bundle, *args, "--review-limit", "100") == 0
    scores = [json.loads(line) for line in out.read_text().splitlines()]
    return page.read_text(), scores


def test_the_page_lists_conversations_by_band_then_score(queue):
    page, scores = queue
    shown = re.findall(r'<span class="rank">#(\d+)</span> ([^ ]+) <span class="band (\w+)">', page)
    expected = sorted(scores, key=lambda s: (BAND_RANK[s["risk_band"]], -s["risk_score"], s["conversation_id"]))
    assert [int(rank) for rank, _, _ in shown] == list(range(1, len(scores) + 1))
    assert [(cid, band) for _, cid, band in shown] == [(s["conversation_id"], s["risk_band"]) for s in expected]


def test_the_page_escapes_record_text_loads_nothing_and_shows_nothing_without_consent(queue):
    page, _ = queue
    assert MARKUP not in page and "<script" not in page
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert PRIVATE not in page
    private = page[page.index("> private <") :]
    assert "No consent to read the messages" in private[: private.index("</section>")]
    assert "default-src 'none'" in page and "http://" not in page and "https://" not in page


def test_each_conversation_says_which_metadata_its_score_used(queue):
    page, scores = queue
    sections = page.split("<section")[1:]
    assert len(sections) == len(scores)
    for section in sections:
        assert "metadata used: " in section
    markup = page[page.index("> markup <") :]
    assert "metadata used: reported_account_age_days, reported_minor_contacts_30d" in markup[: markup.index("</p>")]


def test_every_conversation_with_consent_has_its_drivers_marked(queue):
    page, scores = queue
    sections = page.split("<section")[1:]
    content = [s for s in sections if "content+metadata" in s]
    assert len(content) == sum(s["mode"] == "content+metadata" for s in scores)
    for section in content:
        assert 'class="driver' in section and "without it" in section


def test_occlusion_removes_the_top_ranked_messages_and_measures_the_drop(quick_run):
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle)
    record = valid_record("x")
    record["messages"] += [
        {"sender": "u2", "ts": None, "text": f"what games do you play on day {i}"} for i in range(30)
    ]
    conversation = parse_record(record, bundle.limits)
    (explanation,) = explain(scorer, [conversation])
    (full,) = scorer.message_logits([conversation])
    assert len(conversation.messages) > bundle.runtime.explain_messages
    ranked = escalation_ranking(full)[: bundle.runtime.explain_messages]
    assert [m.index for m in explanation.messages] == sorted(ranked.tolist())
    # The same occlusions built another way: each message dropped from the record, scored alone.
    assert explanation.risk_logit == pytest.approx(float(full[-1, 0]), abs=1e-6)
    for attribution in explanation.messages[:: max(1, len(explanation.messages) // 4)]:
        k = attribution.index
        without = replace(conversation, messages=conversation.messages[:k] + conversation.messages[k + 1 :])
        (logits,) = scorer.message_logits([without])
        assert attribution.risk_drop == pytest.approx(float(full[-1, 0] - logits[-1, 0]), abs=1e-5)


def test_a_one_message_conversation_has_no_attributions(quick_run):
    bundle = load_bundle(quick_run.bundle)
    record = valid_record("one")
    record["messages"] = record["messages"][:1]
    (explanation,) = explain(Scorer.from_bundle(bundle), [parse_record(record, bundle.limits)])
    assert explanation.messages == [] and set(explanation.signals) == set(SIGNALS)


def test_explaining_never_tokenises_a_record_without_consent(quick_run):
    bundle = load_bundle(quick_run.bundle)
    scorer = Scorer.from_bundle(bundle)
    recorder = RecordingTokenizer(scorer.tokenizer.tokenizer)
    scorer.tokenizer.tokenizer = recorder
    private = valid_record("private", opt_in=False)
    private["messages"][0]["text"] = PRIVATE
    shared, hidden = explain(
        scorer, [parse_record(valid_record("shared"), bundle.limits), parse_record(private, bundle.limits)]
    )
    assert shared is not None and hidden is None
    assert recorder.seen and not any("private words" in text for text in recorder.seen)


def test_candidates_keep_the_highest_priority_in_bounded_memory():
    candidates = ReviewCandidates(3)
    records = [
        {"conversation_id": f"c{i}", "risk_band": band, "risk_score": score}
        for i, (band, score) in enumerate(
            [
                ("low", 0.2),
                ("high", 0.91),
                ("medium", 0.5),
                ("high", 0.99),
                ("low", 0.3),
                ("medium", 0.6),
                ("high", 0.91),
            ]
        )
    ]
    for line, record in enumerate(records, start=1):
        candidates.offer(record, 0, line)
        assert len(candidates._items) < 6
    assert [r["conversation_id"] for _, _, r in candidates.ranked()] == ["c3", "c1", "c6"]

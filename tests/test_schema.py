import pytest

from serving.schema import Limits, RecordError, parse_record
from tests.conftest import valid_record

LIMITS = Limits(max_messages=5, max_message_chars=40, max_record_bytes=10_000)
SECRET = "hey, saw you in the lobby"


def test_valid_record_parses_with_roles_resolved():
    conversation = parse_record(valid_record(), LIMITS)
    assert conversation.conversation_id == "r-1"
    assert [m.role for m in conversation.messages] == ["reported", "reporter", "reported"]
    assert conversation.participant_age_bands == {"u1": "13-15", "u2": "adult"}


def _broken(change) -> dict:
    record = valid_record()
    change(record)
    return record


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda r: r.pop("messages"), "messages is missing"),
        (lambda r: r.update(messages=[]), "messages is empty"),
        (lambda r: r.update(conversation_id=""), "conversation_id must be a non-empty string"),
        (lambda r: r.update(opt_in="yes"), "opt_in must be true or false"),
        (lambda r: r["messages"][1].update(sender="u9"), "messages[1].sender is not among the participants"),
        (lambda r: r["messages"][0].update(text=7), "messages[0].text must be a string"),
        (lambda r: r["messages"][0].update(text="x" * 41), "messages[0].text too long (41 > 40 characters)"),
        (lambda r: r.update(messages=r["messages"] * 2), "too many messages (6 > 5)"),
        (lambda r: r["participants"][0].update(role="friend"), "participants[0].role must be one of"),
        (lambda r: r["participants"][1].update(age_band="42"), "participants[1].age_band must be one of"),
        (lambda r: r.update(label=True), "label must be 0, 1 or absent"),
        (lambda r: r.update(signals=["unknown"]), "signals must be a list of known signals"),
    ],
)
def test_bad_records_are_refused_with_a_text_free_reason(change, reason):
    with pytest.raises(RecordError) as refused:
        parse_record(_broken(change), LIMITS)
    assert str(refused.value).startswith(reason)
    assert SECRET not in str(refused.value)
    assert "lobby" not in str(refused.value)


def test_non_object_record_is_refused():
    with pytest.raises(RecordError, match="record must be a JSON object"):
        parse_record(["not", "a", "record"], LIMITS)


def test_unhashable_role_is_a_reason_not_a_crash():
    with pytest.raises(RecordError, match="role must be one of"):
        parse_record(_broken(lambda r: r["participants"][0].update(role=["reporter"])), LIMITS)


def test_without_consent_text_is_neither_checked_nor_kept():
    record = valid_record(opt_in=False)
    record["messages"][0]["text"] = "x" * 500
    del record["messages"][1]["text"]
    conversation = parse_record(record, LIMITS)
    assert [m.text for m in conversation.messages] == ["", "", ""]


def test_parquet_nulls_mean_absent():
    record = valid_record()
    record["participants"][0]["age_band"] = None
    record["groups"] = {"style": None, "identity_mention": "none"}
    conversation = parse_record(record, LIMITS)
    assert conversation.participant_age_bands["u1"] == "unknown"
    assert conversation.groups == {"identity_mention": "none"}

import math

from serving.features import METADATA_FEATURES, metadata_features
from serving.schema import Limits, parse_record
from tests.conftest import valid_record

LIMITS = Limits(max_messages=10, max_message_chars=100, max_record_bytes=10_000)


def _features(change) -> dict[str, float]:
    record = valid_record()
    change(record)
    return dict(zip(METADATA_FEATURES, metadata_features(parse_record(record, LIMITS)), strict=True))


def test_timing_features_come_from_timestamps():
    features = _features(lambda r: None)
    assert features["message_count"] == 3
    assert math.isclose(features["span_hours"], 3 / 60, rel_tol=1e-6)
    assert features["night_fraction"] == 0.0
    assert features["reported_account_age_days"] == 9


def test_out_of_range_values_are_unknown_not_infinite():
    features = _features(
        lambda r: r["metadata"].update(reported_account_age_days=10**400, reported_minor_contacts_30d=1e39)
    )
    assert math.isnan(features["reported_account_age_days"])
    assert math.isnan(features["reported_minor_contacts_30d"])


def test_unparseable_or_extreme_timestamps_are_skipped():
    def change(record):
        record["messages"][0]["ts"] = "0001-01-01T00:00:00+01:00"
        record["messages"][1]["ts"] = "yesterday"

    features = _features(change)
    assert math.isnan(features["span_hours"])  # one usable timestamp left
    assert features["message_count"] == 3


def test_burstiness_is_minus_one_for_regular_gaps_and_rises_with_bursts():
    assert math.isclose(_features(lambda r: None)["burstiness"], (30 - 90) / (30 + 90), rel_tol=1e-6)

    def regular(record):
        for i, message in enumerate(record["messages"]):
            message["ts"] = f"2026-03-01T19:0{2 * i}:00Z"

    assert math.isclose(_features(regular)["burstiness"], -1.0, rel_tol=1e-6)

    def bursty(record):
        stamps = ["2026-03-01T19:00:00Z", "2026-03-01T19:00:05Z", "2026-03-01T19:00:10Z", "2026-03-02T09:00:00Z"]
        record["messages"] = [
            {"sender": "u2" if i % 2 else "u1", "ts": ts, "text": "ok"} for i, ts in enumerate(stamps)
        ]

    assert _features(bursty)["burstiness"] > 0  # above what random (Poisson) gaps give


def test_burstiness_needs_two_gaps():
    assert math.isnan(_features(lambda r: r.update(messages=r["messages"][:2]))["burstiness"])

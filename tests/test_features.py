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

"""QUALITY policy, time parsing, reason codes and settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.ingest import (
    REASON_MEANINGS,
    IngestSettings,
    QualityPolicy,
    RejectReason,
    evaluate_quality,
    observation_key,
    parse_obs_time,
)
from monitor.ingest.quality import bit_names
from monitor.typedyaml import ConfigError, build


def test_ingest_quality_default_policy_flags_nrt_and_rejects_eclipse() -> None:
    policy = QualityPolicy()
    nrt = evaluate_quality(1 << 30, policy)
    assert nrt.ok and nrt.flagged == ("near_real_time",)
    eclipse = evaluate_quality((1 << 13) | (1 << 30), policy)
    assert not eclipse.ok
    assert eclipse.rejected == ("spacecraft_eclipse",)
    assert eclipse.flagged == ("near_real_time",)
    # Signed storage of bit 31 (image not available) still reads as bit 31.
    assert evaluate_quality(-2147483648, policy).rejected == ("image_not_available",)


def test_ingest_quality_unknown_bits_follow_policy() -> None:
    bit = 1 << 27  # not named by JSOC
    assert evaluate_quality(bit, QualityPolicy()).flagged == ("bit27",)
    strict = QualityPolicy(unknown_bits="reject")
    assert evaluate_quality(bit, strict).rejected == ("bit27",)
    custom = QualityPolicy(reject_bits=(30,), flag_bits=())
    assert evaluate_quality(1 << 30, custom).rejected == ("near_real_time",)


def test_ingest_quality_bit_names() -> None:
    assert bit_names(0) == ()
    assert bit_names(0b1001) == ("no_flatfield", "no_master_pointing")


@pytest.mark.parametrize(("text", "expected"), [
    ("2011-02-15T00:00:01.34Z", datetime(2011, 2, 15, 0, 0, 1, 340000, tzinfo=UTC)),
    ("2013-03-10T12:00:12.341", datetime(2013, 3, 10, 12, 0, 12, 341000, tzinfo=UTC)),
    ("2013-03-10 12:00:12", datetime(2013, 3, 10, 12, 0, 12, tzinfo=UTC)),
    ("2013.03.10_12:00:12.5_UTC", datetime(2013, 3, 10, 12, 0, 12, 500000, tzinfo=UTC)),
    ("2013.03.10_12:00:47.5_TAI", datetime(2013, 3, 10, 12, 0, 12, 500000, tzinfo=UTC)),
    ("2016-12-31T23:59:60.5Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2024-05-14T17:00:01.123456789Z", datetime(2024, 5, 14, 17, 0, 1, 123456, tzinfo=UTC)),
])
def test_ingest_parse_obs_time(text: str, expected: datetime) -> None:
    assert parse_obs_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "2024-13-01T00:00:00", "", 12.5, None])
def test_ingest_parse_obs_time_rejects(text: object) -> None:
    with pytest.raises(ValueError):
        parse_obs_time(text)


def test_ingest_observation_key_rounds_to_milliseconds() -> None:
    a = observation_key("SDO/AIA", 171, datetime(2024, 1, 1, 0, 0, 0, 999_700, tzinfo=UTC))
    b = observation_key("SDO/AIA", 171, datetime(2024, 1, 1, 0, 0, 1, 0, tzinfo=UTC))
    assert a == b
    assert a.as_string() == "SDO/AIA|171|2024-01-01T00:00:01.000Z"


def test_ingest_every_reason_is_documented() -> None:
    assert set(REASON_MEANINGS) == set(RejectReason)
    assert all(len(text) > 20 for text in REASON_MEANINGS.values())
    assert len({r.value for r in RejectReason}) == len(RejectReason)


def test_ingest_settings_defaults_are_valid_and_buildable() -> None:
    settings = build(IngestSettings, {})
    assert settings == IngestSettings()
    assert IngestSettings().check() == []
    custom = build(IngestSettings, {"max_image_side": 1024, "max_image_pixels": 1024 * 1024,
                                    "quality": {"reject_bits": [13, 31]},
                                    "pixels": {"dark_threshold_dn_per_s": {"171": 2.0}}})
    assert custom.quality.reject_bits == (13, 31)
    assert custom.pixels.dark_threshold_dn_per_s == {"171": 2.0}


def test_ingest_settings_errors_name_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        build(IngestSettings, {"quality": {"reject_bits": [40]},
                               "pixels": {"max_missing_fraction": 2}})
    text = str(info.value)
    assert "quality.reject_bits" in text
    assert "pixels.max_missing_fraction" in text
    # Cross-field checks run once the fields themselves are valid.
    for data, path in (({"quality": {"reject_bits": [13], "flag_bits": [13]}},
                        "quality.flag_bits"),
                       ({"pixels": {"dark_threshold_dn_per_s": {"abc": 1.0}}},
                        "pixels.dark_threshold_dn_per_s"),
                       ({"rsun_obs_range_arcsec": [900, 800]}, "rsun_obs_range_arcsec")):
        with pytest.raises(ConfigError) as problem:
            build(IngestSettings, data)
        assert path in str(problem.value)


def test_ingest_docs_list_every_reason_code() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "ingest.md").read_text()
    missing = [r.value for r in RejectReason if f"| `{r.value}` |" not in docs]
    assert not missing, f"docs/ingest.md lacks reason codes {missing}"

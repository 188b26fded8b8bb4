"""Pure parts of the sources: names, notifications, index parsing, settings, backoff."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.sources import (
    HttpFeedSettings,
    KafkaFeedSettings,
    SpoolFeedSettings,
    make_notification,
    notification_key,
)
from monitor.sources.fetchfailures import backoff_delay
from monitor.sources.index import (
    IndexFormatError,
    expand_url_template,
    parse_json_index,
    parse_latest,
    parse_listing,
)
from monitor.sources.names import UnsafeName, is_temporary, parse_aia_name, safe_local_path
from monitor.sources.notifications import InvalidNotification, parse_notification
from monitor.typedyaml import ConfigError


@pytest.mark.parametrize("name,temporary", [
    (".AIA.fits", True), ("a.fits.part", True), ("a.fits.tmp", True), ("a.fits~", True),
    ("a.fits.filepart", True), ("a.FITS.PART", True), ("#a.fits#", True),
    (".sdo-dl-1234-a.fits.part", True), ("AIA20260624_200300_0171.fits", False),
    ("a.fits", False), ("part.fits", False)])
def test_temporary_names(name: str, temporary: bool) -> None:
    assert is_temporary(name) is temporary


@pytest.mark.parametrize("name", ["", ".", "..", "../x.fits", "a/b.fits", "a\\b.fits",
                                  "x\x00.fits", ".hidden.fits", "x.part", "é" * 200])
def test_unsafe_local_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafeName):
        safe_local_path(tmp_path, name)


def test_safe_local_name_stays_in_the_directory(tmp_path: Path) -> None:
    assert safe_local_path(tmp_path, "AIA.fits") == tmp_path.resolve() / "AIA.fits"
    (tmp_path / "link.fits").symlink_to("/etc/hostname")  # an existing symlink out
    with pytest.raises(UnsafeName, match="outside"):
        safe_local_path(tmp_path, "link.fits")


def test_aia_names_give_time_and_channel() -> None:
    nrt = parse_aia_name("AIA20260624_200300_0171.fits")
    assert nrt == (datetime(2026, 6, 24, 20, 3, tzinfo=UTC).timestamp(), 171)
    definitive = parse_aia_name("AIA20160101_0000_0094.fits")
    assert definitive == (datetime(2016, 1, 1, tzinfo=UTC).timestamp(), 94)
    lev1 = parse_aia_name("aia.lev1.171A_2011-06-07T06-41-12.34Z.image_lev1.fits")
    assert lev1 is not None and lev1[1] == 171
    assert lev1[0] == pytest.approx(datetime(2011, 6, 7, 6, 41, 12, 340000, tzinfo=UTC)
                                    .timestamp())
    export = parse_aia_name("aia.lev1_euv_12s.2011-06-07T064112Z.193.image_lev1.fits")
    assert export == (datetime(2011, 6, 7, 6, 41, 12, tzinfo=UTC).timestamp(), 193)
    assert parse_aia_name("AIA20261399_200300_0171.fits") is None  # month 13
    assert parse_aia_name("hmi.M_45s.fits") is None


def test_notification_key_groups_the_channels_of_a_frame() -> None:
    frame = datetime(2026, 6, 24, 20, 0, 0, tzinfo=UTC)
    keys = {notification_key(f"2026-06-24T20:00:{s:02d}.5Z") for s in range(0, 12, 2)}
    assert keys == {notification_key(frame)} == {b"2026-06-24T20:00:00Z"}
    assert notification_key("2026-06-24T20:00:12Z") != notification_key(frame)
    assert notification_key("2026-06-24T20:04:59", cadence_s=180) == b"2026-06-24T20:03:00Z"


def test_notification_round_trip_and_invalid_messages() -> None:
    key, value = make_notification(path="/data/a.fits", t_obs="2026-06-24T20:00:03.5Z",
                                   wavelength=171)
    note = parse_notification(value)
    assert key == b"2026-06-24T20:00:00Z" and note.key == key.decode()
    assert note.path == "/data/a.fits" and note.url is None and note.wavelength == 171
    assert note.t_obs == datetime(2026, 6, 24, 20, 0, 3, 500000, tzinfo=UTC).timestamp()
    assert parse_notification(b'{"url": "http://h/x.fits"}', key=b"K").key == "K"
    with pytest.raises(ValueError, match="exactly one"):
        make_notification(path="/a", url="http://b")
    bad = {b"\xff": "not_json", b"[1]": "not_object", b"{}": "no_target",
           b'{"path": "/a", "url": "http://b"}': "no_target", b'{"path": 3}': "bad_field",
           b'{"path": "/a", "t_obs": "yesterday"}': "bad_field",
           b'{"path": "/a", "wavelength": "171"}': "bad_field"}
    for raw, reason in bad.items():
        with pytest.raises(InvalidNotification) as info:
            parse_notification(raw)
        assert info.value.reason == reason, raw
    with pytest.raises(InvalidNotification):
        parse_notification(None)  # a tombstone


LISTING = b"""<html><body><h1>Index of /nrt/2026/06/24/H2000</h1><table>
<tr><th><a href="?C=N;O=D">Name</a></th></tr>
<tr><td><a href="/nrt/2026/06/24/">Parent Directory</a></td></tr>
<tr><td><a href="AIA20260624_200000_0171.fits">AIA20260624_200000_0171.fits</a></td></tr>
<tr><td><a href="AIA20260624_200000_0193.fits">x</a></td></tr>
<tr><td><a href="sub/">sub/</a></td></tr>
<tr><td><a href="../../../../etc/passwd">evil</a></td></tr>
<tr><td><a href="%2e%2e%2fescape.fits">encoded</a></td></tr>
<tr><td><a href="http://elsewhere.example/AIA.fits">other host</a></td></tr>
<tr><td><a href="/nrt/2026/06/24/H2000/AIA20260624_200300_0171.fits">absolute</a></td></tr>
<tr><td><a href="AIA%20space.fits">encoded space</a></td></tr>
</table></body></html>"""


def test_listing_keeps_only_files_directly_inside_the_directory() -> None:
    base = "http://127.0.0.1:8080/nrt/2026/06/24/H2000/"
    entries = parse_listing(LISTING, base)
    assert [e.name for e in entries] == ["AIA20260624_200000_0171.fits",
                                         "AIA20260624_200000_0193.fits",
                                         "AIA20260624_200300_0171.fits", "AIA space.fits"]
    assert all(e.url.startswith(base) for e in entries)


def test_json_index_shapes_and_latest_time() -> None:
    url = "http://h/feed/index.json"
    body = json.dumps({"files": ["a/AIA1.fits", {"url": "http://h/x/AIA2.fits", "wavelength": 94,
                                                 "t_obs": "2026-06-24T20:00:00Z"},
                                 {"name": 5}, "ftp://h/AIA3.fits"]}).encode()
    entries = parse_json_index(body, url)
    assert [(e.url, e.wavelength) for e in entries] == [("http://h/feed/a/AIA1.fits", None),
                                                        ("http://h/x/AIA2.fits", 94)]
    assert entries[1].t_obs == datetime(2026, 6, 24, 20, tzinfo=UTC).timestamp()
    with pytest.raises(IndexFormatError):
        parse_json_index(b'{"nothing": 1}', url)
    expected = datetime(2026, 1, 11, 11, 46, tzinfo=UTC).timestamp()
    assert parse_latest(b'{"first":"20100513_000000","last":"20260111_114600"}') == expected
    assert parse_latest(b"Time     20260111_114600\nsynoptic http://x/AIA20260111_1146\n") \
        == expected
    with pytest.raises(IndexFormatError):
        parse_latest(b'{"first": "20100513_000000"}')


def test_url_template_expands_over_the_window() -> None:
    end = datetime(2026, 6, 24, 20, 3, tzinfo=UTC).timestamp()
    urls = expand_url_template("http://h/nrt/%Y/%m/%d/H%H00/", end - 2 * 3600, end, 3600)
    assert urls == ["http://h/nrt/2026/06/24/H1800/", "http://h/nrt/2026/06/24/H1900/",
                    "http://h/nrt/2026/06/24/H2000/"]
    assert expand_url_template("http://h/index.json", 0, end, 3600) == ["http://h/index.json"]


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, 1.0, 8.0, rng) for a in range(1, 7)]
    for attempt, delay in enumerate(delays, start=1):
        cap = min(8.0, 2 ** (attempt - 1))
        assert cap / 2 <= delay <= cap
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_feed_settings_from_yaml_and_their_checks() -> None:
    config = parse_config("""
feeds:
  - {kind: spool, name: aia, path: /s, watch: poll, include: ['*.fits']}
  - kind: http
    name: jsoc-nrt
    url: "http://jsoc1.stanford.edu/data/aia/synoptic/nrt/%Y/%m/%d/H%H00/"
    latest_url: "http://jsoc1.stanford.edu/data/aia/synoptic/nrt/image_times.json"
    spool: /var/spool/jsoc
    download: {max_file_bytes: 8000000, retries: 2}
  - {kind: kafka, name: notices, topic: sdo.files, path_roots: [/data]}
""")
    spool, http, kafka = config.feeds
    assert isinstance(spool, SpoolFeedSettings) and spool.watch == "poll"
    assert isinstance(http, HttpFeedSettings) and http.download.retries == 2
    assert http.cadence_s == 180 and http.index == "listing"
    assert isinstance(kafka, KafkaFeedSettings) and kafka.path_roots == (Path("/data"),)
    problems = {
        "feeds:\n  - {kind: kafka, name: k, topic: t}": "feeds[0].path_roots",
        "feeds:\n  - {kind: kafka, name: k, topic: t, url_prefixes: ['http://h/']}":
            "feeds[0].spool",
        "feeds:\n  - {kind: kafka, name: k, topic: t, path_roots: [/d], "
        "heartbeat_interval_s: 50}": "feeds[0].heartbeat_interval_s",
        "feeds:\n  - {kind: http, name: h, url: 'http://h/', spool: /s, file_pattern: '('}":
            "feeds[0].file_pattern",
        "feeds:\n  - {kind: http, name: h, url: 'http://h/', spool: /s, latest_url: 'x'}":
            "feeds[0].latest_url",
        "feeds:\n  - {kind: http, name: h, url: 'http://h', spool: /s}": "feeds[0].url",
        "feeds:\n  - {kind: http, name: h, url: 'http://h/', spool: /s, "
        "download: {backoff_initial_s: 9, backoff_max_s: 1}}": "feeds[0].download.backoff_max_s",
        "feeds:\n  - {kind: spool, name: s, path: /s, done_dir: /s}": "feeds[0].done_dir",
        "feeds:\n  - {kind: spool, name: s, path: /s, watch: fanotify}": "feeds[0].watch",
    }
    for text, path in problems.items():
        with pytest.raises(ConfigError) as info:
            parse_config(text)
        assert path in [i.path for i in info.value.issues], info.value.render()

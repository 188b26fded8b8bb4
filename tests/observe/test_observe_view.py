"""RecentFrames: the API's bounded memory of frames, alerts, channels and model outputs."""

from __future__ import annotations

from datetime import timedelta

from observe_samples import (
    MODEL,
    T0,
    alert_payload,
    frame_entry,
    frame_id,
    frame_payload,
    saliency_payload,
)

from monitor.alerts import AlertEvent
from monitor.pipeline.analysis import AnalysedFrame
from monitor.pipeline.messages import alert_data
from monitor.pipeline.publishing import PublishedFrame
from monitor.pipeline.view import RecentFrames


def test_frames_are_bounded_and_found_by_id() -> None:
    store = RecentFrames(frames_kept=5)
    for i in range(12):
        assert store.add_frame(frame_entry(i))
    assert len(store) == 5
    assert store.get(frame_id(6)) is None and store.get(frame_id(7)) is not None
    assert store.latest().frame_id == frame_id(11)
    assert not store.add_frame(frame_entry(11))  # a known id is not added twice
    assert len(store) == 5 and store.latest().seq == 12


def test_a_late_saliency_summary_is_attached_to_its_frame() -> None:
    store = RecentFrames()
    store.add_frame(frame_entry(1))
    assert store.get(frame_id(1)).saliency is None
    store.add_frame(frame_entry(1, saliency=True))
    assert store.get(frame_id(1)).saliency["method"] == "cam"
    assert store.get(frame_id(1)).seq == 1


def test_pages_use_stable_sequence_cursors() -> None:
    store = RecentFrames(frames_kept=100)
    for i in range(10):
        store.add_frame(frame_entry(i))
    first, cursor = store.frames(4)
    assert [r.seq for r in first] == [10, 9, 8, 7] and cursor == 7
    for i in range(10, 15):  # new frames do not move the next page
        store.add_frame(frame_entry(i))
    second, cursor = store.frames(4, cursor)
    assert [r.seq for r in second] == [6, 5, 4, 3] and cursor == 3
    last, cursor = store.frames(4, cursor)
    assert [r.seq for r in last] == [2, 1] and cursor is None
    assert store.frames(4, 1) == ([], None)


def test_latest_observation_per_channel_keeps_the_newest_time() -> None:
    store = RecentFrames()
    store.add_frame(frame_entry(5, quality=0))
    # an older frame arriving later (replay, late files) must not replace newer channels
    store.add_frame(frame_entry(2, channels=(171, 193, 1600)))
    channels = {c["channel"]: c for c in store.channels()}
    assert channels[171]["frame_id"] == frame_id(5)
    assert channels[1600]["frame_id"] == frame_id(2)
    assert channels[94]["file"] == "aia.lev1.94A_2015-01-04T15-05-00.fits"
    assert set(channels[94]) == {"feed", "channel", "t_obs", "file", "quality",
                                 "quality_flags", "frame_id"}


def test_history_window_follows_observation_time_and_bins_keep_the_peak() -> None:
    store = RecentFrames(history_s=3 * 3600)
    for i in range(0, 600, 2):  # 10 h of frames every 2 min, a flare at 5 h
        flare = 1.0 if i == 300 else 0.0
        store.add_frame(frame_entry(i, flare=flare))
    full = store.history(24 * 3600, 2000)["feeds"]["aia"]
    # only the last 3 h are kept (observation time, not wall clock)
    assert full["t"][-1] - full["t"][0] <= 3 * 3600 and len(full["t"]) == 91  # both ends included
    six = store.history(6 * 3600, 2000)
    assert six["t_end"] == full["t"][-1]
    # the flare at 5 h is older than 3 h before the newest frame (9 h 58 min): gone
    line = "Fe XVIII 9.39 nm"
    assert max(full["irradiance_w_m2"][line]) < 2e-5
    store2 = RecentFrames()
    for i in range(0, 600, 2):
        store2.add_frame(frame_entry(i, flare=1.0 if i == 300 else 0.0))
    reduced = store2.history(10 * 3600, 20)["feeds"]["aia"]
    assert len(reduced["t"]) <= 20
    peak = max(v for v in store2.history(10 * 3600, 2000)["feeds"]["aia"]
               ["irradiance_w_m2"][line])
    assert max(reduced["irradiance_w_m2"][line]) == peak  # the maximum survives binning
    assert max(reduced["class_probabilities"]["M"]) > 0.3


def test_alerts_deduplicate_transitions_and_track_open_ones() -> None:
    store = RecentFrames(alerts_kept=3)
    assert store.add_alert(alert_payload(1, "firing"))
    assert not store.add_alert(alert_payload(1, "firing"))  # the same transition again
    assert store.add_alert(alert_payload(2, "firing", rule="flare_x_class"))
    assert [a["rule"] for a in store.open_alerts()] == ["flare_x_class", "flare_m_class"]
    assert store.add_alert(alert_payload(1, "resolved"))
    assert [a["rule"] for a in store.open_alerts()] == ["flare_x_class"]
    assert store.add_alert(alert_payload(3, "firing"))  # evicts the oldest transition
    items, _ = store.alerts(10)
    assert [a["seq"] for a in items] == [4, 3, 2]
    # the evicted transition's key is forgotten with it (the set stays bounded)
    assert len(store._alert_keys) == 3


def test_it_hears_published_frames_with_their_alerts() -> None:
    store = RecentFrames()
    event = AlertEvent(alert_id="a-1", rule="flare_m_class", feed="aia", state="firing",
                       severity="warning", noaa_scale="R1", started_at=T0,
                       resolved_at=None, evidence_frames=(frame_id(3),),
                       peak_probability=0.8, location=None, message="m")
    t = T0 + timedelta(minutes=3)
    done = AnalysedFrame(frame_id(3), "aia", t, (), (), {"none": 0.2, "M": 0.8}, "M", (),
                         "onnxruntime-fp32", (), {}, (0.0, 0.0), MODEL, alerts=(event,))
    store.frame_published(PublishedFrame(done, frame_payload(3), saliency_payload(3),
                                         (alert_data(event, MODEL),)))
    record = store.get(frame_id(3))
    assert record.feed == "aia" and record.saliency["targets"][0]["target"] == "M"
    assert record.t_obs == t.timestamp()  # from the typed frame, not its payload's text
    assert store.open_alerts()[0]["feed"] == "aia"
    history = store.history(3600, 100)["feeds"]["aia"]
    assert history["t"] == [record.t_obs] and history["class_probabilities"]["M"] == [0.8]

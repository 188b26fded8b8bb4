"""GOES X-ray truth: the SWPC feed, NOAA-style flare events, live verification of predictions.

* :mod:`~monitor.goes.classes` -- classes, R levels, the 0.7 science/operational scale;
* :mod:`~monitor.goes.samples` -- 1-minute samples, value checks, the flux history;
* :mod:`~monitor.goes.swpc` -- SWPC JSON parsing and the conditional poller;
* :mod:`~monitor.goes.files` -- sunpy/NCEI/SWPC files and NCEI flare summaries;
* :mod:`~monitor.goes.detect` -- event detection (begin, peak, end);
* :mod:`~monitor.goes.scores` -- contingency tables, TSS, HSS, rolling windows;
* :mod:`~monitor.goes.verify` -- pairing predictions with GOES truth;
* :mod:`~monitor.goes.packages` -- one verifier per model package, saved over restarts;
* :mod:`~monitor.goes.events` -- ``goes.event.v1`` payloads, alert confirmation;
* :mod:`~monitor.goes.hooks` -- counters and queued announcements for the daemon;
* :mod:`~monitor.goes.monitor` -- :class:`GoesMonitor`, what the daemon holds;
* :mod:`~monitor.goes.report` and :mod:`~monitor.goes.command` -- ``sdo-monitor verify``.
"""

from monitor.goes.classes import goes_class, noaa_r_level
from monitor.goes.detect import EventUpdate, FlareDetector, GoesEvent, detect_flares
from monitor.goes.events import Confirmation, confirm_alert, event_payload
from monitor.goes.monitor import GoesMonitor
from monitor.goes.samples import FluxSeries, GoesSample
from monitor.goes.scores import Contingency, RollingScores, SkillRow, hss, tss
from monitor.goes.settings import GoesSettings
from monitor.goes.verify import Verifier

__all__ = [
    "Confirmation",
    "Contingency",
    "EventUpdate",
    "FlareDetector",
    "FluxSeries",
    "GoesEvent",
    "GoesMonitor",
    "GoesSample",
    "GoesSettings",
    "RollingScores",
    "SkillRow",
    "Verifier",
    "confirm_alert",
    "detect_flares",
    "event_payload",
    "goes_class",
    "hss",
    "noaa_r_level",
    "tss",
]

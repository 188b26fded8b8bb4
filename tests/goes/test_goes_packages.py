"""The GOES monitor scores each model package apart, on one flux series.

Two packages observe the same frames; GOES then covers them: each package
gets its own contingency tables, the saved state keeps both, a state saved
before packages were named is restored under the package the daemon names,
and past MAX_PACKAGES a new package's predictions are refused and counted.
"""

from __future__ import annotations

from monitor.goes.monitor import MAX_PACKAGES, GoesMonitor
from monitor.goes.samples import GoesSample

T0 = 1_700_000_040.0  # a minute boundary
M_FLUX, QUIET = 3e-5, 2e-7


def fed_monitor() -> GoesMonitor:
    monitor = GoesMonitor()
    for i in range(10):  # minutes 0-4 quiet, 5-9 an M flare
        t = T0 + 60.0 * i
        sure = {"none": 0.0, "C": 0.0, "M": 1.0, "X": 0.0}
        monitor.observe_frame(f"f{i}", t + 30.0, sure, package="alarmist:1")
        truthful = sure if i >= 5 else {"none": 1.0, "C": 0.0, "M": 0.0, "X": 0.0}
        monitor.observe_frame(f"f{i}", t + 30.0, truthful, package="honest:1")
    # GOES covers the frames and the settle time after them
    monitor.ingest([GoesSample(T0 + 60.0 * i, M_FLUX if 5 <= i < 10 else QUIET, 16)
                    for i in range(15)])
    return monitor


def m_table(monitor: GoesMonitor, package: str) -> tuple[int, int, int, int]:
    row = next(r for r in monitor.scores() if (r.package, r.threshold, r.window)
               == (package, "M", "24h"))
    t = row.table
    return t.hits, t.misses, t.false_alarms, t.correct_negatives


def test_each_package_has_its_own_tables_on_the_same_truth() -> None:
    monitor = fed_monitor()
    assert monitor.pending == 0
    assert m_table(monitor, "alarmist:1") == (5, 0, 5, 0)
    assert m_table(monitor, "honest:1") == (5, 0, 0, 5)
    assert {r["package"] for r in monitor.status()["scores"]} == {"alarmist:1", "honest:1"}
    # the saved state keeps both packages
    restored = GoesMonitor()
    assert restored.restore(monitor.snapshot()) == 20
    assert [r.to_dict() for r in restored.scores()] == [r.to_dict() for r in monitor.scores()]


def test_a_state_from_before_packages_is_the_serving_packages() -> None:
    monitor = fed_monitor()
    old = {"version": 1, "scores": monitor.verifiers.by_package["honest:1"].scores.snapshot()}
    restored = GoesMonitor()
    assert restored.restore(old, "serving:7") == 10
    assert m_table(restored, "serving:7") == (5, 0, 0, 5)
    assert restored.restore({"version": 99}) == 0


def test_packages_beyond_the_bound_are_refused_and_counted() -> None:
    monitor = GoesMonitor()
    probs = {"none": 1.0, "C": 0.0, "M": 0.0, "X": 0.0}
    for k in range(MAX_PACKAGES):
        assert monitor.observe_frame("f", T0, probs, package=f"p{k}:1") == "pending"
    assert monitor.observe_frame("f", T0, probs, package="one-too-many:1") == \
        "too_many_packages"
    assert monitor.counts["predictions:too_many_packages"] == 1
    assert len(monitor.verifiers.by_package) == MAX_PACKAGES

"""Wall-clock steps: the steady session clock ignores them, the watch reports them (kiosk.clock_watch)."""

from __future__ import annotations

from kiosk.clock_watch import ClockWatch, SteadyClock
from kiosk.events import ClockStepped, EventBus


class Clocks:
    def __init__(self):
        self.wall, self.steady = 1_800_000_000.0, 5_000.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.steady += seconds


def test_clock_watch_steady_clock_ignores_wall_steps():
    clocks = Clocks()
    steady = SteadyClock(wall=lambda: clocks.wall, steady=lambda: clocks.steady)
    start = steady()
    clocks.tick(10)
    clocks.wall -= 3600  # a step back of an hour
    assert steady() - start == 10
    clocks.wall += 7200  # and forward two
    clocks.tick(5)
    assert steady() - start == 15


def test_clock_watch_reports_steps_but_not_drift():
    clocks = Clocks()
    bus, seen = EventBus(), []
    bus.subscribe(seen.append, ClockStepped)
    watch = ClockWatch(bus, wall=lambda: clocks.wall, steady=lambda: clocks.steady)
    for _ in range(20):  # NTP slewing: 1 s over 20 looks, never a step
        clocks.tick(1)
        clocks.wall += 0.05
        assert watch.poll() is None
    clocks.tick(1)
    clocks.wall -= 5.5
    assert watch.poll() == -5.5
    clocks.tick(1)
    clocks.wall += 3600
    assert watch.poll() == 3600
    assert watch.poll() is None
    assert [e.step_s for e in seen] == [-5.5, 3600] and watch.steps == 2

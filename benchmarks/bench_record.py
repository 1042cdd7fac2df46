"""A tap's server cost as the conference's log grows: about 40, 400 and 4,000 events, in one run.

Run: .venv/bin/python benchmarks/bench_record.py

What ``POST /api/conferences/<id>/events`` does on the server, without HTTP: the event checked and saved
(SQLite, WAL with fsync, on a temporary directory) and the new view encoded as the JSON the answer carries
(:meth:`ChairService.record_event` then :meth:`ChairService.view_json`). Two taps alternate on each log: a
camera off/on for one virtual attendee (cannot change quorum) and a lost connection/rejoined for another
(changes quorum). The log is first filled through the store to the size wanted (events of the same kinds by
twelve invitees). Baseline: the same taps on the 40-event log, measured in the same run. Target: the ratio
at 4,000 events <= 2.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_web import CSV  # noqa: E402

SIZES = (40, 400, 4000)
TAPS = 60


class _Clock:
    def __init__(self):
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


def _fill(service, cid: int, people: list, size: int, clock: _Clock) -> None:
    """Grow the log to ``size`` events: arrivals, then camera and connection taps spread over the people."""
    store = service.store
    for person in people:
        store.append_event(cid, "arrived", invitee_id=person.id, details={"mode": person.expected_mode.value})
    virtual = [p for p in people if p.expected_mode.value == "virtual"][2:]  # the first two are the taps'
    n, i = len(people), 0
    while n < size:
        clock.now += timedelta(milliseconds=200)
        person = virtual[i % len(virtual)]
        kind = ("lost_connection", "rejoined", "camera_off", "camera_on")[(i // len(virtual)) % 4]
        store.append_event(cid, kind, invitee_id=person.id)
        i += 1
        n += 1


def _taps(service, cid: int, camera_id: int, link_id: int, clock: _Clock) -> tuple[list[float], list[float]]:
    camera, link = [], []
    for i in range(TAPS):
        for times, who, kinds in ((camera, camera_id, ("camera_off", "camera_on")),
                                  (link, link_id, ("lost_connection", "rejoined"))):
            clock.now += timedelta(milliseconds=500)
            began = time.perf_counter()
            service.record_event(cid, kinds[i % 2], who, {})
            service.view_json(cid)
            times.append((time.perf_counter() - began) * 1000)
    return camera, link


def run() -> list[dict]:
    from kiosk.config import Config
    from kiosk.conference.service import ChairService

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config().replace("storage", state_dir=tmp)
        clock = _Clock()
        service = ChairService(cfg, None, now=clock)
        try:
            for size in SIZES:
                c = service.create_conference(type="initial", date="2026-11-23", start_time="09:00",
                                              case_ref=f"CP-BENCH-{size}")
                people = service.import_csv(c.id, CSV)
                virtual = [p for p in people if p.expected_mode.value == "virtual"]
                _fill(service, c.id, people, size, clock)
                service.view_json(c.id)  # the page was open before the tap
                results[size] = _taps(service, c.id, virtual[0].id, virtual[1].id, clock)
        finally:
            service.stop()
    rows = []
    base = {k: float(np.median(results[SIZES[0]][k])) for k in (0, 1)}
    for k, what in ((0, "camera off/on"), (1, "lost connection/rejoined")):
        for size in SIZES:
            a = np.asarray(results[size][k])
            median = float(np.median(a))
            rows.append({"name": f"tap server cost, {what}, log of {size} events", "median_ms": median,
                         "p99_ms": float(np.percentile(a, 99)), "baseline": f"same tap, log of {SIZES[0]}",
                         "baseline_median_ms": base[k], "ratio": median / base[k] if base[k] else None,
                         "target": "ratio <= 2 at 4,000"})
    return rows


if __name__ == "__main__":
    from report import print_table

    print_table(run())

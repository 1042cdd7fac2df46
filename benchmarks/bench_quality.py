"""The quality report page over 24 months of facts for 1,000 conferences, from a real ``kiosk run``.

Run: .venv/bin/python benchmarks/bench_quality.py

The kiosk's quality store (its own SQLite file in the state directory) is filled with the
facts of 1,000 conferences spread over the 24 months to today (seeded, the shape
``kiosk.quality.facts.extract`` returns, 4-7 professional agencies each), then the page is
asked for over HTTP: the current month (with its 12-month trend), the whole 24 months,
and the CSV. Baseline: the chair's home page (``GET /chair``), measured in the same run.
Target: the page in <= 200 ms.

Then what a report received after the end costs the chair's request: the conference's facts are
taken again and its month's figures republished in that request. Baseline: the same report
request before the end (no facts taken), measured in the same run.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_web import Site, _stats  # noqa: E402

from kiosk.quality.facts import AGENCIES, AGENCY_COUNTS  # noqa: E402
from kiosk.quality.store import QualityStore, months_back  # noqa: E402

CONFERENCES = 1000
MONTHS = 24
REQUESTS = 40


def _agency(rng: random.Random) -> dict:
    invited = rng.randint(1, 3)
    online = rng.randint(0, invited)
    c = dict.fromkeys(AGENCY_COUNTS, 0)
    c.update(invited=invited, online=online, in_person=rng.randint(0, invited - online),
             late=rng.randint(0, online), late_min=rng.randint(0, 20), whole=rng.randint(0, online),
             lost_connection=rng.randint(0, online), camera_off=rng.randint(0, online), reports_needed=invited,
             reports_on_time=rng.randint(0, invited))
    c["reports_missing"] = invited - c["reports_on_time"]
    return c


def fake_facts(rng: random.Random, day: date) -> dict:
    """One conference's facts, shaped as ``kiosk.quality.facts.extract`` returns them."""
    on_time = rng.random() < 0.7
    return {"schema": 1, "date": day.isoformat(), "type": rng.choice(("initial", "review")), "hybrid": True,
            "booked_start": "10:00", "actual_start": "10:00" if on_time else "10:09", "started_on_time": on_time,
            "start_delay_min": 0 if on_time else 9, "duration_min": rng.randint(45, 150),
            "quorate_at_start": rng.random() < 0.9, "quorate_throughout": rng.random() < 0.75,
            "quorum_lost": rng.randint(0, 2), "inquorate_min": rng.randint(0, 30),
            "proceeded_inquorate": rng.random() < 0.1, "adjourned": rng.random() < 0.05,
            "timescale": rng.choice(("met", "met", "met", "missed", "not known")),
            "room_ready": rng.choice((True, True, True, False, None)),
            "checks_failed_before": rng.choice(([], [], ["camera"], ["microphone", "network"])),
            "agencies": {a: _agency(rng) for a in rng.sample(AGENCIES, rng.randint(4, 7))}}


def fill(state_dir: Path) -> None:
    """1,000 conferences' facts over the 24 months to today."""
    store = QualityStore.in_state_dir(state_dir)
    rng = random.Random(16)
    first, today = months_back(date.today(), MONTHS - 1), date.today()
    span = (today - first).days
    now = datetime.now(timezone.utc)
    for cid in range(1, CONFERENCES + 1):
        store.save(10_000 + cid, fake_facts(rng, first + timedelta(days=rng.randint(0, span))), now=now, purged={})
    assert store.count() == CONFERENCES


def _time(site: Site, path: str, n: int = REQUESTS) -> tuple[list[float], int]:
    times, size = [], 0
    for _ in range(n):
        conn = site.connection()
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": site.cookie})
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        size = len(body)
    return times, size


def _reports(site: Site, invitee_id: int, n: int = REQUESTS) -> list[float]:
    """``n`` reports received for one invitee of the site's conference, each on a fresh connection (ms)."""
    times = []
    for i in range(n):
        day = (date.today() - timedelta(days=i % 20)).isoformat()
        started = time.perf_counter()
        site.request("POST", f"/api/conferences/{site.conference_id}/events",
                     {"kind": "report_received", "invitee_id": invitee_id, "details": {"received_on": day}})
        times.append((time.perf_counter() - started) * 1000)
    return times


def report_after_the_end(site: Site) -> dict:
    """A report received after the end (facts taken again) against the same request before the end."""
    police = site.invitee_ids[2]  # a professional, who owes a report (D8)
    before = _stats(_reports(site, police))[0]
    site.request("POST", f"/api/conferences/{site.conference_id}/end")
    median, p99 = _stats(_reports(site, police))
    return {"name": "report received after the end (facts taken again)", "median_ms": median, "p99_ms": p99,
            "baseline": "the same before the end", "baseline_median_ms": before, "ratio": median / before,
            "target": ""}


def run() -> list[dict]:
    site = Site()
    try:
        fill(Path(site.tmp.name))
        first = months_back(date.today(), MONTHS - 1).isoformat()
        base, _ = _time(site, "/chair")
        b = _stats(base)[0]
        rows = []
        for name, path in (("quality page, current month + 12-month trend", "/chair/quality"),
                           ("quality page, all 24 months (1,000 conferences)",
                            f"/chair/quality?from={first}&to={date.today().isoformat()}"),
                           ("quality CSV, all 24 months", f"/chair/quality.csv?from={first}&to={date.today()}")):
            times, size = _time(site, path)
            median, p99 = _stats(times)
            rows.append({"name": f"{name} ({size // 1024} KB)", "median_ms": median, "p99_ms": p99,
                         "baseline": "GET /chair", "baseline_median_ms": b, "ratio": median / b,
                         "target": "<= 200 ms" if "page" in name else ""})
        rows.append(report_after_the_end(site))
        return rows
    finally:
        site.close()


if __name__ == "__main__":
    from report import print_table

    print_table(run())

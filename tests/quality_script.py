"""Scripted conferences for the quality report tests, recorded through the chair's API, and the figures
they must give (worked out by hand in the comments, not by the code under test).

Two conferences on Monday 23 November 2026 (GMT, so local time = UTC):

A, initial, booked 10:00, strategy discussion 16 Nov (timescale met). The room's checks all
pass at 09:50. Started 10:00 (on time). Pia Police arrives 7 min late, Pete Police 12 min
late; Pat Police loses connection 10:30 and rejoins 10:35; Hana's camera is off 10:40-10:45;
Ella School leaves 10:50 without the chair's agreement (still quorate: social care, police,
health); Hana loses connection at 11:00 (quorum lost: social care and police only) and
cannot rejoin (emails the chair); the chair decides to proceed at 11:05; ends 11:20
(20 minutes inquorate). Gil Green sends apologies. Reports: Pia late, Pete and Ella missing,
the rest on time.

B, review, booked 14:00, previous ICPC 1 May (first review due 1 Aug: missed). The camera
check fails at 13:30 and passes at 13:55 (ready at the start, a technical problem before).
Started 14:08 (late). Pete arrives 3 min late; Pia leaves 14:20 with agreement; Gil's
camera goes off at 14:30 and stays off; Pat loses connection 14:40 and cannot rejoin (no
email); still quorate throughout (social care, Pete for police, health). Ella does not
attend. Ends 15:00. Reports: Pete late, the rest on time.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from kiosk.checks.result import CheckResult
from kiosk.checks.runner import Cycle
from kiosk.events import ChecksFinished, ConferenceEnded  # noqa: F401  (tests publish it)

DAY = "2026-11-23"
MONDAY_0930 = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)

CSV = ("name,role,agency,direct_contact,expected_mode\n"
       "Sam Social,social worker,,,in person\n"
       "Pat Police,police officer,,yes,virtual\n"
       "Pia Police,police officer,,yes,virtual\n"
       "Pete Police,police officer,,yes,virtual\n"
       "Hana Visitor,health visitor,,yes,virtual\n"
       "Gil Green,GP,health,yes,virtual\n"
       "Ella School,school,,yes,virtual\n"
       "Mary Parent,parent,,,in person\n")
NAMES = ("Sam Social", "Pat Police", "Pia Police", "Pete Police", "Hana Visitor", "Gil Green", "Ella School",
         "Mary Parent")
CASE_REFS = ("CP-2026-0142", "CP-2026-0977")

ON_TIME, LATE = "2026-11-10", DAY

SCRIPT_A = [
    ("09:55", "Sam Social", "arrived", {"mode": "in_person"}),
    ("09:55", "Mary Parent", "arrived", {"mode": "in_person"}),
    ("09:55", "Pat Police", "arrived", {"mode": "virtual"}),
    ("09:55", "Hana Visitor", "arrived", {"mode": "virtual"}),
    ("09:55", "Ella School", "arrived", {"mode": "virtual"}),
    ("09:56", "Gil Green", "apologies", {}),
    ("10:00", None, "started", {}),
    ("10:07", "Pia Police", "arrived", {"mode": "virtual"}),
    ("10:12", "Pete Police", "arrived", {"mode": "virtual"}),
    ("10:30", "Pat Police", "lost_connection", {}),
    ("10:35", "Pat Police", "rejoined", {}),
    ("10:40", "Hana Visitor", "camera_off", {}),
    ("10:45", "Hana Visitor", "camera_on", {}),
    ("10:50", "Ella School", "left", {"agreed": False}),
    ("11:00", "Hana Visitor", "lost_connection", {}),
    ("11:02", "Hana Visitor", "could_not_rejoin", {"emailed_chair": True}),
    ("11:05", None, "proceed_inquorate", {"reason": "Police and social care have the information"}),
]
REPORTS_A = {"Sam Social": ON_TIME, "Pat Police": ON_TIME, "Pia Police": LATE, "Hana Visitor": ON_TIME,
             "Gil Green": ON_TIME}

SCRIPT_B = [
    ("13:58", "Sam Social", "arrived", {"mode": "in_person"}),
    ("13:58", "Mary Parent", "arrived", {"mode": "in_person"}),
    ("13:58", "Pat Police", "arrived", {"mode": "virtual"}),
    ("13:58", "Pia Police", "arrived", {"mode": "virtual"}),
    ("13:58", "Hana Visitor", "arrived", {"mode": "virtual"}),
    ("13:58", "Gil Green", "arrived", {"mode": "virtual"}),
    ("13:59", "Ella School", "not_attended", {}),
    ("14:03", "Pete Police", "arrived", {"mode": "virtual"}),
    ("14:08", None, "started", {}),
    ("14:20", "Pia Police", "left", {"agreed": True}),
    ("14:30", "Gil Green", "camera_off", {}),
    ("14:40", "Pat Police", "lost_connection", {}),
    ("14:45", "Pat Police", "could_not_rejoin", {"emailed_chair": False}),
]
REPORTS_B = {"Sam Social": ON_TIME, "Pat Police": ON_TIME, "Pia Police": ON_TIME, "Pete Police": LATE,
             "Hana Visitor": ON_TIME, "Gil Green": ON_TIME, "Ella School": ON_TIME}

#: The room's check cycles: (time, {check: status}).
CHECKS = [
    ("09:50", {"camera": "pass", "microphone": "pass", "display": "pass"}),
    ("13:30", {"camera": "fail", "microphone": "pass", "display": "pass"}),
    ("13:55", {"camera": "pass", "microphone": "pass", "display": "pass"}),
]

#: The headline figures of one room running the script: key -> (count, of).
HEADLINE = {
    "conferences": (2, None),
    "started_on_time": (1, 2),
    "quorate_at_start": (2, 2),
    "quorate_throughout": (1, 2),
    "quorum_lost": (1, 2),
    "proceeded_inquorate": (1, 2),
    "adjourned": (0, 2),
    "timescale_met": (1, 2),
    "room_ready": (2, 2),
    "technical_problems": (1, 2),
}

#: Per-agency cells of one room (police: 6 invited, everything else small).
POLICE_ONE_ROOM = {
    "invited": "6", "attended": "6 (100%)", "in_person": "0", "online": "6", "whole": "fewer than 5",
    "late": "fewer than 5", "late_avg": "fewer than 5", "left_agreed": "fewer than 5",
    "left_not_agreed": "0 (0%)", "lost_connection": "fewer than 5", "cnr_emailed": "0",
    "cnr_not_emailed": "fewer than 5", "camera_off": "0 (0%)", "camera_off_episodes": "0",
    "reports_on_time": "fewer than 5", "reports_late": "fewer than 5", "reports_missing": "fewer than 5",
}
HEALTH_ONE_ROOM = {"invited": "fewer than 5", "attended": "fewer than 5", "whole": "fewer than 5",
                   "camera_off": "fewer than 5", "cnr_emailed": "fewer than 5", "reports_on_time": "fewer than 5"}
EDUCATION_ONE_ROOM = {"invited": "fewer than 5", "attended": "fewer than 5", "left_not_agreed": "fewer than 5",
                      "reports_missing": "fewer than 5"}

#: Two rooms, each running the script: police late 3 + 3 = 6 (44 minutes: 22 each) is shown now.
POLICE_TWO_ROOMS = {
    "invited": "12", "attended": "12 (100%)", "online": "12", "whole": "fewer than 5", "late": "6 (50%)",
    "late_avg": "7", "left_agreed": "fewer than 5", "lost_connection": "fewer than 5",
    "cnr_not_emailed": "fewer than 5", "reports_on_time": "6 (50%)", "reports_late": "fewer than 5",
    "reports_missing": "fewer than 5",
}
HEALTH_TWO_ROOMS = {"invited": "8", "attended": "6 (75%)", "online": "6", "whole": "fewer than 5",
                    "camera_off": "fewer than 5", "reports_on_time": "8 (100%)"}


def at(hhmm: str) -> datetime:
    """A time on the conference day (GMT: local = UTC)."""
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 11, 23, h, m, tzinfo=timezone.utc)


def publish_checks(bus) -> None:
    """The room's check cycles, as the controller publishes them (real results, fixed times)."""
    for hhmm, statuses in CHECKS:
        results = {name: (CheckResult.passed(f"{name} OK") if s == "pass" else CheckResult.failed(f"{name} failed"))
                   for name, s in statuses.items()}
        bus.publish(ChecksFinished(Cycle(results, dict.fromkeys(results, True), at(hhmm), 0.5)))


def _conference(chair, script, reports, **fields) -> int:
    cid = chair.conference(**fields)["conference"]["id"]
    ids = {i["name"]: i["id"] for i in chair.invite_csv(cid, CSV)}
    for name, received in reports.items():
        assert chair.event(cid, "report_received", ids[name], received_on=received).status_code == 201
    for hhmm, name, kind, details in script:
        chair.now.now = at(hhmm)
        response = chair.event(cid, kind, ids[name] if name else None, **details)
        assert response.status_code == 201, (hhmm, name, kind, response.get_json())
    return cid


def run(chair, end_b_at: str = "15:00") -> tuple[int, int]:
    """Record conferences A and B through the chair's API (signed in) and end them; returns their ids."""
    chair.now.now = MONDAY_0930
    a = _conference(chair, SCRIPT_A, REPORTS_A, type="initial", start_time="10:00", case_ref=CASE_REFS[0],
                    strategy_date="2026-11-16")
    chair.now.now = at("11:20")
    assert chair.api("POST", f"/api/conferences/{a}/end").status_code == 200
    chair.now.now = at("13:00")
    b = _conference(chair, SCRIPT_B, REPORTS_B, type="review", start_time="14:00", case_ref=CASE_REFS[1],
                    previous_icpc_date="2026-05-01")
    chair.now.now = at(end_b_at)
    assert chair.api("POST", f"/api/conferences/{b}/end").status_code == 200
    chair.now.now = at("15:30")
    return a, b


def later(chair, **delta) -> None:
    """Move the kiosk's clock on."""
    chair.now.now += timedelta(**delta)


def make_quality_chair(tmp_path, controller, **kwargs):
    """:func:`chair_web.make_chair` with a QualityService on the controller's bus, and the app serving both.

    The chair is signed in; ``env.extra["quality"]`` is the QualityService.
    """
    from chair_web import make_chair
    from kiosk.quality.service import QualityService
    from web_ui import create_app

    env = make_chair(tmp_path, controller, now=MONDAY_0930, **kwargs)
    cfg = dataclasses.replace(env.service.cfg, room=controller.cfg.room)  # the room's id and name
    quality = QualityService(cfg, env.service, controller.bus).start()
    env.app = create_app(controller, {"TESTING": True, "CHAIR_CLOCK": env.seconds}, chair=env.service,
                         quality=quality)
    env.client = env.app.test_client()
    env.extra["quality"] = quality
    env.login()
    return env


def figures_month():
    """The period of the scripted conferences (November 2026)."""
    from kiosk.quality.figures import month_period

    return month_period("2026-11")

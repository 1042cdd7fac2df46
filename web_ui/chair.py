"""The chair's page (``/chair``): conferences, invitation lists, live attendance, quorum, reports, the record.

Server-rendered HTML forms that work without JavaScript; ``chair.js`` submits the
forms marked ``data-live`` in the background (header ``X-Chair-Fragment: live``) and
swaps in the re-rendered live part of the page (quorum, attendance, reports, log), so a
tap shows its result without a reload. Errors then come back as JSON ``{"error"}``,
except a refusal because the page was out of date (409), which comes back as the
current live part with the reason, so the tablet shows what changed. Without
JavaScript errors are flashed on the page after a redirect.

Every refused change of the record (:class:`ConferenceError`) goes through one error
handler (:func:`_conference_error`); the routes only say what they change.

Only the chair, signed in, sees any of it (:mod:`web_ui.auth`); names never reach the
room display or the logs (D15).
"""

from __future__ import annotations

import collections
import threading
import urllib.parse

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session,
                   url_for)
from flask_wtf.csrf import generate_csrf
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from kiosk import __version__
from kiosk.conference import validation as rules
from kiosk.conference.errors import ConferenceError, CsvImportError, PinLockedOut, StaleState
from kiosk.conference.model import Agency, ConferenceType, Mode, Role
from kiosk.conference.view import ACTIONS
from web_ui import admission, auth, get_controller, idempotency, messages
from web_ui.conference_http import (CONFERENCE_FIELDS, CONFERENCE_REQUIRED, INVITEE_FIELDS, INVITEE_REQUIRED,
                                    csv_response, error_response, error_status)

bp = Blueprint("chair", __name__, url_prefix="/chair")

#: Log entries on the live page, newest first. The page goes back to the tablet after every tap, so it
#: stays the same size however long the conference runs; the whole log has pages of its own.
LIVE_LOG_ROWS = 20
#: Entries on one page of the whole log, and conferences on one page of the list.
LOG_PAGE_ROWS = 100
CONFERENCES_PAGE_ROWS = 25

#: Large uploads are refused by MAX_CONTENT_LENGTH; this is only the text limit of a pasted list.
CSV_ENCODINGS = ("utf-8-sig", "cp1252")

#: Where a refused form sent without chair.js comes back to on the conference's page.
ANCHORS = {"edit_conference": "details", "purge_conference": "purge", "add_invitee": "invitees",
           "import_csv": "invitees", "copy_previous": "invitees", "remove_invitee": "invitees",
           "report_received": "reports", "decision": "quorum", "correct": "log"}

#: The reason a correction made with Undo carries.
UNDO_REASON = "Tapped in error (undone by the chair)"


@bp.record_once
def _template_globals(state) -> None:
    # The forms' length limits are the record's own (kiosk.conference.validation), as the API's schemas are.
    limits = {"case_ref": rules.CASE_REF_MAX, "name": rules.MAX_NAME, "email": rules.MAX_EMAIL, "text": rules.MAX_TEXT}
    state.app.jinja_env.globals.update(chair_actions=ACTIONS, live_log_rows=LIVE_LOG_ROWS, limits=limits,
                                       chair_flashes=messages.chair_flashes)


# -- errors --------------------------------------------------------------------------

@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """chair.js's background submissions get JSON errors; people get the usual error page."""
    from web_ui import _handle_http_error

    if _fragment():
        response = jsonify(error=exc.description if (exc.code or 500) < 500 else "something went wrong")
        response.status_code = exc.code or 500
        return response
    return _handle_http_error(exc)


@bp.errorhandler(ConferenceError)
def _conference_error(exc: ConferenceError):
    """A change the record refused, or a conference that is not there, said the way the request wants it."""
    status = error_status(exc)
    conference_id = (request.view_args or {}).get("conference_id")
    if request.method in ("GET", "HEAD"):
        return _http_error(_http_exception(status, str(exc)))
    if _fragment():
        if status == 409 and _exists(conference_id):
            # The tablet was out of date: show it the record as it is, and why nothing was saved.
            return _live(conference_id, error=_refusal(conference_id, exc), status=409)
        return error_response(exc)
    if status == 409 and isinstance(exc, StaleState) and _exists(conference_id):
        # As chair.js says it, naming who had changed; the name waits on the kiosk, not in the cookie.
        messages.say(str(exc), conference_id, _refusal(conference_id, exc), category="error")
    else:
        flash(str(exc), "error")
    if isinstance(exc, CsvImportError):
        for row, problem in exc.problems[10:]:
            flash(f"row {row}: {problem}" if row else problem, "error")
    if not _exists(conference_id):
        return redirect(url_for("chair.index"), code=303)
    return redirect(_back_url(conference_id, ANCHORS.get(request.endpoint.rpartition(".")[2], "attendance")),
                    code=303)


def _refusal(conference_id: int, exc: ConferenceError) -> str:
    """Why a tap was refused, saying what changed when the card was out of date."""
    if not isinstance(exc, StaleState):
        return f"Nothing recorded: {exc}"
    invitee = request.form.get("tap", "").partition(":")[0]
    person = next((p for p in _service().view(conference_id)["people"] if str(p["id"]) == invitee), None)
    if person is None:
        return f"Nothing recorded: {exc}"
    return (f"Nothing recorded: {person['name']} had changed on another tablet and is now "
            f"\u201c{person['status_text']}\u201d. Check, then tap again.")


def _http_exception(status: int, message: str) -> HTTPException:
    cls = default_exceptions.get(status, InternalServerError)
    return cls(message)


def _exists(conference_id: int | None) -> bool:
    if conference_id is None:
        return False
    try:
        _service().get_conference(conference_id)
    except ConferenceError:
        return False
    return True


# -- helpers -------------------------------------------------------------------------

def _service():
    chair = auth.get_service()
    if chair is None:
        abort(503, "The conference record is not available on this kiosk: ask IT to check its storage.")
    return chair


# A tap retried by chair.js (same Idempotency-Key) gets the first answer again; nothing is recorded twice.
idempotency.protect(bp, "/chair/conferences/")


def _fragment() -> bool:
    """True for chair.js's background submissions, which want the live fragment back."""
    return request.headers.get("X-Chair-Fragment") == "live"


def _page(template: str, status: int = 200, **context):
    """A whole page: never kept in a browser's cache (names)."""
    html = _render(template, room_name=get_controller().cfg.room.name, version=__version__,
                   signed_in=auth.signed_in(), idle_timeout_s=auth.idle_timeout_s(), **context)
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


#: The pages whose renderings are kept (each is one view of one conference, the same for every session).
KEPT_RENDERINGS = frozenset({"chair_conference.html", "chair_fragment.html", "chair_log.html"})
#: Stand-ins in a kept rendering for what differs between requests: the session's CSRF token and the clock.
_TOKEN, _NOW, _NOW_MS = "\x00token\x00", "\x00now\x00", "\x00now-ms\x00"


def _render(template: str, **context) -> str:
    """``template`` rendered; one about a conference's view is kept and reused while the view stays the same.

    Every tablet and every live refresh asks for the same conference again and again, and rendering is most
    of a request's cost. A rendering is kept per view revision and minute (what a view shows changes at the
    minute at most, apart from the clock), without anything of the session: the CSRF token and the clock
    are put in for each request. Not for one-off messages (a tap's, or flashed ones).
    """
    view = context.get("view")
    now = {"kiosk_now": view["now"], "now_ms": context.pop("now_ms", 0)} if view else {}
    if (template not in KEPT_RENDERINGS or context.get("message") or context.get("error")
            or session.get("_flashes")):
        return render_template(template, **context, **now)
    conference_id = view["conference"]["id"]
    key = (template, conference_id, view["revision"], now["now_ms"] // 60_000, context.get("signed_in"),
           tuple(sorted(request.args.items())))
    kept, purged, lock = current_app.extensions["chair_renderings"]
    html = kept.get(key)
    if html is None:
        token = generate_csrf()
        html = render_template(template, **context, kiosk_now=_NOW, now_ms=_NOW_MS).replace(token, _TOKEN)
        with lock:
            if conference_id not in purged:  # rendered from a view read just before a purge: not kept
                kept[key] = html
            while len(kept) > 32:  # a few conferences and pages at a time
                kept.popitem(last=False)
    html = html.replace(_TOKEN, generate_csrf())
    return html.replace(_NOW_MS, str(now["now_ms"])).replace(_NOW, now["kiosk_now"])


def forget_purged(app, bus) -> None:
    """Keep ``app``'s renderings, and drop a conference's as soon as ``bus`` says it was purged
    (:class:`kiosk.events.ConferencePurged`), so that no page with its names stays in memory."""
    from kiosk.events import ConferencePurged

    kept, purged, lock = app.extensions["chair_renderings"] = (collections.OrderedDict(), set(), threading.Lock())

    def forget(event: ConferencePurged) -> None:
        with lock:
            purged.add(event.conference_id)
            for key in [k for k in kept if k[1] == event.conference_id]:
                del kept[key]

    app.extensions["chair_renderings.unsubscribe"] = bus.subscribe(forget, ConferencePurged)


def _choices() -> dict:
    return {"roles": list(Role), "agencies": list(Agency), "modes": list(Mode), "types": list(ConferenceType)}


def _form(*names, required=()) -> dict:
    """The named form fields that were sent (blank ones as empty text); ``required`` ones are always there
    (as empty text when missing, so that validation names what is missing rather than the call failing)."""
    return {n: request.form.get(n, "") for n in names if n in request.form or n in required}


def _int(name: str) -> int:
    raw = request.form.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        abort(400, f"{name} must be a whole number")
    return int(raw)


def _page_number() -> int:
    raw = request.args.get("page", "1")
    if not raw.isascii() or not raw.isdigit() or not 0 < len(raw) < 7 or int(raw) < 1:
        abort(400, "page must be a whole number from 1")
    return int(raw)


def _paging(answer: dict, shown: int) -> dict:
    """What the page links need from one of the service's pages (404 past the last one)."""
    if answer["page"] > answer["pages"]:
        abort(404, f"There are only {answer['pages']} page(s)")
    first = (answer["page"] - 1) * answer["per_page"] + 1
    return {"number": answer["page"], "pages": answer["pages"], "total": answer["total"], "first": first,
            "last": first + shown - 1}


def _confirmed() -> bool:
    return request.form.get("confirm") == "yes"


def _done(conference_id: int, message: str | None = None, anchor: str = "attendance", recorded=None,
          named: str | None = None):
    """After a change: the live fragment for chair.js, else a redirect back to the page (at the person's card).

    ``named`` is the message naming someone: without chair.js it waits on the kiosk for the next page, while
    the session cookie carries ``message``, which names no one (D15; :mod:`web_ui.messages`).
    """
    if _fragment():
        return _live(conference_id, named or message, recorded=recorded)
    if recorded is not None:
        view = _service().view(conference_id)
        message = _recorded_text(view, recorded, named=False) + " recorded."
        named = _recorded_text(view, recorded) + " recorded."
        anchor = f"person-{recorded.invitee_id}" if recorded.invitee_id else anchor
    if message:
        messages.say(message, conference_id, named)
    return redirect(_back_url(conference_id, anchor), code=303)


def _back_url(conference_id: int, anchor: str) -> str:
    """Where a form sent without chair.js returns: the conference's page, or the whole log it came from."""
    if request.form.get("back") == "log":
        return url_for("chair.log", conference_id=conference_id)
    return url_for("chair.conference", conference_id=conference_id) + "#" + anchor


def _recorded_text(view: dict, event, named: bool = True) -> str:
    """"Pat Police: Arrived online at 10:03:12": who, what and when, for the message after a tap."""
    row = next((e for e in view["events"] if e["id"] == event.id), None)
    label = request.form.get("tap", "").partition(":")[2].partition(":")[0]
    what = ACTIONS[label].label if label in ACTIONS else (row["label"] if row else "Recorded")
    who = f"{row['who']}: " if named and row and row["who"] else ""
    return f"{who}{what} at {row['at'] if row else ''}".strip()


def _live(conference_id: int, message: str | None = None, *, error: str | None = None, status: int = 200,
          recorded=None):
    """The live part of the conference's page (chair.js swaps it in), with the message of what just happened."""
    chair = _service()
    view = chair.view(conference_id)
    undo = None
    if recorded is not None:
        message, undo = _recorded_text(view, recorded), recorded.id
    html = _render("chair_fragment.html", view=view, message=message, error=error, undo_event=undo,
                   today=chair.today().isoformat(), now_ms=_now_ms(chair), **_choices())
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


def _view_page(template: str, conference_id: int, **context):
    """A whole page about one conference, from its view (404 for an unknown one)."""
    chair = _service()
    return _page(template, view=chair.view(conference_id), message=None, error=None, undo_event=None,
                 undo_reason=UNDO_REASON, now_ms=_now_ms(chair), **context)


def _now_ms(chair) -> int:
    """The kiosk's clock for chair.js (milliseconds since 1970): the page's clock ticks on from it."""
    return int(chair.now().timestamp() * 1000)


def _safe_next(target: str | None) -> str:
    if not target:
        return url_for("chair.index")
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/chair") or target.startswith("//"):
        return url_for("chair.index")
    return target


# -- sign-in -------------------------------------------------------------------------

@bp.get("/login")
def login():
    """The sign-in form: the chair's PIN, or a pairing code (``?code=`` from the QR code)."""
    access = auth.get_access()
    if auth.signed_in() and not request.args.get("code"):
        return redirect(_safe_next(request.args.get("next")))
    message = "Your session ended: sign in again." if request.args.get("expired") == "1" else None
    return _page("chair_login.html", code=(request.args.get("code") or "")[:20], next=request.args.get("next", ""),
                 message=message, error=None, pin_set=access is not None and access.pin_is_set(),
                 available=access is not None)


@bp.post("/login")
def login_post():
    """Check the PIN (or pairing code) through the lockout; on success start a fresh session."""
    _service()  # 503 without the conference record
    access = auth.get_access()
    pin, code = request.form.get("pin"), request.form.get("code")
    status, error = 401, None
    try:
        with admission.waiting():  # see api.login
            if code is not None and pin is None:
                ok = access.check_pairing_code(auth.client_key(), code)
                error = None if ok else "That pairing code is wrong, used or expired: ask for a new one."
            else:
                ok = access.check_pin(auth.client_key(), pin or "")
                error = None if ok else "Wrong PIN. Try again."
    except PinLockedOut as exc:
        ok, status, error = False, 429, str(exc)
    except ConferenceError as exc:
        ok, status, error = False, error_status(exc), str(exc)
    if ok:
        auth.sign_in()
        return redirect(_safe_next(request.form.get("next")), code=303)
    return _page("chair_login.html", status, code=code or "", next=request.form.get("next", ""), message=None,
                 error=error, pin_set=access.pin_is_set(), available=True)


@bp.post("/logout")
def logout():
    """Sign out (the session cookie is refused from now on)."""
    auth.sign_out()
    return redirect(url_for("chair.login"), code=303)


@bp.get("/pair")
def pair():
    """A one-time code and its QR code, to sign a tablet in without typing the PIN there."""
    import segno

    _service()  # 503 without the conference record
    code, ttl = auth.get_access().new_pairing_code()
    url = url_for("chair.login", code=code, _external=True)
    qr = segno.make(url, error="m")
    loopback = urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
    return _page("chair_pair.html", code=code, url=url, minutes=int(ttl // 60), loopback=loopback,
                 qr=qr.svg_data_uri(scale=8, border=4, dark="#000", light="#fff"))


# -- conferences ---------------------------------------------------------------------

@bp.get("")
def index():
    """A page of the stored conferences (``?page=``), today's marked, and the form for a new one."""
    chair = _service()
    answer = chair.conference_page(_page_number(), CONFERENCES_PAGE_ROWS)
    conferences = answer["conferences"]
    return _page("chair_home.html", todays=[c for c in conferences if c["is_today"]],
                 others=[c for c in conferences if not c["is_today"]], paging=_paging(answer, len(conferences)),
                 today=chair.today().isoformat(), retention_days=chair.settings.retention_days, **_choices())


@bp.post("/conferences")
def create_conference():
    """Create a conference from the form, then open it."""
    conference = _service().create_conference(**_form(*CONFERENCE_FIELDS, required=CONFERENCE_REQUIRED))
    flash("Conference created. Add the invitation list below.", "ok")
    return redirect(url_for("chair.conference", conference_id=conference.id) + "#invitees", code=303)


@bp.get("/conferences/<id:conference_id>")
def conference(conference_id: int):
    """The live page of one conference."""
    return _view_page("chair_conference.html", conference_id, today=_service().today().isoformat(), **_choices())


@bp.get("/conferences/<id:conference_id>/log")
def log(conference_id: int):
    """The whole event log, a page at a time (``?page=``), each entry with its "Correct" form."""
    chair = _service()
    answer = chair.log_page(conference_id, _page_number(), LOG_PAGE_ROWS)
    return _page("chair_log.html", view=chair.view(conference_id), events=answer["events"], now_ms=_now_ms(chair),
                 paging=_paging(answer, len(answer["events"])))


@bp.get("/conferences/<id:conference_id>/live")
def live(conference_id: int):
    """Only the live part of the page (chair.js fetches it when the record changed or the tablet wakes up)."""
    return _live(conference_id)


@bp.post("/conferences/<id:conference_id>/edit")
def edit_conference(conference_id: int):
    """Change the conference's details."""
    _service().update_conference(conference_id, **_form(*CONFERENCE_FIELDS))
    flash("Details saved.", "ok")
    return redirect(url_for("chair.conference", conference_id=conference_id), code=303)


@bp.post("/conferences/<id:conference_id>/start")
def start_conference(conference_id: int):
    """Record that the conference has started (late arrivals are judged from the scheduled start)."""
    _service().record_event(conference_id, "started")
    return _done(conference_id, "Start recorded.")


@bp.post("/conferences/<id:conference_id>/end")
def end_conference(conference_id: int):
    """End the conference, once confirmed (``confirm=yes``; without it, a page asks first).

    The room's session ends; afterwards only corrections and reports are recorded.
    """
    chair = _service()
    if not _confirmed():
        view = chair.view(conference_id)
        return _page("chair_confirm.html", view=view, action="end", early=_early(chair, view))
    chair.end_conference(conference_id)
    flash("Conference ended. Export the record for the minutes below.", "ok")
    return redirect(url_for("chair.conference", conference_id=conference_id) + "#record", code=303)


def _early(chair, view) -> bool:
    """True while the kiosk's clock is before the conference's booked start."""
    from datetime import datetime

    return chair.now() < datetime.fromisoformat(view["conference"]["starts_at"])


@bp.post("/conferences/<id:conference_id>/reopen")
def reopen_conference(conference_id: int):
    """Reopen an ended conference (the end and the reopening both stay in the record)."""
    _service().reopen_conference(conference_id)
    flash("Conference reopened: attendance can be recorded again.", "ok")
    return redirect(url_for("chair.conference", conference_id=conference_id) + "#attendance", code=303)


@bp.post("/conferences/<id:conference_id>/purge")
def purge_conference(conference_id: int):
    """Delete the conference's names and record now (the form's confirmation box must be ticked)."""
    if not _confirmed():
        flash("Tick the box to confirm that the record should be deleted now.", "error")
        return redirect(url_for("chair.conference", conference_id=conference_id) + "#purge", code=303)
    _service().purge_conference(conference_id)
    flash(f"Conference {conference_id} deleted: only anonymous counts are kept.", "ok")
    return redirect(url_for("chair.index"), code=303)


# -- invitees ------------------------------------------------------------------------

@bp.post("/conferences/<id:conference_id>/invitees")
def add_invitee(conference_id: int):
    """Add one person to the invitation list."""
    _service().add_invitee(conference_id, **_form(*INVITEE_FIELDS, required=INVITEE_REQUIRED))
    return _done(conference_id, "Added to the invitation list.", "invitees")


def _csv_text() -> str:
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        raw = upload.read()
        for encoding in CSV_ENCODINGS:  # spreadsheets on Windows still save cp1252
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
    return request.form.get("csv", "")


@bp.post("/conferences/<id:conference_id>/invitees/csv")
def import_csv(conference_id: int):
    """Import an invitation list pasted or uploaded as CSV (all or nothing)."""
    notes: list[str] = []
    added = _service().import_csv(conference_id, _csv_text(), notes)
    return _done(conference_id, " ".join([f"{len(added)} invitee(s) imported.", *notes]), "attendance")


@bp.post("/conferences/<id:conference_id>/invitees/copy-previous")
def copy_previous(conference_id: int):
    """Copy the previous conference's invitation list for the same case."""
    added = _service().copy_previous(conference_id)
    return _done(conference_id, f"{len(added)} invitee(s) copied from the previous conference.", "attendance")


@bp.post("/conferences/<id:conference_id>/invitees/<id:invitee_id>/remove")
def remove_invitee(conference_id: int, invitee_id: int):
    """Take someone off the list, once confirmed (``confirm=yes``; without it, a page asks first).

    Only before anything is recorded about them.
    """
    chair = _service()
    view = chair.view(conference_id)
    person = next((p for p in view["people"] if p["id"] == invitee_id), None)
    if person is None:
        abort(404, f"Invitee {invitee_id} is not on the list of conference {conference_id}")
    if not _confirmed():
        if _fragment():
            abort(400, "Confirm first: removing someone takes them off the list")
        return _page("chair_confirm.html", view=view, action="remove", person=person, early=False)
    chair.remove_invitee(conference_id, invitee_id)
    return _done(conference_id, "Someone removed from the invitation list.", "invitees",
                 named=f"{person['name']} removed from the invitation list.")


# -- live attendance -----------------------------------------------------------------

@bp.post("/conferences/<id:conference_id>/tap")
def tap(conference_id: int):
    """One tap of the attendance table: ``tap=<invitee id>:<action>[:<state seen>]`` (see ``ACTIONS``).

    The state the page showed for the person (``expect_state``) makes a tap from an out-of-date
    page a 409 that records nothing.
    """
    invitee, _, rest = request.form.get("tap", "").partition(":")
    action, _, seen = rest.partition(":")
    if not invitee.isascii() or not invitee.isdigit() or action not in ACTIONS:
        abort(400, "unknown tap: reload the page")
    tapped = ACTIONS[action]
    event = _service().record_event(conference_id, tapped.kind, int(invitee), dict(tapped.details),
                                    expect_state=seen or None)
    return _done(conference_id, recorded=event)


@bp.post("/conferences/<id:conference_id>/reports")
def report_received(conference_id: int):
    """A professional's report arrived (on the date given, today by default)."""
    _service().record_report(conference_id, _int("invitee_id"), request.form.get("received_on") or None)
    return _done(conference_id, "Report recorded.", "reports")


@bp.post("/conferences/<id:conference_id>/decision")
def decision(conference_id: int):
    """D5: the chair decides to proceed while inquorate, or not to proceed; the reason is required."""
    choice = request.form.get("decision")
    details = {"reason": request.form.get("reason", "")}
    if choice == "proceed":
        kind = "proceed_inquorate"
    elif choice == "adjourn":
        kind = "adjourned"
        if request.form.get("new_date"):
            details["new_date"] = request.form["new_date"]
        if request.form.get("late_reason"):
            details["late_reason"] = request.form["late_reason"]
    else:
        abort(400, "decision must be proceed or adjourn")
    _service().record_event(conference_id, kind, None, details)
    return _done(conference_id, "Decision recorded.", "quorum")


@bp.post("/conferences/<id:conference_id>/corrections")
def correct(conference_id: int):
    """Void an event recorded in error, with the reason (the log keeps both)."""
    _service().correct_event(conference_id, _int("event_id"), request.form.get("reason") or "")
    return _done(conference_id, "Correction recorded.")


# -- the record ----------------------------------------------------------------------

@bp.get("/conferences/<id:conference_id>/record")
def record(conference_id: int):
    """The attendance record as a printable page for the minutes."""
    return _page("chair_record.html", record=_service().record(conference_id))


@bp.get("/conferences/<id:conference_id>/record.csv")
def record_csv(conference_id: int):
    """The attendance record as CSV, to save with the minutes."""
    return csv_response(_service(), conference_id)

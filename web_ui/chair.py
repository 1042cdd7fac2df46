"""The chair's page (``/chair``): conferences, invitation lists, live attendance, quorum, reports, the record.

Server-rendered HTML forms that work without JavaScript; ``chair.js`` submits the
forms marked ``data-live`` in the background (header ``X-Chair-Fragment: live``) and
swaps in the re-rendered live part of the page (quorum, attendance, reports, log), so a
tap shows its result without a reload. Errors then come back as JSON ``{"error"}``;
without JavaScript they are flashed on the page after a redirect.

Only the chair, signed in, sees any of it (:mod:`web_ui.auth`); names never reach the
room display or the logs (D15).
"""

from __future__ import annotations

import collections
import urllib.parse

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf
from werkzeug.exceptions import HTTPException

from kiosk import __version__
from kiosk.conference.errors import ConferenceError, CsvImportError, PinLockedOut
from kiosk.conference.model import Agency, ConferenceType, Mode, Role
from kiosk.conference.service import ACTIONS, MAX_PER_PAGE
from web_ui import admission, api, auth, get_controller

bp = Blueprint("chair", __name__, url_prefix="/chair")

#: Log entries on the live page, newest first. The page goes back to the tablet after every tap, so it
#: stays the same size however long the conference runs; the whole log has a page of its own.
LIVE_LOG_ROWS = 20

#: Large uploads are refused by MAX_CONTENT_LENGTH; this is only the text limit of a pasted list.
CSV_ENCODINGS = ("utf-8-sig", "cp1252")


def init_app(app, service) -> None:
    """Register the page, the API and sign-in for ``service`` (a ChairService, or None)."""
    auth.init_app(app, service)
    if service is not None:
        service.waiting = admission.waiting  # a request waiting for a tap gives its slot back to the room
    app.url_map.converters["id"] = api.IdConverter
    app.register_blueprint(bp)
    app.register_blueprint(api.bp)
    app.register_error_handler(CSRFError, _csrf_error)
    app.jinja_env.globals.update(chair_actions=ACTIONS, live_log_rows=LIVE_LOG_ROWS)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """chair.js's background submissions get JSON errors; people get the usual error page."""
    from web_ui import _handle_http_error

    if _fragment():
        response = jsonify(error=exc.description if (exc.code or 500) < 500 else "something went wrong")
        response.status_code = exc.code or 500
        return response
    return _handle_http_error(exc)


def _csrf_error(exc: CSRFError):
    """A clearer message than Flask-WTF's, in JSON or as a page like every other error."""
    from werkzeug.exceptions import BadRequest

    from web_ui import _handle_http_error

    reason = exc.description or "The CSRF token is missing."
    if request.path.startswith("/api"):
        response = jsonify(error=f"{reason} Send the csrf_token from POST /api/login in the X-CSRFToken header.")
        response.status_code = 400
        return response
    message = f"{reason} Reload the chair's page and try again (the form was old, or not sent from the page)."
    if _fragment():
        response = jsonify(error=message)
        response.status_code = 400
        return response
    return _handle_http_error(BadRequest(message))


# -- helpers -------------------------------------------------------------------------

def _service():
    chair = auth.get_service()
    if chair is None:
        abort(503, "The conference record is not available on this kiosk: ask IT to check its storage.")
    return chair


def _fragment() -> bool:
    """True for chair.js's background submissions, which want the live fragment back."""
    return request.headers.get("X-Chair-Fragment") == "live"


def _page(template: str, **context):
    return _no_store(render_template(template, **_chrome(), **context))


def _chrome() -> dict:
    """What chair_base.html shows on every page: the room's name, the version, whether signed in."""
    return {"room_name": get_controller().cfg.room.name, "version": __version__, "signed_in": auth.signed_in()}


def _no_store(html: str, status: int = 200):
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"  # names: never kept in a cache
    return response


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


def _done(conference_id: int, message: str | None = None, anchor: str = "attendance", status: int = 200):
    """After a change: the live fragment for chair.js, else a redirect back to the page."""
    if _fragment():
        return _live(conference_id, message, status)
    if message:
        flash(message, "ok")
    return redirect(_back_url(conference_id, anchor), code=303)


def _failed(conference_id: int | None, exc: ConferenceError, anchor: str = "attendance"):
    """A refused change: JSON for chair.js, else the message flashed on the page."""
    if _fragment():
        return api.error_response(exc)
    message = str(exc)
    flash(message, "error")
    if isinstance(exc, CsvImportError):
        for row, problem in exc.problems[10:]:
            flash(f"row {row}: {problem}" if row else problem, "error")
    if conference_id is None:
        return redirect(url_for("chair.index"), code=303)
    try:
        _service().get_conference(conference_id)
    except ConferenceError:
        return redirect(url_for("chair.index"), code=303)
    return redirect(_back_url(conference_id, anchor), code=303)


def _back_url(conference_id: int, anchor: str) -> str:
    """Where a form sent without chair.js returns: the conference's page, or the whole log it came from."""
    if request.form.get("back") == "log":
        return url_for("chair.log", conference_id=conference_id)
    return url_for("chair.conference", conference_id=conference_id) + "#" + anchor


def _render_view(template: str, view: dict, **context) -> str:
    """``template`` rendered for ``view``, reusing the last rendering of the same view.

    Every tablet and the page's own refreshes ask for the same conference again and again;
    rendering it is most of the cost of a request. A rendering is reused only for the
    same view revision, the same minute on the page's clock, the same session (its CSRF
    token is in the forms) and no one-off message.
    """
    if context.get("message") is not None or session.get("_flashes"):
        return render_template(template, view=view, **context)
    key = (template, view["revision"], view["now"][:5], generate_csrf(), auth.signed_in())
    version = _service().store.version
    cached_version, cache = current_app.extensions.get("chair_renderings", (None, None))
    if cached_version != version:  # any change (a purge too) drops every old rendering, names and all
        cache = collections.OrderedDict()
        current_app.extensions["chair_renderings"] = (version, cache)
    html = cache.get(key)
    if html is None:
        html = render_template(template, view=view, **context)
        cache[key] = html
        while len(cache) > 64:  # a few tablets and pages at a time
            cache.popitem(last=False)
    return html


def _live(conference_id: int, message: str | None = None, status: int = 200):
    chair = _service()
    view = chair.view(conference_id)
    return _no_store(_render_view("chair_live.html", view, message=message, today=chair.today().isoformat(),
                                  **_choices()), status)


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
    chair = auth.get_service()
    if auth.signed_in() and not request.args.get("code"):
        return redirect(_safe_next(request.args.get("next")))
    message = "Your session ended: sign in again." if request.args.get("expired") == "1" else None
    return _page("chair_login.html", code=(request.args.get("code") or "")[:20], next=request.args.get("next", ""),
                 message=message, error=None, pin_set=chair is not None and chair.pin_is_set(),
                 available=chair is not None)


@bp.post("/login")
def login_post():
    """Check the PIN (or pairing code) through the lockout; on success start a fresh session."""
    chair = _service()
    pin, code = request.form.get("pin"), request.form.get("code")
    status, error = 401, None
    try:
        with admission.waiting():  # see api.login
            if code is not None and pin is None:
                ok = chair.check_pairing_code(auth.client_key(), code)
                error = None if ok else "That pairing code is wrong, used or expired: ask for a new one."
            else:
                ok = chair.check_pin(auth.client_key(), pin or "")
                error = None if ok else "Wrong PIN. Try again."
    except PinLockedOut as exc:
        ok, status, error = False, 429, str(exc)
    except ConferenceError as exc:
        ok, status, error = False, api.error_status(exc), str(exc)
    if ok:
        auth.sign_in()
        return redirect(_safe_next(request.form.get("next")), code=303)
    response = _page("chair_login.html", code=code or "", next=request.form.get("next", ""), message=None,
                     error=error, pin_set=chair.pin_is_set(), available=True)
    response.status_code = status
    return response


@bp.post("/logout")
def logout():
    """Sign out (the session cookie is refused from now on)."""
    auth.sign_out()
    return redirect(url_for("chair.login"), code=303)


@bp.get("/pair")
def pair():
    """A one-time code and its QR code, to sign a tablet in without typing the PIN there."""
    import segno

    code, ttl = _service().new_pairing_code()
    url = url_for("chair.login", code=code, _external=True)
    qr = segno.make(url, error="m")
    loopback = urllib.parse.urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")
    return _page("chair_pair.html", code=code, url=url, minutes=int(ttl // 60), loopback=loopback,
                 qr=qr.svg_data_uri(scale=8, border=4, dark="#000", light="#fff"))


# -- conferences ---------------------------------------------------------------------

@bp.get("")
def index():
    """Today's and other stored conferences, and the form for a new one."""
    chair = _service()
    conferences = chair.list_conferences()
    today = chair.today().isoformat()
    return _page("chair_home.html", conferences=conferences, today=today,
                 retention_days=chair.settings.retention_days, **_choices())


@bp.post("/conferences")
def create_conference():
    """Create a conference from the form, then open it."""
    chair = _service()
    try:
        conference = chair.create_conference(**_form(*api.CONFERENCE_FIELDS, required=api.CONFERENCE_REQUIRED))
    except ConferenceError as exc:
        return _failed(None, exc)
    flash("Conference created. Add the invitation list below.", "ok")
    return redirect(url_for("chair.conference", conference_id=conference.id) + "#invitees", code=303)


@bp.get("/conferences/<id:conference_id>")
def conference(conference_id: int):
    """The live page of one conference."""
    chair = _service()
    return _view_page("chair_conference.html", conference_id, today=chair.today().isoformat(), **_choices())


@bp.get("/conferences/<id:conference_id>/log")
def log(conference_id: int):
    """The whole event log, each entry with its "Correct" form (the live page shows the latest ones)."""
    return _view_page("chair_log.html", conference_id, whole_log=True)


def _view_page(template: str, conference_id: int, whole_log: bool = False, **context):
    """A whole page about one conference, from its view (404 for an unknown one); ``whole_log``: with every
    log entry (a view has the latest few)."""
    try:
        view = _service().view(conference_id)
        if whole_log:
            view["events"] = _service().log_page(conference_id, 1, MAX_PER_PAGE)["events"]
    except ConferenceError as exc:
        abort(api.error_status(exc), str(exc))
    return _no_store(_render_view(template, view, message=None, **_chrome(), **context))


@bp.get("/conferences/<id:conference_id>/live")
def live(conference_id: int):
    """Only the live part of the page (chair.js refreshes with it when the tablet wakes up)."""
    try:
        return _live(conference_id)
    except ConferenceError as exc:
        abort(api.error_status(exc), str(exc))


@bp.post("/conferences/<id:conference_id>/edit")
def edit_conference(conference_id: int):
    """Change the conference's details."""
    try:
        _service().update_conference(conference_id, **_form(*api.CONFERENCE_FIELDS))
    except ConferenceError as exc:
        return _failed(conference_id, exc, "details")
    flash("Details saved.", "ok")
    return redirect(url_for("chair.conference", conference_id=conference_id), code=303)


@bp.post("/conferences/<id:conference_id>/start")
def start_conference(conference_id: int):
    """Record that the conference has started (late arrivals are judged from the scheduled start)."""
    try:
        _service().record_event(conference_id, "started")
    except ConferenceError as exc:
        return _failed(conference_id, exc)
    return _done(conference_id, "Start recorded.")


@bp.post("/conferences/<id:conference_id>/end")
def end_conference(conference_id: int):
    """End the conference: the room's session ends; the record can still be corrected and exported."""
    try:
        _service().end_conference(conference_id)
    except ConferenceError as exc:
        return _failed(conference_id, exc)
    flash("Conference ended. Export the record for the minutes below.", "ok")
    return redirect(url_for("chair.conference", conference_id=conference_id) + "#record", code=303)


@bp.post("/conferences/<id:conference_id>/purge")
def purge_conference(conference_id: int):
    """Delete the conference's names and record now (the form's confirmation box must be ticked)."""
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm that the record should be deleted now.", "error")
        return redirect(url_for("chair.conference", conference_id=conference_id) + "#purge", code=303)
    try:
        _service().purge_conference(conference_id)
    except ConferenceError as exc:
        return _failed(conference_id, exc, "purge")
    flash(f"Conference {conference_id} deleted: only anonymous counts are kept.", "ok")
    return redirect(url_for("chair.index"), code=303)


# -- invitees ------------------------------------------------------------------------

@bp.post("/conferences/<id:conference_id>/invitees")
def add_invitee(conference_id: int):
    """Add one person to the invitation list."""
    try:
        _service().add_invitee(conference_id, **_form(*api.INVITEE_FIELDS, required=api.INVITEE_REQUIRED))
    except ConferenceError as exc:
        return _failed(conference_id, exc, "invitees")
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
    try:
        added = _service().import_csv(conference_id, _csv_text())
    except ConferenceError as exc:
        return _failed(conference_id, exc, "invitees")
    return _done(conference_id, f"{len(added)} invitee(s) imported.", "invitees")


@bp.post("/conferences/<id:conference_id>/invitees/copy-previous")
def copy_previous(conference_id: int):
    """Copy the previous conference's invitation list for the same case."""
    try:
        added = _service().copy_previous(conference_id)
    except ConferenceError as exc:
        return _failed(conference_id, exc, "invitees")
    return _done(conference_id, f"{len(added)} invitee(s) copied from the previous conference.", "invitees")


@bp.post("/conferences/<id:conference_id>/invitees/<id:invitee_id>/remove")
def remove_invitee(conference_id: int, invitee_id: int):
    """Take someone off the list (only before anything is recorded about them)."""
    try:
        _service().remove_invitee(conference_id, invitee_id)
    except ConferenceError as exc:
        return _failed(conference_id, exc, "invitees")
    return _done(conference_id, "Removed from the invitation list.", "invitees")


# -- live attendance -----------------------------------------------------------------

@bp.post("/conferences/<id:conference_id>/tap")
def tap(conference_id: int):
    """One tap of the attendance table: ``tap=<invitee id>:<action>`` (see ``ACTIONS``)."""
    raw = request.form.get("tap", "")
    invitee, _, action = raw.partition(":")
    if not invitee.isascii() or not invitee.isdigit() or action not in ACTIONS:
        abort(400, "unknown tap: reload the page")
    try:
        _service().record_action(conference_id, int(invitee), action)
    except ConferenceError as exc:
        return _failed(conference_id, exc)
    return _done(conference_id)


@bp.post("/conferences/<id:conference_id>/reports")
def report_received(conference_id: int):
    """A professional's report arrived (on the date given, today by default)."""
    try:
        _service().record_report(conference_id, _int("invitee_id"), request.form.get("received_on") or None)
    except ConferenceError as exc:
        return _failed(conference_id, exc, "reports")
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
    else:
        abort(400, "decision must be proceed or adjourn")
    try:
        _service().record_event(conference_id, kind, None, details)
    except ConferenceError as exc:
        return _failed(conference_id, exc, "quorum")
    return _done(conference_id, "Decision recorded.", "quorum")


@bp.post("/conferences/<id:conference_id>/corrections")
def correct(conference_id: int):
    """Void an event recorded in error, with the reason (the log keeps both)."""
    try:
        _service().correct_event(conference_id, _int("event_id"),
                                 request.form.get("reason") or "")
    except ConferenceError as exc:
        return _failed(conference_id, exc, "log")
    return _done(conference_id, "Correction recorded.")


# -- the record ----------------------------------------------------------------------

@bp.get("/conferences/<id:conference_id>/record")
def record(conference_id: int):
    """The attendance record as a printable page for the minutes."""
    chair = _service()
    try:
        rec = chair.record(conference_id)
    except ConferenceError as exc:
        abort(api.error_status(exc), str(exc))
    return _page("chair_record.html", record=rec)


@bp.get("/conferences/<id:conference_id>/record.csv")
def record_csv(conference_id: int):
    """The attendance record as CSV, to save with the minutes."""
    chair = _service()
    try:
        return api.csv_response(chair, conference_id)
    except ConferenceError as exc:
        abort(api.error_status(exc), str(exc))

"""The quality report for child protection managers (``/chair/quality``), behind the chair's PIN.

The page and its CSV (``/chair/quality.csv``) show one period's figures, chosen with
``?month=YYYY-MM``, ``?quarter=YYYY-Qn`` or ``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (the
current month by default), with the trend of the 12 months up to its end. Everything
comes from :class:`kiosk.quality.service.QualityService`: anonymous facts, per agency,
small counts shown as "fewer than 5". Charts are SVG drawn on the server: the page loads
no script at all and prints in black and white.

Sign-in is :mod:`web_ui.auth`'s guard: every path under ``/chair`` needs the chair's session.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from kiosk import __version__
from kiosk.conference.errors import StorageError
from kiosk.quality import figures, html as report_html, report as report_mod
from web_ui import auth, get_controller

# The report's content and style are shared with `kiosk quality --html` (kiosk.quality.html).
bp = Blueprint("quality", __name__, url_prefix="/chair", template_folder=str(report_html.TEMPLATES),
               static_folder=str(report_html.STATIC), static_url_path="/quality-static")

EXTENSION = "kiosk.quality"


def init_app(app, quality) -> None:
    """Register the report for ``quality`` (a QualityService, or None: then it answers 503)."""
    app.extensions[EXTENSION] = quality
    app.register_blueprint(bp)


def _service():
    quality = current_app.extensions.get(EXTENSION)
    if quality is None:
        abort(503, "The quality report is not available on this kiosk: ask IT to check its storage.")
    return quality


def _report() -> dict:
    quality = _service()
    try:
        period = figures.choose_period(request.args, quality.chair.today())
    except ValueError as exc:
        abort(400, f"{exc}.")
    try:
        return quality.report(period)
    except StorageError as exc:
        current_app.logger.error("Quality report unavailable: %s", exc)
        abort(503, "The quality figures cannot be read just now: ask IT to check the kiosk's storage.")


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"  # behind the PIN: never kept in a cache
    return response


@bp.get("/quality")
def page():
    """The report page for the chosen period (400 naming the problem for a malformed one)."""
    rep = _report()
    previous = figures.shift_month(rep["period"]["first"][:7], -1)
    following = figures.shift_month(rep["period"]["last"][:7], 1)
    html = render_template("quality.html", report=rep, room_name=get_controller().cfg.room.name,
                           version=__version__, signed_in=auth.signed_in(), args=request.args,
                           previous_month=previous, next_month=following,
                           csv_query=request.query_string.decode("ascii", "replace"))
    return _no_store(current_app.make_response(html))


@bp.get("/quality.csv")
def csv():
    """The same report as CSV (the per-agency cells say "fewer than 5" themselves)."""
    rep = _report()
    name = f"quality-{rep['period']['first']}-to-{rep['period']['last']}.csv"
    response = current_app.response_class(report_mod.to_csv(rep), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return _no_store(response)


"""The room display (shown full-screen on the room's TV) and the state API it reads.

``GET /api/state`` answers at once; ``GET /api/state?since=N`` long-polls: it waits
until the controller's revision passes ``N`` (or ``timeout`` seconds pass) and then
answers with the state, whose ``revision`` is the ``since`` to send next time.
"""

from __future__ import annotations

import math

from flask import Blueprint, Response, abort, current_app, jsonify, redirect, render_template, request, url_for

from kiosk import __version__
from web_ui import get_controller, longpoll

bp = Blueprint("display", __name__)


@bp.get("/")
def index():
    """The kiosk's home is the room display."""
    return redirect(url_for("display.display"))


@bp.get("/display")
def display():
    """The full-screen room display; its script fills it in from ``/api/state``."""
    controller = get_controller()
    response = current_app.make_response(render_template(
        "display.html", room_name=controller.cfg.room.name, version=__version__))
    # Always revalidate, so a kiosk reloading after an upgrade gets the new page.
    response.headers["Cache-Control"] = "no-cache"
    return response


def _since() -> int | None:
    raw = request.args.get("since")
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        abort(400, "since must be a revision number (a whole number, 0 or more)")
    return int(raw)


def _timeout() -> float:
    cfg = current_app.config
    raw = request.args.get("timeout")
    if raw is None:
        return float(cfg["LONG_POLL_DEFAULT_S"])
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        abort(400, "timeout must be a number of seconds, 0 or more")
    return min(value, float(cfg["LONG_POLL_MAX_S"]))


@bp.get("/api/state")
def state():
    """The room's public state as JSON; with ``since=N``, waits for a revision after N.

    ``timeout`` (seconds, default 25, at most 30) bounds the wait; after it the
    unchanged state is returned. A ``since`` ahead of the controller's revision comes
    from before a restart (the counter starts again at 0): the state is returned at
    once rather than making the client wait for a revision it may never see.
    At most ``LONG_POLL_PER_ADDRESS`` (4) long-polls per client address and ``LONG_POLL_TOTAL``
    (16) in all wait at once; beyond them the state is returned at once.
    Answers 400 for a ``since`` or ``timeout`` that is not a number.
    """
    controller = get_controller()
    since = _since()
    timeout = _timeout()
    if since is not None and since <= controller.version:
        longpoll.wait_for_revision(controller.wait_for_change, since, timeout)
    response = jsonify(controller.public_state())
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics():
    """Prometheus metrics: readiness, checks, state, countdown, MQTT, uptime. No personal data."""
    from kiosk import metrics as kiosk_metrics

    link = current_app.extensions.get("kiosk.mqtt")  # None when MQTT is off or could not start
    access = current_app.extensions.get("chair.access")
    watch = current_app.extensions.get("kiosk.clock_watch")
    counters = {"kiosk_pin_lockouts": access.lockout.lockouts if access is not None else None,
                "kiosk_clock_steps": watch.steps if watch is not None else None}
    return Response(kiosk_metrics.render(get_controller(), link.connected if link else None, counters),
                    content_type=kiosk_metrics.CONTENT_TYPE)

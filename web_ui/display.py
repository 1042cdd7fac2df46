"""The room display (shown full-screen on the room's TV) and the state API it reads.

``GET /api/state`` answers at once; ``GET /api/state?since=N`` long-polls: it waits
until the controller's revision passes ``N`` (or ``timeout`` seconds pass) and then
answers with the state, whose ``revision`` is the ``since`` to send next time.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, url_for

from kiosk import __version__
from web_ui import get_controller, longpoll
from web_ui.contract import RoomState, StateQuery
from web_ui.operation import declare, query

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


@bp.get("/api/state")
@declare("The room's public state for the room display (no personal data); ?since=N long-polls", answer=RoomState,
         described="The room's state: counts only, never names.", query=StateQuery, public=True, record=False)
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
    asked = query()
    if asked.since is not None and asked.since <= controller.version:
        longpoll.wait_for_revision(controller.wait_for_change, asked.since, longpoll.timeout(asked.timeout))
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

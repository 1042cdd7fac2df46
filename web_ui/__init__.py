"""The kiosk's web pages: the room display and, on simulated hardware, the simulator.

:func:`create_app` is handed the running :class:`kiosk.controller.RoomController`
and keeps it in ``app.extensions["kiosk"]`` (read it with :func:`get_controller`).
The pages only read :meth:`~kiosk.controller.RoomController.public_state`, which
carries no personal data (DOMAIN D15): the room display can be seen on camera by
everyone in the conference.

The chair's page (``/chair``) and its JSON API (``/api/...``) are behind the chair's
sign-in, with CSRF protection on every state-changing request (see :mod:`web_ui.auth`).

Every response carries a strict Content-Security-Policy (no inline script or style
anywhere) and the usual hardening headers. Errors under ``/api`` and ``/simulator``
are JSON ``{"error": "..."}``; elsewhere they are a small HTML page.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

#: Sent with every response. The display runs unattended for months on a TV in a room
#: where families sit: nothing may be framed, injected or loaded from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

#: Paths whose clients are scripts: they get JSON errors and are never cached.
JSON_PREFIXES = ("/api/", "/simulator")  # "/simulator" also covers the page itself

DEFAULTS = {
    "MAX_CONTENT_LENGTH": 64 * 1024,
    # Long-poll: how long GET /api/state?since=N waits by default, and at most.
    "LONG_POLL_DEFAULT_S": 25.0,
    "LONG_POLL_MAX_S": 30.0,
    # Long-polls waiting at once, per client address and in all (web_ui.longpoll.LongPolls): each holds a
    # worker thread of the 32, so the chair always has some left.
    "LONG_POLL_PER_ADDRESS": 4,
    "LONG_POLL_TOTAL": 16,
}


def get_controller():
    """The room controller the running app was created with."""
    return current_app.extensions["kiosk"]


def stop_long_polls(app: Flask) -> None:
    """Make every waiting long-poll answer now; call it before closing the web server.

    Otherwise each open display keeps a server thread busy for up to 30 s, and the
    server's shutdown waits for them.
    """
    app.extensions["kiosk_stopping"].set()


def wants_json(path: str) -> bool:
    """True for the API and simulator paths, which answer (and fail) in JSON."""
    return path == "/api" or path.startswith(JSON_PREFIXES)


def create_app(controller, test_config: dict | None = None, *, chair=None, access=None, quality=None,
               simulator: bool = False, trusted_hosts=()) -> Flask:
    """Build the Flask app serving ``controller``'s room.

    ``test_config`` overrides the defaults (see :data:`DEFAULTS`). The simulator
    blueprint is registered only when asked for (``simulator``: ``kiosk run --simulate`` or
    ``[web] simulator = true``; or ``SIMULATOR`` in ``test_config``), never because some
    device happens to be simulated: a real room never exposes device controls, there
    ``/simulator`` is a 404. ``trusted_hosts`` (``[web] trusted_hosts``): the Host headers
    answered; others get 400 (empty: any).
    ``chair`` is the :class:`kiosk.conference.service.ChairService` behind the chair's
    page and API (``/chair``, ``/api/...``); without one they answer 503. ``access`` is the
    :class:`kiosk.conference.access.ChairAccess` the chair signs in through (by default one for
    ``chair``'s configuration, announcing lockouts on the room's bus). ``quality`` is the
    :class:`kiosk.quality.service.QualityService` behind ``/chair/quality`` (503 without one).
    """
    from web_ui import auth

    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(auth.DEFAULTS)
    if chair is not None:
        app.config.update(auth.config_from(chair.settings))
    if test_config:
        app.config.update(test_config)
    # Keep the controller's order (camera, microphone, display...): the display lists checks in it.
    app.json.sort_keys = False
    app.extensions["kiosk"] = controller
    # Set by stop_long_polls(): waiting /api/state requests then answer at once.
    app.extensions["kiosk_stopping"] = threading.Event()

    from web_ui import display

    app.register_blueprint(display.bp)
    if simulator or app.config.get("SIMULATOR"):
        from web_ui import simulator as simulator_page

        app.register_blueprint(simulator_page.bp)

    from flask_wtf.csrf import CSRFError

    from web_ui import api, chair as chair_page, messages
    from web_ui.conference_http import IdConverter

    if chair is not None and access is None:
        from kiosk.conference.access import ChairAccess

        access = ChairAccess.from_config(chair.cfg, bus=controller.bus)
    auth.init_app(app, chair, access)  # sign-in, sessions, CSRF
    if chair is not None:
        chair_page.forget_purged(app, chair.bus)  # a purged conference's renderings go with it
        messages.init_app(app, chair.bus)  # and its messages waiting for a page (without JavaScript)
    app.url_map.converters["id"] = IdConverter
    app.register_blueprint(chair_page.bp)
    app.register_blueprint(api.bp)
    app.register_error_handler(CSRFError, _handle_csrf_error)

    from web_ui import quality as quality_page

    quality_page.init_app(app, quality)  # the managers' report, behind the same sign-in

    app.after_request(_add_headers)
    from web_ui import operation

    app.after_request(operation.check_answer)  # tests and debug: every API answer as its contract declares
    app.register_error_handler(HTTPException, _handle_http_error)
    if trusted_hosts:
        app.wsgi_app = TrustedHosts(app.wsgi_app, trusted_hosts)
    from kiosk.conference.errors import StorageError

    app.register_error_handler(StorageError, _storage_error)
    return app


class TrustedHosts:
    """WSGI middleware for ``[web] trusted_hosts``: a request whose Host header names another host gets 400
    before the app sees it, so no link the kiosk makes (the pairing QR code) can point elsewhere."""

    def __init__(self, app, hosts):
        self.app, self.hosts = app, list(hosts)

    def __call__(self, environ, start_response):
        from werkzeug.sansio.utils import host_is_trusted
        from werkzeug.wsgi import get_host

        # No Host header at all (HTTP/1.0 health checks): nothing to mislead a link with.
        if "HTTP_HOST" not in environ or host_is_trusted(get_host(environ), self.hosts):
            return self.app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if wants_json(path):
            body, kind = b'{"error": "this kiosk does not answer to that host name"}', "application/json"
        else:
            body, kind = b"400 Bad Request: this kiosk does not answer to that host name\n", "text/plain; charset=utf-8"
        start_response("400 Bad Request", [("Content-Type", kind), ("Content-Length", str(len(body))),
                                           ("Cache-Control", "no-store"), *SECURITY_HEADERS.items()])
        return [body]


def _storage_error(exc):
    """Storage trouble (a full disk, a damaged database) that a page did not handle itself: 503 with the
    storage error's own words (they never quote the record), never a 500."""
    from werkzeug.exceptions import ServiceUnavailable

    current_app.logger.warning("Conference record: %s", exc)
    return _handle_http_error(ServiceUnavailable(str(exc)))


def _add_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:  # over HTTPS (directly, or from the loopback TLS terminator): stay on HTTPS
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if wants_json(request.path) and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def _handle_csrf_error(exc):
    """A clearer message than Flask-WTF's, in JSON or as a page like every other error."""
    from werkzeug.exceptions import BadRequest

    reason = exc.description or "The CSRF token is missing."
    if request.path.startswith("/api"):
        response = jsonify(error=f"{reason} Send the csrf_token from POST /api/login in the X-CSRFToken header.")
        response.status_code = 400
        return response
    message = f"{reason} Reload the chair's page and try again (the form was old, or not sent from the page)."
    if request.headers.get("X-Chair-Fragment") == "live":  # chair.js reads JSON errors
        response = jsonify(error=message)
        response.status_code = 400
        return response
    return _handle_http_error(BadRequest(message))


def _handle_http_error(exc: HTTPException):
    """JSON for script clients, a small page for people; never a traceback."""
    code = exc.code or 500
    if isinstance(exc, InternalServerError):
        current_app.logger.error("Request %s %s failed", request.method, request.path,
                                 exc_info=exc.original_exception or exc)
    if wants_json(request.path):
        if code >= 500 and code != 503:
            message = exc.name.lower()  # an exception's text could say anything
        elif exc.description and exc.description != type(exc).description:
            message = exc.description  # a specific reason given with abort(code, "...")
        else:
            message = exc.name.lower()  # Werkzeug's stock text is long and generic
        response = jsonify(error=message)
        response.status_code = code
    else:
        message = exc.description if code < 500 or code == 503 else "Something went wrong. Please try again."
        response = current_app.response_class(
            render_template("error.html", code=code, name=exc.name, message=message),
            status=code, mimetype="text/html")
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response

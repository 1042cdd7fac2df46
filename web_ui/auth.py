"""Who may use the chair's page and its API, and protection against forged requests.

One ``before_request`` guard (:func:`guard`) decides for every request, deny by default:

- **Sign-in.** Everything under ``/chair`` and ``/api/`` needs the chair's session,
  except the sign-in pages and the endpoints in :data:`PUBLIC_ENDPOINTS`, and the views
  marked with :func:`public` (API views say ``public=True`` in their contract, :mod:`web_ui.operation`:
  ``/api/state`` for the room display, ``/api/openapi.json``, ``/api/login``). A route added
  later is private until someone says otherwise. An API call without a session gets 401
  and ``{"error": ...}``, never data; a page redirects to the sign-in form.
- **Sessions** are Flask's signed cookie (``HttpOnly``, ``SameSite=Strict``, and
  ``Secure`` when the request came over HTTPS or ``secure_cookies`` is set). A
  session ends after ``[conference] session_idle_min`` (30 min) without a request, after
  ``session_max_hours`` (12 h) in all, on sign-out (the session id is refused from
  then on, also after a restart: :data:`REVOKED_FILENAME`), and when a new PIN is set
  (sessions carry a fingerprint of the PIN hash). The key that signs them is random, kept
  in the state directory (``web-secret-key``, 0600), so sessions survive a restart.
  Their times come from :class:`kiosk.clock_watch.SteadyClock`, and the signature's own
  timestamp is not checked (Flask refuses a cookie that looks signed in the future), so a
  step of the wall clock neither signs the chair out nor keeps a session alive.
- **CSRF.** Every POST, PUT, PATCH and DELETE must carry the session's CSRF token
  (Flask-WTF), in the form field ``csrf_token`` or the ``X-CSRFToken`` header, and must
  not come from another site (``Origin`` / ``Sec-Fetch-Site``). Exempt by name only:
  ``POST /api/login`` (a client has no token before it signs in; it accepts only
  ``application/json``, which a form on another site cannot send) and the simulator's
  blueprint, which has its own JSON-only, same-origin guard (``web_ui.simulator``).
  Every other state-changing route, including ones added later, is checked.

HTTPS: waitress speaks plain HTTP. Put a TLS terminator (Caddy, nginx) on the same
machine in front of it; requests from a loopback peer may say ``X-Forwarded-Proto:
https`` and ``X-Forwarded-For`` (:class:`LoopbackProxyFix`), which makes cookies
``Secure`` and the lockout per real client. See docs/chair.md (HTTPS).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import abort, current_app, g, has_request_context, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect, generate_csrf
from itsdangerous import BadSignature

from kiosk.clock_watch import SteadyClock
from web_ui import messages

log = logging.getLogger("web_ui.auth")

SECRET_FILENAME = "web-secret-key"
#: Signed-out session ids (one ``<id> <until>`` a line), so that a sign-out survives a restart.
REVOKED_FILENAME = "signed-out-sessions"

#: Defaults for the chair's sign-in; ``create_app``'s ``test_config`` may override them.
DEFAULTS = {
    "SESSION_COOKIE_NAME": "kiosk_chair",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    # False: Secure only on requests that came over HTTPS. True: always (set it when only HTTPS is served).
    "SESSION_COOKIE_SECURE": False,
    # The guard below checks every state-changing request itself (deny by default).
    "WTF_CSRF_CHECK_DEFAULT": False,
    # The token lives as long as the session, which ends after inactivity anyway.
    "WTF_CSRF_TIME_LIMIT": None,
    # Flask-WTF's HTTPS check wants a Referer, which Referrer-Policy: no-referrer never sends; the guard
    # checks Origin and Sec-Fetch-Site instead.
    "WTF_CSRF_SSL_STRICT": False,
    "CHAIR_IDLE_TIMEOUT_S": 30 * 60,
    "CHAIR_SESSION_MAX_S": 12 * 3600,
    #: The sessions' clock (seconds): steady, not stepped with the wall clock; tests inject a fake one.
    "CHAIR_CLOCK": SteadyClock(),
}

#: Endpoints anyone may call (everything else under /api/ and /chair needs the chair's session).
PUBLIC_ENDPOINTS = {"chair.login", "chair.login_post", "static"}
#: Endpoints that need no CSRF token, each with its own defence (see the module docstring).
CSRF_EXEMPT_ENDPOINTS = {"api.login"}
CSRF_EXEMPT_BLUEPRINTS = {"simulator"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

csrf = CSRFProtect()


def get_service():
    """The :class:`~kiosk.conference.service.ChairService` (None when the conference record is unavailable)."""
    return current_app.extensions.get("chair")


def get_access():
    """The :class:`~kiosk.conference.access.ChairAccess` (None when the conference record is unavailable)."""
    return current_app.extensions.get("chair.access")


def load_secret_key(state_dir) -> str:
    """The session signing key kept in ``state_dir`` (created 0600 on first use)."""
    path = Path(state_dir) / SECRET_FILENAME
    try:
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 64:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
            return text
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    key = secrets.token_hex(32)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILENAME}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return key


class ChairSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set whenever the request came over HTTPS.

    The signing serializer is built once per key rather than on every request (Flask's
    default), which is a measurable share of a small request's time.
    """

    def __init__(self):
        self._serializers: dict[tuple, object] = {}

    def get_signing_serializer(self, app):
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            self._serializers = {keys: serializer}  # one key in use: forget a replaced one
        return serializer

    def open_session(self, app, request):
        """Flask's, without the signature's age check: the guard measures the session's age with the steady
        clock, while the signature's timestamp is the wall clock's and looks "in the future" after a step back."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        try:
            return self.session_class(serializer.loads(value))
        except BadSignature:
            return self.session_class()

    def get_cookie_secure(self, app) -> bool:
        if app.config["SESSION_COOKIE_SECURE"]:
            return True
        return has_request_context() and request.is_secure


class LoopbackProxyFix:
    """Trust ``X-Forwarded-Proto`` and ``X-Forwarded-For`` from a TLS terminator on this machine only.

    A request from a loopback address with ``X-Forwarded-Proto: https`` is treated as
    HTTPS (secure cookies, ``https://`` links); its last ``X-Forwarded-For`` address
    becomes the client's (for the PIN lockout). From any other peer the headers are
    ignored, so nobody on the network can claim them.
    """

    LOOPBACK = ("127.0.0.1", "::1")

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("REMOTE_ADDR") in self.LOOPBACK:
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[-1].strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
            forwarded = environ.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
            if forwarded:
                try:
                    environ["REMOTE_ADDR"] = str(ipaddress.ip_address(forwarded))
                except ValueError:
                    pass
        return self.app(environ, start_response)


class _Revoked:
    """Session ids signed out before they expired; forgotten once they would have expired anyway.

    Kept in ``path`` too (when given), so that a sign-out survives a restart: one line per
    sign-out, appended; rewritten without the expired ones when the kiosk starts.
    """

    def __init__(self, path: Path | None = None, now: float | None = None):
        self._ids: dict[str, float] = {}
        self._lock = threading.Lock()
        self.path = path
        if path is not None:
            self._load(now if now is not None else time.time())

    def _load(self, now: float) -> None:
        try:
            lines = self.path.read_text(encoding="ascii").splitlines()
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            log.error("Cannot read the signed-out sessions in %s (%s)", self.path, exc)
            return
        for line in lines:
            sid, _, until = line.partition(" ")
            try:
                if float(until) >= now:
                    self._ids[sid] = float(until)
            except ValueError:
                continue
        if len(self._ids) < len(lines):
            self._write(dict(self._ids))

    def _write(self, ids: dict[str, float]) -> None:
        tmp = self.path.with_name(f".{REVOKED_FILENAME}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write("".join(f"{sid} {until:.0f}\n" for sid, until in ids.items()))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("Cannot keep the signed-out sessions in %s (%s)", self.path, exc.strerror or exc)
            tmp.unlink(missing_ok=True)

    def add(self, sid: str, until: float) -> None:
        with self._lock:
            self._ids[sid] = until
        if self.path is not None:  # outside the lock: file I/O
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, f"{sid} {until:.0f}\n".encode("ascii"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                log.error("Cannot keep a sign-out in %s (%s): it holds until a restart", self.path,
                          exc.strerror or exc)

    def __contains__(self, sid) -> bool:
        with self._lock:
            return sid in self._ids

    def prune(self, now: float) -> None:
        with self._lock:
            for sid in [s for s, until in self._ids.items() if until < now]:
                del self._ids[sid]


def config_from(settings) -> dict:
    """The app settings for sessions from the ``[conference]`` section of the kiosk's config."""
    return {"CHAIR_IDLE_TIMEOUT_S": settings.session_idle_min * 60,
            "CHAIR_SESSION_MAX_S": settings.session_max_hours * 3600,
            "SESSION_COOKIE_SECURE": settings.secure_cookies}


def init_app(app, service, access=None) -> None:
    """Sign-in, sessions and CSRF for ``app``; ``service`` is the ChairService (or None), ``access`` the
    :class:`~kiosk.conference.access.ChairAccess` (PIN, pairing codes, lockout) it is reached through."""
    app.extensions["chair"] = service
    app.extensions["chair.access"] = access if service is not None else None
    state_dir = access.state_dir if service is not None else None
    revoked_path = Path(state_dir) / REVOKED_FILENAME if state_dir is not None else None
    app.extensions["chair.revoked"] = _Revoked(revoked_path, _clock_of(app))
    if not app.config.get("SECRET_KEY"):
        key = None
        if state_dir is not None:
            try:
                key = load_secret_key(state_dir)
            except OSError as exc:
                log.error("The session key cannot be kept in %s (%s): sessions end when the kiosk restarts",
                          state_dir, exc.strerror or exc)
        app.config["SECRET_KEY"] = key or secrets.token_hex(32)
    app.session_interface = ChairSessionInterface()
    csrf.init_app(app)
    app.before_request(guard)
    app.wsgi_app = LoopbackProxyFix(app.wsgi_app)


def _clock() -> float:
    return float(current_app.config["CHAIR_CLOCK"]())


def _clock_of(app) -> float:
    return float(app.config["CHAIR_CLOCK"]())


def client_key() -> str:
    """The client's address, the PIN lockout's key."""
    return request.remote_addr or "unknown"


def signed_in() -> bool:
    """True when this request carries a live chair session (checked once per request)."""
    if "chair_signed_in" not in g:
        g.chair_signed_in = _check_session()
    return g.chair_signed_in


def _check_session() -> bool:
    g.chair_expired = False
    if not session.get("chair"):
        return False
    service = get_access()
    now = _clock()
    cfg = current_app.config
    revoked = current_app.extensions["chair.revoked"]
    try:
        epoch = service.pin_epoch() if service is not None else None
    except OSError:
        epoch = None
    try:
        seen_at, auth_at = float(session.get("seen_at", 0)), float(session.get("auth_at", 0))
    except (TypeError, ValueError):
        seen_at = auth_at = 0.0
    if (service is None or epoch is None or session.get("epoch") != epoch or session.get("sid") in revoked
            or now - seen_at > cfg["CHAIR_IDLE_TIMEOUT_S"] or now - auth_at > cfg["CHAIR_SESSION_MAX_S"]):
        messages.forget_session(current_app, session.get("sid"))
        session.clear()
        g.chair_expired = True
        return False
    if auth_at > now:  # issued before a restart on a wall clock that was ahead: count from now on
        session["auth_at"] = now
    if abs(now - seen_at) >= 10:  # refresh the idle timer, not the cookie on every request
        session["seen_at"] = now
    return True


def sign_in() -> str:
    """Start a new chair session (a fresh cookie: no session fixation); returns its CSRF token."""
    access = get_access()
    now = _clock()
    messages.forget_session(current_app, session.get("sid"))
    session.clear()
    session["chair"] = True
    session["sid"] = secrets.token_urlsafe(16)
    session["epoch"] = access.pin_epoch()
    session["auth_at"] = session["seen_at"] = now
    g.chair_signed_in = True
    g.pop("csrf_token", None)
    return generate_csrf()


def sign_out() -> None:
    """End this session now; its cookie is refused from now on even if someone kept a copy."""
    sid = session.get("sid")
    if sid:
        now = _clock()
        revoked = current_app.extensions["chair.revoked"]
        revoked.prune(now)
        revoked.add(sid, float(session.get("auth_at", now)) + current_app.config["CHAIR_SESSION_MAX_S"])
    messages.forget_session(current_app, sid)
    session.clear()
    g.chair_signed_in = False


def idle_timeout_s() -> float:
    return float(current_app.config["CHAIR_IDLE_TIMEOUT_S"])


def public(view):
    """Mark a view as open to anyone although its path is under ``/api/`` (use sparingly: names never)."""
    view.chair_public = True
    return view


def _needs_session(endpoint: str) -> bool:
    if endpoint in PUBLIC_ENDPOINTS or getattr(current_app.view_functions.get(endpoint), "chair_public", False):
        return False
    return request.path.startswith(("/api/", "/chair")) or request.path == "/api"


def _check_origin() -> None:
    """Refuse state-changing requests that a browser says come from another site.

    With ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` on form posts, so
    "null" proves nothing either way: ``Sec-Fetch-Site`` and the CSRF token decide then.
    """
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        abort(403, "cross-site requests are not accepted")
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        own = urlsplit(request.host_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (own.scheme, own.netloc):
            abort(403, "cross-site requests are not accepted")


def csrf_exempt() -> bool:
    """True for the few state-changing endpoints with a defence of their own (see the module docstring)."""
    return request.endpoint in CSRF_EXEMPT_ENDPOINTS or request.blueprint in CSRF_EXEMPT_BLUEPRINTS


def guard():
    """Runs before every request: the session first (401 / sign-in page), then CSRF."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 or 405 follows
    if _needs_session(endpoint) and not signed_in():
        expired = g.get("chair_expired")
        message = ("Your session has ended: sign in again" if expired
                   else "Sign in with the chair's PIN first")
        if request.path.startswith("/api"):
            abort(401, message)
        flag = {"expired": 1} if expired else {}
        if request.method in ("GET", "HEAD") and not request.headers.get("X-Chair-Fragment"):
            return redirect(url_for("chair.login", next=request.full_path.rstrip("?"), **flag))
        if request.headers.get("X-Chair-Fragment"):
            abort(401, message)
        return redirect(url_for("chair.login", **flag), code=303)
    if request.method in STATE_CHANGING and not csrf_exempt():
        _check_origin()
        # A multipart part without a name is a form field named None, which Flask-WTF's token lookup
        # cannot handle (a 500 for anyone, signed in or not): refuse the form first.
        if any(not isinstance(key, str) for key in request.form.keys()):
            abort(400, "the form has a field without a name")
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()
    return None

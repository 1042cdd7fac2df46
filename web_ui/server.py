"""Serving the app: the front (:mod:`web_ui.front`) on the network, waitress behind it, and stopping both cleanly."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from web_ui import SECURITY_HEADERS, stop_long_polls
from web_ui.admission import DEFAULT_SLOTS, Admission
from web_ui.front import Front, FrontLimits, PeerFromFront


class _HardenedErrorTask(ErrorTask):
    """waitress's own answer to a request too malformed to reach the app (400, 431...), with the app's
    hardening headers, so that no answer of the kiosk goes without them."""

    def execute(self):
        self.response_headers.extend(SECURITY_HEADERS.items())
        super().execute()


class _Channel(HTTPChannel):
    error_task_class = _HardenedErrorTask


class WebServer:
    """The Flask ``app`` under waitress, behind the front. ``port`` 0 picks a free port (see :attr:`port`).

    The front listens on ``host``:``port`` and checks every request head (deadlines, caps per
    client address, body size: ``limits``); waitress listens on a unix socket in a private
    directory that only the front uses. ``threads`` workers take requests; at most ``slots``
    of them run the app at once (:class:`web_ui.admission.Admission`), the rest wait their
    turn in arrival order.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, threads: int = 32,
                 slots: int = DEFAULT_SLOTS, limits: FrontLimits = FrontLimits()):
        from waitress import create_server

        self.app = app
        self._closing = threading.Lock()
        self._closed = False
        self._map: dict = {}
        self._dir = tempfile.mkdtemp(prefix="kiosk-web-")  # 0700: only this user reaches waitress
        upstream = os.path.join(self._dir, "app.sock")
        # Long-polling displays each hold a worker thread while they wait, so allow plenty.
        # clear_untrusted_proxy_headers=False: waitress would otherwise delete X-Forwarded-Proto/-For from every
        # request, so behind the TLS terminator of docs/chair.md cookies would never be Secure and every client
        # would share the proxy's PIN lockout. The app trusts them from a loopback peer only
        # (web_ui.auth.LoopbackProxyFix) and ignores them from anyone else.
        # inbuf_overflow above the front's body cap: a body is never spooled to a temporary file. The front judges
        # every body's size (a chunked one by its chunks); waitress's own limit counts a chunked body's framing
        # too, so it sits above all the front ever passes on, and waitress never refuses first (its refusal
        # raced the front's copying of the body and could cut the answer).
        self.server = create_server(PeerFromFront(Admission(app, slots)), unix_socket=upstream,
                                    unix_socket_perms="600", threads=threads, map=self._map, ident="kiosk",
                                    clear_untrusted_proxy_headers=False,
                                    max_request_body_size=limits.max_chunked_raw_bytes + 64 * 1024,
                                    inbuf_overflow=2 * limits.max_body_bytes, connection_limit=limits.total + 16)
        self.server.channel_class = _Channel
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)
        try:
            self.front = Front(host, port, upstream, limits)
        except OSError:
            self.server.close()
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.port = self.front.port

    def start(self) -> "WebServer":
        self.thread.start()
        self.front.start()
        return self

    def close(self) -> None:
        """Answer waiting long-polls, close every socket from the server's own loop, stop the workers.

        Safe to call twice (a test's teardown and the kiosk's own stop): the second call does nothing.
        """
        from waitress import wasyncore

        with self._closing:
            if self._closed:
                return
            self._closed = True
        stop_long_polls(self.app)
        self.front.close()
        if self.thread.is_alive():
            try:
                self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self._map, ignore_all=True))
            except OSError:  # its trigger is closed already: the loop is ending by itself
                pass
            self.thread.join(timeout=5)
        if not self.thread.is_alive():
            wasyncore.close_all(self._map, ignore_all=True)  # whatever the loop left, or all of it if never started
        self.server.task_dispatcher.shutdown(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

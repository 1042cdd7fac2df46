"""Serving the app (web_ui/server.py): starting and stopping the front and waitress behind it."""

from __future__ import annotations

import threading
import urllib.request

from web_ui.server import WebServer


def test_web_server_close_twice_at_once_is_safe(cold_app):
    """A test's teardown and the kiosk's own stop may both close the server: the second does nothing, even
    while the first is still closing (its trigger, closed by the first, must not be pulled again)."""
    for _ in range(5):
        server = WebServer(cold_app, port=0, threads=2).start()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/state", timeout=10) as answer:
            assert answer.status == 200
        errors = []

        def close():
            try:
                server.close()
            except Exception as exc:  # noqa: BLE001 - the test reports any
                errors.append(exc)

        closers = [threading.Thread(target=close) for _ in range(3)]
        for t in closers:
            t.start()
        for t in closers:
            t.join(10)
        server.close()  # and once more, long after
        assert errors == [] and not server.thread.is_alive()


def test_web_server_close_without_start(cold_app):
    server = WebServer(cold_app, port=0, threads=2)
    server.close()
    server.close()
    assert not server.thread.is_alive()

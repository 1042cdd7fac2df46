"""A local calendar server for the calendar tests: http.server in a thread on 127.0.0.1.

``CalendarServer(body)`` serves ``body`` at ``/room.ics`` with an ETag and Last-Modified and
answers 304 to a matching ``If-None-Match``; ``requests`` records each request's conditional
headers. ``tls=(certfile, keyfile)`` serves HTTPS. ``close()`` stops it (the port then refuses).
"""

from __future__ import annotations

import hashlib
import http.server
import ssl
import subprocess
import threading
from email.utils import formatdate


class CalendarServer:
    """Serves one calendar; change it with :meth:`set_body`."""

    def __init__(self, body: bytes, *, tls: tuple[str, str] | None = None, etag: bool = True):
        self.requests: list[dict] = []
        self.with_etag = etag
        self.set_body(body)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                owner.requests.append({"path": self.path, "if_none_match": self.headers.get("If-None-Match"),
                                       "if_modified_since": self.headers.get("If-Modified-Since")})
                if self.path != "/room.ics":
                    self.send_error(404)
                    return
                if owner.with_etag and self.headers.get("If-None-Match") == owner.etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar")
                self.send_header("Content-Length", str(len(owner.body)))
                if owner.with_etag:
                    self.send_header("ETag", owner.etag)
                self.send_header("Last-Modified", owner.last_modified)
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/room.ics"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def set_body(self, body: bytes) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        self.last_modified = formatdate(usegmt=True)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def self_signed(directory) -> tuple[str, str]:
    """A certificate and key for 127.0.0.1 made with openssl; returns (certfile, keyfile)."""
    cert, key = str(directory / "cert.pem"), str(directory / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key

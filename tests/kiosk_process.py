"""A real ``kiosk run --simulate`` process (``simulate=False``: without the option) for the proof tests, and a small HTTP client for it.

``KioskProcess(workdir)`` writes a config (loopback web server on a free port, checks on
demand, MQTT off unless a broker is given, the state directory in ``workdir/state`` or
the one given), sets the chair's PIN with ``kiosk set-pin --stdin`` and starts ``kiosk
run`` with its stderr in a log file (read it with :meth:`KioskProcess.log`). ``kill()``
is ``kill -9``; ``start()`` again restarts it on the same state directory and port.

:class:`Http` is one keep-alive connection that keeps the chair's session cookie and CSRF
token: ``login()``, then ``json()`` / ``form()`` / ``get()``. A connection error is an
``OSError`` (as from ``http.client``).

Test modules import what they use (``from kiosk_process import KioskProcess, Http``).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = "482915"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    """One HTTP answer, read in full."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    elapsed_s: float = 0.0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def all_headers(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


class Http:
    """A keep-alive HTTP client for one kiosk, with the chair's cookie and CSRF token once signed in.

    ``source`` binds the client to another loopback address (``127.0.0.2``...), so that the
    kiosk sees another device (its PIN lockout is per client address).
    """

    def __init__(self, port: int, *, source: str | None = None, timeout: float = 30.0):
        self.port, self.source, self.timeout = port, source, timeout
        self.cookie: str | None = None
        self.token: str | None = None
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout,
                                                    source_address=(self.source, 0) if self.source else None)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                *, auth: bool = True) -> Reply:
        """Send one request (the session cookie and, on writes, the CSRF token if ``auth``); read the answer."""
        headers = dict(headers or {})
        if auth and self.cookie:
            headers.setdefault("Cookie", self.cookie)
        if auth and self.token and method not in ("GET", "HEAD"):
            headers.setdefault("X-CSRFToken", self.token)
        conn = self._connection()
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()
            raise
        reply = Reply(response.status, response.headers, data, time.perf_counter() - started)
        if response.will_close:
            self.close()
        for cookie in reply.all_headers("Set-Cookie"):
            name_value = cookie.split(";", 1)[0]
            if name_value.startswith("kiosk_chair="):
                self.cookie = name_value if name_value != "kiosk_chair=" else None
        return reply

    def get(self, path: str, **kwargs) -> Reply:
        return self.request("GET", path, **kwargs)

    def json(self, method: str, path: str, payload=None, headers: dict | None = None, **kwargs) -> Reply:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
        return self.request(method, path, body, headers, **kwargs)

    def form(self, path: str, fields: dict, headers: dict | None = None, *, page_token: bool = True) -> Reply:
        """POST an HTML form (with the page's CSRF token unless ``page_token`` is false)."""
        fields = dict(fields)
        if page_token and "csrf_token" not in fields:
            fields["csrf_token"] = self.page_token()
        body = urllib.parse.urlencode(fields).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", path, body, headers, auth=True)

    def page_token(self) -> str:
        """The CSRF token the chair's pages carry for this session."""
        reply = self.get("/chair/login")
        if reply.status in (302, 303):
            reply = self.get("/chair")
        match = re.search(r'name="csrf-token" content="([^"]+)"', reply.text)
        assert match, reply.text[:500]
        return match.group(1)

    def login(self, pin: str = PIN) -> Reply:
        """Sign in through the API (keeps the cookie and the CSRF token); returns the answer."""
        reply = self.json("POST", "/api/login", {"pin": pin}, auth=False)
        if reply.status == 200:
            self.token = reply.json()["csrf_token"]
        return reply


class KioskProcess:
    """``kiosk run --simulate`` in its own process, with a config and state directory under ``workdir``."""

    def __init__(self, workdir: Path, *, state_dir: Path | None = None, port: int | None = None,
                 broker=None, log_level: str = "INFO", room_id: str = "suite-1", pin: str | None = PIN,
                 extra_toml: str = "", env: dict | None = None, simulate: bool = True, web_toml: str = ""):
        self.workdir = Path(workdir)
        self.extra_env = dict(env or {})
        self.simulate = simulate
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_dir = Path(state_dir) if state_dir else self.workdir / "state"
        self.port = port or free_port()
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self._clients: list[Http] = []
        self.config = self.workdir / "kiosk.toml"
        mqtt = (f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nreconnect_min_s = 0.1\n'
                f'reconnect_max_s = 1.0\n' if broker is not None else "[mqtt]\nenabled = false\n")
        self.config.write_text(
            f'[room]\nid = "{room_id}"\nname = "Hybrid Suite Proof"\n'
            f'[web]\nhost = "{HOST}"\nport = {self.port}\n{web_toml}'
            f'[checks]\ninterval_s = 0\n'
            f'[microphone]\ncapture_s = 0.2\n'
            f'[storage]\nstate_dir = "{self.state_dir}"\n'
            f'{mqtt}{extra_toml}')
        if pin is not None:
            self.set_pin(pin)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def database(self) -> Path:
        from kiosk.conference.store import DB_FILENAME

        return self.state_dir / DB_FILENAME

    def _env(self) -> dict:
        return dict(os.environ, GPIOZERO_PIN_FACTORY="mock", PYTHONDONTWRITEBYTECODE="1", **self.extra_env)

    def set_pin(self, pin: str) -> None:
        subprocess.run([sys.executable, "-m", "kiosk", "set-pin", "--stdin", "--config", str(self.config)],
                       input=pin + "\n", text=True, check=True, capture_output=True, cwd=ROOT, env=self._env())

    def log_path(self, run: int | None = None) -> Path:
        return self.workdir / f"kiosk-{self.runs if run is None else run}.log"

    def log(self, run: int | None = None) -> str:
        """The stderr of the current (or the given) run."""
        path = self.log_path(run)
        return path.read_text(errors="replace") if path.exists() else ""

    def all_logs(self) -> bytes:
        return b"".join(self.log_path(n).read_bytes() for n in range(1, self.runs + 1) if self.log_path(n).exists())

    def start(self, timeout: float = 30.0) -> "KioskProcess":
        """Start ``kiosk run`` and wait until ``/api/state`` answers."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        with open(self.log_path(), "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kiosk", "run", *(["--simulate"] if self.simulate else []),
                 "--config", str(self.config), "--log-level", self.log_level],
                cwd=ROOT, env=self._env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kiosk run exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as s:
                    s.sendall(b"GET /api/state HTTP/1.0\r\n\r\n")
                    if s.recv(12).startswith(b"HTTP/1.0 200"):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"kiosk run did not answer within {timeout} s:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """``kill -9``: no clean shutdown, no flushing, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.close_clients()

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (then SIGKILL if it hangs); returns the exit code."""
        self.close_clients()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def http(self, **kwargs) -> Http:
        """A new client (closed with the kiosk's :meth:`close_clients`, :meth:`stop` and :meth:`kill`)."""
        client = Http(self.port, **kwargs)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()

    def __enter__(self) -> "KioskProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def damage_database(path: Path) -> None:
    """Overwrite every page after the first with noise (the schema page stays readable, so the file opens)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big") or 65536
    for start in range(page, len(data), page):
        data[start:start + page] = b"\xa5" * page
    path.write_bytes(bytes(data))


def integrity_check(database: Path) -> str:
    """``PRAGMA integrity_check`` on the database file (another connection; the kiosk may be running)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "\n".join(str(r[0]) for r in rows)


#: An invitation list for the proof tests: quorate once social care and two other agencies with direct
#: contact are in.
CSV = ("name,role,agency,direct_contact,expected_mode,email\n"
       "Sam Social,social worker,,,in person,\n"
       "Pat Police,police officer,,yes,virtual,\n"
       "Hana Visitor,health visitor,,yes,virtual,\n"
       "Ella School,school,,yes,virtual,\n"
       "Mary Parent,parent,,,in person,\n")


def today() -> str:
    """Today in the kiosk's default time zone (Europe/London), as the kiosk sees it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo("Europe/London")).date().isoformat()


def create_conference(client: Http, case_ref: str = "CP-2026-0142", start_time: str = "23:59",
                      csv: str | None = CSV) -> tuple[int, list[dict]]:
    """A conference today through the API, with the invitation list; returns (id, invitees)."""
    reply = client.json("POST", "/api/conferences", {"type": "initial", "date": today(), "start_time": start_time,
                                                     "case_ref": case_ref})
    assert reply.status == 201, reply.text
    conference_id = reply.json()["conference"]["id"]
    invitees = []
    if csv:
        reply = client.json("POST", f"/api/conferences/{conference_id}/invitees/csv", {"csv": csv})
        assert reply.status == 201, reply.text
        invitees = reply.json()["added"]
    return conference_id, invitees

"""A real mosquitto for the MQTT tests, on a free loopback port.

``Broker(workdir)`` writes a config (``listener PORT 127.0.0.1``, ``allow_anonymous
true``, ``max_queued_messages 0`` so bursts of QoS 1 messages are not dropped, no
persistence so a restart forgets retained messages), starts ``mosquitto -c CONF`` and
waits until the port accepts connections. ``stop()`` and ``start()`` again reuse the
same port, to test reconnection. ``make_pki`` makes a CA, a server certificate (and
optionally an expired one and a client certificate) with the ``openssl`` command;
``Broker(..., tls=pki, users={...}, acl="...")`` is the TLS + password + ACL variant.

The ``broker`` fixture is registered for every test module by ``pytest_plugins`` in ``conftest.py``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

HOST = "127.0.0.1"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Pki:
    """Certificate files made by :func:`make_pki`."""

    ca: Path
    server_cert: Path
    server_key: Path
    expired_cert: Path | None = None
    other_ca: Path | None = None
    wrong_name_cert: Path | None = None


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path, expired: bool = False, other_ca: bool = False, wrong_name: bool = False) -> Pki:
    """A CA and a server certificate for ``localhost`` / ``127.0.0.1`` (EC keys: fast to make).

    Optionally also: the same certificate already expired, a CA that signed nothing here, and a
    certificate (same key) for another host name.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=Kiosk Test CA",
             cwd=directory)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sign = ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-extfile", "san.ext"]
    _openssl(*sign, "-out", "server.crt", "-days", "2", cwd=directory)
    pki = Pki(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    if expired:
        # notAfter a day before notBefore: expired from the start.
        _openssl(*sign, "-out", "expired.crt", "-days", "-1", cwd=directory)
        pki.expired_cert = directory / "expired.crt"
    if wrong_name:
        (directory / "other-name.ext").write_text("subjectAltName=DNS:broker.example.invalid\n")
        _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-extfile", "other-name.ext", "-out", "wrong-name.crt", "-days", "2", cwd=directory)
        pki.wrong_name_cert = directory / "wrong-name.crt"
    if other_ca:
        _openssl("req", "-x509", *ec, "-keyout", "other.key", "-out", "other-ca.crt", "-days", "2",
                 "-subj", "/CN=Some Other CA", cwd=directory)
        pki.other_ca = directory / "other-ca.crt"
    for path in directory.iterdir():
        path.chmod(0o644)  # mosquitto started as root drops to user mosquitto unless told otherwise
    return pki


class Broker:
    """One mosquitto process with its config in ``workdir``."""

    def __init__(self, workdir: Path, *, port: int | None = None, tls: Pki | None = None,
                 server_cert: Path | None = None, users: dict[str, str] | None = None, acl: str | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = port or free_port()
        self.tls, self.users, self.acl = tls, users, acl
        self.server_cert = server_cert or (tls.server_cert if tls else None)
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.proc: subprocess.Popen | None = None
        self._write_conf()

    def _write_conf(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "per_listener_settings false",
            "max_queued_messages 0",
            "persistence false",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # keep root: no privilege drop, so tmp files stay readable
        if self.tls:
            lines += [f"cafile {self.tls.ca}", f"certfile {self.server_cert}", f"keyfile {self.tls.server_key}",
                      "require_certificate false"]
        if self.users is not None:
            passwd = self.workdir / "passwd"
            passwd.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True,
                               capture_output=True)
            passwd.chmod(0o644)
            lines += [f"password_file {passwd}", "allow_anonymous false"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            acl = self.workdir / "acl"
            acl.write_text(self.acl)
            acl.chmod(0o644)
            lines.append(f"acl_file {acl}")
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 5.0) -> "Broker":
        """Start mosquitto and wait until the port accepts connections."""
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}\n{self.read_log()}")
            if port_open(self.port):
                return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"mosquitto did not open port {self.port} within {timeout} s\n{self.read_log()}")

    def stop(self) -> None:
        """Stop mosquitto (clients see the connection drop)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> "Broker":
        self.stop()
        return self.start()

    def read_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Subscriber:
    """A paho client that records every message it receives (topic, payload bytes, retain, arrival time)."""

    def __init__(self, broker: Broker, *filters: str, username: str | None = None, password: str | None = None,
                 tls_ca: Path | None = None, client_id: str = ""):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool, float]] = []
        self._cond = threading.Condition()
        self.filters = filters or ("#",)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username:
            self.client.username_pw_set(username, password)
        if tls_ca:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.connect(broker.host, broker.port, 30)
        self.client.loop_start()
        assert self.subscribed.wait(5), "subscription not acknowledged"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe([(f, 1) for f in self.filters])

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic()))
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 5.0, start: int = 0):
        """The first message (topic, payload, retain, at) from index ``start`` on satisfying ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.messages):
                    if predicate(*self.messages[i][:2]):
                        return self.messages[i]
                    i += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def payloads(self, topic: str) -> list[bytes]:
        with self._cond:
            return [p for t, p, *_ in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path):
    """A plain mosquitto on a free loopback port, anonymous, for one test."""
    b = Broker(tmp_path / "broker").start()
    try:
        yield b
    finally:
        b.stop()

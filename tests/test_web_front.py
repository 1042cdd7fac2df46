"""The web server's front door (web_ui.front) against a real ``kiosk run`` on loopback, attacked as a device on
the council's network would: huge bodies, trickling heads, piles of long-polls, smuggling-shaped framing.

"Other clients" are other loopback source addresses (127.0.0.2...), so the per-address caps see other devices.
Every attack loop is bounded in time and count.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from pathlib import Path

import pytest

from kiosk_process import HOST, KioskProcess
from web_ui.front import CHUNKED, Refused, parse_head

MiB = 1024 * 1024


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("front")
    tmp = workdir / "tmp"
    tmp.mkdir()
    process = KioskProcess(workdir, env={"TMPDIR": str(tmp)})
    process.tmpdir = tmp
    with process:
        yield process


def _raw(port: int, data: bytes, source: str = HOST, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=timeout, source_address=(source, 0))
    if data:
        sock.sendall(data)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, socket.timeout):
        pass
    return b"".join(chunks)


def _first_answer_while_sending(sock: socket.socket, chunk: bytes, times: int) -> tuple[bytes, float, int]:
    """Send ``chunk`` ``times`` over (as an attacker does, whatever the kiosk answers) while reading the first
    bytes of the answer; returns them, the seconds they took and how many bytes were sent."""
    started, sent = time.monotonic(), [0]

    def send_body():
        try:
            for _ in range(times):
                sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass

    sender = threading.Thread(target=send_body)
    sender.start()
    first = sock.recv(4096)
    elapsed = time.monotonic() - started
    sender.join(10)
    sock.close()
    return first, elapsed, sent[0]


def _timed_get(port: int, path: str, source: str, headers: dict | None = None) -> tuple[int, float, bytes]:
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, time.monotonic() - started, body
    finally:
        conn.close()


# -- the head parser (pure) -----------------------------------------------------------------

@pytest.mark.parametrize("head, status", [
    (b"GET / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413),
    (b"GET / HTTP/2.0\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
])
def test_front_parse_head_refuses(head, status):
    with pytest.raises(Refused) as caught:
        parse_head(head, MiB)
    assert caught.value.status == status


def test_front_parse_head_chunked_bodies_close_the_connection():
    head = parse_head(b"POST /api/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", MiB)
    assert head.content_length == CHUNKED


def test_front_parse_head_accepts_a_body_at_the_cap():
    head = parse_head(b"POST /api/login HTTP/1.1\r\nHost: k\r\nContent-Length: 1048576\r\n\r\n", MiB)
    assert (head.method, head.target, head.content_length) == ("POST", "/api/login", MiB)


# -- item 1: the body cap ---------------------------------------------------------------------

def test_front_200mb_body_refused_before_disk(kiosk):
    """A 200 MB body gets 413 within 2 s; less than 5 MB lands on disk (temp files or state directory)."""
    before = _dir_bytes(kiosk.tmpdir) + _dir_bytes(kiosk.state_dir)
    sock = _raw(kiosk.port, b"POST /api/login HTTP/1.1\r\nHost: kiosk\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 200000000\r\n\r\n")
    first, elapsed, sent = _first_answer_while_sending(sock, b"x" * MiB, 200)
    assert first.startswith(b"HTTP/1.1 413"), first[:100]
    assert b'"error"' in first  # an API path answers in JSON
    assert elapsed < 2.0
    used = _dir_bytes(kiosk.tmpdir) + _dir_bytes(kiosk.state_dir) - before
    assert used < 5 * MiB, used
    assert sent < 200 * MiB  # the kiosk stopped taking it
    print(f"200 MB body: 413 after {elapsed * 1000:.0f} ms, {used} bytes written, {sent // MiB} MiB accepted")


def test_front_body_cap_leaves_smaller_bodies_to_the_app(kiosk):
    """Under the front's 1 MiB the app's own limits answer (the API's 64 KiB: 413 in JSON)."""
    client = kiosk.http()
    reply = client.request("POST", "/api/login", b"{" + b" " * 200_000 + b"}",
                           {"Content-Type": "application/json"}, auth=False)
    assert reply.status == 413
    assert "error" in reply.json()


# -- item 8: framing ------------------------------------------------------------------------------

def test_front_content_length_with_transfer_encoding_closed(kiosk):
    sock = _raw(kiosk.port, b"POST /api/login HTTP/1.1\r\nHost: kiosk\r\nContent-Length: 4\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/state HTTP/1.1\r\n\r\n")
    answer = _read_all(sock)  # returns only because the kiosk closes the connection
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400")
    assert answer.count(b"HTTP/1.1") == 1  # the smuggled request was never answered


# -- item 2: slow and idle connections --------------------------------------------------------------

def test_front_head_deadline(kiosk):
    sock = _raw(kiosk.port, b"GET /display HTTP/1.1\r\nHost: ki")
    started = time.monotonic()
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert 4.0 < time.monotonic() - started < 8.0


def test_front_caps_connections_per_address(kiosk):
    held = []
    try:
        for _ in range(32):
            held.append(_raw(kiosk.port, b"GET /display HTTP/1.1\r\n", source="127.0.0.5"))
        refused = _raw(kiosk.port, b"", source="127.0.0.5")
        assert _read_all(refused).startswith(b"HTTP/1.1 503")
        refused.close()
        status, elapsed, _ = _timed_get(kiosk.port, "/api/state", "127.0.0.6")
        assert status == 200 and elapsed < 2.0
    finally:
        for sock in held:
            sock.close()


class _Trickler:
    """``count`` connections from ``source`` sending a request head one byte at a time; a closed one is opened
    again at once (an attacker keeps trying)."""

    def __init__(self, port: int, source: str, count: int):
        self.port, self.source, self.count = port, source, count
        self.stop = threading.Event()
        self.connects = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self):
        sock = socket.socket()
        sock.setblocking(False)
        sock.bind((self.source, 0))
        sock.connect_ex((HOST, self.port))
        self.connects += 1
        return sock

    def _run(self):
        socks = [self._open() for _ in range(self.count)]
        try:
            while not self.stop.wait(0.2):
                for i, sock in enumerate(socks):
                    try:
                        sock.send(b"X")
                        sock.recv(1)  # an answer (408, 503) or the end: start again
                        raise ConnectionError
                    except BlockingIOError:
                        continue
                    except OSError:
                        sock.close()
                        socks[i] = self._open()
        finally:
            for sock in socks:
                sock.close()


class _LongPoller:
    """``count`` clients from ``source``, each asking ``/api/state?since=`` again as soon as it is answered."""

    def __init__(self, port: int, source: str, count: int, since: int):
        self.port, self.source, self.since = port, source, since
        self.stop = threading.Event()
        self.answers = 0
        self.open: set = set()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def end(self):
        """Stop, cutting the long-polls still waiting."""
        self.stop.set()
        for conn in list(self.open):
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
        for thread in self.threads:
            thread.join(10)

    def _run(self):
        while not self.stop.is_set():
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=40, source_address=(self.source, 0))
                self.open.add(conn)
                conn.request("GET", f"/api/state?since={self.since}&timeout=30")
                conn.getresponse().read()
                self.answers += 1
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
                self.open.discard(conn)
            self.stop.wait(0.01)


def test_front_slowloris_and_long_polls_leave_the_room_answering(kiosk):
    """200 trickling connections and 60 long-polls from one address each: the display, /api/state and a
    signed-in chair on other addresses answer within 2 s, again and again while the attack goes on."""
    chair = kiosk.http(source="127.0.0.9")
    assert chair.login().status == 200
    since = _timed_get(kiosk.port, "/api/state", "127.0.0.9")[2]
    revision = int(__import__("json").loads(since)["revision"])
    trickler = _Trickler(kiosk.port, "127.0.0.2", 200)
    pollers = _LongPoller(kiosk.port, "127.0.0.3", 60, revision)
    trickler.thread.start()
    for thread in pollers.threads:
        thread.start()
    worst = {"display": 0.0, "state": 0.0, "chair": 0.0}
    try:
        time.sleep(1.0)  # let the attack build up (it runs on, in the background, while we measure)
        deadline = time.monotonic() + 8.0  # beyond the 5 s head deadline: the trickler has started over
        rounds = 0
        while time.monotonic() < deadline and rounds < 40:
            rounds += 1
            status, elapsed, _ = _timed_get(kiosk.port, "/display", "127.0.0.7")
            assert status == 200
            worst["display"] = max(worst["display"], elapsed)
            status, elapsed, _ = _timed_get(kiosk.port, "/api/state", "127.0.0.8")
            assert status == 200
            worst["state"] = max(worst["state"], elapsed)
            reply = chair.get("/api/conferences")
            assert reply.status == 200, reply.text
            worst["chair"] = max(worst["chair"], reply.elapsed_s)
    finally:
        trickler.stop.set()
        trickler.thread.join(10)
        pollers.end()
    assert max(worst.values()) < 2.0, worst
    assert trickler.connects > 200  # the attacker really was turned away and came back
    assert pollers.answers > 60  # capped long-polls answered at once
    print(f"slowloris+long-polls: {rounds} rounds, worst {worst}, {trickler.connects} trickling connections, "
          f"{pollers.answers} long-poll answers")


# -- item 8: Host headers and HSTS -------------------------------------------------------------------

def test_front_trusted_hosts_refuse_other_host_headers_and_hsts_only_over_https(tmp_path):
    with KioskProcess(tmp_path, web_toml='trusted_hosts = ["kiosk-suite-1", "127.0.0.1"]\n') as kiosk:
        chair = kiosk.http()
        assert chair.login().status == 200
        for host, status in (("evil.example", 400), (f"evil.example:{kiosk.port}", 400),
                             (f"kiosk-suite-1:{kiosk.port}", 200), (f"127.0.0.1:{kiosk.port}", 200)):
            assert chair.get("/display", headers={"Host": host}).status == status, host
        # The pairing link cannot be made to point elsewhere.
        assert chair.get("/chair/pair", headers={"Host": "evil.example"}).status == 400
        page = chair.get("/chair/pair", headers={"Host": "kiosk-suite-1"})
        assert page.status == 200 and "http://kiosk-suite-1/chair/login?code=" in page.text
        # HSTS only when the request came over HTTPS: from the TLS terminator on the kiosk itself.
        proxied = kiosk.http().get("/display", headers={"X-Forwarded-Proto": "https"})
        assert proxied.header("Strict-Transport-Security") == "max-age=31536000"
        assert kiosk.http().get("/display").header("Strict-Transport-Security") is None
        claimed = kiosk.http(source="127.0.0.2").get("/display", headers={"X-Forwarded-Proto": "https"})
        assert claimed.status == 200 and claimed.header("Strict-Transport-Security") is None


def test_front_any_host_by_default(kiosk):
    assert kiosk.http().get("/display", headers={"Host": "whatever.example"}).status == 200


def test_front_keeps_connections_alive_between_requests(kiosk):
    """A browser's connection carries request after request (bodies included); pipelined bytes are not lost."""
    conn = http.client.HTTPConnection(HOST, kiosk.port, timeout=10)
    try:
        conn.request("GET", "/api/state")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        assert first.status == 200 and not first.will_close
        conn.request("POST", "/api/login", body=b'{"pin": "000000"}', headers={"Content-Type": "application/json"})
        second = conn.getresponse()
        assert second.status in (401, 429) and "error" in __import__("json").loads(second.read())
        conn.request("HEAD", "/display")
        third = conn.getresponse()
        third.read()
        conn.request("GET", "/display")
        fourth = conn.getresponse()
        assert third.status == fourth.status == 200 and b"<html" in fourth.read().lower()
        assert conn.sock is sock  # one connection all along
    finally:
        conn.close()
    sock = _raw(kiosk.port, b"GET /api/state HTTP/1.1\r\nHost: k\r\n\r\nGET /display HTTP/1.1\r\nHost: k\r\n"
                            b"Connection: close\r\n\r\n")
    answer = _read_all(sock)  # the second asks to close: the kiosk closes after answering it
    sock.close()
    assert answer.count(b"HTTP/1.1 200 OK") == 2


def test_front_200mb_chunked_body_refused_in_memory(kiosk):
    """The same with chunked encoding: the front counts the chunks and refuses past 1 MiB; nothing on disk."""
    before = _dir_bytes(kiosk.tmpdir) + _dir_bytes(kiosk.state_dir)
    sock = _raw(kiosk.port, b"POST /api/login HTTP/1.1\r\nHost: kiosk\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
    first, elapsed, _ = _first_answer_while_sending(sock, b"%x\r\n%s\r\n" % (MiB, b"x" * MiB), 200)
    assert first.startswith(b"HTTP/1.1 413"), first[:100]
    assert elapsed < 2.0
    assert _dir_bytes(kiosk.tmpdir) + _dir_bytes(kiosk.state_dir) - before < 5 * MiB
    assert kiosk.http().get("/api/state").status == 200


def test_front_small_chunked_body_reaches_the_app(kiosk):
    """A chunked body within the cap goes through whole: the app judges it (a wrong PIN: 401, not 400/413)."""
    body = b'{"pin": "000001"}'
    chunks = b"".join(b"%x;note=1\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:])) + b"0\r\n\r\n"
    sock = _raw(kiosk.port, b"POST /api/login HTTP/1.1\r\nHost: kiosk\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_front_chunked_framing_past_its_own_cap_is_a_413(kiosk):
    """Tiny chunks with long extensions keep the body small but the bytes many: those are capped too."""
    sock = _raw(kiosk.port, b"POST /api/login HTTP/1.1\r\nHost: kiosk\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
    # About 16 MB of framing for 2,000 bytes of body.
    first, _, _ = _first_answer_while_sending(sock, b"1;" + b"e" * 8000 + b"\r\nx\r\n", 2000)
    assert first.startswith(b"HTTP/1.1 413"), first[:100]
    assert kiosk.http().get("/api/state").status == 200


def test_front_admission_keeps_room_for_new_devices(tmp_path):
    """Per address, in all, and the last places only for addresses that hold few (no sockets needed)."""
    from web_ui.front import Front, FrontLimits

    front = Front(HOST, 0, str(tmp_path / "none.sock"),
                  FrontLimits(per_address=5, total=12, reserve=4, reserve_below=2))
    try:
        assert all(front._admit("10.0.0.1") for _ in range(5))
        assert not front._admit("10.0.0.1")  # its 5
        assert all(front._admit("10.0.0.2") for _ in range(3))  # 8 open: the reserve starts
        assert not front._admit("10.0.0.2")  # holds 3, not fewer than 2
        assert front._admit("10.0.0.3") and front._admit("10.0.0.3")  # a new device gets in
        assert not front._admit("10.0.0.3")
        assert front._admit("10.0.0.4") and front._admit("10.0.0.4")  # 12: full
        assert not front._admit("10.0.0.5")
        front._release("10.0.0.1")
        assert front._admit("127.0.0.1")  # the kiosk's own address counts only towards the total
        front._release("127.0.0.1")
        assert front._admit("127.0.0.1") and not front._admit("127.0.0.1")  # full again: the total holds
    finally:
        front.close()

"""The web server's front door: one thread, one asyncio loop, in front of waitress.

Why a front: waitress alone let anyone on the council's network take the kiosk down.
It keeps every half-sent request as one of its 100 connections with no limit per client
(about 100 trickling connections shut everyone else out, the chair's tablet included),
and it spools request bodies of up to 1 GiB to temporary files before the app can refuse
them (a few connections filled the SD card). Its limits are global, not per client, so
they cannot be tuned away. The front reads and checks every request head itself, cheaply,
before anything reaches waitress:

- a **head deadline** (:attr:`FrontLimits.head_timeout_s`): a request whose head has not
  arrived in full by then gets 408 and the connection is closed; a head larger than
  :attr:`~FrontLimits.max_head_bytes` gets 431;
- **connections per client address** (:attr:`~FrontLimits.per_address`) and in all
  (:attr:`~FrontLimits.total`), with the last :attr:`~FrontLimits.reserve` places kept for
  addresses that hold few connections, so one busy or hostile device never fills the
  kiosk; beyond them a new connection gets 503 at once. The kiosk's own address
  (127.0.0.1, ::1) counts only towards the total: every client of a TLS terminator on the
  kiosk arrives from there, and the terminator has its own limits per client;
- a **body cap** (:attr:`~FrontLimits.max_body_bytes`): a larger ``Content-Length`` gets 413
  before a byte of the body is read, and the body is never written anywhere; a body must
  arrive within :attr:`~FrontLimits.body_timeout_s`;
- **framing**: ``Transfer-Encoding`` with ``Content-Length`` (request smuggling) gets 400
  and the connection is closed; a chunked body goes to waitress as it came while the front
  counts its chunks: past the cap the front answers 413 itself (waitress has seen no more than
  the cap), and the connection closes after it; malformed request lines and headers get 400.

A request that passes is sent to waitress over a unix socket in a private directory, one
request per connection (``Connection: close``), with the client's address in
``X-Kiosk-Peer`` (any such header from the client is dropped first);
:class:`PeerFromFront` puts it back into ``REMOTE_ADDR``. The answer is copied back as it
comes; when it has a length, the client's connection stays open for its next request
(keep-alive; closed quietly after :attr:`~FrontLimits.head_timeout_s` idle). The front never runs the app's Python code, so it stays responsive while the
workers are busy. Its cost per request is measured in ``benchmarks/bench_web.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger("web_ui.front")

#: The header carrying the client's address from the front to waitress.
PEER_HEADER = "X-Kiosk-Peer"
_PEER_ENVIRON = "HTTP_X_KIOSK_PEER"
#: Hop-by-hop headers the front replaces.
_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "upgrade", "te", PEER_HEADER.lower()}
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_REQUEST_LINE = re.compile(rb"^([A-Z]{1,16}) (\S{1,8000}) HTTP/1\.([01])$")
_REASONS = {400: "Bad Request", 408: "Request Timeout", 411: "Length Required", 413: "Content Too Large",
            431: "Request Header Fields Too Large", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True)
class FrontLimits:
    """What one client may hold of the web server (see the module docstring)."""

    head_timeout_s: float = 5.0
    max_head_bytes: int = 16 * 1024
    max_body_bytes: int = 1024 * 1024
    #: A chunked body's bytes as sent, framing and chunk extensions included, are capped too.
    max_chunked_raw_bytes: int = 8 * 1024 * 1024
    body_timeout_s: float = 30.0
    #: A waiting long-poll answers within 30 s; this only ends an answer that never comes.
    response_timeout_s: float = 120.0
    per_address: int = 32
    total: int = 512
    reserve: int = 64
    #: Addresses holding fewer connections than this may use the reserved places.
    reserve_below: int = 4


class Refused(Exception):
    """A request the front answers itself: ``status`` and a ``reason`` for the client."""

    def __init__(self, status: int, reason: str, path: str | None = None):
        super().__init__(reason)
        self.status, self.reason, self.path = status, reason, path


#: ``Head.content_length`` of a chunked body: its length is known only at its end.
CHUNKED = -1
#: What :meth:`Front._copy_body` answers for a chunked body past the cap.
TOO_LARGE = "too large"


@dataclass
class Head:
    """A parsed request head."""

    method: str
    target: str
    request_line: bytes
    headers: list[tuple[bytes, bytes]]
    content_length: int  # or CHUNKED
    #: HTTP/1.1 without ``Connection: close``: the connection may carry another request after this one.
    keep_alive: bool = False


def parse_head(raw: bytes, max_body: int) -> Head:
    """Parse and check a request head (up to and including the blank line); raise :class:`Refused`."""
    lines = raw[:-4].split(b"\r\n")
    match = _REQUEST_LINE.match(lines[0])
    if not match:
        raise Refused(400, "malformed request line")
    try:
        return _parse_fields(match, lines[1:], max_body)
    except Refused as exc:
        exc.path = match.group(2).decode("latin-1")  # so that an API client gets its answer in JSON
        raise


def _parse_fields(match, lines: list[bytes], max_body: int) -> Head:
    headers: list[tuple[bytes, bytes]] = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(name):
            raise Refused(400, "malformed header line")
        headers.append((name, value.strip(b" \t")))
    names = [name.lower() for name, _ in headers]
    lengths = {value for name, value in headers if name.lower() == b"content-length"}
    if b"transfer-encoding" in names:
        if lengths:
            raise Refused(400, "both Content-Length and Transfer-Encoding: the request is ambiguous")
        return Head(match.group(1).decode("ascii"), match.group(2).decode("latin-1"), match.group(0), headers,
                    CHUNKED)
    if len(lengths) > 1:
        raise Refused(400, "conflicting Content-Length headers")
    length = 0
    if lengths:
        text = lengths.pop()
        if not text.isdigit() or len(text) > 18:
            raise Refused(400, "Content-Length must be a whole number")
        length = int(text)
    if length > max_body:
        raise Refused(413, f"the request body is larger than {max_body // 1024} KiB")
    connection = b",".join(value for name, value in headers if name.lower() == b"connection").lower()
    keep_alive = match.group(3) == b"1" and b"close" not in connection
    return Head(match.group(1).decode("ascii"), match.group(2).decode("latin-1"), match.group(0), headers, length,
                keep_alive)


def error_response(status: int, reason: str, path: str | None = None) -> bytes:
    """The front's own answer: JSON under /api and /simulator, text elsewhere, with the hardening headers."""
    from web_ui import SECURITY_HEADERS, wants_json

    if path is not None and wants_json(path.split("?", 1)[0]):
        body, kind = json.dumps({"error": reason}).encode(), "application/json"
    else:
        body, kind = f"{status} {_REASONS.get(status, 'Error')}: {reason}\n".encode(), "text/plain; charset=utf-8"
    headers = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", f"Content-Type: {kind}",
               f"Content-Length: {len(body)}", "Connection: close", "Cache-Control: no-store"]
    headers += [f"{name}: {value}" for name, value in SECURITY_HEADERS.items()]
    return ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body


class Front:
    """Listens on ``host``:``port`` (0: a free one, see :attr:`port`) and forwards to ``upstream`` (a unix socket)."""

    def __init__(self, host: str, port: int, upstream: str, limits: FrontLimits = FrontLimits()):
        self.upstream, self.limits = upstream, limits
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        _raise_file_limit()  # every connection is a file descriptor: the default 1024 would be the real cap
        self._sock = socket.create_server((host, port), family=family, backlog=1024)
        self.port = self._sock.getsockname()[1]
        self._per_address: Counter[str] = Counter()
        self._open = 0
        self._writers: set[asyncio.StreamWriter] = set()  # open client connections (loop thread only)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="web-front", daemon=True)
        #: Connections refused at the door since the start (for the logs and the tests).
        self.refused = 0

    # -- lifecycle (any thread) -------------------------------------------------------------

    def start(self) -> "Front":
        self.thread.start()
        self._ready.wait(10)
        return self

    def close(self) -> None:
        """Stop listening and drop every connection (idempotent)."""
        if self.thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self.thread.join(timeout=5)
        else:
            self._sock.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(
            self._serve, sock=self._sock, limit=self.limits.max_head_bytes, backlog=1024))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            # Drop every client connection first, so that each connection's task ends on its own (a cut
            # connection): cancelling a task that asyncio's stream callback then asks for its exception
            # logs a spurious traceback on Python 3.11. What is still running after a second is cancelled.
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = asyncio.all_tasks(self._loop)
            if tasks:
                self._loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
            tasks = [task for task in tasks if not task.done()]
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    # -- admission (loop thread only: no lock) --------------------------------------------

    def _admit(self, address: str) -> bool:
        lim = self.limits
        held = self._per_address[address]
        if address in _OWN_ADDRESSES:
            held = 0  # the TLS terminator on the kiosk: many clients behind one address
        if held >= lim.per_address or self._open >= lim.total:
            return False
        if self._open >= lim.total - lim.reserve and held >= lim.reserve_below:
            return False
        self._per_address[address] += 1
        self._open += 1
        return True

    def _release(self, address: str) -> None:
        self._open -= 1
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]

    # -- one connection ----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = peer[0] if peer else "unknown"
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # asyncio leaves Nagle on for sockets accepted from create_server's (proto 0): an answer's head and
            # body, written apart, would wait for the client's delayed ACK (40 ms a request on keep-alive).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self._admit(address):
            self.refused += 1  # answered at once, without reading anything: nothing to linger for
            writer.write(error_response(503, "too many connections from this device"))
            await _close(writer)
            return
        self._writers.add(writer)
        try:
            await self._handle(reader, writer, address)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("The web front failed on a request")
        finally:
            self._writers.discard(writer)
            self._release(address)
            await _close(writer)

    async def _handle(self, reader, writer, address: str) -> None:
        """Requests on one client connection, one after another (keep-alive), each through a fresh
        connection to waitress."""
        first = True
        while True:
            head = await self._read_head(reader, writer, first)
            if head is None or not await self._forward(reader, writer, head, address):
                return
            first = False

    async def _read_head(self, reader, writer, first: bool) -> Head | None:
        """The next request's head, or None when the connection is to close (after answering, if need be)."""
        lim = self.limits
        try:
            try:
                raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), lim.head_timeout_s)
            except asyncio.LimitOverrunError:
                raise Refused(431, "the request head is too large") from None
            except (asyncio.TimeoutError, TimeoutError):
                if not first:
                    return None  # an idle keep-alive connection: closed quietly, as browsers expect
                raise Refused(408, f"the request head did not arrive within {lim.head_timeout_s:g} s") from None
            except asyncio.IncompleteReadError:
                return None  # the client went away
            return parse_head(raw, lim.max_body_bytes)
        except Refused as exc:
            self.refused += 1
            await self._answer(writer, reader, error_response(exc.status, exc.reason, exc.path))
            return None

    async def _forward(self, reader, writer, head: Head, address: str) -> bool:
        """Send one request to waitress and its answer back; True when the client connection may go on."""
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(self.upstream)
        except OSError:
            await self._answer(writer, reader, error_response(503, "the kiosk is restarting: try again",
                                                              head.target))
            return False
        body = None
        relay = asyncio.ensure_future(asyncio.wait_for(self._relay_answer(up_reader, writer, head),
                                                       self.limits.response_timeout_s))
        try:
            up_writer.write(self._upstream_head(head, address))
            if head.content_length:  # alongside the answer: a client may wait for "100 Continue" first
                body = asyncio.ensure_future(self._copy_body(reader, up_writer, head.content_length))
                if head.content_length == CHUNKED:
                    # Where a chunked body ends is known only at its end: the connection closes after it.
                    head.keep_alive = False
                await asyncio.wait({relay, body}, return_when=asyncio.FIRST_COMPLETED)
                if not relay.done() and body.done() and body.result() is TOO_LARGE:
                    # Refused before waitress has seen more than the cap (so it is still waiting for the rest).
                    await self._answer(writer, reader, error_response(
                        413, f"the request body is larger than {self.limits.max_body_bytes // 1024} KiB",
                        head.target))
                    return False
            try:
                keep = await relay
            except (asyncio.TimeoutError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError):
                return False
            if body is not None and not (body.done() and body.result() is True):
                # The answer came before the whole body was passed on: where the next request starts is
                # unknown, so close, but linger so that the answer is not lost to a reset.
                body.cancel()
                await _linger(writer, reader)
                return False
            return keep
        finally:
            for task in (relay, body):
                if task is not None and not task.done():
                    task.cancel()
            up_writer.transport.abort()

    def _upstream_head(self, head: Head, address: str) -> bytes:
        lines = [head.request_line]
        for name, value in head.headers:
            if name.lower().replace(b"_", b"-") not in _HOP_HEADERS_B:
                lines.append(name + b": " + value)
        lines.append(b"Connection: close")
        lines.append(PEER_HEADER.encode() + b": " + address.encode("ascii", "replace"))
        return b"\r\n".join(lines) + b"\r\n\r\n"

    async def _copy_body(self, reader, up_writer, length: int):
        """Copy a request body of ``length`` bytes (or a CHUNKED one) to waitress. True when all of it was
        copied in time; :data:`TOO_LARGE` when a chunked body passes the cap (waitress has then seen no more
        than the cap); False when it was cut or late."""
        async def copy() -> bool:
            left = length
            while left > 0:
                chunk = await reader.read(min(left, 64 * 1024))
                if not chunk:
                    return False
                left -= len(chunk)
                up_writer.write(chunk)
                await up_writer.drain()
            return True

        async def copy_chunked():
            # The framing is read here (sizes, then data) so that the cap counts the body itself; the bytes
            # go to waitress as they came, and waitress decodes them.
            total = raw = 0
            while True:
                line = await reader.readuntil(b"\r\n")
                raw += len(line)
                if raw > self.limits.max_chunked_raw_bytes:
                    return TOO_LARGE
                up_writer.write(line)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    await up_writer.drain()
                    return True  # bad framing: waitress answers 400
                if size == 0:  # the last chunk, then any trailers up to an empty line
                    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                        raw += len(line)
                        if raw > self.limits.max_chunked_raw_bytes:
                            return TOO_LARGE
                        up_writer.write(line)
                    up_writer.write(line)
                    await up_writer.drain()
                    return True
                total += size
                raw += size + 2
                if total > self.limits.max_body_bytes or raw > self.limits.max_chunked_raw_bytes:
                    return TOO_LARGE
                up_writer.write(await reader.readexactly(size + 2))
                await up_writer.drain()

        try:
            copying = copy_chunked() if length == CHUNKED else copy()
            return await asyncio.wait_for(copying, self.limits.body_timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            up_writer.transport.abort()  # waitress sees a cut request and answers nothing; we then close
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        return False

    @staticmethod
    async def _relay_answer(up_reader, writer, head: Head) -> bool:
        """Copy waitress's answer to the client. Its ``Connection: close`` is dropped when the answer has a
        known length and the client keeps its connection (returns True then); otherwise the answer is copied
        as it is, to its end, and the connection closes after it."""
        while True:
            raw = await up_reader.readuntil(b"\r\n\r\n")
            status_line, *lines = raw[:-4].split(b"\r\n")
            status = int(status_line.split(b" ", 2)[1])
            if status >= 200:
                break
            writer.write(raw)  # "100 Continue": the client may now send its body
        length, framed, kept = None, False, [status_line]
        for line in lines:
            name = line.partition(b":")[0].strip().lower()
            if name == b"content-length":
                length = int(line.partition(b":")[2].strip())
            elif name == b"transfer-encoding":
                framed = True
            if name not in (b"connection", b"keep-alive"):
                kept.append(line)
        bodiless = head.method == "HEAD" or status in (204, 304)
        keep = head.keep_alive and not framed and (bodiless or length is not None)
        if not keep:
            writer.write(raw)
            while chunk := await up_reader.read(64 * 1024):
                writer.write(chunk)
                await writer.drain()
            return False
        writer.write(b"\r\n".join(kept) + b"\r\n\r\n")
        left = 0 if bodiless else length
        while left > 0:
            chunk = await up_reader.read(min(left, 64 * 1024))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(chunk)
            writer.write(chunk)
            await writer.drain()
        await writer.drain()
        return True

    async def _answer(self, writer, reader, data: bytes) -> None:
        """Send the front's own answer and close, reading (and discarding) what the client still sends for a
        moment, so that the answer is not lost to a reset while a refused body is still arriving."""
        try:
            writer.write(data)
        except (ConnectionError, OSError):
            return
        await _linger(writer, reader)


async def _linger(writer, reader) -> None:
    """Send what was written, end our side, and read (and discard) what the client still sends for a moment
    (at most 1 s and 32 MiB): closing with unread input makes the kernel send a reset, which can destroy an
    answer the client has not read yet."""
    try:
        await asyncio.wait_for(writer.drain(), 2.0)
        if writer.can_write_eof():
            writer.write_eof()

        async def drain_input(left=32 * 1024 * 1024):  # the client reads our answer meanwhile
            while left > 0 and (chunk := await reader.read(64 * 1024)):
                left -= len(chunk)

        await asyncio.wait_for(drain_input(), 1.0)
    except (ConnectionError, asyncio.TimeoutError, TimeoutError, OSError):
        pass


async def _close(writer) -> None:
    """Close after what was written has gone out (at most 2 s), then drop the connection."""
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), 2.0)
    except (ConnectionError, asyncio.TimeoutError, TimeoutError, OSError):
        pass
    finally:
        writer.transport.abort()


_HOP_HEADERS_B = {name.encode() for name in _HOP_HEADERS}
#: The kiosk's own address, where a TLS terminator on the kiosk connects from (as web_ui.auth.LoopbackProxyFix).
_OWN_ADDRESSES = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


def _raise_file_limit(wanted: int = 8192) -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):
        pass


class PeerFromFront:
    """WSGI middleware: the client's address from the front's ``X-Kiosk-Peer`` into ``REMOTE_ADDR``.

    Only the front can reach waitress (a unix socket in a private directory), and it
    always replaces the header, so the value can be trusted.
    """

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        peer = environ.pop(_PEER_ENVIRON, None)
        if peer:
            environ["REMOTE_ADDR"] = environ["REMOTE_HOST"] = peer
        return self.app(environ, start_response)

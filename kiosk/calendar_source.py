"""Where the room's calendar comes from: a file, or an ``https://`` URL (Exchange, Microsoft 365, Google).

:func:`open_source` picks :class:`FileSource` or :class:`UrlSource` from ``[schedule] ics``.
Both answer :meth:`fetch` with the calendar's bytes when it changed, or None when it did not
(the file's size and modification time are the same; the server answered 304 Not Modified
to ``If-None-Match`` / ``If-Modified-Since``), and raise :class:`SourceError` when it cannot
be had. Nothing is parsed here, and nothing here runs on the room controller's thread.

:class:`KeptCopy` keeps the last calendar that parsed, with its ETag and Last-Modified, in
the state directory (``calendar.ics`` and ``calendar.json``), so that a kiosk restarted while
the source is unreachable still has the room's bookings. It keeps only the times
(:func:`kiosk.calendar_ics.times_only`): a room calendar's titles often name the family.

Plain ``http://`` is refused except to a loopback address (for tests and a local proxy):
a room's calendar URL carries a secret token, which must not cross the network in clear.
"""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from kiosk.calendar_ics import MAX_CALENDAR_BYTES, CalendarError, read_capped, times_only, too_large

_CHUNK = 64 * 1024


class SourceError(CalendarError):
    """The calendar could not be fetched now (the kept copy, if any, is used meanwhile)."""


def is_url(ics: str) -> bool:
    """True when ``[schedule] ics`` names a URL rather than a file."""
    return "://" in ics


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a calendar source, or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be a file path or an https:// URL"
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = parts.hostname == "localhost"
        if not loopback:
            return "must use https:// (http:// only to this machine's loopback address)"
    return None


def redact(url: str) -> str:
    """``url`` without its path and query, which often hold the calendar's secret token, nor a user name and
    password written into it: for logs."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number: left out
        port = ""
    return f"{parts.scheme}://{host}{port}/..."


class FileSource:
    """A calendar file on the kiosk; read again only when its size or modification time changes."""

    kind = "file"

    def __init__(self, path: str):
        self.path = path
        self._signature = None

    def describe(self) -> str:
        """The file's path, for logs and ``kiosk doctor``."""
        return self.path

    def fetch(self) -> bytes | None:
        """The file's bytes if it changed since the last call, else None; SourceError when unreadable."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise SourceError("the calendar file does not exist", self.path) from None
        except OSError as exc:
            raise SourceError(f"cannot read the calendar file: {exc.strerror}", self.path) from None
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        if signature == self._signature:
            return None
        if st.st_size > MAX_CALENDAR_BYTES:  # refused from its size alone, without reading it
            raise SourceError(too_large(), self.path)
        try:
            data = read_capped(self.path)
        except CalendarError as exc:
            raise SourceError(exc.reason, self.path) from None
        self._signature = signature
        return data

    def remember(self, validators: dict) -> None:
        """Nothing to remember for a file (see :meth:`UrlSource.remember`)."""


class UrlSource:
    """A calendar published at a URL, fetched with conditional requests.

    ``validators`` are the ETag and Last-Modified of the kept copy: sent as ``If-None-Match`` /
    ``If-Modified-Since`` so that an unchanged calendar costs a 304 and no parsing.
    """

    kind = "url"

    def __init__(self, url: str, *, ca: str = "", timeout_s: float = 10.0, validators: dict | None = None):
        self.url = url
        self.timeout_s = timeout_s
        self.context = ssl.create_default_context(cafile=ca or None)
        self.validators = dict(validators or {})
        #: ETag / Last-Modified of the last answer, kept by :meth:`remember` once it parsed.
        self.pending: dict = {}

    def describe(self) -> str:
        """The URL without its secret parts (:func:`redact`), for logs and ``kiosk doctor``."""
        return redact(self.url)

    def fetch(self) -> bytes | None:
        """The calendar's bytes if it changed, None on 304 Not Modified; SourceError when it cannot be had."""
        headers = {"User-Agent": "hybrid-room-kiosk", "Accept": "text/calendar, */*;q=0.5"}
        if self.validators.get("etag"):
            headers["If-None-Match"] = self.validators["etag"]
        if self.validators.get("last_modified"):
            headers["If-Modified-Since"] = self.validators["last_modified"]
        request = urllib.request.Request(self.url, headers=headers)
        where = redact(self.url)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self.context) as answer:
                data = self._read(answer, where)
                self.pending = {"etag": answer.headers.get("ETag"),
                                "last_modified": answer.headers.get("Last-Modified")}
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                return None
            raise SourceError(f"the calendar server answered {exc.code} {exc.reason}", where) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLCertVerificationError):
                text = f"TLS certificate not accepted: {reason.verify_message} (check [schedule] ics_ca)"
            elif isinstance(reason, ssl.SSLError):
                text = f"TLS handshake failed ({reason.reason or reason})"
            else:
                text = f"the calendar server is unreachable ({getattr(reason, 'strerror', None) or reason})"
            raise SourceError(text, where) from None
        except (TimeoutError, OSError) as exc:
            raise SourceError(f"the calendar server did not answer in time ({type(exc).__name__})", where) from None

    def _read(self, answer, where: str) -> bytes:
        # The byte cap and an overall deadline: a server dripping bytes cannot hold the watcher for ever.
        deadline = time.monotonic() + 3 * self.timeout_s
        chunks, size = [], 0
        while chunk := answer.read(_CHUNK):
            size += len(chunk)
            if size > MAX_CALENDAR_BYTES:
                raise SourceError(too_large(), where)
            if time.monotonic() > deadline:
                raise SourceError(f"the calendar took longer than {3 * self.timeout_s:g} s to download", where)
            chunks.append(chunk)
        return b"".join(chunks)

    def remember(self, validators: dict) -> None:
        """Use these validators for the next request (called once the answer parsed)."""
        self.validators = {k: v for k, v in validators.items() if v}


def open_source(schedule_cfg, validators: dict | None = None):
    """The source ``[schedule] ics`` names, or None when it is empty."""
    ics = schedule_cfg.ics
    if not ics:
        return None
    if is_url(ics):
        return UrlSource(ics, ca=schedule_cfg.ics_ca, timeout_s=schedule_cfg.ics_timeout_s, validators=validators)
    return FileSource(ics)


class KeptCopy:
    """The last good calendar in ``state_dir``: its bytes and the validators it came with."""

    def __init__(self, state_dir: str | os.PathLike):
        self.dir = Path(state_dir)
        self.data_path = self.dir / "calendar.ics"
        self.meta_path = self.dir / "calendar.json"

    def load(self, source_id: str) -> tuple[bytes | None, dict]:
        """(bytes, metadata) kept for ``source_id`` (the configured ``ics``), or (None, {})."""
        try:
            meta = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if not isinstance(meta, dict) or meta.get("source") != source_id:
                return None, {}
            return read_capped(self.data_path), meta
        except (OSError, ValueError):
            return None, {}

    def save(self, source_id: str, data: bytes, meta: dict) -> None:
        """Keep ``data``'s times, never its titles or people (written to a temporary file, then renamed:
        never half a calendar)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for path, content in ((self.data_path, times_only(data)),
                              (self.meta_path, json.dumps({**meta, "source": source_id}).encode())):
            tmp = path.with_suffix(path.suffix + ".tmp")
            with open(tmp, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)  # the URL's token is in calendar.json
            os.replace(tmp, path)

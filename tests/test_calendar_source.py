"""Calendar sources: a file, or a URL on a local test server (ETag, Last-Modified, TLS with ics_ca)."""

import pytest

from calendar_server import CalendarServer, self_signed
from kiosk.calendar_ics import MAX_CALENDAR_BYTES, times_only
from kiosk.calendar_source import FileSource, KeptCopy, SourceError, UrlSource, check_url, open_source, redact
from kiosk.config import Config
from kiosk.errors import ConfigError

BODY = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@x\r\nDTSTART:20261123T140000Z\r\n"
        b"SUMMARY:Smith family\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def server():
    s = CalendarServer(BODY)
    try:
        yield s
    finally:
        s.close()


def test_calendar_source_url_sends_etag_and_gets_not_modified(server):
    source = UrlSource(server.url)
    assert source.fetch() == BODY
    source.remember(source.pending)
    assert source.fetch() is None  # 304: nothing downloaded, nothing to parse
    assert server.requests[0]["if_none_match"] is None
    assert server.requests[1]["if_none_match"] == server.etag
    assert server.requests[1]["if_modified_since"] == server.last_modified
    server.set_body(BODY.replace(b"140000", b"150000"))
    assert b"150000" in source.fetch()


def test_calendar_source_url_without_etag_uses_last_modified(tmp_path):
    server = CalendarServer(BODY, etag=False)
    try:
        source = UrlSource(server.url)
        source.fetch()
        source.remember(source.pending)
        source.fetch()
        assert server.requests[1]["if_modified_since"] == server.last_modified
        assert server.requests[1]["if_none_match"] is None
    finally:
        server.close()


def test_calendar_source_url_unreachable_or_missing_is_a_source_error(server, closed_port):
    with pytest.raises(SourceError, match="unreachable"):
        UrlSource(f"http://127.0.0.1:{closed_port}/room.ics", timeout_s=2).fetch()
    with pytest.raises(SourceError, match="answered 404") as info:
        UrlSource(server.url.replace("room.ics", "secret-token.ics")).fetch()
    assert "secret-token" not in str(info.value)  # the URL's path is its password


def test_calendar_source_url_larger_than_the_limit_is_refused(server):
    server.set_body(b"X" * (MAX_CALENDAR_BYTES + 1))
    with pytest.raises(SourceError, match="larger than 10 MB"):
        UrlSource(server.url).fetch()


def test_calendar_source_https_with_ics_ca(tmp_path):
    cert, key = self_signed(tmp_path)
    server = CalendarServer(BODY, tls=(cert, key))
    try:
        assert UrlSource(server.url, ca=cert).fetch() == BODY
        with pytest.raises(SourceError, match="certificate not accepted.*ics_ca"):
            UrlSource(server.url).fetch()  # the system's CAs do not know it
    finally:
        server.close()


@pytest.mark.parametrize("url, problem", [
    ("https://outlook.office365.com/owa/calendar/x/reachcalendar.ics", None),
    ("http://127.0.0.1:8000/room.ics", None),
    ("http://[::1]:8000/room.ics", None),
    ("http://calendar.council.example/room.ics", "must use https://"),
    ("ftp://calendar.council.example/room.ics", "must be a file path or an https:// URL"),
    ("https:///room.ics", "must be a file path or an https:// URL"),
])
def test_calendar_source_check_url(url, problem):
    found = check_url(url)
    assert found == problem if problem is None else found.startswith(problem)


def test_calendar_source_config_refuses_plain_http_off_loopback():
    with pytest.raises(ConfigError, match=r"\[schedule\] ics: must use https://"):
        Config().replace("schedule", ics="http://calendar.council.example/room.ics")


def test_calendar_source_redact_hides_the_token():
    assert redact("https://outlook.office365.com/owa/calendar/abc/SECRET/calendar.ics") == \
        "https://outlook.office365.com/..."
    assert redact("https://room1:S3CRET@cal.example.org:8443/r.ics?key=SECRET") == "https://cal.example.org:8443/..."
    assert redact("http://[::1]:8080/r.ics") == "http://[::1]:8080/..."


def test_calendar_source_file_read_again_only_when_changed(tmp_path):
    path = tmp_path / "room.ics"
    path.write_bytes(BODY)
    source = FileSource(str(path))
    assert source.fetch() == BODY
    assert source.fetch() is None
    path.write_bytes(BODY + b"\r\n")
    assert source.fetch() == BODY + b"\r\n"
    path.unlink()
    with pytest.raises(SourceError, match="does not exist"):
        source.fetch()


def test_calendar_source_open_source_picks_by_ics():
    assert open_source(Config().schedule) is None
    assert open_source(Config().replace("schedule", ics="/srv/room.ics").schedule).kind == "file"
    assert open_source(Config().replace("schedule", ics="https://x.example/r.ics").schedule).kind == "url"


def test_calendar_source_kept_copy_round_trip_and_other_source(tmp_path):
    kept = KeptCopy(tmp_path / "state")
    assert kept.load("https://a.example/r.ics") == (None, {})
    kept.save("https://a.example/r.ics", BODY, {"etag": '"1"'})
    data, meta = kept.load("https://a.example/r.ics")
    assert data == times_only(BODY) and b"Smith" not in data and meta["etag"] == '"1"'  # the times only
    assert kept.load("https://b.example/r.ics") == (None, {})  # another calendar's copy is not used
    assert (kept.meta_path.stat().st_mode & 0o777) == 0o600

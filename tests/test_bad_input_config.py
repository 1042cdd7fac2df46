"""Property tests of the config loader: whatever the file holds, a Config or a ConfigError, nothing else.

:func:`kiosk.config.parse` is fed arbitrary text, TOML-ish text (real section and key
names, value tokens that have broken parsers: huge integers, NaN, deep nesting) and
arbitrary documents rendered to valid TOML (real and random sections and keys, any
values). A ConfigError must name what is wrong; a Config must hold only values inside
the documented limits. Then ``kiosk config --config FILE`` is run on bad files: exit 2,
one message, no traceback.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess
import sys
import tomllib
import typing
from datetime import date, datetime, time, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from kiosk import config
from kiosk.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = list(config.SECTIONS)
KEYS = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in config.SECTIONS.items()}
ALL_KEYS = sorted({k for keys in KEYS.values() for k in keys})

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- rendering a document as TOML ---------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE.fullmatch(key) else toml_string(key)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value) if isinstance(value, int) else toml_string(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)  # repr gives inf, -inf, 1e+16, 0.5
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def render(doc: dict) -> str:
    """A document (section -> table, or -> a bare value) as TOML; bare values first, as TOML requires."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for section, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{toml_key(section)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def same(a, b) -> bool:
    """Equality that counts NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# -- strategies -----------------------------------------------------------------------------------

names = st.text(min_size=0, max_size=12)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(10**400), max_value=10**400),  # tomllib reads big integers as they are
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["auto", "file", "alsa", "drm", "simulated", "GPIO17", "Europe/London", "broker:1883",
                     "suite-1", "", "HDMI-A-1", "/dev/video0", "a:²", "GPIO١٧", "kiosk/"]),
    st.datetimes(timezones=st.sampled_from([timezone.utc])),
    st.dates(),
    st.times(),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=3),
                      max_leaves=8)
section_names = st.sampled_from(SECTIONS) | names
key_names = st.sampled_from(ALL_KEYS) | names
tables = st.dictionaries(key_names, values, max_size=6)
documents = st.dictionaries(section_names, tables | values, max_size=5)

TOKENS = ["1", "-1", "0", "3.5", "nan", "inf", "-inf", "true", "false", '"x"', '""', "'lit'", '"""multi\n"""',
          "[]", '["broker:1883"]', "{}", "{ a = 1 }", "1979-05-27T07:32:00Z", "07:32:00", "1" + "0" * 400,
          "1" + "0" * 5000, "[" * 3000 + "]" * 3000, "{a=" * 600 + "1" + "}" * 600, '"\\u0000"', "0x10", "1_000",
          "=", "[", "]", "#", '"', "\\", "\x00", "\ufeff", "\u2028"]
lines = st.one_of(
    st.builds(lambda s: f"[{s}]", section_names),
    st.builds(lambda s: f"[[{s}]]", section_names),
    st.builds(lambda k, v: f"{k} = {v}", key_names, st.sampled_from(TOKENS) | st.text(max_size=10)),
    st.builds(lambda s, k, v: f"{s}.{k} = {v}", st.sampled_from(SECTIONS), key_names, st.sampled_from(TOKENS)),
    st.text(max_size=40),
)
tomlish = st.lists(lines, max_size=12).map("\n".join)


# -- what a result must look like ----------------------------------------------------------------

def check_config(cfg: config.Config) -> None:
    """Every value in a returned Config has its declared type and lies within its limits."""
    for name, cls in config.SECTIONS.items():
        section = getattr(cfg, name)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            value, meta, tp = getattr(section, f.name), f.metadata, hints[f.name]
            if tp is float:
                assert isinstance(value, float) and not math.isnan(value), (name, f.name, value)
            elif tp in (int, str, bool):
                assert type(value) is tp, (name, f.name, value)
            else:
                assert isinstance(value, list) and all(isinstance(v, str) for v in value)
            if meta["min"] is not None:
                assert value >= meta["min"], (name, f.name, value)
            if meta["max"] is not None:
                assert value <= meta["max"], (name, f.name, value)
            if meta["choices"]:
                assert value in meta["choices"], (name, f.name, value)
            if meta["check"]:
                assert meta["check"](value) is None, (name, f.name, value)


def check_error(err: ConfigError, doc: dict | None) -> None:
    """A ConfigError from a valid TOML document names the section, and the key when a key is at fault."""
    message = str(err)
    assert message.startswith("<config>")
    if doc is None:  # not valid TOML: there is no section to name
        return
    assert err.section is not None, message
    assert err.section in doc, message
    if err.key is None:
        assert err.section not in config.SECTIONS or not isinstance(doc[err.section], dict), message
        assert f"[{err.section}]: " in message
    else:
        assert isinstance(doc[err.section], dict) and err.key in doc[err.section], message
        assert f"[{err.section}] {err.key}: " in message


def parse_checked(text: str, doc: dict | None = None) -> config.Config | None:
    try:
        cfg = config.parse(text)
    except ConfigError as err:
        check_error(err, doc)
        return None
    check_config(cfg)
    return cfg


# -- properties -----------------------------------------------------------------------------------

@pytest.mark.proof
@PROPERTY
@given(st.text())
@example("a = " + "[" * 3000 + "]" * 3000)
@example("a = 1" + "0" * 5000)
@example("[room]\nname = {" + "a = {" * 600 + "}" * 601)
def test_bad_input_config_any_text_gives_a_config_or_a_config_error(text):
    parse_checked(text)


@pytest.mark.proof
@PROPERTY
@given(tomlish)
def test_bad_input_config_tomlish_text_gives_a_config_or_a_config_error(text):
    try:
        doc = tomllib.loads(text)
    except Exception:  # noqa: BLE001 - anything tomllib refuses is "not valid TOML" to us
        doc = None
    parse_checked(text, doc)


@pytest.mark.proof
@PROPERTY
@given(documents)
@example({"checks": {"timeout_s": math.nan}})
@example({"camera": {"min_focus": 10**400}})
@example({"network": {"hosts": ["broker:²"]}})
@example({"network": {"hosts": ["broker:" + "9" * 5000]}})
@example({"button": {"pin": "GPIO١٧"}})
@example({"": {"x": 1}})
@example({"camera": {"": 1}})
@example({"room": 5})
def test_bad_input_config_any_document_gives_a_config_or_a_named_error(doc):
    text = render(doc)
    assert same(tomllib.loads(text), doc)  # the renderer wrote what was meant
    parse_checked(text, doc)


@pytest.mark.proof
@PROPERTY
@given(st.sampled_from([(s, k) for s in SECTIONS for k in KEYS[s]]), values)
def test_bad_input_config_any_value_for_a_real_key_is_validated(where, value):
    section, key = where
    doc = {section: {key: value}}
    cfg = parse_checked(render(doc), doc)
    if cfg is not None:  # accepted: then it is what the file said (ints widened to floats)
        got = getattr(getattr(cfg, section), key)
        assert got == value or str(value) == got, (got, value)


@pytest.mark.parametrize("text, message", [
    ("[checks]\ntimeout_s = nan\n", "[checks] timeout_s: must be a number, not nan"),
    ("[camera]\nmin_focus = 1" + "0" * 400 + "\n", "[camera] min_focus: is far too large a number"),
    ('[network]\nhosts = ["broker:²"]\n', "[network] hosts: 'broker:²' is not a host:port pair"),
    ('[button]\npin = "GPIO١٧"\n', "[button] pin: 'GPIO١٧' is not a GPIO pin"),
    ("a = " + "[" * 3000 + "]" * 3000 + "\n", "not valid TOML: arrays or tables nested too deeply"),
    ("a = 1" + "0" * 5000 + "\n", "not valid TOML: Exceeds the limit"),
    ('[""]\nx = 1\n', "[]: unknown section"),
])
def test_bad_input_config_found_by_the_properties(text, message):
    with pytest.raises(ConfigError) as caught:
        config.parse(text)
    assert message in str(caught.value)


# -- the command line -----------------------------------------------------------------------------

def run_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "config", "--config", str(path)], cwd=ROOT,
                          capture_output=True, timeout=60)


def assert_refused(proc: subprocess.CompletedProcess, path: Path) -> None:
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("kiosk: configuration error: ") and str(path) in stderr
    assert proc.stdout == b""


@pytest.mark.parametrize("content", [
    b"[checks]\ntimeout_s = nan\n",
    b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n",
    b"a = 1" + b"0" * 5000 + b"\n",
    b"[camera]\nmin_focus = 1" + b"0" * 400 + b"\n",
    '[network]\nhosts = ["broker:²"]\n'.encode(),
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",  # not UTF-8
    b'[""]\n"" = 1\n',
], ids=["nan", "deep nesting", "5000 digits", "float overflow", "unicode digit", "binary", "empty names"])
def test_bad_input_config_command_exits_2_without_traceback(tmp_path, content):
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    assert_refused(run_config(path), path)


@pytest.mark.proof
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_bad_input_config_command_on_generated_bad_files(tmp_path_factory, doc):
    text = render(doc)
    try:
        config.parse(text)
    except ConfigError:
        pass
    else:
        assume(False)  # only bad files here
    path = tmp_path_factory.mktemp("generated") / "bad.toml"
    path.write_text(text, encoding="utf-8")
    assert_refused(run_config(path), path)

"""The kiosk's configuration: one TOML file, every key optional.

Each section is a frozen dataclass; a field's metadata carries its documentation and
limits. :func:`load` reads a file (or nothing at all), rejects unknown sections and
keys, wrong types and out-of-range values with a :class:`~kiosk.errors.ConfigError`
naming the section, the key and the file line, and returns a :class:`Config`.

Like picamera2's configuration objects, only known fields are accepted, to catch typos.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.errors import ConfigError

#: Where ``kiosk`` looks for a config file when ``--config`` is not given.
DEFAULT_PATHS = ("/etc/kiosk/config.toml",)
ENV_CONFIG = "KIOSK_CONFIG"


def _opt(default, doc, *, min=None, max=None, choices=None, check=None):
    """A config field with its documentation, limits and an optional extra check.

    ``check(value)`` returns an error message, or None when the value is fine.
    """
    meta = {"doc": doc, "min": min, "max": max, "choices": choices, "check": check}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _host_names(values):
    for v in values:
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]+", v):
            return f"{v!r} is not a host name or address (no port, no scheme)"
    return None


def _networks(values):
    import ipaddress

    for v in values:
        try:
            ipaddress.ip_network(v, strict=False)
        except (TypeError, ValueError):
            return f"{v!r} is not an address or network (e.g. \"10.0.4.0/24\")"
    return None


def _host_port(values):
    for v in values:
        host, sep, port = v.rpartition(":")
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if not sep or not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
            return f"{v!r} is not a host:port pair (e.g. \"broker.local:1883\")"
    return None


def _room_id(value):
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        return "must be 1-64 letters, digits, '-' or '_' (it is used in MQTT topics)"
    return None


def _hhmm(value):
    if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        return "must be HH:MM (24-hour) or empty"
    return None


def _timezone(value):
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return f"{value!r} is not a known time zone (e.g. \"Europe/London\")"
    return None


def _ics(value):
    if "://" in value:
        from kiosk.calendar_source import check_url

        return check_url(value)
    return None


def _pin(value):
    # gpiozero accepts BCM numbers and names such as "GPIO17" or "BOARD11".
    if not re.fullmatch(r"(GPIO|BCM|BOARD|J8:)?[0-9]{1,2}|", str(value)):
        return f"{value!r} is not a GPIO pin (e.g. \"GPIO17\" or \"17\")"
    return None


@dataclass(frozen=True)
class RoomConfig:
    id: str = _opt("suite-1", "Room identifier used in MQTT topics and Home Assistant ids.", check=_room_id)
    name: str = _opt("Hybrid Suite 1", "Room name shown on the display and to IT.")


@dataclass(frozen=True)
class CameraConfig:
    backend: str = _opt("auto", "Camera backend.", choices=("auto", "picamera2", "opencv", "file", "simulated"))
    source: str = _opt("", "opencv: device index or /dev/videoN; file: image or video path.")
    required: bool = _opt(True, "A failing camera makes the room not ready.")
    width: int = _opt(1280, "Requested capture width in pixels.", min=160, max=4096)
    height: int = _opt(720, "Requested capture height in pixels.", min=120, max=3072)
    frames: int = _opt(4, "Frames captured per check (at least 2 to detect a frozen image).", min=2, max=60)
    frame_interval_s: float = _opt(0.1, "Seconds between the frames of one check.", min=0.0, max=5.0)
    dark_luma: float = _opt(25.0, "Mean brightness (0-255) below which the image is dark: black or covered "
                                  "when it shows no structure (dark_structure), too dark otherwise.",
                            min=0, max=255)
    bright_luma: float = _opt(235.0, "Mean brightness (0-255) above which the image counts as over-exposed.",
                              min=0, max=255)
    saturated_fraction: float = _opt(0.5, "Share of blown-out pixels (>= 250) that counts as over-exposed.",
                                     min=0.0, max=1.0)
    min_focus: float = _opt(12.0, "Focus measure below which the image is blurred: the variance of the Laplacian "
                                  "of a smoothed 640-pixel-wide grey frame, relative to its brightness "
                                  "(sharp rooms score 30-60, blurred ones under 8).", min=0.0)
    frozen_diff: float = _opt(0.05, "Mean absolute difference (0-255) between successive frames below which the "
                                    "image counts as frozen.", min=0.0, max=255)
    min_width: int = _opt(640, "Narrower images give a warning.", min=0, max=4096)
    dark_structure: float = _opt(3.0, "Contrast (standard deviation of grey levels, 0-255, on a 160-pixel-wide "
                                      "copy of the frame) from which a dark frame still shows the room: it is "
                                      "too dark (turn the lights on) rather than black or covered.", min=0.0, max=128)
    very_dark_luma: float = _opt(10.0, "Mean brightness (0-255) below which a dark frame that still shows the room "
                                       "fails (faces cannot be seen); from here up to dark_luma it warns.",
                                 min=0, max=255)
    flat_fraction: float = _opt(0.9, "Share of the picture within a few grey levels of one colour from which the "
                                     "frame counts as one flat colour: no picture (a capture device's \"no signal\" "
                                     "screen, a corrupted decode).", min=0.0, max=1.0)
    lost_fraction: float = _opt(0.2, "Height share of the picture's largest lost band (full rows each "
                                     "repeating the row above exactly: a flat band or block at the top, middle or "
                                     "end, a row smeared down) from which the picture counts as damaged.",
                                min=0.0, max=1.0)
    fps: float = _opt(30.0, "Frame rate the camera should deliver (the opencv backend asks for it).",
                      min=1.0, max=240.0)
    slow_fps_fraction: float = _opt(0.5, "A frame rate (measured by the opencv backend, as stated by a video file) "
                                         "below this share of fps warns; 0 turns the test off.", min=0.0, max=1.0)


@dataclass(frozen=True)
class MicrophoneConfig:
    backend: str = _opt("auto", "Microphone backend.", choices=("auto", "alsa", "file", "simulated"))
    device: str = _opt("default", "ALSA capture device name (alsa backend).")
    source: str = _opt("", "file: a WAV file.")
    required: bool = _opt(True, "A failing microphone makes the room not ready.")
    rate: int = _opt(16000, "Sample rate in Hz.", min=8000, max=192000)
    capture_s: float = _opt(1.0, "Seconds of audio captured per check.", min=0.1, max=30.0)
    silence_dbfs: float = _opt(-65.0, "RMS level (dBFS) of the sound (above 20 Hz, DC and mains hum taken out) "
                                      "below which the microphone counts as dead, muted or stuck.",
                               min=-120.0, max=0.0)
    clip_fraction: float = _opt(0.002, "Share of samples at full scale that counts as clipping.", min=0.0, max=1.0)
    noise_warn_dbfs: float = _opt(-45.0, "Ambient noise floor (dBFS: the 10th percentile of 20 ms levels, DC and "
                                         "mains hum taken out) above which the room is too noisy (warn).",
                                  min=-120.0, max=0.0)
    steady_spread_db: float = _opt(6.0, "The background counts as steady (a fan, traffic) when the quietest "
                                        "quarter of 20 ms moments lie within this many dB of the quietest "
                                        "(25th against 2nd percentile of their levels).",
                                   min=0.0, max=60.0)
    speech_swing_db: float = _opt(20.0, "Level swing (dB, 98th against 2nd percentile of 20 ms levels) from which a "
                                        "capture without a steady background counts as speech: the microphone "
                                        "works and the room is not called noisy.", min=0.0, max=120.0)
    mains_hz: float = _opt(50.0, "Mains frequency (50 Hz in the UK); hum is sought at it and its harmonics.",
                           min=40.0, max=70.0)
    hum_warn_dbfs: float = _opt(-60.0, "Level (dBFS) of mains hum, standing clearly above the background at the "
                                       "mains frequency and its harmonics, above which it warns.",
                                min=-120.0, max=0.0)
    dropout_ms: float = _opt(20.0, "A run of (near) zero samples at least this long inside live audio is a "
                                   "dropout (USB bandwidth, a loose cable).", min=1.0, max=1000.0)
    dropout_fail_count: int = _opt(2, "This many dropouts in one capture fail; fewer warn.", min=1, max=100)


@dataclass(frozen=True)
class DisplayConfig:
    backend: str = _opt("auto", "Display backend.", choices=("auto", "drm", "simulated"))
    sysfs_root: str = _opt("/sys/class/drm", "Where the DRM connectors are read from.")
    connector: str = _opt("", "Connector to check, e.g. \"HDMI-A-1\"; empty means any.")
    required: bool = _opt(True, "A failing display makes the room not ready.")
    require_edid: bool = _opt(True, "A connected output whose screen sends no EDID fails (it is the only sign of "
                                    "a missing screen when the output is forced on); false only warns.")
    cec_wake: bool = _opt(False, "Wake the screen over HDMI-CEC (cec-ctl) before checking it.")
    cec_device: str = _opt("/dev/cec0", "CEC device used by cec-ctl.")


@dataclass(frozen=True)
class ClockConfig:
    backend: str = _opt("auto", "Clock backend: the kernel's NTP state, or simulated.",
                        choices=("auto", "system", "simulated"))
    required: bool = _opt(True, "An unsynchronised clock makes the room not ready (the countdown depends on it).")
    # systemd-timesyncd lets the kernel's error bound climb to ~1 s between syncs: 2 s avoids false warnings.
    max_error_ms: float = _opt(2000.0, "Largest estimated clock error (ms) still counted as synchronised.", min=0.0)


@dataclass(frozen=True)
class NetworkConfig:
    hosts: list[str] = _opt([], "host:port pairs that must answer (broker, video service); empty skips the check.",
                            check=_host_port)
    required: bool = _opt(False, "An unreachable host makes the room not ready.")
    timeout_s: float = _opt(2.0, "Seconds to wait for each host.", min=0.1, max=30.0)


@dataclass(frozen=True)
class SpeakerConfig:
    enabled: bool = _opt(False, "Play a test tone and listen for it in the microphone (acoustic loopback).")
    required: bool = _opt(False, "A silent speaker makes the room not ready.")
    backend: str = _opt("auto", "Speaker backend.", choices=("auto", "alsa", "simulated"))
    device: str = _opt("default", "ALSA playback device name.")
    frequency_hz: float = _opt(1000.0, "Test tone frequency.", min=100.0, max=8000.0)
    duration_s: float = _opt(0.6, "Test tone length.", min=0.1, max=5.0)
    level_dbfs: float = _opt(-20.0, "Test tone level.", min=-60.0, max=0.0)
    min_snr_db: float = _opt(15.0, "How far above its neighbours the tone must stand in the capture.", min=0.0)


@dataclass(frozen=True)
class ChecksConfig:
    timeout_s: float = _opt(10.0, "A check that takes longer fails with a timeout.", min=0.5, max=120.0)
    interval_s: float = _opt(120.0, "Re-run the checks this often in every state so IT learns of a fault; "
                                    "0 means only on demand.", min=0.0, max=86400.0)


@dataclass(frozen=True)
class ButtonConfig:
    pin: str = _opt("GPIO17", "GPIO pin of the start button (to ground, internal pull-up).", check=_pin)
    hold_s: float = _opt(3.0, "Holding the button this long re-runs the checks from any state.", min=0.5, max=30.0)
    debounce_ms: float = _opt(50.0, "Presses closer together than this are contact bounce.", min=0.0, max=1000.0)


@dataclass(frozen=True)
class LightsConfig:
    kind: str = _opt("rgb", "One RGB LED, or three LEDs (red, amber, green).", choices=("rgb", "three"))
    red_pin: str = _opt("GPIO22", "Red LED (or red channel) pin.", check=_pin)
    green_pin: str = _opt("GPIO27", "Green LED (or green channel) pin.", check=_pin)
    blue_pin: str = _opt("GPIO24", "Blue channel pin (rgb) or amber LED pin (three).", check=_pin)
    active_high: bool = _opt(True, "False for common-anode RGB LEDs.")
    buzzer_pin: str = _opt("", "Optional buzzer pin; empty means none.", check=_pin)


@dataclass(frozen=True)
class ScheduleConfig:
    ics: str = _opt("", "The room's bookings: an iCalendar file, or an https:// URL (Exchange, Microsoft 365 and "
                        "Google publish a room's calendar as one); empty means none.", check=_ics)
    ics_ca: str = _opt("", "CA certificate file for an https:// calendar whose server is signed by a private CA; "
                           "empty uses the system's.")
    ics_timeout_s: float = _opt(10.0, "Seconds to wait for the calendar server to answer.", min=1.0, max=120.0)
    ics_refresh_s: float = _opt(300.0, "Fetch a calendar URL this often (a conditional request: an unchanged "
                                       "calendar is not downloaded again); a file is looked at every 5 s.",
                                min=1.0, max=86400.0)
    timezone: str = _opt("Europe/London", "Time zone of the room.", check=_timezone)
    joining_warning_min: float = _opt(3.0, "Minutes before the start when attendees should be joining.",
                                      min=0.0, max=60.0)
    overrun_min: float = _opt(90.0, "Minutes after the start after which the display marks an overrun "
                                    "(when the booking has no end time).", min=1.0, max=600.0)
    auto_end_min: float = _opt(240.0, "A conference still running this many minutes after its start is ended, "
                                      "so a forgotten room returns to idle.", min=10.0, max=1440.0)
    ended_s: float = _opt(120.0, "Seconds the display shows \"Conference ended\" before the room is idle again.",
                          min=0.0, max=3600.0)


@dataclass(frozen=True)
class WebConfig:
    host: str = _opt("0.0.0.0", "Address the web server listens on.")
    port: int = _opt(8080, "Port the web server listens on (0 picks a free one).", min=0, max=65535)
    simulator: bool = _opt(False, "Serve the simulator page (button, light, device faults) to anyone who can reach "
                                  "the kiosk; `kiosk run --simulate` also turns it on. Never on a real room.")
    trusted_hosts: list[str] = _opt([], "Host names (and addresses) the kiosk answers to, e.g. [\"kiosk-suite-1\", "
                                        "\"10.0.4.21\"]; other Host headers get 400. Empty: any.",
                                    check=_host_names)
    allow_from: list[str] = _opt([], "Networks the web server accepts connections from (the systemd unit's "
                                     "IPAddressAllow=, written by install-pi.sh), e.g. [\"10.0.4.0/24\"]. "
                                     "Empty: any.", check=_networks)


def _topic_prefix(value):
    if not value or not re.fullmatch(r"[A-Za-z0-9_\-/]+", value) or value.startswith("/") or value.endswith("/"):
        return "must be a non-empty MQTT topic prefix without wildcards or leading/trailing '/'"
    return None


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = _opt(True, "Publish the room's state to an MQTT broker for IT.")
    host: str = _opt("localhost", "Broker host name or address.")
    port: int = _opt(1883, "Broker port (8883 is usual with TLS).", min=1, max=65535)
    client_id: str = _opt("", "MQTT client id; empty means kiosk-<room id>.")
    username: str = _opt("", "User name, if the broker needs one.")
    password: str = _opt("", "Password (prefer password_file).")
    password_file: str = _opt("", "File holding the password (first line), readable only by the kiosk.")
    tls_ca: str = _opt("", "CA certificate file: setting it turns TLS on.")
    tls_cert: str = _opt("", "Client certificate file, for brokers that require one.")
    tls_key: str = _opt("", "Client key file.")
    keepalive: int = _opt(30, "Seconds between keepalives; the broker declares the kiosk offline after ~1.5x.",
                          min=5, max=3600)
    prefix: str = _opt("kiosk", "Topic prefix: topics are <prefix>/<room id>/...", check=_topic_prefix)
    discovery: bool = _opt(True, "Publish Home Assistant MQTT discovery messages.")
    discovery_prefix: str = _opt("homeassistant", "Home Assistant's discovery prefix.", check=_topic_prefix)
    heartbeat_s: float = _opt(60.0, "Re-publish the retained state this often even when nothing changed.",
                              min=1.0, max=3600.0)
    reconnect_min_s: float = _opt(0.5, "First wait before reconnecting to a lost broker (doubles each try).",
                                  min=0.1, max=60.0)
    reconnect_max_s: float = _opt(30.0, "Longest wait between reconnection attempts.", min=1.0, max=600.0)


@dataclass(frozen=True)
class ConferenceConfig:
    """Local variations of the rules in DOMAIN.md; the defaults are the common rule."""

    min_other_agencies: int = _opt(2, "Agencies with direct contact, besides children's social care, needed for "
                                      "quorum (D3).", min=0, max=10)
    health_as_one_agency: bool = _opt(True, "All health roles count as one agency towards quorum; false counts "
                                            "health visitor, school nurse, GP, paediatrician, midwife and mental "
                                            "health separately (D3).")
    late_after_min: float = _opt(0.0, "Minutes after the start time before an arrival is recorded as late "
                                      "(D6: any arrival after the start is late).", min=0.0, max=60.0)
    report_days_initial: int = _opt(2, "Working days before an initial conference by which reports are due "
                                       "(D8).", min=0, max=30)
    report_days_review: int = _opt(5, "Working days before a review conference by which reports are due (D8).",
                                   min=0, max=30)
    retention_days: int = _opt(7, "Days after a conference ends before its names and attendance record are "
                                   "purged from the kiosk, leaving only anonymous counts (D15).", min=1, max=3650)
    pin_min_length: int = _opt(6, "Fewest digits in the chair's PIN (at most 12).", min=4, max=12)
    lockout_attempts: int = _opt(5, "Wrong PINs from one device before it must wait.", min=1, max=100)
    lockout_delay_s: float = _opt(30.0, "First wait after too many wrong PINs; it doubles with each further "
                                        "wrong PIN.", min=1.0, max=3600.0)
    lockout_max_delay_s: float = _opt(900.0, "Longest wait after wrong PINs.", min=1.0, max=86400.0)
    lockout_global_attempts: int = _opt(20, "Wrong PINs from all devices together before everyone must wait.",
                                        min=1, max=1000)
    session_idle_min: float = _opt(30.0, "Minutes without a request after which the chair must sign in again.",
                                   min=1.0, max=720.0)
    session_max_hours: float = _opt(12.0, "Hours after signing in after which the chair must sign in again, "
                                          "however active.", min=0.5, max=72.0)
    secure_cookies: bool = _opt(False, "Always mark the session cookie Secure (set when the page is served only "
                                       "over HTTPS); false marks it Secure on HTTPS requests only.")


@dataclass(frozen=True)
class QualityConfig:
    """The quality report for child protection managers (D16): anonymous facts, kept apart from the record."""

    retention_months: int = _opt(24, "Months the anonymous quality facts of each conference are kept (D16); the "
                                      "record itself goes after [conference] retention_days.", min=1, max=120)
    publish: bool = _opt(True, "Publish each month's figures (totals only, never a conference) as a retained "
                               "MQTT message on <prefix>/<room>/quality/<YYYY-MM>.")


@dataclass(frozen=True)
class StorageConfig:
    state_dir: str = _opt("", "Where the kiosk keeps its database and PIN; empty means $STATE_DIRECTORY "
                              "(set by systemd) or ~/.local/state/kiosk.")


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``Config()`` is the all-defaults configuration."""

    room: RoomConfig = field(default_factory=RoomConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    microphone: MicrophoneConfig = field(default_factory=MicrophoneConfig)
    display: DisplayConfig = field(default_factory=DisplayConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    speaker: SpeakerConfig = field(default_factory=SpeakerConfig)
    checks: ChecksConfig = field(default_factory=ChecksConfig)
    button: ButtonConfig = field(default_factory=ButtonConfig)
    lights: LightsConfig = field(default_factory=LightsConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    web: WebConfig = field(default_factory=WebConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    conference: ConferenceConfig = field(default_factory=ConferenceConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    #: The file this configuration came from, if any.
    path: str | None = None

    def replace(self, section: str, **values) -> "Config":
        """A copy with some keys of one section changed (validated like the file)."""
        current = dataclasses.asdict(getattr(self, section))
        current.update(values)
        built = _build_section(section, current, source=None)
        return dataclasses.replace(self, **{section: built})

    def state_dir(self) -> Path:
        """The directory for the database and PIN hash (created on first use by callers)."""
        if self.storage.state_dir:
            return Path(self.storage.state_dir)
        if os.environ.get("STATE_DIRECTORY"):
            return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
        return Path.home() / ".local" / "state" / "kiosk"


SECTIONS: dict[str, type] = {
    f.name: f.type if isinstance(f.type, type) else eval(f.type)  # noqa: S307 - our own annotations
    for f in dataclasses.fields(Config) if f.name != "path"
}


class _Source:
    """The file text, to find the line of a section or key for error messages."""

    def __init__(self, path, text):
        self.path = str(path)
        self.lines = text.splitlines()

    def line_of(self, section, key=None):
        in_section = False
        header = re.compile(r"\s*\[\s*" + re.escape(section) + r"\s*\]")
        any_header = re.compile(r"\s*\[")
        keyline = re.compile(r"\s*" + re.escape(key) + r"\s*=") if key else None
        for number, line in enumerate(self.lines, 1):
            if header.match(line):
                if key is None:
                    return number
                in_section = True
            elif any_header.match(line):
                in_section = False
            elif in_section and keyline and keyline.match(line):
                return number
        return None


def _error(message, section, key, source):
    if source is None:
        return ConfigError(message, section=section, key=key)
    return ConfigError(message, section=section, key=key, path=source.path, line=source.line_of(section, key))


def _type_name(tp):
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, "a list of strings")


def _coerce(value, tp):
    """``value`` converted to ``tp``, or raise TypeError. Integers are accepted for floats."""
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        # NaN is refused: it compares false with every limit, so it would pass any range check.
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
            return float(value)  # OverflowError for an integer too large for a float
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # pins may be written as plain numbers
    elif typing.get_origin(tp) is list:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    raise TypeError


def _build_section(name, values, source):
    cls = SECTIONS[name]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise _error(f"unknown key (known keys: {known})", name, key, source)
        tp = hints[key]
        try:
            value = _coerce(value, tp)
        except TypeError:
            raise _error(f"must be {_type_name(tp)}, not {value!r}", name, key, source) from None
        except OverflowError:
            raise _error("is far too large a number", name, key, source) from None
        meta = fields[key].metadata
        if meta["choices"] and value not in meta["choices"]:
            raise _error(f"must be one of {', '.join(meta['choices'])}, not {value!r}", name, key, source)
        if meta["min"] is not None and value < meta["min"]:
            raise _error(f"must be at least {meta['min']}, not {value!r}", name, key, source)
        if meta["max"] is not None and value > meta["max"]:
            raise _error(f"must be at most {meta['max']}, not {value!r}", name, key, source)
        if meta["check"] and (problem := meta["check"](value)):
            raise _error(problem, name, key, source)
        kwargs[key] = value
    return cls(**kwargs)


def parse(text: str, path: str = "<config>") -> Config:
    """Build a :class:`Config` from TOML text, validating every section and key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    except RecursionError:
        raise ConfigError("not valid TOML: arrays or tables nested too deeply", path=path) from None
    except ValueError as exc:  # tomllib's own int(): more digits than Python converts
        raise ConfigError(f"not valid TOML: {exc}", path=path) from None
    source = _Source(path, text)
    sections = {}
    for name, values in data.items():
        if name not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise ConfigError(f"unknown section (known sections: {known})", section=name, path=path,
                              line=source.line_of(name))
        if not isinstance(values, dict):
            raise ConfigError("must be a [section] of keys", section=name, path=path, line=source.line_of(name))
        sections[name] = _build_section(name, values, source)
    return Config(**sections, path=path)


def load(path: str | os.PathLike | None = None) -> Config:
    """Load the configuration.

    With ``path`` None, ``$KIOSK_CONFIG`` or the first of :data:`DEFAULT_PATHS` that
    exists is used; with none of them, the all-defaults configuration is returned.
    A ``path`` given explicitly must exist.
    """
    if path is None:
        path = os.environ.get(ENV_CONFIG) or next((p for p in DEFAULT_PATHS if os.path.exists(p)), None)
        if path is None:
            return Config()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the config file: {exc.strerror}", path=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("the config file is not UTF-8 text", path=str(path)) from None
    return parse(text, str(path))


def describe() -> list[tuple[str, str, object, str]]:
    """Every (section, key, default, doc), for documentation and ``kiosk config --defaults``."""
    rows = []
    for name, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            rows.append((name, f.name, default, f.metadata["doc"]))
    return rows

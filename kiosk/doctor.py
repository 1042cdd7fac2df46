"""``kiosk doctor``: what the kiosk sees of the Pi, for IT's first-line support.

Each probe looks at one thing (the board, the boot settings, the camera, the microphone,
the screen, the GPIO chip, the clock, the MQTT broker, the services) and returns a
:class:`Finding`: ``OK``, ``WARN`` or ``FAIL``, what was seen, and for a problem a hint
saying what to do about it. Unlike ``kiosk check`` it does not capture frames or
sound: it answers "is the hardware there and set up?", so it also works while the
kiosk service holds the devices.

Every file is read under ``root`` (``/`` on the Pi; tests point it at fake
``sys``/``proc``/``dev`` trees) and every command goes through ``run``, which has
:func:`subprocess.run`'s signature and raises FileNotFoundError for a missing command.
Commands always run on this machine, whatever ``root`` is.
"""

from __future__ import annotations

import json as _json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from kiosk import platform
from kiosk.checks.network import probe
from kiosk.config import Config
from kiosk.errors import DeviceError
from kiosk.hardware.display import DrmDisplay

OK, WARN, FAIL = "OK", "WARN", "FAIL"
#: Seconds any one command may take.
COMMAND_TIMEOUT_S = 10.0
#: Seconds to wait for the MQTT broker to accept a TCP connection.
BROKER_TIMEOUT_S = 3.0
#: The marker install-pi.sh puts around its block in config.txt.
BOOT_MARKER = "# >>> hybrid-room-kiosk >>>"
UNITS = ("kiosk.service", "kiosk-display.service")

Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class Finding:
    """One thing the doctor looked at: ``status`` is OK, WARN or FAIL; ``hint`` says what to do."""

    name: str
    status: str
    detail: str
    hint: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Context:
    def __init__(self, cfg: Config, root: str | os.PathLike, run: Runner):
        self.cfg = cfg
        self.root = Path(root)
        self.real_root = self.root.resolve() == Path("/")
        self.run_fn = run

    def path(self, absolute: str) -> Path:
        """``absolute`` (e.g. "/proc/asound/cards") under the root."""
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> str | None:
        try:
            return self.path(absolute).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def run(self, *args: str) -> subprocess.CompletedProcess | None:
        """Run a command; None when it is not installed. TimeoutExpired goes up to :func:`gather`."""
        try:
            return self.run_fn(list(args), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
        except FileNotFoundError:
            return None

    def kernel_cmdline(self) -> list[str]:
        return (self.read("/proc/cmdline") or "").split()


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = ((done.stderr or "") + "\n" + (done.stdout or "")).strip().splitlines()
    return lines[-1].strip() if lines else f"exit code {done.returncode}"


# -- the board and its boot settings -----------------------------------------------------

def _os_name(ctx: _Context) -> str | None:
    text = ctx.read("/etc/os-release") or ""
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.M)
    return match.group(1) if match else None


def check_config(ctx: _Context) -> Finding:
    cfg = ctx.cfg
    where = cfg.path or "built-in defaults (no config file)"
    detail = f"{where}: room {cfg.room.id} ({cfg.room.name})"
    simulated = [d for d in ("camera", "microphone", "display", "clock") if getattr(cfg, d).backend == "simulated"]
    if simulated:
        names = ", ".join(f"[{d}]" for d in simulated)
        return Finding("config", WARN, f"{detail}; {names} backend = \"simulated\"",
                       f"The room's real {', '.join(simulated)} are not checked: set backend = \"auto\" in {where}")
    return Finding("config", OK, detail)


def check_model(ctx: _Context) -> Finding:
    model = platform.board_model(ctx.root)
    os_name = _os_name(ctx)
    suffix = f" ({os_name})" if os_name else ""
    if model is None:
        return Finding("model", FAIL, f"No device-tree model: not a Raspberry Pi{suffix}",
                       "Off a Raspberry Pi every device is simulated. On a Pi, /proc/device-tree/model "
                       "is missing only if the boot partition's device tree is damaged: reinstall Raspberry Pi OS")
    if not model.startswith("Raspberry Pi"):
        return Finding("model", WARN, f"{model}{suffix}: not a Raspberry Pi",
                       "backend = \"auto\" simulates devices on other boards: set each [device] backend explicitly")
    return Finding("model", OK, model + suffix)


def check_boot(ctx: _Context) -> Finding:
    boot = next((d for d in ("/boot/firmware", "/boot") if ctx.path(d + "/config.txt").is_file()), None)
    if boot is None:
        return Finding("boot config", WARN, "No config.txt in /boot/firmware or /boot",
                       "Not a Raspberry Pi boot partition, or it is not mounted: the kiosk's camera, display and "
                       "watchdog settings cannot be checked")
    config = ctx.read(boot + "/config.txt") or ""
    cmdline = (ctx.read(boot + "/cmdline.txt") or "").split()
    problems = []
    if BOOT_MARKER not in config:
        problems.append(f"the kiosk's settings are not in {boot}/config.txt")
    if "consoleblank=0" not in cmdline:
        problems.append(f"consoleblank=0 is not in {boot}/cmdline.txt")
    if problems:
        return Finding("boot config", WARN, "; ".join(problems).capitalize(),
                       "Run scripts/install-pi.sh from the kiosk's checkout (it merges firmware_config/config.txt "
                       "and cmdline-additions.txt), then reboot")
    running = ctx.kernel_cmdline()
    if running and "consoleblank=0" not in running:
        return Finding("boot config", WARN, "Kiosk boot settings installed but not active yet",
                       "Reboot the Pi to apply them")
    watchdog = "hardware watchdog present" if ctx.path("/dev/watchdog").exists() else "no /dev/watchdog"
    return Finding("boot config", OK, f"Kiosk settings in {boot}/config.txt and cmdline.txt; {watchdog}")


# -- camera ------------------------------------------------------------------------------

_CAMERA_LINE = re.compile(r"^\s*(\d+)\s*:\s*(\S+)(?:\s*\[([^\]]*)\])?", re.M)
#: Video nodes that are codecs or image processors, present on a Pi with no camera at all.
_NOT_A_CAMERA = re.compile(r"codec|isp|pispbe|hevc|rpivid|decode|encode|-dec\b|-enc\b|embedded", re.I)
_CAMERA_HINT = ("Check the ribbon cable (contacts the right way round, latch closed) and "
                "camera_auto_detect=1 in /boot/firmware/config.txt; a USB camera should appear in `ls /dev/video*`")


def _libcamera_cameras(ctx: _Context) -> tuple[str, list[str]] | None:
    """("rpicam-hello", ["imx708 [4608x2592 ...]", ...]) from the first libcamera tool installed, else None."""
    for tool in ("rpicam-hello", "libcamera-hello"):
        done = ctx.run(tool, "--list-cameras")
        if done is None:
            continue
        text = (done.stdout or "") + "\n" + (done.stderr or "")
        cameras = [f"{m.group(2)} [{m.group(3)}]" if m.group(3) else m.group(2) for m in _CAMERA_LINE.finditer(text)]
        return tool, cameras
    return None


def _v4l2_cameras(ctx: _Context) -> tuple[list[str], int]:
    """Camera names from /sys/class/video4linux (codec and ISP nodes left out) and the number of /dev/video* nodes."""
    nodes = sorted(p.name for p in ctx.path("/dev").glob("video*"))
    names: list[str] = []
    sysfs = ctx.path("/sys/class/video4linux")
    for node in sorted(sysfs.glob("video*")):
        name = (ctx.read(f"/sys/class/video4linux/{node.name}/name") or "").strip()
        index = (ctx.read(f"/sys/class/video4linux/{node.name}/index") or "0").strip()
        if not name or index != "0":  # index 1 is a USB camera's metadata node
            continue
        if name.startswith("rp1-cfe"):
            name = "CSI camera (rp1-cfe)"
        elif name.startswith("unicam"):
            name = "CSI camera (unicam)"
        elif _NOT_A_CAMERA.search(name):
            continue
        if name not in names:
            names.append(name)
    return names, len(nodes)


def check_camera(ctx: _Context) -> Finding:
    listed = _libcamera_cameras(ctx)
    if listed is not None:
        tool, cameras = listed
        if cameras:
            return Finding("camera", OK, f"{len(cameras)} camera(s) ({tool}): {'; '.join(cameras)}")
        return Finding("camera", FAIL, f"No camera found ({tool} --list-cameras lists none)", _CAMERA_HINT)
    names, nodes = _v4l2_cameras(ctx)
    note = " (rpicam-hello not installed: read from /sys/class/video4linux)"
    if names:
        return Finding("camera", OK, f"{len(names)} camera(s): {', '.join(names)}{note}")
    if nodes and not ctx.path("/sys/class/video4linux").is_dir():
        return Finding("camera", WARN, f"{nodes} /dev/video* node(s), names unknown (no /sys/class/video4linux)",
                       "Install rpicam-apps-lite and run `rpicam-hello --list-cameras` to tell cameras from codecs")
    return Finding("camera", FAIL, "No camera found" + (f" ({nodes} codec/ISP video nodes only)" if nodes else ""),
                   _CAMERA_HINT)


# -- microphone --------------------------------------------------------------------------

_CARD_LINE = re.compile(r"^\s*(\d+)\s*\[([^\]]*?)\s*\]:\s*(\S+)\s*-\s*(.*?)\s*$", re.M)
_ARECORD_LINE = re.compile(r"^card (\d+): (\S+) \[(.*?)\], device (\d+):", re.M)
_MIC_HINT = ("Plug in the USB conference microphone (`arecord -l` lists capture devices), then set "
             "[microphone] device, e.g. \"plughw:CARD=<id>,DEV=0\", or install firmware_config/asound.conf "
             "as /etc/asound.conf")


def _sound_cards(ctx: _Context) -> dict[int, tuple[str, str]] | None:
    """{index: (id, name)} from /proc/asound/cards, or None when ALSA is absent."""
    text = ctx.read("/proc/asound/cards")
    if text is None:
        return None
    return {int(m.group(1)): (m.group(2), m.group(4)) for m in _CARD_LINE.finditer(text)}


def _capture_devices(ctx: _Context, cards: dict[int, tuple[str, str]]) -> list[tuple[int, str, str, int]]:
    """[(card, id, name, device)] that can record: from ``arecord -l``, else /proc/asound/cardN/pcmMc."""
    done = ctx.run("arecord", "-l")
    if done is not None and (done.returncode == 0 or "no soundcards" in (done.stderr or "").lower()):
        return [(int(m.group(1)), m.group(2), m.group(3), int(m.group(4)))
                for m in _ARECORD_LINE.finditer(done.stdout or "")]
    found = []
    for index, (card_id, name) in sorted(cards.items()):
        for pcm in sorted(ctx.path(f"/proc/asound/card{index}").glob("pcm*c")):
            found.append((index, card_id, name, int(pcm.name[3:-1])))
    return found


def _configured_card(device: str) -> str | None:
    """The card an ALSA device string names ("plughw:CARD=Mic,DEV=0", "hw:1,0"), or None for a named PCM."""
    match = re.search(r"CARD=([^,]+)", device) or re.match(r"(?:plug)?hw:([^,]+)", device)
    return match.group(1) if match else None


def check_microphone(ctx: _Context) -> Finding:
    mic = ctx.cfg.microphone
    if mic.backend not in ("auto", "alsa"):
        return Finding("microphone", OK, f"[microphone] backend = \"{mic.backend}\": ALSA not used")
    cards = _sound_cards(ctx)
    if cards is None:
        return Finding("microphone", FAIL, "No sound system (no /proc/asound/cards)",
                       "The kernel has no ALSA sound cards: dtparam=audio=on in /boot/firmware/config.txt enables "
                       "the Pi's own audio, and a USB microphone brings its own card")
    capture = _capture_devices(ctx, cards)
    if not capture:
        listed = ", ".join(f"{i} {card_id}" for i, (card_id, _) in sorted(cards.items())) or "none"
        return Finding("microphone", FAIL, f"No microphone: no sound card can record (cards: {listed})", _MIC_HINT)
    names = "; ".join(f"card {c} \"{name}\" (plughw:CARD={card_id},DEV={d})" for c, card_id, name, d in capture)
    device = mic.device
    wanted = _configured_card(device)
    if wanted is not None:
        if not any(wanted in (str(c), card_id) for c, card_id, _, _ in capture):
            where = ctx.cfg.path or "the config file"
            return Finding("microphone", FAIL, f"[microphone] device \"{device}\" is not a capture device here; "
                           f"found {names}", f"Set [microphone] device to one of those in {where}")
    elif device == "default":
        own_config = ctx.path("/etc/asound.conf").is_file()
        if not own_config and not any(c == 0 for c, _, _, _ in capture):
            first = cards.get(0, ("?", "?"))[0]
            return Finding("microphone", WARN, f"\"default\" records from card 0 ({first}), which has no "
                           f"microphone; found {names}", _MIC_HINT)
    return Finding("microphone", OK, f"{names}; kiosk uses \"{device}\"")


# -- display -----------------------------------------------------------------------------

def _forced(ctx: _Context, connector: str) -> bool:
    """True when the kernel command line forces ``connector`` on (video=HDMI-A-1:...D)."""
    return any(t.startswith(f"video={connector}:") and t.endswith(("D", "e")) for t in ctx.kernel_cmdline())


def _display_connected(ctx: _Context):
    """The connected connectors that ``[display]`` names, or the Finding saying why there are none."""
    disp = ctx.cfg.display
    try:
        connectors = [c for c in DrmDisplay(ctx.path(disp.sysfs_root)).connectors()
                      if not c.name.startswith("Writeback")]
    except DeviceError as exc:
        return Finding("display", FAIL, str(exc),
                       "The KMS display driver is not loaded: dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt")
    if not connectors:
        return Finding("display", FAIL, "The display driver lists no connectors",
                       "dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt, then reboot")
    if disp.connector and disp.connector not in {c.name for c in connectors}:
        present = ", ".join(c.name for c in connectors)
        return Finding("display", FAIL, f"[display] connector {disp.connector} not found (this Pi has {present})",
                       "Set [display] connector to one of those, or leave it empty for any")
    candidates = [c for c in connectors if not disp.connector or c.name == disp.connector]
    connected = [c for c in candidates if c.connected]
    if not connected:
        names = ", ".join(f"{c.name} {c.status}" for c in candidates)
        return Finding("display", FAIL, f"No screen connected ({names})",
                       "Check the HDMI cable (the port next to the USB-C power on a Pi 5 is HDMI0) and that the "
                       "screen is switched on; `cat /sys/class/drm/card*-HDMI-A-*/status` shows what the Pi sees")
    return connected


def _screen_words(c) -> str:
    """``HDMI-A-1: Room TV (SAM), 1920x1080`` (or ``no EDID``)."""
    info = c.edid_info()
    who = " ".join(x for x in ((info or {}).get("name"), f"({info['manufacturer']})" if info else None) if x)
    return f"{c.name}: {who or 'no EDID'}" + (f", {c.preferred_mode}" if c.preferred_mode else "")


def check_display(ctx: _Context) -> Finding:
    disp = ctx.cfg.display
    if disp.backend not in ("auto", "drm"):
        return Finding("display", OK, f"[display] backend = \"{disp.backend}\": DRM not read")
    connected = _display_connected(ctx)
    if isinstance(connected, Finding):
        return connected
    detail = "Screen connected on " + "; ".join(_screen_words(c) for c in connected)
    if not any(c.edid for c in connected):
        if any(_forced(ctx, c.name) for c in connected):
            return Finding("display", FAIL, detail + " (forced on by video= in cmdline.txt, but no screen answers)",
                           "The output is forced on, so only the missing EDID shows that no screen is there: check "
                           "the HDMI cable and that the screen is switched on")
        return Finding("display", WARN, detail, "The screen does not identify itself (no EDID): check the HDMI cable")
    return Finding("display", OK, detail)


# -- GPIO --------------------------------------------------------------------------------

def check_gpio(ctx: _Context) -> Finding:
    chips = sorted(ctx.path("/dev").glob("gpiochip*"), key=lambda p: (len(p.name), p.name))
    labels = []
    for base in ("/sys/class/gpio", "/sys/bus/gpio/devices"):
        for chip in sorted(ctx.path(base).glob("gpiochip*")):
            label = (ctx.read(f"{base}/{chip.name}/label") or "").strip()
            if label and label not in labels:
                labels.append(label)
    if not chips:
        return Finding("gpio", FAIL, "No GPIO chip (/dev/gpiochip*)",
                       "The start button and status light need the Pi's GPIO: on Raspberry Pi OS the GPIO driver is "
                       "built in, so a missing /dev/gpiochip0 means this is not a Pi or /dev is not mounted")
    detail = ", ".join(p.name for p in chips) + (f" ({', '.join(labels)})" if labels else "")
    blocked = [p.name for p in chips if not os.access(p, os.R_OK | os.W_OK)]
    if blocked and len(blocked) == len(chips):
        return Finding("gpio", WARN, f"{detail}: not accessible to this user",
                       "The kiosk user must be in group gpio (install-pi.sh adds it); run the doctor as a member "
                       "of group gpio or with sudo to test access")
    return Finding("gpio", OK, detail)


# -- clock -------------------------------------------------------------------------------

_CLOCK_HINT = ("The Pi has no battery clock: it needs network time before the countdown is right. Check the "
               "network and that the NTP server answers (UDP 123): `timedatectl timesync-status`")


def check_clock(ctx: _Context) -> Finding:
    done = ctx.run("timedatectl", "show")
    props = {}
    if done is not None and done.returncode == 0:
        props = dict(line.split("=", 1) for line in (done.stdout or "").splitlines() if "=" in line)
    error_ms = None
    if ctx.real_root:
        try:
            from kiosk.hardware.clock import SystemClock

            status = SystemClock().read()
            error_ms = status.max_error_ms
            props.setdefault("NTPSynchronized", "yes" if status.synced else "no")
        except (DeviceError, OSError):
            pass
    synced = props.get("NTPSynchronized")
    if synced is None:
        reason = _last_line(done) if done is not None else "timedatectl not installed"
        return Finding("clock", WARN, f"Cannot tell whether the clock is synchronised ({reason})",
                       "`timedatectl status` shows it on a Pi running systemd")
    extras = []
    if props.get("Timezone"):
        extras.append(f"time zone {props['Timezone']}")
    if error_ms is not None:
        extras.append(f"error bound {error_ms:.0f} ms")
    extra = f" ({', '.join(extras)})" if extras else ""
    if synced != "yes":
        hint = _CLOCK_HINT
        if props.get("NTP") == "no":
            hint = "Network time is switched off: `sudo timedatectl set-ntp true`"
        return Finding("clock", FAIL, f"Clock not synchronised to network time{extra}", hint)
    if error_ms is not None and error_ms > ctx.cfg.clock.max_error_ms:
        return Finding("clock", WARN, f"Clock synchronised, but its error bound is large{extra}",
                       "firmware_config/timesyncd.conf.d/kiosk.conf keeps it small (PollIntervalMaxSec=256)")
    return Finding("clock", OK, f"Synchronised to network time{extra}")


# -- MQTT broker -------------------------------------------------------------------------

def check_broker(ctx: _Context) -> Finding:
    mqtt = ctx.cfg.mqtt
    if not mqtt.enabled:
        return Finding("broker", OK, "MQTT is off ([mqtt] enabled = false)")
    ok, ms, error = probe(mqtt.host, mqtt.port, BROKER_TIMEOUT_S)
    where = f"{mqtt.host}:{mqtt.port}"
    if ok:
        return Finding("broker", OK, f"MQTT broker {where} answered in {ms:.0f} ms")
    tls = " --cafile " + shlex.quote(mqtt.tls_ca) if mqtt.tls_ca else ""
    return Finding("broker", FAIL, f"MQTT broker {where} did not answer ({error})",
                   f"Check [mqtt] host and port, that the broker runs and the firewall lets port {mqtt.port} "
                   f"through; `mosquitto_sub -h {shlex.quote(mqtt.host)} -p {mqtt.port}{tls} -t 'kiosk/#' -v` "
                   "tests it from here. The room works without it; only IT's reporting stops")


def _probe_client(mqtt_cfg, client_id: str):
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    password = mqtt_cfg.password
    if mqtt_cfg.password_file:
        with open(mqtt_cfg.password_file, encoding="utf-8") as f:
            password = f.readline().rstrip("\r\n")
    if mqtt_cfg.username:
        client.username_pw_set(mqtt_cfg.username, password or None)
    if mqtt_cfg.tls_ca or mqtt_cfg.tls_cert:
        client.tls_set(ca_certs=mqtt_cfg.tls_ca or None, certfile=mqtt_cfg.tls_cert or None,
                       keyfile=mqtt_cfg.tls_key or None)
    return client


def probe_publishes(cfg: Config, timeout: float = BROKER_TIMEOUT_S) -> tuple[str, dict[str, str]]:
    """Log in as this kiosk (client id ``<client id>-doctor``, so the running kiosk is not thrown off) with
    MQTT 5 and publish, not retained, one message where the ACL must let the kiosk write: a reply topic
    (``<prefix>/<room>/response/doctor``, which nothing requested) and a discovery config nobody uses
    (``<discovery prefix>/binary_sensor/<room>/doctor_probe/config``, empty). Returns ("connected" or why not,
    {topic: the broker's reason} for each refused publish)."""
    import threading

    from kiosk.mqtt import topics as mqtt_topics

    m = cfg.mqtt
    base = mqtt_topics.RoomTopics(m.prefix, cfg.room.id)
    probes = [base.response("doctor")]
    if m.discovery:
        probes.append(mqtt_topics.discovery_config(m.discovery_prefix, "binary_sensor", cfg.room.id, "doctor_probe"))
    client = _probe_client(m, (m.client_id or f"kiosk-{cfg.room.id}") + "-doctor")
    connected, acked = threading.Event(), threading.Event()
    outcome: dict = {"connect": None, "acks": {}}

    def on_connect(c, u, flags, reason_code, properties):
        outcome["connect"] = reason_code
        connected.set()

    def on_publish(c, u, mid, reason_code, properties):
        outcome["acks"][mid] = str(reason_code) if reason_code.is_failure else None
        if len(outcome["acks"]) == len(probes):
            acked.set()

    client.on_connect, client.on_publish = on_connect, on_publish
    try:
        client.connect(m.host, m.port, 10)
    except (OSError, ValueError) as exc:
        return f"not connected ({exc})", {}
    client.loop_start()
    try:
        if not connected.wait(timeout):
            return "no MQTT answer (is it an MQTT port?)", {}
        if outcome["connect"].is_failure:
            return f"refused the login ({outcome['connect']})", {}
        mids = {}
        for topic in probes:
            payload = "" if "/doctor_probe/" in topic else '{"status":"ok","data":{"probe":"kiosk doctor"}}'
            mids[client.publish(topic, payload, qos=1).mid] = topic
        acked.wait(timeout)
        return "connected", {mids[mid]: reason for mid, reason in outcome["acks"].items() if reason}
    finally:
        client.disconnect()
        client.loop_stop()


def check_publishing(ctx: _Context) -> Finding:
    """Whether the broker accepts what this kiosk publishes: mosquitto 2.0 drops a publish its ACL denies and,
    under MQTT 3.1.1, acknowledges it all the same; under MQTT 5 it says "Not authorized"."""
    m = ctx.cfg.mqtt
    if not m.enabled or not probe(m.host, m.port, BROKER_TIMEOUT_S)[0]:
        return Finding("mqtt publish", OK, "Not tried (MQTT off or broker unreachable: see broker)")
    status, refused = probe_publishes(ctx.cfg)
    who = f"as {m.username!r}" if m.username else "anonymously"
    if status != "connected":
        return Finding("mqtt publish", WARN, f"Could not publish {who}: the broker {status}",
                       "Check [mqtt] username, password or password_file and tls_ca")
    if refused:
        topic, reason = next(iter(refused.items()))
        return Finding("mqtt publish", FAIL, f"The broker refuses this kiosk's publishes {who}: {topic} ({reason})"
                       + (f" and {len(refused) - 1} more" if len(refused) > 1 else ""),
                       "The broker's ACL must let the kiosk write <prefix>/<room id>/... and, for Home Assistant, "
                       f"{m.discovery_prefix}/+/<room id>/+/config (firmware_config/mosquitto/acl); or set [mqtt] "
                       "discovery = false. The kiosk also logs each refused topic")
    return Finding("mqtt publish", OK, f"The broker accepts this kiosk's publishes {who} (MQTT 5)")


# -- calendar ----------------------------------------------------------------------------

def check_calendar(ctx: _Context) -> Finding:
    """Fetch and parse the configured calendar now, as the kiosk's watcher does."""
    import time as _time
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from kiosk import calendar_ics
    from kiosk.calendar_source import KeptCopy, SourceError, open_source

    s = ctx.cfg.schedule
    if not s.ics:
        return Finding("calendar", OK, "No calendar ([schedule] ics is empty): start times come from the chair "
                                       "or `kiosk run --start`")
    source = open_source(s)
    began = _time.monotonic()
    try:
        data = source.fetch()
    except SourceError as exc:
        kept, meta = KeptCopy(ctx.cfg.state_dir()).load(s.ics)
        hint = ("Check [schedule] ics (for a URL: that it still works in a browser, ics_ca for a private CA, "
                "the proxy and firewall)")
        if kept is not None:
            return Finding("calendar", WARN, f"{source.describe()}: {exc.reason}; the room uses the copy kept from "
                           f"{meta.get('fetched_at') or 'earlier'}, which may be out of date", hint)
        return Finding("calendar", FAIL, f"{source.describe()}: {exc.reason}; the room shows no bookings", hint)
    took = (_time.monotonic() - began) * 1000
    now = datetime.now(ZoneInfo(s.timezone))
    try:
        parsed = calendar_ics.parse_calendar(data, *calendar_ics.window(now), s.timezone)
    except calendar_ics.CalendarError as exc:
        return Finding("calendar", FAIL, f"{source.describe()}: {exc.reason}",
                       "Export the room's calendar again as iCalendar (.ics)")
    events, bookings = parsed.events, len(parsed.bookings)
    detail = (f"{source.describe()} ({source.kind}, {len(data) // 1024} KB in {took:.0f} ms): {events} "
              f"event{'' if events == 1 else 's'}, {bookings} booking{'' if bookings == 1 else 's'} today and tomorrow")
    if parsed.skipped:
        return Finding("calendar", WARN, f"{detail}; {parsed.skipped} skipped: {'; '.join(parsed.reasons)}",
                       "The skipped events are left out of the room's bookings; the others are used")
    return Finding("calendar", OK, detail)


# -- services ----------------------------------------------------------------------------

_SERVICE_HINTS = {
    "kiosk.service": "`sudo systemctl enable --now kiosk` starts it; `journalctl -u kiosk -b` says why it stopped "
                     "(a configuration error names the file line)",
    "kiosk-display.service": "`journalctl -u kiosk-display -b`: the room screen's browser needs the kiosk running, "
                             "a screen and tty1 (no login prompt on it); `sudo systemctl restart kiosk-display`",
}


def check_services(ctx: _Context) -> list[Finding]:
    done = ctx.run("systemctl", "is-active", *UNITS)
    if done is None:
        return [Finding("services", WARN, "systemctl not found: not running under systemd",
                        "On the Pi the kiosk runs as kiosk.service and kiosk-display.service (install-pi.sh)")]
    states = (done.stdout or "").split()
    if len(states) != len(UNITS):
        return [Finding("services", WARN, f"Cannot ask systemd ({_last_line(done)})",
                        "`systemctl status kiosk kiosk-display` on the Pi")]
    findings = []
    for unit, state in zip(UNITS, states):
        name = unit.removesuffix(".service")
        if state == "active":
            findings.append(Finding(name, OK, f"{unit} active"))
        elif state in ("activating", "reloading", "deactivating"):
            findings.append(Finding(name, WARN, f"{unit} {state}", "Ask again in a few seconds"))
        else:
            findings.append(Finding(name, FAIL, f"{unit} {state}", _SERVICE_HINTS[unit]))
    return findings


def check_permissions(ctx: _Context) -> Finding:
    """The config writable by others, or secrets readable by others (kiosk.permissions)."""
    from kiosk import permissions

    found = permissions.problems(ctx.cfg)
    if found:
        return Finding("permissions", WARN, "; ".join(found),
                       "Others on the Pi could change the kiosk's settings or read its secrets: keep them "
                       + permissions.kiosk_user_hint())
    return Finding("permissions", OK, "Config not writable by others; secrets and state not readable by others")


def check_database(ctx: _Context) -> Finding:
    """SQLite's integrity check of the conference record, read-only (the kiosk may be running)."""
    import sqlite3

    from kiosk.conference.store import DB_FILENAME

    path = ctx.cfg.state_dir() / DB_FILENAME
    if not path.exists():
        return Finding("database", OK, f"No conference record yet ({path})")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=COMMAND_TIMEOUT_S)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(20)").fetchall()]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        rows = [str(exc)]
    if rows == ["ok"]:
        return Finding("database", OK, f"{path}: integrity check passed")
    return Finding("database", FAIL, f"{path} is damaged: {'; '.join(rows[:3])}",
                   "The chair's page answers 503 until it is restored: stop the kiosk, copy the file aside, "
                   "restore the last backup (docs/install.md), start the kiosk")

PROBES: tuple[tuple[str, Callable[[_Context], Finding | list[Finding]]], ...] = (
    ("config", check_config),
    ("model", check_model),
    ("boot config", check_boot),
    ("camera", check_camera),
    ("microphone", check_microphone),
    ("display", check_display),
    ("gpio", check_gpio),
    ("clock", check_clock),
    ("broker", check_broker),
    ("mqtt publish", check_publishing),
    ("calendar", check_calendar),
    ("services", check_services),
    ("permissions", check_permissions),
    ("database", check_database),
)



def gather(cfg: Config, root: str | os.PathLike = "/", run: Runner = subprocess.run) -> list[Finding]:
    """Every finding, in a fixed order. Never raises: a probe that fails becomes a WARN finding."""
    ctx = _Context(cfg, root, run)
    findings: list[Finding] = []
    for name, probe_fn in PROBES:
        try:
            result = probe_fn(ctx)
        except subprocess.TimeoutExpired as exc:
            command = " ".join(exc.cmd) if isinstance(exc.cmd, (list, tuple)) else str(exc.cmd)
            result = Finding(name, WARN, f"`{command}` did not answer within {exc.timeout:g} s",
                             "The device or service may be hung: try again, then reboot the Pi")
        except Exception as exc:  # one broken probe must not hide the others
            result = Finding(name, WARN, f"Could not be checked ({type(exc).__name__}: {exc})")
        findings.extend(result if isinstance(result, list) else [result])
    return findings


def render(findings: list[Finding]) -> str:
    """One line per finding, with its hint indented below; a count at the end."""
    width = max((len(f.name) for f in findings), default=0)
    lines = []
    for f in findings:
        lines.append(f"{f.status:<4}  {f.name:<{width}}  {f.detail}")
        if f.hint:
            lines.append(f"{'':4}  {'':<{width}}  hint: {f.hint}")
    counts = {s: sum(f.status == s for f in findings) for s in (OK, WARN, FAIL)}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines) + "\n"


def main(cfg: Config, root: str | os.PathLike = "/", json: bool = False, *, run: Runner = subprocess.run,
         out=None) -> int:
    """``kiosk doctor``: print the findings (or JSON); exit code 0 without a FAIL, else 1."""
    out = out or sys.stdout
    findings = gather(cfg, root, run)
    failed = any(f.status == FAIL for f in findings)
    if json:
        _json.dump({"room": cfg.room.id, "ok": not failed, "findings": [f.to_dict() for f in findings]}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"Hybrid Room Kiosk doctor: {cfg.room.name} ({cfg.room.id})\n")
        out.write(render(findings))
    return 1 if failed else 0

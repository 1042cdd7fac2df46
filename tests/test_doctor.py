"""``kiosk doctor`` against fake /proc, /sys, /dev and /boot trees, with the command runner injected."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from drm import connector, edid, make_drm_tree

from kiosk import doctor
from kiosk.config import Config
from kiosk.doctor import FAIL, OK, WARN, Finding, gather, main, render

RPICAM_LIST = """Available cameras
-----------------
0 : imx708_wide [4608x2592 10-bit RGGB] (/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a)
    Modes: 'SRGGB10_CSI2P' : 1536x864 [120.13 fps - (768, 432)/3072x1728 crop]
                             2304x1296 [56.03 fps - (0, 0)/4608x2592 crop]
"""

ASOUND_CARDS = """\
 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0
                      vc4-hdmi-0
 1 [vc4hdmi1       ]: vc4-hdmi - vc4-hdmi-1
                      vc4-hdmi-1
 2 [Microphone     ]: USB-Audio - Jabra SPEAK 510 USB
                      GN Netcom A/S Jabra SPEAK 510 USB at usb-xhci-hcd.0-1, full speed
"""

ARECORD_L = """**** List of CAPTURE Hardware Devices ****
card 2: Microphone [Jabra SPEAK 510 USB], device 0: USB Audio [USB Audio]
  Subdevices: 1/1
  Subdevice #0: subdevice #0
"""


ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, content: str | bytes = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def make_pi_tree(root: Path) -> Path:
    """A Raspberry Pi 5 as the doctor sees it: a USB camera, a USB microphone, a TV on HDMI-A-1, GPIO."""
    write(root / "proc/device-tree/model", b"Raspberry Pi 5 Model B Rev 1.0\x00")
    write(root / "etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')
    write(root / "boot/firmware/config.txt", "dtparam=audio=on\n\n# >>> hybrid-room-kiosk >>>\n[all]\n"
                                             "camera_auto_detect=1\n# <<< hybrid-room-kiosk <<<\n")
    write(root / "boot/firmware/cmdline.txt", "console=tty1 root=PARTUUID=1234-02 rootwait consoleblank=0\n")
    write(root / "proc/cmdline", "console=tty1 root=PARTUUID=1234-02 rootwait consoleblank=0\n")
    write(root / "dev/watchdog")
    # A USB camera (its metadata node has index 1) and the HEVC decoder every Pi 5 has.
    for node, name, index in (("video0", "USB Camera", "0"), ("video1", "USB Camera", "1"),
                              ("video19", "rpi-hevc-dec", "0")):
        write(root / "dev" / node)
        write(root / f"sys/class/video4linux/{node}/name", name + "\n")
        write(root / f"sys/class/video4linux/{node}/index", index + "\n")
    write(root / "proc/asound/cards", ASOUND_CARDS)
    (root / "proc/asound/card2/pcm0c").mkdir(parents=True)
    (root / "proc/asound/card0/pcm0p").mkdir(parents=True)
    write(root / "etc/asound.conf", "pcm.!default { type asym capture.pcm \"kioskmic\" }\n")
    make_drm_tree(root / "sys/class/drm", [connector("HDMI-A-1"), connector("HDMI-A-2", "disconnected")])
    write(root / "dev/gpiochip0")
    write(root / "dev/gpiochip4")
    write(root / "sys/class/gpio/gpiochip571/label", "pinctrl-rp1\n")
    return root


class Runner:
    """A fake subprocess.run: canned answers by program name; a program without one is not installed."""

    def __init__(self, answers: dict | None = None):
        self.answers = dict(answers or {})
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, args, **kwargs):
        self.calls.append((list(args), kwargs))
        answer = self.answers.get(args[0])
        if answer is None:
            raise FileNotFoundError(2, "No such file or directory", args[0])
        if isinstance(answer, BaseException):
            raise answer
        code, stdout, stderr = answer
        return subprocess.CompletedProcess(args, code, stdout, stderr)


def healthy_runner(**overrides) -> Runner:
    answers = {
        "arecord": (0, ARECORD_L, ""),
        "timedatectl": (0, "Timezone=Europe/London\nNTP=yes\nNTPSynchronized=yes\n", ""),
        "systemctl": (0, "active\nactive\n", ""),
    }
    answers.update(overrides)
    return Runner(answers)


@pytest.fixture
def pi(tmp_path):
    return make_pi_tree(tmp_path / "pi")


@pytest.fixture
def listening_port(tmp_path):
    """A real mosquitto on a free loopback port: the doctor logs in and publishes to it."""
    from mqtt_broker import Broker

    with Broker(tmp_path / "broker") as b:
        yield b.port


def config_for(port: int) -> Config:
    return Config().replace("mqtt", host="127.0.0.1", port=port)


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    return {f.name: f for f in findings}


def test_doctor_healthy_pi_is_all_ok(pi, listening_port):
    run = healthy_runner()
    cfg = config_for(listening_port).replace("storage", state_dir=str(pi / "state"))
    findings = gather(cfg, root=pi, run=run)
    assert [f.name for f in findings] == ["config", "model", "boot config", "camera", "microphone", "display",
                                          "gpio", "clock", "broker", "mqtt publish", "calendar", "kiosk",
                                          "kiosk-display", "permissions", "database"]
    assert [f for f in findings if f.status != OK] == []
    found = by_name(findings)
    assert found["model"].detail == "Raspberry Pi 5 Model B Rev 1.0 (Debian GNU/Linux 12 (bookworm))"
    assert "USB Camera" in found["camera"].detail and "hevc" not in found["camera"].detail
    assert found["camera"].detail.startswith("1 camera(s)")
    assert 'card 2 "Jabra SPEAK 510 USB" (plughw:CARD=Microphone,DEV=0)' in found["microphone"].detail
    assert found["display"].detail == "Screen connected on HDMI-A-1: Room TV (SAM), 1920x1080"
    assert found["gpio"].detail == "gpiochip0, gpiochip4 (pinctrl-rp1)"
    assert found["clock"].detail == "Synchronised to network time (time zone Europe/London)"
    assert found["broker"].detail.startswith(f"MQTT broker 127.0.0.1:{listening_port} answered")
    assert "hardware watchdog present" in found["boot config"].detail
    # Every command is bounded in time, and none is run through a shell.
    assert run.calls and all(kw["timeout"] == doctor.COMMAND_TIMEOUT_S for _, kw in run.calls)
    assert ["systemctl", "is-active", "kiosk.service", "kiosk-display.service"] in [a for a, _ in run.calls]


def test_doctor_main_exit_code_and_json(pi, listening_port):
    out = io.StringIO()
    assert main(config_for(listening_port), pi, json=True, run=healthy_runner(), out=out) == 0
    data = json.loads(out.getvalue())
    assert data["ok"] is True and data["room"] == "suite-1"
    assert {f["status"] for f in data["findings"]} == {OK}
    assert set(data["findings"][0]) == {"name", "status", "detail", "hint"}


def test_doctor_empty_tree_fails_with_hints(tmp_path, closed_port):
    empty = tmp_path / "empty"
    empty.mkdir()
    findings = by_name(gather(config_for(closed_port), root=empty, run=Runner()))
    for name in ("model", "camera", "microphone", "display", "gpio", "broker"):
        assert findings[name].status == FAIL, findings[name]
        assert findings[name].hint, name
    assert "ribbon cable" in findings["camera"].hint and "camera_auto_detect=1" in findings["camera"].hint
    assert "vc4-kms-v3d" in findings["display"].hint
    assert "connection refused" in findings["broker"].detail
    # What cannot be known without the tools is a warning, not a failure.
    assert findings["clock"].status == WARN and "timedatectl not installed" in findings["clock"].detail
    assert findings["services"].status == WARN and "systemctl not found" in findings["services"].detail
    assert findings["boot config"].status == WARN
    out = io.StringIO()
    assert main(config_for(closed_port), empty, run=Runner(), out=out) == 1
    text = out.getvalue()
    assert "FAIL  camera" in text and "hint: Check the ribbon cable" in text
    assert text.rstrip().endswith("6 FAIL")


def test_doctor_lists_cameras_with_rpicam_hello(pi, listening_port):
    run = healthy_runner(**{"rpicam-hello": (0, RPICAM_LIST, "")})
    camera = by_name(gather(config_for(listening_port), root=pi, run=run))["camera"]
    assert camera.status == OK
    assert camera.detail == "1 camera(s) (rpicam-hello): imx708_wide [4608x2592 10-bit RGGB]"


def test_doctor_falls_back_to_libcamera_hello_and_fails_on_no_camera(pi, listening_port):
    run = healthy_runner(**{"libcamera-hello": (0, "No cameras available!\n", "")})
    camera = by_name(gather(config_for(listening_port), root=pi, run=run))["camera"]
    assert camera.status == FAIL
    assert camera.detail == "No camera found (libcamera-hello --list-cameras lists none)"
    assert [a[0] for a, _ in run.calls][:2] == ["rpicam-hello", "libcamera-hello"]


def test_doctor_codec_nodes_alone_are_no_camera(pi, listening_port):
    for node in ("video0", "video1"):
        (pi / "dev" / node).unlink()
        for f in (pi / "sys/class/video4linux" / node).iterdir():
            f.unlink()
        (pi / "sys/class/video4linux" / node).rmdir()
    camera = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["camera"]
    assert camera.status == FAIL and "codec/ISP video nodes only" in camera.detail


def test_doctor_microphone_from_proc_when_arecord_is_missing(pi, listening_port):
    run = healthy_runner()
    del run.answers["arecord"]  # not installed
    mic = by_name(gather(config_for(listening_port), root=pi, run=run))["microphone"]
    assert mic.status == OK and "plughw:CARD=Microphone,DEV=0" in mic.detail


def test_doctor_microphone_default_device_on_hdmi_card_warns(pi, listening_port):
    (pi / "etc/asound.conf").unlink()
    mic = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["microphone"]
    assert mic.status == WARN
    assert mic.detail.startswith('"default" records from card 0 (vc4hdmi0)')
    assert "asound.conf" in mic.hint


@pytest.mark.parametrize("device, status", [
    ("plughw:CARD=Microphone,DEV=0", OK),
    ("hw:2,0", OK),
    ("plughw:CARD=Webcam,DEV=0", FAIL),
    ("hw:0,0", FAIL),
])
def test_doctor_microphone_configured_card_must_record(pi, listening_port, device, status):
    cfg = config_for(listening_port).replace("microphone", device=device)
    assert by_name(gather(cfg, root=pi, run=healthy_runner()))["microphone"].status == status


def test_doctor_microphone_without_capture_fails(pi, listening_port):
    run = healthy_runner(arecord=(0, "**** List of CAPTURE Hardware Devices ****\n", ""))
    mic = by_name(gather(config_for(listening_port), root=pi, run=run))["microphone"]
    assert mic.status == FAIL
    assert mic.detail == "No microphone: no sound card can record (cards: 0 vc4hdmi0, 1 vc4hdmi1, 2 Microphone)"


def test_doctor_display_unplugged_fails(tmp_path, listening_port):
    pi = make_pi_tree(tmp_path / "pi")
    drm = pi / "sys/class/drm"
    for path in sorted(drm.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    make_drm_tree(drm, [connector("HDMI-A-1", "disconnected"), connector("HDMI-A-2", "disconnected")])
    display = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["display"]
    assert display.status == FAIL
    assert display.detail == "No screen connected (HDMI-A-1 disconnected, HDMI-A-2 disconnected)"
    assert "HDMI cable" in display.hint


def test_doctor_display_forced_on_without_edid_fails(tmp_path, listening_port):
    # video=HDMI-A-1:...D makes the kernel report "connected" with no screen: only the missing EDID tells.
    pi = make_pi_tree(tmp_path / "pi")
    (pi / "sys/class/drm/card1-HDMI-A-1/edid").write_bytes(b"")
    display = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["display"]
    assert display.status == WARN
    write(pi / "proc/cmdline", "console=tty1 consoleblank=0 video=HDMI-A-1:1920x1080@60D\n")
    display = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["display"]
    assert display.status == FAIL and "forced on" in display.detail


def test_doctor_display_named_connector_missing(pi, listening_port):
    cfg = config_for(listening_port).replace("display", connector="DSI-1")
    display = by_name(gather(cfg, root=pi, run=healthy_runner()))["display"]
    assert display.status == FAIL
    assert display.detail == "[display] connector DSI-1 not found (this Pi has HDMI-A-1, HDMI-A-2)"


def test_doctor_display_reads_the_edid_name(tmp_path, listening_port):
    pi = make_pi_tree(tmp_path / "pi")
    (pi / "sys/class/drm/card1-HDMI-A-1/edid").write_bytes(edid("Board Room", "PHL"))
    display = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["display"]
    assert display.detail == "Screen connected on HDMI-A-1: Board Room (PHL), 1920x1080"


def test_doctor_clock_not_synchronised(pi, listening_port):
    run = healthy_runner(timedatectl=(0, "NTP=no\nNTPSynchronized=no\n", ""))
    clock = by_name(gather(config_for(listening_port), root=pi, run=run))["clock"]
    assert clock.status == FAIL and clock.hint == "Network time is switched off: `sudo timedatectl set-ntp true`"


def test_doctor_services_failed(pi, listening_port):
    run = healthy_runner(systemctl=(3, "failed\nactive\n", ""))
    found = by_name(gather(config_for(listening_port), root=pi, run=run))
    assert found["kiosk"].status == FAIL and "journalctl -u kiosk -b" in found["kiosk"].hint
    assert found["kiosk-display"].status == OK


def test_doctor_services_without_systemd_running(pi, listening_port):
    run = healthy_runner(systemctl=(1, "", "System has not been booted with systemd as init system (PID 1).\n"))
    services = by_name(gather(config_for(listening_port), root=pi, run=run))["services"]
    assert services.status == WARN and "System has not been booted with systemd" in services.detail


def test_doctor_hung_command_is_a_warning_and_the_rest_still_run(pi, listening_port):
    hung = subprocess.TimeoutExpired(["timedatectl", "show"], doctor.COMMAND_TIMEOUT_S)
    found = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner(timedatectl=hung)))
    assert found["clock"].status == WARN
    assert found["clock"].detail == "`timedatectl show` did not answer within 10 s"
    assert found["kiosk"].status == OK


def test_doctor_boot_settings_not_yet_active(pi, listening_port):
    write(pi / "proc/cmdline", "console=tty1 root=PARTUUID=1234-02 rootwait\n")
    boot = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["boot config"]
    assert boot.status == WARN and boot.hint == "Reboot the Pi to apply them"


def test_doctor_boot_settings_missing(pi, listening_port):
    write(pi / "boot/firmware/config.txt", "dtparam=audio=on\n")
    boot = by_name(gather(config_for(listening_port), root=pi, run=healthy_runner()))["boot config"]
    assert boot.status == WARN and "install-pi.sh" in boot.hint


def test_doctor_mqtt_off_and_simulated_backends(pi):
    cfg = Config().replace("mqtt", enabled=False).replace("camera", backend="simulated")
    found = by_name(gather(cfg, root=pi, run=healthy_runner()))
    assert found["broker"].status == OK and "enabled = false" in found["broker"].detail
    assert found["config"].status == WARN and "[camera]" in found["config"].detail


def test_doctor_render_lines():
    text = render([Finding("camera", FAIL, "No camera found", "Check the cable"),
                   Finding("gpio", OK, "gpiochip0")])
    assert text == ("FAIL  camera  No camera found\n"
                    "              hint: Check the cable\n"
                    "OK    gpio    gpiochip0\n"
                    "1 OK, 0 WARN, 1 FAIL\n")


def test_doctor_cli_json_on_an_empty_tree(tmp_path, capsys):
    from kiosk import cli

    config = write(tmp_path / "kiosk.toml", "[mqtt]\nenabled = false\n")
    (tmp_path / "empty").mkdir()
    assert cli.main(["doctor", "--config", str(config), "--root", str(tmp_path / "empty"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert {f["name"]: f["status"] for f in data["findings"]}["camera"] == FAIL


def test_doctor_warns_about_a_world_writable_config_and_world_readable_secrets(pi, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)  # others can reach what is inside
    (state / "chair-pin").write_text("x")
    (state / "chair-pin").chmod(0o644)
    password = tmp_path / "mqtt-password"
    password.write_text("secret\n")
    password.chmod(0o644)
    conf = tmp_path / "etc" / "config.toml"
    conf.parent.mkdir()
    conf.write_text(f'[storage]\nstate_dir = "{state}"\n[mqtt]\nusername = "k"\npassword_file = "{password}"\n')
    conf.chmod(0o666)
    from kiosk import config as config_module

    found = by_name(gather(config_module.load(str(conf)), root=pi, run=healthy_runner()))["permissions"]
    assert found.status == WARN
    assert f"{conf} can be changed by any user" in found.detail
    assert f"{password} can be read by any user" in found.detail
    assert f"{state / 'chair-pin'} can be read by any user" in found.detail
    assert f"the state directory {state} can be read by any user" in found.detail
    for path in (conf, password, state / "chair-pin"):
        path.chmod(0o600)
    state.chmod(0o700)
    assert by_name(gather(config_module.load(str(conf)), root=pi, run=healthy_runner()))["permissions"].status == OK


def test_doctor_integrity_check_finds_a_damaged_database(pi, tmp_path):
    from kiosk.conference.store import DB_FILENAME, ConferenceStore
    from kiosk_process import damage_database

    state = tmp_path / "state"
    store = ConferenceStore(state / DB_FILENAME)
    store.create_conference("initial", "2026-11-23", "10:00", "CP-2026-0142")
    store.close()
    cfg = Config().replace("storage", state_dir=str(state))
    assert by_name(gather(cfg, root=pi, run=healthy_runner()))["database"].status == OK
    damage_database(state / DB_FILENAME)
    found = by_name(gather(cfg, root=pi, run=healthy_runner()))["database"]
    assert found.status == FAIL and "damaged" in found.detail and "restore" in found.hint


# -- MQTT publishes and the calendar ----------------------------------------------------------

def test_doctor_mqtt_publish_refused_by_the_acl_fails_with_the_topic(pi, tmp_path):
    from mqtt_broker import Broker

    acl = "\n".join(line for line in (ROOT / "firmware_config" / "mosquitto" / "acl").read_text().splitlines()
                    if "homeassistant/+/%u" not in line)
    with Broker(tmp_path / "strict", users={"suite-1": "pw"}, acl=acl) as strict:
        cfg = config_for(strict.port).replace("mqtt", username="suite-1", password="pw")
        found = by_name(gather(cfg, root=pi, run=healthy_runner()))["mqtt publish"]
    assert found.status == FAIL
    assert "homeassistant/binary_sensor/suite-1/doctor_probe/config (Not authorized)" in found.detail
    assert "discovery = false" in found.hint


def test_doctor_mqtt_publish_accepted_by_the_shipped_acl(pi, tmp_path):
    from mqtt_broker import Broker

    acl = (ROOT / "firmware_config" / "mosquitto" / "acl").read_text()
    with Broker(tmp_path / "site", users={"suite-1": "pw"}, acl=acl) as site:
        cfg = config_for(site.port).replace("mqtt", username="suite-1", password="pw")
        found = by_name(gather(cfg, root=pi, run=healthy_runner()))["mqtt publish"]
    assert found.status == OK and "as 'suite-1'" in found.detail


def test_doctor_mqtt_publish_wrong_password_warns(pi, tmp_path):
    from mqtt_broker import Broker

    with Broker(tmp_path / "site", users={"suite-1": "pw"}) as site:
        cfg = config_for(site.port).replace("mqtt", username="suite-1", password="nope")
        found = by_name(gather(cfg, root=pi, run=healthy_runner()))["mqtt publish"]
    assert found.status == WARN and "refused the login" in found.detail and "nope" not in found.detail


ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@x\r\nDTSTART:20990101T090000Z\r\n"
       "SUMMARY:Smith family\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:2@x\r\nDTSTART:2099XX01T090000Z\r\n"
       "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_doctor_calendar_file_with_a_skipped_event_warns(pi, tmp_path):
    path = write(tmp_path / "room.ics", ICS)
    cfg = Config().replace("mqtt", enabled=False).replace("schedule", ics=str(path))
    found = by_name(gather(cfg, root=pi, run=healthy_runner()))["calendar"]
    assert found.status == WARN and "2 events" in found.detail and "1 skipped: event 2: DTSTART" in found.detail
    assert "Smith" not in found.detail


@pytest.mark.parametrize("count", [1, 2])
def test_doctor_calendar_counts_read_in_the_singular_or_plural(pi, tmp_path, count):
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y%m%d")
    events = "".join(f"BEGIN:VEVENT\r\nUID:{i}@x\r\nDTSTART:{tomorrow}T1{i}0000Z\r\nDTEND:{tomorrow}T1{i}3000Z\r\n"
                     f"SUMMARY:Conference\r\nEND:VEVENT\r\n" for i in range(count))
    path = write(tmp_path / "room.ics", f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{events}END:VCALENDAR\r\n")
    cfg = Config().replace("mqtt", enabled=False).replace("schedule", ics=str(path), timezone="UTC")
    found = by_name(gather(cfg, root=pi, run=healthy_runner()))["calendar"]
    words = "1 event, 1 booking today" if count == 1 else "2 events, 2 bookings today"
    assert found.status == OK and words in found.detail, found.detail

def test_doctor_calendar_none_missing_and_broken(pi, tmp_path):
    cfg = Config().replace("mqtt", enabled=False)
    assert by_name(gather(cfg, root=pi, run=healthy_runner()))["calendar"].status == OK
    cfg = cfg.replace("schedule", ics=str(tmp_path / "nowhere.ics")).replace("storage", state_dir=str(tmp_path / "s"))
    missing = by_name(gather(cfg, root=pi, run=healthy_runner()))["calendar"]
    assert missing.status == FAIL and "does not exist" in missing.detail
    write(tmp_path / "nowhere.ics", "BEGIN:VCALENDAR\r\nSUMMARY:Smith\r\n")
    broken = by_name(gather(cfg, root=pi, run=healthy_runner()))["calendar"]
    assert broken.status == FAIL and "no complete BEGIN:VCALENDAR" in broken.detail


def test_doctor_calendar_url_unreachable_says_the_kept_copy_is_used(pi, tmp_path, closed_port):
    from kiosk.calendar_source import KeptCopy

    url = f"http://127.0.0.1:{closed_port}/secret-token/room.ics"
    cfg = (Config().replace("mqtt", enabled=False).replace("schedule", ics=url, ics_timeout_s=2)
           .replace("storage", state_dir=str(tmp_path / "state")))
    assert by_name(gather(cfg, root=pi, run=healthy_runner()))["calendar"].status == FAIL
    KeptCopy(tmp_path / "state").save(url, ICS.encode(), {"fetched_at": "2026-11-23T09:00:00+00:00"})
    found = by_name(gather(cfg, root=pi, run=healthy_runner()))["calendar"]
    assert found.status == WARN and "unreachable" in found.detail and "2026-11-23T09:00" in found.detail
    assert "secret-token" not in found.detail

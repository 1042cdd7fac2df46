"""scripts/install-pi.sh with --dry-run and --root (a fake Pi's file system in tmp_path), and the files it installs."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "install-pi.sh"
FIRMWARE = REPO / "firmware_config"
BEGIN, END = "# >>> hybrid-room-kiosk >>>", "# <<< hybrid-room-kiosk <<<"

# Raspberry Pi OS Bookworm's own config.txt, shortened, with a setting of the owner's.
PI_CONFIG_TXT = """\
# For more options and information see
# http://rptl.io/configtxt
dtparam=audio=on
camera_auto_detect=1
display_auto_detect=1
auto_initramfs=1
dtoverlay=vc4-kms-v3d,cma-512
max_framebuffers=2
disable_fw_kms_setup=1
arm_64bit=1
disable_overscan=1
arm_boost=1
# The owner's own setting, which must survive.
dtparam=i2c_arm=on

[cm4]
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host
"""
PI_CMDLINE_TXT = ("console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 "
                  "fsck.repair=yes rootwait quiet splash plymouth.ignore-serial-consoles consoleblank=600\n")

INSTALLED = {
    "/etc/systemd/system/kiosk.service": REPO / "systemd/kiosk.service",
    "/etc/systemd/system.conf.d/kiosk-watchdog.conf": FIRMWARE / "systemd-system.conf.d/watchdog.conf",
    "/etc/systemd/timesyncd.conf.d/kiosk.conf": FIRMWARE / "timesyncd.conf.d/kiosk.conf",
    "/etc/kiosk/config.toml": FIRMWARE / "config.toml",
    "/etc/kiosk/config.toml.example": FIRMWARE / "config.toml",
}


def install(*args, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its content's hash (and every directory)."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


def at(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


@pytest.fixture
def pi(tmp_path) -> Path:
    """A fresh Raspberry Pi OS root: just its boot partition."""
    root = tmp_path / "pi"
    boot = root / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "config.txt").write_text(PI_CONFIG_TXT)
    (boot / "cmdline.txt").write_text(PI_CMDLINE_TXT)
    return root


def block_of(config_txt: str) -> list[str]:
    lines = config_txt.splitlines()
    return lines[lines.index(BEGIN):lines.index(END) + 1]


# -- --dry-run ---------------------------------------------------------------------------------

def test_install_dry_run_prints_commands_and_changes_nothing():
    targets = ["/opt/kiosk", "/etc/kiosk", "/etc/systemd/system/kiosk.service",
               "/etc/systemd/system/kiosk-display.service", "/etc/systemd/system.conf.d/kiosk-watchdog.conf",
               "/etc/systemd/timesyncd.conf.d/kiosk.conf", "/boot/firmware/config.txt"]

    def state():
        return {t: (os.path.exists(t), os.path.getmtime(t) if os.path.exists(t) else None) for t in targets}

    before = state()
    out = install("--dry-run").stdout
    assert state() == before
    assert "==> Dry run: nothing is changed" in out
    assert "would run: apt-get update" in out
    install_line = next(line for line in out.splitlines() if "apt-get install" in line)
    for package in ("python3-venv", "alsa-utils", "v4l-utils", "cage", "mosquitto-clients"):
        assert package in install_line.split()
    assert re.search(r"\bchromium(-browser)?\b", install_line)
    assert "would run: /opt/kiosk/venv/bin/pip install " in out and out.rstrip().endswith(
        "kiosk doctor --config /etc/kiosk/config.toml")
    assert "would run: usermod --append --groups gpio,video,audio,render kiosk" in out
    assert "would run: systemctl enable --now kiosk.service kiosk-display.service" in out
    # Every file is either written or already up to date.
    for path in ("/etc/systemd/system/kiosk.service", "/etc/systemd/system/kiosk-display.service"):
        assert re.search(rf"^(would write|unchanged): {re.escape(path)}\b", out, re.M), path


def test_install_dry_run_under_root_writes_nothing(pi):
    before = snapshot(pi)
    out = install("--dry-run", "--root", pi).stdout
    assert snapshot(pi) == before
    assert "would write: /boot/firmware/config.txt" in out
    assert "would write: /boot/firmware/cmdline.txt" in out
    assert "would write: /etc/kiosk/config.toml (" in out and "mode 0640" in out
    assert "skipped (--root): systemctl enable --now kiosk.service kiosk-display.service" in out


# -- --root: the files ----------------------------------------------------------------------

def test_install_root_writes_units_config_and_drop_ins(pi):
    out = install("--root", pi).stdout
    for path, source in INSTALLED.items():
        assert at(pi, path).read_bytes() == source.read_bytes(), path
    display = at(pi, "/etc/systemd/system/kiosk-display.service").read_text()
    assert display == (REPO / "systemd/kiosk-display.service").read_text()  # no Chromium here: the default path
    assert oct(at(pi, "/etc/kiosk/config.toml").stat().st_mode & 0o777) == "0o640"
    assert oct(at(pi, "/etc/systemd/system/kiosk.service").stat().st_mode & 0o777) == "0o644"
    # Commands are skipped, with a line each; nothing is left half-written.
    for command in ("apt-get update", "useradd --system", "python3 -m venv --system-site-packages /opt/kiosk/venv",
                    "chown root:kiosk /etc/kiosk/config.toml", "systemctl enable --now"):
        assert f"skipped (--root): {command}" in out
    assert not list(pi.rglob("*.kiosk-new"))
    assert "Boot settings changed: reboot to apply them" in out


def test_install_root_uses_chromium_browser_when_that_is_the_binary(pi):
    browser = at(pi, "/usr/bin/chromium-browser")
    browser.parent.mkdir(parents=True)
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    install("--root", pi)
    display = at(pi, "/etc/systemd/system/kiosk-display.service").read_text()
    assert "-- /usr/bin/chromium-browser --kiosk" in display
    assert "-- /usr/bin/chromium --kiosk" not in display


def test_install_root_twice_is_byte_identical(pi):
    install("--root", pi)
    first = snapshot(pi)
    out = install("--root", pi).stdout
    assert snapshot(pi) == first
    assert "wrote:" not in out and "reboot" not in out
    assert "unchanged: /boot/firmware/config.txt" in out and "unchanged: /boot/firmware/cmdline.txt" in out


def test_install_never_overwrites_the_kiosk_config(pi):
    own = at(pi, "/etc/kiosk/config.toml")
    own.parent.mkdir(parents=True)
    own.write_text('[room]\nid = "suite-7"\n')
    out = install("--root", pi).stdout
    assert own.read_text() == '[room]\nid = "suite-7"\n'
    assert "kept: /etc/kiosk/config.toml" in out
    assert at(pi, "/etc/kiosk/config.toml.example").read_bytes() == (FIRMWARE / "config.toml").read_bytes()



def test_install_root_writes_ip_allow_from_the_config_and_a_user_for_the_browser(pi):
    own = at(pi, "/etc/kiosk/config.toml")
    own.parent.mkdir(parents=True)
    own.write_text('[web]\nallow_from = ["10.0.4.0/24", "10.0.9.7"]\n[mqtt]\nhost = "10.0.1.5"\n'
                   '[network]\nhosts = ["10.0.2.8:443"]\n')
    at(pi, "/etc/resolv.conf").write_text("search council.example\nnameserver 10.0.0.53\n")
    out = install("--root", pi).stdout
    drop_in = at(pi, "/etc/systemd/system/kiosk.service.d/ip-allow.conf").read_text()
    assert "IPAddressDeny=any\n" in drop_in
    assert "IPAddressAllow=localhost 10.0.4.0/24 10.0.9.7\n" in drop_in
    assert "IPAddressAllow=10.0.1.5 10.0.2.8 10.0.0.53\n" in drop_in
    assert "skipped (--root): useradd --system --user-group --home-dir /var/lib/kiosk-display" in out
    # Without allow_from: any address, and the drop-in says so.
    own.write_text('[room]\nid = "suite-7"\n')
    install("--root", pi)
    drop_in = at(pi, "/etc/systemd/system/kiosk.service.d/ip-allow.conf").read_text()
    assert "IPAddressAllow" not in drop_in.replace("(no IPAddressAllow=)", "") and "allow_from is empty" in drop_in


# -- --root: config.txt and cmdline.txt -----------------------------------------------------------

def test_install_config_txt_keeps_the_owners_settings_and_appends_the_block(pi):
    install("--root", pi)
    text = at(pi, "/boot/firmware/config.txt").read_text()
    assert text.startswith(PI_CONFIG_TXT + "\n" + BEGIN + "\n")
    assert text.endswith(END + "\n")
    block = block_of(text)
    assert block[1:-1] == [
        ("#dtoverlay=vc4-kms-v3d   (left out: config.txt already loads it above)"
         if line == "dtoverlay=vc4-kms-v3d" else line)
        for line in (FIRMWARE / "config.txt").read_text().splitlines()
    ]
    active = [line for line in block if line and not line.startswith("#")]
    assert active == ["[all]", "camera_auto_detect=1", "dtparam=audio=on", "dtparam=watchdog=on",
                      "hdmi_force_hotplug=1"]
    assert at(pi, "/boot/firmware/config.txt.before-kiosk").read_text() == PI_CONFIG_TXT


def test_install_config_txt_loads_the_overlay_when_only_a_board_section_has_it(pi):
    config = at(pi, "/boot/firmware/config.txt")
    config.write_text("[pi4]\ndtoverlay=vc4-kms-v3d\n[all]\n")
    install("--root", pi)
    assert "dtoverlay=vc4-kms-v3d" in block_of(config.read_text())


def test_install_config_txt_replaces_an_old_block_in_place(pi):
    config = at(pi, "/boot/firmware/config.txt")
    config.write_text("dtparam=audio=on\n" + BEGIN + "\n[all]\ngpu_mem=128\n" + END + "\n# after\nhdmi_group=1\n")
    install("--root", pi)
    text = config.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "gpu_mem=128" not in text
    assert text.startswith("dtparam=audio=on\n" + BEGIN + "\n")
    assert text.endswith(END + "\n# after\nhdmi_group=1\n")


def test_install_config_txt_with_a_broken_block_stops(pi):
    config = at(pi, "/boot/firmware/config.txt")
    config.write_text("dtparam=audio=on\n" + BEGIN + "\n[all]\n")
    done = install("--root", pi, check=False)
    assert done.returncode != 0
    assert "fix it by hand" in done.stderr
    assert config.read_text() == "dtparam=audio=on\n" + BEGIN + "\n[all]\n"


def test_install_cmdline_stays_one_line_with_parameters_replaced(pi):
    cmdline = at(pi, "/boot/firmware/cmdline.txt")
    cmdline.write_text("console=tty1 root=PARTUUID=4e639091-02 rootwait video=HDMI-A-1:1280x720@60 "
                       "video=HDMI-A-2:800x600 consoleblank=600\n")
    install("--root", pi)
    text = cmdline.read_text()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.split() == ["console=tty1", "root=PARTUUID=4e639091-02", "rootwait", "video=HDMI-A-2:800x600",
                            "consoleblank=0", "video=HDMI-A-1:1920x1080@60D"]
    assert at(pi, "/boot/firmware/cmdline.txt.before-kiosk").read_text().endswith("consoleblank=600\n")


def test_install_cmdline_parameters_come_from_the_additions_file(pi):
    install("--root", pi)
    wanted = [line.strip() for line in (FIRMWARE / "cmdline-additions.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert wanted == ["consoleblank=0", "video=HDMI-A-1:1920x1080@60D"]
    tokens = at(pi, "/boot/firmware/cmdline.txt").read_text().split()
    assert tokens[-len(wanted):] == wanted
    assert tokens[:-len(wanted)] == [t for t in PI_CMDLINE_TXT.split() if not t.startswith("consoleblank=")]


def test_install_without_boot_partition_leaves_boot_alone(tmp_path):
    root = tmp_path / "debian"
    root.mkdir()
    out = install("--root", root).stdout
    assert "no /boot/firmware: not a Raspberry Pi boot partition" in out
    assert not (root / "boot").exists()
    assert at(root, "/etc/systemd/system/kiosk.service").exists()


# -- --uninstall --------------------------------------------------------------------------------

def test_uninstall_removes_units_venv_and_boot_settings_but_keeps_config(pi):
    install("--root", pi)
    state = at(pi, "/var/lib/kiosk/kiosk.db")
    state.parent.mkdir(parents=True)
    state.write_text("records")
    out = install("--root", pi, "--uninstall").stdout
    for path in ("/etc/systemd/system/kiosk.service", "/etc/systemd/system/kiosk-display.service",
                 "/etc/systemd/system.conf.d/kiosk-watchdog.conf", "/etc/systemd/timesyncd.conf.d/kiosk.conf",
                 "/opt/kiosk"):
        assert not at(pi, path).exists(), path
    assert at(pi, "/boot/firmware/config.txt").read_text() == PI_CONFIG_TXT
    cmdline = at(pi, "/boot/firmware/cmdline.txt").read_text()
    assert cmdline.count("\n") == 1
    assert "consoleblank=0" not in cmdline and "video=" not in cmdline and "rootwait" in cmdline
    assert at(pi, "/etc/kiosk/config.toml").exists() and state.read_text() == "records"
    assert "skipped (--root): systemctl disable --now kiosk.service kiosk-display.service" in out
    assert "--purge removes them" in out


def test_uninstall_purge_removes_config_and_state(pi):
    install("--root", pi)
    at(pi, "/var/lib/kiosk").mkdir(parents=True)
    out = install("--root", pi, "--uninstall", "--purge").stdout
    assert not at(pi, "/etc/kiosk").exists() and not at(pi, "/var/lib/kiosk").exists()
    assert "skipped (--root): userdel kiosk" in out


@pytest.mark.parametrize("args, message", [
    (["--frobnicate"], "unknown option: --frobnicate"),
    (["--purge"], "--purge goes with --uninstall"),
    (["--root", "/nonexistent/kiosk-root"], "no such directory"),
])
def test_install_rejects_bad_options(args, message):
    done = install(*args, check=False)
    assert done.returncode == 2 and message in done.stderr


def test_install_help_describes_the_options():
    out = install("--help").stdout
    for option in ("--dry-run", "--root DIR", "--uninstall", "--purge"):
        assert option in out


def test_install_script_is_shellcheck_clean():
    """Every shell script we ship, the installer and the two README commands included."""
    scripts = [SCRIPT, *SCRIPT.parent.glob("run-*"), SCRIPT.parent / "setup.sh", SCRIPT.parents[1] / ".ci" / "run"]
    done = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


# -- the firmware_config files it installs ----------------------------------------------------------

def test_config_txt_has_no_comments_after_values():
    # The firmware reads "dtparam=audio=on # comment" as part of the value.
    for line in (FIRMWARE / "config.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"\[[a-z0-9]+\]|[a-z_0-9]+=[^#\s]+", line), line


def test_drop_ins_set_the_watchdog_and_poll_interval():
    watchdog = (FIRMWARE / "systemd-system.conf.d/watchdog.conf").read_text()
    assert "[Manager]" in watchdog and re.search(r"^RuntimeWatchdogSec=15$", watchdog, re.M)
    timesync = (FIRMWARE / "timesyncd.conf.d/kiosk.conf").read_text()
    assert "[Time]" in timesync and re.search(r"^PollIntervalMaxSec=256$", timesync, re.M)


def test_asound_conf_example_parses(tmp_path):
    # alsa-lib reads $XDG_CONFIG_HOME/alsa/asoundrc: a syntax error would hide the devices it defines.
    (tmp_path / "alsa").mkdir()
    shutil.copy(FIRMWARE / "asound.conf", tmp_path / "alsa" / "asoundrc")
    done = subprocess.run(["arecord", "-L"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    assert "kioskmic\n    Room conference microphone (USB)" in done.stdout, done.stdout + done.stderr

"""The display backends, read from fake DRM sysfs trees; CEC wake through a fake cec-ctl on PATH."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from drm import connector, edid, make_drm_tree

from kiosk.config import DisplayConfig
from kiosk.errors import DeviceError, DeviceMissing
from kiosk.hardware import display as display_mod
from kiosk.hardware.display import Connector, DrmDisplay, SimulatedDisplay, make_edid, open_display


def fake_cec_ctl(bin_dir: Path, body: str) -> Path:
    """An executable ``cec-ctl`` in ``bin_dir`` running the shell ``body``; returns the log path it may write."""
    bin_dir.mkdir(exist_ok=True)
    log = bin_dir / "cec-ctl.log"
    script = bin_dir / "cec-ctl"
    script.write_text(f"#!/bin/sh\nLOG='{log}'\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return log


@pytest.fixture
def cec_device(tmp_path) -> str:
    # cec-ctl is faked, so the device only has to exist.
    dev = tmp_path / "cec0"
    dev.touch()
    return str(dev)


def test_drm_reads_connectors_like_sysfs(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector("HDMI-A-1"), connector("HDMI-A-2", "disconnected")])
    hdmi1, hdmi2 = DrmDisplay(root).connectors()
    assert (hdmi1.card, hdmi1.name, hdmi1.status, hdmi1.enabled) == ("card1", "HDMI-A-1", "connected", True)
    assert hdmi1.modes == ["1920x1080", "1280x720", "640x480"]
    assert hdmi1.preferred_mode == "1920x1080"
    assert hdmi1.edid == edid()
    assert (hdmi2.name, hdmi2.connected, hdmi2.enabled, hdmi2.edid, hdmi2.modes) == (
        "HDMI-A-2", False, False, b"", [])


def test_drm_skips_entries_without_status(tmp_path):
    # card1, renderD128 and version are in every real tree and are not connectors.
    root = make_drm_tree(tmp_path / "drm", [])
    assert sorted(p.name for p in root.iterdir()) == ["renderD128", "version"]
    assert DrmDisplay(root).connectors() == []


def test_drm_missing_enabled_file_reads_as_unknown(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector("DSI-1")])
    (root / "card1-DSI-1" / "enabled").unlink()
    assert DrmDisplay(root).connectors()[0].enabled is None


def test_drm_unreadable_edid_reads_as_empty(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector()])
    edid_file = root / "card1-HDMI-A-1" / "edid"
    edid_file.unlink()
    edid_file.mkdir()  # reading it now fails with an OSError, as some drivers do with no screen
    assert DrmDisplay(root).connectors()[0].edid == b""


def test_drm_missing_root_raises_device_missing(tmp_path):
    with pytest.raises(DeviceMissing, match="does not exist"):
        DrmDisplay(tmp_path / "nowhere").connectors()


def test_drm_unreadable_root_raises_device_error(tmp_path):
    not_a_dir = tmp_path / "drm"
    not_a_dir.write_text("")
    with pytest.raises(DeviceError, match="Cannot read display connectors"):
        DrmDisplay(not_a_dir).connectors()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads directories whatever their mode")
def test_drm_root_without_permission_raises_device_error(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector()])
    root.chmod(0)
    try:
        with pytest.raises(DeviceError, match="Permission denied"):
            DrmDisplay(root).connectors()
    finally:
        root.chmod(0o755)


@pytest.mark.parametrize("data, expected", [
    (edid("Room TV", "SAM"), {"manufacturer": "SAM", "name": "Room TV"}),
    (edid("ExactlyThirtn", "GSM"), {"manufacturer": "GSM", "name": "ExactlyThirtn"}),
    (edid(None, "DEL"), {"manufacturer": "DEL", "name": None}),
    (edid(header_ok=False), None),
    (edid()[:100], None),
    (b"", None),
])
def test_connector_edid_info(data, expected):
    assert Connector("HDMI-A-1", "card1", "connected", True, data, []).edid_info() == expected


def test_make_edid_is_valid_and_names_the_screen():
    data = make_edid("Boardroom", "ABC")
    assert len(data) == 128 and sum(data) % 256 == 0
    assert Connector("HDMI-A-1", "card1", "connected", True, data).edid_info() == {
        "manufacturer": "ABC", "name": "Boardroom"}


def test_simulated_display_reads_back_its_sysfs_tree():
    with SimulatedDisplay() as display:
        hdmi1, hdmi2 = display.connectors()
        assert (display.root / "card1-HDMI-A-1" / "status").read_text() == "connected\n"
        assert hdmi1.connected and hdmi1.preferred_mode == "1920x1080"
        assert hdmi1.edid_info() == {"manufacturer": "KSK", "name": "Room TV"}
        assert hdmi2.name == "HDMI-A-2" and not hdmi2.connected


def test_simulated_display_unplug_and_replug():
    with SimulatedDisplay(connected=False) as display:
        hdmi1 = display.connectors()[0]
        assert (hdmi1.status, hdmi1.edid, hdmi1.modes) == ("disconnected", b"", [])
        display.connected = True
        assert display.connectors()[0].connected and display.connectors()[0].edid
        display.connected = False
        assert not display.connected
        assert (display.root / "card1-HDMI-A-1" / "edid").read_bytes() == b""
        assert display.describe() == "simulated display (HDMI-A-1 unplugged)"


def test_simulated_display_close_removes_tree_and_is_idempotent():
    display = SimulatedDisplay()
    root = display.root
    assert root.is_dir()
    display.close()
    display.close()
    assert not root.exists()
    with pytest.raises(DeviceError):
        display.connectors()


def test_simulated_display_wake_is_a_no_op():
    with SimulatedDisplay() as display:
        assert display.wake() is None


def test_cec_wake_without_cec_ctl_gives_a_note(tmp_path, monkeypatch, cec_device):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    display = DrmDisplay(tmp_path, cec_wake=True, cec_device=cec_device)
    assert display.wake() == "CEC not available (cec-ctl not installed)"


def test_cec_wake_without_device_gives_a_note(tmp_path, monkeypatch):
    log = fake_cec_ctl(tmp_path / "bin", 'echo "$*" >> "$LOG"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    display = DrmDisplay(tmp_path, cec_wake=True, cec_device=str(tmp_path / "cec9"))
    assert display.wake() == f"CEC not available (no {tmp_path / 'cec9'})"
    assert not log.exists()


def test_cec_wake_runs_playback_then_image_view_on(tmp_path, monkeypatch, cec_device):
    log = fake_cec_ctl(tmp_path / "bin", 'echo "$*" >> "$LOG"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert DrmDisplay(tmp_path, cec_wake=True, cec_device=cec_device).wake() is None
    assert log.read_text().splitlines() == [
        f"-d {cec_device} --playback -S",
        f"-d {cec_device} --to 0 --image-view-on",
    ]


def test_cec_wake_disabled_runs_nothing(tmp_path, monkeypatch, cec_device):
    log = fake_cec_ctl(tmp_path / "bin", 'echo "$*" >> "$LOG"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert DrmDisplay(tmp_path, cec_device=cec_device).wake() is None
    assert not log.exists()


def test_cec_wake_failure_gives_a_note_with_the_error(tmp_path, monkeypatch, cec_device):
    fake_cec_ctl(tmp_path / "bin", 'echo "ioctl CEC_ADAP_S_LOG_ADDRS failed" >&2; exit 1')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    note = DrmDisplay(tmp_path, cec_wake=True, cec_device=cec_device).wake()
    assert note == "CEC wake failed (ioctl CEC_ADAP_S_LOG_ADDRS failed)"


def test_cec_wake_timeout_gives_a_note(tmp_path, monkeypatch, cec_device):
    fake_cec_ctl(tmp_path / "bin", "exec sleep 5")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(display_mod, "CEC_TIMEOUT_S", 0.2)
    note = DrmDisplay(tmp_path, cec_wake=True, cec_device=cec_device).wake()
    assert note == "CEC wake timed out after 0.2 s"


def test_open_display_drm_uses_config(tmp_path):
    cfg = DisplayConfig(sysfs_root=str(tmp_path), cec_wake=True, cec_device="/dev/cec1")
    display = open_display(cfg, "drm")
    assert isinstance(display, DrmDisplay) and display.backend == "drm"
    assert (display.sysfs_root, display.cec_wake, display.cec_device) == (tmp_path, True, "/dev/cec1")
    assert display.describe() == f"DRM connectors in {tmp_path}, CEC wake on /dev/cec1"


def test_open_display_simulated_and_unknown():
    with open_display(DisplayConfig(), "simulated") as display:
        assert isinstance(display, SimulatedDisplay) and display.backend == "simulated"
    with pytest.raises(ValueError, match="unknown display backend"):
        open_display(DisplayConfig(), "auto")


def test_make_edid_passes_edid_decode_conformity(tmp_path):
    path = tmp_path / "edid.bin"
    path.write_bytes(make_edid())
    done = subprocess.run(["edid-decode", "-c", str(path)], capture_output=True, text=True, timeout=10, check=False)
    assert "EDID conformity: PASS" in done.stdout, done.stdout

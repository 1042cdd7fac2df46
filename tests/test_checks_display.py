"""The display check on fake DRM sysfs trees, through the real DrmDisplay."""

from __future__ import annotations

import pytest
from drm import connector, edid, make_drm_tree

from kiosk.checks.display import analyse_connectors, check_display
from kiosk.checks.result import Status
from kiosk.config import DisplayConfig
from kiosk.hardware.display import Connector, Display, DrmDisplay, SimulatedDisplay

NOT_DETECTED = "Screen not detected on {}: is it switched on and the HDMI cable plugged in?"
NO_EDID = "Screen connected but not identifying itself (no EDID): check the HDMI cable"
NO_SCREEN_ANSWERING = ("No screen answering on HDMI-A-1 (no EDID): is the screen plugged in and switched on? "
                       "Check the HDMI cable")

HDMI2_EMPTY = connector("HDMI-A-2", "disconnected")


@pytest.mark.parametrize("connectors, wanted, status, reason", [
    ([connector(), HDMI2_EMPTY], "", Status.PASS, "Screen connected on HDMI-A-1 (Room TV, 1920x1080)"),
    ([HDMI2_EMPTY, connector("HDMI-A-1", edid_bytes=edid(None))], "", Status.PASS,
     "Screen connected on HDMI-A-1 (1920x1080)"),
    ([connector("HDMI-A-1", "disconnected"), HDMI2_EMPTY], "", Status.FAIL,
     NOT_DETECTED.format("HDMI-A-1 or HDMI-A-2")),
    ([connector("HDMI-A-1", "disconnected")], "", Status.FAIL, NOT_DETECTED.format("HDMI-A-1")),
    ([connector(), HDMI2_EMPTY], "HDMI-A-2", Status.FAIL, NOT_DETECTED.format("HDMI-A-2")),
    ([connector("HDMI-A-1", "unknown")], "", Status.FAIL, NOT_DETECTED.format("HDMI-A-1")),
    ([connector("HDMI-A-1", edid_bytes=b""), HDMI2_EMPTY], "", Status.FAIL, NO_SCREEN_ANSWERING),
    ([connector("HDMI-A-1", edid_bytes=edid(header_ok=False))], "", Status.WARN,
     "Screen connected but its identification (EDID) is unreadable: check the HDMI cable"),
    ([], "", Status.FAIL, "No display output found: the display driver lists no connectors"),
    ([connector(), HDMI2_EMPTY], "DSI-1", Status.FAIL,
     "Display connector DSI-1 not found (this device has HDMI-A-1, HDMI-A-2): check [display] connector"),
])
def test_display_check_table(tmp_path, connectors, wanted, status, reason):
    root = make_drm_tree(tmp_path / "drm", connectors)
    result = check_display(DrmDisplay(root), DisplayConfig(sysfs_root=str(root), connector=wanted))
    assert (result.status, result.reason) == (status, reason)


def test_display_pass_metrics(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector(), HDMI2_EMPTY])
    result = check_display(DrmDisplay(root), DisplayConfig())
    assert result.metrics == {"connectors": 2, "connected": 1, "mode_width": 1920, "mode_height": 1080,
                              "edid_bytes": 128}


def test_display_fail_metrics_have_no_mode(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector("HDMI-A-1", "disconnected"), HDMI2_EMPTY])
    result = check_display(DrmDisplay(root), DisplayConfig())
    assert result.metrics == {"connectors": 2, "connected": 0, "mode_width": None, "mode_height": None,
                              "edid_bytes": 0}


def test_display_named_connector_passes_when_connected(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [HDMI2_EMPTY, connector("HDMI-A-1", card="card0")])
    result = check_display(DrmDisplay(root), DisplayConfig(connector="HDMI-A-1"))
    assert result.status is Status.PASS and result.reason.startswith("Screen connected on HDMI-A-1")


def test_display_prefers_a_screen_that_identifies_itself(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector("HDMI-A-1", edid_bytes=b""),
                                            connector("HDMI-A-2", edid_bytes=edid("Side TV"))])
    result = check_display(DrmDisplay(root), DisplayConfig())
    assert result.reason == "Screen connected on HDMI-A-2 (Side TV, 1920x1080)"
    assert result.metrics["connected"] == 2


def test_display_ignores_writeback_connectors(tmp_path):
    # The Pi's GPU lists a Writeback connector that reports itself connected but is no screen.
    root = make_drm_tree(tmp_path / "drm", [connector("HDMI-A-1", "disconnected"),
                                            connector("Writeback-1", modes=[], edid_bytes=b"")])
    result = check_display(DrmDisplay(root), DisplayConfig())
    assert (result.status, result.reason) == (Status.FAIL, NOT_DETECTED.format("HDMI-A-1"))
    assert result.metrics["connectors"] == 1


def test_display_interlaced_mode_is_parsed():
    hdmi = Connector("HDMI-A-1", "card1", "connected", True, edid(), ["1920x1080i", "720x576"])
    result = analyse_connectors([hdmi], DisplayConfig())
    assert result.reason == "Screen connected on HDMI-A-1 (Room TV, 1920x1080i)"
    assert (result.metrics["mode_width"], result.metrics["mode_height"]) == (1920, 1080)


@pytest.mark.parametrize("status", ["pass", "fail"])
def test_display_note_is_appended_to_the_reason(status):
    connected = status == "pass"
    hdmi = Connector("HDMI-A-1", "card1", "connected" if connected else "disconnected", connected,
                     edid() if connected else b"", ["1920x1080"] if connected else [])
    result = analyse_connectors([hdmi], DisplayConfig(), note="CEC not available (cec-ctl not installed)")
    head = "Screen connected on HDMI-A-1 (Room TV, 1920x1080). " if connected else NOT_DETECTED.format("HDMI-A-1") + " "
    assert result.reason == head + "CEC not available (cec-ctl not installed)"


def test_display_unreadable_root_fails_with_reason(tmp_path):
    result = check_display(DrmDisplay(tmp_path / "nowhere"), DisplayConfig())
    assert result.status is Status.FAIL
    assert result.reason.startswith(f"No display driver: {tmp_path / 'nowhere'} does not exist")
    assert result.metrics["connectors"] == 0


def test_display_cec_wake_without_cec_ctl_is_a_note_not_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    root = make_drm_tree(tmp_path / "drm", [connector()])
    cfg = DisplayConfig(sysfs_root=str(root), cec_wake=True, cec_device=str(tmp_path / "cec0"))
    result = check_display(DrmDisplay(root, cec_wake=True, cec_device=cfg.cec_device), cfg)
    assert result.status is Status.PASS
    assert result.reason.endswith(". CEC not available (cec-ctl not installed)")


def test_display_wakes_only_when_configured(tmp_path):
    class CountingDisplay(Display):
        backend = "counting"
        wakes = 0

        def connectors(self):
            return []

        def wake(self):
            self.wakes += 1
            return "woken"

    display = CountingDisplay()
    check_display(display, DisplayConfig())
    assert display.wakes == 0
    result = check_display(display, DisplayConfig(cec_wake=True))
    assert display.wakes == 1 and result.reason.endswith(". woken")


def test_display_simulated_plug_and_unplug():
    with SimulatedDisplay() as display:
        assert check_display(display, DisplayConfig()).status is Status.PASS
        display.connected = False
        result = check_display(display, DisplayConfig())
        assert (result.status, result.reason) == (Status.FAIL, NOT_DETECTED.format("HDMI-A-1 or HDMI-A-2"))



def test_display_missing_edid_only_warns_when_edid_is_not_required(tmp_path):
    root = make_drm_tree(tmp_path / "drm", [connector("HDMI-A-1", edid_bytes=b"")])
    result = check_display(DrmDisplay(root), DisplayConfig(sysfs_root=str(root), require_edid=False))
    assert result.status is Status.WARN and result.reason == NO_EDID


def test_display_analysis_functions_stay_under_complexity_20():
    # The team's limit; analyse_connectors once grew to 21 branches in one function.
    from pathlib import Path

    from radon.complexity import cc_visit

    import kiosk.checks.display as module

    blocks = cc_visit(Path(module.__file__).read_text(encoding="utf-8"))
    assert {b.name for b in blocks} >= {"analyse_connectors", "check_display"}
    assert [(b.name, b.complexity) for b in blocks if b.complexity > 20] == []

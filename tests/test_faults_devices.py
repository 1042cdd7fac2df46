"""Devices failing under a running room controller, with the real backends on fake low-level devices.

The camera is the ``file`` backend reading an MJPG video through OpenCV; the microphone
is the ``alsa`` backend running the real ``arecord`` on an ALSA ``file`` plugin device;
the display is the ``drm`` backend reading a sysfs tree. Only the lowest level is fake:
a file, an asoundrc, a FIFO, a sysfs directory. The clock's NTP state is simulated.

Each fault must: fail the check with a reason staff can act on, make a ready room
``not_ready``, crash nothing (the controller's threads live on and later cycles run),
and clear by itself when the device comes back, through the periodic re-checks alone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

import audio
import media
from drm import connector, make_drm_tree
from kiosk.config import Config
from kiosk.controller import RoomController
from kiosk.events import ChecksFinished, ChecksStarted, ReadinessChanged
from kiosk.factory import build_hardware
from waiting import wait_for

pytestmark = pytest.mark.proof  # slow: see docs/testing.md (pytest -m 'not proof' leaves it out)

#: Periodic re-checks this often, so a fault and its recovery are both seen without a press.
INTERVAL_S = 0.25
MIC = "roommic"


class Devices:
    """The fake low-level devices of one room, and how to break and mend each."""

    def __init__(self, tmp_path: Path, monkeypatch):
        self.tmp = tmp_path
        self.monkeypatch = monkeypatch
        self.frames = media.scene_frames(4, 640, 360)
        self.video = media.write_video(tmp_path / "camera.avi", self.frames)
        self.samples = audio.noise(2.0, -50)  # a quiet room: above silence, below the noise warning
        self.infile = audio.write_raw(tmp_path / "mic.raw", self.samples)
        self.drm = make_drm_tree(tmp_path / "drm", [connector("HDMI-A-1"), connector("HDMI-A-2", "disconnected")])
        self.plug_mic()

    # -- microphone -----------------------------------------------------------------------
    def plug_mic(self) -> None:
        audio.use_asoundrc(self.tmp, self.monkeypatch, audio.capture_pcm(MIC, self.infile))

    def unplug_mic(self) -> None:
        audio.use_asoundrc(self.tmp, self.monkeypatch)  # the device is gone from ALSA's list

    # -- camera ---------------------------------------------------------------------------
    def restore_video(self) -> None:
        # Written aside and moved into place, as a device node appears whole.
        part = self.tmp / "camera.part.avi"
        media.write_video(part, self.frames)
        os.replace(part, self.video)

    # -- display --------------------------------------------------------------------------
    def set_status(self, status: str) -> None:
        (self.drm / "card1-HDMI-A-1" / "status").write_text(status + "\n")


class Room:
    """A RoomController on the devices, recording what it publishes."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.c = RoomController(cfg, build_hardware(cfg, on_pi=False))
        self.events = []
        self._lock = threading.Lock()
        self.c.bus.subscribe(self._record)
        self.c.start(initial_check=False)

    def _record(self, event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind, start: int = 0) -> list:
        with self._lock:
            return [e for e in self.events[start:] if isinstance(e, kind)]

    def mark(self) -> int:
        with self._lock:
            return len(self.events)

    @property
    def state(self) -> str:
        return self.c.machine.state.value

    def wait_state(self, state: str, timeout: float = 5.0) -> None:
        assert wait_for(lambda: self.state == state, timeout), \
            f"room is {self.state}, not {state}: {self.c.public_state()['checks']}"

    def cycles(self, start: int = 0) -> list:
        return [e.cycle for e in self.of(ChecksFinished, start)]

    def make_ready(self) -> None:
        self.c.press()
        self.wait_state("ready")
        cycle = self.c.last_cycle
        assert all(r.status.value == "pass" for r in cycle.results.values()), cycle.results

    def assert_alive(self, since: int) -> None:
        """Nothing crashed: both loops are running and check cycles keep coming after ``since``."""
        assert all(t.is_alive() for t in self.c._threads)
        seen = len(self.cycles(since))
        assert wait_for(lambda: len(self.cycles(since)) > seen, 3 * INTERVAL_S + 2), "no check cycle ran since"

    def failing_cycle(self, check: str, start: int, timeout: float = 5.0):
        """The first cycle after ``start`` in which ``check`` failed."""
        found = []

        def failed():
            found[:] = [c for c in self.cycles(start) if c.results[check].status.value == "fail"]
            return bool(found)

        assert wait_for(failed, timeout), f"{check} never failed: {[c.results[check] for c in self.cycles(start)]}"
        return found[0]


@pytest.fixture
def devices(tmp_path, monkeypatch):
    return Devices(tmp_path, monkeypatch)


def room_config(devices: Devices, sections: dict | None = None, **checks) -> Config:
    cfg = Config()
    for section, values in {
        "camera": {"backend": "file", "source": str(devices.video), "frames": 3, "frame_interval_s": 0.02},
        "microphone": {"backend": "alsa", "device": MIC, "capture_s": 0.2},
        "display": {"backend": "drm", "sysfs_root": str(devices.drm), "connector": "HDMI-A-1"},
        "clock": {"backend": "simulated"},
        "checks": {"interval_s": INTERVAL_S, "timeout_s": 3.0, **checks},
    }.items():
        cfg = cfg.replace(section, **{**values, **(sections or {}).get(section, {})})
    return cfg


@pytest.fixture
def make_room(devices, caplog):
    caplog.set_level(logging.INFO)
    rooms = []

    def make(sections: dict | None = None, **checks) -> Room:
        room = Room(room_config(devices, sections, **checks))
        rooms.append(room)
        return room

    yield make
    for room in rooms:
        room.c.stop()
    # A device fault is a failed check, never a crash of a loop or a check that raised.
    crashes = [r.getMessage() for r in caplog.records
               if r.getMessage() == "Main loop tick failed" or r.getMessage().endswith("check raised")]
    assert not crashes


def assert_not_ready_with(room: Room, check: str, reason_part: str, start: int) -> None:
    room.wait_state("not_ready")
    assert room.c.ready is False
    public = room.c.public_state()
    assert public["state"] == "not_ready" and public["ready"] is False
    assert public["checks"][check]["status"] == "fail"
    assert reason_part in public["checks"][check]["reason"], public["checks"][check]
    lost = room.of(ReadinessChanged, start)
    assert lost and lost[0].ready is False and check in lost[0].failing
    # Only the device at fault fails.
    others = {n: c["status"] for n, c in public["checks"].items() if n != check}
    assert set(others.values()) == {"pass"}, others


def assert_recovers(room: Room, start: int) -> None:
    """Back to ready through the periodic re-check alone: nobody presses anything."""
    presses = len([e for e in room.events if e.kind == "button_pressed"])
    room.wait_state("ready", timeout=3 * INTERVAL_S + 4)
    assert room.c.ready is True
    assert len([e for e in room.events if e.kind == "button_pressed"]) == presses
    regained = room.of(ReadinessChanged, start)
    assert regained and regained[-1].ready is True
    assert {e.trigger for e in room.of(ChecksStarted, start)} <= {"periodic", "display hot-plug"}


# -- camera -------------------------------------------------------------------------------------

def test_faults_camera_file_deleted_during_a_capture(devices, make_room):
    # Six frames 0.1 s apart from a four-frame video: the capture reopens the file after 0.3 s,
    # long after it was deleted at 0.1 s (an open video would otherwise survive the deletion).
    room = make_room({"camera": {"frames": 6, "frame_interval_s": 0.1}})
    room.make_ready()

    mark = room.mark()
    assert wait_for(lambda: room.of(ChecksStarted, mark), 3 * INTERVAL_S + 1)
    time.sleep(0.1)
    devices.video.unlink()
    with room._lock:
        began = next(i for i, e in enumerate(room.events) if i >= mark and isinstance(e, ChecksStarted))
    cycle = room.failing_cycle("camera", began)
    assert cycle is room.cycles(began)[0], "the capture the file vanished during was not failed"
    assert cycle.results["camera"].reason == f"Camera file {devices.video} is missing"
    assert_not_ready_with(room, "camera", "is missing", mark)
    room.assert_alive(room.mark())

    mark = room.mark()
    devices.restore_video()
    assert_recovers(room, mark)


def test_faults_camera_file_renamed_between_checks(devices, make_room):
    room = make_room()
    room.make_ready()  # the video is now open in the camera backend
    mark = room.mark()
    moved = devices.video.with_name("camera-moved.avi")
    devices.video.rename(moved)
    room.failing_cycle("camera", mark)
    assert_not_ready_with(room, "camera", f"Camera file {devices.video} is missing", mark)
    room.assert_alive(room.mark())

    mark = room.mark()
    moved.rename(devices.video)
    assert_recovers(room, mark)


# -- microphone ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["device removed from ALSA", "device's input deleted"])
def test_faults_microphone_vanishes_and_returns(devices, make_room, fault):
    room = make_room()
    room.make_ready()
    mark = room.mark()
    if fault == "device removed from ALSA":
        devices.unplug_mic()
    else:
        saved = devices.infile.read_bytes()
        devices.infile.unlink()
    room.failing_cycle("microphone", mark)
    assert_not_ready_with(room, "microphone", f"Microphone '{MIC}' not found: is the USB microphone plugged in?",
                          mark)
    room.assert_alive(room.mark())

    mark = room.mark()
    if fault == "device removed from ALSA":
        devices.plug_mic()
    else:
        devices.infile.write_bytes(saved)
    assert_recovers(room, mark)


def test_faults_microphone_wav_file_deleted_and_restored(devices, tmp_path, make_room):
    wav = audio.write_wav(tmp_path / "mic.wav", devices.samples)
    room = make_room({"microphone": {"backend": "file", "source": str(wav)}})
    room.make_ready()
    mark = room.mark()
    saved = wav.read_bytes()
    wav.unlink()
    room.failing_cycle("microphone", mark)
    assert_not_ready_with(room, "microphone", f"Microphone file '{wav}' not found", mark)
    room.assert_alive(room.mark())
    mark = room.mark()
    wav.write_bytes(saved)
    assert_recovers(room, mark)


# -- display ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["unplugged", "driver gone"])
def test_faults_display_unplugged_and_plugged_back(devices, make_room, fault):
    # Periodic checks off: the sysfs change alone must trigger the re-checks, both ways.
    room = make_room(interval_s=0)
    room.make_ready()
    mark = room.mark()
    if fault == "unplugged":
        devices.set_status("disconnected")
        reason = "Screen not detected on HDMI-A-1: is it switched on and the HDMI cable plugged in?"
    else:
        devices.drm.rename(devices.drm.with_name("drm-unloaded"))
        reason = f"No display driver: {devices.drm} does not exist"
    room.failing_cycle("display", mark, timeout=2)
    assert_not_ready_with(room, "display", reason, mark)
    assert [e.trigger for e in room.of(ChecksStarted, mark)] == ["display hot-plug"]
    assert all(t.is_alive() for t in room.c._threads)

    mark = room.mark()
    if fault == "unplugged":
        devices.set_status("connected")
    else:
        devices.drm.with_name("drm-unloaded").rename(devices.drm)
    assert_recovers(room, mark)


# -- a hung device -------------------------------------------------------------------------------

class FifoFeeder:
    """Audio into a FIFO: each reader that opens it gets samples until it closes it (a device delivering)."""

    def __init__(self, fifo: Path, data: bytes):
        self.fifo, self.data = fifo, data
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fifo-feeder", daemon=True)

    def start(self) -> "FifoFeeder":
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO until a reader has it open
            except OSError:
                time.sleep(0.005)
                continue
            os.set_blocking(fd, True)
            try:
                while not self._stop.is_set():
                    os.write(fd, self.data)
            except BrokenPipeError:
                pass  # that reader had enough; wait for the next
            finally:
                os.close(fd)

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


def test_faults_hung_microphone_times_out_and_recovers(devices, make_room):
    room = make_room(timeout_s=0.5)
    room.make_ready()
    # The device stops answering: its input becomes a FIFO nobody writes to, so arecord blocks opening it.
    devices.infile.unlink()
    os.mkfifo(devices.infile)
    mark = room.mark()
    cycle = room.failing_cycle("microphone", mark)
    assert cycle.results["microphone"].reason == \
        "Microphone check did not finish within 0.5 s: the device is not responding"
    assert cycle.duration_s < 1.5  # the other checks did not wait for it
    assert_not_ready_with(room, "microphone", "did not finish within 0.5 s", mark)

    # Still stuck at the next cycles: reported, not started again, and the room keeps working.
    stuck = room.failing_cycle("microphone", room.mark())
    assert "still stuck from an earlier run" in stuck.results["microphone"].reason
    room.c.press()  # staff press the button while a check hangs: it answers at once
    assert room.state == "checking"
    room.wait_state("not_ready", timeout=2)
    room.assert_alive(room.mark())

    # The device answers again: samples flow into the FIFO. No press.
    feeder = FifoFeeder(devices.infile, audio.to_int(devices.samples, 2).astype("<i2").tobytes()).start()
    try:
        mark = room.mark()
        assert_recovers(room, mark)
        assert room.c.last_cycle.results["microphone"].status.value == "pass"
    finally:
        room.c.stop()
        feeder.stop()


# -- re-check requests during a cycle ------------------------------------------------------------

SLOW_CAMERA = {"camera": {"frames": 6, "frame_interval_s": 0.1}}  # a 0.5 s capture


def test_faults_rechecks_arriving_during_every_cycle_do_not_hold_the_room_in_checking(make_room):
    # Periodic re-checks more often than a cycle lasts, and IT asking for re-checks ten times a second
    # (MQTT allows that): there is always another cycle queued when one finishes.
    room = make_room(SLOW_CAMERA, interval_s=0.2)
    stop = threading.Event()

    def it_tool():
        while not stop.wait(0.1):
            room.c.request_check("mqtt")

    spammer = threading.Thread(target=it_tool, daemon=True)
    spammer.start()
    try:
        room.c.press()
        room.wait_state("ready", timeout=3)
        assert room.c.ready
    finally:
        stop.set()
        spammer.join()


def test_faults_hold_during_a_cycle_lets_the_next_cycle_decide(make_room):
    room = make_room(SLOW_CAMERA, interval_s=0)
    room.make_ready()
    mark = room.mark()
    room.c.request_check("test")
    assert wait_for(lambda: room.of(ChecksStarted, mark), 2)
    time.sleep(0.1)
    held = room.mark()
    room.c.hold()  # during that cycle: its results predate the hold
    assert room.state == "checking"
    room.wait_state("ready", timeout=3)
    with room._lock:
        after = room.events[held:]
    seen = [(e.kind, getattr(e, "new", None)) for e in after if e.kind in ("check_finished", "state_changed")]
    # checking (hold); the old cycle finishes; the hold's cycle finishes; and only then ready.
    assert seen[:4] == [("state_changed", "checking"), ("check_finished", None), ("check_finished", None),
                        ("state_changed", "ready")], seen

"""Fixtures for the web tests: a running room on simulated hardware, the app, a live server.

Registered for every test module by ``pytest_plugins`` in ``conftest.py``: tests name the
fixtures they use as arguments and import only the helpers (``from web import serve``).
The room is the real controller on simulated devices and gpiozero's mock pins, so the
pages are tested against the real state machine and check code, not a stand-in.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass

import pytest

from kiosk import pins
from kiosk.config import Config
from kiosk.controller import RoomController
from kiosk.events import LoopTicked
from kiosk.factory import build_hardware
from kiosk.lights import Lights
from web_ui import create_app
from waiting import wait_for

#: Chromium as Debian ships it; Playwright cannot download browsers here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def fast_config() -> Config:
    """Defaults, with checks only on demand and quick enough for the display's 1 s promise."""
    return (Config()
            .replace("checks", interval_s=0, timeout_s=5)
            .replace("camera", frame_interval_s=0.0)
            .replace("microphone", capture_s=0.2))


def start_room(cfg: Config | None = None):
    """A started controller on simulated hardware and mock pins, after its first check cycle.

    Returns ``(controller, factory)``; hand both to :func:`stop_room`.
    """
    cfg = cfg or fast_config()
    factory = pins.mock_factory()
    hardware = build_hardware(cfg, simulate=True)
    try:
        lights = Lights(cfg.lights, pin_factory=factory)
        controller = RoomController(cfg, hardware, lights=lights, pin_factory=factory)
    except Exception:
        hardware.close()
        factory.reset()
        factory.close()
        raise
    controller.start()
    if not wait_for(lambda: controller.last_cycle is not None, timeout=10):
        stop_room(controller, factory)
        raise AssertionError("the first check cycle did not finish")
    return controller, factory


def settle(controller, quiet: float = 0.05) -> None:
    """Wait until the controller's revision stops moving, so that a test's long-poll sees
    only its own change: its first main-loop tick bumps the revision (the countdown label
    is new), and the events of a check cycle are published just after ``last_cycle`` is set."""
    ticked = threading.Event()
    unsubscribe = controller.bus.subscribe(lambda event: ticked.set(), LoopTicked)
    try:
        for _ in range(2):
            ticked.clear()
            ticked.wait(2)
    finally:
        unsubscribe()
    while True:
        version = controller.version
        time.sleep(quiet)
        if controller.version == version:
            return


def stop_room(controller, factory) -> None:
    """Stop the controller and free the mock pins."""
    try:
        controller.stop()
    finally:
        factory.reset()
        factory.close()


@pytest.fixture
def room():
    """A running room (simulated devices, mock pins) that has finished its first check."""
    controller, factory = start_room()
    try:
        yield controller
    finally:
        stop_room(controller, factory)


@pytest.fixture
def app(room):
    """The web app serving ``room``."""
    return create_app(room, {"TESTING": True, "SIMULATOR": True})


@pytest.fixture
def client(app):
    """Flask's test client for ``app``."""
    return app.test_client()


@pytest.fixture
def cold_room():
    """A controller on simulated hardware that is not started: no threads, no checks, no pins.

    Its revision moves only when a test changes something, which makes it the quickest
    room for routes, headers, errors and long-polls.
    """
    cfg = fast_config()
    hardware = build_hardware(cfg, simulate=True)
    try:
        yield RoomController(cfg, hardware)
    finally:
        hardware.close()


@pytest.fixture
def cold_app(cold_room):
    """The web app serving ``cold_room``."""
    return create_app(cold_room, {"TESTING": True, "SIMULATOR": True})


@pytest.fixture
def cold_client(cold_app):
    """Flask's test client for ``cold_app``."""
    return cold_app.test_client()


@dataclass
class LiveServer:
    """The app under waitress on a free loopback port."""

    app: object
    url: str

    def get_json(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            return json.loads(response.read())

    def post_json(self, path: str, payload: dict) -> dict:
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())


def serve(app, port: int = 0):
    """Serve ``app`` with waitress in a thread on ``port`` (0: a free one); returns ``(LiveServer, close)``."""
    from web_ui.server import WebServer

    server = WebServer(app, port=port, threads=16).start()
    return LiveServer(app, f"http://127.0.0.1:{server.port}"), server.close


@pytest.fixture
def live_server(app):
    """The app served over HTTP on a free port."""
    server, close = serve(app)
    try:
        yield server
    finally:
        close()


def unsimulated_config(tmp_path, **backends) -> Config:
    """A config whose devices are real backends that need no hardware: files and a DRM tree.

    ``backends`` overrides a device's backend, e.g. ``display="simulated"``.
    """
    from drm import connector, make_drm_tree

    root = make_drm_tree(tmp_path / "drm", [connector()])
    cfg = (fast_config()
           .replace("camera", backend="file", source=str(tmp_path / "room.png"))
           .replace("microphone", backend="file", source=str(tmp_path / "room.wav"))
           .replace("display", backend="drm", sysfs_root=str(root))
           .replace("clock", backend="system"))
    for device, backend in backends.items():
        cfg = cfg.replace(device, backend=backend)
    return cfg


def unsimulated_controller(tmp_path, **backends) -> RoomController:
    """A controller (not started, no pins) on :func:`unsimulated_config` hardware.

    Close it with ``controller.hardware.close()``.
    """
    cfg = unsimulated_config(tmp_path, **backends)
    hardware = build_hardware(cfg, simulate=False, on_pi=False)
    try:
        return RoomController(cfg, hardware)
    except Exception:
        hardware.close()
        raise

"""Shared fixtures: mock GPIO pins and a config built without any file."""

import socket

import pytest

from kiosk.config import Config

#: Fixture modules, registered once for every test module (no imports of fixtures in the tests):
#: ``web`` (room, app, client, cold_room, cold_app, cold_client, live_server), ``chair_web`` (chair,
#: signed_in) and ``mqtt_broker`` (broker).
pytest_plugins = ["web", "chair_web", "mqtt_broker"]


@pytest.fixture
def mock_factory():
    """gpiozero's mock pin factory (with PWM), reset afterwards so pins can be reused."""
    from kiosk.pins import mock_factory as make

    factory = make()
    try:
        yield factory
    finally:
        factory.reset()
        factory.close()


@pytest.fixture
def cfg():
    """The all-defaults configuration, with periodic re-checks off so tests decide when checks run,
    and a short microphone capture (the simulated microphone takes real time, like a real one)."""
    return Config().replace("checks", interval_s=0).replace("microphone", capture_s=0.2)


@pytest.fixture(autouse=True)
def _root_logger_restored():
    """Tests that run ``kiosk`` commands in-process (``cli.main``) set up the process's logging: the root
    level, and a handler on that test's captured stderr, closed afterwards. Undo it, so that the next
    tests see the default level and no "I/O operation on closed file" errors."""
    import logging

    root = logging.getLogger()
    level, before = root.level, set(root.handlers)
    yield
    root.setLevel(level)
    for handler in root.handlers[:]:
        if type(handler) is logging.StreamHandler and handler not in before:
            root.removeHandler(handler)


@pytest.fixture
def listening_port():
    """A loopback port with a real listening socket (connections are accepted by the kernel)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def closed_port():
    """A loopback port that was just free: nothing listens there, so connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (Debian's, driven by Playwright)."""
    import os

    from web import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is not installed: run ./scripts/run-tests, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()

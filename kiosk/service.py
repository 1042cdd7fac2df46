"""``kiosk run``: the long-running kiosk: controller, lights, button, web server.

This is the process's composition root. Each part that can fail on its own (the web
server's port, the GPIO pins) is started so that its failure is a log line, not the
end of the kiosk: the start button and the lights keep working without the web
server, and the web server keeps serving without MQTT.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from typing import Callable

from kiosk.config import Config

log = logging.getLogger("kiosk.service")


class Kiosk:
    """Everything ``kiosk run`` starts, built from a :class:`Config`."""

    def __init__(self, cfg: Config, simulate: bool = False, start_at: datetime | None = None):
        from kiosk.controller import RoomController
        from kiosk.factory import build_hardware
        from kiosk.pins import choose_pin_factory

        self.cfg = cfg
        from kiosk import permissions

        for problem in permissions.problems(cfg):  # IT's to fix; the kiosk still starts
            log.warning("Unsafe permissions: %s", problem)
        self.hardware = build_hardware(cfg, simulate=simulate)
        self.pin_factory, pins_simulated = choose_pin_factory(simulate or self.hardware.simulated)
        self.pins_simulated = pins_simulated
        lights = None
        try:
            from kiosk.lights import Lights

            lights = Lights(cfg.lights, pin_factory=self.pin_factory)
        except Exception as exc:  # a pin already in use or not permitted: run without lights
            log.error("Status lights unavailable (%s): continuing without them", exc)
        self.controller = RoomController(cfg, self.hardware, lights=lights, pin_factory=self.pin_factory,
                                         start_override=start_at)
        from kiosk.sdnotify import ServiceNotifier

        self.systemd = ServiceNotifier(self.controller).attach()  # READY/WATCHDOG/STATUS when under systemd
        self.calendar = None
        if cfg.schedule.ics:  # read and parsed on its own thread, never the room's (kiosk.calendar_watcher)
            from kiosk.calendar_watcher import CalendarWatcher

            self.calendar = CalendarWatcher(cfg, self.controller.set_bookings)
        self.chair = None
        self.chair_access = None
        try:  # the conference record: a storage problem must not stop the room display and button
            from kiosk.conference.access import ChairAccess
            from kiosk.conference.service import ChairService
            from web_ui.admission import waiting

            self.chair_access = ChairAccess.from_config(cfg, bus=self.controller.bus)
            self.chair = ChairService(cfg, self.controller.bus, waiting=waiting)
            connect_room(self.controller)
        except Exception as exc:
            log.error("The chair's page is unavailable (%s): the room display and button still work", exc)
        self.simulator = simulate or cfg.web.simulator
        self.quality = None
        if self.chair is not None:
            try:  # the managers' quality report: its own storage, so its trouble is only its own
                from kiosk.quality.service import QualityService

                self.quality = QualityService(cfg, self.chair, self.controller.bus)
            except Exception as exc:
                log.error("The quality report is unavailable (%s): the chair's page still works", exc)
        self.web = None
        self.mqtt = None
        self.clock_watch = None
        self.stopped = threading.Event()

    def _start_mqtt(self) -> None:
        """Start the MQTT link; a missing or unreachable broker is a log line (see kiosk.mqtt.link)."""
        try:
            from kiosk.mqtt.link import MqttLink

            link = MqttLink(self.cfg, self.controller,
                            quality=self.quality if self.cfg.quality.publish else None)
            self.mqtt = link if link.start() else None
        except Exception:  # MQTT is for IT: never the end of the kiosk
            log.exception("MQTT could not start: the kiosk runs without it")
            self.mqtt = None

    def start(self) -> "Kiosk":
        if self.quality is not None:
            self.quality.start()  # before the controller: its first check cycle joins the room's check history
        self._start_mqtt()  # first, so that it also reports the start-up check
        from kiosk.clock_watch import ClockWatch

        self.clock_watch = ClockWatch(self.controller.bus).start()
        self.controller.start()
        if self.calendar is not None:
            self.calendar.start()
        if self.chair is not None:
            self.chair.start()
        try:
            from web_ui import create_app
            from web_ui.server import WebServer

            app = create_app(self.controller, chair=self.chair, access=self.chair_access, quality=self.quality,
                             simulator=self.simulator, trusted_hosts=self.cfg.web.trusted_hosts)
            app.extensions["kiosk.mqtt"] = self.mqtt  # for /metrics: kiosk.metrics.render(controller, connected)
            app.extensions["kiosk.clock_watch"] = self.clock_watch  # for /metrics: kiosk_clock_steps_total
            self.web = WebServer(app, self.cfg.web.host, self.cfg.web.port).start()
            host = "127.0.0.1" if self.cfg.web.host in ("0.0.0.0", "::") else self.cfg.web.host
            log.info("Room display at http://%s:%s/display", host, self.web.port)
            if self.simulator:
                log.info("Simulator at http://%s:%s/simulator", host, self.web.port)
            elif self.controller.hardware.simulated:
                log.info("Some devices are simulated; the simulator page is off (kiosk run --simulate or "
                         "[web] simulator = true turns it on)")
            if self.chair is not None:
                log.info("Chair's page at http://%s:%s/chair", host, self.web.port)
        except OSError as exc:
            log.error("Web server could not start on %s:%d (%s): the button and lights still work",
                      self.cfg.web.host, self.cfg.web.port, exc.strerror or exc)
        self.systemd.serving(web=self.web is not None)
        return self

    def stop(self) -> None:
        """Say offline over MQTT, stop the web server, then the controller (lights off, pins released)."""
        self.systemd.stopping()
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.web is not None:
            self.web.close()
        if self.quality is not None:
            self.quality.stop()
        if self.chair is not None:
            self.chair.stop()
        if self.calendar is not None:
            self.calendar.stop()
        if self.clock_watch is not None:
            self.clock_watch.stop()
        self.controller.stop()
        if self.pins_simulated:
            self.pin_factory.close()
        self.stopped.set()


def connect_room(controller) -> Callable[[], None]:
    """Hand what the chair's record asks of the room (:class:`kiosk.events.RoomRequest`: counts, today's
    start time, the end of the session) to ``controller``; returns the unsubscribe function."""
    from kiosk.events import AttendanceCounted, RoomRequest, SessionEndRequested, StartTimeSet

    def on_request(event) -> None:
        if isinstance(event, AttendanceCounted):
            controller.set_attendance(event.in_person, event.virtual, event.quorate)
        elif isinstance(event, StartTimeSet):
            controller.set_start(event.start_at, "chair")
        elif isinstance(event, SessionEndRequested):
            controller.end_session()

    return controller.bus.subscribe(on_request, RoomRequest)


def tune_malloc() -> None:
    """Make freed frames and sample buffers go back to the system.

    glibc raises its mmap threshold each time a large block is freed, after which
    camera frames come from the heap and the freed space is kept: about 35 MB more
    resident memory for nothing on a 1-2 GB Pi. A fixed threshold of 256 KiB keeps
    large buffers in their own mappings, returned on free. Each check cycle also runs
    on fresh threads, so arenas are capped too. Same as MALLOC_MMAP_THRESHOLD_=262144
    MALLOC_ARENA_MAX=2; a no-op off glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD (also stops its dynamic growth)
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def run(cfg: Config, simulate: bool = False, start_at: datetime | None = None) -> int:
    """Run the kiosk until SIGTERM or SIGINT; return the exit code."""
    tune_malloc()
    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("Received %s: shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    kiosk = Kiosk(cfg, simulate=simulate, start_at=start_at).start()
    log.info("Kiosk for %s (%s) running", cfg.room.name, cfg.room.id)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        kiosk.stop()
    log.info("Stopped cleanly")
    return 0

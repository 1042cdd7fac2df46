"""The quality service on a running room: the room's loop hands check cycles over, never writes them itself."""

import threading
from datetime import timedelta

from chair_web import make_chair
from kiosk.quality.service import QualityService
from kiosk.quality.store import QualityStore
from waiting import wait_for


class ThreadNoting(QualityStore):
    """The real store, noting which thread writes each check cycle."""

    writers: list[str]

    def add_checks(self, outcomes):
        super().add_checks(outcomes)
        self.writers.append(threading.current_thread().name)


def test_quality_service_writes_check_cycles_off_the_room_loop(tmp_path, room):
    env = make_chair(tmp_path, room)
    store = ThreadNoting(tmp_path / "quality.sqlite3")
    store.writers = []
    quality = QualityService(env.service.cfg, env.service, room.bus, store=store).start()
    try:
        room.request_check("test")
        assert wait_for(lambda: store.writers, timeout=10)
        assert set(store.writers) == {"quality-checks"}

        def kept():
            cycle = room.last_cycle
            got = store.checks_between(cycle.checked_at - timedelta(seconds=1), cycle.checked_at + timedelta(seconds=1))
            return {o.name for o in got} >= set(cycle.results)

        assert wait_for(kept, timeout=10)
    finally:
        quality.stop()
        env.service.stop()
    assert not [t for t in threading.enumerate() if t.name == "quality-checks"]

import pytest

from kiosk.events import EventBus, StateChanged
from kiosk.room import RoomMachine, State, Trigger, next_state

S, T = State, Trigger

# (from, trigger, start_pending, to); to None = ignored.
TRANSITIONS = [
    (S.IDLE, T.PRESS, False, S.CHECKING),
    (S.CHECKING, T.CHECKS_PASSED, False, S.READY),
    (S.CHECKING, T.CHECKS_FAILED, False, S.NOT_READY),
    (S.CHECKING, T.PRESS, False, None),
    (S.READY, T.PRESS, True, S.COUNTDOWN),
    (S.READY, T.PRESS, False, S.IN_SESSION),
    (S.READY, T.CHECKS_FAILED, False, S.NOT_READY),
    (S.READY, T.CHECKS_PASSED, False, None),
    (S.NOT_READY, T.PRESS, False, S.CHECKING),
    (S.NOT_READY, T.CHECKS_PASSED, False, S.READY),
    (S.COUNTDOWN, T.START_TIME, True, S.IN_SESSION),
    (S.COUNTDOWN, T.CHECKS_FAILED, True, S.NOT_READY),
    (S.COUNTDOWN, T.PRESS, True, None),
    (S.COUNTDOWN, T.END, True, S.ENDED),
    (S.IN_SESSION, T.PRESS, False, S.ENDED),
    (S.IN_SESSION, T.END, False, S.ENDED),
    (S.IN_SESSION, T.CHECKS_FAILED, False, None),
    (S.ENDED, T.RESET, False, S.IDLE),
    (S.ENDED, T.PRESS, False, S.CHECKING),
    (S.IDLE, T.CHECKS_PASSED, False, None),
    (S.IDLE, T.START_TIME, False, None),
] + [(state, T.HOLD, False, S.CHECKING) for state in State]


@pytest.mark.parametrize("state, trigger, pending, expected", TRANSITIONS)
def test_room_transition_table(state, trigger, pending, expected):
    assert next_state(state, trigger, pending) == expected


def test_room_machine_publishes_each_transition_as_an_event():
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append, StateChanged)
    machine = RoomMachine(bus)
    assert machine.fire(T.PRESS) is S.CHECKING
    assert machine.fire(T.PRESS) is None  # ignored while checking: no event
    machine.fire(T.CHECKS_PASSED)
    machine.fire(T.PRESS, start_pending=True)
    assert [(e.old, e.new) for e in seen] == [("idle", "checking"), ("checking", "ready"), ("ready", "countdown")]
    assert seen[0].reason == "start button pressed" and seen[0].kind == "state_changed"


def test_room_hold_while_checking_restarts_checking():
    bus = EventBus()
    seen = []
    bus.subscribe(seen.append)
    machine = RoomMachine(bus, S.CHECKING)
    assert machine.fire(T.HOLD) is S.CHECKING
    assert [(e.old, e.new) for e in seen] == [("checking", "checking")]


def test_room_bus_subscriber_failure_does_not_stop_others(caplog):
    bus = EventBus()
    got = []

    def broken(event):
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(got.append)
    RoomMachine(bus).fire(T.PRESS)
    assert len(got) == 1
    assert "Subscriber" in caplog.text


def test_room_bus_unsubscribe_and_type_filter():
    from kiosk.events import ButtonPressed

    bus = EventBus()
    got = []
    unsubscribe = bus.subscribe(got.append, ButtonPressed)
    bus.publish(StateChanged("idle", "checking", "x"))
    bus.publish(ButtonPressed())
    unsubscribe()
    bus.publish(ButtonPressed())
    assert [e.kind for e in got] == ["button_pressed"]


def test_room_bus_ticks_only_to_subscribers_that_name_them():
    from kiosk.events import ButtonPressed, Event, LoopTicked

    bus = EventBus()
    everything, events, ticks = [], [], []
    bus.subscribe(everything.append)
    bus.subscribe(events.append, Event)
    bus.subscribe(ticks.append, LoopTicked)
    bus.publish(LoopTicked())
    bus.publish(ButtonPressed())
    assert [e.kind for e in everything] == [e.kind for e in events] == ["button_pressed"]
    assert [e.kind for e in ticks] == ["loop_ticked"]

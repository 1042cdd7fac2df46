"""The room's state machine, independent of hardware, web and MQTT.

=============  ===============================================  ===========================================
State          Left by                                          Lights / room display
=============  ===============================================  ===========================================
idle           press or hold -> checking                        off / room name, next booking or "free"
checking       cycle done -> ready or not_ready; hold restarts  amber pulsing / "Checking the room..."
ready          press -> countdown (start ahead) or in_session   green / all checks passed, countdown
               (start passed or none); recheck fails -> not_ready
not_ready      press or hold -> checking; recheck passes ->      red / what failed and what to do
               ready
countdown      start time reached -> in_session; recheck         green blinking, blue blinking in the
               fails -> not_ready; hold -> checking              joining window / big countdown
in_session     press -> ended; auto-end time -> ended;           blue (red blinking if a device fails) /
               hold -> checking                                 elapsed time, overrun marked
ended          press or hold -> checking; after a pause -> idle  white / "Conference ended"
=============  ===============================================  ===========================================

A long hold re-runs the checks from any state. Periodic and hot-plug rechecks update
readiness in every state, but only move ``ready``/``not_ready``/``countdown``: a device
failing mid-conference is reported (lights, MQTT alert) without ending the session.

:class:`RoomMachine` is pure logic: it takes triggers, returns the new state and
publishes a :class:`~kiosk.events.StateChanged` on the bus; the controller turns
button presses, timers and check results into triggers.
"""

from __future__ import annotations

import enum

from kiosk.events import EventBus, StateChanged


class State(str, enum.Enum):
    IDLE = "idle"
    CHECKING = "checking"
    READY = "ready"
    NOT_READY = "not_ready"
    COUNTDOWN = "countdown"
    IN_SESSION = "in_session"
    ENDED = "ended"


class Trigger(str, enum.Enum):
    PRESS = "press"              # a short press of the start button
    HOLD = "hold"                # a long hold: re-check from any state
    CHECKS_PASSED = "checks_passed"
    CHECKS_FAILED = "checks_failed"
    START_TIME = "start_time"    # the start time has been reached
    END = "end"                  # the chair or the auto-end timer ends the conference
    RESET = "reset"              # the ended pause is over


#: The ``press`` target in ``ready`` depends on the start time: ``start_pending`` picks.
_TABLE: dict[tuple[State, Trigger], State] = {
    (State.IDLE, Trigger.PRESS): State.CHECKING,
    (State.NOT_READY, Trigger.PRESS): State.CHECKING,
    (State.ENDED, Trigger.PRESS): State.CHECKING,
    (State.CHECKING, Trigger.CHECKS_PASSED): State.READY,
    (State.CHECKING, Trigger.CHECKS_FAILED): State.NOT_READY,
    (State.READY, Trigger.CHECKS_FAILED): State.NOT_READY,
    (State.NOT_READY, Trigger.CHECKS_PASSED): State.READY,
    (State.COUNTDOWN, Trigger.CHECKS_FAILED): State.NOT_READY,
    (State.COUNTDOWN, Trigger.START_TIME): State.IN_SESSION,
    (State.IN_SESSION, Trigger.PRESS): State.ENDED,
    (State.IN_SESSION, Trigger.END): State.ENDED,
    (State.COUNTDOWN, Trigger.END): State.ENDED,
    (State.ENDED, Trigger.RESET): State.IDLE,
}

_REASONS = {
    Trigger.PRESS: "start button pressed",
    Trigger.HOLD: "start button held: re-checking",
    Trigger.CHECKS_PASSED: "all required checks passed",
    Trigger.CHECKS_FAILED: "a required check failed",
    Trigger.START_TIME: "start time reached",
    Trigger.END: "conference ended",
    Trigger.RESET: "ready for the next conference",
}


def next_state(state: State, trigger: Trigger, start_pending: bool = False) -> State | None:
    """The state ``trigger`` leads to from ``state``, or None when it changes nothing.

    ``start_pending`` says whether a start time lies ahead (a press in ``ready`` then
    starts the countdown, otherwise the session).
    """
    if trigger is Trigger.HOLD:
        return State.CHECKING
    if state is State.READY and trigger is Trigger.PRESS:
        return State.COUNTDOWN if start_pending else State.IN_SESSION
    return _TABLE.get((state, trigger))


class RoomMachine:
    """Holds the room's state; :meth:`fire` applies a trigger and publishes the change.

    Not thread-safe on its own: one thread owns it (the controller's loop, see
    :mod:`kiosk.controller`). ``bus`` is anything with ``publish(event)``.
    """

    def __init__(self, bus: EventBus, state: State = State.IDLE):
        self.bus = bus
        self._state = state

    @property
    def state(self) -> State:
        return self._state

    def fire(self, trigger: Trigger, start_pending: bool = False, reason: str | None = None) -> State | None:
        """Apply ``trigger``; return the new state, or None if it was ignored in this state."""
        old = self._state
        new = next_state(old, trigger, start_pending)
        if new is None or (new is old and trigger is not Trigger.HOLD):
            return None
        self._state = new
        self.bus.publish(StateChanged(old.value, new.value, reason or _REASONS[trigger]))
        return new

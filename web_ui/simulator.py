"""The simulator: a page and a JSON API that stand in for the button and the devices.

Registered only when the controller's hardware is simulated (see
:func:`web_ui.create_app`). The API changes the *simulated devices* (a covered
camera, an unplugged screen...) and lets the real check code reach its verdict, so
what the display shows is what a real fault would show.

CSRF: the endpoints accept only ``Content-Type: application/json`` (415 otherwise),
which an HTML form on another site cannot send without a CORS preflight that this
app never grants; a request whose ``Origin`` is another site is refused (403) too.
Payloads are validated strictly: anything unexpected is a 400 with a message.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, jsonify, render_template, request

from kiosk import __version__
from web_ui import get_controller

bp = Blueprint("simulator", __name__, url_prefix="/simulator")

BUTTON_ACTIONS = ("press", "hold")
#: Fallbacks when a device module does not publish its FAULTS.
CAMERA_FAULTS = ("none", "covered", "blurred", "frozen", "overexposed")
MICROPHONE_FAULTS = ("none", "muted", "clipping")
#: The furthest ahead the simulator may set a start time (minutes).
MAX_START_MIN = 24 * 60


def _faults(device: str, fallback: tuple[str, ...]) -> tuple[str, ...]:
    # The simulated device is the authority on the faults it can show: its own FAULTS,
    # else its module's, else the documented list.
    obj = getattr(get_controller().hardware, device, None)
    faults = getattr(obj, "FAULTS", None)
    if faults is None and obj is not None:
        faults = getattr(sys.modules.get(type(obj).__module__), "FAULTS", None)
    return tuple(faults) if faults else fallback


def camera_faults() -> tuple[str, ...]:
    """The faults the simulated camera can show."""
    return _faults("camera", CAMERA_FAULTS)


def microphone_faults() -> tuple[str, ...]:
    """The faults the simulated microphone can show."""
    return _faults("microphone", MICROPHONE_FAULTS)


def _simulated(device: str) -> bool:
    return get_controller().hardware.backends.get(device) == "simulated"


def devices() -> dict:
    """The simulated devices' current settings (None for a device that is real)."""
    hw = get_controller().hardware
    return {
        "camera": {"fault": hw.camera.fault} if _simulated("camera") else None,
        "microphone": {"fault": getattr(hw.microphone, "fault", "none")} if _simulated("microphone") else None,
        "display": {"connected": bool(hw.display.connected)} if _simulated("display") else None,
        "clock": {"synced": bool(hw.clock.synced)} if _simulated("clock") else None,
    }


def _ok():
    controller = get_controller()
    return jsonify(status="ok", state=controller.public_state(), devices=devices())


@bp.before_request
def _guard_posts():
    """Refuse cross-site and non-JSON posts before any handler runs."""
    if request.method != "POST":
        return
    origin = request.headers.get("Origin")
    if origin is not None:
        own = urlsplit(request.host_url)
        theirs = urlsplit(origin)
        if (theirs.scheme, theirs.netloc) != (own.scheme, own.netloc):
            abort(403, "cross-site requests are not accepted")
    if request.mimetype != "application/json":
        abort(415, "send a JSON body with Content-Type: application/json")


def _show(value) -> str:
    """A received value for an error message, cut short (it is the client's own data)."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed in JSON")


def _payload(field: str, example: str):
    """The value of the one ``field`` in the request's JSON object; 400 for anything else."""
    body = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        abort(400, f"the body is not valid JSON: send an object like {example}")
    if not isinstance(data, dict):
        abort(400, f"the body must be a JSON object like {example}")
    extra = sorted(set(data) - {field})
    if extra:
        abort(400, f"unknown field {', '.join(map(repr, extra))}: send an object like {example}")
    if field not in data:
        abort(400, f"missing field {field!r}: send an object like {example}")
    return data[field]


def _choice(field: str, choices: tuple[str, ...]) -> str:
    value = _payload(field, json.dumps({field: choices[0]}))
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(f'"{c}"' for c in choices)
        abort(400, f"{field} must be one of {allowed}, not {_show(value)}")
    return value


def _flag(field: str) -> bool:
    value = _payload(field, json.dumps({field: True}))
    if not isinstance(value, bool):
        abort(400, f"{field} must be true or false, not {_show(value)}")
    return value


def _require_simulated(device: str) -> None:
    if not _simulated(device):
        abort(409, f"the {device} is a real device here: only simulated devices can be changed")


def _changed_hardware() -> None:
    # The verdict must come from the real check code, promptly, not from the simulator.
    get_controller().request_check("simulator")


@bp.get("")
def page():
    """The simulator page: the lights, the room's state and controls for each device."""
    return render_template("simulator.html", room_name=get_controller().cfg.room.name, version=__version__,
                           devices=devices(), camera_faults=camera_faults(),
                           microphone_faults=microphone_faults())


@bp.get("/devices")
def get_devices():
    """The simulated devices' current settings as JSON."""
    return jsonify(devices())


@bp.post("/button")
def button():
    """``{"action": "press" | "hold"}``: a short press or a long hold of the start button."""
    action = _choice("action", BUTTON_ACTIONS)
    controller = get_controller()
    if action == "press":
        controller.press()
    else:
        controller.hold()
    return _ok()


@bp.post("/camera")
def camera():
    """``{"fault": "none" | "covered" | "blurred" | "frozen" | "overexposed"}``."""
    fault = _choice("fault", camera_faults())
    _require_simulated("camera")
    _set(get_controller().hardware.camera, "fault", fault)
    return _ok()


@bp.post("/microphone")
def microphone():
    """``{"fault": "none" | "muted" | "clipping"}``."""
    fault = _choice("fault", microphone_faults())
    _require_simulated("microphone")
    _set(get_controller().hardware.microphone, "fault", fault)
    return _ok()


@bp.post("/display")
def display():
    """``{"connected": true | false}``: plug or unplug the room's screen."""
    connected = _flag("connected")
    _require_simulated("display")
    _set(get_controller().hardware.display, "connected", connected)
    return _ok()


@bp.post("/clock")
def clock():
    """``{"synced": true | false}``: the clock is (or is not) synchronised by NTP."""
    synced = _flag("synced")
    _require_simulated("clock")
    _set(get_controller().hardware.clock, "synced", synced)
    return _ok()


@bp.post("/start")
def start():
    """``{"in_minutes": number | null}``: set the start time that many minutes from now, or clear it.

    Stands in for the chair setting the time, so the countdown can be tried out
    without a calendar.
    """
    value = _payload("in_minutes", '{"in_minutes": 5}')
    controller = get_controller()
    if value is None:
        controller.set_start(None, "chair")
        return _ok()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_START_MIN:
        abort(400, f"in_minutes must be a number from 0 to {MAX_START_MIN}, or null, not {_show(value)}")
    controller.set_start(datetime.now(controller.tz) + timedelta(minutes=value), "chair")
    return _ok()


def _set(device, name: str, value) -> None:
    try:
        setattr(device, name, value)
    except ValueError as exc:  # the device refused the value: the client's mistake, not ours
        abort(400, str(exc))
    current_app.logger.info("Simulator: %s.%s = %r", type(device).__name__, name, value)
    _changed_hardware()

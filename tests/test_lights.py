import pytest

from kiosk.config import Config
from kiosk.lights import PATTERNS, Lights
from waiting import wait_for

RED_PIN, GREEN_PIN, BLUE_PIN = 22, 27, 24


@pytest.fixture
def lights(mock_factory):
    lamp = Lights(Config().lights, pin_factory=mock_factory)
    yield lamp
    lamp.close()


def pin_levels(factory, *numbers):
    return tuple(factory.pin(n).state for n in numbers)


@pytest.mark.parametrize("pattern, rgb", [
    ("ready", (0, 1, 0)),
    ("not_ready", (1, 0, 0)),
    ("in_session", (0, 0, 1)),
    ("off", (0, 0, 0)),
])
def test_lights_solid_patterns_set_the_pins(lights, mock_factory, pattern, rgb):
    lights.show(pattern)
    assert pin_levels(mock_factory, RED_PIN, GREEN_PIN, BLUE_PIN) == rgb


def test_lights_distinct_pattern_per_state():
    # Each room state has its own look: no two patterns share the same steps.
    steps = [p.steps for p in PATTERNS.values()]
    assert len(set(steps)) == len(steps)


def test_lights_ready_then_not_ready_sequence(lights, mock_factory):
    for pin in (RED_PIN, GREEN_PIN, BLUE_PIN):
        mock_factory.pin(pin).clear_states()
    lights.show("ready")
    lights.show("not_ready")
    lights.show("ready")
    mock_factory.pin(GREEN_PIN).assert_states([0, 1, 0, 1])
    mock_factory.pin(RED_PIN).assert_states([0, 1, 0])


def test_lights_countdown_blinks_green(mock_factory):
    cfg = Config().lights
    lamp = Lights(cfg, pin_factory=mock_factory)
    try:
        # Speed the pattern up for the test: same code path, shorter steps.
        from kiosk import lights as mod
        fast = mod.Pattern("countdown", ((mod.GREEN, 0.05), (mod.OFF, 0.05)))
        mod.PATTERNS["countdown"], saved = fast, mod.PATTERNS["countdown"]
        try:
            green = mock_factory.pin(GREEN_PIN)
            green.clear_states()
            lamp.show("countdown")
            # Two whole blinks (on, off, on, off) after the initial state.
            assert wait_for(lambda: len(green.states) >= 5, timeout=5), green.states
            lamp.show("ready")
        finally:
            mod.PATTERNS["countdown"] = saved
        states = [s.state for s in mock_factory.pin(GREEN_PIN).states]
        assert states[:5] == [0, 1, 0, 1, 0]
        assert states[-1] == 1
    finally:
        lamp.close()


def test_lights_checking_pulses_amber(lights, mock_factory):
    lights.show("checking")
    # Several brightness levels on red: a pulse, not a blink.
    assert wait_for(lambda: len({s.state for s in mock_factory.pin(RED_PIN).states}) > 3, timeout=5)
    reds = {s.state for s in mock_factory.pin(RED_PIN).states}
    greens = {s.state for s in mock_factory.pin(GREEN_PIN).states}
    assert len(reds) > 3  # several brightness levels: a pulse, not a blink
    assert max(greens) == pytest.approx(0.5) and mock_factory.pin(BLUE_PIN).state == 0


def test_lights_three_led_kind_maps_colours(mock_factory):
    cfg = Config().replace("lights", kind="three", red_pin="GPIO5", blue_pin="GPIO6", green_pin="GPIO13").lights
    lamp = Lights(cfg, pin_factory=mock_factory)
    try:
        lamp.show("not_ready")
        assert pin_levels(mock_factory, 5, 6, 13) == (1, 0, 0)
        lamp.show("ready")
        assert pin_levels(mock_factory, 5, 6, 13) == (0, 0, 1)
        lamp.show("in_session")  # no blue LED: amber and green together
        assert pin_levels(mock_factory, 5, 6, 13) == (0, 1, 1)
    finally:
        lamp.close()


def test_lights_close_turns_off_and_is_idempotent(mock_factory):
    lamp = Lights(Config().lights, pin_factory=mock_factory)
    lamp.show("ready")
    lamp.close()
    lamp.close()
    assert lamp.colour == (0, 0, 0)


def test_lights_buzzer_beeps(mock_factory):
    cfg = Config().replace("lights", buzzer_pin="GPIO18").lights
    lamp = Lights(cfg, pin_factory=mock_factory)
    try:
        lamp.beep(2)
        buzzer = mock_factory.pin(18)
        assert wait_for(lambda: len(buzzer.states) >= 5, timeout=5), buzzer.states
        assert [s.state for s in buzzer.states][:5] == [0, 1, 0, 1, 0]
    finally:
        lamp.close()

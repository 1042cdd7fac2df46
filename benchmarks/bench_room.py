"""The room's own figures: a whole check cycle, ``kiosk check`` start-up, button press -> light.

Run: .venv/bin/python benchmarks/bench_room.py

- Check cycle: every check at once on the simulated devices, whose microphone takes its capture
  window in real time like a real one (ALSA's file plugin returns at once, even from a FIFO).
  Target: cycle <= capture window + 200 ms (checks run in parallel, not in sequence).
- ``kiosk check`` start to result, excluding the capture window, beside a bare
  ``python -c pass`` measured in the same run. Target <= 1.5 s.
- Button press -> status light change through gpiozero's mock pins. Target p99 <= 5 ms.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kiosk.config import Config  # noqa: E402

RATE = 16000


def _stats(values_ms):
    a = np.asarray(values_ms, dtype=float)
    return float(np.median(a)), float(np.percentile(a, 99))


def bench_cycle(repeats: int = 10) -> list[dict]:
    from kiosk.checks.runner import CheckRunner, build_specs
    from kiosk.factory import build_hardware

    cfg = Config()
    hardware = build_hardware(cfg, simulate=True)
    runner = CheckRunner(build_specs(cfg, hardware), cfg.checks.timeout_s)
    runner.run()  # warm-up
    durations = []
    for _ in range(repeats):
        cycle = runner.run()
        assert cycle.ready, cycle.failing()
        durations.append(cycle.duration_s * 1000)
    hardware.close()
    window = cfg.microphone.capture_s * 1000
    median, p99 = _stats(durations)
    return [{"name": "check cycle (all checks, 1 s capture)", "median_ms": median, "p99_ms": p99,
             "baseline": "microphone capture window", "baseline_median_ms": window, "ratio": median / window,
             "target": f"<= window + 200 ms = {window + 200:.0f} ms"}]


def bench_startup(repeats: int = 8) -> list[dict]:
    kiosk_cmd = [sys.executable, "-m", "kiosk", "check", "--json", "--simulate", "--log-level", "WARNING"]
    bare, total, net = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        proc = subprocess.run(kiosk_cmd, capture_output=True, text=True, cwd=ROOT)
        elapsed = (time.perf_counter() - t0) * 1000
        doc = json.loads(proc.stdout)
        total.append(elapsed)
        net.append(elapsed - doc["duration_s"] * 1000)
    b = _stats(bare)[0]
    median, p99 = _stats(net)
    return [{"name": "kiosk check start to result, excluding checks", "median_ms": median, "p99_ms": p99,
             "baseline": "python -c pass", "baseline_median_ms": b, "ratio": median / b, "target": "<= 1500 ms"}]


def bench_button(repeats: int = 300) -> list[dict]:
    from kiosk.controller import RoomController
    from kiosk.factory import build_hardware
    from kiosk.lights import Lights
    from kiosk.pins import mock_factory

    cfg = Config().replace("checks", interval_s=0).replace("camera", frames=2, frame_interval_s=0.0)
    cfg = cfg.replace("schedule", ended_s=3600).replace("button", debounce_ms=0).replace("microphone", capture_s=0.1)
    factory = mock_factory()
    controller = RoomController(cfg, build_hardware(cfg, simulate=True),
                                lights=Lights(cfg.lights, pin_factory=factory), pin_factory=factory)
    controller.start(initial_check=False)
    button = factory.pin(17)
    leds = [factory.pin(n) for n in (22, 27, 24)]
    latencies, baseline = [], []
    try:
        for _ in range(repeats):
            before = tuple(p.state for p in leds)
            t0 = time.perf_counter()
            button.drive_low()
            after = tuple(p.state for p in leds)
            latencies.append((time.perf_counter() - t0) * 1000)
            assert after != before, f"light did not change in state {controller.machine.state.value}"
            button.drive_high()
            # A bare pin edge with no handler attached, for scale.
            t0 = time.perf_counter()
            factory.pin(5).drive_low()
            factory.pin(5).drive_high()
            baseline.append((time.perf_counter() - t0) * 1000 / 2)
            if controller.machine.state.value == "checking":
                deadline = time.monotonic() + 5
                while controller.machine.state.value == "checking" and time.monotonic() < deadline:
                    time.sleep(0.002)
    finally:
        controller.stop()
        factory.close()
    median, p99 = _stats(latencies)
    b = _stats(baseline)[0]
    return [{"name": "button press -> light change", "median_ms": median, "p99_ms": p99,
             "baseline": "bare mock pin edge", "baseline_median_ms": b, "ratio": median / b if b else None,
             "target": "p99 <= 5 ms"}]


def run() -> list[dict]:
    """Every figure of this script (see the module docstring)."""
    return bench_cycle() + bench_startup() + bench_button()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from report import print_table

    print_table(run())

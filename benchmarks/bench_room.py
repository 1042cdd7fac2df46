"""The room's own figures: a whole check cycle and ``kiosk check`` start-up.

Run: .venv/bin/python benchmarks/bench_room.py

- Check cycle: every check at once on the simulated devices, whose microphone takes its capture
  window in real time like a real one (ALSA's file plugin returns at once, even from a FIFO).
  Target: cycle <= capture window + 200 ms (checks run in parallel, not in sequence).
- ``kiosk check`` start to result, excluding the capture window, beside a bare
  ``python -c pass`` measured in the same run. Target <= 1.5 s.

Button press -> light and -> MQTT, driven at the pin, are in bench_press.py.
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


def run() -> list[dict]:
    """Every figure of this script (see the module docstring)."""
    return bench_cycle() + bench_startup()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    from report import print_table

    print_table(run())

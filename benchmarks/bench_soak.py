"""Resident memory and idle CPU of ``kiosk run --simulate`` over a long run.

Run: .venv/bin/python benchmarks/bench_soak.py [--minutes 10]

Starts the kiosk in simulation with default settings (periodic re-checks included), presses the
button through the simulator API so the room is ``ready``, then samples the process's resident
memory (VmRSS) and CPU time from /proc every few seconds with no web clients connected.
Targets: RSS <= 120 MB after 10 minutes, no growth between minute 2 and the end; idle CPU in
``ready`` <= 2% of one core.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _get(url: str, data: dict | None = None) -> dict:
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def run(minutes: float = 10.0, sample_s: float = 5.0) -> list[dict]:
    """Run the soak for ``minutes`` and return the figures."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "kiosk.toml"
        conf.write_text(f'[web]\nhost = "127.0.0.1"\nport = {port}\n[mqtt]\nenabled = false\n'
                        f'[storage]\nstate_dir = "{tmp}"\n')
        proc = subprocess.Popen([sys.executable, "-m", "kiosk", "run", "--simulate", "--config", str(conf),
                                 "--log-level", "WARNING"], cwd=ROOT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    state = _get(f"{base}/api/state")
                    if state["checked_at"]:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("kiosk did not come up")
                time.sleep(0.2)
            _get(f"{base}/simulator/button", {"action": "press"})
            while _get(f"{base}/api/state")["state"] != "ready":
                time.sleep(0.2)
            start = time.monotonic()
            samples = []  # (seconds since start, rss MB, cpu s)
            while time.monotonic() - start < minutes * 60:
                samples.append((time.monotonic() - start, _rss_mb(proc.pid), _cpu_s(proc.pid)))
                time.sleep(sample_s)
            samples.append((time.monotonic() - start, _rss_mb(proc.pid), _cpu_s(proc.pid)))
            final_state = _get(f"{base}/api/state")["state"]
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert final_state == "ready", final_state
    t_end, rss_end, cpu_end = samples[-1]
    after2 = [s for s in samples if s[0] >= min(120, t_end / 5)]
    t2, rss2, cpu2 = after2[0]
    cpu_pct = 100 * (cpu_end - cpu2) / (t_end - t2)
    return [
        {"name": f"kiosk run --simulate RSS after {t_end / 60:.1f} min", "median_ms": rss_end, "p99_ms": None,
         "baseline": f"RSS at {t2 / 60:.1f} min", "baseline_median_ms": rss2, "ratio": rss_end / rss2,
         "target": "<= 120 MB, no growth", "unit": " MB"},
        {"name": "idle CPU in ready, no clients", "median_ms": cpu_pct, "p99_ms": None, "baseline": None,
         "baseline_median_ms": None, "ratio": None, "target": "<= 2% of one core", "unit": "%"},
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from report import print_table

    print_table(run(args.minutes))

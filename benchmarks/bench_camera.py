"""Cost of the camera analysis on 1920x1080 frames, beside the cost of reading such a frame.

Run: .venv/bin/python benchmarks/bench_camera.py

The baseline is reading one 1920x1080 frame from an MJPG file through cv2.VideoCapture:
the analysis should cost about as much as getting the frame in the first place.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from kiosk.checks.camera import analyse_frames
from kiosk.config import CameraConfig
from kiosk.hardware.camera import SimulatedCamera

WIDTH, HEIGHT = 1920, 1080
REPEATS = 300
WARMUP = 20


def _timings_ms(fn, repeats: int = REPEATS) -> np.ndarray:
    for _ in range(WARMUP):
        fn()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times * 1e3


def _reader(path: Path):
    """A function reading the next frame of ``path``, starting again at the end."""
    cap = cv2.VideoCapture(str(path))

    def read():
        nonlocal cap
        ok, _ = cap.read()
        if not ok:
            cap.release()
            cap = cv2.VideoCapture(str(path))
            ok, _ = cap.read()
        assert ok, f"cannot read {path}"

    return read


def run() -> list[dict]:
    """Time the analysis and the baseline; one dict per figure, with the keys
    name, median_ms, p99_ms, baseline, baseline_median_ms, ratio, target."""
    cfg = CameraConfig()
    frames = SimulatedCamera(WIDTH, HEIGHT).capture(30, 0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scene.avi"
        writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 10,
                                 (WIDTH, HEIGHT))
        for frame in frames:
            writer.write(frame)
        writer.release()
        read = _timings_ms(_reader(path))
    baseline = "read 1 frame 1920x1080 (MJPG, cv2.VideoCapture)"
    rows = [
        {"name": baseline, "times": read, "target": ""},
        {"name": "analyse_frames, 1 frame 1920x1080", "target": "<= 5 ms",
         "times": _timings_ms(lambda: analyse_frames(frames[:1], cfg))},
        {"name": "analyse_frames, 2 frames 1920x1080", "target": "<= 10 ms",
         "times": _timings_ms(lambda: analyse_frames(frames[:2], cfg))},
    ]
    base_median = float(np.median(read))
    results = []
    for row in rows:
        median = float(np.median(row["times"]))
        results.append({
            "name": row["name"],
            "median_ms": round(median, 3),
            "p99_ms": round(float(np.percentile(row["times"], 99)), 3),
            "baseline": baseline,
            "baseline_median_ms": round(base_median, 3),
            "ratio": round(median / base_median, 2),
            "target": row["target"],
        })
    return results


def main() -> None:
    results = run()
    width = max(len(r["name"]) for r in results)
    print(f"{'benchmark':<{width}}  {'median ms':>9}  {'p99 ms':>7}  {'x read':>6}  target")
    for r in results:
        print(f"{r['name']:<{width}}  {r['median_ms']:>9.2f}  {r['p99_ms']:>7.2f}  {r['ratio']:>6.2f}  {r['target']}")
    print(f"x read: median over the median of the first row; cv2 threads: {cv2.getNumThreads()}")


if __name__ == "__main__":
    main()

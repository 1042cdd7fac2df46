"""Cost of the camera and microphone analyses, beside the cost of reading what they analyse.

Run: .venv/bin/python benchmarks/bench_checks.py

Camera: analysing one 1920x1080 frame (and the four frames of one check), against reading
one such frame from an MJPG file through cv2.VideoCapture. Microphone: analysing one second
of 16 kHz audio (a quiet room, speech, a room with mains hum: hum costs a second FFT), against
reading that second through ``arecord`` from an ALSA ``file`` plugin device, as the kiosk
reads it (without the second of waiting a real microphone adds), and from a WAV file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import audio  # noqa: E402  (the test suite's signal makers)
from kiosk.checks.camera import analyse_frames  # noqa: E402
from kiosk.checks.microphone import analyse_audio  # noqa: E402
from kiosk.config import CameraConfig, MicrophoneConfig  # noqa: E402
from kiosk.hardware.camera import SimulatedCamera  # noqa: E402
from kiosk.hardware.microphone import AlsaMicrophone, FileMicrophone, Recording  # noqa: E402

WIDTH, HEIGHT = 1920, 1080
RATE = 16000
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


def _frame_reader(path: Path):
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


def _rows(baseline: str, rows: list[dict]) -> list[dict]:
    base = float(np.median(rows[0]["times"]))
    return [{
        "name": row["name"],
        "median_ms": round(float(np.median(row["times"])), 3),
        "p99_ms": round(float(np.percentile(row["times"], 99)), 3),
        "baseline": baseline,
        "baseline_median_ms": round(base, 3),
        "ratio": round(float(np.median(row["times"])) / base, 2),
        "target": row["target"],
    } for row in rows]


def camera_rows(tmp: Path) -> list[dict]:
    cfg = CameraConfig()
    frames = SimulatedCamera(WIDTH, HEIGHT).capture(30, 0)
    path = tmp / "scene.avi"
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), 30, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(frame)
    writer.release()
    baseline = "read 1 frame 1920x1080 (MJPG, cv2.VideoCapture)"
    return _rows(baseline, [
        {"name": baseline, "times": _timings_ms(_frame_reader(path)), "target": ""},
        {"name": "analyse_frames, 1 frame 1920x1080", "target": "<= 5 ms",
         "times": _timings_ms(lambda: analyse_frames(frames[:1], cfg))},
        {"name": "analyse_frames, 4 frames 1920x1080 (one check)", "target": "",
         "times": _timings_ms(lambda: analyse_frames(frames[:4], cfg))},
    ])


def microphone_rows(tmp: Path) -> list[dict]:
    cfg = MicrophoneConfig()
    quiet = audio.room_tone(2, -55)
    rooms = {
        "quiet room": quiet,
        "speech": audio.mix(audio.continuous_speech(), audio.room_tone(6, -55)),
        "mains hum": audio.mix(audio.hum(2, -40), quiet),
    }
    conf = tmp / "xdg" / "alsa"
    conf.mkdir(parents=True)
    (conf / "asoundrc").write_text(audio.capture_pcm("benchmic", audio.write_raw(tmp / "mic.raw", quiet)))
    os.environ["XDG_CONFIG_HOME"] = str(tmp / "xdg")
    mic = AlsaMicrophone("benchmic")
    wav = FileMicrophone(audio.write_wav(tmp / "mic.wav", quiet))
    assert mic.record(1.0, RATE).samples.size == RATE
    baseline = "read 1 s of 16 kHz audio (arecord, ALSA file plugin)"
    rows = [
        {"name": baseline, "times": _timings_ms(lambda: mic.record(1.0, RATE), repeats=60), "target": ""},
        {"name": "read 1 s of 16 kHz audio (WAV file)", "target": "",
         "times": _timings_ms(lambda: wav.record(1.0, RATE))},
    ]
    for name, samples in rooms.items():
        rec = Recording(samples[:RATE], RATE, RATE, 1.0)
        rows.append({"name": f"analyse_audio, 1 s 16 kHz, {name}", "target": "<= 10 ms",
                     "times": _timings_ms(lambda rec=rec: analyse_audio(rec, cfg))})
    return _rows(baseline, rows)


def run() -> list[dict]:
    """Time the analyses and their baselines; one dict per figure, with the keys
    name, median_ms, p99_ms, baseline, baseline_median_ms, ratio, target."""
    saved = os.environ.get("XDG_CONFIG_HOME")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return camera_rows(Path(tmp)) + microphone_rows(Path(tmp))
    finally:
        if saved is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = saved


def main() -> None:
    results = run()
    width = max(len(r["name"]) for r in results)
    print(f"{'benchmark':<{width}}  {'median ms':>9}  {'p99 ms':>7}  {'x read':>6}  target")
    for r in results:
        print(f"{r['name']:<{width}}  {r['median_ms']:>9.2f}  {r['p99_ms']:>7.2f}  {r['ratio']:>6.2f}  {r['target']}")
    print(f"x read: median over the median of the first row of its group; cv2 threads: {cv2.getNumThreads()}")


if __name__ == "__main__":
    main()

"""``kiosk check --json`` on fake low-level devices: a video file for the camera, a raw file behind
an ALSA ``file`` plugin device for the microphone (read by the real ``arecord``).

:func:`kiosk_check` writes the config and the device files under ``tmp_path``, runs the CLI in
this process and returns its exit code and the parsed JSON. The display and the clock are
simulated and there are no network hosts, so only the camera and the microphone decide.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import audio
import media
from kiosk import cli

MIC = "roommic"


def quiet_room() -> np.ndarray:
    """A microphone in a quiet room: room tone well above silence and below the noise warning."""
    return audio.room_tone(2.0, -55)


def room_video(tmp_path: Path) -> Path:
    """A good camera: the room with something moving."""
    return media.write_video(tmp_path / "good.avi", media.scene_frames(4, 640, 360))


def kiosk_check(tmp_path: Path, monkeypatch, capsys, *, frames: list[np.ndarray] | None = None, fps: float = 30.0,
                samples: np.ndarray | None = None) -> tuple[int, dict]:
    """Run ``kiosk check --json`` with a camera showing ``frames`` (a video at ``fps``) and a
    microphone hearing ``samples``; a good camera or a quiet room stands in for what is not given."""
    video = room_video(tmp_path) if frames is None else media.write_video(tmp_path / "camera.avi", frames, fps)
    raw = audio.write_raw(tmp_path / "mic.raw", quiet_room() if samples is None else samples)
    audio.use_asoundrc(tmp_path, monkeypatch, audio.capture_pcm(MIC, raw))
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[camera]\nbackend = "file"\nsource = "{video}"\nframe_interval_s = 0.0\n\n'
                      f'[microphone]\nbackend = "alsa"\ndevice = "{MIC}"\n\n'
                      '[display]\nbackend = "simulated"\n\n[clock]\nbackend = "simulated"\n')
    capsys.readouterr()
    code = cli.main(["check", "--json", "--config", str(config)])
    return code, json.loads(capsys.readouterr().out)

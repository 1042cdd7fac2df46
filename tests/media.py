"""Test media: synthetic camera frames and the files they are written to.

Frames are BGR ``uint8`` arrays. The faulty variants take good frames and spoil them the
way a real camera fails (a hand over the lens, a smeared lens, a window behind the room).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def scene(width: int = 1280, height: int = 720, seed: int = 0) -> np.ndarray:
    """A textured still scene: a gradient, random boxes and lines of text."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 190, width, dtype=np.float32)
    img = np.empty((height, width, 3), np.uint8)
    for channel, k in enumerate((0.8, 0.9, 1.0)):
        img[:, :, channel] = ramp * k
    for _ in range(25):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(width // 20, width // 4)), int(rng.integers(height // 20, height // 4))
        colour = tuple(int(c) for c in rng.integers(20, 230, 3))
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
    for i in range(6):
        cv2.putText(img, f"Line {i} of the agenda", (width // 10, (i + 2) * height // 10), cv2.FONT_HERSHEY_SIMPLEX,
                    height / 720, (20, 20, 20), max(1, height // 360), cv2.LINE_AA)
    return img


def scene_frames(n: int, width: int = 1280, height: int = 720, motion: bool = True, noise: float = 2.0,
                 seed: int = 0) -> list[np.ndarray]:
    """``n`` frames of :func:`scene` with sensor noise (sigma ``noise``) and, with
    ``motion``, a box sliding across. With neither, the frames are identical."""
    rng = np.random.default_rng(seed)
    base = scene(width, height, seed)
    frames = []
    for i in range(n):
        frame = base.copy()
        if motion:
            x = (i * width // 20) % width
            cv2.rectangle(frame, (x, height // 3), (x + width // 10, height // 2), (30, 160, 30), -1)
        if noise:
            frame = cv2.add(frame, rng.normal(0, noise, frame.shape).astype(np.int16), dtype=cv2.CV_8U)
        frames.append(frame)
    return frames


def black_frames(n: int, width: int = 1280, height: int = 720) -> list[np.ndarray]:
    """Pure black frames, as from a camera with its privacy shutter closed."""
    return [np.zeros((height, width, 3), np.uint8) for _ in range(n)]


def covered(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    """A hand over the lens: a little light bleeding through, and sensor noise."""
    rng = np.random.default_rng(seed)
    return [cv2.add(f // 25, rng.normal(0, 3, f.shape).astype(np.int16), dtype=cv2.CV_8U) for f in frames]


def blurred(frames: list[np.ndarray], sigma: float = 12.0, noise: float = 2.0, seed: int = 0) -> list[np.ndarray]:
    """A lens badly out of focus (Gaussian blur), with the sensor noise still sharp."""
    rng = np.random.default_rng(seed)
    return [cv2.add(cv2.GaussianBlur(f, (0, 0), sigma), rng.normal(0, noise, f.shape).astype(np.int16),
                    dtype=cv2.CV_8U) for f in frames]


def overexposed(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Exposure far too long: most of the picture blown out to white."""
    return [cv2.convertScaleAbs(f, alpha=3.0, beta=120) for f in frames]


def frozen(frame: np.ndarray, n: int) -> list[np.ndarray]:
    """The same frame ``n`` times, as from a camera whose driver has stopped."""
    return [frame.copy() for _ in range(n)]


def write_video(path: str | Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Write BGR frames to an MJPG ``.avi`` file; return its path."""
    path = Path(path)
    height, width = frames[0].shape[:2]
    # OpenCV's own MJPEG writer, not FFmpeg's: FFmpeg encodes the first frame at another quality,
    # so a video of identical frames would not decode to identical frames.
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), f"cannot write {path}"
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def write_image(path: str | Path, frame: np.ndarray) -> Path:
    """Write one frame as an image (the format follows the suffix); return its path."""
    path = Path(path)
    assert cv2.imwrite(str(path), frame), f"cannot write {path}"
    return path

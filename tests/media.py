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


def write_video(path: str | Path, frames: list[np.ndarray], fps: float = 30.0) -> Path:
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


# -- the way real cameras and capture devices fail ------------------------------------------------

def flat(n: int, colour: tuple[int, int, int], width: int = 1280, height: int = 720,
         text: str = "") -> list[np.ndarray]:
    """Frames of one flat BGR colour, with ``text`` in the middle: a capture device's blue
    "No signal" screen (255, 0, 0), a corrupted decode's green (0, 135, 0), a grey test card."""
    frame = np.full((height, width, 3), colour, np.uint8)
    if text:
        cv2.putText(frame, text, (width // 3, height // 2), cv2.FONT_HERSHEY_SIMPLEX, height / 360, (255, 255, 255),
                    max(1, height // 240), cv2.LINE_AA)
    return [frame.copy() for _ in range(n)]


def lost_band(frames: list[np.ndarray], start: float = 0.5, value: tuple[int, int, int] = (128, 128, 128),
              every: int = 1, end: float = 1.0) -> list[np.ndarray]:
    """Every ``every``-th frame with the rows from ``start`` to ``end`` (shares of the height)
    lost: one flat colour, as a USB camera short of bandwidth delivers them (at the top when
    the frame's start is lost, in the middle when the camera catches up again)."""
    out = []
    for i, f in enumerate(frames):
        f = f.copy()
        if i % every == every - 1:
            f[int(start * f.shape[0]):int(end * f.shape[0])] = value
        out.append(f)
    return out


def lost_block(frames: list[np.ndarray], start: float = 0.55, end: float = 1.0) -> list[np.ndarray]:
    """A decode that broke off: from a point ``start`` of the way through the frame (in the order
    it is sent, row by row, in 16x16 blocks) to its end, flat green (a corrupted MJPEG frame).
    With ``end`` before the frame's end the decode picks up again there (at a restart marker),
    part-way along a row of blocks: a lost block in the middle of the picture."""
    out = []
    for f in frames:
        f = f.copy()
        height, width = f.shape[:2]
        row = int(start * height) // 16 * 16
        last = height if end >= 1.0 else int(end * height) // 16 * 16
        f[row:row + 16, width // 2 // 16 * 16:] = (0, 135, 0)
        f[row + 16:last] = (0, 135, 0)
        if last < height:
            f[last:last + 16, :width // 3 // 16 * 16] = (0, 135, 0)
        out.append(f)
    return out


def smeared(frames: list[np.ndarray], start: float = 0.6, end: float = 1.0) -> list[np.ndarray]:
    """The last good row repeated down to ``end`` (the bottom unless given): another way a partly
    lost frame looks."""
    out = []
    for f in frames:
        f = f.copy()
        row = int(start * f.shape[0])
        f[row:int(end * f.shape[0])] = f[row - 1]
        out.append(f)
    return out


def dark_room(frames: list[np.ndarray], brightness: float = 0.16, noise: float = 2.0,
              seed: int = 0) -> list[np.ndarray]:
    """The same room with the lights off: everything ``brightness`` times as bright, sensor
    noise on top (a camera raises its gain in the dark, so ``noise`` may be larger)."""
    rng = np.random.default_rng(seed)
    return [cv2.add(cv2.convertScaleAbs(f, alpha=brightness), rng.normal(0, noise, f.shape).astype(np.int16),
                    dtype=cv2.CV_8U) for f in frames]


def night_room(n: int, width: int = 1280, height: int = 720, seed: int = 0) -> list[np.ndarray]:
    """A room at night with only a lit screen on the wall: mean brightness under 10, but a picture."""
    frames = dark_room(scene_frames(n, width, height, seed=seed), brightness=0.03, noise=1.0, seed=seed)
    for f in frames:
        cv2.rectangle(f, (width // 3, height // 5), (width // 2, height // 3), (150, 150, 150), -1)
    return frames


def people(n: int, width: int = 1280, height: int = 720, seed: int = 0, noise: float = 2.0) -> list[np.ndarray]:
    """People moving about the room: two figures walking and one leaning in close to the camera."""
    rng = np.random.default_rng(seed)
    base = scene(width, height, seed)
    frames = []
    for i in range(n):
        f = base.copy()
        for k, (speed, shade) in enumerate(((0.07, (60, 80, 140)), (-0.05, (120, 60, 40)))):
            x = int(width * ((0.2 + 0.6 * k + speed * i) % 1.0))
            r = height // 14
            cv2.ellipse(f, (x, int(height * 0.75)), (int(r * 1.8), int(r * 3)), 0, 180, 360, shade, -1)
            cv2.circle(f, (x, int(height * 0.75) - int(r * 3.8)), r, (110, 150, 200), -1)
        # Someone close to the lens fills a large, smooth, moving part of the picture.
        cv2.circle(f, (int(width * (0.85 - 0.02 * i)), height), height // 2, (70, 90, 120), -1)
        frames.append(cv2.add(f, rng.normal(0, noise, f.shape).astype(np.int16), dtype=cv2.CV_8U))
    return frames


def low_quality(frames: list[np.ndarray], quality: int = 30) -> list[np.ndarray]:
    """Frames through a cheap camera's coarse MJPEG: flat areas lose their sensor noise to compression."""
    return [cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)
            for f in frames]


def crushed_shadow(frames: list[np.ndarray], start: float = 0.7, seed: int = 0) -> list[np.ndarray]:
    """A dark table across the bottom of the picture, its shadow crushed to black (0, now and then 1-3)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        f = f.copy()
        row = int(start * f.shape[0])
        f[row:] = np.clip(rng.normal(0, 1.0, f[row:].shape), 0, 255).astype(np.uint8)
        out.append(f)
    return out


def blank_wall(n: int, width: int = 1280, height: int = 720, seed: int = 0) -> list[np.ndarray]:
    """A camera turned to face a plain, evenly lit wall: one colour with sensor noise."""
    rng = np.random.default_rng(seed)
    wall = np.full((height, width, 3), (175, 185, 195), np.uint8)
    return [cv2.add(wall, rng.normal(0, 1.5, wall.shape).astype(np.int16), dtype=cv2.CV_8U) for _ in range(n)]


def plain_ceiling(frames: list[np.ndarray], end: float = 0.4, seed: int = 0) -> list[np.ndarray]:
    """A plain, evenly painted ceiling across the top of the picture, down to ``end``: one colour,
    darker towards the corners (the lens's vignetting and the light's fall-off), sensor noise on top."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        f = f.copy()
        height, width = f.shape[:2]
        rows = int(end * height)
        y, x = np.mgrid[0:rows, 0:width].astype(np.float32)
        # Brightness falls off with the distance from the picture's centre: 15% darker at a corner.
        fall = 1.0 - 0.15 * (((x - width / 2) / (width / 2)) ** 2 + ((y - height / 2) / (height / 2)) ** 2) / 2
        ceiling = np.dstack([fall * level for level in (200, 205, 210)])
        f[:rows] = np.clip(ceiling + rng.normal(0, 1.5, ceiling.shape), 0, 255).astype(np.uint8)
        out.append(f)
    return out


def letterboxed(frames: list[np.ndarray], bar: float = 0.12) -> list[np.ndarray]:
    """Black bars across the top and bottom, as a capture device shows a wider picture."""
    out = []
    for f in frames:
        f = f.copy()
        rows = int(bar * f.shape[0])
        f[:rows] = 0
        f[f.shape[0] - rows:] = 0
        out.append(f)
    return out

"""Cameras: a small interface, its backends, and :func:`open_camera`.

Backends: ``picamera2`` (Raspberry Pi camera), ``opencv`` (USB/V4L2 camera),
``file`` (an image or video file, for tests and demonstrations) and ``simulated``
(a synthetic room scene with switchable faults).
"""

from __future__ import annotations

import os
import sys
import time
from abc import ABC, abstractmethod

import cv2
import numpy as np

from kiosk.config import CameraConfig
from kiosk.errors import ConfigError, DeviceError, DeviceMissing
from kiosk.hardware.base import Device, Faults

BACKENDS = ("picamera2", "opencv", "file", "simulated")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
FAULTS = ("none", "covered", "blurred", "frozen", "overexposed")

# Auto exposure needs a few frames after a camera starts; earlier frames are often dark.
_WARMUP_FRAMES = 5
# A V4L2 camera left open keeps old frames queued; drop them so a check sees the room now.
_STALE_FRAMES = 3


class Camera(Device, ABC):
    """A camera the readiness check can take frames from.

    Contract for backends:

    * ``capture(count, interval_s)`` returns ``count`` frames taken ``interval_s``
      seconds apart, each a ``numpy.ndarray`` of ``uint8``: HxWx3 in BGR order, or
      HxW grey. When the device cannot be opened or yields no frame it raises
      :class:`~kiosk.errors.DeviceMissing` (not there at all) or
      :class:`~kiosk.errors.DeviceError`, with a plain-English message staff can act
      on; the device is then released, and the next ``capture`` opens it again.
    * Devices are opened lazily by the first ``capture`` and kept open between
      captures. ``close()`` releases the device; it is idempotent, and a later
      ``capture`` opens the device again. Cameras are context managers.
    * ``backend`` is the backend's name, ``describe()`` a short description such as
      "USB camera /dev/video0"; ``still`` is True when every frame is the same
      picture by design (an image file), so an unchanging image means nothing.
    * ``frame_rate`` is the frame rate the device delivers (frames a second) as far as
      the backend knows it after a capture, or None when it does not know.

    Subclasses must override ``_read()`` (one frame) and ``describe()``; they may
    override ``_prepare()`` (open the device before a capture) and ``close()``.
    """

    backend = ""
    still = False
    frame_rate: float | None = None

    def capture(self, count: int, interval_s: float) -> list[np.ndarray]:
        """``count`` frames taken ``interval_s`` seconds apart (see the class docstring)."""
        if count < 1:
            raise ValueError(f"count must be at least 1, not {count}")
        try:
            self._prepare()
            frames = []
            start = time.monotonic()
            for i in range(count):
                # Pace from the start, so the time spent reading does not add up.
                delay = start + i * interval_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                frames.append(self._read())
            return frames
        except DeviceError:
            self.close()
            raise

    def _prepare(self) -> None:
        """Open the device if needed, before the frames of one capture are read."""

    @abstractmethod
    def _read(self) -> np.ndarray:
        """One frame, or raise DeviceError."""

    @abstractmethod
    def describe(self) -> str:
        """A short description of the device, e.g. "USB camera /dev/video0"."""

    def __repr__(self):
        return f"<{type(self).__name__} {self.describe()}>"


class OpenCVCamera(Camera):
    """A USB (V4L2) camera read through ``cv2.VideoCapture``.

    ``source`` is "" (the first camera), a device index such as "1", or a device path
    such as "/dev/video2". ``width``, ``height`` and ``fps`` are requested; the camera
    may deliver another size and rate. The rate is measured while the frames queued since
    the last capture are dropped (three or more back-to-back reads).
    """

    backend = "opencv"

    def __init__(self, source: str = "", width: int = 1280, height: int = 720, fps: float = 30.0):
        source = str(source).strip()
        self._fps = fps
        self._source: int | str = int(source) if source.isdigit() else (source or 0)
        # V4L2 opens index N as /dev/videoN: name the device staff can look for.
        self._device = f"/dev/video{self._source}" if isinstance(self._source, int) else self._source
        self._size = (width, height)
        self._cap = None

    def describe(self) -> str:
        return f"USB camera {self._device}"

    def _prepare(self) -> None:
        if self._cap is None:
            self._cap = self._open()
            stale = _WARMUP_FRAMES
        else:
            stale = _STALE_FRAMES
        times = []
        for _ in range(stale):
            self._cap.grab()
            times.append(time.monotonic())
        # The first grab may return a queued frame at once; from the second on each waits for a new one.
        if len(times) > 2 and times[-1] > times[1]:
            self.frame_rate = (len(times) - 2) / (times[-1] - times[1])

    def _open(self):
        # Checked first: OpenCV only logs to stderr about a path that does not exist.
        if isinstance(self._source, str) and not os.path.exists(self._source):
            raise DeviceMissing(f"No camera found at {self._device}: is it plugged in?")
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cap = cv2.VideoCapture(self._source, api)
        if not cap.isOpened():
            cap.release()
            raise DeviceMissing(f"No camera found at {self._device}: is it plugged in?")
        width, height = self._size
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        cap.set(cv2.CAP_PROP_FPS, self._fps)
        return cap

    def _read(self) -> np.ndarray:
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise DeviceError(f"The camera at {self._device} sent no picture: check its cable, "
                              "and that no other program is using it")
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FileCamera(Camera):
    """Frames from an image file (cv2.imread) or a video file (cv2.VideoCapture).

    An image gives the same picture every time (``still`` is True). A video is read on
    from where the previous capture stopped and starts again at its end, so a video
    of identical frames looks frozen and a video with motion does not. A video's
    ``frame_rate`` is the one its file states: a video written at 5 frames a second
    stands for a camera delivering 5.
    """

    backend = "file"

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self.still = self.path.lower().endswith(IMAGE_SUFFIXES)
        self._cap = None
        self._image = None

    def describe(self) -> str:
        return f"file {self.path}"

    def _prepare(self) -> None:
        # An open video survives the file being deleted: check every time.
        if not os.path.isfile(self.path):
            raise DeviceMissing(f"Camera file {self.path} is missing")
        if self.still:
            self._image = cv2.imread(self.path, cv2.IMREAD_COLOR)
            if self._image is None:
                raise DeviceError(f"Camera file {self.path} is not an image that can be read")
        elif self._cap is None:
            self._cap = self._open_video()

    def _open_video(self):
        # Also when a capture starts the video again: the file may have gone since _prepare.
        if not os.path.isfile(self.path):
            raise DeviceMissing(f"Camera file {self.path} is missing")
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"Camera file {self.path} is not a video that can be read")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.frame_rate = fps if fps > 0 else None
        return cap

    def _read(self) -> np.ndarray:
        if self.still:
            return self._image.copy()
        ok, frame = self._cap.read()
        if not ok:
            # End of the video: start again (reopening works for every container and codec).
            self._cap.release()
            self._cap = self._open_video()
            ok, frame = self._cap.read()
            if not ok:
                raise DeviceError(f"Camera file {self.path} has no frames that can be read")
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._image = None


class Picamera2Camera(Camera):
    """A Raspberry Pi camera (libcamera) through picamera2, imported on first capture.

    picamera2 comes from apt (``python3-picamera2``); a venv sees it only when created
    with ``--system-site-packages``.
    """

    backend = "picamera2"

    def __init__(self, width: int = 1280, height: int = 720):
        self._size = (width, height)
        self._cam = None

    def describe(self) -> str:
        return "Raspberry Pi camera"

    def _prepare(self) -> None:
        if self._cam is not None:
            return
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise DeviceError("picamera2 is not installed (apt install python3-picamera2; a venv needs "
                              f"--system-site-packages): {exc}") from exc
        try:
            cam = Picamera2()
        except Exception as exc:  # picamera2 raises IndexError/RuntimeError when no camera is attached
            raise DeviceMissing("No Raspberry Pi camera found: check the ribbon cable is seated "
                                f"both ends ({exc})") from exc
        try:
            # picamera2's "RGB888" is stored B, G, R: OpenCV's order, so no conversion is needed.
            cam.configure(cam.create_video_configuration(main={"size": self._size, "format": "RGB888"}))
            cam.start()
            for _ in range(_WARMUP_FRAMES):
                cam.capture_array("main")
        except Exception as exc:
            cam.close()
            raise DeviceError(f"The Raspberry Pi camera could not be started: {exc}") from exc
        self._cam = cam

    def _read(self) -> np.ndarray:
        try:
            return self._cam.capture_array("main")
        except Exception as exc:
            raise DeviceError(f"The Raspberry Pi camera sent no picture: {exc}") from exc

    def close(self) -> None:
        if self._cam is not None:
            self._cam.close()
            self._cam = None


class SimulatedCamera(Faults, Camera):
    """A synthetic meeting room with sensor noise and a person slowly moving.

    Set ``fault`` at any time to one of :data:`FAULTS` to change the frames produced:
    "covered" (near black), "blurred", "frozen" (the same frame again and again) or
    "overexposed" (blown out). The scene is drawn once; a frame costs a few ms.
    """

    backend = "simulated"
    DEVICE, FAULTS = "camera", FAULTS
    _NOISE_SIGMA = 1.5
    _NOISE_MARGIN = 32

    def __init__(self, width: int = 1280, height: int = 720):
        self.width, self.height = width, height
        self._rng = np.random.default_rng(0)
        self._base = _room_scene(width, height)
        # Noise is drawn once and cut from a random offset per frame, far cheaper than fresh noise.
        m = self._NOISE_MARGIN
        self._noise = np.rint(self._rng.normal(0, self._NOISE_SIGMA, (height + m, width + m, 3))).astype(np.int16)
        self._dark = (self._base // 40).astype(np.uint8)
        self._tick = 0
        self._frozen = None

    def _fault_changed(self) -> None:
        self._frozen = None  # a new "frozen" fault freezes a fresh frame

    def describe(self) -> str:
        return f"simulated camera {self.width}x{self.height}"

    def _read(self) -> np.ndarray:
        fault = self._fault
        if fault == "frozen":
            if self._frozen is None:
                self._frozen = self._render("none")
            return self._frozen.copy()
        return self._render(fault)

    def _render(self, fault: str) -> np.ndarray:
        self._tick += 1
        if fault == "covered":
            frame = self._dark.copy()
        else:
            frame = self._base.copy()
            _draw_person(frame, self._tick)
            if fault == "blurred":
                small = cv2.resize(frame, (self.width // 16, self.height // 16), interpolation=cv2.INTER_AREA)
                frame = cv2.resize(small, (self.width, self.height), interpolation=cv2.INTER_CUBIC)
            elif fault == "overexposed":
                frame = cv2.convertScaleAbs(frame, alpha=2.5, beta=120)
        dy, dx = self._rng.integers(0, self._NOISE_MARGIN, 2)
        noise = self._noise[dy:dy + self.height, dx:dx + self.width]
        return cv2.add(frame, noise, dtype=cv2.CV_8U)


def _room_scene(width: int, height: int) -> np.ndarray:
    """A meeting room drawn in proportion to the frame: wall, window, whiteboard, table."""
    def px(x, y):
        return int(x * width), int(y * height)

    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    wall = np.array([150, 170, 185], np.float32) * (1.0 - 0.3 * rows)  # lit from above
    img = np.empty((height, width, 3), np.uint8)
    img[:] = wall
    cv2.rectangle(img, px(0, 0.72), px(1, 1), (70, 90, 110), -1)                 # carpet
    cv2.rectangle(img, px(0.05, 0.12), px(0.3, 0.55), (210, 200, 190), -1)       # window
    cv2.line(img, px(0.175, 0.12), px(0.175, 0.55), (90, 90, 90), max(2, width // 320))
    cv2.rectangle(img, px(0.45, 0.1), px(0.9, 0.45), (235, 235, 235), -1)        # whiteboard
    cv2.rectangle(img, px(0.45, 0.1), px(0.9, 0.45), (60, 60, 60), max(2, width // 400))
    scale = height / 720
    for i, line in enumerate(("Child Protection Conference", "Agenda: 1. Introductions",
                              "2. Reports   3. Plan", "Room: Hybrid Suite 1")):
        org = (int(0.47 * width), int((0.16 + 0.07 * i) * height))
        cv2.putText(img, line, org, cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, (40, 40, 140), max(1, int(2 * scale)),
                    cv2.LINE_AA)
    cv2.rectangle(img, px(0.1, 0.62), px(0.9, 0.8), (40, 70, 110), -1)          # table
    for x in np.linspace(0.15, 0.85, 6):                                          # chairs
        cv2.rectangle(img, px(x - 0.03, 0.8), px(x + 0.03, 0.95), (50, 50, 50), -1)
    return img


def _draw_person(img: np.ndarray, tick: int) -> None:
    """A person walking slowly along the table, so successive frames differ."""
    height, width = img.shape[:2]
    x = int(width * (0.3 + 0.25 * np.sin(tick / 20)))
    r = max(4, height // 16)
    cv2.ellipse(img, (x, int(height * 0.62)), (int(r * 1.8), int(r * 2.2)), 0, 180, 360, (120, 60, 40), -1)
    cv2.circle(img, (x, int(height * 0.62) - int(r * 3)), r, (110, 150, 200), -1)


def open_camera(cfg: CameraConfig, backend: str) -> Camera:
    """The camera for an already-resolved ``backend`` (one of :data:`BACKENDS`, never "auto").

    Raises ConfigError when the "file" backend has no ``[camera] source``. Devices are
    not opened here but by the first capture, so device problems show up in the check.
    """
    if backend == "picamera2":
        return Picamera2Camera(cfg.width, cfg.height)
    if backend == "opencv":
        return OpenCVCamera(cfg.source, cfg.width, cfg.height, cfg.fps)
    if backend == "file":
        if not cfg.source:
            raise ConfigError("the file camera backend needs [camera] source set to an image or video file",
                              section="camera", key="source")
        return FileCamera(cfg.source)
    if backend == "simulated":
        return SimulatedCamera(cfg.width, cfg.height)
    raise ValueError(f"unknown camera backend {backend!r} (known: {', '.join(BACKENDS)})")

"""The camera check: is the picture usable for the conference?

:func:`analyse_frames` is a pure function of frames and thresholds; :func:`check_camera`
takes the frames from a camera and never raises for device problems.
"""

from __future__ import annotations

import cv2
import numpy as np

from kiosk.checks.result import CheckResult
from kiosk.config import CameraConfig
from kiosk.errors import DeviceError
from kiosk.hardware.camera import Camera

#: Scales the brightness-relative focus measure to readable numbers (a sharp room scores 30-60).
FOCUS_SCALE = 10_000
#: The focus measure is taken on frames scaled to this width, so it means the same at any resolution.
FOCUS_WIDTH = 640
#: Grey level from which a pixel counts as blown out.
SATURATED_LEVEL = 250


def analyse_frames(frames: list[np.ndarray], cfg: CameraConfig) -> CheckResult:
    """Judge frames from one capture: black, over-exposed, blurred, frozen, low resolution.

    Brightness and focus are measured on the last frame (the camera has had longest
    to settle); motion is the largest mean absolute difference between successive
    frames. Metrics: width, height, frames, luma_mean, saturated_fraction, focus,
    motion (None with a single frame).
    """
    if not frames:
        return CheckResult.failed("Camera gave no picture: check it is plugged in, then check again.", frames=0)
    greys = [_grey(f) for f in frames]
    grey = greys[-1]
    height, width = grey.shape
    metrics = {
        "width": width,
        "height": height,
        "frames": len(frames),
        "luma_mean": round(cv2.mean(grey)[0], 2),
        "saturated_fraction": round(_saturated_fraction(grey), 4),
        "focus": round(_focus(grey), 2),
        "motion": round(_motion(greys), 4) if len(greys) > 1 else None,
    }
    if metrics["luma_mean"] < cfg.dark_luma:
        return CheckResult.failed("Camera image is black: is the lens covered or the privacy shutter closed?",
                                  **metrics)
    if metrics["luma_mean"] > cfg.bright_luma or metrics["saturated_fraction"] > cfg.saturated_fraction:
        return CheckResult.failed("Camera image is over-exposed (washed out): is it facing a window "
                                  "or a bright light?", **metrics)
    if metrics["focus"] < cfg.min_focus:
        return CheckResult.failed("Camera image is blurred: it is out of focus or the lens is dirty.", **metrics)
    if metrics["motion"] is not None and metrics["motion"] < cfg.frozen_diff:
        return CheckResult.failed("Camera image is frozen: unplug the camera, plug it back in and check again.",
                                  **metrics)
    if width < cfg.min_width:
        return CheckResult.warned(f"Camera resolution is low ({width}x{height}, want at least {cfg.min_width} "
                                  "wide): tell IT.", **metrics)
    return CheckResult.passed(f"Camera OK ({width}x{height})", **metrics)


def check_camera(camera: Camera, cfg: CameraConfig) -> CheckResult:
    """Capture ``cfg.frames`` frames ``cfg.frame_interval_s`` apart and analyse them.

    A device error becomes a ``fail`` with the device's message. A still image
    (``camera.still``) is captured once: repeating it would only look frozen.
    """
    count = 1 if camera.still else cfg.frames
    try:
        frames = camera.capture(count, cfg.frame_interval_s)
    except DeviceError as exc:
        return CheckResult.failed(str(exc), frames=0)
    return analyse_frames(frames, cfg)


def _grey(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def _saturated_fraction(grey: np.ndarray) -> float:
    _, blown = cv2.threshold(grey, SATURATED_LEVEL - 1, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(blown) / grey.size


def _focus(grey: np.ndarray) -> float:
    """Variance of the Laplacian on the frame scaled down to FOCUS_WIDTH, relative to brightness.

    Low means blurred. A 3x3 Gaussian first (a Laplacian of Gaussian) keeps sensor noise
    from passing for detail, and dividing by the mean brightness squared keeps a sharp
    image of a dim room from reading as blurred (the Laplacian scales with brightness).
    """
    height, width = grey.shape
    if width > FOCUS_WIDTH:
        # INTER_AREA averages pixels, which also keeps sensor noise from passing for detail.
        size = (FOCUS_WIDTH, max(1, round(height * FOCUS_WIDTH / width)))
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    mean, std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_64F))
    brightness = max(float(cv2.mean(grey)[0]), 1.0)
    return FOCUS_SCALE * float(std[0, 0]) ** 2 / brightness ** 2


def _motion(greys: list[np.ndarray]) -> float:
    """The largest mean absolute difference between successive frames (0 when frozen)."""
    # cv2.norm with NORM_L1 sums |a - b| without building the difference image.
    return max(cv2.norm(a, b, cv2.NORM_L1) / a.size for a, b in zip(greys, greys[1:]))

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
#: Contrast and flatness are measured on the grey frame scaled down to this width: area averaging
#: takes the sensor noise out, so what is left is the room's own structure.
SMALL_WIDTH = 160
#: A pixel of the scaled-down frame within this many grey levels of the frame's median counts as
#: part of one flat colour.
FLAT_TOLERANCE = 10
#: A lost part repeats the row above exactly over the full width for at least this many rows. Coarse
#: MJPEG repeats rows exactly inside its 8- and 16-row blocks, but sensor noise and the light's
#: gradients change some block at every block edge; a lost band repeats across all of them.
LOST_MIN_ROWS = 24
#: Grey levels this close to 0 or 255 are clipped (crushed shadows, blown highlights): flat for
#: want of range, so never taken for a lost part.
CLIPPED_MARGIN = 12


def analyse_frames(frames: list[np.ndarray], cfg: CameraConfig, fps: float | None = None) -> CheckResult:
    """Judge frames from one capture: over-exposed, no picture (one flat colour), black,
    too dark, damaged, blurred, frozen, slow, low resolution.

    Brightness, colour, contrast and focus are measured on the last frame (the camera has
    had longest to settle); lost parts on every frame (a camera short of USB bandwidth
    loses them now and then); motion is the largest mean absolute difference between
    successive frames. ``fps`` is the frame rate the camera delivers, when known.
    Metrics: width, height, frames, luma_mean, saturated_fraction, focus, motion (None
    with a single frame), structure, flat_fraction, lost_fraction, fps (None when unknown).
    """
    if not frames:
        return CheckResult.failed("Camera gave no picture: check it is plugged in, then check again.", frames=0)
    metrics = _measure(frames, fps)
    width, height = metrics["width"], metrics["height"]
    warnings = []
    if metrics["luma_mean"] > cfg.bright_luma or metrics["saturated_fraction"] > cfg.saturated_fraction:
        return CheckResult.failed("Camera image is over-exposed (washed out): is it facing a window "
                                  "or a bright light? Close the blinds or turn it away.", **metrics)
    if metrics["flat_fraction"] >= cfg.flat_fraction and _is_colour(_mean_colour(frames[-1]), cfg):
        return CheckResult.failed("Camera shows one flat colour, no picture: check its cable and capture device "
                                  "are plugged in and on, or turn it away from a blank wall.", **metrics)
    if metrics["luma_mean"] < cfg.dark_luma:
        if metrics["structure"] < cfg.dark_structure:
            return CheckResult.failed("Camera image is black: is the lens covered or the privacy shutter closed?",
                                      **metrics)
        brightness = f"brightness {metrics['luma_mean']:.0f} of 255"
        if metrics["luma_mean"] < cfg.very_dark_luma:
            return CheckResult.failed(f"Camera picture is too dark to see anyone ({brightness}): turn the lights "
                                      "on.", **metrics)
        warnings.append(f"Camera picture is too dark ({brightness}): turn the lights on")
    if metrics["lost_fraction"] >= cfg.lost_fraction:
        return CheckResult.failed(f"Camera picture is damaged ({100 * metrics['lost_fraction']:.0f}% of it is "
                                  "lost): plug the camera straight into the kiosk, not a hub, and check its cable.",
                                  **metrics)
    if metrics["focus"] < cfg.min_focus:
        return CheckResult.failed("Camera image is blurred: it is out of focus or the lens is dirty. Wipe the lens "
                                  "or turn its focus ring.", **metrics)
    if metrics["motion"] is not None and metrics["motion"] < cfg.frozen_diff:
        return CheckResult.failed("Camera image is frozen: unplug the camera, plug it back in and check again.",
                                  **metrics)
    if fps and fps < cfg.fps * cfg.slow_fps_fraction:
        warnings.append(f"Camera sends only {fps:.0f} frames a second ({cfg.fps:g} wanted): plug it straight into "
                        "the kiosk, not a hub, or tell IT")
    if width < cfg.min_width:
        warnings.append(f"Camera resolution is low ({width}x{height}, want at least {cfg.min_width} wide): tell IT")
    if warnings:
        return CheckResult.warned("; ".join(warnings) + ".", **metrics)
    return CheckResult.passed(f"Camera OK ({width}x{height})", **metrics)


def _measure(frames: list[np.ndarray], fps: float | None) -> dict:
    """Every metric of a non-empty capture (plain Python numbers, rounded)."""
    greys = [_grey(f) for f in frames]
    grey = greys[-1]
    height, width = grey.shape
    scaled = _scaled(grey, FOCUS_WIDTH)
    small = _scaled(scaled, SMALL_WIDTH)
    return {
        "width": width,
        "height": height,
        "frames": len(frames),
        "luma_mean": round(cv2.mean(grey)[0], 2),
        "saturated_fraction": round(_saturated_fraction(grey), 4),
        "focus": round(_focus(scaled), 2),
        "motion": round(_motion(greys), 4) if len(greys) > 1 else None,
        "structure": round(float(cv2.meanStdDev(small)[1][0, 0]), 2),
        "flat_fraction": round(_flat_fraction(small), 4),
        "lost_fraction": round(max(_lost_fraction(g) for g in greys), 4),
        "fps": round(fps, 2) if fps else None,
    }


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
    return analyse_frames(frames, cfg, camera.frame_rate)


def _grey(frame: np.ndarray) -> np.ndarray:
    return frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def _scaled(grey: np.ndarray, width: int) -> np.ndarray:
    """``grey`` scaled down to ``width`` by averaging (unchanged when it is not wider)."""
    height, full = grey.shape
    if full <= width:
        return grey
    return cv2.resize(grey, (width, max(1, round(height * width / full))), interpolation=cv2.INTER_AREA)


def _flat_fraction(small: np.ndarray) -> float:
    """The share of the (scaled-down grey) frame within FLAT_TOLERANCE of its median level."""
    median = float(np.median(small))
    near = cv2.inRange(small, max(0.0, median - FLAT_TOLERANCE), min(255.0, median + FLAT_TOLERANCE))
    return cv2.countNonZero(near) / small.size


def _mean_colour(frame: np.ndarray) -> tuple[float, float, float]:
    mean = cv2.mean(frame)
    return (mean[0],) * 3 if frame.ndim == 2 else mean[:3]


def _is_colour(colour: tuple[float, float, float], cfg: CameraConfig) -> bool:
    """True unless a flat colour (mean B, G, R) is black: the lens covered."""
    blue, green, red = colour
    luma = 0.114 * blue + 0.587 * green + 0.299 * red
    return luma >= cfg.dark_luma or max(blue, green, red) - min(blue, green, red) >= 2 * FLAT_TOLERANCE


def _lost_fraction(grey: np.ndarray) -> float:
    """The share of the frame in its longest lost band: full rows, each an exact repeat of the
    row above (one flat value, or the last good row smeared down), anywhere in the frame (its
    top, middle or end), as when a USB camera runs short of bandwidth or a decode breaks off.

    A photographed wall or ceiling, however plain and however coarse the MJPEG, never repeats
    exactly over LOST_MIN_ROWS full rows: sensor noise, vignetting and the light's gradients
    change it somewhere across the width. Rows clipped to black or white (crushed shadows,
    blown highlights) are flat for want of range, so never taken for a lost part.
    """
    height = grey.shape[0]
    if height < 2:
        return 0.0
    # The largest change between each row and the one above it: 0 for an exact repeat.
    change = cv2.reduce(cv2.absdiff(grey[1:], grey[:-1]), 1, cv2.REDUCE_MAX).ravel()
    repeated = np.concatenate(([False], change == 0, [False]))
    edges = np.flatnonzero(np.diff(repeated.view(np.int8)))
    longest = 0
    for first, end in zip(edges[::2], edges[1::2]):  # runs of repeated rows: [first, end) in row numbers
        if end - first >= LOST_MIN_ROWS and end - first > longest and _unclipped(grey[first]):
            longest = end - first
    return longest / height


def _unclipped(row: np.ndarray) -> bool:
    """True when a row has some level with room to vary (not all crushed black or blown white)."""
    low, high = int(row.min()), int(row.max())
    return high >= CLIPPED_MARGIN and low <= 255 - CLIPPED_MARGIN


def _saturated_fraction(grey: np.ndarray) -> float:
    _, blown = cv2.threshold(grey, SATURATED_LEVEL - 1, 255, cv2.THRESH_BINARY)
    return cv2.countNonZero(blown) / grey.size


def _focus(grey: np.ndarray) -> float:
    """Variance of the Laplacian of the frame (scaled down to FOCUS_WIDTH), relative to brightness.

    Low means blurred. Area averaging in the scaling and a 3x3 Gaussian first (a Laplacian
    of Gaussian) keep sensor noise from passing for detail, and dividing by the mean
    brightness squared keeps a sharp image of a dim room from reading as blurred (the
    Laplacian scales with brightness).
    """
    grey = cv2.GaussianBlur(grey, (3, 3), 0)
    mean, std = cv2.meanStdDev(cv2.Laplacian(grey, cv2.CV_64F))
    brightness = max(float(cv2.mean(grey)[0]), 1.0)
    return FOCUS_SCALE * float(std[0, 0]) ** 2 / brightness ** 2


def _motion(greys: list[np.ndarray]) -> float:
    """The largest mean absolute difference between successive frames (0 when frozen)."""
    # cv2.norm with NORM_L1 sums |a - b| without building the difference image.
    return max(cv2.norm(a, b, cv2.NORM_L1) / a.size for a, b in zip(greys, greys[1:]))

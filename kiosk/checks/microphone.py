"""The microphone check: is it delivering audio, not silent, not clipping, in a quiet room?"""

from __future__ import annotations

import numpy as np

from kiosk.checks.result import CheckResult
from kiosk.config import MicrophoneConfig
from kiosk.errors import DeviceError
from kiosk.hardware.microphone import Microphone, Recording

#: Reported instead of -inf for digital silence, so metrics stay finite numbers.
FLOOR_DBFS = -120.0
#: A sample this close to full scale counts as clipped (ADCs rarely reach exactly 1.0).
CLIP_LEVEL = 0.999
#: Fewer samples than this share of those expected means the device is dropping audio.
MIN_DELIVERED = 0.9
#: Length of the windows whose quietest levels give the background noise floor.
WINDOW_S = 0.05
NOISE_PERCENTILE = 10


def dbfs(amplitude: float) -> float:
    """An amplitude (1.0 = full scale) in dBFS, never below :data:`FLOOR_DBFS`."""
    return max(FLOOR_DBFS, 20 * float(np.log10(max(amplitude, 1e-12))))


def _noise_floor(x: np.ndarray, rate: int) -> float:
    """The level of the quieter moments: a percentile of the RMS of short windows."""
    win = max(1, round(WINDOW_S * rate))
    count = x.size // win
    if count == 0:
        return float(np.sqrt(np.mean(x**2)))
    rms = np.sqrt(np.mean(x[:count * win].reshape(count, win) ** 2, axis=1))
    return float(np.percentile(rms, NOISE_PERCENTILE))


def analyse_audio(rec: Recording, cfg: MicrophoneConfig) -> CheckResult:
    """Judge a recording against ``cfg``'s thresholds. Pure: no device access.

    In order: no audio or much less than expected fails; a sample rate far below the
    one asked for fails and any other difference warns; silence fails; clipping fails;
    a loud background warns (conferences need a quiet, private room).
    """
    x = rec.samples.astype(np.float64)
    expected = rec.expected_count
    metrics = {"rate": rec.rate, "samples": int(x.size), "expected_samples": expected}
    if x.size == 0:
        return CheckResult.failed("Microphone delivered no audio", **metrics)
    metrics.update(
        rms_dbfs=round(dbfs(np.sqrt(np.mean(x**2))), 2),
        peak_dbfs=round(dbfs(np.max(np.abs(x))), 2),
        noise_floor_dbfs=round(dbfs(_noise_floor(x, rec.rate)), 2),
        clipped_fraction=round(float(np.mean(np.abs(x) >= CLIP_LEVEL)), 6),
    )
    if x.size < MIN_DELIVERED * expected:
        return CheckResult.failed(
            f"Microphone delivered only {100 * x.size / expected:.0f}% of the audio expected", **metrics)
    warnings = []
    if rec.rate != rec.requested_rate:
        if rec.rate < rec.requested_rate / 2:
            return CheckResult.failed(
                f"Microphone records at only {rec.rate} Hz ({rec.requested_rate} Hz needed): "
                "voices would sound muffled", **metrics)
        warnings.append(f"Microphone runs at {rec.rate} Hz instead of {rec.requested_rate} Hz "
                        "(an ALSA 'plughw:' device converts the rate)")
    if metrics["rms_dbfs"] < cfg.silence_dbfs:
        return CheckResult.failed("Microphone is silent: is it muted or unplugged?", **metrics)
    if metrics["clipped_fraction"] > cfg.clip_fraction:
        return CheckResult.failed(
            f"Microphone is clipping ({100 * metrics['clipped_fraction']:.1f}% of samples at full scale): "
            "turn the input gain down", **metrics)
    if metrics["noise_floor_dbfs"] > cfg.noise_warn_dbfs:
        warnings.append(f"Room is noisy (background {metrics['noise_floor_dbfs']:.0f} dBFS): the conference "
                        "needs a quiet, private room; close the door and windows or turn down fans")
    if warnings:
        return CheckResult.warned("; ".join(warnings), **metrics)
    return CheckResult.passed(
        f"Microphone is working (level {metrics['rms_dbfs']:.0f} dBFS, "
        f"background {metrics['noise_floor_dbfs']:.0f} dBFS)", **metrics)


def check_microphone(mic: Microphone, cfg: MicrophoneConfig) -> CheckResult:
    """Record ``cfg.capture_s`` seconds and analyse them; device problems become ``fail``, never exceptions."""
    try:
        rec = mic.record(cfg.capture_s, cfg.rate)
    except DeviceError as exc:
        return CheckResult.failed(str(exc))
    return analyse_audio(rec, cfg)

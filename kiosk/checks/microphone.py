"""The microphone check: is it delivering live audio, without faults, in a quiet room?

:func:`analyse_audio` is a pure function of a recording and thresholds. Every level is
measured on the signal with DC removed; the background is judged on 20 ms moments with
DC, drift and mains hum taken out, so that a converter's offset, a ground loop and a
person talking each get their own verdict instead of passing for a noisy room.
"""

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
#: Length of the moments whose levels give the background and the speech swing: short
#: enough to fall between two syllables.
WINDOW_S = 0.02
#: Percentiles of the moments' levels: the lowest (2: one odd moment is left out), the background (10),
#: the top of the quietest quarter (25) and the loudest (98). The swing runs from the lowest to the
#: loudest; the background is steady when the quietest quarter lies close to the lowest.
LEVEL_PERCENTILES = (2, 10, 25, 98)
#: Below this the signal is drift, not sound: removed with DC before the background is measured.
HIGHPASS_HZ = 20.0
#: Hum is sought at the mains frequency and its harmonics up to this one.
HUM_HARMONICS = 8
#: Half-width (Hz) of the band taken as one hum line (mains drifts by a few tenths of a Hz).
HUM_HALF_WIDTH_HZ = 2.0
#: The spectrum beside a line is read from this far from it (a line between two FFT bins leaks
#: into its neighbours).
HUM_GAP_HZ = 6.0
#: The background beside a hum line is read this far either side of it.
HUM_SIDE_HZ = 20.0
#: How far (dB) a hum line must stand above the background beside it to count.
HUM_PROMINENCE_DB = 12.0
#: A sample within this of zero (two steps of 16-bit audio) counts as a dropped sample.
ZERO_LEVEL = 2 / 32768
#: The sound either side of a run of zeros is measured over this long to tell a cut from a fade.
EDGE_S = 0.005


def dbfs(amplitude: float) -> float:
    """An amplitude (1.0 = full scale) in dBFS, never below :data:`FLOOR_DBFS`."""
    return max(FLOOR_DBFS, 20 * float(np.log10(max(amplitude, 1e-12))))


def _power_dbfs(power: float) -> float:
    return dbfs(float(np.sqrt(max(power, 0.0))))


def _moment_levels(x: np.ndarray, rate: int) -> np.ndarray:
    """The level (dBFS) of each 20 ms moment of ``x``, or of the whole of it when shorter."""
    win = max(1, round(WINDOW_S * rate))
    count = x.size // win
    if count == 0:
        power = np.array([np.mean(x**2)])
    else:
        power = np.mean(x[:count * win].reshape(count, win) ** 2, axis=1)
    return 10 * np.log10(np.maximum(power, 10 ** (FLOOR_DBFS / 10)))


def _hum_and_clean(ac: np.ndarray, rate: int, mains_hz: float) -> tuple[float, float, np.ndarray]:
    """Mains hum in ``ac`` and ``ac`` without it: (hum level dBFS, prominence dB, cleaned signal).

    Hum counts only when the line at the mains frequency itself stands
    :data:`HUM_PROMINENCE_DB` above the spectrum beside it (a voice has nothing at 50 Hz,
    while its harmonics can sit on 100 or 150 Hz); its level is the sum of every prominent
    line. The cleaned signal has the hum (fitted sines at the prominent lines, subtracted),
    DC and drift (everything below :data:`HIGHPASS_HZ`) taken out, so that none of them is
    counted as background or as sound.
    """
    n = ac.size
    # Take out the line joining the two ends, so the FFT sees no jump where it wraps the capture
    # round: a drifting zero point would otherwise leak into every frequency.
    edge = max(1, min(n // 4, rate // 100))
    ac = ac - np.linspace(ac[:edge].mean(), ac[-edge:].mean(), n)
    spectrum = np.fft.rfft(ac)
    hz = rate / n  # width of one bin
    lines = _hum_lines(spectrum.real**2 + spectrum.imag**2, hz, mains_hz)
    hum = [(k, power) for k, power, db in lines if db >= HUM_PROMINENCE_DB] if lines and lines[0][2] >= \
        HUM_PROMINENCE_DB else []
    if hum:
        # Subtract the hum in time: a line between two FFT bins leaks far beyond any notch.
        ac = ac - _sines(ac, rate, _fundamental(spectrum, hz, mains_hz), [k for k, _ in hum])
        spectrum = np.fft.rfft(ac)
    spectrum[:int(np.ceil(HIGHPASS_HZ / hz))] = 0
    # Parseval for a one-sided spectrum: mean square = 2 * sum |X|^2 / n^2.
    hum_power = 2 * sum(power for _, power in hum) / n**2
    return _power_dbfs(hum_power), (lines[0][2] if lines else 0.0), np.fft.irfft(spectrum, n)


def _hum_lines(power: np.ndarray, hz: float, mains_hz: float) -> list[tuple[int, float, float]]:
    """(harmonic, power of its line, dB above the spectrum beside it) for each mains harmonic.

    "Beside" is the louder of the medians either side, so a slope (a microphone's low cut
    just above 50 Hz) does not pass for a line.
    """
    half, notch = max(1, round(HUM_HALF_WIDTH_HZ / hz)), max(2, round(HUM_GAP_HZ / hz))
    side = max(notch + 3, round(HUM_SIDE_HZ / hz))
    out = []
    for k in range(1, HUM_HARMONICS + 1):
        centre = round(k * mains_hz / hz)
        if centre - side < 0 or centre + side >= power.size:
            break
        line = power[centre - half:centre + half + 1]
        beside = max(float(np.median(power[centre - side:centre - notch])),
                     float(np.median(power[centre + notch + 1:centre + side])), 1e-30)
        out.append((k, float(line.sum()), 10 * float(np.log10(max(float(line.max()), 1e-30) / beside))))
    return out


def _fundamental(spectrum: np.ndarray, hz: float, mains_hz: float) -> float:
    """The hum's frequency between FFT bins: the peak near mains_hz, refined by Jacobsen's estimator."""
    half = max(1, round(HUM_HALF_WIDTH_HZ / hz))
    lo = round(mains_hz / hz) - half
    peak = lo + int(np.argmax(np.abs(spectrum[lo:lo + 2 * half + 1])))
    before, at, after = spectrum[peak - 1:peak + 2]
    denominator = 2 * at - before - after
    shift = float(np.real((before - after) / denominator)) if abs(denominator) > 0 else 0.0
    return (peak + max(-0.5, min(0.5, shift))) * hz


def _sines(x: np.ndarray, rate: int, f0: float, harmonics: list[int]) -> np.ndarray:
    """The least-squares fit to ``x`` of sines at the given harmonics of ``f0``."""
    phase = 2 * np.pi * f0 * np.arange(x.size) / rate
    cos1, sin1 = np.cos(phase), np.sin(phase)
    cos_k, sin_k = cos1, sin1
    fit = np.zeros(x.size)
    for k in range(1, max(harmonics) + 1):
        if k in harmonics:
            # Sums of products, not np.dot: BLAS threads stall on a busy two-core Pi.
            fit += cos_k * (2 * float((x * cos_k).sum()) / x.size) + sin_k * (2 * float((x * sin_k).sum()) / x.size)
        # The next harmonic by the angle-sum formulas: cheaper than cos and sin again.
        cos_k, sin_k = cos_k * cos1 - sin_k * sin1, sin_k * cos1 + cos_k * sin1
    return fit


def _dropouts(x: np.ndarray, rate: int, min_ms: float, live: float) -> tuple[int, float]:
    """Runs of (near) zero samples of at least ``min_ms`` cut into live audio: (count, total ms).

    A dropout cuts the sound off and brings it back abruptly, so the 5 ms either side of it
    are at least ``live`` (RMS); a noise gate fades the sound out first and is not a dropout.
    Runs touching the start or the end are left out: a device often delivers zeros while it
    starts, and a run at the end cannot be told from the start of a pause.
    """
    zero = np.abs(x) <= ZERO_LEVEL
    edges = np.diff(np.concatenate(([0], zero.view(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (starts > 0) & (ends < x.size) & (ends - starts >= min_ms * rate / 1000)
    side = max(1, round(EDGE_S * rate))
    lengths = [end - begin for begin, end in zip(starts[keep], ends[keep])
               if min(_rms(x[max(0, begin - side):begin]), _rms(x[end:end + side])) >= live]
    return len(lengths), float(1000 * sum(lengths) / rate)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - x.mean()) ** 2)))


def _measure(x: np.ndarray, rate: int, cfg: MicrophoneConfig) -> dict:
    """Every metric of a non-empty capture (plain Python numbers, rounded)."""
    dc = float(np.mean(x))
    ac = x - dc
    hum_dbfs, hum_prominence, clean = _hum_and_clean(ac, rate, cfg.mains_hz)
    levels = _moment_levels(clean, rate)
    low, quiet, quarter, loud = np.percentile(levels, LEVEL_PERCENTILES)
    dropouts, dropout_ms = _dropouts(x, rate, cfg.dropout_ms, 10 ** (cfg.silence_dbfs / 20))
    return {
        "dc_offset": round(dc, 5),
        "rms_dbfs": round(_power_dbfs(float(np.mean(ac**2))), 2),
        "peak_dbfs": round(dbfs(float(np.max(np.abs(x)))), 2),
        "noise_floor_dbfs": round(float(quiet), 2),
        "floor_spread_db": round(float(quarter - low), 2),
        "swing_db": round(float(loud - low), 2),
        "clipped_fraction": round(float(np.mean(np.abs(x) >= CLIP_LEVEL)), 6),
        "clean_rms_dbfs": round(_power_dbfs(float(np.mean(clean**2))), 2),
        "hum_dbfs": round(hum_dbfs, 2),
        "hum_prominence_db": round(hum_prominence, 2),
        "dropouts": dropouts,
        "dropout_ms": round(dropout_ms, 1),
        # Speech: no steady background, and the level swinging as syllables come and go.
        "speech": bool(quarter - low > cfg.steady_spread_db and loud - low >= cfg.speech_swing_db),
    }


def analyse_audio(rec: Recording, cfg: MicrophoneConfig) -> CheckResult:
    """Judge a recording against ``cfg``'s thresholds. Pure: no device access.

    In order: no audio or much less than expected fails; a sample rate far below the
    one asked for fails and any other difference warns; no sound at all fails (silent:
    digital zero; stuck: a constant value; only mains hum); clipping fails; dropouts
    fail (from ``dropout_fail_count``) or warn; mains hum warns; a loud steady background
    warns, unless the capture is speech without a steady background (then it passes,
    saying speech was heard). Metrics carry every number used.
    """
    x = rec.samples.astype(np.float64)
    expected = rec.expected_count
    metrics = {"rate": rec.rate, "samples": int(x.size), "expected_samples": expected}
    if x.size == 0:
        return CheckResult.failed("Microphone delivered no audio: unplug it, plug it back in and check again", **metrics)
    metrics.update(_measure(x, rec.rate, cfg))
    if x.size < MIN_DELIVERED * expected:
        return CheckResult.failed(
            f"Microphone delivered only {100 * x.size / expected:.0f}% of the audio expected: plug it straight "
            "into the kiosk, not a hub, and check again", **metrics)
    warnings = []
    if rec.rate != rec.requested_rate:
        if rec.rate < rec.requested_rate / 2:
            return CheckResult.failed(
                f"Microphone records at only {rec.rate} Hz ({rec.requested_rate} Hz needed): "
                "voices would sound muffled; tell IT", **metrics)
        warnings.append(f"Microphone runs at {rec.rate} Hz instead of {rec.requested_rate} Hz "
                        "(an ALSA 'plughw:' device converts the rate): tell IT")
    dead = _no_sound(metrics, cfg)
    if dead:
        return CheckResult.failed(dead, **metrics)
    if metrics["clipped_fraction"] > cfg.clip_fraction:
        return CheckResult.failed(
            f"Microphone is clipping ({100 * metrics['clipped_fraction']:.1f}% of samples at full scale): "
            "turn the input gain down", **metrics)
    if metrics["dropouts"]:
        gaps = f"{metrics['dropouts']} dropout{'s' if metrics['dropouts'] > 1 else ''}"
        reason = (f"Microphone audio has gaps ({gaps}, {metrics['dropout_ms']:.0f} ms lost): plug it straight "
                  "into the kiosk, not a hub, and check its cable")
        if metrics["dropouts"] >= cfg.dropout_fail_count:
            return CheckResult.failed(reason, **metrics)
        warnings.append(reason)
    if metrics["hum_dbfs"] > cfg.hum_warn_dbfs:
        warnings.append("Microphone picks up mains hum: check the microphone cable and power supply "
                        f"(hum at {metrics['hum_dbfs']:.0f} dBFS)")
    if metrics["noise_floor_dbfs"] > cfg.noise_warn_dbfs and not metrics["speech"]:
        warnings.append(f"Room is noisy (background {metrics['noise_floor_dbfs']:.0f} dBFS): the conference "
                        "needs a quiet, private room; close the door and windows or turn down fans")
    if warnings:
        return CheckResult.warned("; ".join(warnings), **metrics)
    if metrics["noise_floor_dbfs"] > cfg.noise_warn_dbfs:
        # Speech over a background that cannot be measured while it lasts: it proves the microphone works.
        return CheckResult.passed(
            f"Microphone is working: speech heard (level {metrics['clean_rms_dbfs']:.0f} dBFS)", **metrics)
    return CheckResult.passed(
        f"Microphone is working (level {metrics['clean_rms_dbfs']:.0f} dBFS, "
        f"background {metrics['noise_floor_dbfs']:.0f} dBFS)", **metrics)


def _no_sound(metrics: dict, cfg: MicrophoneConfig) -> str | None:
    """The reason when the capture holds no sound (nothing above 20 Hz once hum is out), else None."""
    if metrics["clean_rms_dbfs"] >= cfg.silence_dbfs:
        return None
    if metrics["hum_dbfs"] > cfg.hum_warn_dbfs:
        return "Microphone gives only mains hum, no sound: check the microphone cable and power supply"
    if metrics["clipped_fraction"] > cfg.clip_fraction:
        # A converter stuck at full scale: clipping by measure, but no gain setting will mend it.
        return "Microphone is clipping: it is stuck at full scale; unplug it and plug it back in, or replace it"
    offset = abs(metrics["dc_offset"])
    if max(dbfs(offset), metrics["rms_dbfs"]) >= cfg.silence_dbfs:
        # A constant value or a slow drift: the converter delivers numbers but no sound.
        return (f"Microphone hears nothing: its output is stuck or drifting (offset {offset:.3f}); unplug it and "
                "plug it back in, or replace it")
    return "Microphone is silent: is it muted or unplugged?"


def check_microphone(mic: Microphone, cfg: MicrophoneConfig) -> CheckResult:
    """Record ``cfg.capture_s`` seconds and analyse them; device problems become ``fail``, never exceptions."""
    try:
        rec = mic.record(cfg.capture_s, cfg.rate)
    except DeviceError as exc:
        return CheckResult.failed(str(exc))
    return analyse_audio(rec, cfg)

"""The speaker check: play a test tone and listen for it with the microphone (acoustic loopback)."""

from __future__ import annotations

import numpy as np

from kiosk.checks.microphone import dbfs
from kiosk.checks.result import CheckResult
from kiosk.config import MicrophoneConfig, SpeakerConfig
from kiosk.errors import DeviceError
from kiosk.hardware.microphone import Microphone, Recording
from kiosk.hardware.speaker import Speaker

#: Spectra are averaged over segments this many tone periods long, so one FFT bin is 1% of the
#: tone frequency wide: narrow enough to tell the tone from its neighbours, wide enough for clock drift.
SEGMENT_PERIODS = 100
#: The neighbouring bands, on both sides of the tone (shares of its frequency).
NEIGHBOURS = (0.05, 0.2)
#: Fade in and out, so the speaker does not click.
RAMP_S = 0.01
#: How much longer than the tone playback may take before the speaker counts as hung.
PLAYBACK_MARGIN_S = 2.0


def tone(freq: float, seconds: float, rate: int, level_dbfs: float) -> np.ndarray:
    """A sine of ``freq`` Hz with a peak of ``level_dbfs``, faded in and out, as float32."""
    n = max(0, round(seconds * rate))
    x = 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * np.arange(n) / rate)
    ramp = min(n // 2, round(RAMP_S * rate))
    if ramp:
        fade = np.sin(np.linspace(0, np.pi / 2, ramp)) ** 2
        x[:ramp] *= fade
        x[n - ramp:] *= fade[::-1]
    return x.astype(np.float32)


def _spectrum(x: np.ndarray, seg: int) -> np.ndarray:
    """Power per FFT bin, averaged over Hann-windowed half-overlapping segments (Welch's method).

    Averaging steadies the noise in each bin, so noise alone cannot pass for a tone.
    """
    window = np.hanning(seg)
    segments = np.lib.stride_tricks.sliding_window_view(x, seg)[::max(1, seg // 2)]
    power = np.abs(np.fft.rfft(segments * window, axis=1)) ** 2
    # Scaled so that a full-scale sine reads 1.0 in its bin.
    return power.mean(axis=0) * (2 / window.sum()) ** 2


def analyse_loopback(rec: Recording, cfg: SpeakerConfig) -> CheckResult:
    """Whether the test tone stands at least ``cfg.min_snr_db`` above neighbouring bands. Pure: no device access.

    The tone's power (its strongest bin within 1% of its frequency) is compared with the
    mean power per bin of the bands 5-20% either side: speech or noise spreads over
    those bands, a tone does not.
    """
    x = rec.samples.astype(np.float64)
    freq = cfg.frequency_hz
    if x.size < 2:
        return CheckResult.failed("Microphone delivered no audio, so the test tone could not be heard")
    if freq * (1 + NEIGHBOURS[1]) >= rec.rate / 2:
        return CheckResult.failed(
            f"Test tone of {freq:g} Hz is too high for the microphone's {rec.rate} Hz sample rate: "
            "lower [speaker] frequency_hz", frequency_hz=freq, rate=rec.rate)
    seg = min(x.size, round(SEGMENT_PERIODS * rec.rate / freq))
    power = _spectrum(x, seg)
    offset = np.abs(np.fft.rfftfreq(seg, 1 / rec.rate) - freq) / freq
    bin_width = rec.rate / seg / freq
    tone_power = float(power[offset <= bin_width].max())
    noise_power = float(power[(offset >= NEIGHBOURS[0]) & (offset <= NEIGHBOURS[1])].mean())
    tone_db = dbfs(np.sqrt(tone_power))
    snr_db = tone_db - dbfs(np.sqrt(noise_power))
    metrics = {"tone_db": round(tone_db, 2), "snr_db": round(snr_db, 2), "frequency_hz": freq}
    if snr_db >= cfg.min_snr_db:
        return CheckResult.passed(f"Test tone heard {snr_db:.0f} dB above the background", **metrics)
    return CheckResult.failed("Test tone not heard: are the speakers on and unmuted?", **metrics)


def check_speaker(speaker: Speaker, mic: Microphone, mic_cfg: MicrophoneConfig,
                  spk_cfg: SpeakerConfig) -> CheckResult:
    """Play the test tone, record while it plays, and analyse; device problems become ``fail``.

    The tone is played at the microphone's rate, so a loopback needs no resampling.
    """
    samples = tone(spk_cfg.frequency_hz, spk_cfg.duration_s, mic_cfg.rate, spk_cfg.level_dbfs)
    try:
        speaker.play(samples, mic_cfg.rate)
    except DeviceError as exc:
        return CheckResult.failed(str(exc))
    try:
        rec = mic.record(spk_cfg.duration_s, mic_cfg.rate)
    except DeviceError as exc:
        speaker.stop()
        return CheckResult.failed(f"Cannot listen for the test tone: {exc}")
    try:
        finished = speaker.wait(spk_cfg.duration_s + PLAYBACK_MARGIN_S)
    except DeviceError as exc:
        return CheckResult.failed(str(exc))
    if not finished:
        speaker.stop()
        return CheckResult.failed(f"Speaker did not finish the {spk_cfg.duration_s:g} s test tone in time: "
                                  "the audio device is not responding")
    return analyse_loopback(rec, spk_cfg)

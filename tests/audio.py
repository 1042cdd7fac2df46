"""Audio for the microphone and speaker tests: signals, raw and WAV files, fake ALSA devices.

ALSA's ``file`` plugin gives real capture and playback devices without a sound card:
a capture device reads raw S16_LE samples from ``infile``, a playback device writes
them to ``file``. They are declared in an asoundrc under a temporary XDG_CONFIG_HOME.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest

RATE = 16000
SPEECH_TEXT = "Good morning. This is the microphone check for the conference room."


def level(dbfs: float) -> float:
    """The amplitude of a level in dBFS."""
    return 10 ** (dbfs / 20)


def noise(seconds: float, dbfs: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """White noise with an RMS of ``dbfs``."""
    return (level(dbfs) * np.random.default_rng(seed).standard_normal(round(seconds * rate))).astype(np.float32)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    """Digital silence."""
    return np.zeros(round(seconds * rate), dtype=np.float32)


def clipped(seconds: float, rate: int = RATE) -> np.ndarray:
    """A voice-band sine driven far past full scale and hard-clipped, as an over-driven input gives."""
    t = np.arange(round(seconds * rate)) / rate
    return np.clip(4 * np.sin(2 * np.pi * 220 * t), -1, 1).astype(np.float32)


def sine(freq: float, seconds: float, dbfs: float, rate: int = RATE) -> np.ndarray:
    """A plain sine with a peak of ``dbfs``."""
    t = np.arange(round(seconds * rate)) / rate
    return (level(dbfs) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def mix(*signals: np.ndarray) -> np.ndarray:
    """The sum of ``signals``, as long as the shortest."""
    n = min(s.size for s in signals)
    return np.sum([s[:n] for s in signals], axis=0).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _speech(rate: int, text: str = SPEECH_TEXT, espeak_args: tuple[str, ...] = ()) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        wav, raw = Path(tmp, "speech.wav"), Path(tmp, "speech.raw")
        subprocess.run(["espeak-ng", *espeak_args, "-w", str(wav), text], check=True, capture_output=True)
        subprocess.run(["sox", str(wav), "-t", "raw", "-r", str(rate), "-c", "1", "-b", "16",
                        "-e", "signed-integer", str(raw)], check=True, capture_output=True)
        x = np.frombuffer(raw.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    return x


def speech(peak_dbfs: float = -6.0, rate: int = RATE, text: str = SPEECH_TEXT,
           espeak_args: tuple[str, ...] = ()) -> np.ndarray:
    """A spoken sentence from espeak-ng, resampled by sox, with its peak at ``peak_dbfs``.

    Fails the test when espeak-ng or sox is missing: ./scripts/run-tests installs both.
    """
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"needs {' and '.join(missing)} to make speech (./scripts/run-tests installs them)")
    x = _speech(rate, text, espeak_args)
    return (x * (level(peak_dbfs) / np.max(np.abs(x)))).astype(np.float32)


def trimmed(x: np.ndarray, threshold_dbfs: float = -50.0) -> np.ndarray:
    """``x`` without the quiet lead-in and tail espeak-ng puts around speech."""
    loud = np.flatnonzero(np.abs(x) > level(threshold_dbfs))
    return x[loud[0]:loud[-1] + 1] if loud.size else x


def continuous_speech(peak_dbfs: float = -6.0, rate: int = RATE) -> np.ndarray:
    """Someone close to the microphone talking without pauses ("testing, testing, one two three ..."),
    starting at once: no quiet 50 ms window in the first second."""
    x = speech(peak_dbfs, rate, "testing testing one two three, can you hear me at the back of the room, "
               "testing testing one two three", ("-g", "0", "-s", "200"))
    return trimmed(x)


def paused_speech(peak_dbfs: float = -6.0, rate: int = RATE) -> np.ndarray:
    """Someone counting slowly, with pauses between the words."""
    return trimmed(speech(peak_dbfs, rate, "testing, one, two, three, four, five", ("-g", "40")))


def room_tone(seconds: float, dbfs: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """The hiss and rumble of a quiet room: noise falling with frequency (pinkish), RMS ``dbfs``."""
    return _shaped_noise(seconds, dbfs, rate, seed, lambda f: 1 / np.sqrt(np.maximum(f, 30)))


def fan(seconds: float, dbfs: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A ventilation fan: steady broadband noise plus its blade tone (115 Hz, not a mains harmonic)
    wavering a little, RMS ``dbfs``."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    x = _shaped_noise(seconds, 0.0, rate, seed, lambda f: 1 / np.maximum(f, 80) ** 0.7)
    x = x + 0.4 * np.sin(2 * np.pi * 115 * t) * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    return (x * level(dbfs) / np.sqrt(np.mean(x**2))).astype(np.float32)


def traffic(seconds: float, dbfs: float, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Traffic through an open window: low rumble swelling slowly as cars pass, RMS ``dbfs``."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    x = _shaped_noise(seconds, 0.0, rate, seed, lambda f: np.where(f < 600, 1.0, (600 / np.maximum(f, 1)) ** 2))
    x = x * (1 + 0.3 * np.sin(2 * np.pi * 0.25 * t))
    return (x * level(dbfs) / np.sqrt(np.mean(x**2))).astype(np.float32)


def _shaped_noise(seconds, dbfs, rate, seed, shape) -> np.ndarray:
    n = round(seconds * rate)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    gain = np.where(freqs > 20, shape(freqs), 0.0)
    x = np.fft.irfft(np.fft.rfft(np.random.default_rng(seed).standard_normal(n)) * gain, n)
    return (x * level(dbfs) / np.sqrt(np.mean(x**2))).astype(np.float32)


def hum(seconds: float, dbfs: float, mains_hz: float = 50.0, rate: int = RATE) -> np.ndarray:
    """Mains hum from a ground loop: the mains frequency (a little off, as the grid drifts) and its
    harmonics, odd ones strongest, RMS ``dbfs``."""
    t = np.arange(round(seconds * rate)) / rate
    f0 = mains_hz * 1.003
    x = sum(a * np.sin(2 * np.pi * k * f0 * t + k) for k, a in ((1, 1.0), (2, 0.3), (3, 0.6), (5, 0.3), (7, 0.15)))
    return (x * level(dbfs) / np.sqrt(np.mean(x**2))).astype(np.float32)


def with_dropouts(x: np.ndarray, gap_ms: float, every_ms: float, first_ms: float = 150.0,
                  rate: int = RATE) -> np.ndarray:
    """``x`` with runs of exact zeros ``gap_ms`` long every ``every_ms``, from ``first_ms`` on,
    as a USB microphone short of bandwidth delivers."""
    x = x.copy()
    gap = round(gap_ms * rate / 1000)
    for start in range(round(first_ms * rate / 1000), x.size, max(1, round(every_ms * rate / 1000))):
        x[start:start + gap] = 0
    return x


def stuck(seconds: float, value: float, lsb_noise: bool = False, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A converter stuck at ``value``; with ``lsb_noise`` its last bit still flickers."""
    x = np.full(round(seconds * rate), value, dtype=np.float32)
    if lsb_noise:
        x += np.random.default_rng(seed).integers(-1, 2, x.size).astype(np.float32) / 32768
    return x


def drift(seconds: float, amplitude: float, hz: float = 0.7, rate: int = RATE) -> np.ndarray:
    """A slow wander of the converter's zero point (below any sound)."""
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def to_int(samples: np.ndarray, width: int) -> np.ndarray:
    """Float samples as signed integers of ``width`` bytes (full scale = 2**(8*width - 1) - 1)."""
    full = 2 ** (8 * width - 1) - 1
    return np.round(np.clip(samples, -1, 1) * full).astype(np.int64)


def write_raw(path: Path, samples: np.ndarray) -> Path:
    """Write raw S16_LE samples, as ALSA's file plugin reads them."""
    path.write_bytes(to_int(samples, 2).astype("<i2").tobytes())
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, width: int = 2) -> Path:
    """Write a PCM WAV of ``width`` bytes per sample; ``samples`` is mono or (frames, channels)."""
    samples = np.asarray(samples)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    ints = to_int(samples.ravel(), width)
    if width == 1:
        data = (ints + 128).astype(np.uint8)  # 8-bit WAV is unsigned
    elif width == 3:
        data = ints.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]  # the low three bytes
    else:
        data = ints.astype(f"<i{width}")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(data.tobytes())
    return path


def capture_pcm(name: str, infile: Path) -> str:
    """An ALSA capture device that reads raw samples from ``infile``."""
    return (f'pcm.{name} {{\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
            f'  infile "{infile}"\n  format "raw"\n}}\n')


def playback_pcm(name: str, outfile: Path) -> str:
    """An ALSA playback device that writes raw samples to ``outfile``."""
    return f'pcm.{name} {{\n  type file\n  slave.pcm "null"\n  file "{outfile}"\n  format "raw"\n}}\n'


def use_asoundrc(tmp_path: Path, monkeypatch, *pcms: str) -> None:
    """Make ALSA programs started by this test see only ``pcms`` (plus ALSA's built-in ones)."""
    conf = tmp_path / "xdg" / "alsa"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "asoundrc").write_text("".join(pcms))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def fake_mic(tmp_path: Path, monkeypatch, samples: np.ndarray, name: str = "fakemic") -> str:
    """An ALSA capture device ``name`` that delivers ``samples``; returns its name."""
    use_asoundrc(tmp_path, monkeypatch, capture_pcm(name, write_raw(tmp_path / f"{name}.raw", samples)))
    return name


def stand_in(tmp_path: Path, monkeypatch, program: str, body: str) -> Path:
    """Put a Python stand-in for ``program`` (arecord, aplay) first on PATH.

    For behaviour that no fake ALSA device can produce, such as a busy device or a
    device with a fixed sample rate. ``body`` is Python run with ``args = sys.argv[1:]``.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / program
    script.write_text(f"#!{sys.executable}\nimport sys\nargs = sys.argv[1:]\n{body}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return script


def gated(x: np.ndarray, threshold_dbfs: float = -40.0, release_ms: float = 80.0, rate: int = RATE) -> np.ndarray:
    """``x`` through a speakerphone's noise gate: when the sound stays below ``threshold_dbfs`` the
    output fades out over ``release_ms`` to exact digital zero, and opens again at once."""
    win = round(0.01 * rate)
    count = x.size // win
    loud = np.sqrt(np.mean(x[:count * win].reshape(count, win) ** 2, axis=1)) >= level(threshold_dbfs)
    # Hold the gate open for the release time after each loud 10 ms, fading over that time.
    hold = max(1, round(release_ms / 10))
    gain = np.zeros(count)
    since = hold
    for i, is_loud in enumerate(loud):
        since = 0 if is_loud else since + 1
        gain[i] = 1.0 if since == 0 else max(0.0, 1 - since / hold)
    smooth = np.interp(np.arange(count * win), np.arange(count) * win + win / 2, gain)
    return (x[:count * win] * smooth).astype(np.float32)

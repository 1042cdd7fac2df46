"""Microphones: record a few seconds of mono audio for the microphone and speaker checks.

Backends: :class:`AlsaMicrophone` (the room's USB microphone, through ``arecord``),
:class:`FileMicrophone` (a WAV file) and :class:`SimulatedMicrophone` (a synthetic
room with settable faults). :func:`open_microphone` builds the one the config names.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
import wave
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kiosk.config import MicrophoneConfig
from kiosk.errors import ConfigError, DeviceError, DeviceMissing
from kiosk.hardware.base import Device, Faults


@dataclass(frozen=True)
class Recording:
    """Audio captured by a microphone.

    ``samples`` is float32 mono in [-1, 1] at ``rate``, the rate the device actually ran
    at; ``requested_rate`` and ``requested_seconds`` are what the caller asked for.
    """

    samples: np.ndarray
    rate: int
    requested_rate: int
    requested_seconds: float

    @property
    def expected_count(self) -> int:
        """How many samples ``requested_seconds`` of audio at the actual rate should hold."""
        return _count(self.rate, self.requested_seconds)


class Microphone(Device, ABC):
    """A microphone that records a few seconds of mono audio on demand.

    Backend contract:

    * Set the class attribute ``backend`` ("alsa", "file", "simulated") and override
      :meth:`record` and :meth:`describe`.
    * ``record(seconds, rate)`` blocks until it has the audio and returns a
      :class:`Recording` of float32 mono samples in [-1, 1] holding about ``seconds``
      of audio at ``Recording.rate``: the rate the device really ran at, which may differ
      from ``rate`` (the check reports that rather than the backend hiding it).
    * A device that is not there raises :class:`~kiosk.errors.DeviceMissing`; one that
      cannot be opened or read raises :class:`~kiosk.errors.DeviceError`. Messages are
      plain English a member of staff can act on. No other exception is raised for
      device trouble.
    * Constructing a backend does not touch the device, so a missing microphone is
      reported by the check, not at start-up.
    * ``close()`` releases what the backend holds and may be called any number of
      times; override it when there is something to release. Microphones are context
      managers.
    """

    backend: str = ""

    @abstractmethod
    def record(self, seconds: float, rate: int) -> Recording:
        """Record ``seconds`` of mono audio, asking the device for ``rate`` Hz."""

    @abstractmethod
    def describe(self) -> str:
        """A short description of the device for logs and the status page."""

def _count(rate: float, seconds: float) -> int:
    return max(0, round(rate * seconds))


def _from_s16le(data: bytes) -> np.ndarray:
    # Convert before any arithmetic: abs(-32768) overflows int16.
    usable = len(data) - len(data) % 2
    return np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0


# arecord/aplay messages look like "arecord: main:831: audio open error: Device or resource busy".
_OPEN_ERROR = re.compile(r"audio open error: (.+)")
_IO_ERROR = re.compile(r"(?:read|write) error: (.+)")
_RATE_WARNING = re.compile(r"rate is not accurate \(requested = (\d+) ?Hz, got = (\d+) ?Hz\)")


def start_alsa_tool(cmd: list[str], purpose: str, **popen_args) -> subprocess.Popen:
    """Start ``arecord`` or ``aplay`` (``cmd[0]``) in the C locale, as their messages are parsed.

    Raises :class:`~kiosk.errors.DeviceError` saying what to install when the program is
    missing; ``purpose`` completes "Cannot ...".
    """
    try:
        return subprocess.Popen(cmd, env={**os.environ, "LC_ALL": "C"}, **popen_args)
    except FileNotFoundError:
        raise DeviceError(f"Cannot {purpose}: the {cmd[0]} program is missing "
                          "(sudo apt install alsa-utils)") from None


def alsa_error(label: str, device: str, stderr: str, returncode: int, missing_hint: str) -> DeviceError:
    """The error to raise when ``arecord``/``aplay`` on ``device`` failed, from what it printed.

    ``label`` is "Microphone" or "Speaker"; ``missing_hint`` ends the message when the
    device does not exist.
    """
    name = f"{label} '{device}'"
    if returncode < 0:
        return DeviceError(f"{name} was stopped while in use")
    if opened := _OPEN_ERROR.search(stderr):
        reason = opened.group(1).strip()
        if "Unknown PCM" in stderr or reason in ("No such file or directory", "No such device"):
            return DeviceMissing(f"{name} not found: {missing_hint}")
        if reason == "Device or resource busy":
            return DeviceError(f"{name} is busy: another program (perhaps the video call) is using it")
        if reason == "Permission denied":
            return DeviceError(f"{name} cannot be opened: permission denied (the kiosk user must be in the "
                               "'audio' group)")
        return DeviceError(f"{name} cannot be opened: {reason}")
    if "non available" in stderr or "no configurations available" in stderr:
        return DeviceError(f"{name} cannot handle 16-bit mono audio: use a 'plughw:' device so ALSA converts it")
    if failed := _IO_ERROR.search(stderr):
        return DeviceError(f"{name} stopped working ({failed.group(1).strip()}): was it unplugged?")
    last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "no message")
    return DeviceError(f"{name} failed (exit status {returncode}): {last.strip()}")


class AlsaMicrophone(Microphone):
    """A capture device through ALSA's ``arecord`` (package alsa-utils).

    Each recording runs ``arecord`` once and reads its raw S16_LE output, so nothing is
    held open between checks. ``timeout_margin_s`` is how much longer than the
    recording itself ``arecord`` may take before it is killed.
    """

    backend = "alsa"

    def __init__(self, device: str = "default", *, timeout_margin_s: float = 5.0):
        self.device = device
        self.timeout_margin_s = timeout_margin_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def record(self, seconds: float, rate: int) -> Recording:
        if _count(rate, seconds) == 0:  # arecord would take "-s 0" as "no limit"
            return Recording(np.zeros(0, dtype=np.float32), rate, rate, seconds)
        data, actual = self._capture(rate, _count(rate, seconds), seconds)
        if actual != rate:
            # The device runs at a fixed rate of its own (a "hw:" device): arecord counts
            # samples, so ask again for the same duration at that rate.
            data, actual = self._capture(actual, _count(actual, seconds), seconds)
        return Recording(_from_s16le(data), actual, rate, seconds)

    def _capture(self, rate: int, count: int, seconds: float) -> tuple[bytes, int]:
        # No -q: it would also silence the "rate is not accurate" warning.
        cmd = ["arecord", "-D", self.device, "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(rate),
               "-s", str(count)]
        proc = start_alsa_tool(cmd, "record from the microphone", stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with self._lock:
            self._proc = proc
        timeout = seconds + self.timeout_margin_s
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise DeviceError(f"Microphone '{self.device}' did not deliver audio within {timeout:g} s: "
                              "unplug it and plug it back in") from None
        finally:
            with self._lock:
                self._proc = None
        stderr = err.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise alsa_error("Microphone", self.device, stderr, proc.returncode,
                             "is the USB microphone plugged in?")
        warning = _RATE_WARNING.search(stderr)
        return out, int(warning.group(2)) if warning else rate

    def describe(self) -> str:
        return f"ALSA capture device '{self.device}'"

    def close(self) -> None:
        """Stop a recording in progress (from another thread), so shutdown is not held up."""
        with self._lock:
            if self._proc is not None:
                self._proc.kill()


def _pcm_to_float(data: bytes, width: int) -> np.ndarray:
    """Little-endian integer PCM of ``width`` (1-4) bytes per sample as float32 in [-1, 1]."""
    if width == 1:  # WAV's 8-bit samples are unsigned
        return (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 2:
        return _from_s16le(data)
    if width == 3:
        # Put the three bytes at the top of an int32, which also takes care of the sign.
        b = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
        packed = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)
        return (packed.view(np.int32).astype(np.float64) / 2**31).astype(np.float32)
    return (np.frombuffer(data, dtype="<i4").astype(np.float64) / 2**31).astype(np.float32)


class FileMicrophone(Microphone):
    """A WAV file standing in for the microphone (8/16/24/32-bit integer PCM, any channels).

    ``record`` returns the first ``seconds`` of the file, mixed to mono, at the file's
    own rate (reported as the actual rate; nothing is resampled).
    """

    backend = "file"

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def record(self, seconds: float, rate: int) -> Recording:
        try:
            with wave.open(str(self.path), "rb") as wav:
                file_rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
                data = wav.readframes(_count(file_rate, seconds))
        except FileNotFoundError:
            raise DeviceMissing(f"Microphone file '{self.path}' not found") from None
        except (OSError, EOFError, wave.Error) as exc:
            raise DeviceError(f"Microphone file '{self.path}' is not a WAV file that can be read: {exc}") from None
        if width > 4:
            raise DeviceError(f"Microphone file '{self.path}' has {8 * width}-bit samples: "
                              "use 8, 16, 24 or 32-bit PCM")
        frame = width * channels
        samples = _pcm_to_float(data[:len(data) - len(data) % frame], width)
        mono = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
        return Recording(mono, file_rate, rate, seconds)

    def describe(self) -> str:
        return f"WAV file '{self.path}'"


#: Room tone level (RMS, dBFS) of the simulated room: a quiet meeting room.
ROOM_TONE_DBFS = -50.0
#: How loud sound from the simulated speaker arrives at the simulated microphone.
SPEAKER_GAIN = 0.1
SPEAKER_DELAY_S = 0.02


class SimulatedMicrophone(Faults, Microphone):
    """A synthetic quiet room: band-limited noise around -50 dBFS, now and then faint speech.

    ``fault`` may be changed at any time (from the simulator page): "none", "muted"
    (digital silence) or "clipping" (a very loud voice, hard-clipped). Sound given to
    :meth:`inject` (by the simulated speaker) is heard in the next recording. ``seed``
    makes the room repeatable. With ``realtime`` a recording takes as long as it lasts,
    as with a real microphone (the kiosk's simulation mode uses this, so timings are true).
    """

    backend = "simulated"
    DEVICE, FAULTS = "microphone", ("none", "muted", "clipping")

    def __init__(self, seed: int | None = None, realtime: bool = False):
        self.realtime = realtime
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._pending: list[tuple[np.ndarray, int]] = []

    def inject(self, samples: np.ndarray, rate: int) -> None:
        """Sound played into the room; it is heard, quieter and slightly late, in the next recording."""
        with self._lock:
            self._pending.append((np.asarray(samples, dtype=np.float32), rate))

    def record(self, seconds: float, rate: int) -> Recording:
        if self.realtime:
            deadline = time.monotonic() + seconds
            recording = self._synthesise(seconds, rate)
            time.sleep(max(0.0, deadline - time.monotonic()))
            return recording
        return self._synthesise(seconds, rate)

    def _synthesise(self, seconds: float, rate: int) -> Recording:
        n = _count(rate, seconds)
        fault = self._fault
        with self._lock:
            pending, self._pending = self._pending, []
        if n == 0 or fault == "muted":
            return Recording(np.zeros(n, dtype=np.float32), rate, rate, seconds)
        x = self._room_tone(n, rate)
        if self._rng.random() < 0.5:
            start = int(self._rng.integers(0, n))
            length = min(n - start, _count(rate, self._rng.uniform(0.3, 0.6)))
            x[start:start + length] += self._voice(length, rate, level=0.02)
        for sound, sound_rate in pending:
            self._mix(x, sound, sound_rate, rate)
        if fault == "clipping":
            x = np.clip(x + self._voice(n, rate, level=3.0), -1.0, 1.0)
        return Recording(x.astype(np.float32), rate, rate, seconds)

    def _room_tone(self, n: int, rate: int) -> np.ndarray:
        # Ventilation and distant traffic: energy falling with frequency, little above 4 kHz.
        freqs = np.fft.rfftfreq(n, 1 / rate)
        shape = np.where((freqs > 50) & (freqs < 4000), 1 / np.sqrt(np.maximum(freqs, 50)), 0.0)
        x = np.fft.irfft(np.fft.rfft(self._rng.standard_normal(n)) * shape, n)
        rms = np.sqrt(np.mean(x**2))
        return x * (10 ** (ROOM_TONE_DBFS / 20) / rms) if rms > 0 else x

    def _voice(self, n: int, rate: int, level: float) -> np.ndarray:
        """A speech-like sound: harmonics of a falling pitch, in syllables about 4 a second."""
        t = np.arange(n) / rate
        f0 = self._rng.uniform(100, 220) * (1 - 0.2 * t / max(t[-1], 1e-9))
        phase = 2 * np.pi * np.cumsum(f0) / rate
        x = sum(np.sin(k * phase) / k for k in range(1, 13))
        syllables = np.sin(np.pi * 4 * t + self._rng.uniform(0, np.pi)) ** 2
        return level * x * syllables

    @staticmethod
    def _mix(x: np.ndarray, sound: np.ndarray, sound_rate: int, rate: int) -> None:
        if sound_rate != rate:
            duration = sound.size / sound_rate
            sound = np.interp(np.arange(_count(rate, duration)) / rate, np.arange(sound.size) / sound_rate, sound)
        start = _count(rate, SPEAKER_DELAY_S)
        part = sound[:max(0, x.size - start)]
        x[start:start + part.size] += SPEAKER_GAIN * part

    def describe(self) -> str:
        return "simulated microphone" + (f" (fault: {self._fault})" if self._fault != "none" else "")


def open_microphone(cfg: MicrophoneConfig, backend: str) -> Microphone:
    """The microphone backend named by ``backend`` ("alsa", "file" or "simulated"), set up from ``cfg``."""
    if backend == "alsa":
        return AlsaMicrophone(cfg.device)
    if backend == "file":
        if not cfg.source:
            raise ConfigError("the file backend needs the path of a WAV file", section="microphone", key="source")
        return FileMicrophone(cfg.source)
    if backend == "simulated":
        return SimulatedMicrophone(realtime=True)
    raise ConfigError(f"unknown backend {backend!r}", section="microphone", key="backend")

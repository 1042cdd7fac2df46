"""Speakers: play the test tone for the acoustic loopback check.

Backends: :class:`AlsaSpeaker` (through ``aplay``) and :class:`SimulatedSpeaker`, which
plays into a :class:`~kiosk.hardware.microphone.SimulatedMicrophone` so the simulated
room hears it. :func:`open_speaker` builds the one the config names.
"""

from __future__ import annotations

import subprocess
import threading
from abc import ABC, abstractmethod

import numpy as np

from kiosk.config import SpeakerConfig
from kiosk.errors import ConfigError
from kiosk.hardware.base import Device, Faults
from kiosk.hardware.microphone import SimulatedMicrophone, alsa_error, start_alsa_tool


class Speaker(Device, ABC):
    """A speaker that plays a short sound in the background.

    Backend contract:

    * Set the class attribute ``backend`` ("alsa", "simulated") and override
      :meth:`play`, :meth:`wait` and :meth:`describe`; override :meth:`stop` when
      playback runs in the background.
    * ``play(samples, rate)`` starts playing float mono samples in [-1, 1] at ``rate`` Hz
      and returns at once (a sound still playing is stopped first). It raises
      :class:`~kiosk.errors.DeviceError` only when playback cannot even start.
    * ``wait(timeout)`` blocks until the sound has finished and returns True, or False
      if it is still playing after ``timeout`` seconds. If playback failed it raises
      ``DeviceError`` (or ``DeviceMissing``) with a plain-English message.
    * ``close()`` stops playback and may be called any number of times. Speakers are
      context managers. Constructing a backend does not touch the device.
    """

    backend: str = ""

    @abstractmethod
    def play(self, samples: np.ndarray, rate: int) -> None:
        """Start playing ``samples`` (float mono in [-1, 1]) at ``rate`` Hz."""

    @abstractmethod
    def wait(self, timeout: float | None = None) -> bool:
        """True once the sound has finished, False if still playing after ``timeout`` seconds."""

    @abstractmethod
    def describe(self) -> str:
        """A short description of the device for logs and the status page."""

    def stop(self) -> None:
        """Stop the sound now (nothing to do when playback is not in the background)."""

    def close(self) -> None:
        """Stop playback; safe to call twice."""
        self.stop()


def _to_s16le(samples: np.ndarray) -> bytes:
    clipped = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    return np.round(clipped * 32767).astype("<i2").tobytes()


class _Playback:
    """One ``aplay`` process, fed its samples on stdin by a thread."""

    def __init__(self, proc: subprocess.Popen, data: bytes):
        self.proc = proc
        self.stderr = b""
        self.stopped = False
        self.thread = threading.Thread(target=self._feed, args=(data,), name="aplay-feed", daemon=True)
        self.thread.start()

    def _feed(self, data: bytes) -> None:
        # aplay takes its input in real time once its buffer is full, so this blocks for the sound's length.
        _, self.stderr = self.proc.communicate(data)


class AlsaSpeaker(Speaker):
    """A playback device through ALSA's ``aplay`` (package alsa-utils)."""

    backend = "alsa"

    def __init__(self, device: str = "default"):
        self.device = device
        self._lock = threading.Lock()
        self._playback: _Playback | None = None

    def play(self, samples: np.ndarray, rate: int) -> None:
        self.stop()
        cmd = ["aplay", "-D", self.device, "-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", str(rate)]
        proc = start_alsa_tool(cmd, "play the test tone", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
        with self._lock:
            self._playback = _Playback(proc, _to_s16le(samples))

    def wait(self, timeout: float | None = None) -> bool:
        with self._lock:
            playback = self._playback
        if playback is None:
            return True
        playback.thread.join(timeout)
        if playback.thread.is_alive():
            return False
        if playback.proc.returncode != 0 and not playback.stopped:
            raise alsa_error("Speaker", self.device, playback.stderr.decode("utf-8", "replace"),
                             playback.proc.returncode, "is the speaker (or HDMI audio) connected and switched on?")
        return True

    def stop(self) -> None:
        with self._lock:
            playback, self._playback = self._playback, None
        if playback is not None and playback.thread.is_alive():
            playback.stopped = True
            playback.proc.kill()
            playback.thread.join()

    def describe(self) -> str:
        return f"ALSA playback device '{self.device}'"


class SimulatedSpeaker(Faults, Speaker):
    """A speaker in the simulated room: what it plays, ``microphone`` hears.

    ``fault`` may be changed at any time: "none" or "muted" (plays nothing). Without a
    simulated microphone the sound goes nowhere, as with a speaker in another room.
    """

    backend = "simulated"
    DEVICE, FAULTS = "speaker", ("none", "muted")

    def __init__(self, microphone: SimulatedMicrophone | None = None):
        self.microphone = microphone

    def play(self, samples: np.ndarray, rate: int) -> None:
        if self._fault != "muted" and self.microphone is not None:
            self.microphone.inject(samples, rate)

    def wait(self, timeout: float | None = None) -> bool:
        return True

    def describe(self) -> str:
        return "simulated speaker" + (f" (fault: {self._fault})" if self._fault != "none" else "")


def open_speaker(cfg: SpeakerConfig, backend: str, microphone=None) -> Speaker:
    """The speaker backend named by ``backend`` ("alsa" or "simulated"), set up from ``cfg``.

    A simulated speaker plays into ``microphone`` when that is a simulated microphone.
    """
    if backend == "alsa":
        return AlsaSpeaker(cfg.device)
    if backend == "simulated":
        return SimulatedSpeaker(microphone if isinstance(microphone, SimulatedMicrophone) else None)
    raise ConfigError(f"unknown backend {backend!r}", section="speaker", key="backend")

"""Microphone backends: real arecord on fake ALSA devices, WAV files, the simulated room."""

import os
import threading
import time

import numpy as np
import pytest

import audio
from kiosk.config import MicrophoneConfig
from kiosk.errors import ConfigError, DeviceError, DeviceMissing
from kiosk.hardware.microphone import (SPEAKER_DELAY_S, SPEAKER_GAIN, AlsaMicrophone, FileMicrophone,
                                       SimulatedMicrophone, alsa_error, open_microphone)


def _fifo_mic(tmp_path, monkeypatch):
    """A capture device reading a FIFO nobody writes to: arecord waits for audio for ever."""
    fifo = tmp_path / "never.fifo"
    os.mkfifo(fifo)
    audio.use_asoundrc(tmp_path, monkeypatch, audio.capture_pcm("hungmic", fifo))
    return "hungmic"


def test_alsa_delivers_the_exact_samples(tmp_path, monkeypatch):
    ints = np.array([-32768, -32767, -1, 0, 1, 32767] * 1000, dtype="<i2")
    raw = tmp_path / "extremes.raw"
    raw.write_bytes(ints.tobytes())
    audio.use_asoundrc(tmp_path, monkeypatch, audio.capture_pcm("fakemic", raw))
    rec = AlsaMicrophone("fakemic").record(0.375, 16000)
    assert rec.samples.dtype == np.float32
    assert (rec.rate, rec.requested_rate, rec.requested_seconds) == (16000, 16000, 0.375)
    assert rec.samples.size == rec.expected_count == 6000
    np.testing.assert_array_equal(rec.samples, ints.astype(np.float32) / 32768)
    assert rec.samples.min() == -1.0 and rec.samples.max() < 1.0


def test_alsa_honours_rate_and_seconds(tmp_path, monkeypatch):
    device = audio.fake_mic(tmp_path, monkeypatch, audio.noise(1, -30))
    rec = AlsaMicrophone(device).record(0.5, 44100)
    assert rec.rate == 44100
    assert rec.samples.size == 22050


def test_alsa_missing_device_raises_device_missing(tmp_path, monkeypatch):
    audio.use_asoundrc(tmp_path, monkeypatch)
    with pytest.raises(DeviceMissing, match=r"^Microphone 'hw:7,0' not found: is the USB microphone plugged in\?$"):
        AlsaMicrophone("hw:7,0").record(0.1, 16000)


def test_alsa_inaccurate_rate_records_again_at_the_device_rate(tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    audio.stand_in(tmp_path, monkeypatch, "arecord", f"""
rate, count = int(args[args.index("-r") + 1]), int(args[args.index("-s") + 1])
open({str(calls)!r}, "a").write(f"{{rate}} {{count}}\\n")
if rate != 48000:
    sys.stderr.write(f"Warning: rate is not accurate (requested = {{rate}}Hz, got = 48000Hz)\\n"
                     "         please, try the plug plugin (-Dplug:hw:1,0)\\n")
sys.stdout.buffer.write(b"\\x10\\x00" * count)
""")
    rec = AlsaMicrophone("hw:1,0").record(0.5, 16000)
    assert calls.read_text().split("\n")[:2] == ["16000 8000", "48000 24000"]
    assert (rec.rate, rec.requested_rate) == (48000, 16000)
    assert rec.samples.size == rec.expected_count == 24000


@pytest.mark.parametrize("stderr, error, message", [
    ("arecord: main:831: audio open error: Device or resource busy", DeviceError,
     "Microphone 'usbmic' is busy: another program (perhaps the video call) is using it"),
    ("arecord: main:831: audio open error: Permission denied", DeviceError,
     "Microphone 'usbmic' cannot be opened: permission denied (the kiosk user must be in the 'audio' group)"),
    ("arecord: set_params:1343: Channels count non available", DeviceError,
     "Microphone 'usbmic' cannot handle 16-bit mono audio: use a 'plughw:' device so ALSA converts it"),
    ("arecord: pcm_read:2221: read error: No such device", DeviceError,
     "Microphone 'usbmic' stopped working (No such device): was it unplugged?"),
    ("something new", DeviceError, "Microphone 'usbmic' failed (exit status 1): something new"),
])
def test_alsa_errors_are_explained(tmp_path, monkeypatch, stderr, error, message):
    audio.stand_in(tmp_path, monkeypatch, "arecord", f"sys.stderr.write({stderr!r} + '\\n')\nsys.exit(1)")
    with pytest.raises(error) as caught:
        AlsaMicrophone("usbmic").record(0.1, 16000)
    assert str(caught.value) == message
    assert type(caught.value) is error


def test_alsa_error_for_a_killed_process():
    assert str(alsa_error("Speaker", "x", "", -9, "hint")) == "Speaker 'x' was stopped while in use"


def test_alsa_without_arecord_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceError, match=r"arecord program is missing \(sudo apt install alsa-utils\)"):
        AlsaMicrophone().record(0.1, 16000)


def test_alsa_hung_device_times_out(tmp_path, monkeypatch):
    mic = AlsaMicrophone(_fifo_mic(tmp_path, monkeypatch), timeout_margin_s=0.3)
    start = time.monotonic()
    with pytest.raises(DeviceError, match=r"^Microphone 'hungmic' did not deliver audio within 0\.4 s"):
        mic.record(0.1, 16000)
    assert time.monotonic() - start < 2


def test_alsa_close_stops_a_recording_in_progress(tmp_path, monkeypatch):
    mic = AlsaMicrophone(_fifo_mic(tmp_path, monkeypatch))
    timer = threading.Timer(0.3, mic.close)
    timer.start()
    start = time.monotonic()
    with pytest.raises(DeviceError, match=r"^Microphone 'hungmic' was stopped while in use$"):
        mic.record(1.0, 16000)
    assert time.monotonic() - start < 3
    timer.join()
    mic.close()  # idempotent


@pytest.mark.parametrize("width", [1, 2, 3, 4])
@pytest.mark.parametrize("channels", [1, 2])
def test_file_reads_integer_pcm(tmp_path, width, channels):
    x = audio.sine(440, 1, -6, rate=8000)
    wav = audio.write_wav(tmp_path / "tone.wav", np.column_stack([x] * channels), rate=8000, width=width)
    rec = FileMicrophone(wav).record(0.5, 16000)
    assert (rec.rate, rec.requested_rate) == (8000, 16000)
    assert rec.samples.dtype == np.float32 and rec.samples.shape == (4000,)
    np.testing.assert_allclose(rec.samples, x[:4000], atol=2 / 2 ** (8 * width - 1) + 1e-6)


def test_file_mixes_stereo_to_mono(tmp_path):
    left, right = audio.sine(440, 0.1, -6), audio.noise(0.1, -20)
    wav = audio.write_wav(tmp_path / "stereo.wav", np.column_stack([left, right]))
    rec = FileMicrophone(wav).record(1, 16000)
    np.testing.assert_allclose(rec.samples, (left + right) / 2, atol=1e-4)


def test_file_missing_raises_device_missing_naming_the_path(tmp_path):
    with pytest.raises(DeviceMissing, match="gone.wav' not found"):
        FileMicrophone(tmp_path / "gone.wav").record(1, 16000)


def test_file_that_is_not_wav_raises_device_error(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(DeviceError, match="is not a WAV file that can be read"):
        FileMicrophone(bad).record(1, 16000)


@pytest.mark.parametrize("rate, seconds", [(8000, 0.1), (16000, 1.0), (48000, 0.25)])
def test_simulated_honours_rate_and_seconds(rate, seconds):
    rec = SimulatedMicrophone(seed=1).record(seconds, rate)
    assert rec.rate == rec.requested_rate == rate
    assert rec.samples.dtype == np.float32
    assert rec.samples.size == rec.expected_count == round(rate * seconds)
    assert np.abs(rec.samples).max() <= 1.0


def test_simulated_faults_shape_the_audio():
    mic = SimulatedMicrophone(seed=2)
    mic.fault = "muted"
    assert not mic.record(0.5, 16000).samples.any()
    mic.fault = "clipping"
    assert np.mean(np.abs(mic.record(0.5, 16000).samples) >= 0.999) > 0.1
    mic.fault = "none"
    assert "fault" not in mic.describe()


def test_simulated_rejects_unknown_fault():
    with pytest.raises(ValueError, match="unknown microphone fault 'broken'"):
        SimulatedMicrophone().fault = "broken"


def _amplitude_at(x, freq, rate):
    return 2 * abs(np.dot(x, np.exp(-2j * np.pi * freq * np.arange(x.size) / rate))) / x.size


def test_simulated_injected_sound_is_heard_in_the_next_recording_only():
    mic = SimulatedMicrophone(seed=3)
    mic.inject(audio.sine(1000, 0.5, -6, rate=48000), 48000)  # resampled to the recording rate
    heard = _amplitude_at(mic.record(0.5, 16000).samples, 1000, 16000)
    later = _amplitude_at(mic.record(0.5, 16000).samples, 1000, 16000)
    # Quieter by SPEAKER_GAIN, and the first SPEAKER_DELAY_S of the recording misses it.
    assert heard == pytest.approx(audio.level(-6) * SPEAKER_GAIN * (1 - SPEAKER_DELAY_S / 0.5), rel=0.02)
    assert later < heard / 100


def test_open_microphone_builds_each_backend(tmp_path):
    cfg = MicrophoneConfig(device="plughw:1,0", source=str(tmp_path / "a.wav"))
    alsa = open_microphone(cfg, "alsa")
    assert (alsa.backend, alsa.device) == ("alsa", "plughw:1,0")
    assert open_microphone(cfg, "file").describe() == f"WAV file '{tmp_path / 'a.wav'}'"
    with open_microphone(cfg, "simulated") as sim:
        assert sim.backend == "simulated"
    sim.close()


def test_open_microphone_file_without_source_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        open_microphone(MicrophoneConfig(), "file")
    assert (caught.value.section, caught.value.key) == ("microphone", "source")
    assert str(caught.value).startswith("[microphone] source: ")

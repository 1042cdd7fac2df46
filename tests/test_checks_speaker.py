"""The speaker (acoustic loopback) check, its analysis and the speaker backends."""

import os
import time

import numpy as np
import pytest

import audio
from kiosk.checks.result import Status
from kiosk.checks.speaker import analyse_loopback, check_speaker, tone
from kiosk.config import MicrophoneConfig, SpeakerConfig
from kiosk.errors import ConfigError
from kiosk.hardware.microphone import AlsaMicrophone, FileMicrophone, Recording, SimulatedMicrophone
from kiosk.hardware.speaker import AlsaSpeaker, SimulatedSpeaker, open_speaker

MIC = MicrophoneConfig()
SPK = SpeakerConfig(enabled=True)
NOT_HEARD = "Test tone not heard: are the speakers on and unmuted?"


def _rec(samples, rate=audio.RATE):
    return Recording(np.asarray(samples, dtype=np.float32), rate, rate, SPK.duration_s)


def _room(seconds=0.6, seed=0):
    return audio.noise(seconds, -50, seed=seed)


def test_tone_has_the_asked_length_level_and_fades():
    x = tone(1000, 0.6, 16000, -20)
    assert x.dtype == np.float32 and x.size == 9600
    assert np.abs(x).max() == pytest.approx(audio.level(-20), rel=1e-3)
    assert x[0] == 0 and abs(x[-1]) < 1e-4  # no click at either end


def test_loopback_tone_in_room_passes():
    heard = audio.mix(_room(), 0.05 * tone(1000, 0.6, 16000, -20))
    result = analyse_loopback(_rec(heard), SPK)
    assert result.status is Status.PASS
    assert result.reason.startswith("Test tone heard ")
    assert result.metrics["tone_db"] == pytest.approx(-46, abs=1)
    assert result.metrics["snr_db"] >= SPK.min_snr_db


def test_loopback_tone_for_part_of_the_recording_passes():
    late = np.concatenate([audio.silence(0.2), tone(1000, 0.4, 16000, -40)])
    assert analyse_loopback(_rec(audio.mix(_room(), late)), SPK).status is Status.PASS


def test_loopback_room_without_tone_fails():
    result = analyse_loopback(_rec(_room()), SPK)
    assert result.status is Status.FAIL
    assert result.reason == NOT_HEARD
    assert result.metrics["snr_db"] < SPK.min_snr_db


@pytest.mark.parametrize("seed", range(30))
def test_loopback_noise_alone_never_passes_for_a_tone(seed):
    assert analyse_loopback(_rec(_room(seed=seed)), SPK).status is Status.FAIL


def test_loopback_speech_without_tone_fails():
    talk = audio.speech(-12)[8000:8000 + 9600]
    assert analyse_loopback(_rec(audio.mix(_room(), talk)), SPK).reason == NOT_HEARD


def test_loopback_speech_with_tone_passes():
    talk = audio.speech(-12)[8000:8000 + 9600]
    heard = audio.mix(_room(), talk, tone(1000, 0.6, 16000, -40))
    assert analyse_loopback(_rec(heard), SPK).status is Status.PASS


def test_loopback_other_frequency_is_not_the_tone():
    heard = audio.mix(_room(), tone(1500, 0.6, 16000, -30))
    assert analyse_loopback(_rec(heard), SPK).reason == NOT_HEARD


def test_loopback_digital_silence_fails_with_finite_metrics():
    result = analyse_loopback(_rec(audio.silence(0.6)), SPK)
    assert result.reason == NOT_HEARD
    assert result.metrics["tone_db"] == -120.0 and result.metrics["snr_db"] == 0.0


def test_loopback_empty_recording_fails():
    result = analyse_loopback(_rec([]), SPK)
    assert result.status is Status.FAIL
    assert result.reason == "Microphone delivered no audio, so the test tone could not be heard"


def test_loopback_tone_above_what_the_rate_captures_fails():
    result = analyse_loopback(_rec(_room()), SpeakerConfig(frequency_hz=7500))
    assert result.status is Status.FAIL
    assert result.reason.startswith("Test tone of 7500 Hz is too high for the microphone's 16000 Hz")


def test_speaker_simulated_pair_passes():
    mic = SimulatedMicrophone(seed=4)
    result = check_speaker(SimulatedSpeaker(mic), mic, MIC, SPK)
    assert result.status is Status.PASS
    assert result.reason.startswith("Test tone heard ")


@pytest.mark.parametrize("fault_on", ["speaker", "microphone"])
def test_speaker_simulated_muted_fails(fault_on):
    mic = SimulatedMicrophone(seed=5)
    speaker = SimulatedSpeaker(mic)
    if fault_on == "speaker":
        speaker.fault = "muted"
    else:
        mic.fault = "muted"
    result = check_speaker(speaker, mic, MIC, SPK)
    assert result.status is Status.FAIL
    assert result.reason == NOT_HEARD


def test_speaker_simulated_without_simulated_microphone_is_not_heard(tmp_path, monkeypatch):
    mic = AlsaMicrophone(audio.fake_mic(tmp_path, monkeypatch, _room(1)))
    speaker = open_speaker(SPK, "simulated", microphone=mic)
    assert speaker.microphone is None
    assert check_speaker(speaker, mic, MIC, SPK).reason == NOT_HEARD


def test_speaker_alsa_loopback_through_real_aplay_and_arecord(tmp_path, monkeypatch):
    # aplay writes into a FIFO that arecord reads: a cable from the speaker to the microphone.
    air = tmp_path / "air.fifo"
    os.mkfifo(air)
    audio.use_asoundrc(tmp_path, monkeypatch, audio.playback_pcm("fakespk", air), audio.capture_pcm("fakemic", air))
    result = check_speaker(AlsaSpeaker("fakespk"), AlsaMicrophone("fakemic"), MIC, SPK)
    assert result.status is Status.PASS
    assert result.metrics["tone_db"] == pytest.approx(SPK.level_dbfs, abs=1)


def test_speaker_alsa_plays_the_samples(tmp_path, monkeypatch):
    out = tmp_path / "played.raw"
    audio.use_asoundrc(tmp_path, monkeypatch, audio.playback_pcm("fakespk", out))
    samples = tone(440, 0.25, 16000, -6)
    with AlsaSpeaker("fakespk") as speaker:
        speaker.play(samples, 16000)
        assert speaker.wait(5)
    played = np.frombuffer(out.read_bytes(), dtype="<i2").astype(np.float32) / 32768
    np.testing.assert_allclose(played[:samples.size], samples, atol=1 / 32768)
    assert not played[samples.size:].any()  # ALSA pads the last period with silence


def test_speaker_alsa_missing_device_fails(tmp_path, monkeypatch):
    audio.use_asoundrc(tmp_path, monkeypatch)
    result = check_speaker(AlsaSpeaker("nosuchspk"), SimulatedMicrophone(seed=6), MIC, SPK)
    assert result.status is Status.FAIL
    assert result.reason == ("Speaker 'nosuchspk' not found: "
                             "is the speaker (or HDMI audio) connected and switched on?")


def test_speaker_alsa_hung_playback_can_be_stopped(tmp_path, monkeypatch):
    fifo = tmp_path / "nobody-listens.fifo"
    os.mkfifo(fifo)  # aplay blocks opening it: a device that never takes the audio
    audio.use_asoundrc(tmp_path, monkeypatch, audio.playback_pcm("hungspk", fifo))
    speaker = AlsaSpeaker("hungspk")
    speaker.play(tone(1000, 0.1, 16000, -20), 16000)
    assert speaker.wait(0.2) is False
    start = time.monotonic()
    speaker.close()
    assert time.monotonic() - start < 2
    assert speaker.wait(0) is True
    speaker.close()  # idempotent


def test_speaker_without_aplay_fails_with_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = check_speaker(AlsaSpeaker(), SimulatedMicrophone(), MIC, SPK)
    assert result.status is Status.FAIL
    assert result.reason == "Cannot play the test tone: the aplay program is missing (sudo apt install alsa-utils)"


def test_speaker_microphone_error_fails(tmp_path):
    mic = FileMicrophone(tmp_path / "gone.wav")
    result = check_speaker(SimulatedSpeaker(), mic, MIC, SPK)
    assert result.status is Status.FAIL
    assert result.reason == f"Cannot listen for the test tone: Microphone file '{tmp_path / 'gone.wav'}' not found"


def test_speaker_simulated_rejects_unknown_fault():
    with pytest.raises(ValueError, match="unknown speaker fault 'loud'"):
        SimulatedSpeaker().fault = "loud"


def test_open_speaker_builds_each_backend():
    mic = SimulatedMicrophone()
    assert open_speaker(SpeakerConfig(device="hdmi:0"), "alsa").describe() == "ALSA playback device 'hdmi:0'"
    assert open_speaker(SPK, "simulated", microphone=mic).microphone is mic
    with pytest.raises(ConfigError) as caught:
        open_speaker(SPK, "pulse")
    assert (caught.value.section, caught.value.key) == ("speaker", "backend")

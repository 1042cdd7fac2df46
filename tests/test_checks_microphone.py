"""The microphone check, on recordings made up here and through every backend.

The same four rooms (silence, clipping, speech over room tone, loud noise) go through
real ``arecord`` on a fake ALSA device and through the WAV file backend.
"""

import math

import numpy as np
import pytest

import audio
from kiosk_check import kiosk_check
from kiosk.checks.microphone import analyse_audio, check_microphone
from kiosk.checks.result import Status
from kiosk.config import MicrophoneConfig
from kiosk.hardware.microphone import AlsaMicrophone, FileMicrophone, Recording, SimulatedMicrophone

CFG = MicrophoneConfig()
SILENT = "Microphone is silent: is it muted or unplugged?"
NOISY = "Room is noisy"


def _speech_in_room():
    return audio.mix(audio.speech(), audio.noise(5, -60, seed=3))


# (name, how to make the audio, status, start of the reason)
ROOMS = [
    ("silence", lambda: audio.silence(1.5), Status.FAIL, SILENT),
    ("clipping", lambda: audio.clipped(1.5), Status.FAIL, "Microphone is clipping"),
    ("speech", _speech_in_room, Status.PASS, "Microphone is working"),
    ("noise", lambda: audio.noise(1.5, -20), Status.WARN, NOISY),
]


def _rec(samples, rate=audio.RATE, requested_rate=audio.RATE, seconds=1.0):
    return Recording(np.asarray(samples, dtype=np.float32), rate, requested_rate, seconds)


@pytest.mark.parametrize("make, status, reason", [r[1:] for r in ROOMS], ids=[r[0] for r in ROOMS])
def test_microphone_alsa_rooms(tmp_path, monkeypatch, make, status, reason):
    device = audio.fake_mic(tmp_path, monkeypatch, make())
    result = check_microphone(AlsaMicrophone(device), CFG)
    assert result.status is status
    assert result.reason.startswith(reason)
    assert result.metrics["samples"] == result.metrics["expected_samples"] == CFG.rate


@pytest.mark.parametrize("make, status, reason", [r[1:] for r in ROOMS], ids=[r[0] for r in ROOMS])
def test_microphone_file_rooms(tmp_path, make, status, reason):
    wav = audio.write_wav(tmp_path / "room.wav", make())
    result = check_microphone(FileMicrophone(wav), CFG)
    assert result.status is status
    assert result.reason.startswith(reason)


def test_microphone_clipping_reason_says_what_to_do(tmp_path):
    result = check_microphone(FileMicrophone(audio.write_wav(tmp_path / "loud.wav", audio.clipped(1))), CFG)
    assert result.reason.endswith(": turn the input gain down")
    assert result.metrics["clipped_fraction"] > 0.5


def test_microphone_noise_reason_asks_for_quiet_room(tmp_path):
    result = check_microphone(FileMicrophone(audio.write_wav(tmp_path / "n.wav", audio.noise(1, -20))), CFG)
    assert "quiet, private room" in result.reason
    assert result.metrics["noise_floor_dbfs"] == pytest.approx(-20, abs=1.5)


def test_microphone_alsa_missing_device_fails(tmp_path, monkeypatch):
    audio.use_asoundrc(tmp_path, monkeypatch)
    result = check_microphone(AlsaMicrophone("nosuchmic"), CFG)
    assert result.status is Status.FAIL
    assert result.reason == "Microphone 'nosuchmic' not found: is the USB microphone plugged in?"


def test_microphone_file_missing_fails(tmp_path):
    path = tmp_path / "gone.wav"
    result = check_microphone(FileMicrophone(path), CFG)
    assert result.status is Status.FAIL
    assert result.reason == f"Microphone file '{path}' not found"


def test_microphone_file_shorter_than_capture_fails(tmp_path):
    wav = audio.write_wav(tmp_path / "short.wav", audio.noise(0.5, -45))
    result = check_microphone(FileMicrophone(wav), CFG)
    assert result.status is Status.FAIL
    assert result.reason == ("Microphone delivered only 50% of the audio expected: plug it straight into the kiosk, "
                             "not a hub, and check again")


@pytest.mark.parametrize("fault, status, reason", [
    ("none", Status.PASS, "Microphone is working"),
    ("muted", Status.FAIL, SILENT),
    ("clipping", Status.FAIL, "Microphone is clipping"),
])
def test_microphone_simulated_faults(fault, status, reason):
    mic = SimulatedMicrophone(seed=7)
    mic.fault = fault
    result = check_microphone(mic, CFG)
    assert result.status is status
    assert result.reason.startswith(reason)


@pytest.mark.parametrize("seed", range(20))
def test_microphone_simulated_room_passes_whatever_the_seed(seed):
    assert check_microphone(SimulatedMicrophone(seed=seed), CFG).status is Status.PASS


def test_analyse_empty_recording_fails():
    result = analyse_audio(_rec([]), CFG)
    assert result.status is Status.FAIL
    assert result.reason == "Microphone delivered no audio: unplug it, plug it back in and check again"
    assert result.metrics == {"rate": 16000, "samples": 0, "expected_samples": 16000}


def test_analyse_digital_silence_has_finite_metrics():
    result = analyse_audio(_rec(audio.silence(1)), CFG)
    assert result.reason == SILENT
    for key in ("rms_dbfs", "peak_dbfs", "noise_floor_dbfs"):
        assert result.metrics[key] == -120.0
    assert all(math.isfinite(v) for v in result.metrics.values())


def test_analyse_faint_hiss_below_threshold_is_silent():
    assert analyse_audio(_rec(audio.noise(1, -75)), CFG).reason == SILENT


def test_analyse_shortfall_is_checked_before_silence():
    result = analyse_audio(_rec(audio.silence(0.2)), CFG)
    assert result.status is Status.FAIL
    assert result.reason.startswith("Microphone delivered only 20% of the audio expected: plug it straight")


def test_analyse_other_rate_warns():
    result = analyse_audio(_rec(audio.noise(1, -45, rate=48000), rate=48000), CFG)
    assert result.status is Status.WARN
    assert result.reason.startswith("Microphone runs at 48000 Hz instead of 16000 Hz")
    assert result.reason.endswith("converts the rate): tell IT")
    assert result.metrics["rate"] == 48000


def test_analyse_rate_warning_and_noise_warning_are_both_given():
    result = analyse_audio(_rec(audio.noise(1, -20, rate=48000), rate=48000), CFG)
    assert result.status is Status.WARN
    assert "48000 Hz" in result.reason and NOISY in result.reason


def test_analyse_far_lower_rate_fails():
    result = analyse_audio(_rec(audio.noise(1, -45, rate=7000), rate=7000), CFG)
    assert result.status is Status.FAIL
    assert result.reason == "Microphone records at only 7000 Hz (16000 Hz needed): voices would sound muffled; tell IT"


def test_analyse_a_few_clipped_samples_are_tolerated():
    x = audio.noise(1, -55)
    x[:16] = 1.0  # 0.1% of the samples, under clip_fraction
    result = analyse_audio(_rec(x), CFG)
    assert result.status is Status.PASS
    assert result.metrics["clipped_fraction"] == pytest.approx(16 / 16000)


def test_analyse_full_scale_negative_counts_as_clipped():
    x = np.full(16000, -1.0, dtype=np.float32)  # what int16 -32768 converts to
    assert analyse_audio(_rec(x), CFG).reason.startswith("Microphone is clipping")


def test_analyse_short_loud_bursts_do_not_raise_the_noise_floor():
    x = audio.noise(1, -55)
    x[4000:6000] += audio.noise(0.125, -15, seed=9)  # a door closing
    result = analyse_audio(_rec(x), CFG)
    assert result.status is Status.PASS
    assert result.metrics["noise_floor_dbfs"] < -50


def test_analyse_thresholds_come_from_config():
    quiet_room = _rec(audio.noise(1, -45))
    assert analyse_audio(quiet_room, CFG).status is Status.PASS
    strict = MicrophoneConfig(noise_warn_dbfs=-50.0)
    assert analyse_audio(quiet_room, strict).status is Status.WARN
    deaf = MicrophoneConfig(silence_dbfs=-40.0)
    assert analyse_audio(quiet_room, deaf).reason == SILENT


# -- real-world rooms and faults, through `kiosk check --json` -------------------------------------

def _speech_over(speech, room):
    return audio.mix(speech, room)


#: (name, what the microphone hears, status, words the reason must hold). Each recording is
#: longer than the 1 s capture: ALSA's file plugin repeats the last samples after the end.
REAL_WORLD = [
    ("continuous speech close to the microphone", lambda: _speech_over(audio.continuous_speech(), audio.room_tone(6, -55)),
     Status.PASS, ["Microphone is working", "speech heard"]),
    ("quieter continuous speech", lambda: _speech_over(audio.continuous_speech(-12), audio.room_tone(6, -55)),
     Status.PASS, ["Microphone is working"]),
    ("speech through a speakerphone's noise gate",
     lambda: audio.gated(_speech_over(audio.paused_speech(), audio.room_tone(6, -55))), Status.PASS,
     ["Microphone is working"]),
    ("speech over a fan, close to the microphone", lambda: _speech_over(audio.continuous_speech(), audio.fan(6, -34)),
     Status.WARN, ["Room is noisy"]),
    ("speech with pauses in a quiet room", lambda: _speech_over(audio.paused_speech(), audio.room_tone(6, -55)),
     Status.PASS, ["Microphone is working (level", "background"]),
    ("speech with pauses and a DC offset", lambda: _speech_over(audio.paused_speech(), audio.room_tone(6, -55)) + 0.03,
     Status.PASS, ["Microphone is working (level"]),
    ("quiet room with a DC offset", lambda: audio.room_tone(2, -55) + 0.05, Status.PASS, ["Microphone is working"]),
    ("quiet room with a drifting zero", lambda: audio.mix(audio.room_tone(2, -55), audio.drift(2, 0.05)),
     Status.PASS, ["Microphone is working"]),
    ("converter stuck at one value", lambda: audio.stuck(2, 0.02), Status.FAIL, ["stuck", "unplug it", "replace it"]),
    ("stuck with its last bit flickering", lambda: audio.stuck(2, -0.02, lsb_noise=True), Status.FAIL,
     ["stuck", "unplug it"]),
    ("converter stuck at full scale", lambda: audio.stuck(2, 1.0), Status.FAIL,
     ["Microphone is clipping", "stuck at full scale"]),
    ("output only drifting", lambda: audio.drift(2, 0.05), Status.FAIL, ["hears nothing", "drifting"]),
    ("fan in the room", lambda: audio.fan(2, -35), Status.WARN, ["Room is noisy", "turn down fans"]),
    ("quiet fan", lambda: audio.fan(2, -55), Status.PASS, ["Microphone is working"]),
    ("traffic through an open window", lambda: audio.traffic(2, -38), Status.WARN, ["Room is noisy"]),
    ("speech with pauses over a fan", lambda: _speech_over(audio.paused_speech(), audio.fan(6, -40)),
     Status.WARN, ["Room is noisy"]),
    ("mains hum in a quiet room", lambda: audio.mix(audio.hum(2, -40), audio.room_tone(2, -55)), Status.WARN,
     ["mains hum: check the microphone cable and power supply"]),
    ("mains hum under speech", lambda: audio.mix(audio.hum(6, -50), audio.paused_speech(), audio.room_tone(6, -58)),
     Status.WARN, ["mains hum: check the microphone cable and power supply"]),
    ("only mains hum", lambda: audio.hum(2, -40), Status.FAIL, ["only mains hum", "cable and power supply"]),
    ("dropouts of 120 ms every 400 ms", lambda: audio.with_dropouts(audio.room_tone(2, -50), 120, 400),
     Status.FAIL, ["gaps", "dropouts", "not a hub"]),
    ("one 25 ms dropout", lambda: audio.with_dropouts(audio.room_tone(2, -50), 25, 2000), Status.WARN,
     ["gaps (1 dropout,", "not a hub"]),
    ("a 10 ms gap is not a dropout", lambda: audio.with_dropouts(audio.room_tone(2, -50), 10, 2000),
     Status.PASS, ["Microphone is working"]),
    ("zeros while the device starts", lambda: np.concatenate([audio.silence(0.06), audio.room_tone(2, -50)]),
     Status.PASS, ["Microphone is working"]),
    ("dropouts in speech", lambda: audio.with_dropouts(_speech_over(audio.paused_speech(), audio.room_tone(6, -55)),
                                                       60, 300), Status.FAIL, ["gaps"]),
]


@pytest.mark.parametrize("make, status, words", [r[1:] for r in REAL_WORLD], ids=[r[0] for r in REAL_WORLD])
def test_microphone_real_world_rooms_through_kiosk_check(tmp_path, monkeypatch, capsys, make, status, words):
    code, doc = kiosk_check(tmp_path, monkeypatch, capsys, samples=make())
    result = doc["checks"]["microphone"]
    assert result["status"] == status.value, result
    assert all(w in result["reason"] for w in words), result["reason"]
    assert doc["checks"]["camera"]["status"] == "pass"
    assert code == (1 if status is Status.FAIL else 0)


def test_microphone_continuous_speech_would_read_as_noise_by_level_alone(tmp_path):
    # The case the check must get right: no quiet moment, so the background level is loud.
    x = _speech_over(audio.continuous_speech(), audio.room_tone(6, -55))
    result = analyse_audio(_rec(x[:16000]), CFG)
    assert result.metrics["noise_floor_dbfs"] > CFG.noise_warn_dbfs
    assert result.metrics["speech"] is True and result.status is Status.PASS


def test_microphone_dc_offset_is_not_counted_as_sound():
    x = audio.room_tone(1, -55)
    plain, offset = analyse_audio(_rec(x), CFG), analyse_audio(_rec(x + 0.1), CFG)
    for key in ("rms_dbfs", "noise_floor_dbfs", "clean_rms_dbfs"):
        assert offset.metrics[key] == pytest.approx(plain.metrics[key], abs=0.1)
    assert offset.metrics["dc_offset"] == pytest.approx(0.1, abs=1e-3)


@pytest.mark.parametrize("mains_hz, drift", [(50.0, 1.0), (50.0, 0.996), (60.0, 1.002)])
def test_microphone_hum_is_measured_at_the_configured_mains_frequency(mains_hz, drift):
    x = audio.mix(audio.hum(1, -45, mains_hz=mains_hz * drift / 1.003), audio.room_tone(1, -60))
    result = analyse_audio(_rec(x), MicrophoneConfig(mains_hz=mains_hz))
    assert result.metrics["hum_dbfs"] == pytest.approx(-45, abs=1)
    assert result.metrics["noise_floor_dbfs"] < -55  # the hum is taken out of the background
    assert "mains hum" in result.reason


def test_microphone_steep_low_cut_is_not_hum():
    # Many USB microphones cut everything below ~60 Hz: the slope must not pass for a 50 Hz line.
    assert analyse_audio(_rec(audio.room_tone(1, -50)), CFG).metrics["hum_dbfs"] == -120.0
    mic = SimulatedMicrophone(seed=13)  # its room tone stops at 50 Hz
    assert check_microphone(mic, CFG).metrics["hum_dbfs"] == -120.0


def test_microphone_new_thresholds_come_from_config():
    drops = _rec(audio.with_dropouts(audio.room_tone(1, -50), 25, 2000))
    assert analyse_audio(drops, CFG).status is Status.WARN
    assert analyse_audio(drops, MicrophoneConfig(dropout_fail_count=1)).status is Status.FAIL
    assert analyse_audio(drops, MicrophoneConfig(dropout_ms=30)).status is Status.PASS
    hum = _rec(audio.mix(audio.hum(1, -50), audio.room_tone(1, -55)))
    assert analyse_audio(hum, MicrophoneConfig(hum_warn_dbfs=-40)).status is Status.PASS
    speech = _rec(_speech_over(audio.continuous_speech(), audio.room_tone(6, -55))[:16000])
    assert analyse_audio(speech, MicrophoneConfig(speech_swing_db=60)).reason.startswith("Room is noisy")

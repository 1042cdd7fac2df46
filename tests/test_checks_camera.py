"""The camera check on generated media read back through OpenCV, and on the simulated camera."""

import dataclasses

import numpy as np
import pytest

import media
from kiosk_check import kiosk_check
from kiosk.checks.camera import analyse_frames, check_camera
from kiosk.checks.result import Status
from kiosk.config import CameraConfig
from kiosk.hardware.camera import FileCamera, OpenCVCamera, SimulatedCamera

METRICS = {"width", "height", "frames", "luma_mean", "saturated_fraction", "focus", "motion", "structure",
           "flat_fraction", "lost_fraction", "fps"}


@pytest.fixture
def camera_cfg():
    return CameraConfig(frame_interval_s=0.0)


@pytest.fixture(scope="module")
def good():
    return media.scene_frames(6)


MEDIA = [
    ("good", lambda good: good, Status.PASS, "Camera OK (1280x720)"),
    ("black", lambda good: media.black_frames(6), Status.FAIL, "black"),
    ("covered", media.covered, Status.FAIL, "lens covered"),
    ("blurred", media.blurred, Status.FAIL, "out of focus"),
    ("overexposed", media.overexposed, Status.FAIL, "over-exposed"),
    ("frozen", lambda good: media.frozen(good[0], 6), Status.FAIL, "frozen"),
]


@pytest.mark.parametrize("name, spoil, status, words", MEDIA, ids=[m[0] for m in MEDIA])
def test_check_camera_video_files(tmp_path, camera_cfg, good, name, spoil, status, words):
    path = media.write_video(tmp_path / f"{name}.avi", spoil(good))
    with FileCamera(path) as cam:
        result = check_camera(cam, camera_cfg)
    assert result.status is status, result
    assert words in result.reason
    assert set(result.metrics) == METRICS
    assert result.metrics["frames"] == camera_cfg.frames


def test_check_camera_low_resolution_image_warns(tmp_path, camera_cfg):
    path = media.write_image(tmp_path / "small.png", media.scene_frames(1, 320, 240)[0])
    result = check_camera(FileCamera(path), camera_cfg)
    assert result.status is Status.WARN, result
    assert "resolution is low (320x240" in result.reason
    assert result.metrics["frames"] == 1 and result.metrics["motion"] is None


def test_check_camera_still_image_is_not_frozen(tmp_path, camera_cfg, good):
    result = check_camera(FileCamera(media.write_image(tmp_path / "room.jpg", good[0])), camera_cfg)
    assert result.status is Status.PASS, result


@pytest.mark.parametrize("fault, status, words", [
    ("none", Status.PASS, "Camera OK (1280x720)"),
    ("covered", Status.FAIL, "black"),
    ("blurred", Status.FAIL, "out of focus"),
    ("frozen", Status.FAIL, "frozen"),
    ("overexposed", Status.FAIL, "over-exposed"),
])
def test_check_camera_simulated_faults(camera_cfg, fault, status, words):
    cam = SimulatedCamera()
    cam.fault = fault
    result = check_camera(cam, camera_cfg)
    assert result.status is status, result
    assert words in result.reason


def test_check_camera_simulated_fault_cleared_passes_again(camera_cfg):
    cam = SimulatedCamera(640, 480)
    cam.fault = "covered"
    assert check_camera(cam, camera_cfg).status is Status.FAIL
    cam.fault = "none"
    assert check_camera(cam, camera_cfg).status is Status.PASS


def test_check_camera_file_disappearing_fails_with_reason(tmp_path, camera_cfg, good):
    path = media.write_video(tmp_path / "room.avi", good)
    cam = FileCamera(path)
    assert check_camera(cam, camera_cfg).status is Status.PASS
    path.unlink()
    result = check_camera(cam, camera_cfg)
    assert result.status is Status.FAIL
    assert result.reason == f"Camera file {path} is missing"
    assert result.metrics == {"frames": 0}


def test_check_camera_missing_usb_camera_fails_with_reason(camera_cfg):
    result = check_camera(OpenCVCamera("/dev/video99", 1280, 720), camera_cfg)
    assert result.status is Status.FAIL
    assert result.reason == "No camera found at /dev/video99: is it plugged in?"


def test_analyse_no_frames_fails(camera_cfg):
    result = analyse_frames([], camera_cfg)
    assert result.status is Status.FAIL
    assert "no picture" in result.reason


def test_analyse_black_is_reported_before_frozen(camera_cfg):
    result = analyse_frames(media.black_frames(3, 640, 480), camera_cfg)
    assert "black" in result.reason
    assert set(result.metrics) == METRICS
    assert result.metrics["motion"] == 0.0


def test_analyse_mostly_blown_out_fails_even_when_mean_is_moderate(camera_cfg, good):
    frame = good[0].copy()
    frame[:, : frame.shape[1] * 6 // 10] = 255  # a bright window filling most of the picture
    result = analyse_frames([frame], camera_cfg)
    assert result.metrics["luma_mean"] < camera_cfg.bright_luma
    assert result.metrics["saturated_fraction"] > camera_cfg.saturated_fraction
    assert result.status is Status.FAIL and "over-exposed" in result.reason


def test_analyse_grey_frames_are_accepted(camera_cfg, good):
    greys = [f[:, :, 1].copy() for f in good[:3]]
    result = analyse_frames(greys, camera_cfg)
    assert result.status is Status.PASS, result
    assert (result.metrics["width"], result.metrics["height"]) == (1280, 720)


def test_analyse_single_frame_skips_the_frozen_test(camera_cfg, good):
    result = analyse_frames(good[:1], camera_cfg)
    assert result.status is Status.PASS
    assert result.metrics["motion"] is None


@pytest.mark.parametrize("change, words", [
    ({"dark_luma": 200.0, "dark_structure": 128.0}, "black"),
    ({"dark_luma": 200.0}, "too dark"),
    ({"bright_luma": 50.0}, "over-exposed"),
    ({"min_focus": 1e6}, "out of focus"),
    ({"frozen_diff": 100.0}, "frozen"),
    ({"min_width": 2000}, "resolution is low"),
])
def test_analyse_thresholds_come_from_config(camera_cfg, good, change, words):
    result = analyse_frames(good[:2], dataclasses.replace(camera_cfg, **change))
    assert words in result.reason


def test_analyse_leaves_frames_unchanged(camera_cfg, good):
    frames = [f.copy() for f in good[:2]]
    analyse_frames(frames, camera_cfg)
    assert all(np.array_equal(a, b) for a, b in zip(frames, good))


@pytest.mark.parametrize("width, height", [(640, 360), (1280, 720), (1920, 1080)])
@pytest.mark.parametrize("noise", [2.0, 6.0])
def test_analyse_focus_is_robust_to_sensor_noise_and_dim_rooms(width, height, noise):
    cfg = CameraConfig()
    sharp = media.scene_frames(2, width, height, noise=noise)
    blurry = media.blurred([media.scene_frames(1, width, height, noise=0)[0]] * 2, sigma=12, noise=noise)
    # A sharp picture of a dimly lit room: still above the black/covered limit.
    dim = [(f * 0.3).astype(np.uint8) for f in sharp]
    assert analyse_frames(sharp, cfg).status is Status.PASS
    assert analyse_frames(dim, cfg).status is Status.PASS, analyse_frames(dim, cfg).reason
    result = analyse_frames(blurry, cfg)
    assert result.status is Status.FAIL and "out of focus" in result.reason


# -- real-world pictures and faults, through `kiosk check --json` ----------------------------------

def _room(n=4):
    return media.scene_frames(n, 640, 360)


#: (name, the frames the camera delivers, status, words the reason must hold)
REAL_WORLD = [
    ("blue no-signal screen", lambda: media.flat(4, (255, 0, 0), 640, 360, "No signal"), Status.FAIL,
     ["one flat colour, no picture", "cable", "capture device"]),
    ("dark blue no-signal screen", lambda: media.flat(4, (140, 20, 0), 640, 360, "No signal"), Status.FAIL,
     ["one flat colour"]),
    ("green corrupted decode", lambda: media.flat(4, (0, 135, 0), 640, 360), Status.FAIL, ["one flat colour"]),
    ("grey test card", lambda: media.flat(4, (128, 128, 128), 640, 360), Status.FAIL, ["one flat colour"]),
    ("flat white", lambda: media.flat(4, (255, 255, 255), 640, 360), Status.FAIL, ["over-exposed"]),
    ("lower half lost", lambda: media.lost_band(_room()), Status.FAIL, ["damaged", "not a hub"]),
    ("lower third lost in green", lambda: media.lost_band(_room(), 0.65, (0, 135, 0)), Status.FAIL, ["damaged"]),
    ("half lost in every other frame", lambda: media.lost_band(_room(), every=2), Status.FAIL, ["damaged"]),
    ("corrupted block", lambda: media.lost_block(_room()), Status.FAIL, ["damaged"]),
    ("last row smeared down", lambda: media.smeared(_room()), Status.FAIL, ["damaged"]),
    ("top 40% lost (flat grey)", lambda: media.lost_band(_room(), 0.0, end=0.4), Status.FAIL,
     ["damaged (40% of it is lost)", "not a hub"]),
    ("middle band lost (flat grey)", lambda: media.lost_band(_room(), 0.3, end=0.6), Status.FAIL, ["damaged"]),
    ("middle band lost in every other frame, in green",
     lambda: media.lost_band(_room(), 0.35, (0, 135, 0), every=2, end=0.7), Status.FAIL, ["damaged"]),
    ("corrupted block in the middle", lambda: media.lost_block(_room(), 0.3, 0.65), Status.FAIL, ["damaged"]),
    ("a row smeared down the middle", lambda: media.smeared(_room(), 0.3, 0.6), Status.FAIL, ["damaged"]),
    ("top band lost through coarse MJPEG", lambda: media.low_quality(media.lost_band(media.people(4, 640, 360),
                                                                                       0.0, end=0.3), 30),
     Status.FAIL, ["damaged"]),
    ("dark room just under the black threshold", lambda: media.dark_room(_room(), 0.2), Status.WARN,
     ["too dark", "turn the lights on"]),
    ("dark room, people moving, high gain noise", lambda: media.dark_room(media.people(4, 640, 360), 0.15, 5),
     Status.WARN, ["too dark", "turn the lights on"]),
    ("night room lit by one screen", lambda: media.night_room(4, 640, 360), Status.FAIL,
     ["too dark to see anyone", "turn the lights on"]),
    ("hand over the lens", lambda: media.covered(_room()), Status.FAIL, ["black", "lens covered"]),
    ("privacy shutter closed", lambda: media.black_frames(4, 640, 360), Status.FAIL, ["black"]),
    ("camera facing a blank wall", lambda: media.blank_wall(4, 640, 360), Status.FAIL, ["one flat colour", "blank wall"]),
    ("people moving about", lambda: media.people(4, 640, 360), Status.PASS, ["Camera OK (640x360)"]),
    ("people through coarse MJPEG", lambda: media.low_quality(media.people(4, 640, 360)), Status.PASS, ["Camera OK"]),
    ("a table's shadow crushed to black", lambda: media.crushed_shadow(_room()), Status.PASS, ["Camera OK"]),
    ("people in a dim room", lambda: media.dark_room(media.people(4, 640, 360), 0.35), Status.PASS, ["Camera OK"]),
    ("plain ceiling over the room", lambda: media.plain_ceiling(media.people(4, 640, 360)), Status.PASS,
     ["Camera OK"]),
    ("plain ceiling through coarse MJPEG", lambda: media.low_quality(media.plain_ceiling(media.people(4, 640, 360)),
                                                                      20), Status.PASS, ["Camera OK"]),
    ("letterboxed picture (black bars)", lambda: media.letterboxed(media.people(4, 640, 360)), Status.PASS,
     ["Camera OK"]),
]


@pytest.mark.parametrize("make, status, words", [r[1:] for r in REAL_WORLD], ids=[r[0] for r in REAL_WORLD])
def test_check_camera_real_world_pictures_through_kiosk_check(tmp_path, monkeypatch, capsys, make, status, words):
    code, doc = kiosk_check(tmp_path, monkeypatch, capsys, frames=make())
    result = doc["checks"]["camera"]
    assert result["status"] == status.value, result
    assert all(w in result["reason"] for w in words), result["reason"]
    assert set(result["metrics"]) == METRICS
    assert doc["checks"]["microphone"]["status"] == "pass"
    assert code == (1 if status is Status.FAIL else 0)


def test_check_camera_slow_camera_warns_through_kiosk_check(tmp_path, monkeypatch, capsys):
    code, doc = kiosk_check(tmp_path, monkeypatch, capsys, frames=_room(), fps=5)
    result = doc["checks"]["camera"]
    assert result["status"] == "warn" and code == 0
    assert "only 5 frames a second (30 wanted): plug it straight into the kiosk" in result["reason"]
    assert result["metrics"]["fps"] == 5


def test_analyse_frame_rate_threshold_comes_from_config(camera_cfg, good):
    assert analyse_frames(good[:2], camera_cfg, fps=20).status is Status.PASS
    assert analyse_frames(good[:2], dataclasses.replace(camera_cfg, slow_fps_fraction=0.8), fps=20).status \
        is Status.WARN
    assert analyse_frames(good[:2], camera_cfg, fps=None).metrics["fps"] is None


@pytest.mark.parametrize("quality", [20, 40, 70])
@pytest.mark.parametrize("seed", range(3))
def test_analyse_coarse_mjpeg_flat_areas_are_not_lost(camera_cfg, quality, seed):
    # Compression flattens plain boxes and walls exactly, but the picture goes on after them.
    frames = media.low_quality(media.scene_frames(2, seed=seed), quality)
    assert analyse_frames(frames, camera_cfg).metrics["lost_fraction"] < camera_cfg.lost_fraction / 2


def test_analyse_plain_wall_with_sensor_noise_is_not_lost(camera_cfg):
    # A camera facing a plain, evenly lit wall: flat, but its sensor noise keeps every row changing.
    rng = np.random.default_rng(1)
    wall = [cv2_add_noise(np.full((720, 1280, 3), (170, 180, 190), np.uint8), rng) for _ in range(2)]
    result = analyse_frames(wall, camera_cfg)
    assert result.metrics["lost_fraction"] == 0.0
    assert "damaged" not in result.reason


def cv2_add_noise(frame, rng, sigma=1.5):
    return np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8)


def test_analyse_new_thresholds_come_from_config(camera_cfg):
    no_signal = media.flat(2, (255, 0, 0), 640, 360, "No signal")  # 99% one colour
    assert "one flat colour" in analyse_frames(no_signal, camera_cfg).reason
    assert "damaged" in analyse_frames(no_signal, dataclasses.replace(camera_cfg, flat_fraction=1.0)).reason
    band = media.lost_band(media.scene_frames(2, 640, 360), 0.7)
    assert "damaged" in analyse_frames(band, camera_cfg).reason
    assert "damaged" not in analyse_frames(band, dataclasses.replace(camera_cfg, lost_fraction=0.5)).reason
    night = media.night_room(2, 640, 360)
    assert "too dark to see anyone" in analyse_frames(night, camera_cfg).reason
    assert analyse_frames(night, dataclasses.replace(camera_cfg, very_dark_luma=5.0)).status is Status.WARN


@pytest.mark.parametrize("height, width", [(1, 1), (1, 5), (5, 1), (3, 7), (121, 161)])
def test_analyse_tiny_and_odd_frames_give_a_verdict(camera_cfg, height, width):
    frames = [np.random.default_rng(i).integers(0, 255, (height, width, 3), dtype=np.uint8) for i in range(2)]
    assert analyse_frames(frames, camera_cfg).status in set(Status)

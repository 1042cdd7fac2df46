"""The camera check on generated media read back through OpenCV, and on the simulated camera."""

import dataclasses

import numpy as np
import pytest

import media
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

"""Camera backends: real OpenCV reads of generated files, the simulated camera, open_camera."""

import importlib.util
import time

import numpy as np
import pytest

import media
from kiosk.config import CameraConfig
from kiosk.errors import ConfigError, DeviceError, DeviceMissing
from kiosk.hardware.camera import (FAULTS, FileCamera, OpenCVCamera, Picamera2Camera, SimulatedCamera,
                                   open_camera)

LEVELS = (40, 80, 120, 160, 200)


@pytest.fixture
def levels_video(tmp_path):
    """A video whose frames are flat grey at LEVELS, so each frame can be told apart."""
    frames = [np.full((120, 160, 3), level, np.uint8) for level in LEVELS]
    return media.write_video(tmp_path / "levels.avi", frames)


def _levels(frames):
    return [int(round(float(f.mean()))) for f in frames]


def test_file_camera_video_continues_between_captures_and_loops(levels_video):
    with FileCamera(levels_video) as cam:
        first = cam.capture(3, 0)
        second = cam.capture(3, 0)
    assert [f.shape for f in first] == [(120, 160, 3)] * 3
    assert first[0].dtype == np.uint8
    assert _levels(first) == pytest.approx([40, 80, 120], abs=2)
    assert _levels(second) == pytest.approx([160, 200, 40], abs=2)


def test_file_camera_image_gives_copies_of_one_picture(tmp_path):
    frame = media.scene_frames(1, 320, 240)[0]
    cam = FileCamera(media.write_image(tmp_path / "room.png", frame))
    frames = cam.capture(3, 0)
    assert cam.still
    assert len(frames) == 3
    assert all(np.array_equal(f, frame) for f in frames)
    frames[0][:] = 0  # callers may scribble on a frame without changing the next capture
    assert np.array_equal(cam.capture(1, 0)[0], frame)


def test_file_camera_missing_file_raises_device_missing(tmp_path):
    path = tmp_path / "nothing.avi"
    with pytest.raises(DeviceMissing, match="nothing.avi is missing"):
        FileCamera(path).capture(2, 0)


def test_file_camera_deleted_between_captures_then_restored(tmp_path, levels_video):
    cam = FileCamera(levels_video)
    cam.capture(2, 0)
    saved = levels_video.rename(tmp_path / "elsewhere.avi")
    with pytest.raises(DeviceMissing, match=str(levels_video)):
        cam.capture(2, 0)
    saved.rename(levels_video)
    # The failure released the video: it is opened again from the start.
    assert _levels(cam.capture(2, 0)) == pytest.approx([40, 80], abs=2)
    cam.close()


@pytest.mark.parametrize("name", ["junk.avi", "junk.png"])
def test_file_camera_unreadable_file_raises_device_error(tmp_path, name):
    path = tmp_path / name
    path.write_text("this is not a picture")
    with pytest.raises(DeviceError, match="not an image that can be read|not a video that can be read") as info:
        FileCamera(path).capture(1, 0)
    assert not isinstance(info.value, DeviceMissing)
    assert str(path) in str(info.value)


def test_file_camera_close_is_idempotent(levels_video):
    cam = FileCamera(levels_video)
    cam.capture(1, 0)
    cam.close()
    cam.close()
    assert cam.describe() == f"file {levels_video}"
    assert cam.backend == "file"
    # A closed camera opens again on the next capture.
    assert len(cam.capture(1, 0)) == 1
    cam.close()


def test_opencv_camera_missing_device_path_raises_device_missing():
    cam = OpenCVCamera("/dev/video99", 1280, 720)
    with pytest.raises(DeviceMissing, match=r"No camera found at /dev/video99: is it plugged in\?"):
        cam.capture(2, 0)
    cam.close()
    cam.close()


def test_opencv_camera_missing_device_index_raises_device_missing():
    with OpenCVCamera("99") as cam, pytest.raises(DeviceMissing, match="/dev/video99"):
        cam.capture(1, 0)


@pytest.mark.parametrize("source, description", [
    ("", "USB camera /dev/video0"),
    ("2", "USB camera /dev/video2"),
    ("/dev/video5", "USB camera /dev/video5"),
])
def test_opencv_camera_describe_names_the_device(source, description):
    assert OpenCVCamera(source, 640, 480).describe() == description


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed")
def test_picamera2_camera_without_picamera2_raises_device_error():
    with Picamera2Camera(1280, 720) as cam, pytest.raises(DeviceError, match=r"apt install python3-picamera2"):
        cam.capture(1, 0)


def test_simulated_camera_frames_move_and_have_noise():
    cam = SimulatedCamera(640, 360)
    a, b = cam.capture(2, 0)
    assert a.shape == (360, 640, 3) and a.dtype == np.uint8
    assert not np.array_equal(a, b)
    assert cam.describe() == "simulated camera 640x360"


def test_simulated_camera_frozen_repeats_the_same_frame_until_cleared():
    cam = SimulatedCamera(320, 240)
    cam.fault = "frozen"
    frames = cam.capture(3, 0) + cam.capture(1, 0)
    assert all(np.array_equal(frames[0], f) for f in frames[1:])
    cam.fault = "none"
    a, b = cam.capture(2, 0)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("fault, low, high", [
    ("none", 60, 200), ("covered", 0, 15), ("blurred", 60, 200), ("overexposed", 235, 255),
])
def test_simulated_camera_fault_changes_brightness(fault, low, high):
    cam = SimulatedCamera(320, 240)
    cam.fault = fault
    assert low <= cam.capture(1, 0)[0].mean() <= high


def test_simulated_camera_unknown_fault_raises_value_error():
    cam = SimulatedCamera(320, 240)
    with pytest.raises(ValueError, match="unknown camera fault 'smudged'"):
        cam.fault = "smudged"
    assert cam.fault == "none"
    assert "frozen" in FAULTS


def test_simulated_camera_frame_is_cheap():
    cam = SimulatedCamera(1280, 720)
    cam.capture(2, 0)
    start = time.perf_counter()
    cam.capture(20, 0)
    # Measured ~2 ms a frame; this only guards against an order-of-magnitude regression.
    assert (time.perf_counter() - start) / 20 < 0.02


def test_camera_capture_paces_frames_interval_apart():
    cam = SimulatedCamera(160, 120)
    start = time.monotonic()
    cam.capture(3, 0.05)
    assert time.monotonic() - start >= 0.1


def test_camera_capture_rejects_zero_count():
    with pytest.raises(ValueError, match="at least 1"):
        SimulatedCamera(160, 120).capture(0, 0)


@pytest.mark.parametrize("backend, cls", [
    ("picamera2", Picamera2Camera), ("opencv", OpenCVCamera), ("file", FileCamera), ("simulated", SimulatedCamera),
])
def test_open_camera_builds_each_backend(backend, cls):
    cam = open_camera(CameraConfig(source="/tmp/room.avi", width=640, height=480), backend)
    assert isinstance(cam, cls)
    assert cam.backend == backend


def test_open_camera_file_without_source_raises_config_error():
    with pytest.raises(ConfigError, match=r"\[camera\] source") as info:
        open_camera(CameraConfig(source=""), "file")
    assert (info.value.section, info.value.key) == ("camera", "source")


def test_open_camera_unresolved_backend_raises_value_error():
    with pytest.raises(ValueError, match="unknown camera backend 'auto'"):
        open_camera(CameraConfig(), "auto")


@pytest.mark.parametrize("fps", [5.0, 30.0])
def test_file_camera_video_states_its_frame_rate(tmp_path, fps):
    cam = FileCamera(media.write_video(tmp_path / "room.avi", media.scene_frames(2, 160, 120), fps))
    assert cam.frame_rate is None  # not known before a capture
    cam.capture(1, 0)
    assert cam.frame_rate == pytest.approx(fps)


def test_file_camera_image_and_simulated_camera_have_no_frame_rate(tmp_path):
    image = FileCamera(media.write_image(tmp_path / "room.png", media.scene_frames(1, 160, 120)[0]))
    image.capture(1, 0)
    sim = SimulatedCamera(160, 120)
    sim.capture(1, 0)
    assert image.frame_rate is None and sim.frame_rate is None

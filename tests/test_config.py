import subprocess
import sys

import pytest

from kiosk import config
from kiosk.errors import ConfigError


def test_config_defaults_without_a_file(monkeypatch, tmp_path):
    monkeypatch.delenv("KIOSK_CONFIG", raising=False)
    monkeypatch.setattr(config, "DEFAULT_PATHS", (str(tmp_path / "absent.toml"),))
    cfg = config.load()
    assert cfg.room.id == "suite-1"
    assert cfg.camera.backend == "auto" and cfg.camera.required is True
    assert cfg.microphone.device == "default"
    assert cfg.display.sysfs_root == "/sys/class/drm"
    assert cfg.network.hosts == [] and cfg.network.required is False
    assert cfg.web.port == 8080 and cfg.web.host == "0.0.0.0"
    assert cfg.path is None


def test_config_example_file_is_valid_and_documents_every_key():
    from pathlib import Path

    example = Path(__file__).parent.parent / "firmware_config" / "config.toml"
    cfg = config.load(example)
    text = example.read_text()
    for section, key, _default, _doc in config.describe():
        assert f"[{section}]" in text, section
        assert f"\n{key} =" in text or f"\n# {key} =" in text, f"{section}.{key} missing from the example"
    assert cfg.room.id


def test_config_reads_values_and_coerces_ints_to_floats(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[room]\nid = "suite-7"\nname = "Suite 7"\n[microphone]\nsilence_dbfs = -60\n'
                    '[network]\nhosts = ["broker.local:1883", "10.0.0.5:443"]\n[button]\npin = 23\n')
    cfg = config.load(path)
    assert cfg.room.id == "suite-7"
    assert cfg.microphone.silence_dbfs == -60.0 and isinstance(cfg.microphone.silence_dbfs, float)
    assert cfg.network.hosts == ["broker.local:1883", "10.0.0.5:443"]
    assert cfg.button.pin == "23"


@pytest.mark.parametrize("text, section, key, line, message", [
    ('[camera]\nbackend = "webcam"\n', "camera", "backend", 2, "must be one of auto, picamera2, opencv, file"),
    ('[room]\nid = "suite 1"\n', "room", "id", 2, "letters, digits"),
    ('[room]\nname = "x"\n\n[camera]\nrequierd = true\n', "camera", "requierd", 5, "unknown key"),
    ('[microphone]\nrate = "fast"\n', "microphone", "rate", 2, "must be an integer"),
    ('[microphone]\nrate = 1000\n', "microphone", "rate", 2, "at least 8000"),
    ('[web]\nport = 70000\n', "web", "port", 2, "at most 65535"),
    ('[display]\nrequired = "yes"\n', "display", "required", 2, "true or false"),
    ('[network]\nhosts = ["broker"]\n', "network", "hosts", 2, "host:port"),
    ('[network]\nhosts = "broker:1883"\n', "network", "hosts", 2, "list of strings"),
    ('[schedule]\ntimezone = "Europe/Londres"\n', "schedule", "timezone", 2, "time zone"),
    ('[button]\npin = "GPIO-X"\n', "button", "pin", 2, "not a GPIO pin"),
])
def test_config_rejects_bad_values_naming_section_key_and_line(tmp_path, text, section, key, line, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    err = info.value
    assert (err.section, err.key, err.line) == (section, key, line)
    assert message in str(err)
    assert f"bad.toml:{line}: [{section}] {key}:" in str(err)


def test_config_rejects_unknown_section_and_bad_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[room]\nid = "a"\n[camrea]\nbackend = "file"\n')
    with pytest.raises(ConfigError, match=r"c.toml:3: \[camrea\]: unknown section"):
        config.load(path)
    path.write_text('[room\nid = "a"\n')
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(path)


def test_config_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the config file"):
        config.load(tmp_path / "nope.toml")


def test_config_replace_validates_like_the_file():
    cfg = config.Config()
    assert cfg.replace("camera", backend="file", source="x.avi").camera.source == "x.avi"
    with pytest.raises(ConfigError, match=r"\[camera\] backend"):
        cfg.replace("camera", backend="nonsense")


def test_config_state_dir_prefers_setting_then_systemd(monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/kiosk")
    assert str(config.Config().state_dir()) == "/var/lib/kiosk"
    cfg = config.Config().replace("storage", state_dir=str(tmp_path))
    assert cfg.state_dir() == tmp_path


@pytest.mark.parametrize("argv", [["check"], ["run"], ["config"]])
def test_config_error_exits_2_without_traceback(tmp_path, argv):
    path = tmp_path / "bad.toml"
    path.write_text('[camera]\nbackend = "webcam"\n')
    proc = subprocess.run([sys.executable, "-m", "kiosk", *argv, "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "[camera] backend" in proc.stderr and "bad.toml:2" in proc.stderr


def test_config_command_reads_the_calendar_file(tmp_path):
    calendar = tmp_path / "room.ics"
    conf = tmp_path / "kiosk.toml"
    conf.write_text(f'[schedule]\nics = "{calendar}"\n')

    def run():
        return subprocess.run([sys.executable, "-m", "kiosk", "config", "--config", str(conf)],
                              capture_output=True, text=True, timeout=60)

    missing = run()
    assert missing.returncode == 2 and "[schedule] ics: the calendar file does not exist" in missing.stderr
    calendar.write_text("BEGIN:VCALENDAR\r\nSUMMARY:Smith family\r\n")
    broken = run()
    assert broken.returncode == 2 and "no complete BEGIN:VCALENDAR" in broken.stderr
    assert "Smith" not in broken.stderr
    calendar.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1@x\r\nDTSTART:20990101T090000Z\r\n"
                        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    good = run()
    assert good.returncode == 0 and "calendar: " in good.stdout and "1 events" in good.stdout


def test_config_command_names_a_calendar_url_without_its_token(tmp_path):
    conf = tmp_path / "kiosk.toml"
    conf.write_text('[schedule]\nics = "https://outlook.office365.com/owa/calendar/SECRET/calendar.ics"\n')
    done = subprocess.run([sys.executable, "-m", "kiosk", "config", "--config", str(conf)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "https://outlook.office365.com/..." in done.stdout
    assert "SECRET" not in done.stdout

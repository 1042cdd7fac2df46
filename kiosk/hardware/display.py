"""The room display: HDMI connectors read from the kernel's DRM sysfs tree.

The kernel lays out one directory per connector under ``/sys/class/drm``, named
``<card>-<connector>`` (``card1-HDMI-A-1``), each holding ``status``
(``connected``/``disconnected``/``unknown``), ``enabled``, ``modes`` (one mode a line,
preferred first) and ``edid`` (the raw EDID the screen sent, empty when none).
:class:`DrmDisplay` reads that tree; :class:`SimulatedDisplay` writes a real one in a
temporary directory and reads it back through :class:`DrmDisplay`, so simulation runs
the same parsing code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from kiosk.config import DisplayConfig
from kiosk.errors import DeviceError, DeviceMissing
from kiosk.hardware.base import Device

EDID_HEADER = bytes.fromhex("00ffffffffffff00")
EDID_BLOCK = 128
#: Display descriptor tag of the monitor name.
_TAG_NAME = 0xFC
#: Seconds each cec-ctl call may take (the topology scan polls every logical address).
CEC_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Connector:
    """One DRM connector as sysfs shows it."""

    name: str
    card: str
    status: str
    enabled: bool | None
    edid: bytes = b""
    modes: list[str] = field(default_factory=list)

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    @property
    def preferred_mode(self) -> str | None:
        """The first listed mode: the kernel sorts the screen's preferred mode first."""
        return self.modes[0] if self.modes else None

    def edid_info(self) -> dict | None:
        """``{"manufacturer": "SAM", "name": "Room TV" or None}`` from the EDID, or None if it is not valid."""
        edid = self.edid
        if len(edid) < EDID_BLOCK or edid[:8] != EDID_HEADER:
            return None
        # Three 5-bit letters, 1 = "A", big-endian in bytes 8-9.
        packed = int.from_bytes(edid[8:10], "big")
        manufacturer = "".join(chr(ord("A") - 1 + (packed >> shift & 0x1F)) for shift in (10, 5, 0))
        name = None
        for offset in range(54, 126, 18):
            desc = edid[offset:offset + 18]
            # Display descriptors start with a zero pixel clock; the text is padded with LF and spaces.
            if desc[0:2] == b"\0\0" and desc[3] == _TAG_NAME:
                name = desc[5:18].split(b"\n")[0].decode("ascii", "replace").strip() or None
                break
        return {"manufacturer": manufacturer, "name": name}


class Display(Device, ABC):
    """The display backend contract.

    Subclasses must set ``backend`` and override :meth:`connectors`; they may override
    :meth:`wake` (default: nothing to do), :meth:`describe` and :meth:`close`.
    ``close()`` is idempotent and displays are context managers.
    """

    @abstractmethod
    def connectors(self) -> list[Connector]:
        """Every display connector, sorted by card and name. Raises DeviceError when they cannot be read."""

    def wake(self) -> str | None:
        """Try to wake the screen; returns a note for the check's reason, or None. Never raises."""
        return None



def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def _read_connector(path: Path) -> Connector:
    card, _, name = path.name.partition("-")
    enabled = _read_text(path / "enabled")
    modes = _read_text(path / "modes") or ""
    try:
        edid = (path / "edid").read_bytes()
    except OSError:
        # Some drivers fail the read instead of returning nothing when no screen answered.
        edid = b""
    return Connector(
        name=name,
        card=card,
        status=_read_text(path / "status") or "unknown",
        enabled={"enabled": True, "disabled": False}.get(enabled or ""),
        edid=edid,
        modes=modes.split(),
    )


def _run_cec(args: list[str]) -> str | None:
    """Run one cec-ctl command; a note on failure, None on success."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=CEC_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"CEC wake timed out after {CEC_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"CEC wake failed ({exc.strerror})"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"CEC wake failed ({lines[-1] if lines else f'cec-ctl exit code {done.returncode}'})"
    return None


class DrmDisplay(Display):
    """Connectors read from a DRM sysfs tree; optional HDMI-CEC wake with ``cec-ctl`` (v4l-utils)."""

    backend = "drm"

    def __init__(self, sysfs_root: str | os.PathLike = "/sys/class/drm", cec_wake: bool = False,
                 cec_device: str = "/dev/cec0"):
        self.sysfs_root = Path(sysfs_root)
        self.cec_wake = cec_wake
        self.cec_device = cec_device

    def connectors(self) -> list[Connector]:
        try:
            entries = sorted(self.sysfs_root.iterdir())
        except FileNotFoundError:
            raise DeviceMissing(f"No display driver: {self.sysfs_root} does not exist "
                                "(is dtoverlay=vc4-kms-v3d set in config.txt?)") from None
        except OSError as exc:
            raise DeviceError(f"Cannot read display connectors in {self.sysfs_root}: {exc.strerror}") from None
        # Cards ("card1"), render nodes and the "version" file have no status: they are not connectors.
        return [_read_connector(p) for p in entries if (p / "status").is_file()]

    def wake(self) -> str | None:
        """Ask the screen over HDMI-CEC to turn on and show our input (only with ``cec_wake``)."""
        if not self.cec_wake:
            return None
        cec_ctl = shutil.which("cec-ctl")
        if cec_ctl is None:
            return "CEC not available (cec-ctl not installed)"
        if not os.path.exists(self.cec_device):
            return f"CEC not available (no {self.cec_device})"
        # Claim a playback-device logical address first: the screen ignores messages from an unconfigured adapter.
        return (_run_cec([cec_ctl, "-d", self.cec_device, "--playback", "-S"])
                or _run_cec([cec_ctl, "-d", self.cec_device, "--to", "0", "--image-view-on"]))

    def describe(self) -> str:
        cec = f", CEC wake on {self.cec_device}" if self.cec_wake else ""
        return f"DRM connectors in {self.sysfs_root}{cec}"


def make_edid(name: str = "Room TV", manufacturer: str = "KSK", size: tuple[int, int] = (1920, 1080)) -> bytes:
    """A valid 128-byte EDID 1.4 base block naming the screen, for the simulated display."""
    edid = bytearray(EDID_BLOCK)
    edid[0:8] = EDID_HEADER
    packed = 0
    for letter in manufacturer:
        packed = packed << 5 | (ord(letter) - ord("A") + 1)
    edid[8:10] = packed.to_bytes(2, "big")
    edid[10:12] = (1).to_bytes(2, "little")  # product code
    edid[16:18] = bytes([1, 34])  # week 1 of 2024
    edid[18:20] = bytes([1, 4])  # EDID 1.4
    edid[20] = 0x80  # digital input
    edid[21:23] = bytes([52, 29])  # image size in cm
    edid[23] = 120  # gamma 2.2
    edid[24] = 0x0A  # RGB 4:4:4, preferred timing includes the native format
    edid[38:54] = b"\x01" * 16  # no standard timings
    # Detailed timing 1: the native mode, 148.5 MHz, CEA-861 1080p60 blanking.
    width, height = size
    hblank, vblank = 280, 45
    edid[54:72] = bytes([
        14850 & 0xFF, 14850 >> 8,
        width & 0xFF, hblank & 0xFF, (width >> 8) << 4 | hblank >> 8,
        height & 0xFF, vblank & 0xFF, (height >> 8) << 4 | vblank >> 8,
        88, 44, 0x45, 0x00, 0x08, 0x22, 0x21, 0x00, 0x00, 0x1E,
    ])
    # Descriptor 2: the monitor name, LF-terminated and space-padded to 13 bytes.
    text = name.encode("ascii", "replace")[:13]
    if len(text) < 13:
        text = (text + b"\n").ljust(13, b" ")
    edid[72:90] = bytes([0, 0, 0, _TAG_NAME, 0]) + text
    # Descriptors 3 and 4: dummy descriptors (tag 0x10).
    for offset in (90, 108):
        edid[offset:offset + 5] = bytes([0, 0, 0, 0x10, 0])
    edid[127] = -sum(edid[:127]) % 256
    return bytes(edid)


class SimulatedDisplay(Display):
    """A fake DRM sysfs tree in a temporary directory, read back through :class:`DrmDisplay`.

    ``card1-HDMI-A-1`` has a 1920x1080 screen called "Room TV" when ``connected``;
    ``card1-HDMI-A-2`` is always empty. Setting ``connected`` plugs or unplugs the screen.
    """

    backend = "simulated"
    CONNECTOR = "card1-HDMI-A-1"
    SCREEN_NAME = "Room TV"
    MODES = ("1920x1080", "1280x720", "720x576", "640x480")

    def __init__(self, connected: bool = True):
        self.root = Path(tempfile.mkdtemp(prefix="kiosk-drm-"))
        # Removes the tree even if close() is never called; calling it again does nothing.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)
        (self.root / "card1").mkdir()
        (self.root / "version").write_text("drm 1.1.0 20060810\n")
        self._write(self.root / "card1-HDMI-A-2", False)
        self._drm = DrmDisplay(self.root)
        self.connected = connected

    @property
    def connected(self) -> bool:
        """Whether the simulated screen is plugged into HDMI-A-1."""
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        self._connected = bool(value)
        self._write(self.root / self.CONNECTOR, self._connected)

    def _write(self, path: Path, connected: bool) -> None:
        path.mkdir(exist_ok=True)
        (path / "status").write_text("connected\n" if connected else "disconnected\n")
        (path / "enabled").write_text("enabled\n" if connected else "disabled\n")
        (path / "modes").write_text("".join(m + "\n" for m in self.MODES) if connected else "")
        (path / "edid").write_bytes(make_edid(self.SCREEN_NAME) if connected else b"")

    def connectors(self) -> list[Connector]:
        return self._drm.connectors()

    def describe(self) -> str:
        state = "connected" if self._connected else "unplugged"
        return f"simulated display (HDMI-A-1 {state})"

    def close(self) -> None:
        self._cleanup()


def open_display(cfg: DisplayConfig, backend: str) -> Display:
    """The display backend named by ``backend`` ("drm" or "simulated"), configured from ``cfg``."""
    if backend == "drm":
        return DrmDisplay(cfg.sysfs_root, cec_wake=cfg.cec_wake, cec_device=cfg.cec_device)
    if backend == "simulated":
        return SimulatedDisplay()
    raise ValueError(f"unknown display backend {backend!r}")

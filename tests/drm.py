"""Fake DRM sysfs trees for tests, laid out like the kernel's /sys/class/drm.

    root/
      card1/                 the card itself: no status file
      card1-HDMI-A-1/        one directory per connector
        status  enabled  modes  edid
      renderD128/
      version                a plain file

Written independently of :func:`kiosk.hardware.display.make_edid` so that the parser
is checked against a second encoder, not against itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def edid(name: str | None = "Room TV", manufacturer: str = "SAM", header_ok: bool = True) -> bytes:
    """A 128-byte EDID base block with a valid checksum and, if ``name`` is given, a monitor name descriptor."""
    block = [0] * 128
    block[0:8] = [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00] if header_ok else [0x00] * 8
    a, b, c = (ord(ch) - 64 for ch in manufacturer)  # "A" is 1
    block[8] = (a << 2) | (b >> 3)
    block[9] = ((b & 0b111) << 5) | c
    block[18], block[19] = 1, 3  # EDID 1.3
    # Descriptor slots 1 and 3 hold a serial number string (tag 0xFF) and a dummy, so the name
    # must be found by its tag, not by its position.
    block[54:72] = [0, 0, 0, 0xFF, 0] + list(b"SN0001\n      ")
    if name is not None:
        text = name.encode("ascii")[:13]
        if len(text) < 13:
            text = text + b"\n" + b" " * (12 - len(text))
        block[90:108] = [0, 0, 0, 0xFC, 0] + list(text)
    else:
        block[90:95] = [0, 0, 0, 0x10, 0]
    block[108:113] = [0, 0, 0, 0x10, 0]
    block[127] = (256 - sum(block[:127]) % 256) % 256
    return bytes(block)


def connector(name: str = "HDMI-A-1", status: str = "connected", *, card: str = "card1",
              enabled: str | None = None, modes: list[str] | None = None, edid_bytes: bytes | None = None) -> dict:
    """One connector's files. Defaults follow ``status``: a connected 1080p "Room TV", or an empty port."""
    connected = status == "connected"
    return {
        "name": name,
        "card": card,
        "status": status,
        "enabled": enabled if enabled is not None else ("enabled" if connected else "disabled"),
        "modes": modes if modes is not None else (["1920x1080", "1280x720", "640x480"] if connected else []),
        "edid": edid_bytes if edid_bytes is not None else (edid() if connected else b""),
    }


def make_drm_tree(root: str | Path, connectors: Iterable[dict] = ()) -> Path:
    """Write a DRM sysfs tree with the given connectors (see :func:`connector`) under ``root``; returns it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "version").write_text("drm 1.1.0 20060810\n")
    (root / "renderD128").mkdir(exist_ok=True)
    for c in connectors:
        (root / c["card"]).mkdir(exist_ok=True)
        d = root / f"{c['card']}-{c['name']}"
        d.mkdir()
        (d / "status").write_text(c["status"] + "\n")
        (d / "enabled").write_text(c["enabled"] + "\n")
        (d / "dpms").write_text("On\n")
        (d / "modes").write_text("".join(m + "\n" for m in c["modes"]))
        (d / "edid").write_bytes(c["edid"])
    return root

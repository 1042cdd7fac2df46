"""What machine the kiosk is running on."""

from __future__ import annotations

from pathlib import Path

#: Where the device tree names the board; the second is the same file by its sysfs path.
MODEL_FILES = ("proc/device-tree/model", "sys/firmware/devicetree/base/model")


def board_model(root: str | Path = "/") -> str | None:
    """The board's model string (e.g. "Raspberry Pi 5 Model B Rev 1.0"), or None off a device-tree board."""
    for rel in MODEL_FILES:
        try:
            return (Path(root) / rel).read_bytes().rstrip(b"\x00\n").decode("ascii", "replace")
        except OSError:
            continue
    return None


def is_raspberry_pi(root: str | Path = "/") -> bool:
    """True on a Raspberry Pi (judged from the device tree, not from what is plugged in)."""
    model = board_model(root)
    return bool(model and model.startswith("Raspberry Pi"))

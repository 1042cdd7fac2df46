"""Files that others on the Pi could change or read: the config (it says which broker and whom to trust) and the
secrets (the MQTT password and TLS key, the chair's PIN hash, the session key, the conference record).

:func:`problems` lists them; ``kiosk doctor`` shows each as a WARN with a hint and ``kiosk run`` logs them at
start-up. Nothing is changed here: the kiosk's own files are created 0600 in a 0700 directory, and anything
else is IT's to fix.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode
    except OSError:
        return None


def problems(cfg) -> list[str]:
    """One sentence per file or directory that is writable by others (the config) or readable by others
    (secrets, the state directory and what is in it); empty when everything is as it should be."""
    found = []
    if cfg.path:
        config = Path(cfg.path)
        for path in (config, config.parent):
            mode = _mode(path)
            if mode is not None and mode & stat.S_IWOTH and not (stat.S_ISDIR(mode) and mode & stat.S_ISVTX):
                found.append(f"{path} can be changed by any user (chmod o-w {path})")
    secrets = [Path(p) for p in (cfg.mqtt.password_file, cfg.mqtt.tls_key) if p]
    state = cfg.state_dir()
    mode = _mode(state)
    if mode is not None and mode & (stat.S_IROTH | stat.S_IXOTH):
        found.append(f"the state directory {state} can be read by any user (chmod 700 {state})")
    if mode is not None and mode & stat.S_IXOTH:  # otherwise nobody else can reach what is inside
        try:
            secrets += sorted(p for p in state.iterdir() if p.is_file())
        except OSError:
            pass
    for path in secrets:
        mode = _mode(path)
        if mode is not None and mode & stat.S_IROTH:
            found.append(f"{path} can be read by any user (chmod 600 {path})")
    return found


def kiosk_user_hint() -> str:
    """Whom the files should belong to, for the hints."""
    return f"owned by the kiosk's user (uid {os.getuid()} here), not readable or writable by others"

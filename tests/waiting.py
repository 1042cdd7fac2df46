"""Waiting for something that happens on another thread or in another process."""

import time


def wait_for(predicate, timeout: float = 5.0, step: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())

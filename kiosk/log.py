"""Logging to stderr in a form journald keeps (it adds its own timestamps)."""

from __future__ import annotations

import logging
import sys

JOURNAL_FORMAT = "<%(levelno_syslog)s>%(name)s: %(message)s"
TTY_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_SYSLOG = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class _SyslogPrefix(logging.Filter):
    """Adds the syslog priority so journald files each line at the right level."""

    def filter(self, record):
        record.levelno_syslog = _SYSLOG.get(record.levelno, 6)
        return True


def setup(level: str = "INFO", stream=None) -> None:
    """Send the kiosk's logs to stderr: ``<N>`` priority prefixes under journald, timestamps on a terminal."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if stream.isatty():
        handler.setFormatter(logging.Formatter(TTY_FORMAT, "%H:%M:%S"))
    else:
        handler.addFilter(_SyslogPrefix())
        handler.setFormatter(logging.Formatter(JOURNAL_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that says nothing staff or IT can act on.
    for noisy in ("waitress.queue", "PIL", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

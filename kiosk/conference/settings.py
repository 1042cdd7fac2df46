"""Settings of the conference record: the ``[conference]`` section of the config file.

They live in :mod:`kiosk.config` with every other section (one validator for all); this
name is what the conference modules use. The time zone is not repeated here: callers pass
``[schedule] timezone``.
"""

from kiosk.config import ConferenceConfig as ConferenceSettings

__all__ = ["ConferenceSettings"]

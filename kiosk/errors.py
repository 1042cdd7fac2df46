"""Every error the kiosk raises on purpose, in one place.

    KioskError
     +-- ConfigError (ValueError)      a config file or option is wrong; the CLI exits 2
     +-- DeviceError (OSError)         a device could not be opened or read; a check turns it into `fail`
     |    +-- DeviceMissing            the device is not there at all
     +-- StateError (RuntimeError)     an action that the room's current state does not allow
     +-- ContractError (AssertionError) an answer the code built is not what its contract declares (a bug;
                                       checked in tests and debug only)

Each subclass also inherits the matching builtin, so callers that only know Python's
exceptions still catch them sensibly.
"""


class KioskError(Exception):
    """Base of every error the kiosk raises on purpose."""


class ConfigError(KioskError, ValueError):
    """A configuration file, key or value is invalid.

    ``section`` and ``key`` name the offending setting; ``line`` is the line in the
    file when it can be found.
    """

    def __init__(self, message, *, section=None, key=None, path=None, line=None):
        self.section = section
        self.key = key
        self.path = path
        self.line = line
        where = ""
        if path:
            where = f"{path}:{line}: " if line else f"{path}: "
        # "is not None": a TOML file may name a section or key "" (quoted), and it must still be named.
        if section is not None and key is not None:
            where += f"[{section}] {key}: "
        elif section is not None:
            where += f"[{section}]: "
        super().__init__(where + message)


class DeviceError(KioskError, OSError):
    """A device could not be opened or read."""


class DeviceMissing(DeviceError):
    """The device is not present at all."""


class StateError(KioskError, RuntimeError):
    """The room's current state does not allow this action."""


class ContractError(KioskError, AssertionError):
    """An answer does not match the contract declared for it (a bug in the code, never the client's mistake)."""

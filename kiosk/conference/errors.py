"""Errors of the conference record (kept here because :mod:`kiosk.errors` has another owner).

    KioskError
     +-- ConferenceError                          root of everything below
          +-- NotFound (LookupError)              no such conference, invitee or event
          +-- InvalidInput (ValueError)           bad input; nothing was written
          |    +-- CsvImportError                 an invitation list (CSV) has bad rows; ``problems`` lists them
          |    +-- InvalidPin                     a new PIN breaks the PIN rules
          |    +-- KeyReused                      an Idempotency-Key sent again with a different request
          +-- NotAllowed (RuntimeError)           the record's current state forbids this (e.g. editing an
          |    |                                  invitee that events refer to, changing a purged conference)
          |    +-- ConferenceClosed               the conference has ended: only corrections and reports
          |    +-- StaleState                     the invitee's state is not the one the client expected
          |    +-- PinNotSet                      no chair PIN is set on this kiosk (``kiosk set-pin``)
          |    +-- AnswerLost                     a retried change was recorded, but its answer was lost
          +-- PinLockedOut (RuntimeError)         too many wrong PINs; ``retry_after_s`` says how long to wait
          +-- StorageError (OSError)              the database could not be read or written; nothing was saved
               +-- StorageFull                    the disk (or the database's size limit) is full

Messages are plain English for the chair and never quote names or e-mail addresses
(they may end up in logs, which must hold no personal data: DOMAIN D15).
"""

from __future__ import annotations

from kiosk.errors import KioskError


class ConferenceError(KioskError):
    """Base of every error raised on purpose by :mod:`kiosk.conference`."""


class NotFound(ConferenceError, LookupError):
    """No conference, invitee or event with that id (or it has been purged)."""

    def __str__(self):  # LookupError would otherwise show the repr of a KeyError-style argument
        return str(self.args[0]) if self.args else ""


class InvalidInput(ConferenceError, ValueError):
    """A value given by the caller is wrong; nothing was written."""


class CsvImportError(InvalidInput):
    """An invitation list in CSV has bad rows; nothing was imported.

    ``problems`` is a list of ``(row, message)``; rows are numbered as a spreadsheet
    shows them (the header is row 1). Row 0 means the file as a whole.
    """

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = list(problems)
        shown = [f"row {row}: {msg}" if row else msg for row, msg in self.problems[:10]]
        more = len(self.problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more problem(s)" if more > 0 else "")
        super().__init__(f"Nothing was imported: {text}")


class InvalidPin(InvalidInput):
    """A new PIN does not follow the PIN rules."""


class NotAllowed(ConferenceError, RuntimeError):
    """The record's current state does not allow this change."""


class ConferenceClosed(NotAllowed):
    """The conference has ended: nothing but a correction or a report received is recorded until it is reopened."""


class StaleState(NotAllowed):
    """The invitee's state has changed since the client last saw it (``expect_state``); nothing was recorded.

    ``current`` is the state now.
    """

    def __init__(self, message: str, current: str):
        super().__init__(message)
        self.current = current


class PinNotSet(NotAllowed):
    """No chair PIN has been set on this kiosk (``kiosk set-pin``)."""


class AnswerLost(NotAllowed):
    """An Idempotency-Key sent again whose change was recorded, but whose answer was never kept (the kiosk
    restarted or failed in between): nothing is recorded again."""


class KeyReused(InvalidInput):
    """An Idempotency-Key already used for a different request (another route or body)."""


class PinLockedOut(ConferenceError, RuntimeError):
    """Too many wrong PINs: no attempt is allowed for ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: float):
        self.retry_after_s = retry_after_s
        seconds = max(1, round(retry_after_s))
        if seconds >= 120:
            wait = f"{-(-seconds // 60)} minutes"
        else:
            wait = "1 second" if seconds == 1 else f"{seconds} seconds"
        super().__init__(f"Too many wrong PINs: try again in {wait}")


class StorageError(ConferenceError, OSError):
    """The conference database could not be read or written; the change was not saved."""

    def __str__(self):  # OSError's str() would show the errno tuple when there are two arguments
        return str(self.args[0]) if self.args else ""


class StorageFull(StorageError):
    """The disk, or the database's size limit, is full; the change was not saved."""

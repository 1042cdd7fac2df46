"""Device checks: pure functions from captured data to a :class:`CheckResult`."""

from kiosk.checks.result import CheckResult, Status, worst

__all__ = ["CheckResult", "Status", "worst"]

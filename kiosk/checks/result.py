"""The result every check returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(str, enum.Enum):
    """Outcome of one check, ordered from best to worst."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class CheckResult:
    """What a check found: a status, a reason staff can act on, and numeric metrics.

    ``reason`` is plain English for a member of staff in the room ("Camera image is
    black: is the lens cover on?"). ``metrics`` holds numbers only (no personal data),
    so it can be published over MQTT and Prometheus.
    """

    status: Status
    reason: str
    metrics: dict[str, float | int | str | bool | None] = field(default_factory=dict)

    @classmethod
    def passed(cls, reason: str, **metrics) -> "CheckResult":
        return cls(Status.PASS, reason, metrics)

    @classmethod
    def warned(cls, reason: str, **metrics) -> "CheckResult":
        return cls(Status.WARN, reason, metrics)

    @classmethod
    def failed(cls, reason: str, **metrics) -> "CheckResult":
        return cls(Status.FAIL, reason, metrics)

    def capped_at_warn(self) -> "CheckResult":
        """The same result, downgraded from fail to warn (for checks with required = false)."""
        if self.status is Status.FAIL:
            return CheckResult(Status.WARN, self.reason + " (not required)", self.metrics)
        return self

    def to_dict(self, with_metrics: bool = True) -> dict:
        out = {"status": self.status.value, "reason": self.reason}
        if with_metrics:
            out["metrics"] = dict(self.metrics)
        return out


def worst(results) -> Status:
    """The worst status among ``results`` (PASS for none)."""
    status = Status.PASS
    for r in results:
        if r.status.rank > status.rank:
            status = r.status
    return status

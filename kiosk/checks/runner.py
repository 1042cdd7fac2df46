"""Runs a cycle of checks concurrently, each with a timeout.

A check that raises or hangs becomes ``fail`` with the reason, never a crash. Checks
run on daemon threads so that one stuck in a driver call cannot block shutdown; while
a check from an earlier cycle is still stuck, it is not started again (that would
pile up threads) and reports that it is still hung.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from kiosk.checks.result import CheckResult, Status

log = logging.getLogger("kiosk.checks")


@dataclass(frozen=True)
class CheckSpec:
    """One check: its name, whether it may make the room not ready, and how to run it.

    Checks in one ``chain`` run one after another on the same thread (the speaker
    check listens with the microphone, so it must not capture at the same time).
    """

    name: str
    label: str
    run: Callable[[], CheckResult]
    required: bool = True
    chain: str | None = None


@dataclass(frozen=True)
class Cycle:
    """The results of one check cycle."""

    results: dict[str, CheckResult]
    required: dict[str, bool]
    checked_at: datetime
    duration_s: float

    @property
    def ready(self) -> bool:
        """True when no required check failed."""
        return all(r.status is not Status.FAIL for n, r in self.results.items() if self.required[n])

    def failing(self) -> list[str]:
        """Names of the checks that did not pass."""
        return [n for n, r in self.results.items() if r.status is not Status.PASS]

    def to_dict(self, room_id: str, with_metrics: bool = True) -> dict:
        """The ``kiosk check --json`` document."""
        return {
            "room": room_id,
            "ready": self.ready,
            "checked_at": self.checked_at.isoformat(timespec="seconds"),
            "duration_s": round(self.duration_s, 3),
            "checks": {n: r.to_dict(with_metrics) for n, r in self.results.items()},
        }


@dataclass
class _Chain:
    specs: list[CheckSpec]
    thread: threading.Thread | None = None
    current: str | None = None
    started: float = 0.0
    done: dict[str, CheckResult] = field(default_factory=dict)


class CheckRunner:
    """Runs the given checks concurrently; ``timeout_s`` bounds each check."""

    def __init__(self, specs: list[CheckSpec], timeout_s: float, clock: Callable[[], datetime] | None = None):
        self.specs = list(specs)
        self.timeout_s = timeout_s
        self._now = clock or (lambda: datetime.now(timezone.utc))
        self._cond = threading.Condition()
        self._chains: dict[str, _Chain] = {}
        for spec in self.specs:
            key = spec.chain or spec.name
            self._chains.setdefault(key, _Chain([])).specs.append(spec)
        self._lock = threading.Lock()  # one cycle at a time

    def run(self) -> Cycle:
        """Run every check once and return the cycle's results."""
        with self._lock:
            start = time.monotonic()
            results: dict[str, CheckResult] = {}
            active = []
            with self._cond:
                for key, chain in self._chains.items():
                    if chain.thread and chain.thread.is_alive():
                        for spec in chain.specs:
                            results[spec.name] = CheckResult.failed(
                                f"{spec.label} check is still stuck from an earlier run: "
                                "the device or its driver is not responding")
                        continue
                    chain.done = {}
                    chain.current = None
                    chain.thread = threading.Thread(target=self._run_chain, args=(chain,),
                                                    name=f"check-{key}", daemon=True)
                    active.append(chain)
                for chain in active:
                    chain.thread.start()
                self._wait(active, results)
            ordered = {s.name: self._finish(s, results[s.name]) for s in self.specs}
            cycle = Cycle(ordered, {s.name: s.required for s in self.specs}, self._now(),
                          time.monotonic() - start)
            log.info("Checks finished in %.2fs: %s", cycle.duration_s, "ready" if cycle.ready else
                     "not ready (" + ", ".join(n for n in cycle.failing()) + ")")
            return cycle

    def _run_chain(self, chain: _Chain) -> None:
        for spec in chain.specs:
            with self._cond:
                chain.current, chain.started = spec.name, time.monotonic()
                self._cond.notify_all()
            try:
                result = spec.run()
                if not isinstance(result, CheckResult):
                    raise TypeError(f"returned {type(result).__name__}, not a CheckResult")
            except Exception as exc:  # a bug or driver error must not take the kiosk down
                log.exception("%s check raised", spec.label)
                result = CheckResult.failed(f"{spec.label} check could not run: {exc}")
            with self._cond:
                chain.done[spec.name] = result
                chain.current = None
                self._cond.notify_all()

    def _wait(self, active: list[_Chain], results: dict) -> None:
        """Collect results until every active chain finished or its current check timed out."""
        pending = list(active)
        while pending:
            now = time.monotonic()
            next_deadline = None
            for chain in list(pending):
                finished = all(s.name in chain.done for s in chain.specs)
                current = chain.current
                if not finished and current and now - chain.started >= self.timeout_s:
                    # This check hangs: fail it and everything queued behind it on its thread.
                    for spec in chain.specs:
                        if spec.name in chain.done:
                            continue
                        if spec.name == current:
                            results[spec.name] = CheckResult.failed(
                                f"{spec.label} check did not finish within {self.timeout_s:g} s: "
                                "the device is not responding", timeout_s=self.timeout_s)
                        else:
                            results[spec.name] = CheckResult.failed(
                                f"{spec.label} check could not run: it waits for a check that is stuck")
                    finished = True
                if finished:
                    for spec in chain.specs:
                        results.setdefault(spec.name, chain.done.get(spec.name))
                    pending.remove(chain)
                elif current:
                    deadline = chain.started + self.timeout_s
                    next_deadline = deadline if next_deadline is None else min(next_deadline, deadline)
            if pending:
                wait = self.timeout_s if next_deadline is None else max(0.0, next_deadline - time.monotonic())
                self._cond.wait(timeout=min(wait, self.timeout_s) + 0.001)

    @staticmethod
    def _finish(spec: CheckSpec, result: CheckResult) -> CheckResult:
        return result if spec.required else result.capped_at_warn()


def build_specs(cfg, hardware) -> list[CheckSpec]:
    """The checks this configuration asks for, bound to the opened hardware."""
    from kiosk.checks.camera import check_camera
    from kiosk.checks.clock import check_clock
    from kiosk.checks.display import check_display
    from kiosk.checks.microphone import check_microphone
    from kiosk.checks.network import check_network

    specs = [
        CheckSpec("camera", "Camera", lambda: check_camera(hardware.camera, cfg.camera), cfg.camera.required),
        CheckSpec("microphone", "Microphone", lambda: check_microphone(hardware.microphone, cfg.microphone),
                  cfg.microphone.required, chain="audio"),
        CheckSpec("display", "Display", lambda: check_display(hardware.display, cfg.display), cfg.display.required),
        CheckSpec("clock", "Clock", lambda: check_clock(hardware.clock, cfg.clock), cfg.clock.required),
        CheckSpec("network", "Network", lambda: check_network(cfg.network), cfg.network.required),
    ]
    if cfg.speaker.enabled and hardware.speaker is not None:
        from kiosk.checks.speaker import check_speaker

        specs.append(CheckSpec(
            "speaker", "Speaker",
            lambda: check_speaker(hardware.speaker, hardware.microphone, cfg.microphone, cfg.speaker),
            cfg.speaker.required, chain="audio"))
    return specs

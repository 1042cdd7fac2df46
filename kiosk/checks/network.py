"""Network check: do the hosts the room depends on (MQTT broker, video service) answer?

Each host is probed with a TCP connect: enough to show the route, DNS and the service
are up, without speaking its protocol.
"""

from __future__ import annotations

import socket
import threading
import time

from kiosk.checks.result import CheckResult
from kiosk.config import NetworkConfig

Probe = tuple[bool, float | None, str | None]


def _error_text(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def probe(host: str, port: int, timeout: float) -> Probe:
    """Open (and close) a TCP connection: ``(ok, latency in ms or None, error text or None)``."""
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return False, None, _error_text(exc)
    return True, (time.perf_counter() - start) * 1000.0, None


#: What staff should do, by what the failed probes have in common.
REFUSED_ACTION = ("The network works but the service there is not running: tell IT which one did not answer, "
                  "then check again.")
NAME_ACTION = ("The kiosk cannot look up the name: check the kiosk's network cable is plugged in at both ends; "
               "if it is, tell IT which host did not answer.")
CABLE_ACTION = ("Check the kiosk's network cable is plugged in at both ends (its socket light on), then check "
                "again; if it still fails, tell IT which host did not answer.")


def _action(errors: list[str | None]) -> str:
    """What staff should do when the probes failed with ``errors``."""
    if all(err == "connection refused" for err in errors):
        return REFUSED_ACTION  # something answered at that address, so the cable and route are fine
    if all(err == "unknown host name" for err in errors):
        return NAME_ACTION
    return CABLE_ACTION


def analyse_reachability(results: dict[str, Probe]) -> CheckResult:
    """Fail naming every ``host:port`` that did not answer and saying what staff should do;
    pass with the slowest latency otherwise."""
    latencies = [ms for ok, ms, _ in results.values() if ok and ms is not None]
    metrics = {
        "hosts": len(results),
        "reachable": sum(ok for ok, _, _ in results.values()),
        "max_latency_ms": round(max(latencies), 1) if latencies else None,
    }
    if not results:
        return CheckResult.passed("No network hosts configured; check skipped", **metrics)
    failed = {hp: err for hp, (ok, _, err) in results.items() if not ok}
    if failed:
        hosts = "; ".join(f"{hp} did not answer ({err or 'no reason given'})" for hp, err in failed.items())
        answered = f" ({metrics['reachable']} of {metrics['hosts']} answered)" if len(results) > 1 else ""
        return CheckResult.failed(f"{hosts}{answered}. {_action(list(failed.values()))}", **metrics)
    slowest = f" (slowest {metrics['max_latency_ms']:.0f} ms)" if latencies else ""
    noun = "host" if len(results) == 1 else "hosts"
    return CheckResult.passed(f"{len(results)} network {noun} answered{slowest}", **metrics)


def _split(host_port: str) -> tuple[str, int]:
    host, _, port = host_port.rpartition(":")
    return host.strip("[]"), int(port)  # "[::1]:1883" names an IPv6 address


def check_network(cfg: NetworkConfig) -> CheckResult:
    """Probe every configured host at once; the whole check takes at most about ``cfg.timeout_s``."""
    results: dict[str, Probe] = {}

    def run(host_port: str) -> None:
        results[host_port] = probe(*_split(host_port), cfg.timeout_s)

    # Daemon threads, because a DNS lookup ignores the socket timeout and may outlive the check.
    threads = [threading.Thread(target=run, args=(hp,), name=f"probe {hp}", daemon=True) for hp in cfg.hosts]
    for t in threads:
        t.start()
    # A little slack over the connect timeout so a probe that times out reports its own error.
    deadline = time.monotonic() + cfg.timeout_s + 0.5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    # Config order, so the reason reads like the config file; probes still running count as timed out.
    ordered = {hp: results.get(hp, (False, None, "timed out")) for hp in cfg.hosts}
    return analyse_reachability(ordered)

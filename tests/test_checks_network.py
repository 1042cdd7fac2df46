"""The network check against real sockets on the loopback interface."""

from __future__ import annotations

import socket
import time

import pytest

from kiosk.checks.network import (CABLE_ACTION, NAME_ACTION, REFUSED_ACTION, analyse_reachability, check_network,
                                  probe)
from kiosk.checks.result import Status
from kiosk.config import NetworkConfig


def test_network_probe_open_port(listening_port):
    ok, latency, error = probe("127.0.0.1", listening_port, 1.0)
    assert ok and error is None
    assert 0.0 <= latency < 1000.0


def test_network_probe_closed_port(closed_port):
    assert probe("127.0.0.1", closed_port, 1.0) == (False, None, "connection refused")


def test_network_probe_unknown_host(monkeypatch):
    # Fake the resolver, the lowest level, so the test does not depend on this machine's DNS.
    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    assert probe("broker.local", 1883, 1.0) == (False, None, "unknown host name")


def test_network_reachable_host_passes_with_latency(listening_port):
    result = check_network(NetworkConfig(hosts=[f"127.0.0.1:{listening_port}"], timeout_s=1.0))
    assert result.status is Status.PASS
    assert result.reason.startswith("1 network host answered (slowest ")
    assert result.metrics["hosts"] == 1 and result.metrics["reachable"] == 1
    assert result.metrics["max_latency_ms"] >= 0.0


def test_network_closed_port_fails_naming_it(closed_port):
    result = check_network(NetworkConfig(hosts=[f"127.0.0.1:{closed_port}"], timeout_s=1.0))
    assert result.status is Status.FAIL
    assert result.reason == f"127.0.0.1:{closed_port} did not answer (connection refused). {REFUSED_ACTION}"
    assert result.metrics == {"hosts": 1, "reachable": 0, "max_latency_ms": None}


def test_network_no_hosts_skips():
    result = check_network(NetworkConfig(hosts=[]))
    assert (result.status, result.reason) == (Status.PASS, "No network hosts configured; check skipped")
    assert result.metrics["hosts"] == 0


def test_network_mix_fails_naming_only_the_unreachable(listening_port, closed_port):
    up, down = f"127.0.0.1:{listening_port}", f"localhost:{closed_port}"
    result = check_network(NetworkConfig(hosts=[up, down], timeout_s=1.0))
    assert result.status is Status.FAIL
    assert result.reason == f"{down} did not answer (connection refused) (1 of 2 answered). {REFUSED_ACTION}"
    assert result.metrics["hosts"] == 2 and result.metrics["reachable"] == 1
    assert result.metrics["max_latency_ms"] is not None


def test_network_ipv6_brackets_are_stripped(monkeypatch):
    seen = []

    def record(address, timeout):
        seen.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", record)
    check_network(NetworkConfig(hosts=["[::1]:1883"], timeout_s=0.5))
    assert seen == [("::1", 1883)]


def test_network_hosts_are_probed_concurrently_within_the_timeout(monkeypatch):
    # A connect that hangs (DNS ignores the socket timeout); three of them must not add up.
    def hang(address, timeout):
        time.sleep(2.0)
        raise TimeoutError

    monkeypatch.setattr(socket, "create_connection", hang)
    started = time.monotonic()
    result = check_network(NetworkConfig(hosts=["a.example:1", "b.example:2", "c.example:3"], timeout_s=0.2))
    assert time.monotonic() - started < 1.5
    assert result.reason == ("a.example:1 did not answer (timed out); b.example:2 did not answer (timed out); "
                             f"c.example:3 did not answer (timed out) (0 of 3 answered). {CABLE_ACTION}")


@pytest.mark.parametrize("results, status, reason", [
    ({"broker.local:1883": (True, 2.26, None), "video.example:443": (True, 40.04, None)}, Status.PASS,
     "2 network hosts answered (slowest 40 ms)"),
    ({"broker.local:1883": (False, None, "connection refused")}, Status.FAIL,
     f"broker.local:1883 did not answer (connection refused). {REFUSED_ACTION}"),
    ({"broker.local:1883": (False, None, None)}, Status.FAIL,
     f"broker.local:1883 did not answer (no reason given). {CABLE_ACTION}"),
    ({"broker.local:1883": (False, None, "unknown host name"), "video.example:443": (False, None, "unknown host name")},
     Status.FAIL, "broker.local:1883 did not answer (unknown host name); video.example:443 did not answer (unknown "
     f"host name) (0 of 2 answered). {NAME_ACTION}"),
    ({"broker.local:1883": (False, None, "connection refused"), "video.example:443": (False, None, "timed out")},
     Status.FAIL, "broker.local:1883 did not answer (connection refused); video.example:443 did not answer (timed "
     f"out) (0 of 2 answered). {CABLE_ACTION}"),
    ({}, Status.PASS, "No network hosts configured; check skipped"),
])
def test_network_analyse_table(results, status, reason):
    result = analyse_reachability(results)
    assert (result.status, result.reason) == (status, reason)


def test_network_analyse_metrics():
    result = analyse_reachability({"a:1": (True, 2.26, None), "b:2": (True, 40.04, None), "c:3": (False, None, "x")})
    assert result.metrics == {"hosts": 3, "reachable": 2, "max_latency_ms": 40.0}


def test_network_reason_keeps_config_order(closed_port):
    hosts = [f"127.0.0.1:{closed_port}", f"localhost:{closed_port}"]
    result = check_network(NetworkConfig(hosts=hosts, timeout_s=1.0))
    assert [part.split(" ")[0] for part in result.reason.split("; ")] == hosts


@pytest.mark.parametrize("action", [REFUSED_ACTION, NAME_ACTION, CABLE_ACTION])
def test_network_reason_says_what_staff_should_do_in_plain_words(action):
    assert "tell IT" in action and action.endswith(".")
    assert action is REFUSED_ACTION or "network cable is plugged in" in action
    assert not any(jargon in action for jargon in ("DNS", "TCP", "ECONN", "socket error"))

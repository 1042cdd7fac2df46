"""The kiosk unit's ``IPAddressAllow=`` drop-in, from ``[web] allow_from`` (scripts/install-pi.sh writes it).

With ``allow_from`` empty the kiosk talks to anyone (the drop-in says so and sets nothing). Otherwise
systemd drops every packet to or from any other address: the kiosk then accepts connections only from
those networks and loopback, and reaches out only to them, the MQTT broker, the ``[network] hosts`` and
the name servers (each resolved now: after changing them, or the broker's address, run install-pi.sh
again).

    python3 -m kiosk.ip_allow /etc/kiosk/config.toml [RESOLV_CONF]
"""

from __future__ import annotations

import ipaddress
import socket
import sys

HEADER = ("# Written by scripts/install-pi.sh from [web] allow_from in the kiosk's config.toml: run it again after "
          "changing that.")


def _addresses(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)})
    except OSError:
        return []


def name_servers(resolv_conf: str) -> list[str]:
    """The ``nameserver`` addresses in ``resolv_conf`` (none if it cannot be read)."""
    found = []
    try:
        with open(resolv_conf, encoding="utf-8") as f:
            for line in f:
                words = line.split()
                if len(words) >= 2 and words[0] == "nameserver":
                    found += _addresses(words[1])
    except OSError:
        pass
    return found


def drop_in(cfg, resolv_conf: str = "/etc/resolv.conf") -> str:
    """The drop-in's text for ``cfg``."""
    lines = [HEADER]
    if not cfg.web.allow_from:
        lines += ["# [web] allow_from is empty: any address may connect (no IPAddressAllow=).", ""]
        return "\n".join(lines)
    outbound = []
    if cfg.mqtt.enabled and cfg.mqtt.host:
        outbound += _addresses(cfg.mqtt.host)
    for host_port in cfg.network.hosts:
        outbound += _addresses(host_port.rsplit(":", 1)[0].strip("[]"))
    outbound += name_servers(resolv_conf)
    lines += ["[Service]", "IPAddressDeny=any", "# The room's devices: [web] allow_from.",
              "IPAddressAllow=localhost " + " ".join(cfg.web.allow_from)]
    if outbound:
        lines += ["# Where the kiosk connects to: the broker, [network] hosts, the name servers.",
                  "IPAddressAllow=" + " ".join(dict.fromkeys(outbound))]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    from kiosk import config
    from kiosk.errors import ConfigError

    if not 1 <= len(argv) <= 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        cfg = config.load(argv[0])
    except ConfigError as exc:
        print(f"kiosk.ip_allow: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(drop_in(cfg, *argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The ``kiosk`` command line.

Subcommands import what they need lazily, so ``kiosk check`` starts quickly on a Pi.
Exit codes: 0 success (ready), 1 not ready, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from kiosk import __version__
from kiosk.errors import ConfigError

log = logging.getLogger("kiosk")

EXIT_READY, EXIT_NOT_READY, EXIT_USAGE = 0, 1, 2


def _add_config(parser):
    parser.add_argument("--config", "-c", metavar="FILE",
                        help="TOML config file (default: $KIOSK_CONFIG, /etc/kiosk/config.toml, else built-in defaults)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="how much to log to stderr (default INFO)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk", description="Hybrid Room Kiosk: is this conference room ready?")
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="run one cycle of device checks and report")
    _add_config(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--simulate", action="store_true", help="use simulated hardware")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run the kiosk: controller, lights, button and web pages")
    _add_config(p)
    p.add_argument("--simulate", action="store_true", help="simulate every device and the GPIO pins")
    p.add_argument("--start", metavar="HH:MM", help="today's conference start time (overrides the calendar)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("config", help="validate a config file, or list every key with its default")
    _add_config(p)
    p.add_argument("--defaults", action="store_true", help="print every key, its default and what it does")
    p.add_argument("--markdown", action="store_true",
                   help="with --defaults: as the Markdown tables of docs/configuration.md")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("doctor", help="what the kiosk sees of this Pi, each problem with a hint (for IT)")
    _add_config(p)
    p.add_argument("--root", default="/", metavar="DIR",
                   help="read /proc, /sys, /dev, /boot and /etc under DIR instead of / (default /)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("set-pin", help="set the chair's PIN (kept as a salted slow hash in the state directory)")
    _add_config(p)
    p.add_argument("--stdin", action="store_true",
                   help="read the PIN from the first line of standard input instead of asking twice")
    p.set_defaults(func=cmd_set_pin)

    p = sub.add_parser("unlock", help="clear the lockout after wrong PINs, so that the chair's PIN works again")
    _add_config(p)
    p.set_defaults(func=cmd_unlock)

    p = sub.add_parser("fleet", help="IT's live view of every room on an MQTT broker")
    p.add_argument("--broker", default="localhost", metavar="HOST[:PORT]",
                   help="the broker (default localhost:1883, or :8883 with --tls-ca)")
    p.add_argument("--prefix", default="kiosk", help="topic prefix of the kiosks (default kiosk)")
    p.add_argument("--once", action="store_true", help="print one table and exit: 0 all rooms online and ready, "
                                                       "1 a room offline or not ready, 3 broker unreachable")
    p.add_argument("--wait", type=float, default=2.0, metavar="SECONDS",
                   help="--once: longest wait for the rooms' retained messages (default 2)")
    p.add_argument("--username", help="broker user name")
    p.add_argument("--password", help="broker password (visible to other local users: prefer --password-file "
                                      "or $KIOSK_MQTT_PASSWORD)")
    p.add_argument("--password-file", metavar="FILE", help="file whose first line is the password")
    p.add_argument("--tls-ca", metavar="FILE", help="CA certificate: connect with TLS")
    p.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="how much to log to stderr (default WARNING)")
    p.set_defaults(func=cmd_fleet)

    p = sub.add_parser("quality", help="every room's monthly quality figures on a broker, combined into one report")
    p.add_argument("--broker", default="localhost", metavar="HOST[:PORT]",
                   help="the broker (default localhost:1883, or :8883 with --tls-ca)")
    p.add_argument("--month", metavar="YYYY-MM", help="the month to report (default the current month)")
    p.add_argument("--csv", action="store_true", help="print the report as CSV instead of a table")
    p.add_argument("--html", metavar="FILE", help="also write the report, with its charts, as one HTML file")
    p.add_argument("--prefix", default="kiosk", help="topic prefix of the kiosks (default kiosk)")
    p.add_argument("--wait", type=float, default=2.0, metavar="SECONDS",
                   help="longest wait for the rooms' retained messages (default 2)")
    p.add_argument("--username", help="broker user name")
    p.add_argument("--password-file", metavar="FILE", help="file whose first line is the password "
                                                           "(or set $KIOSK_MQTT_PASSWORD)")
    p.add_argument("--tls-ca", metavar="FILE", help="CA certificate: connect with TLS")
    p.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="how much to log to stderr (default WARNING)")
    p.set_defaults(func=cmd_quality)
    return parser


def _load_config(args):
    from kiosk import config

    return config.load(args.config)


def cmd_check(args) -> int:
    """``kiosk check``: one check cycle; exit 0 ready, 1 not ready."""
    from kiosk.checks.runner import CheckRunner, build_specs
    from kiosk.factory import build_hardware

    cfg = _load_config(args)
    hardware = build_hardware(cfg, simulate=args.simulate)
    try:
        cycle = CheckRunner(build_specs(cfg, hardware), cfg.checks.timeout_s).run()
    finally:
        hardware.close()
    if args.json:
        json.dump(cycle.to_dict(cfg.room.id), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        verdict = "READY" if cycle.ready else "NOT READY"
        print(f"{cfg.room.name} ({cfg.room.id}): {verdict}")
        width = max(len(n) for n in cycle.results)
        for name, result in cycle.results.items():
            print(f"  {result.status.value.upper():4}  {name:<{width}}  {result.reason}")
    return EXIT_READY if cycle.ready else EXIT_NOT_READY


def cmd_run(args) -> int:
    """``kiosk run``: the long-running kiosk."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    cfg = _load_config(args)
    from kiosk import schedule, service

    start_at = None
    if args.start:
        try:
            start_at = schedule.parse_hhmm(args.start, datetime.now(ZoneInfo(cfg.schedule.timezone)))
        except ValueError as exc:
            print(f"kiosk: --start: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return service.run(cfg, simulate=args.simulate, start_at=start_at)


def cmd_config(args) -> int:
    """``kiosk config``: validate the file (exit 2 naming the bad key) or list the defaults."""
    from kiosk import config

    if args.markdown and not args.defaults:
        print("kiosk: --markdown goes with --defaults", file=sys.stderr)
        return EXIT_USAGE
    if args.defaults and args.markdown:
        from kiosk.config_doc import render

        print(render(), end="")
        return 0
    if args.defaults:
        section = None
        for name, key, default, doc in config.describe():
            if name != section:
                print(f"\n[{name}]" if section else f"[{name}]")
                section = name
            print(f"{key} = {json.dumps(default)}  # {doc}")
        return 0
    cfg = _load_config(args)
    note = _check_calendar(cfg)
    print(f"{cfg.path or 'built-in defaults'}: OK")
    if note:
        print(note)
    return 0


def _check_calendar(cfg) -> str | None:
    """Read and parse a calendar file (a ConfigError if it cannot be used); a URL is only named, not fetched."""
    import os
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from kiosk import calendar_ics
    from kiosk.calendar_source import is_url, redact

    s = cfg.schedule
    if s.ics_ca and not os.path.isfile(s.ics_ca):
        raise ConfigError("the CA certificate file does not exist", section="schedule", key="ics_ca", path=cfg.path)
    if not s.ics:
        return None
    if is_url(s.ics):
        return f"calendar: {redact(s.ics)} (a URL: not fetched here; `kiosk doctor` fetches it)"
    now = datetime.now(ZoneInfo(s.timezone))
    parsed = calendar_ics.load_bookings(s.ics, *calendar_ics.window(now), s.timezone)
    note = f"calendar: {s.ics}: {parsed.events} events, {len(parsed.bookings)} bookings today and tomorrow"
    if parsed.skipped:
        note += f"; {parsed.skipped} skipped: " + "; ".join(parsed.reasons)
    return note


def cmd_set_pin(args) -> int:
    """``kiosk set-pin``: save the chair's PIN hash (0600) in the state directory; exit 0 saved, 2 refused,
    1 not saved (storage). Signs out every chair session (they carry the old PIN's fingerprint)."""
    import getpass

    from kiosk.conference.errors import InvalidPin, StorageError
    from kiosk.conference.pin import PinStore

    cfg = _load_config(args)
    store = PinStore(cfg.state_dir(), min_length=cfg.conference.pin_min_length)
    try:
        if args.stdin:
            pin = sys.stdin.readline().rstrip("\r\n")
        else:
            pin = getpass.getpass("New chair PIN: ")
            if getpass.getpass("The same PIN again: ") != pin:
                print("kiosk set-pin: the two PINs differ; nothing was changed", file=sys.stderr)
                return EXIT_USAGE
    except EOFError:
        print("kiosk set-pin: no PIN given; nothing was changed", file=sys.stderr)
        return EXIT_USAGE
    try:
        store.save(pin)
    except InvalidPin as exc:
        print(f"kiosk set-pin: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"kiosk set-pin: {exc}", file=sys.stderr)
        return EXIT_NOT_READY
    print(f"Chair PIN saved in {store.path} (any chair signed in must sign in again)")
    return 0


def cmd_unlock(args) -> int:
    """``kiosk unlock``: ask the running kiosk to clear its PIN lockout (a file in the state directory that it
    removes at the next sign-in attempt); exit 0 asked, 1 the state directory cannot be written."""
    import os

    from kiosk.conference.pin import UNLOCK_FILENAME

    cfg = _load_config(args)
    path = os.path.join(cfg.state_dir(), UNLOCK_FILENAME)
    try:
        os.makedirs(cfg.state_dir(), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
    except OSError as exc:
        print(f"kiosk unlock: cannot write {path} ({exc.strerror}): run it as the kiosk's user "
              "(sudo -u kiosk kiosk unlock)", file=sys.stderr)
        return EXIT_NOT_READY
    print("PIN lockout cleared: the chair's PIN works again from the next try")
    return 0


#: What :func:`_broker_password` returns when ``--password-file`` cannot be read (it has said why).
_UNREADABLE = object()


def _broker_password(args, command: str):
    """The broker password of ``kiosk fleet`` / ``kiosk quality``: the first line of ``--password-file``, else
    ``--password`` (where the command has it), else ``$KIOSK_MQTT_PASSWORD`` (None when none is given).
    :data:`_UNREADABLE`, after a message on stderr, when the file cannot be read."""
    import os

    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as exc:
            print(f"kiosk {command}: cannot read {args.password_file}: {exc.strerror}", file=sys.stderr)
            return _UNREADABLE
    return getattr(args, "password", None) or os.environ.get("KIOSK_MQTT_PASSWORD")


def cmd_fleet(args) -> int:
    """``kiosk fleet``: every room's state from the broker (see kiosk.fleet)."""
    from kiosk import fleet

    password = _broker_password(args, "fleet")
    if password is _UNREADABLE:
        return EXIT_USAGE
    return fleet.run(args.broker, args.prefix, args.once, username=args.username, password=password,
                     tls_ca=args.tls_ca, wait_s=args.wait)


def cmd_quality(args) -> int:
    """``kiosk quality``: the combined quality report of every room on a broker (see kiosk.quality.collect)."""
    from kiosk.quality import collect

    password = _broker_password(args, "quality")
    if password is _UNREADABLE:
        return EXIT_USAGE
    return collect.run(args.broker, args.prefix, args.month, csv=args.csv, html=args.html,
                       username=args.username, password=password, tls_ca=args.tls_ca, wait_s=args.wait)


def cmd_doctor(args) -> int:
    """``kiosk doctor``: exit 0 when nothing FAILs, else 1."""
    from kiosk import doctor

    return doctor.main(_load_config(args), args.root, json=args.json)


def main(argv=None) -> int:
    """Entry point of the ``kiosk`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from kiosk import log as kiosk_log

    kiosk_log.setup(getattr(args, "log_level", "INFO"))
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"kiosk: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `kiosk config --defaults | head`
        sys.stderr.close()
        return 0

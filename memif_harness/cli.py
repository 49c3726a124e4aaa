"""The ``memif-harness`` command line.

Subcommands:

* ``responder``: libmemif's icmp_responder (ARP + ICMP echo) in three driving variants;
* ``ping``: ARP-resolve a peer and ping it over memif, checking every reply byte for byte;
* ``loopback``: two interfaces of our own, connected, with verified traffic both ways;
* ``gen``: send a scapy stream at a rate to an echoing/forwarding peer and classify what
  came back;
* ``run``: the conformance and interop run (:mod:`memif_harness.runner`);
* ``report``: render, merge and compare reports (HTML, JUnit; :mod:`memif_harness.report.command`).

This module only parses arguments; each subcommand's work is in :mod:`memif_harness.apps`.

Exit status: 0 success, 1 failure (loss, corruption, no peer), 2 usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import math
import signal
import sys
import types
from collections.abc import Sequence

from . import __version__, runner
from .apps import gen, loopback, ping
from .apps.link import LinkConfig
from .apps.output import say
from .apps.responder import DEFAULT_IP, DEFAULT_MAC, Responder, ResponderConfig
from .memif.protocol.constants import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_LOG2_RING_SIZE,
    MAX_CHAIN,
    MAX_LOG2_RING_SIZE,
    MAX_RINGS,
    Mode,
    Role,
)
from .memif.protocol.errors import MemifError
from .memif.protocol.versions import ProtocolVersion
from .report import command as report_command
from .traffic.frames import format_mac, parse_mac

DEFAULT_RING_SIZE = 1 << DEFAULT_LOG2_RING_SIZE
#: Largest IPv4 packet (the total length field is 16 bits).
MAX_IP_PACKET = 65535


# -- argument types --------------------------------------------------------------------------


def ring_size(text: str) -> int:
    """``--ring-size``: a power of two of slots, returned as its log2."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 2 or value & (value - 1) or value > 1 << MAX_LOG2_RING_SIZE:
        raise argparse.ArgumentTypeError(
            f"ring size must be a power of 2 between 2 and {1 << MAX_LOG2_RING_SIZE}, not {value}"
        )
    return int(math.log2(value))


def ipv4(text: str) -> str:
    """An IPv4 address."""
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IPv4 address: {text!r}") from None


def mac(text: str) -> str:
    """A MAC address."""
    try:
        return format_mac(parse_mac(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _integer(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def positive(text: str) -> int:
    """A positive integer."""
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_float(text: str) -> float:
    """A positive, finite number (a rate)."""
    value = _float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def queue_count(text: str) -> int:
    """Queue pairs: 1..255 (a memif interface has at most 255 rings each way)."""
    value = _integer(text)
    if not 1 <= value <= MAX_RINGS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_RINGS}, not {value}")
    return value


def vlan_id(text: str) -> int:
    """An 802.1Q VLAN id."""
    value = _integer(text)
    if not 0 <= value <= 4095:
        raise argparse.ArgumentTypeError(f"VLAN id must be 0..4095, not {value}")
    return value


def icmp_data_size(text: str) -> int:
    """ICMP echo data bytes: what fits an IPv4 packet."""
    value = _integer(text)
    if not 0 <= value <= MAX_IP_PACKET - 28:
        raise argparse.ArgumentTypeError(
            f"ICMP data size must be 0..{MAX_IP_PACKET - 28}, not {value}"
        )
    return value


def non_negative(text: str) -> float:
    """A number of seconds, 0 or more."""
    value = _float(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def _add_link(parser: argparse.ArgumentParser, *, queues: bool = True) -> None:
    parser.add_argument("--role", choices=["master", "slave"], required=True)
    parser.add_argument(
        "--socket", required=True, help="socket file path, or @NAME for the abstract namespace"
    )
    parser.add_argument("--id", type=int, default=0, help="interface id (default 0)")
    parser.add_argument("--secret", default="", help="shared secret (default none)")
    parser.add_argument("--mode", choices=["ethernet", "ip"], default="ethernet")
    parser.add_argument(
        "--protocol",
        type=ProtocolVersion.of,
        choices=list(ProtocolVersion),
        default=ProtocolVersion.V2,
        metavar="{1,2,auto}",
        help="memif protocol version: 2 (default), 1 (memif 1.0 of 2017) or auto (the peer's)",
    )
    if queues:
        parser.add_argument("--queues", type=queue_count, default=1, help="queue pairs (1..255)")
    _add_ring_size(parser)
    parser.add_argument("--buffer-size", type=positive, default=DEFAULT_BUFFER_SIZE)
    parser.add_argument(
        "--handshake-timeout",
        type=non_negative,
        default=DEFAULT_HANDSHAKE_TIMEOUT,
        metavar="SECONDS",
        help="drop a connection not CONNECTED after this long "
        f"(default {DEFAULT_HANDSHAKE_TIMEOUT:g}; 0: no limit)",
    )
    parser.add_argument(
        "--allow-unsealed-regions",
        action="store_true",
        help="as master, map regions the peer did not let us seal against shrinking "
        "(RISK: the peer can then truncate one and kill us with SIGBUS)",
    )


def _add_ring_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ring-size",
        type=ring_size,
        default=DEFAULT_LOG2_RING_SIZE,
        dest="log2_ring_size",
        metavar="SLOTS",
        help=f"slots per ring, a power of 2 (default {DEFAULT_RING_SIZE})",
    )


def _check_frame_size(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--size`` of ping, gen and loopback: a frame IP allows and our rings can carry."""
    if args.command not in ("ping", "gen", "loopback") or args.size is None:
        return
    l2 = args.mode == "ethernet"
    if args.command == "ping":
        length = args.size + 28 + (14 if l2 else 0)
    else:
        length = args.size
        limit = MAX_IP_PACKET + (14 + 4 * len(getattr(args, "vlan", ())) if l2 else 0)
        if length > limit:
            parser.error(
                f"--size: frame size {length} is more than one IP packet allows "
                f"({limit} bytes at most here)"
            )
    slots = min(1 << args.log2_ring_size, MAX_CHAIN)
    if length > slots * args.buffer_size:
        parser.error(
            f"--size: a {length}-byte frame does not fit {slots} buffers of "
            f"{args.buffer_size} bytes (raise --ring-size or --buffer-size)"
        )


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand; ``run``'s options come from :mod:`.runner`."""
    parser = argparse.ArgumentParser(
        prog="memif-harness", description="memif conformance and interop harness"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("responder", help="answer ARP and ICMP echo (libmemif's icmp_responder)")
    _add_link(p)
    p.add_argument("--ip", type=ipv4, default=DEFAULT_IP, help=f"our address ({DEFAULT_IP})")
    p.add_argument("--mac", type=mac, default=DEFAULT_MAC, help=f"our MAC ({DEFAULT_MAC})")
    p.add_argument(
        "--fd-events",
        choices=["internal", "external"],
        default="internal",
        help="internal: the library's poll_event loop; external: our epoll via on_fd_update",
    )
    p.add_argument(
        "--threads",
        action="store_true",
        help="one thread per queue (queue 0 polling, others interrupt)",
    )
    p.set_defaults(func=cmd_responder)

    p = sub.add_parser("ping", help="ping a peer over memif (ARP first in ethernet mode)")
    _add_link(p, queues=False)
    p.add_argument("--target", type=ipv4, required=True, help="the address to ping")
    p.add_argument("--ip", type=ipv4, default="192.168.1.2", help="our address (192.168.1.2)")
    p.add_argument("--mac", type=mac, default="02:fe:00:00:00:02", help="our MAC")
    p.add_argument("--count", "-c", type=positive, default=4)
    p.add_argument("--size", "-s", type=icmp_data_size, default=56, help="ICMP data bytes (56)")
    p.add_argument("--timeout", "-W", type=float, default=1.0, help="seconds per reply (1)")
    p.add_argument("--interval", "-i", type=float, default=0.2, help="seconds between (0.2)")
    p.add_argument(
        "--connect-timeout", type=float, default=5.0, help="seconds to wait for the peer (5)"
    )
    p.set_defaults(func=cmd_ping)

    p = sub.add_parser("loopback", help="two connected interfaces of our own, traffic both ways")
    p.add_argument("--socket", default="", help="socket (default: a private abstract one)")
    p.add_argument("--count", type=positive, default=1000, help="frames per direction per queue")
    p.add_argument("--size", type=positive, default=64, help="frame size (64)")
    p.add_argument("--queues", type=queue_count, default=1, help="queue pairs (1..255)")
    p.add_argument("--mode", choices=["ethernet", "ip"], default="ethernet")
    _add_ring_size(p)
    p.add_argument("--buffer-size", type=positive, default=DEFAULT_BUFFER_SIZE)
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=cmd_loopback)

    p = sub.add_parser("gen", help="send a stream to an echoing peer and classify what returns")
    _add_link(p)
    p.add_argument("--stream", default="udp", help="udp, tcp, icmp, udp6, tcp6, icmp6, arp")
    p.add_argument("--count", type=positive, default=1000)
    p.add_argument("--size", type=positive, default=None, help="frame size (smallest possible)")
    p.add_argument(
        "--rate", type=positive_float, default=None, help="packets per second (unlimited)"
    )
    p.add_argument("--burst", type=positive, default=32)
    p.add_argument(
        "--window",
        type=positive,
        default=None,
        help="most frames in flight, sent and not yet back (default: half the ring, so a "
        "peer that drops on a full ring, like testpmd, loses nothing)",
    )
    p.add_argument(
        "--vlan", type=vlan_id, action="append", default=[], help="Dot1Q tag 0..4095 (repeat)"
    )
    p.add_argument(
        "--expect",
        default="auto",
        help="identity (io), macswap, icmp-echo; auto: icmp-echo for icmp streams, else identity",
    )
    p.add_argument("--src-mac", type=mac, default="02:fe:00:00:00:02")
    p.add_argument("--dst-mac", type=mac, default=DEFAULT_MAC)
    p.add_argument("--src-ip", default=None)
    p.add_argument("--dst-ip", default=None)
    p.add_argument("--unordered", action="store_true", help="do not report reordering")
    p.add_argument("--timeout", type=float, default=2.0)
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument(
        "--deadline",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="end the exchange this long after link up, whatever is still unsent (none)",
    )
    p.add_argument(
        "--warmup",
        type=non_negative,
        default=0.0,
        metavar="SECONDS",
        help="first send probes until the peer echoes one, at most this long (for testpmd, "
        "which drops what arrives before its forwarding starts; default 0: none)",
    )
    p.add_argument("--pcap-dir", default=None, help="write sent/received pcaps here on failure")
    p.add_argument(
        "--bulk",
        action="store_true",
        help="load the peer instead: the stream's first frame, repeated for --duration at "
        "--rate (unlimited: as fast as the rings drain) on every queue; reports the pps "
        "achieved, drops (ring full) and what came back, without classifying it",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="how long --bulk sends (default 10)",
    )
    p.set_defaults(func=cmd_gen)

    p = sub.add_parser("run", help="run the conformance and interop suites, print the matrix")
    runner.add_arguments(p)
    p.set_defaults(func=runner.main)

    p = sub.add_parser(
        "conformance", help="replay the conformance scenarios (raw peer) against the peers"
    )
    runner.add_arguments(p)
    p.add_argument("--role", choices=["master", "slave"], default=None,
                   help="only scenarios where the peer under test plays this role")
    p.add_argument("--python-peer", choices=["inprocess", "subprocess"], default="inprocess",
                   help="how our own implementation runs as the peer: threads in this process "
                   "(default; the whole catalogue in under a minute) or a worker process per "
                   "interface")
    p.set_defaults(func=runner.conformance)

    # listed here; main() hands its arguments to its own parser
    p = sub.add_parser(
        "report", help="show, merge and compare reports; write HTML and JUnit", add_help=False
    )
    p.add_argument("report_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the subcommand; the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:  # its own parser: options before RESULTS, --help included
        return report_command.main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_frame_size(parser, args)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except MemifError as exc:
        say(f"memif-harness {args.command}: {exc}", err=True)
        return 1
    return status


# -- responder -------------------------------------------------------------------------------


def cmd_responder(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM, then delete the interface and exit 0."""
    config = ResponderConfig(
        role=Role[args.role.upper()],
        socket=args.socket,
        id=args.id,
        secret=args.secret,
        mode=Mode[args.mode.upper()],
        ip=args.ip,
        mac=args.mac,
        queues=args.queues,
        log2_ring_size=args.log2_ring_size,
        buffer_size=args.buffer_size,
        fd_events=args.fd_events,
        threads=args.threads,
        allow_unsealed_regions=args.allow_unsealed_regions,
        handshake_timeout=args.handshake_timeout or None,
        protocol=args.protocol,
    )
    try:
        responder = Responder(config, log=say)
    except ValueError as exc:
        say(f"memif-harness responder: {exc}", err=True)
        return 2

    def on_signal(signum: int, _frame: types.FrameType | None) -> None:
        say(f"{signal.Signals(signum).name}: stopping")
        responder.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return responder.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- ping, loopback, gen ----------------------------------------------------------------------


def _link(args: argparse.Namespace) -> LinkConfig:
    return LinkConfig(
        role=args.role,
        socket=args.socket,
        id=args.id,
        secret=args.secret,
        mode=args.mode,
        queues=getattr(args, "queues", 1),
        log2_ring_size=args.log2_ring_size,
        buffer_size=args.buffer_size,
        connect_timeout=args.connect_timeout,
        allow_unsealed_regions=args.allow_unsealed_regions,
        handshake_timeout=args.handshake_timeout or None,
        protocol=args.protocol,
    )


def cmd_ping(args: argparse.Namespace) -> int:
    """ARP-resolve ``--target`` and ping it; 0 only if every reply came intact."""
    config = ping.PingConfig(
        target=args.target,
        ip=args.ip,
        mac=args.mac,
        count=args.count,
        size=args.size,
        timeout=args.timeout,
        interval=args.interval,
    )
    return ping.run(_link(args), config)


def cmd_loopback(args: argparse.Namespace) -> int:
    """Connect two interfaces of ours and verify traffic both ways on every queue."""
    config = loopback.LoopbackConfig(
        socket=args.socket,
        count=args.count,
        size=args.size,
        queues=args.queues,
        mode=args.mode,
        log2_ring_size=args.log2_ring_size,
        buffer_size=args.buffer_size,
        timeout=args.timeout,
    )
    return loopback.run(config)


def cmd_gen(args: argparse.Namespace) -> int:
    """Send a stream to an echoing peer; 1 on any loss, corruption or surprise."""
    config = gen.GenConfig(
        stream=args.stream,
        count=args.count,
        size=args.size,
        rate=args.rate,
        burst=args.burst,
        window=args.window,
        vlan=tuple(args.vlan),
        expect=args.expect,
        src_mac=args.src_mac,
        dst_mac=args.dst_mac,
        src_ip=args.src_ip,
        dst_ip=args.dst_ip,
        unordered=args.unordered,
        timeout=args.timeout,
        pcap_dir=args.pcap_dir,
        deadline=args.deadline,
        warmup=args.warmup,
        bulk=args.bulk,
        duration=args.duration,
    )
    return gen.run(_link(args), config)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())

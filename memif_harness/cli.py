"""The ``memif-harness`` command line.

Subcommands:

* ``responder``: libmemif's icmp_responder (ARP + ICMP echo) in three driving variants;
* ``ping``: ARP-resolve a peer and ping it over memif, checking every reply byte for byte;
* ``loopback``: two interfaces of our own, connected, with verified traffic both ways;
* ``gen``: send a scapy stream at a rate to an echoing/forwarding peer and classify what
  came back;
* ``run``: the conformance and interop run (:mod:`memif_harness.runner`).

Exit status: 0 success, 1 failure (loss, corruption, no peer), 2 usage errors.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import math
import os
import signal
import statistics
import sys
import time
import types
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from . import __version__, runner
from .constants import DEFAULT_BUFFER_SIZE, DEFAULT_LOG2_RING_SIZE, MAX_LOG2_RING_SIZE, Mode, Role
from .endpoint import Endpoint, EventLoop
from .errors import MemifError
from .expect import resolve_expect
from .responder import (
    DEFAULT_IP,
    DEFAULT_MAC,
    Responder,
    ResponderConfig,
    ResponderCore,
    arp_request,
    format_mac,
    internet_checksum,
    parse_arp_reply,
    parse_mac,
)
from .streams import STREAM_KINDS, make_stream, udp
from .traffic import send_and_expect
from .verdict import Verdict

DEFAULT_RING_SIZE = 1 << DEFAULT_LOG2_RING_SIZE


# -- output ----------------------------------------------------------------------------------


def _say(text: str = "", *, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    print(text, file=stream, flush=True)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A rich table on a terminal, aligned plain text otherwise (logs, pipes, tests)."""
    if sys.stdout.isatty():
        table = Table(title=title)
        for i, column in enumerate(columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        Console().print(table)
        return
    cells = [list(columns), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    _say(title)
    for row in cells:
        _say(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )


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


def positive(text: str) -> int:
    """A positive integer."""
    value = int(text, 0)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def _add_link(parser: argparse.ArgumentParser, *, queues: bool = True) -> None:
    parser.add_argument("--role", choices=["master", "slave"], required=True)
    parser.add_argument(
        "--socket", required=True, help="socket file path, or @NAME for the abstract namespace"
    )
    parser.add_argument("--id", type=int, default=0, help="interface id (default 0)")
    parser.add_argument("--secret", default="", help="shared secret (default none)")
    parser.add_argument("--mode", choices=["ethernet", "ip"], default="ethernet")
    if queues:
        parser.add_argument("--queues", type=positive, default=1, help="queue pairs")
    parser.add_argument(
        "--ring-size",
        type=ring_size,
        default=DEFAULT_LOG2_RING_SIZE,
        dest="log2_ring_size",
        help=f"slots per ring, a power of 2 (default {DEFAULT_RING_SIZE})",
    )
    parser.add_argument("--buffer-size", type=positive, default=DEFAULT_BUFFER_SIZE)


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
    p.add_argument("--size", "-s", type=int, default=56, help="ICMP data bytes (56)")
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
    p.add_argument("--queues", type=positive, default=1)
    p.add_argument("--mode", choices=["ethernet", "ip"], default="ethernet")
    p.add_argument(
        "--ring-size", type=ring_size, default=DEFAULT_LOG2_RING_SIZE, dest="log2_ring_size"
    )
    p.add_argument("--buffer-size", type=positive, default=DEFAULT_BUFFER_SIZE)
    p.add_argument("--timeout", type=float, default=5.0)
    p.set_defaults(func=cmd_loopback)

    p = sub.add_parser("gen", help="send a stream to an echoing peer and classify what returns")
    _add_link(p)
    p.add_argument("--stream", default="udp", help="udp, tcp, icmp, udp6, tcp6, icmp6, arp")
    p.add_argument("--count", type=positive, default=1000)
    p.add_argument("--size", type=positive, default=None, help="frame size (smallest possible)")
    p.add_argument("--rate", type=float, default=None, help="packets per second (unlimited)")
    p.add_argument("--burst", type=positive, default=32)
    p.add_argument(
        "--window",
        type=positive,
        default=None,
        help="most frames in flight, sent and not yet back (default: half the ring, so a "
        "peer that drops on a full ring, like testpmd, loses nothing)",
    )
    p.add_argument("--vlan", type=int, action="append", default=[], help="Dot1Q tag (repeat)")
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
    p.add_argument("--pcap-dir", default=None, help="write sent/received pcaps here on failure")
    p.set_defaults(func=cmd_gen)

    p = sub.add_parser("run", help="run the conformance and interop suites, print the matrix")
    runner.add_arguments(p)
    p.set_defaults(func=runner.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run the subcommand; the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except MemifError as exc:
        _say(f"memif-harness {args.command}: {exc}", err=True)
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
    )
    try:
        responder = Responder(config, log=_say)
    except ValueError as exc:
        _say(f"memif-harness responder: {exc}", err=True)
        return 2

    def on_signal(signum: int, _frame: types.FrameType | None) -> None:
        _say(f"{signal.Signals(signum).name}: stopping")
        responder.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return responder.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- ping ------------------------------------------------------------------------------------


def _endpoint(args: argparse.Namespace, queues: int = 1) -> Endpoint:
    return Endpoint(
        args.role,
        args.socket,
        id=args.id,
        secret=args.secret,
        mode=args.mode,
        tx_queues=queues,
        rx_queues=queues,
        log2_ring_size=args.log2_ring_size,
        buffer_size=args.buffer_size,
        name="memif-harness",
    )


def _connect(endpoint: Endpoint, args: argparse.Namespace, what: str) -> bool:
    try:
        endpoint.wait_connected(args.connect_timeout)
    except TimeoutError:
        iface = endpoint.interface
        why = iface.local_reason or iface.remote_reason or "nobody answered"
        _say(
            f"memif-harness {what}: no memif peer connected as {args.role} on {args.socket} "
            f"id {args.id} within {args.connect_timeout:g}s ({why})",
            err=True,
        )
        return False
    return True


def cmd_ping(args: argparse.Namespace) -> int:
    """ARP-resolve ``--target`` and ping it; 0 only if every reply came intact."""
    try:
        endpoint = _endpoint(args)
    except MemifError as exc:
        _say(f"memif-harness ping: cannot create the interface: {exc}", err=True)
        return 1
    with endpoint:
        if not _connect(endpoint, args, "ping"):
            return 1
        return _ping(endpoint, args)


def _ping(endpoint: Endpoint, args: argparse.Namespace) -> int:
    l2 = args.mode == "ethernet"
    me = ResponderCore(args.ip, args.mac, mode=Mode[args.mode.upper()])  # answers ARP for us
    target = ipaddress.IPv4Address(args.target).packed

    def handle(frames: list[bytes]) -> list[bytes]:
        """Answer what the peer asks of us (ARP), return the rest."""
        rest = []
        for frame in frames:
            answer = me.reply(frame) if l2 else None
            if answer is not None and answer[12:14] != b"\x08\x00":
                endpoint.send([answer])
            else:
                rest.append(frame)
        return rest

    target_mac = b""
    if l2:
        for _attempt in range(3):
            endpoint.send([arp_request(me.mac, me.ip, target)])
            deadline = time.monotonic() + args.timeout
            while not target_mac and (left := deadline - time.monotonic()) > 0:
                for frame in handle(_recv_some(endpoint, left)):
                    target_mac = parse_arp_reply(frame, target) or target_mac
            if target_mac:
                break
        if not target_mac:
            _say(f"ping: no ARP reply from {args.target} (tried 3 times)", err=True)
            return 1
        _say(f"ARP: {args.target} is at {format_mac(target_mac)}")
    ident = os.getpid() & 0xFFFF
    _say(f"PING {args.target} ({args.target}) {args.size} data bytes")
    rtts: list[float] = []
    start = time.monotonic()
    for seq in range(1, args.count + 1):
        payload = bytes((i + seq) & 0xFF for i in range(args.size))
        ip = IP(src=args.ip, dst=args.target) / ICMP(type=8, id=ident, seq=seq) / payload
        request = bytes(Ether(src=args.mac, dst=target_mac) / ip) if l2 else bytes(ip)
        sent_at = time.monotonic()
        endpoint.send([request])
        deadline = sent_at + args.timeout
        got = False
        while not got and (left := deadline - time.monotonic()) > 0:
            for frame in handle(_recv_some(endpoint, left)):
                packet = Ether(frame) if l2 else IP(frame)
                if not packet.haslayer(ICMP) or packet[IP].src != args.target:
                    continue
                reply = packet[ICMP]
                if reply.type != 0 or reply.id != ident or reply.seq != seq:
                    continue
                problem = _check_echo(reply, payload=payload, frame=frame, l2=l2, our_mac=args.mac)
                if problem:
                    _say(f"bad reply icmp_seq={seq}: {problem}")
                    continue
                rtt = (time.monotonic() - sent_at) * 1000
                rtts.append(rtt)
                got = True
                _say(
                    f"{len(bytes(reply))} bytes from {args.target}: icmp_seq={seq} "
                    f"ttl={packet[IP].ttl} time={rtt:.3f} ms"
                )
        if seq < args.count:
            time.sleep(max(0.0, args.interval - (time.monotonic() - sent_at)))
    elapsed = (time.monotonic() - start) * 1000
    received = len(rtts)
    loss = 100 * (args.count - received) // args.count
    _say(f"\n--- {args.target} ping statistics ---")
    _say(
        f"{args.count} packets transmitted, {received} received, {loss}% packet loss, "
        f"time {elapsed:.0f}ms"
    )
    if rtts:
        mdev = statistics.pstdev(rtts)
        _say(
            f"rtt min/avg/max/mdev = {min(rtts):.3f}/{statistics.fmean(rtts):.3f}/"
            f"{max(rtts):.3f}/{mdev:.3f} ms"
        )
    return 0 if received == args.count else 1


def _recv_some(endpoint: Endpoint, timeout: float) -> list[bytes]:
    """The first frame within ``timeout`` and whatever else is already waiting."""
    frames = endpoint.recv(1, timeout=timeout)
    return frames + endpoint.recv(64, timeout=0) if frames else frames


def _check_echo(reply: Any, *, payload: bytes, frame: bytes, l2: bool, our_mac: str) -> str:
    """Why an echo reply with our id and seq is wrong ('' if it is right)."""
    data = bytes(reply.payload)
    if data[: len(payload)] != payload or len(data) != len(payload):
        return f"payload differs ({len(data)} bytes, expected {len(payload)})"
    if internet_checksum(bytes(reply[ICMP])) != 0:
        return f"bad ICMP checksum {reply.chksum:#06x}"
    if l2 and frame[0:6] != parse_mac(our_mac):
        return "not addressed to our MAC"
    return ""


# -- loopback --------------------------------------------------------------------------------


def cmd_loopback(args: argparse.Namespace) -> int:
    """Connect two interfaces of ours and verify traffic both ways on every queue."""
    socket = args.socket or f"@memif-harness-loopback-{os.getpid()}"
    common: dict[str, Any] = {
        "mode": args.mode,
        "tx_queues": args.queues,
        "rx_queues": args.queues,
        "log2_ring_size": args.log2_ring_size,
        "buffer_size": args.buffer_size,
    }
    l2 = args.mode == "ethernet"
    rows: list[list[object]] = []
    failures: list[str] = []
    with EventLoop(app_name="loopback") as loop:
        master = Endpoint("master", socket, loop=loop, name="memif0", **common)
        slave = Endpoint("slave", socket, loop=loop, name="memif1", **common)
        try:
            slave.wait_connected(args.timeout)
            master.wait_connected(args.timeout)
        except TimeoutError as exc:
            _say(f"memif-harness loopback: {exc}", err=True)
            return 1
        _say(f"connected: {socket}, {args.queues} queue(s), {args.mode} mode")
        for name, tx, rx in (
            ("slave -> master", slave, master),
            ("master -> slave", master, slave),
        ):
            for qid in range(args.queues):
                stream_id = len(rows) + 1
                try:
                    stream = udp(stream_id, args.count, args.size, l2=l2)
                    stream.frames()
                except ValueError as exc:
                    _say(f"memif-harness loopback: {exc}", err=True)
                    return 2
                verdict = send_and_expect(
                    tx, rx, stream, queue=qid, rx_queue=qid, timeout=args.timeout, check=False
                )
                if not verdict.ok:
                    failures.append(f"{name} queue {qid}: {verdict.report()}")
                rows.append(_verdict_row(f"{name} q{qid}", verdict))
    print_table("loopback", _VERDICT_COLUMNS, rows)
    for failure in failures:
        _say(failure)
    _say("loopback: OK" if not failures else f"loopback: {len(failures)} direction(s) failed")
    return 0 if not failures else 1


_VERDICT_COLUMNS = (
    "direction",
    "sent",
    "received",
    "delivered",
    "lost",
    "corrupted",
    "truncated",
    "dup",
    "reordered",
    "pps",
)


def _verdict_row(name: str, verdict: Verdict) -> list[object]:
    pps = f"{verdict.received / verdict.elapsed:,.0f}" if verdict.elapsed > 0 else "-"
    return [
        name,
        verdict.sent,
        verdict.received,
        verdict.delivered,
        verdict.lost,
        verdict.corrupted,
        verdict.truncated,
        verdict.duplicated,
        verdict.reordered,
        pps,
    ]


# -- gen -------------------------------------------------------------------------------------


def cmd_gen(args: argparse.Namespace) -> int:
    """Send a stream to an echoing peer; 1 on any loss, corruption or surprise."""
    if args.stream not in STREAM_KINDS:
        _say(f"memif-harness gen: --stream must be one of {', '.join(STREAM_KINDS)}", err=True)
        return 2
    l2 = args.mode == "ethernet"
    kw: dict[str, Any] = {"src_mac": args.src_mac}
    if args.vlan:
        kw["vlan"] = args.vlan
    if args.stream == "arp":
        if not l2:
            _say("memif-harness gen: ARP needs ethernet mode", err=True)
            return 2
        kw.update(src_ip=args.src_ip or "192.168.1.2", target_ip=args.dst_ip or "192.168.1.1")
    else:
        kw.update(l2=l2, dst_mac=args.dst_mac, src_ip=args.src_ip, dst_ip=args.dst_ip)
    expect_name = args.expect
    if expect_name == "auto":
        expect_name = "icmp-echo" if args.stream.startswith("icmp") else "identity"
    try:
        expect = resolve_expect(expect_name)
        stream = make_stream(args.stream, 1, args.count, args.size, **kw)
        frames = stream.frames()
    except ValueError as exc:
        _say(f"memif-harness gen: {exc}", err=True)
        return 2
    try:
        endpoint = _endpoint(args, args.queues)
    except MemifError as exc:
        _say(f"memif-harness gen: cannot create the interface: {exc}", err=True)
        return 1
    with endpoint:
        if not _connect(endpoint, args, "gen"):
            return 1
        queues = len(endpoint.interface.tx_queues)
        verdict = send_and_expect(
            endpoint,
            endpoint,
            frames,
            expect,
            queue=lambda i, _f: i % queues,
            timeout=args.timeout,
            burst=args.burst,
            rate=args.rate,
            ordered=not args.unordered and queues == 1,
            check=False,
            pcap_dir=args.pcap_dir,
            window=args.window or (1 << args.log2_ring_size) // 2 * queues,
        )
    print_table(
        f"gen: {args.stream} x {args.count}, expect {expect_name}",
        _VERDICT_COLUMNS,
        [_verdict_row(f"{args.role} {args.socket}", verdict)],
    )
    if verdict.ok:
        _say(f"gen: OK: {verdict.summary()}")
        return 0
    _say(f"gen: FAILED: {verdict.report()}")
    return 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        raise SystemExit(main())

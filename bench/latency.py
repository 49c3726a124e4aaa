"""Echo round trip of ``memif-harness ping`` against real responders: median and p99.

Our ping (the command line, as users run it; interrupt mode, one request in flight) against:

* DPDK testpmd ``icmpecho`` (master; our ping is the slave);
* our own ``memif-harness responder`` in a subprocess (slave; our ping is the master);
* libmemif's ``icmp_responder`` (master), when ``--libmemif-app PATH`` is given. Its
  replies carry a wrong ICMP checksum (fixtures/peers/libmemif.py), which ping rejects, so
  its row has no round trip: it shows that the exchange ran, not how fast.

The round trip ends when the reply is received, before ping parses it.

With ``--vpp-bin PATH`` (a local VPP build), VPP's own ``ping`` (C) is the client of two more
rows: against testpmd ``icmpecho``, the C pair the issue asks for, and against our responder.
VPP resolves its target by ARP first: one unreported request warms that up. testpmd has no
ICMP client and libmemif's examples have none, so without VPP there is no C pair.

The responder gets CPU 0, the ping (ours or VPP's) CPU 1. A benchmark, not a test: nothing
asserts a number. Run::

    python -m bench.latency [--count 500] [--interval 0.002] [--libmemif-app PATH]
                            [--vpp-bin PATH] [--json F]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench import two_cpus
from bench.soak import ResponderPeer
from memif_harness import cli
from memif_harness.memif.protocol.constants import Role
from memif_harness_fixtures.peers.app import AppInterface
from memif_harness_fixtures.peers.base import InterfaceSpec, Peer, PeerInterface, PeerUnavailable
from memif_harness_fixtures.peers.libmemif import LibmemifPeer
from memif_harness_fixtures.peers.testpmd import TestpmdInterface, TestpmdPeer
from memif_harness_fixtures.peers.vpp import VppInterface, VppPeer

_RTT = re.compile(r"time=([0-9.]+) ms")
IP = "192.168.1.1"
VPP_IP = "192.168.1.2/24"


def ping(role: str, socket: str, count: int, interval: float) -> list[float]:
    """Round trips (ms) of ``memif-harness ping`` to :data:`IP` as ``role`` on ``socket``."""
    out = io.StringIO()
    argv = ["ping", "--role", role, "--socket", socket, "--target", IP]
    argv += ["--count", str(count), "--interval", str(interval), "--connect-timeout", "10"]
    with contextlib.redirect_stdout(out):
        cli.main(argv)
    return [float(m) for m in _RTT.findall(out.getvalue())]


@contextlib.contextmanager
def _peer_master(peer: Peer, socket: str) -> Iterator[PeerInterface]:
    iface = peer.create_interface(InterfaceSpec(role=Role.MASTER, socket=socket, ip=IP))
    try:
        yield iface
    finally:
        iface.delete()


@contextlib.contextmanager
def _testpmd_icmpecho(socket: str, cpu: int) -> Iterator[None]:
    """testpmd on ``cpu``, master on ``socket``, answering ARP and echo requests."""
    with (
        TestpmdPeer(autostart=False, lcores=f"0@{cpu},1@{cpu}") as peer,
        _peer_master(peer, socket) as iface,
    ):
        assert isinstance(iface, TestpmdInterface)
        iface.set_forward_mode("icmpecho")
        iface.start_forwarding()
        yield


@contextlib.contextmanager
def _responder(socket: str, cpu: int) -> Iterator[None]:
    """Our ``responder`` on ``cpu``, slave on ``socket``."""
    responder = ResponderPeer(socket)
    responder.start()
    assert responder.proc is not None
    os.sched_setaffinity(responder.proc.pid, {cpu})
    try:
        yield
    finally:
        responder.stop(kill=False)


def against_testpmd(workdir: Path, count: int, interval: float, cpu: int) -> list[float]:
    sock = str(workdir / "testpmd.sock")
    with _testpmd_icmpecho(sock, cpu):
        return ping("slave", sock, count, interval)


def against_responder(workdir: Path, count: int, interval: float, cpu: int) -> list[float]:
    sock = str(workdir / "responder.sock")
    with _responder(sock, cpu):
        return ping("master", sock, count, interval)


def against_libmemif(app: str, workdir: Path, count: int, interval: float, cpu: int) -> list[float]:
    peer = LibmemifPeer(app)
    peer.start()
    try:
        sock = str(workdir / "libmemif.sock")
        with _peer_master(peer, sock) as iface:
            assert isinstance(iface, AppInterface)
            os.sched_setaffinity(iface.process.pid, {cpu})
            return ping("slave", sock, count, interval)
    finally:
        peer.stop()


@contextlib.contextmanager
def _vpp(vpp_bin: str, cpu: int) -> Iterator[VppPeer]:
    peer = VppPeer.from_options(vpp_bin=vpp_bin)
    peer.start()
    try:
        pid = peer.launcher.pid()
        assert pid is not None
        os.sched_setaffinity(pid, {cpu})
        yield peer
    finally:
        peer.stop()


def vpp_ping(iface: VppInterface, count: int, interval: float) -> list[float]:
    """Round trips (ms) of VPP's ``ping`` to :data:`IP` out of ``iface``, after one request
    that VPP spends on ARP."""
    iface.wait_up(10)
    iface.ping(IP, count=1, interval=0.1)
    return [reply.time_ms for reply in iface.ping(IP, count=count, interval=interval).replies]


def vpp_against_testpmd(
    vpp_bin: str, workdir: Path, count: int, interval: float, cpu: int, *, client_cpu: int
) -> list[float]:
    """VPP's ping (slave) -> testpmd icmpecho (master): C to C."""
    sock = str(workdir / "vpp-testpmd.sock")
    with _testpmd_icmpecho(sock, cpu), _vpp(vpp_bin, client_cpu) as vpp:
        iface = vpp.create_interface(InterfaceSpec(role=Role.SLAVE, socket=sock, ip=VPP_IP))
        assert isinstance(iface, VppInterface)
        return vpp_ping(iface, count, interval)


def vpp_against_responder(
    vpp_bin: str, workdir: Path, count: int, interval: float, cpu: int, *, client_cpu: int
) -> list[float]:
    """VPP's ping (master) -> our responder (slave)."""
    sock = str(workdir / "vpp-responder.sock")
    with _vpp(vpp_bin, client_cpu) as vpp:
        iface = vpp.create_interface(InterfaceSpec(role=Role.MASTER, socket=sock, ip=VPP_IP))
        assert isinstance(iface, VppInterface)
        with _responder(sock, cpu):
            return vpp_ping(iface, count, interval)


def summary(rtts: list[float], sent: int) -> dict[str, float | int]:
    """Replies, median and p99 (ms; the 99th of 100 quantiles)."""
    if len(rtts) < 2:
        return {"replies": len(rtts), "sent": sent}
    return {
        "replies": len(rtts),
        "sent": sent,
        "median_ms": statistics.median(rtts),
        "p99_ms": statistics.quantiles(rtts, n=100)[98],
    }


def main(argv: list[str] | None = None) -> int:
    """Ping every responder available and print median and p99 round trips."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--interval", type=float, default=0.002)
    parser.add_argument("--libmemif-app", help="libmemif's icmp_responder example")
    parser.add_argument("--vpp-bin", help="a local VPP build: VPP's ping as a C client")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    cpus = two_cpus()
    if cpus is None:
        return 2
    os.sched_setaffinity(0, {cpus[1]})
    rows: dict[str, dict[str, float | int] | str] = {}
    run = (args.count, args.interval, cpus[0])
    with tempfile.TemporaryDirectory(prefix="mh-latency-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        try:
            rows["ours -> testpmd icmpecho"] = summary(against_testpmd(workdir, *run), args.count)
        except PeerUnavailable as exc:
            rows["ours -> testpmd icmpecho"] = f"not run: {exc}"
        rows["ours -> our responder"] = summary(against_responder(workdir, *run), args.count)
        if args.libmemif_app:
            rtts = against_libmemif(args.libmemif_app, workdir, *run)
            rows["ours -> libmemif icmp_responder"] = summary(rtts, args.count)
        else:
            rows["ours -> libmemif icmp_responder"] = "not run: give --libmemif-app PATH"
        if args.vpp_bin:
            rtts = vpp_against_testpmd(args.vpp_bin, workdir, *run, client_cpu=cpus[1])
            rows["VPP ping -> testpmd icmpecho (C pair)"] = summary(rtts, args.count)
            rtts = vpp_against_responder(args.vpp_bin, workdir, *run, client_cpu=cpus[1])
            rows["VPP ping -> our responder"] = summary(rtts, args.count)
        else:
            rows["VPP ping -> testpmd icmpecho (C pair)"] = "not run: give --vpp-bin PATH"
    os.sched_setaffinity(0, cpus)
    print(f"{'pair':<42} {'replies':>9} {'median':>10} {'p99':>10}")
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"{name:<42} {row}")
        elif "median_ms" in row:
            print(
                f"{name:<42} {row['replies']:>4}/{row['sent']:<4} "
                f"{row['median_ms']:>7.3f} ms {row['p99_ms']:>7.3f} ms"
            )
        else:
            print(f"{name:<42} {row['replies']:>4}/{row['sent']:<4} (too few good replies)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

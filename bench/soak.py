"""A soak: traffic for as long as asked, with the peer restarted (or killed) periodically.

Our master interface echoes ICMP with a peer that is restarted every ``--restart`` seconds,
alternating a clean stop (the peer sends DISCONNECT) and ``kill -9`` (the socket just
closes). The peer is our ``memif-harness responder`` as a subprocess (slave), or DPDK
testpmd (``--peer testpmd``, io forwarding, client). Every ``--report`` seconds one line
says the frames sent and echoed, the link errors, the connects, and the resources of this
process (fds, memfd mappings, RSS), which should stay flat over hours. Not run in CI::

    python -m bench.soak [--minutes 5] [--restart 20] [--peer responder|testpmd] [--json F]

Exit status 1 if the resources grew (fds or mappings above the first reading) or the link
never came back after a restart.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from memif_harness.memif.protocol.constants import Role
from memif_harness.memif.protocol.errors import MemifError
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness.traffic import icmp
from memif_harness_fixtures.peers.base import InterfaceSpec
from memif_harness_fixtures.peers.testpmd import TestpmdInterface, TestpmdPeer


def resources() -> dict[str, int]:
    """fds, memfd mappings and resident memory (KiB) of this process."""
    gc.collect()
    maps = Path("/proc/self/maps").read_text().splitlines()
    rss = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "memfd_maps": sum("/memfd:" in line for line in maps),
        "rss_kib": rss,
    }


class ResponderPeer:
    """``memif-harness responder --role slave`` as a subprocess."""

    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memif_harness.cli", "responder", "--role", "slave",
             "--socket", self.socket],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self, kill: bool) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(10)
            self.proc = None


class TestpmdSoakPeer:
    """testpmd, io forwarding, as the client of our master."""

    def __init__(self, socket: str) -> None:
        self.peer = TestpmdPeer()
        self.peer.start()
        self.spec = InterfaceSpec(role=Role.SLAVE, socket=socket)
        self.iface: TestpmdInterface | None = None

    def start(self) -> None:
        self.iface = self.peer.create_interface(self.spec)

    def stop(self, kill: bool) -> None:
        if self.iface is not None:
            if kill:
                self.iface.process.kill()
                self.iface.process.wait(10)
            self.iface.delete()
            self.iface = None

    def close(self) -> None:
        self.stop(kill=False)
        self.peer.stop()


def soak(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, object]:
    """Run the soak; returns the summary."""
    folder = tempfile.mkdtemp(prefix="mh-soak-")
    socket = os.path.join(folder, "soak.sock")
    frames = icmp(1, 32, 98, dst_ip="192.168.1.1").frames()
    totals = {"sent": 0, "echoed": 0, "link_errors": 0, "restarts": 0, "reconnect_failures": 0}
    peer: ResponderPeer | TestpmdSoakPeer = (
        TestpmdSoakPeer(socket) if args.peer == "testpmd" else ResponderPeer(socket)
    )
    first: dict[str, int] | None = None
    readings: list[dict[str, int]] = []
    with EventLoop(reconnect_period=0.2) as loop:
        master = Endpoint("master", socket, loop=loop)
        peer.start()
        start = time.monotonic()
        end = start + args.minutes * 60
        next_restart, next_report = start + args.restart, start + args.report
        kill = False
        while (now := time.monotonic()) < end:
            if now >= next_restart:
                peer.stop(kill)
                kill = not kill
                peer.start()
                totals["restarts"] += 1
                next_restart = now + args.restart
                try:
                    master.wait_connected(30)
                except TimeoutError:
                    totals["reconnect_failures"] += 1
            if now >= next_report:
                reading = resources()
                first = first or reading
                details = master.details().counters
                line = {"t": round(now - start), **totals, "connects": details.connects,
                        **reading}  # fmt: skip
                readings.append(line)
                say(" ".join(f"{k}={v}" for k, v in line.items()))
                next_report = now + args.report
            if not master.connected:
                time.sleep(0.01)
                continue
            try:
                master.send(frames, timeout=0.2)
                totals["sent"] += len(frames)
                totals["echoed"] += len(master.recv(len(frames), timeout=0.2))
            except MemifError:
                totals["link_errors"] += 1
        peer.stop(kill=False)
        if isinstance(peer, TestpmdSoakPeer):
            peer.close()
        master.close()
    last = resources()
    grew = first is not None and (
        last["fds"] > first["fds"] or last["memfd_maps"] > first["memfd_maps"]
    )
    return {**totals, "first": first, "last": last, "grew": grew, "readings": readings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--restart", type=float, default=20.0, help="seconds between restarts")
    parser.add_argument("--report", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--peer", choices=["responder", "testpmd"], default="responder")
    parser.add_argument("--json", default=None, help="write the summary here")
    args = parser.parse_args(argv)
    summary = soak(args, lambda line: print(line, flush=True))
    print(
        f"soak: {summary['sent']} sent, {summary['echoed']} echoed, "
        f"{summary['restarts']} restarts, {summary['link_errors']} link errors, "
        f"{summary['reconnect_failures']} reconnect failures; "
        f"resources first {summary['first']} last {summary['last']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 1 if summary["grew"] or summary["reconnect_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

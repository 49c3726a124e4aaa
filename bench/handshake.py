"""Handshake times: our slave connecting to testpmd, and 100 interfaces on one socket.

* connect-to-link-up against testpmd: a testpmd server (master) listens; each round our
  slave ``Endpoint`` is created (it connects at once) and we time until its link is up, then
  close it. Median and p99 over ``--rounds``.
* 100 interfaces on one socket: our master listens with ``--interfaces`` interfaces (ids
  0..N-1) on one socket in one event loop; as many slaves in another loop connect at once,
  and we time until every link is up, then check that each carries a frame each way. Both
  ends are ours (testpmd runs one process per interface here, so 100 of it would measure
  process start-up, not the handshake).

The first interface of a process also imports Numba and loads the compiled bulk paths
(:func:`memif_harness.memif.datapath.kernel.warm`), once, before it connects; that one-time
cost is timed and printed on its own, not counted in the first round.

A benchmark, not a test: nothing asserts a number. Run::

    python -m bench.handshake [--rounds 20] [--interfaces 100] [--json F]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from memif_harness.memif.datapath import kernel
from memif_harness.memif.protocol.constants import Role
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness_fixtures.peers.base import InterfaceSpec, PeerUnavailable
from memif_harness_fixtures.peers.testpmd import TestpmdPeer


def against_testpmd(workdir: Path, rounds: int) -> list[float]:
    """Seconds from creating our slave to link up, per round, with testpmd as master."""
    sock = str(workdir / "testpmd.sock")
    times = []
    with TestpmdPeer(autostart=False) as peer:
        server = peer.create_interface(InterfaceSpec(role=Role.MASTER, socket=sock))
        try:
            for _ in range(rounds):
                start = time.monotonic()
                with Endpoint("slave", sock) as ours:
                    ours.wait_connected(10)
                    times.append(time.monotonic() - start)
                deadline = time.monotonic() + 10  # the next round needs testpmd listening
                while server.is_up() and time.monotonic() < deadline:
                    time.sleep(0.01)
        finally:
            server.delete()
    return times


def many_on_one_socket(workdir: Path, count: int) -> float:
    """Seconds until ``count`` slaves are all up on one master socket; each then carries one
    frame each way (an AssertionError if one does not)."""
    sock = str(workdir / "many.sock")
    with EventLoop() as master_loop, EventLoop() as slave_loop:
        masters = [Endpoint("master", sock, id=i, loop=master_loop) for i in range(count)]
        start = time.monotonic()
        slaves = [Endpoint("slave", sock, id=i, loop=slave_loop) for i in range(count)]
        for endpoint in slaves + masters:
            endpoint.wait_connected(max(10.0, count * 0.2))
        elapsed = time.monotonic() - start
        for i, (master, slave) in enumerate(zip(masters, slaves, strict=True)):
            frame = bytes([i]) * 64
            slave.send([frame])
            master.send([frame[::-1]])
            if master.recv(1) != [frame] or slave.recv(1) != [frame[::-1]]:
                raise AssertionError(f"interface id {i} did not carry its frames")
        for endpoint in slaves + masters:
            endpoint.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Time both and print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interfaces", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures: dict[str, float | str] = {}
    start = time.monotonic()
    kernel.warm(1)
    figures["kernel_warm_ms"] = (time.monotonic() - start) * 1000
    with tempfile.TemporaryDirectory(prefix="mh-handshake-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        try:
            times = [t * 1000 for t in against_testpmd(workdir, args.rounds)]
        except PeerUnavailable as exc:
            figures["testpmd"] = f"not run: {exc}"
        else:
            figures["testpmd_connect_median_ms"] = statistics.median(times)
            figures["testpmd_connect_p99_ms"] = statistics.quantiles(times, n=100)[98]
        figures["interfaces"] = args.interfaces
        figures["all_up_s"] = many_on_one_socket(workdir, args.interfaces)
    print(
        f"once per process, before the first link: {kernel.describe()} bulk paths loaded in "
        f"{figures['kernel_warm_ms']:.0f} ms"
    )
    if "testpmd" in figures:
        print(f"our slave -> testpmd master: {figures['testpmd']}")
    else:
        print(
            f"our slave -> testpmd master, connect to link up over {args.rounds} rounds: "
            f"median {figures['testpmd_connect_median_ms']:.1f} ms, "
            f"p99 {figures['testpmd_connect_p99_ms']:.1f} ms"
        )
    print(
        f"{args.interfaces} slaves -> {args.interfaces} masters on one socket (ours both "
        f"ends): all up in {figures['all_up_s']:.2f} s, each carried a frame each way"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

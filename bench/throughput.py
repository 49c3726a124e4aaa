"""Throughput of our memif implementation against DPDK testpmd, as ratios.

Every figure is measured in the same run as its reference, testpmd talking to testpmd over
memif, so the ratio says how far we are from a C implementation on this machine now:

* reference: testpmd client ``txonly`` -> testpmd server ``rxonly``;
* ours tx:   our slave sending bursts       -> testpmd server ``rxonly``;
* ours rx:   testpmd client ``txonly``       -> our master receiving, copying every payload
  byte out of shared memory (``Interface.recv_into``), as testpmd copies into its mbufs,
  and polling (MASK_INT set), as testpmd does: no eventfd write per burst.

Both of ours use the bulk paths (``Interface.send_packed`` / ``recv_into``: frames packed in
one numpy buffer, no Python object per frame; compiled where Numba is installed, the line
``bulk paths:`` says) with bursts of a whole ring or of 384 KB, whichever is smaller
(``memif_harness.apps.bulk.burst_frames``). Frames larger than a 2048-byte buffer (9000
bytes) are chained: testpmd sends them as segments of 2000 bytes.

Each sender and receiver gets a core of its own, and every sender the same one: the
receiver (testpmd ``rxonly``, or this process) runs on CPU 0, the sender (testpmd
``txonly``, or this process) on CPU 1, so a load on one CPU from elsewhere weighs on the
reference and on ours alike.

Rates are packets per second counted by the receiver, once every pair has run for
``SETTLE`` seconds (0.5). Last, the CPU time our bulk paths take
per frame (between two of our interfaces, in thread CPU time), which a busy machine does
not distort: it says what rate one core would sustain. This is a benchmark, not a test:
the machine is small and noisy, nothing here asserts a number. Run::

    python -m bench.throughput [--seconds 3] [--sizes 64,1500,9000] [--runs 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench import two_cpus
from memif_harness.apps.bulk import burst_frames
from memif_harness.memif.datapath import kernel
from memif_harness.memif.datapath.queue import RxQueue, TxQueue
from memif_harness.memif.protocol.constants import Role, RxMode
from memif_harness.memif.protocol.errors import RemoteProtocolError
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness_fixtures.peers.base import InterfaceSpec, PeerUnavailable
from memif_harness_fixtures.peers.testpmd import TestpmdInterface, TestpmdPeer

SEGMENT = 2000  # testpmd's txonly segments must fit its mbufs' data room (2176 bytes)
#: Seconds every pair runs before it is counted (the reference's and ours alike).
SETTLE = 0.5


def _rx_packets(iface: TestpmdInterface) -> int:
    return iface.port_stats()["RX-packets"]


def _testpmd_rate(iface: TestpmdInterface, seconds: float) -> float:
    """Receive rate counted by testpmd ``iface`` over ``seconds`` (already flowing)."""
    before, start = _rx_packets(iface), time.monotonic()
    time.sleep(seconds)
    return (_rx_packets(iface) - before) / (time.monotonic() - start)


@contextmanager
def _server(peer: TestpmdPeer, sock: str, mode: str) -> Iterator[TestpmdInterface]:
    iface = peer.create_interface(InterfaceSpec(role=Role.MASTER, socket=sock))
    try:
        iface.set_forward_mode(mode)
        iface.start_forwarding()
        yield iface
    finally:
        iface.delete()


def _txonly_client(peer: TestpmdPeer, sock: str, size: int) -> TestpmdInterface:
    iface = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket=sock))
    iface.wait_up(10)
    iface.set_tx_segments(*[SEGMENT] * (size // SEGMENT), *[size % SEGMENT] * (size % SEGMENT > 0))
    iface.set_forward_mode("txonly")
    iface.start_forwarding()
    return iface


def reference(
    peer: TestpmdPeer, other: TestpmdPeer, workdir: Path, size: int, seconds: float
) -> float:
    """testpmd -> testpmd."""
    sock = str(workdir / f"ref-{size}-{time.monotonic_ns()}.sock")
    with _server(peer, sock, "rxonly") as server:
        client = _txonly_client(other, sock, size)
        try:
            time.sleep(SETTLE)
            return _testpmd_rate(server, seconds)
        finally:
            client.delete()


def ours_tx(peer: TestpmdPeer, workdir: Path, size: int, seconds: float) -> float:
    """Our slave -> testpmd rxonly, a burst (``burst_frames``) per call; testpmd counts."""
    sock = str(workdir / f"tx-{size}-{time.monotonic_ns()}.sock")
    with _server(peer, sock, "rxonly") as server, Endpoint("slave", sock) as ours:
        ours.wait_connected(10)
        burst = burst_frames(size, ours.config.log2_ring_size)
        data = np.resize(np.arange(256, dtype=np.uint8), burst * size)
        lengths = np.full(burst, size, dtype=np.int64)
        send: Callable[[int, np.ndarray, np.ndarray], int] = ours.interface.send_packed

        def send_for(seconds: float) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                send(0, data, lengths)

        send_for(SETTLE)
        before, start = _rx_packets(server), time.monotonic()
        send_for(seconds)
        elapsed = time.monotonic() - start
        time.sleep(0.2)
        return (_rx_packets(server) - before) / elapsed


def ours_rx(peer: TestpmdPeer, workdir: Path, size: int, seconds: float) -> float:
    """testpmd txonly -> our master copying every byte out; we count."""
    sock = str(workdir / f"rx-{size}-{time.monotonic_ns()}.sock")
    with Endpoint("master", sock, rx_mode=RxMode.POLLING) as ours:  # testpmd polls too
        client = _txonly_client(peer, sock, size)
        try:
            ours.wait_connected(10)
            burst = burst_frames(size, ours.config.log2_ring_size)
            buf = np.empty(burst * size, dtype=np.uint8)
            lengths = np.empty(burst, dtype=np.int64)
            recv: Callable[[int, np.ndarray, np.ndarray], int] = ours.interface.recv_into

            def receive(seconds: float) -> int:
                received, deadline = 0, time.monotonic() + seconds
                while time.monotonic() < deadline:
                    got = recv(0, buf, lengths)
                    if got and lengths[got - 1] != size:
                        raise AssertionError(f"received a {lengths[got - 1]}-byte frame")
                    received += got
                return received

            try:
                receive(SETTLE)
                start = time.monotonic()
                return receive(seconds) / (time.monotonic() - start)
            except RemoteProtocolError as exc:
                print(f"testpmd -> ours, {size} bytes: we rejected testpmd's ring: {exc}")
                return math.nan
        finally:
            client.delete()


def cpu_per_frame(
    workdir: Path, size: int, bursts: int = 300, *, compiled: bool = True
) -> tuple[float, float]:
    """CPU microseconds per frame of our bulk send and receive, ring-sized bursts between
    two of our interfaces in this process, counted in thread CPU time: what the bulk paths
    cost when they get a CPU, whatever else runs on the machine. ``compiled`` False: the
    numpy path, even where the kernel is installed."""
    sock = str(workdir / f"cpu-{size}-{time.monotonic_ns()}.sock")
    with (
        EventLoop() as loop,
        Endpoint("master", sock, loop=loop) as master,
        Endpoint("slave", sock, loop=loop) as slave,
    ):
        slave.wait_connected(10)
        if not compiled:
            for queue in (*slave.interface.tx_queues, *master.interface.rx_queues):
                assert isinstance(queue, TxQueue | RxQueue)
                queue.kernels = None
        burst = burst_frames(size, slave.config.log2_ring_size)
        data = np.resize(np.arange(256, dtype=np.uint8), burst * size)
        lengths = np.full(burst, size, dtype=np.int64)
        buf = np.empty(burst * size, dtype=np.uint8)
        got = np.empty(burst, dtype=np.int64)
        frames = tx_cpu = rx_cpu = 0.0
        for _ in range(bursts):
            start = time.thread_time()
            frames += slave.interface.send_packed(0, data, lengths)
            middle = time.thread_time()
            master.interface.recv_into(0, buf, got)
            tx_cpu += middle - start
            rx_cpu += time.thread_time() - middle
    return tx_cpu / frames * 1e6, rx_cpu / frames * 1e6


def main(argv: list[str] | None = None) -> int:
    """Run every scenario for every size and print rates with their ratio to testpmd."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--sizes", default="64,1500,9000")
    parser.add_argument("--runs", type=int, default=1, help="repeat; print median ratios")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    cpus = two_cpus()
    if cpus is None:
        return 2
    peer = TestpmdPeer(autostart=False, lcores=f"0@{cpus[0]},1@{cpus[0]}")
    other = TestpmdPeer(autostart=False, lcores=f"0@{cpus[1]},1@{cpus[1]}")
    try:
        peer.start()
        other.start()
    except PeerUnavailable as exc:
        print(f"cannot benchmark: {exc}")
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="mh-bench-", dir="/tmp") as tmp:
        workdir = Path(tmp)
        try:
            for run in range(1, args.runs + 1):
                for size in (int(s) for s in args.sizes.split(",")):
                    ref = reference(peer, other, workdir, size, args.seconds)
                    os.sched_setaffinity(0, {cpus[1]})  # we send from the sender's CPU
                    tx = ours_tx(peer, workdir, size, args.seconds)
                    os.sched_setaffinity(0, {cpus[0]})  # we receive on the receiver's CPU
                    rx = ours_rx(other, workdir, size, args.seconds)
                    os.sched_setaffinity(0, cpus)
                    results.append(
                        {"run": run, "size": size, "testpmd_pps": ref,
                         "ours_tx_pps": tx, "ours_rx_pps": rx}
                    )  # fmt: skip
        finally:
            peer.stop()
            other.stop()
            os.sched_setaffinity(0, cpus)
    print(f"bulk paths: {kernel.describe()}")
    header = f"{'testpmd->testpmd':>18} {'ours->testpmd':>22} {'testpmd->ours':>22}"
    print(f"{'run':>3} {'size':>6} {header}")
    for r in results:
        ref = r["testpmd_pps"]
        print(
            f"{r['run']:>3} {r['size']:>6} {ref:>14,.0f} pps {r['ours_tx_pps']:>12,.0f} pps "
            f"({r['ours_tx_pps'] / ref:5.2f}x) {r['ours_rx_pps']:>12,.0f} pps "
            f"({r['ours_rx_pps'] / ref:5.2f}x)"
        )
    if args.runs > 1:
        print(f"median ratio over {args.runs} runs:")
        for frames in sorted({int(r["size"]) for r in results}):
            rows = [r for r in results if r["size"] == frames]
            tx_ratio = statistics.median(r["ours_tx_pps"] / r["testpmd_pps"] for r in rows)
            rx_ratio = statistics.median(r["ours_rx_pps"] / r["testpmd_pps"] for r in rows)
            print(f"{'':>3} {frames:>6} {'':>18} {tx_ratio:>21.2f}x {rx_ratio:>21.2f}x")
    print("CPU per frame of our bulk paths (in-process, thread time):")
    paths = {kernel.describe(): True, "numpy": False}  # one entry without the kernel
    for frames in sorted({int(r["size"]) for r in results}):
        for name, compiled in paths.items():
            with tempfile.TemporaryDirectory(prefix="mh-bench-", dir="/tmp") as tmp:
                tx_us, rx_us = cpu_per_frame(Path(tmp), frames, compiled=compiled)
            print(
                f"{'':>3} {frames:>6} {name:>12}: send {tx_us:.3f} us "
                f"({1 / tx_us:.1f} Mpps a core), receive {rx_us:.3f} us "
                f"({1 / rx_us:.1f} Mpps a core)"
            )
            key = "" if compiled else "numpy_"
            for r in results:
                if r["size"] == frames:
                    r.update({f"{key}send_cpu_us": tx_us, f"{key}recv_cpu_us": rx_us})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

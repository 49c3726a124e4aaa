"""``memif-harness loopback``: two interfaces of our own, connected, verified traffic both ways."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..memif.protocol.constants import DEFAULT_BUFFER_SIZE, DEFAULT_LOG2_RING_SIZE
from ..memif.runtime.endpoint import Endpoint, EventLoop
from ..traffic.exchange import send_and_expect
from ..traffic.streams import udp
from .output import VERDICT_COLUMNS, print_table, say, verdict_row


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoopbackConfig:
    """The pair's socket (empty: a private abstract one), shape and traffic per queue."""

    socket: str = ""
    count: int = 1000
    size: int = 64
    queues: int = 1
    mode: str = "ethernet"
    log2_ring_size: int = DEFAULT_LOG2_RING_SIZE
    buffer_size: int = DEFAULT_BUFFER_SIZE
    timeout: float = 5.0


def run(config: LoopbackConfig) -> int:
    """Connect two interfaces of ours and verify traffic both ways on every queue."""
    socket = config.socket or f"@memif-harness-loopback-{os.getpid()}"
    common: dict[str, Any] = {
        "mode": config.mode,
        "tx_queues": config.queues,
        "rx_queues": config.queues,
        "log2_ring_size": config.log2_ring_size,
        "buffer_size": config.buffer_size,
    }
    l2 = config.mode == "ethernet"
    rows: list[list[object]] = []
    failures: list[str] = []
    with EventLoop(app_name="loopback") as loop:
        master = Endpoint("master", socket, loop=loop, name="memif0", **common)
        slave = Endpoint("slave", socket, loop=loop, name="memif1", **common)
        try:
            slave.wait_connected(config.timeout)
            master.wait_connected(config.timeout)
        except TimeoutError as exc:
            say(f"memif-harness loopback: {exc}", err=True)
            return 1
        say(f"connected: {socket}, {config.queues} queue(s), {config.mode} mode")
        for name, tx, rx in (
            ("slave -> master", slave, master),
            ("master -> slave", master, slave),
        ):
            for qid in range(config.queues):
                stream_id = len(rows) + 1
                try:
                    stream = udp(stream_id, config.count, config.size, l2=l2)
                    stream.frames()
                except ValueError as exc:
                    say(f"memif-harness loopback: {exc}", err=True)
                    return 2
                verdict = send_and_expect(
                    tx, rx, stream, queue=qid, rx_queue=qid, timeout=config.timeout, check=False
                )
                if not verdict.ok:
                    failures.append(f"{name} queue {qid}: {verdict.report()}")
                rows.append(verdict_row(f"{name} q{qid}", verdict))
    print_table("loopback", VERDICT_COLUMNS, rows)
    for failure in failures:
        say(failure)
    say("loopback: OK" if not failures else f"loopback: {len(failures)} direction(s) failed")
    return 0 if not failures else 1

"""``memif-harness gen``: a tagged scapy stream at a rate to an echoing peer, classified."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ..memif.protocol.errors import MemifError
from ..memif.runtime.endpoint import Endpoint
from ..traffic.exchange import send_and_expect
from ..traffic.expect import resolve_expect
from ..traffic.streams import STREAM_KINDS, make_stream
from . import bulk
from .link import LinkConfig
from .output import VERDICT_COLUMNS, print_table, say, verdict_row
from .responder import DEFAULT_MAC


@dataclasses.dataclass(frozen=True, kw_only=True)
class GenConfig:
    """The stream (kind, count, size, addresses, VLAN tags), its pacing and what to expect back.

    ``expect`` ``"auto"`` is icmp-echo for icmp streams and identity otherwise; ``window`` None
    keeps half the rings in flight; ``deadline`` bounds the whole exchange (seconds from
    link up; None: no bound); ``warmup`` (seconds, 0: none) first sends probes of the same
    kind until one comes back, for a peer that drops what arrives before it forwards (testpmd
    flushes its receive queues on ``start``).
    ``bulk`` loads the peer with the stream's first frame for ``duration`` seconds instead
    (see :mod:`memif_harness.apps.bulk`); ``rate`` paces it, ``count`` and the rest of the
    stream's pacing do not apply.
    """

    stream: str = "udp"
    count: int = 1000
    size: int | None = None
    rate: float | None = None
    burst: int = 32
    window: int | None = None
    vlan: tuple[int, ...] = ()
    expect: str = "auto"
    src_mac: str = "02:fe:00:00:00:02"
    dst_mac: str = DEFAULT_MAC
    src_ip: str | None = None
    dst_ip: str | None = None
    unordered: bool = False
    timeout: float = 2.0
    pcap_dir: str | None = None
    deadline: float | None = None
    warmup: float = 0.0
    bulk: bool = False
    duration: float = 10.0


def _warm_up(endpoint: Endpoint, probe: list[bytes], seconds: float) -> None:
    """Send ``probe`` until something comes back or ``seconds`` pass, then drain every queue;
    say which."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        endpoint.interface.send(0, probe)  # no room yet (nothing posted): try again later
        if endpoint.recv(8, timeout=0.1):
            say(f"gen: warm-up: the peer echoes after {time.monotonic() - start:.1f} s")
            for qid in range(len(endpoint.interface.rx_queues)):
                endpoint.drain(qid, quiet=0.2)
            return
    say(f"gen: warm-up: nothing came back in {seconds:g} s; sending the stream anyway")


def run(link: LinkConfig, config: GenConfig) -> int:
    """Send a stream to an echoing peer; 1 on any loss, corruption or surprise."""
    if config.stream not in STREAM_KINDS:
        say(f"memif-harness gen: --stream must be one of {', '.join(STREAM_KINDS)}", err=True)
        return 2
    l2 = link.mode == "ethernet"
    kw: dict[str, Any] = {"src_mac": config.src_mac}
    if config.vlan:
        kw["vlan"] = config.vlan
    if config.stream == "arp":
        if not l2:
            say("memif-harness gen: ARP needs ethernet mode", err=True)
            return 2
        kw.update(src_ip=config.src_ip or "192.168.1.2", target_ip=config.dst_ip or "192.168.1.1")
    else:
        kw.update(l2=l2, dst_mac=config.dst_mac, src_ip=config.src_ip, dst_ip=config.dst_ip)
    if config.bulk:
        try:
            frame = make_stream(config.stream, 1, 1, config.size, **kw).frames()[0]
        except ValueError as exc:
            say(f"memif-harness gen: {exc}", err=True)
            return 2
        return bulk.run(link, frame, config.duration, config.rate)
    expect_name = config.expect
    if expect_name == "auto":
        expect_name = "icmp-echo" if config.stream.startswith("icmp") else "identity"
    try:
        expect = resolve_expect(expect_name)
    except ValueError as exc:
        say(f"memif-harness gen: {exc}", err=True)
        return 2
    try:  # listen (or start connecting) first: a peer may start while the frames are built
        endpoint = link.endpoint()
    except MemifError as exc:
        say(f"memif-harness gen: cannot create the interface: {exc}", err=True)
        return 1
    with endpoint:
        try:
            frames = make_stream(config.stream, 1, config.count, config.size, **kw).frames()
            probe = make_stream(config.stream, 2, 1, config.size, **kw).frames()
        except ValueError as exc:
            say(f"memif-harness gen: {exc}", err=True)
            return 2
        if not link.connect(endpoint, "gen"):
            return 1
        if config.warmup:
            try:
                _warm_up(endpoint, probe, config.warmup)
            except MemifError as exc:
                return link.went_down(endpoint, "gen", exc)
        deadline = None if config.deadline is None else time.monotonic() + config.deadline
        queues = len(endpoint.interface.tx_queues)
        try:
            verdict = send_and_expect(
                endpoint,
                endpoint,
                frames,
                expect,
                queue=lambda i, _f: i % queues,
                timeout=config.timeout,
                burst=config.burst,
                rate=config.rate,
                ordered=not config.unordered and queues == 1,
                check=False,
                pcap_dir=config.pcap_dir,
                window=config.window or (1 << link.log2_ring_size) // 2 * queues,
                deadline=deadline,
                progress=lambda sent, got: say(
                    f"gen: progress: sent {sent} of {len(frames)}, received {got}"
                ),
            )
        except MemifError as exc:  # the link went down under us
            return link.went_down(endpoint, "gen", exc)
    print_table(
        f"gen: {config.stream} x {config.count}, expect {expect_name}",
        VERDICT_COLUMNS,
        [verdict_row(f"{link.role} {link.socket}", verdict)],
    )
    if deadline is not None and verdict.unsent and time.monotonic() >= deadline:
        say(f"gen: the deadline of {config.deadline:g} s passed with {verdict.unsent} unsent")
    if verdict.ok:
        say(f"gen: OK: {verdict.summary()}")
        return 0
    say(f"gen: FAILED: {verdict.report()}")
    return 1

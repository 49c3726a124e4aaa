"""Lifecycle against every available peer: L1 (a slave waits for its master), L2 (either side
restarts, the other reconnects) and L9 (reconnect cycles leave no stale state and leak no fds
or mappings in the peer's process, nor in ours).

What the peers do is recorded as observed: where it contradicts the catalogue's expectation
(testpmd 22.11's net_memif client never reconnects by itself; libmemif's icmp_responder example
serves one link and exits), the test is a strict xfail naming the deviation, so it fails the day
the peer changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from memif_harness import EventLoop
from memif_harness.memif.protocol.constants import Role
from memif_harness.traffic.frames import arp_request, format_mac, parse_arp_reply, parse_mac
from memif_harness_fixtures.links import Link, forward_or_skip, make_frame, our_endpoint, wait_for
from memif_harness_fixtures.peers.base import (
    InterfaceSpec,
    Peer,
    PeerError,
    PeerInterface,
    process_resources,
)
from memif_harness_fixtures.peers.vpp import VppPeer

LinkFactory = Callable[..., Link]

#: Why a peer slave never connects to a master that appears after it (L1), by peer.
NO_SLAVE_RETRY = {
    "testpmd": "testpmd 22.11's net_memif client connects only in `port start` (dev_start): a "
    "refused or lost connection is never retried",
}
#: Why the peer cannot go through several connections in one process (L2, L9), by peer.
ONE_CONNECTION = {
    "libmemif": "libmemif's icmp_responder example serves one link: it exits on its first "
    "disconnect",
}
#: Why a peer slave does not reconnect after its master went away (L2), by peer.
NO_SLAVE_RECONNECT = NO_SLAVE_RETRY | ONE_CONNECTION
#: Peers that only answer ARP and ICMP echo (no io forwarding), at this address.
ECHO_ONLY = frozenset({"libmemif"})
PEER_IP, OUR_IP, OUR_MAC = "192.168.1.1", "192.168.1.2", "02:fe:00:00:01:02"
#: Seconds a peer slave may take to notice a master that appeared (VPP retries every 3 s,
#: memif.c:642-715; ours every 0.5 s), with room for a loaded 2-CPU machine.
SLAVE_RETRY_TIMEOUT = 10.0
#: Seen here as server in 5 of 11 runs of 7 reconnects and 2 of 3 runs of 20 (never in 5 runs
#: with forwarding stopped around each reconnect), and as client when its master was killed.
TESTPMD_CRASH = (
    "known deviation of testpmd 22.11: net_memif sometimes dies of SIGSEGV (exit -11) when "
    "the connection ends while forwarding runs (a race with the forwarding lcore)")
#: Why the peer's process keeps a mapping per connection it had (L9), by peer-role.
MAPPING_LEAK = {
    "vpp-slave": "VPP 26.06 as slave leaks a mapping per connection: memif_connect maps region "
    "0 with clib_mem_vm_map_shared (memif.c:508), which maps a PROT_NONE header page before it "
    "and links it into clib_mem's map list, but memif_disconnect frees it with a plain munmap "
    "of the region (memif.c:182): the header page (a new ---p page in /proc/PID/maps per "
    "reconnect) and its list entry stay",
}
#: L9: reconnect cycles, and the cycle after which fd and mapping counts must stay flat.
CYCLES, WARM_UP = 7, 3
#: L9 while the peer master forwards: reconnects.
FORWARDING_CYCLES = 20


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    """One event loop for all of a test's endpoints, so an endpoint can be closed and made
    again (a master restart) without stopping the others."""
    with EventLoop() as shared:
        yield shared


def _xfail_if(request: pytest.FixtureRequest, reasons: dict[str, str], peer_name: str) -> None:
    """From here on, the test is a strict xfail for a peer ``reasons`` lists."""
    if peer_name in reasons:
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError,
                                              reason=reasons[peer_name]))


def _socket(directory: Path, name: str) -> str:
    return str(directory / f"{name}.sock")


def _open(link_factory: LinkFactory, peer_name: str, peer_role: Role,
          loop: EventLoop) -> Link:
    """A connected link on ``loop`` whose peer reflects (:func:`_reflect`)."""
    echo = {"ip": f"{PEER_IP}/24"} if peer_name in ECHO_ONLY else {}
    link = link_factory(peer_name, role=peer_role, ours={"loop": loop}, **echo)
    _reflect(link)
    return link


def _reflect(link: Link) -> None:
    """Make the peer send back what we send: io, or for :data:`ECHO_ONLY` peers ICMP echo."""
    forward_or_skip(link, "icmpecho" if link.peer_name in ECHO_ONLY else "io")


def _assert_traffic(link: Link, tag: int, count: int = 64) -> None:
    """``count`` frames of 60..1514 bytes out and back unchanged through the peer (an
    :data:`ECHO_ONLY` peer: ARP, then 8 echo requests each answered with its payload)."""
    if link.peer_name in ECHO_ONLY:
        _assert_echoes(link, tag, 8)
        return
    frames = [make_frame(tag << 16 | i, 60 + (i * 389) % 1455) for i in range(count)]
    back = link.exchange(frames, batch=32)
    assert back == frames, f"{link!r} after {tag}: {len(back)} of {count} frames came back intact"


def _assert_echoes(link: Link, tag: int, count: int) -> None:
    peer_ip = socket.inet_aton(PEER_IP)
    arp = arp_request(parse_mac(OUR_MAC), socket.inet_aton(OUR_IP), peer_ip)
    macs = [parse_arp_reply(frame, peer_ip) for frame in link.exchange([arp], timeout=3.0)]
    mac = next((format_mac(m) for m in macs if m is not None), None)
    assert mac is not None, f"{link!r} after {tag}: no ARP reply"
    payloads = [bytes([tag & 0xFF, i]) * 28 for i in range(count)]
    requests = [bytes(Ether(dst=mac, src=OUR_MAC) / IP(src=OUR_IP, dst=PEER_IP)
                      / ICMP(id=0x4C39, seq=i) / Raw(payload))
                for i, payload in enumerate(payloads)]
    replies = [Ether(frame) for frame in link.exchange(requests, batch=1, timeout=3.0)]
    got = [(r[ICMP].type, r[ICMP].seq, bytes(r[ICMP].payload)[:56])
           for r in replies if r.haslayer(ICMP)]
    assert got == [(0, i, p) for i, p in enumerate(payloads)], (
        f"{link!r} after {tag}: {len(got)} of {count} echo replies")


def _peer_pid(link: Link) -> int | None:
    """The process serving the peer's interface, when it runs on this host."""
    if isinstance(link.peer, VppPeer):
        return link.peer.pid()
    pid = getattr(link.peer_interface, "pid", None)
    return pid if isinstance(pid, int) else None


def _resources(pid: int) -> tuple[int, int]:
    """(open fds, mappings) of process ``pid``."""
    counts = process_resources(pid)
    assert counts is not None, f"process {pid} is gone"
    return counts


def _restart_testpmd_port(iface: Any) -> None:
    """testpmd's own reconnect: stop forwarding, ``port stop 0``, ``port start 0``, start."""
    iface.command("stop", check=False)
    iface.command("port stop 0")
    iface.command("port start 0")
    iface.start_forwarding()


def _recreate_peer_interface(link: Link) -> None:
    """Delete the peer's interface and create it again for the same spec (a new process for
    testpmd, python and libmemif; a new memif interface for VPP, cross-connected again)."""
    link.delete_peer_interface()
    link.peer_interface = link.peer.create_interface(link.spec)
    link.peer_deleted = False
    if link.return_leg is not None:
        link.peer.cross_connect(link.peer_interface,  # type: ignore[attr-defined]
                                link.return_leg.peer_interface)
    else:
        _reflect(link)


@contextlib.contextmanager
def _testpmd_may_crash(peer_name: str, what: str) -> Iterator[None]:
    """Turn testpmd's known SIGSEGV (:data:`TESTPMD_CRASH`) during ``what`` into an xfail."""
    try:
        yield
    except PeerError as exc:
        if peer_name == "testpmd" and "exited (-11)" in str(exc):
            pytest.xfail(f"{TESTPMD_CRASH}; here {what}")
        raise


def _create(request: pytest.FixtureRequest, peer: Peer, spec: InterfaceSpec) -> PeerInterface:
    """``peer.create_interface(spec)``, deleted again after the test whatever happens (a
    second delete, e.g. by :func:`_adopted`, does nothing)."""
    iface = peer.create_interface(spec)
    remove = getattr(peer, "remove_interface", None)
    request.addfinalizer(lambda: remove(iface) if remove is not None else iface.delete())
    return iface


@contextlib.contextmanager
def _adopted(link: Link) -> Iterator[Link]:
    """Tear ``link`` down at the end (links not made by ``link_factory``); on a failure, the
    peer's diagnostics are in the assertion's note."""
    try:
        yield link
    except AssertionError as exc:
        exc.add_note("\n".join(f"--- {t} ---\n{b}" for t, b in link.diagnostics().items()))
        raise
    finally:
        link.close()


# -- L1: a slave created before its master --------------------------------------------------


@pytest.mark.scenario("L1")
@pytest.mark.role("slave")
def test_l1_peer_slave_connects_when_our_master_appears(
    loop: EventLoop, peer: Peer, peer_role: Role, memif_socket_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    """L1: the peer's slave starts with no master on its socket and keeps trying; our master
    appears 4 s later (more than one VPP retry period) and the link comes up by itself within
    :data:`SLAVE_RETRY_TIMEOUT`. testpmd is started without the harness's ``port start``
    retries, so only its own behaviour is seen."""
    peer_name = peer.name
    spec = InterfaceSpec(role=peer_role, socket=_socket(memif_socket_dir, "l1"))
    retries = getattr(peer, "connect_timeout", None)
    if retries is not None:
        peer.connect_timeout = 0  # type: ignore[attr-defined]
    try:
        iface = _create(request, peer, spec)
    finally:
        if retries is not None:
            peer.connect_timeout = retries  # type: ignore[attr-defined]
    time.sleep(4.0)
    assert not iface.is_up(), "the peer slave is up with no master"
    _xfail_if(request, NO_SLAVE_RETRY, peer_name)
    started = time.monotonic()
    with _adopted(Link(our_endpoint(spec, loop=loop), iface, peer, spec)) as link:
        assert wait_for(lambda: link.endpoint.connected, SLAVE_RETRY_TIMEOUT), (
            f"{peer_name} slave did not connect within {SLAVE_RETRY_TIMEOUT}s of our master "
            f"appearing (our local reason {link.endpoint.interface.local_reason!r})")
        elapsed = time.monotonic() - started
        iface.wait_up(5.0)
        request.node.user_properties.append(("l1_connect_seconds", round(elapsed, 2)))


@pytest.mark.scenario("L1")
@pytest.mark.role("master")
def test_l1_our_slave_connects_when_peer_master_appears(
    loop: EventLoop, peer: Peer, peer_role: Role, memif_socket_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    """L1 reversed (our retry): our slave tries for 2 s with no master (the socket file does
    not exist yet), then the peer's master appears and the link comes up within 5 s."""
    spec = InterfaceSpec(role=peer_role, socket=_socket(memif_socket_dir, "l1r"))
    endpoint = our_endpoint(spec, loop=loop)
    try:
        time.sleep(2.0)
        assert not endpoint.connected
        assert endpoint.interface.local_reason != "", "no failed attempt recorded"
        iface = _create(request, peer, spec)
    except BaseException:
        endpoint.close()
        raise
    with _adopted(Link(endpoint, iface, peer, spec)) as link:
        link.endpoint.wait_connected(5.0)
        iface.wait_up(5.0)
        assert link.endpoint.details().counters.connects == 1


# -- L2: restarts ------------------------------------------------------------------------------


@pytest.mark.scenario("L2")
@pytest.mark.role("slave")
def test_l2_peer_slave_reconnects_after_our_master_is_deleted(
    loop: EventLoop, link_factory: LinkFactory, peer_name: str, peer_role: Role,
    request: pytest.FixtureRequest,
) -> None:
    """L2: our master is deleted (DISCONNECT "interface deleted"; with the last interface on
    it goes its socket file; VPP's return leg shares the socket, so both go), the peer slave
    goes down; 2 s later a new master listens on the same path and the slave reconnects by
    itself; traffic passes byte-exact before and after."""
    link = _open(link_factory, peer_name, peer_role, loop)
    _assert_traffic(link, 1)
    legs = [link] if link.return_leg is None else [link, link.return_leg]
    for leg in legs:
        leg.endpoint.close()
    assert not os.path.exists(link.spec.socket), "our master left its socket file"
    with _testpmd_may_crash(peer_name, "when its master was deleted"):
        for leg in legs:
            assert wait_for(lambda: not leg.peer_interface.is_up(), 10.0), (  # noqa: B023
                f"peer slave {leg.spec.id} still up")
    time.sleep(2.0)
    _xfail_if(request, NO_SLAVE_RECONNECT, peer_name)
    for leg in legs:
        leg.endpoint = our_endpoint(leg.spec, loop=loop)
    for leg in legs:
        assert wait_for(lambda: leg.endpoint.connected, SLAVE_RETRY_TIMEOUT), (  # noqa: B023
            f"{peer_name} slave {leg.spec.id} did not reconnect within {SLAVE_RETRY_TIMEOUT}s")
        leg.peer_interface.wait_up(5.0)
    _assert_traffic(link, 2)


@pytest.mark.scenario("L2")
@pytest.mark.role("slave")
def test_l2_peer_slave_reconnects_after_a_killed_master(
    loop: EventLoop, peer: Peer, peer_role: Role, memif_socket_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    """L2, the master crashes: a master process of ours (a python worker) is SIGKILLed, so no
    DISCONNECT is sent and its socket file stays behind, stale; the peer slave goes down; a
    new master of ours replaces the stale file and the slave reconnects by itself."""
    python_peer: Peer = request.getfixturevalue("python_peer")
    path = _socket(memif_socket_dir, "l2k")
    first = _create(request, python_peer, InterfaceSpec(role=Role.MASTER, socket=path))
    spec = InterfaceSpec(role=peer_role, socket=path)
    iface = _create(request, peer, spec)
    iface.wait_up(10.0)
    os.kill(first.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    with _testpmd_may_crash(peer.name, "when its master was killed"):
        assert wait_for(lambda: not iface.is_up(), 10.0), "peer slave still up"
    assert os.path.exists(path), "the killed master's socket file is gone"
    time.sleep(2.0)
    _xfail_if(request, NO_SLAVE_RECONNECT, peer.name)
    with _adopted(Link(our_endpoint(spec, loop=loop), iface, peer, spec)) as link:
        assert wait_for(lambda: link.endpoint.connected, SLAVE_RETRY_TIMEOUT), (
            f"{peer.name} slave did not reconnect within {SLAVE_RETRY_TIMEOUT}s")
        iface.wait_up(5.0)
        _reflect(link)
        _assert_traffic(link, 3)


@pytest.mark.scenario("L2")
@pytest.mark.role("master")
def test_l2_our_slave_reconnects_after_peer_master_restarts(
    loop: EventLoop, link_factory: LinkFactory, peer_name: str, peer_role: Role,
) -> None:
    """L2, the peer's master restarts (testpmd, python, libmemif: its process quits and a new
    one starts on the same socket; VPP: the interface is deleted and created again): our slave
    goes down, keeps retrying, and reconnects; traffic passes byte-exact before and after."""
    link = _open(link_factory, peer_name, peer_role, loop)
    _assert_traffic(link, 1)
    _recreate_peer_interface(link)
    link.endpoint.wait_connected(15.0)
    link.peer_interface.wait_up(5.0)
    assert link.endpoint.details().counters.connects == 2
    _assert_traffic(link, 2)


@pytest.mark.scenario("L2")
@pytest.mark.peer("testpmd")
@pytest.mark.role("master")
def test_l2_our_slave_reconnects_after_testpmd_port_restart(
    loop: EventLoop, link_factory: LinkFactory, peer_name: str, peer_role: Role,
) -> None:
    """L2, testpmd's master port is stopped and started (``port stop 0``/``port start 0``:
    the listener stays, the connection goes): our slave reconnects; traffic passes after."""
    link = link_factory(peer_name, role=peer_role, ours={"loop": loop})
    _assert_traffic(link, 1)
    iface: Any = link.peer_interface
    iface.command("stop", check=False)
    iface.command("port stop 0")
    link.endpoint.wait_disconnected(5.0)
    iface.command("port start 0")
    iface.start_forwarding()
    link.endpoint.wait_connected(15.0)
    link.peer_interface.wait_up(5.0)
    _assert_traffic(link, 2)


# -- L9: reconnect cycles ------------------------------------------------------------------------


def _connected_again(link: Link, connects: int, timeout: float) -> bool:
    """Whether our endpoint is up on a connection made after ``connects`` earlier ones."""
    def again() -> bool:
        return link.endpoint.details().counters.connects > connects and link.endpoint.connected
    return wait_for(again, timeout)


def _reconnect(link: Link, cycle: int) -> None:
    """End the connection and wait for the next one: our endpoint disconnects and, as slave,
    reconnects; as master the peer's slave does (testpmd's client only on ``port start``, so
    there its port is restarted instead). A testpmd master stops forwarding meanwhile: it
    crashes otherwise (:data:`TESTPMD_CRASH`)."""
    connects = link.endpoint.details().counters.connects
    if link.peer_name == "testpmd" and link.peer_role is Role.SLAVE:
        _restart_testpmd_port(link.peer_interface)
    elif link.peer_name == "testpmd":
        link.peer_interface.command("stop", check=False)  # type: ignore[attr-defined]
        link.endpoint.disconnect(f"l9 cycle {cycle}")
    else:
        link.endpoint.disconnect(f"l9 cycle {cycle}")
    assert _connected_again(link, connects, 15.0), f"no reconnect in cycle {cycle}"
    assert link.endpoint.details().counters.connects == connects + 1
    link.peer_interface.wait_up(5.0)
    details = link.endpoint.details()
    for queue in (*details.rx_queues, *details.tx_queues):  # fresh rings, nothing sent yet
        assert (queue.tail, min(queue.head, queue.ring_size)) == (0, queue.head), (
            f"cycle {cycle}: {queue}")
    if link.peer_name == "testpmd" and link.peer_role is Role.MASTER:
        link.peer_interface.start_forwarding()  # type: ignore[attr-defined]


@pytest.mark.scenario("L9")
def test_l9_reconnect_cycles_leave_no_stale_state(
    loop: EventLoop, link_factory: LinkFactory, peer_name: str, peer_role: Role,
    request: pytest.FixtureRequest,
) -> None:
    """L9: :data:`CYCLES` disconnect/reconnect cycles. Each one is a new handshake (our
    connect counter goes up by exactly one) with fresh regions and rings (every ring's
    counters start again: tail 0, head at most the ring size), and traffic passes byte-exact
    after every one. The peer's process (where it is on this host) and ours hold
    as many fds and mappings after the last cycle as after cycle :data:`WARM_UP`."""
    link = _open(link_factory, peer_name, peer_role, loop)
    _assert_traffic(link, 0)
    _xfail_if(request, ONE_CONNECTION, peer_name)
    pid = _peer_pid(link)
    counts: dict[str, list[tuple[int, int]]] = {"ours": []}
    if pid is not None:
        counts[peer_name] = []
    for cycle in range(1, CYCLES + 1):
        _reconnect(link, cycle)
        _assert_traffic(link, cycle)
        counts["ours"].append(_resources(os.getpid()))
        if pid is not None:
            counts[peer_name].append(_resources(pid))
    request.node.user_properties.append(("l9_fds_maps", counts))
    for who, series in counts.items():
        (fds, _), (last_fds, _) = series[WARM_UP - 1], series[-1]
        assert last_fds <= fds, f"{who}: fds grew from {fds} to {last_fds}: {series}"
    for who, series in counts.items():  # ours first
        if who != "ours":
            _xfail_if(request, MAPPING_LEAK, f"{who}-{peer_role.name.lower()}")
        (_, maps), (_, last_maps) = series[WARM_UP - 1], series[-1]
        assert last_maps <= maps, f"{who}: mappings grew from {maps} to {last_maps}: {series}"


@pytest.mark.scenario("L9")
@pytest.mark.role("master")
def test_l9_peer_master_keeps_forwarding_across_reconnects(
    loop: EventLoop, link_factory: LinkFactory, peer_name: str, peer_role: Role,
    request: pytest.FixtureRequest,
) -> None:
    """L9 with the peer's datapath running: our slave disconnects and reconnects
    :data:`FORWARDING_CYCLES` times while the peer master keeps forwarding (io); the peer
    frees the old regions without crashing and forwards on each new connection."""
    link = _open(link_factory, peer_name, peer_role, loop)
    _xfail_if(request, ONE_CONNECTION, peer_name)
    for cycle in range(1, FORWARDING_CYCLES + 1):
        connects = link.endpoint.details().counters.connects
        link.endpoint.disconnect(f"l9 cycle {cycle}")
        reconnected = _connected_again(link, connects, 10.0)
        alive = getattr(link.peer_interface, "alive", link.peer.alive)
        if not alive() and peer_name == "testpmd":
            pytest.xfail(f"{TESTPMD_CRASH}; here at reconnect {cycle}")
        assert alive(), f"{peer_name} died at reconnect {cycle}"
        assert reconnected, f"no reconnect in cycle {cycle}"
        _assert_traffic(link, cycle, count=16)

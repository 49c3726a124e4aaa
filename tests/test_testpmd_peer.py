"""TestpmdPeer against real DPDK testpmd: two testpmds (server + client) over net_memif."""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memif_harness.memif.protocol.constants import Mode, Role
from memif_harness_fixtures.peers.base import InterfaceSpec, PeerError, PeerUnavailable
from memif_harness_fixtures.peers.testpmd import (
    TestpmdInterface,
    TestpmdPeer,
    TestpmdUnsupported,
    find_pmd_dir,
    runtime_dir,
)

HAVE_TESTPMD = shutil.which("dpdk-testpmd") is not None and find_pmd_dir() is not None
needs_testpmd = pytest.mark.skipif(
    not HAVE_TESTPMD, reason="dpdk-testpmd not installed: apt-get install dpdk dpdk-dev"
)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie still answers kill(0); look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "memif.sock")


@pytest.fixture
def peers() -> Iterator[tuple[TestpmdPeer, TestpmdPeer]]:
    """A server-side and a client-side testpmd peer, checked for leftovers afterwards."""
    server, client = TestpmdPeer(autostart=False), TestpmdPeer(autostart=False)
    with server, client:
        yield server, client
    for peer in (server, client):
        assert not peer.alive()
        assert peer.interfaces == []
        assert list(runtime_dir(peer.prefix).parent.glob(f"{peer.prefix}*")) == []


def _pair(
    peers: tuple[TestpmdPeer, TestpmdPeer], socket: str, id: int = 0, secret: str | None = None
) -> tuple[TestpmdInterface, TestpmdInterface]:
    server_peer, client_peer = peers
    spec = InterfaceSpec(role=Role.MASTER, socket=socket, id=id, secret=secret)
    server = server_peer.create_interface(spec)
    client = client_peer.create_interface(dataclasses.replace(spec, role=Role.SLAVE))
    client.wait_up(10)
    server.wait_up(10)
    return server, client


def test_missing_binary_is_unavailable(tmp_path: Path) -> None:
    peer = TestpmdPeer(testpmd=tmp_path / "no-such-testpmd")
    with pytest.raises(PeerUnavailable, match="dpdk-testpmd not found: apt-get install dpdk"):
        peer.start()
    peer.stop()  # safe without a start


@needs_testpmd
def test_version() -> None:
    with TestpmdPeer() as peer:
        version = peer.version()
    assert version.count(".") >= 1
    assert version[0].isdigit()


@needs_testpmd
def test_ip_mode_rejected(socket_path: str) -> None:
    with TestpmdPeer() as peer:
        spec = InterfaceSpec(role=Role.MASTER, socket=socket_path, mode=Mode.IP)
        with pytest.raises(TestpmdUnsupported, match="only ethernet"):
            peer.create_interface(spec)
        assert peer.interfaces == []


@needs_testpmd
def test_spec_maps_to_devargs_and_queues() -> None:
    with TestpmdPeer() as peer:
        spec = InterfaceSpec(
            role=Role.SLAVE,
            socket="@harness-abstract",
            id=7,
            secret="s3cret",
            rx_queues=2,
            tx_queues=3,
            log2_ring_size=9,
            buffer_size=4096,
            mac="02:fe:00:00:00:07",
        )
        argv = peer.command_line(spec, "prefix-x")
    assert argv[:2] == [shutil.which("stdbuf"), "-oL"]
    assert (
        "--vdev=net_memif0,role=client,socket=harness-abstract,socket-abstract=yes,id=7,"
        "rsize=9,bsize=4096,secret=s3cret,mac=02:fe:00:00:00:07"
    ) in argv
    assert "--rxq=2" in argv
    assert "--txq=3" in argv
    assert argv[argv.index("--file-prefix") + 1] == "prefix-x"
    assert "-i" in argv[argv.index("--") :]


@needs_testpmd
@pytest.mark.parametrize("kind", ["filesystem", "abstract"])
def test_server_and_client_connect(
    peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str, kind: str
) -> None:
    socket = socket_path if kind == "filesystem" else f"@mh-tp-{uuid.uuid4().hex[:12]}"
    server, client = _pair(peers, socket, id=3, secret="abc")
    assert server.is_up()
    assert client.is_up()
    details = server.details()
    assert details["Link status"] == "up"
    assert details["Driver name"] == "net_memif"
    assert "role=server" in str(details["devargs"])
    assert "socket-abstract=" + ("no" if kind == "filesystem" else "yes") in str(details["Devargs"])
    if kind == "filesystem":
        assert Path(socket_path).is_socket()
    assert peers[0].alive()
    assert peers[1].alive()


@needs_testpmd
def test_txonly_to_rxonly_counts(peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str) -> None:
    server, client = _pair(peers, socket_path)
    server.set_forward_mode("rxonly")
    client.set_forward_mode("txonly")
    server.start_forwarding()
    client.start_forwarding()
    time.sleep(1.0)
    sent = client.stop_forwarding()
    deadline = time.monotonic() + 3
    while True:
        rx, tx = server.counters(), client.counters()
        if rx["rx_packets"] == tx["tx_packets"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    server.stop_forwarding()
    assert tx["tx_packets"] > 0
    assert rx["rx_packets"] > 0
    assert rx["rx_packets"] == tx["tx_packets"] == sent["TX-packets"]
    assert rx["rx_bytes"] == tx["tx_bytes"] == 64 * tx["tx_packets"]  # txonly default length
    assert rx["rx_errors"] == rx["rx_missed"] == tx["tx_errors"] == 0
    assert tx["rx_packets"] == 0
    assert server.port_stats()["RX-packets"] == rx["rx_packets"]
    diagnostics = peers[0].diagnostics()
    assert any("NIC statistics" in body for body in diagnostics.values())
    assert any("Port 0: " in body for body in diagnostics.values())


@needs_testpmd
@pytest.mark.parametrize(
    "segments",
    [(2000, 1000), (2000, 2000, 2000), (2000, 2000, 2000, 2000, 960)],
    ids=["3000", "6000", "8960"],
)
def test_jumbo_counted_bursts_both_ways(
    peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str, segments: tuple[int, ...]
) -> None:
    """Multi-descriptor frames over 2048-byte buffers: exact counts with ``tx_first``."""
    server, client = _pair(peers, socket_path)
    size = sum(segments)
    for sender, receiver in ((client, server), (server, client)):
        for interface in (sender, receiver):
            interface.clear_stats()
            interface.set_forward_mode("rxonly")
        sender.set_tx_segments(*segments)
        receiver.start_forwarding()
        sender.start_forwarding(tx_first=1)  # one burst of 32: 32 * 5 descs < 1024 slots
        deadline = time.monotonic() + 3
        while receiver.counters()["rx_packets"] < 32 and time.monotonic() < deadline:
            time.sleep(0.05)
        sender.stop_forwarding()
        receiver.stop_forwarding()
        assert sender.counters()["tx_packets"] == 32
        assert sender.counters()["tx_bytes"] == 32 * size
        assert receiver.counters()["rx_packets"] == 32
        assert receiver.counters()["rx_bytes"] == 32 * size


@needs_testpmd
def test_io_forwarding_echoes(peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str) -> None:
    server, client = _pair(peers, socket_path)
    server.start_forwarding()  # io, the default: send back what arrives
    client.set_forward_mode("rxonly")
    client.start_forwarding(tx_first=2)
    deadline = time.monotonic() + 3
    while client.counters()["rx_packets"] < 64 and time.monotonic() < deadline:
        time.sleep(0.05)
    client.stop_forwarding()
    server.stop_forwarding()
    assert client.counters()["rx_packets"] == 64
    assert server.counters()["tx_packets"] == 64


@needs_testpmd
def test_client_started_before_server_retries(
    peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str
) -> None:
    server_peer, client_peer = peers
    made: list[TestpmdInterface] = []
    errors: list[BaseException] = []

    def make_client() -> None:
        try:
            made.append(
                client_peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket=socket_path))
            )
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=make_client)
    thread.start()
    time.sleep(1.5)
    server = server_peer.create_interface(InterfaceSpec(role=Role.MASTER, socket=socket_path))
    thread.join(20)
    assert errors == []
    (client,) = made
    assert "memif_connect_client(): Failed to connect socket" in client.output
    client.wait_up(10)
    server.wait_up(10)


@needs_testpmd
def test_commands_and_errors(peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str) -> None:
    server = peers[0].create_interface(InterfaceSpec(role=Role.MASTER, socket=socket_path))
    assert not server.is_up()
    with pytest.raises(PeerError, match="Command not found"):
        server.command("no such command")
    assert "Bad arguments" in server.command("show version", check=False)
    with pytest.raises(PeerError, match="give up"):
        server.set_tx_segments(3000)  # longer than the 2176-byte mbuf data room
    with pytest.raises(PeerError, match="link not up"):
        server.wait_up(0.3)


@needs_testpmd
def test_delete_leaves_nothing(peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str) -> None:
    server, client = _pair(peers, socket_path)
    pids = [server.pid, client.pid]
    dirs = [runtime_dir(server.prefix), runtime_dir(client.prefix)]
    assert all(d.is_dir() for d in dirs)
    client.delete()
    assert _gone(client.pid)
    assert not dirs[1].exists()
    deadline = time.monotonic() + 5
    while server.is_up() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.is_up()  # the server saw the disconnect
    assert "Bye..." in client.output
    client.delete()  # twice is fine
    peers[0].stop()
    peers[1].stop()
    assert all(_gone(pid) for pid in pids)
    assert not any(d.exists() for d in dirs)
    assert not peers[0].alive()


@needs_testpmd
def test_killed_testpmd_is_reported_and_cleaned(
    peers: tuple[TestpmdPeer, TestpmdPeer], socket_path: str
) -> None:
    server = peers[0].create_interface(InterfaceSpec(role=Role.MASTER, socket=socket_path))
    server.process.kill()
    server.process.wait(5)
    assert not peers[0].alive()
    with pytest.raises(PeerError, match="not running") as info:
        server.command("show port stats 0")
    assert any("output" in title for title in info.value.diagnostics)
    server.delete()
    assert not runtime_dir(server.prefix).exists()

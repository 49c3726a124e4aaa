"""Interop across containers (images from ``docker/build.sh``), over bind-mounted socket dirs.

* our harness on the host (:class:`~memif_harness.Endpoint`) <-> DPDK testpmd in a
  ``memif-harness/testpmd:local`` container (``TestpmdPeer(image=...)``), both roles;
* our harness in a ``memif-harness/harness:local`` container <-> testpmd in another container,
  both roles: a tagged-frame echo check (``python -c``) and the ``memif-harness gen`` CLI;
* pytest-testinfra on the testpmd container: testpmd runs, the socket dir is mounted, the
  server's socket listens.

testpmd forwards in ``io`` mode, so every frame crosses both ways: we send 2,000 frames of
60..1514 bytes, each carrying a sequence number, its size and a seq-dependent pattern, and
require every one back byte-exact, none lost, none duplicated; testpmd's own counters must
show the same frames and bytes in and out.

Without Docker or the images these tests skip (how to build the images is in the reason);
with ``MEMIF_REQUIRE_DOCKER=1`` they fail instead. Every container is labelled
``memif-harness=1`` + ``memif-harness.session=<this module's session>`` and removed in
teardown; a test whose containers outlive it fails.
"""

from __future__ import annotations

import inspect
import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memif_harness.memif.protocol.constants import Role
from memif_harness.memif.runtime.endpoint import Endpoint
from memif_harness_fixtures.peers import containers
from memif_harness_fixtures.peers.base import InterfaceSpec
from memif_harness_fixtures.peers.testpmd import TestpmdInterface, TestpmdPeer

pytestmark = [pytest.mark.needs_docker, pytest.mark.timeout(240)]

SESSION = containers.new_session("test-docker")
FRAMES = 2000
CONNECT_TIMEOUT = 30.0


def _absent(reason: str) -> None:
    if os.environ.get("MEMIF_REQUIRE_DOCKER") == "1":
        pytest.fail(f"{reason} [MEMIF_REQUIRE_DOCKER=1]", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    client, reason = containers.docker_client_or_skip_reason()
    if client is None:
        _absent(reason or "no Docker")
    assert client is not None
    for image in (containers.TESTPMD_IMAGE, containers.HARNESS_IMAGE):
        if not containers.image_available(image, client):
            client.close()
            _absent(f"image {image} not found; {containers.BUILD_HINT}")
    try:
        yield client
    finally:
        containers.cleanup(SESSION, client)
        client.close()


@pytest.fixture(autouse=True)
def _no_leftover_containers(docker_client: Any) -> Iterator[None]:
    """After each test: none of this session's containers may remain (``--rm`` may lag)."""
    yield
    deadline = time.monotonic() + 15
    while (left := containers.list_containers(SESSION, docker_client)) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    if left:
        containers.cleanup(SESSION, docker_client)
        pytest.fail(f"containers left behind (now removed): {left}")


@pytest.fixture(scope="module")
def _testpmd_peer(docker_client: Any) -> Iterator[TestpmdPeer]:
    """One peer for the module: its start (docker checks, a container listing the image's
    PMDs) is paid once; each interface is still a container of its own."""
    peer = TestpmdPeer(image=containers.TESTPMD_IMAGE, session=SESSION, forward_mode="io")
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def testpmd(_testpmd_peer: TestpmdPeer) -> Iterator[TestpmdPeer]:
    """testpmd in containers (one per interface), io forwarding; every interface (container)
    a test leaves is removed after it, before the leftover check."""
    try:
        yield _testpmd_peer
    finally:
        for interface in list(_testpmd_peer.interfaces):
            _testpmd_peer.remove_interface(interface)


def _role_id(role: Role) -> str:
    return f"testpmd_{role.name.lower()}"


ROLES = pytest.mark.parametrize("peer_role", [Role.MASTER, Role.SLAVE], ids=_role_id)


# -- the echo check (self-contained: also shipped into the harness container) --------------------


def echo_check(endpoint: Any, count: int, burst: int = 32, window: int = 256) -> dict[str, Any]:
    """Send ``count`` tagged frames of 60..1514 bytes to an io-forwarding peer in bursts,
    collect the echoes and classify them. Imports inside: this function's source runs as is
    in the harness container (``python -c``)."""
    import struct
    import time
    import zlib

    head_fmt = "!6s6sHII"
    dst, src = b"\x02\xfe\0\0\0\x02", b"\x02\xfe\0\0\0\x01"

    def size_of(seq: int) -> int:
        return 1514 if seq == 1 else 60 + (seq * 7919) % 1455

    def frame(seq: int) -> bytes:
        size = size_of(seq)
        head = struct.pack(head_fmt, dst, src, 0x88B5, seq, size)
        pattern = zlib.crc32(struct.pack("!I", seq)).to_bytes(4, "big") + bytes(range(256))
        body_len = size - len(head)
        return head + (pattern * (body_len // len(pattern) + 1))[:body_len]

    seen: set[int] = set()
    stats = {"received": 0, "bytes_received": 0, "corrupted": 0, "duplicates": 0}
    corrupt_examples: list[str] = []

    def take(frames: list[bytes]) -> None:
        for data in frames:
            stats["received"] += 1
            stats["bytes_received"] += len(data)
            seq = struct.unpack_from("!I", data, 14)[0] if len(data) >= 18 else -1
            if not 0 <= seq < count or data != frame(seq):
                stats["corrupted"] += 1
                if len(corrupt_examples) < 5:
                    corrupt_examples.append(f"seq {seq} len {len(data)}: {data[:32].hex()}")
            elif seq in seen:
                stats["duplicates"] += 1
            else:
                seen.add(seq)

    started = time.monotonic()
    outstanding = 0
    stalled = False
    for first in range(0, count, burst):
        batch = [frame(s) for s in range(first, min(count, first + burst))]
        endpoint.send(batch, timeout=5.0)
        outstanding += len(batch)
        while outstanding > window:
            got = endpoint.recv(outstanding - window, timeout=5.0)
            if not got:
                stalled = True  # nothing back for 5 s: stop, report what was lost
                break
            take(got)
            outstanding -= len(got)
        if stalled:
            break
    deadline = time.monotonic() + 5.0
    while outstanding > 0 and time.monotonic() < deadline:
        got = endpoint.recv(outstanding, timeout=0.5)
        take(got)
        outstanding -= len(got)
    take(endpoint.recv(256, timeout=0.3))  # anything extra
    sizes = [size_of(s) for s in range(count)]
    lost = sorted(set(range(count)) - seen)
    result: dict[str, Any] = {
        "sent": count,
        "bytes_sent": sum(sizes),
        "min_size": min(sizes),
        "max_size": max(sizes),
        "delivered": len(seen),
        "lost": len(lost),
        "lost_examples": lost[:10],
        "corrupt_examples": corrupt_examples,
        "seconds": round(time.monotonic() - started, 3),
        "stalled": stalled,
        **stats,
    }
    result["ok"] = (
        len(seen) == count
        and stats["received"] == count
        and stats["bytes_received"] == result["bytes_sent"]
    )
    return result


CONTAINER_SCRIPT = """
import json, os, sys, time
from typing import Any
from memif_harness import Endpoint

{source}

role, socket, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
connect_timeout, go, release = float(sys.argv[4]), sys.argv[5], sys.argv[6]


def wait_file(path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


with Endpoint(role, socket) as ep:
    ep.wait_connected(connect_timeout)
    # testpmd drops what is queued when it starts forwarding (`start` flushes its Rx queues):
    # send only once the test says testpmd forwards.
    wait_file(go, 60)
    result = echo_check(ep, count)
    print("ECHO-RESULT " + json.dumps(result), flush=True)
    # Stay connected until the test has read testpmd's counters (they reset on disconnect).
    wait_file(release, 60)
sys.exit(0 if result["ok"] else 1)
"""


def container_script() -> str:
    return CONTAINER_SCRIPT.format(source=textwrap.dedent(inspect.getsource(echo_check)))


def _tail(interface: TestpmdInterface, limit: int = 4000) -> str:
    return f"\n--- testpmd ({interface.container}) output ---\n{interface.output[-limit:]}"


# -- a) our harness on the host <-> testpmd in a container -------------------------------------


@ROLES
def test_host_harness_with_testpmd_container(
    testpmd: TestpmdPeer, memif_socket_dir: Path, peer_role: Role
) -> None:
    socket = str(memif_socket_dir / "memif.sock")
    spec = InterfaceSpec(role=peer_role, socket=socket)
    ours = Role.SLAVE if peer_role is Role.MASTER else Role.MASTER
    started = time.monotonic()
    if peer_role is Role.MASTER:
        interface = testpmd.create_interface(spec)
        endpoint = Endpoint(ours, socket)
    else:  # our master listens first; testpmd's client retries `port start 0`
        endpoint = Endpoint(ours, socket)
        interface = testpmd.create_interface(spec)
    try:
        endpoint.wait_connected(CONNECT_TIMEOUT)
        interface.wait_up(10)
        up = time.monotonic() - started
        interface.clear_stats()
        result = echo_check(endpoint, FRAMES)
        assert result["ok"], f"echo check failed: {result}" + _tail(interface)
        _check_port_stats(interface, FRAMES, result["bytes_sent"])
        print(f"host<->container {_role_id(peer_role)}: up in {up:.2f}s, "
              f"{FRAMES} frames each way in {result['seconds']}s")
    finally:
        endpoint.close()
        testpmd.remove_interface(interface)


# -- b) our harness in a container <-> testpmd in another container ----------------------------


def _start_pair(
    testpmd: TestpmdPeer, socket_dir: Path, peer_role: Role, command: list[str]
) -> tuple[TestpmdInterface, containers.HarnessContainer]:
    """testpmd's container and the harness container, in the order the roles need."""
    socket = str(socket_dir / "memif.sock")
    spec = InterfaceSpec(role=peer_role, socket=socket)
    harness = containers.HarnessContainer(command, bind_dirs=[str(socket_dir)], session=SESSION)
    if peer_role is Role.MASTER:
        interface = testpmd.create_interface(spec)
        harness.start()
    else:
        harness.start()  # our master must listen first: testpmd's client never retries
        try:
            _wait_for_listener(harness, Path(socket), 60)
            interface = testpmd.create_interface(spec)
        except BaseException:
            harness.remove()
            raise
    return interface, harness


def _wait_for_listener(harness: containers.HarnessContainer, socket: Path, timeout: float) -> None:
    """Until our master in ``harness`` listens on ``socket`` (its interpreter, scapy and the
    compiled kernels load first: seconds on a loaded machine)."""
    assert harness.container is not None
    deadline = time.monotonic() + timeout
    while not socket.is_socket():
        harness.container.reload()
        assert harness.container.status in ("created", "running"), harness.logs()
        assert time.monotonic() < deadline, f"no listener on {socket} after {timeout}s"
        time.sleep(0.05)


def _wait_for_line(harness: containers.HarnessContainer, prefix: str, timeout: float) -> str:
    """The first log line of ``harness`` starting with ``prefix`` ("" if it exited first)."""
    assert harness.container is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in harness.logs().splitlines():
            if line.startswith(prefix):
                return line
        harness.container.reload()
        if harness.container.status not in ("created", "running"):
            break
        time.sleep(0.1)
    return ""


def _check_port_stats(interface: TestpmdInterface, frames: int, nbytes: int) -> None:
    """testpmd counted every frame and byte in (from us) and out (to us). Port stats reset
    when the link goes down, so read them while it is up."""
    stats = interface.port_stats()
    for key, want in (("RX-packets", frames), ("TX-packets", frames),
                      ("RX-bytes", nbytes), ("TX-bytes", nbytes)):  # fmt: skip
        assert stats.get(key) == want, (
            f"testpmd {key} {stats.get(key)} != {want}: {stats}" + _tail(interface)
        )


@ROLES
def test_harness_container_with_testpmd_container(
    testpmd: TestpmdPeer, memif_socket_dir: Path, peer_role: Role
) -> None:
    socket = str(memif_socket_dir / "memif.sock")
    go, release = str(memif_socket_dir / "go"), str(memif_socket_dir / "release")
    ours = "slave" if peer_role is Role.MASTER else "master"
    command = ["python", "-c", container_script(), ours, socket, str(FRAMES),
               str(CONNECT_TIMEOUT), go, release]  # fmt: skip
    started = time.monotonic()
    interface, harness = _start_pair(testpmd, memif_socket_dir, peer_role, command)
    with harness:
        Path(go).touch()  # testpmd forwards now (create_interface ran `start`)
        line = _wait_for_line(harness, "ECHO-RESULT ", 120)
        if line:
            echo = json.loads(line.removeprefix("ECHO-RESULT "))
            if echo["ok"]:
                _check_port_stats(interface, FRAMES, echo["bytes_sent"])
        Path(release).touch()
        result = harness.wait(60)
    elapsed = time.monotonic() - started
    assert line, f"no result from the harness container (exit {result.exit_code}):\n" + (
        result.logs + _tail(interface)
    )
    assert result.exit_code == 0, (
        f"exit {result.exit_code}: {echo}\n{result.logs}" + _tail(interface)
    )
    assert echo["ok"], echo
    assert echo["delivered"] == FRAMES
    assert (echo["min_size"], echo["max_size"]) == (60, 1514)
    print(f"container<->container {_role_id(peer_role)}: {FRAMES} frames each way "
          f"in {echo['seconds']}s, {elapsed:.1f}s in all")


def test_gen_cli_in_harness_container(testpmd: TestpmdPeer, memif_socket_dir: Path) -> None:
    """``memif-harness gen`` (slave) in the harness container, against testpmd io (master) in
    another; the CLI exits non-zero on loss or corruption.

    Only this way round: ``gen --role master`` sends the moment testpmd's client connects, which
    is before testpmd's ``start``, and ``start`` flushes (drops) what its Rx queues hold. The
    reverse roles are covered by test_harness_container_with_testpmd_container[testpmd_slave].
    """
    peer_role = Role.MASTER
    help_result = containers.HarnessContainer.run(
        ["memif-harness", "gen", "--help"], session=SESSION, timeout=60
    )
    if help_result.exit_code != 0:
        pytest.skip(f"the harness image has no `memif-harness gen`: {help_result.logs[-500:]}")
    socket = str(memif_socket_dir / "memif.sock")
    ours = "slave" if peer_role is Role.MASTER else "master"
    command = ["memif-harness", "gen", "--role", ours, "--socket", socket, "--count",
               str(FRAMES), "--size", "1514", "--burst", "32", "--connect-timeout",
               str(CONNECT_TIMEOUT)]  # fmt: skip
    interface, harness = _start_pair(testpmd, memif_socket_dir, peer_role, command)
    with harness:
        result = harness.wait(180)
    assert result.exit_code == 0, f"gen exited {result.exit_code}:\n{result.logs}" + _tail(
        interface
    )
    assert "gen: OK" in result.logs, result.logs
    assert f"sent {FRAMES}, expected {FRAMES}, received {FRAMES}" in result.logs, result.logs


# -- c) testinfra on the testpmd container -----------------------------------------------------


@ROLES
def test_testpmd_container_state(
    testpmd: TestpmdPeer, memif_socket_dir: Path, peer_role: Role
) -> None:
    socket = str(memif_socket_dir / "memif.sock")
    ours = Role.SLAVE if peer_role is Role.MASTER else Role.MASTER
    spec = InterfaceSpec(role=peer_role, socket=socket)
    if peer_role is Role.MASTER:
        interface = testpmd.create_interface(spec)
        endpoint = Endpoint(ours, socket)
    else:
        endpoint = Endpoint(ours, socket)
        interface = testpmd.create_interface(spec)
    try:
        endpoint.wait_connected(CONNECT_TIMEOUT)
        assert interface.container is not None
        containers.assert_container(
            interface.container,
            interface.output,
            processes=["dpdk-testpmd"],
            directories=[str(memif_socket_dir)],
            files=[socket],
            listening=[socket] if peer_role is Role.MASTER else [],
        )
    finally:
        endpoint.close()
        testpmd.remove_interface(interface)

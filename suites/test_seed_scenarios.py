"""The seed's scenarios, run the way a user runs them: our ``memif-harness responder`` and
``memif-harness ping`` commands as separate processes against each real peer.

* VPP master ``memif0/0`` at 192.168.1.1/24 pings our responder (slave, 192.168.1.2); VPP
  slave with ``rx-queues 2 tx-queues 2`` pings our responder as master.
* Where VPP is absent the same exchange runs against testpmd in ``icmpecho`` mode and
  against our own responder (all three responder variants), in both roles.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memif_harness.memif.protocol.constants import Role
from memif_harness_fixtures.peers.base import InterfaceSpec
from memif_harness_fixtures.peers.testpmd import TestpmdInterface, TestpmdPeer
from memif_harness_fixtures.plugin import PeerFactory

VPP_IP, OUR_IP = "192.168.1.1", "192.168.1.2"
CLI = [sys.executable, "-m", "memif_harness.cli"]


@contextlib.contextmanager
def responder(role: Role, socket: str, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """``memif-harness responder`` at OUR_IP; on exit, SIGTERM must end it with status 0."""
    proc = subprocess.Popen(
        [
            *CLI,
            "responder",
            "--role",
            role.name.lower(),
            "--socket",
            socket,
            "--ip",
            OUR_IP,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            pytest.fail(f"responder ignored SIGTERM:\n{out}")
    assert proc.returncode == 0, f"responder exited {proc.returncode}:\n{out}"


def ping_argv(role: Role, socket: str, count: int = 5, *extra: str,
              connect_timeout: float = 20) -> list[str]:
    """``memif-harness ping`` from OUR side (``--ip`` VPP_IP) towards OUR_IP."""
    return [
        *CLI,
        "ping",
        "--role",
        role.name.lower(),
        "--socket",
        socket,
        "--target",
        OUR_IP,
        "--ip",
        VPP_IP,
        "--count",
        str(count),
        "--timeout",
        "2",
        "--connect-timeout",
        f"{connect_timeout:g}",
        *extra,
    ]


def ping(role: Role, socket: str, count: int = 5, *extra: str) -> tuple[int, str]:
    """Run ``memif-harness ping`` from OUR side towards 192.168.1.2 (our responder) or VPP."""
    proc = subprocess.run(
        ping_argv(role, socket, count, *extra),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def assert_all_replies(code: int, out: str, count: int) -> None:
    match = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert match, f"no ping summary in:\n{out}"
    assert (int(match[1]), int(match[2])) == (count, count), out
    assert code == 0, out


# -- against our own responder --------------------------------------------------------------


@pytest.mark.scenario("D1")
@pytest.mark.parametrize(
    "variant",
    [[], ["--fd-events", "external"], ["--threads", "--queues", "2"]],
    ids=["internal-poll", "external-epoll", "threads"],
)
@pytest.mark.parametrize("responder_role", [Role.MASTER, Role.SLAVE], ids=["master", "slave"])
def test_ping_our_responder(
    memif_socket_dir: Path, responder_role: Role, variant: list[str]
) -> None:
    """Our ping command gets every reply from our responder command, in both roles."""
    socket = str(memif_socket_dir / "seed.sock")
    with responder(responder_role, socket, *variant):
        code, out = ping(responder_role.peer, socket)
    assert_all_replies(code, out, 5)


# -- against testpmd icmpecho ---------------------------------------------------------------


@pytest.mark.peer("testpmd")
@pytest.mark.scenario("D1")
@pytest.mark.parametrize("testpmd_role", [Role.MASTER, Role.SLAVE], ids=["master", "slave"])
def test_ping_testpmd_icmpecho(
    peer_factory: PeerFactory,
    memif_socket_dir: Path,
    testpmd_role: Role,
    record_property: Callable[[str, object], None],
) -> None:
    """``memif-harness ping`` against testpmd in icmpecho mode, both roles: ARP, then 5 echo
    requests, every reply checked byte for byte by the ping command."""
    record_property("peer_role", testpmd_role.name.lower())
    testpmd = peer_factory("testpmd")
    assert isinstance(testpmd, TestpmdPeer)
    socket = str(memif_socket_dir / "icmpecho.sock")
    spec = InterfaceSpec(role=testpmd_role, socket=socket)
    # icmpecho from testpmd's start-up on (--forward-mode), not a later `set fwd`: with
    # autostart it forwards in its start-up mode as soon as the link is up, and our ping
    # sends its ARP request right after connecting.
    iface: TestpmdInterface | None = None
    try:
        if testpmd_role is Role.MASTER:
            iface = testpmd.create_interface(spec, forward_mode="icmpecho")
            code, out = ping(Role.SLAVE, socket)
        else:
            # Our master must listen before testpmd's client connects.
            proc = subprocess.Popen(
                ping_argv(Role.MASTER, socket, connect_timeout=30),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                deadline = time.monotonic() + 20
                while not Path(socket).exists() and proc.poll() is None:
                    assert time.monotonic() < deadline, "our ping never listened"
                    time.sleep(0.05)
                iface = testpmd.create_interface(spec, forward_mode="icmpecho")
                out, _ = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            code = proc.returncode
    finally:
        if iface is not None:
            testpmd.remove_interface(iface)
    assert_all_replies(code, out, 5)


# -- the seed's VPP scenarios ---------------------------------------------------------------


@pytest.mark.peer("vpp")
@pytest.mark.scenario("D1")
def test_vpp_master_pings_our_responder(
    peer_factory: PeerFactory,
    memif_socket_dir: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """VPP ``create interface memif id 0 master``, up, 192.168.1.1/24; our responder as slave
    at 192.168.1.2; ``ping 192.168.1.2`` from VPP is answered (the first request may be lost
    to ARP, as VPP's own test allows)."""
    record_property("peer_role", "master")
    vpp = peer_factory("vpp")
    socket = str(memif_socket_dir / "vpp-master.sock")
    iface = vpp.create_interface(
        InterfaceSpec(role=Role.MASTER, socket=socket, id=0, ip=f"{VPP_IP}/24")
    )
    try:
        with responder(Role.SLAVE, socket):
            iface.wait_up(15)
            result = iface.ping(OUR_IP, count=5, interval=0.1)  # type: ignore[attr-defined]
    finally:
        iface.delete()
    assert result.sent == 5
    assert result.received >= 4, result


@pytest.mark.peer("vpp")
@pytest.mark.scenario("D1")
def test_vpp_slave_two_queues_pings_our_master_responder(
    peer_factory: PeerFactory,
    memif_socket_dir: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """VPP slave ``rx-queues 2 tx-queues 2`` at 192.168.1.1/24 against our responder as
    master (2 queues) at 192.168.1.2: VPP's ping is answered."""
    record_property("peer_role", "slave")
    vpp = peer_factory("vpp")
    socket = str(memif_socket_dir / "vpp-slave.sock")
    with responder(Role.MASTER, socket, "--queues", "2"):
        iface = vpp.create_interface(
            InterfaceSpec(
                role=Role.SLAVE, socket=socket, id=0, rx_queues=2, tx_queues=2, ip=f"{VPP_IP}/24"
            )
        )
        try:
            iface.wait_up(15)
            result = iface.ping(OUR_IP, count=5, interval=0.1)  # type: ignore[attr-defined]
        finally:
            iface.delete()
    assert result.sent == 5
    assert result.received >= 4, result

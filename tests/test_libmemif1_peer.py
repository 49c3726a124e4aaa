"""Libmemif1Peer (fixtures/peers/libmemif1.py): its command line and what it refuses, and --
when ``--libmemif1-app`` / ``LIBMEMIF1_APP`` names libmemif 1.0's icmpr or icmpr-epoll --
our protocol 1.0 ping against the real app in every role it offers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from memif_harness.apps.ping import PingConfig, ping
from memif_harness.memif.protocol.constants import Role
from memif_harness.memif.protocol.versions import VERSION_V1
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness_fixtures.links import open_link
from memif_harness_fixtures.peers.app import AppUnsupported
from memif_harness_fixtures.peers.base import InterfaceSpec, PeerUnavailable
from memif_harness_fixtures.peers.libmemif1 import (
    HINT,
    Libmemif1Peer,
    default_ip,
    description,
)

SKIP_WHY = ("no libmemif 1.0 app: " + HINT + " (or set LIBMEMIF1_APP); CI has none")


def test_without_an_app_it_is_unavailable() -> None:
    with pytest.raises(PeerUnavailable, match="64ebb5ff133"):
        Libmemif1Peer(None).start()


def test_the_examples_roles_and_addresses() -> None:
    assert description("/x/icmpr").roles == (Role.SLAVE,)
    assert description("/x/icmpr-epoll").roles == (Role.MASTER, Role.SLAVE)
    assert default_ip("/x/icmpr-epoll", 3) == "192.168.4.2"
    assert default_ip("/x/icmpr", 0) == "192.168.1.2"


def test_command_line_runs_the_app_with_its_own_run_dir(tmp_path: Path) -> None:
    peer = Libmemif1Peer("/x/icmpr-epoll")
    argv = peer.command_line_for(tmp_path / "s.sock.run")
    assert argv[:3] == ["unshare", "-m", "sh"]
    assert argv[4] == 'mount --bind "$0" /run && exec "$1"'
    assert argv[5:] == [str(tmp_path / "s.sock.run"), "/x/icmpr-epoll"]


@pytest.mark.parametrize(
    ("app", "spec", "why"),
    [
        ("/x/icmpr", InterfaceSpec(role=Role.SLAVE, socket="/t/s", protocol=2), "protocol 2.0"),
        ("/x/icmpr", InterfaceSpec(role=Role.MASTER, socket="/t/s", protocol=1), "master role"),
        ("/x/icmpr", InterfaceSpec(role=Role.SLAVE, socket="/t/s", id=3, protocol=1), "id 3"),
        ("/x/icmpr-epoll", InterfaceSpec(role=Role.SLAVE, socket="@a", protocol=1), "abstract"),
        ("/x/icmpr-epoll",
         InterfaceSpec(role=Role.SLAVE, socket="/t/s", secret="x", protocol=1), "secret"),
    ],
)
def test_what_it_cannot_do(app: str, spec: InterfaceSpec, why: str) -> None:
    assert any(why in p for p in Libmemif1Peer(app).problems(spec))


def test_a_spec_it_can_do() -> None:
    spec = InterfaceSpec(role=Role.MASTER, socket="/t/s", id=4, protocol=1)
    assert Libmemif1Peer("/x/icmpr-epoll").problems(spec) == []
    with pytest.raises(AppUnsupported):
        peer = Libmemif1Peer("/x/icmpr")
        peer._started = True  # skip the executable check of start()
        peer.create_interface(InterfaceSpec(role=Role.MASTER, socket="/t/s", protocol=1))


# -- the real app ------------------------------------------------------------------------------


@pytest.fixture
def real_app(request: pytest.FixtureRequest) -> str:
    app = request.config.getoption("libmemif1_app") or os.environ.get("LIBMEMIF1_APP")
    if not app:
        pytest.skip(SKIP_WHY)
    return str(app)


@pytest.fixture
def real_peer(real_app: str) -> Iterator[Libmemif1Peer]:
    peer = Libmemif1Peer(real_app)
    try:
        peer.start()
    except PeerUnavailable as exc:
        pytest.skip(str(exc))
    yield peer
    peer.stop()


@pytest.mark.scenario("H9")
@pytest.mark.parametrize("role", [Role.MASTER, Role.SLAVE], ids=["app_master", "app_slave"])
def test_our_1_0_ping_against_the_real_app(real_peer: Libmemif1Peer, role: Role,
                                           tmp_path: Path) -> None:
    """ARP, then echo requests without payload (its checksum covers the header only)."""
    if role not in real_peer.app.roles:
        pytest.skip(f"{Path(real_peer.path or '').name} offers only "
                    f"{', '.join(r.name.lower() for r in real_peer.app.roles)}")
    spec = InterfaceSpec(role=role, socket=str(tmp_path / "m.sock"), protocol=1)
    link = open_link(real_peer, spec, timeout=10)
    try:
        details = link.endpoint.details()
        assert link.endpoint.interface.version == VERSION_V1
        assert details.remote_inst_name == "ICMP_Responder"
        assert details.remote_if_name == "memif_connection"
        assert len(details.rx_queues) == (2 if role is Role.SLAVE else 1)  # a slave app: 2
        config = PingConfig(target=default_ip(real_peer.path or "", 0), ip="192.168.1.1",
                            count=10, size=0, interval=0.05)
        assert ping(link.endpoint, "ethernet", config) == 0
    finally:
        link.close()


_MASTER_DIES = pytest.mark.xfail(
    strict=True, reason="libmemif 1.0's master segfaults when a slave refuses its HELLO with a "
    "DISCONNECT (before INIT the connection has no interface: socket.c:617-624 writes "
    "through NULL); recorded in the libmemif1 profile (H9-v2-slave)")


@pytest.mark.scenario("H9")
@pytest.mark.parametrize("role", [pytest.param(Role.MASTER, marks=_MASTER_DIES), Role.SLAVE],
                         ids=["app_master", "app_slave"])
def test_our_2_0_is_refused_and_the_app_survives(real_peer: Libmemif1Peer, role: Role,
                                                 tmp_path: Path) -> None:
    """Our 2.0 interface against the 1.0 app: the slave side refuses the HELLO (we with
    'incompatible protocol version', the app with its 'interface deleted'), nobody links up,
    and the app must then still serve our 1.0 interface."""
    if role not in real_peer.app.roles:
        pytest.skip(f"{Path(real_peer.path or '').name} offers only the slave role")
    spec = InterfaceSpec(role=role, socket=str(tmp_path / "b.sock"), protocol=1)
    with EventLoop(reconnect_period=0.2) as loop:
        ours = (None if role is Role.MASTER else
                Endpoint("master", spec.socket, loop=loop, protocol=2))
        iface = real_peer.create_interface(spec)
        try:
            ours = ours or Endpoint("slave", spec.socket, loop=loop, protocol=2)
            with pytest.raises(TimeoutError, match="incompatible protocol version" if
                               role is Role.MASTER else "not connected"):
                ours.wait_connected(2)
            assert not iface.is_up()
            ours.close()
            assert iface.alive(), iface.why("died after the refusal")
            good = Endpoint(role.peer, spec.socket, loop=loop, protocol=1)
            good.wait_connected(10)
            iface.wait_up(5)
            good.close()
        finally:
            real_peer.remove_interface(iface)

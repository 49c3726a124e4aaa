"""The VPP CLI parsers and builders against real VPP 26.06 output (shared/captures/vpp-26.06)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memif_harness.memif.protocol.constants import Mode, RingType, Role
from memif_harness_fixtures import vpp_cli
from memif_harness_fixtures.peers.base import InterfaceSpec

CAPTURES = Path(__file__).parents[1].parent / "shared" / "captures" / "vpp-26.06"

needs_captures = pytest.mark.skipif(
    not CAPTURES.is_dir(), reason=f"VPP captures not found at {CAPTURES} (../shared of the repo)"
)

#: Every capture file and the test that reads it; a new file fails test_every_capture_is_used.
USED = {
    "show-memif-slave-copy-2q-connected.txt": "test_show_memif_copy_slave_connected",
    "vppctl-create-and-errors.txt": "test_create_and_errors_*",
    "vppctl-master-2q-connected.txt": "test_master_2q_*",
    "wire-vpp-master-vs-slave.txt": "test_wire_captures_*",
    "wire-vpp-master-2q-vs-slave.txt": "test_wire_master_2q_matches_show_memif",
    "wire-vpp-slave-copy-2q-vs-master.txt": "test_wire_copy_slave_matches_show_memif",
    "wire-vpp-slave-zero-copy-vs-master.txt": "test_wire_captures_*",
}


def transcript(name: str) -> list[tuple[str, str]]:
    """(command, output) pairs of a ``vpp# cmd`` ... ``[exit N]`` transcript; asserts exit 0."""
    pairs: list[tuple[str, str]] = []
    command: str | None = None
    out: list[str] = []
    for line in (CAPTURES / name).read_text().split("\n"):
        if line.startswith("vpp# "):
            command, out = line[len("vpp# "):], []
        elif command is not None and line.startswith("[exit "):
            assert line == "[exit 0]", "vppctl exits 0 even when the command failed"
            pairs.append((command, "\n".join(out) + "\n"))
            command = None
        elif command is not None:
            out.append(line)
    return pairs


def output_of(name: str, command: str, occurrence: int = 0) -> str:
    return [out for cmd, out in transcript(name) if cmd == command][occurrence]


def wire_messages(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (CAPTURES / name).read_text().splitlines()
            if line.startswith("  {")]


@needs_captures
def test_every_capture_is_used() -> None:
    assert sorted(p.name for p in CAPTURES.iterdir()) == sorted(USED)


# --- vppctl-master-2q-connected.txt ------------------------------------------------------------

MASTER = "vppctl-master-2q-connected.txt"


@needs_captures
def test_master_2q_show_memif_connected() -> None:
    show = vpp_cli.parse_show_memif(output_of(MASTER, "show memif memif1/0", 0))
    assert [(s.id, s.listener, s.listener_refs, s.filename) for s in show.sockets] == [
        (0, False, None, "/run/memif-test/memif.sock"),
        (1, True, 1, "/run/memif-test/m1.sock"),
    ]
    iface = show.interface("memif1/0")
    assert iface.remote_name == "raw-slave"
    assert iface.remote_interface == "raw-slave-if"
    assert (iface.socket_id, iface.id, iface.mode, iface.mode_enum) == (1, 0, "ethernet",
                                                                       Mode.ETHERNET)
    assert iface.flags == {"admin-up", "connected"}
    assert iface.connected
    assert iface.admin_up
    assert not iface.zero_copy
    assert iface.role is Role.MASTER
    assert (iface.listener_fd, iface.conn_fd) == (14, 13)
    assert (iface.num_s2m_rings, iface.num_m2s_rings, iface.buffer_size, iface.num_regions) == (
        2, 2, 0, 1)
    assert [(r.index, r.size, r.fd) for r in iface.regions] == [(0, 8454656, 15)]
    # VPP lists its TX queues (M2S for a master) first
    assert [(r.direction, r.index, r.offset, r.int_fd) for r in iface.rings] == [
        (RingType.M2S, 0, 33024, 18),
        (RingType.M2S, 1, 49536, 19),
        (RingType.S2M, 0, 0, 16),
        (RingType.S2M, 1, 16512, 17),
    ]
    assert all(r.region == 0 and r.ring_size == 1024 for r in iface.rings)
    assert all((r.head, r.tail, r.interrupts) == (0, 0, 0) for r in iface.rings)
    # a VPP master polls its RX (S2M) rings: MASK_INT set right after CONNECTED
    assert iface.ring(RingType.S2M, 0).flags == 0x0001
    assert iface.ring(RingType.S2M, 1).flags == 0x0001
    assert iface.ring(RingType.M2S, 0).flags == 0x0000
    assert iface.local_disc_reason is None
    assert iface.remote_disc_reason is None


@needs_captures
def test_master_2q_show_memif_after_peer_eof() -> None:
    iface = vpp_cli.parse_show_memif(output_of(MASTER, "show memif memif1/0", 1)).interface(
        "memif1/0")
    assert iface.flags == {"admin-up"}
    assert not iface.connected
    assert (iface.conn_fd, iface.num_regions, iface.regions, iface.rings) == (0, 0, (), ())
    assert iface.local_disc_reason == "disconnected"
    assert iface.remote_disc_reason is None
    assert iface.remote_name is None


@needs_captures
def test_master_2q_show_interface_counters() -> None:
    before = vpp_cli.parse_show_interface(output_of(MASTER, "show interface memif1/0", 0))
    assert before["memif1/0"].counters == {}
    row = vpp_cli.parse_show_interface(output_of(MASTER, "show interface memif1/0", 1))[
        "memif1/0"]
    assert (row.idx, row.state, row.up, row.mtu) == (1, "up", True, (9000, 0, 0, 0))
    # first counter on the row line, the others on continuation lines
    assert row.counters == {"tx packets": 3, "tx bytes": 126, "drops": 3}
    assert row.get("rx packets") == 0


@needs_captures
def test_master_2q_ping_without_refill() -> None:
    result = vpp_cli.parse_ping(output_of(MASTER, "ping 192.168.1.2 repeat 3 interval 0.1"))
    assert (result.sent, result.received, result.loss_percent) == (3, 0, 100.0)
    assert result.replies == ()
    assert result.failures == ()
    assert not result.aborted


@needs_captures
def test_master_2q_show_errors() -> None:
    rows = vpp_cli.parse_show_errors(output_of(MASTER, "show errors"))
    assert [tuple(r) for r in rows] == [
        (3, "ip4-glean", "ARP requests sent", "info"),
        (3, "memif1/0-tx", "no free tx slots", "error"),
    ]


@needs_captures
def test_master_2q_show_hardware() -> None:
    hw = vpp_cli.parse_show_hardware(output_of(MASTER, "show hardware-interfaces memif1/0"))
    row = hw["memif1/0"]
    assert (row.idx, row.link, row.hardware) == (1, "up", "memif1/0")
    assert row.rx_queues == (vpp_cli.RxQueue(0, "main (0)", "polling"),
                             vpp_cli.RxQueue(1, "main (0)", "polling"))
    assert row.ethernet_address == "02:fe:d5:40:2a:c7"
    assert row.memif_instance == 0
    assert row.ring_stats[(RingType.M2S, 0)] == {"packets sent": 0, "no tx slot": 3,
                                                 "max no tx slot": 1}
    assert row.ring_stats[(RingType.S2M, 1)] == {"packets received": 0}


@needs_captures
def test_master_2q_errors_and_successes() -> None:
    errors = {cmd: vpp_cli.cli_error(out, cmd) for cmd, out in transcript(MASTER)}
    assert errors["create interface memif socket-id 1 id 1 slave"] == (
        "create interface memif: Subinterface already exists (socket file cannot be used by "
        "both master and slave)")
    assert errors["create memif socket id 1 filename /run/memif-test/other.sock"] == (
        "create memif socket: Entry already exists (entry already exists)")
    assert errors["delete memif socket id 0"] == "delete memif socket: Invalid socket id"
    assert errors["delete memif socket id 77"] == (
        "delete memif socket: Invalid argument (socket file with id 77 does not exist)")
    # the same command failed first (in use) and then succeeded once the interface was gone
    first, second = [vpp_cli.cli_error(out, cmd) for cmd, out in transcript(MASTER)
                     if cmd == "delete memif socket id 1"]
    assert first is not None
    assert "is in use" in first
    assert second is None
    for command in ("create memif socket id 1 filename /run/memif-test/m1.sock",
                    "create interface memif socket-id 1 id 0 master rx-queues 2 tx-queues 2",
                    "set int state memif1/0 up", "set int ip address memif1/0 192.168.1.1/24",
                    "show memif memif1/0", "show interface memif1/0",
                    "ping 192.168.1.2 repeat 3 interval 0.1", "show errors",
                    "show hardware-interfaces memif1/0", "delete interface memif memif1/0"):
        assert errors[command] is None, command


# --- vppctl-create-and-errors.txt -------------------------------------------------------------

CREATE = "vppctl-create-and-errors.txt"

EXPECTED_ERRORS = {
    "show memif socket": "show memif: unknown input `socket'",
    "create interface memif socket-id 4 id 0 master":
        "create interface memif: bind (fd 15, '/run/memif-test/sub/dir/m4.sock'): "
        "No such file or directory",
    "create interface memif socket-id 1 id 2 master ring-size 1000":
        "create interface memif: ring size must be power of 2",
    "create interface memif socket-id 1 id 3 master ring-size 65536":
        "create interface memif: maximum ring size is 32768",
    "create interface memif socket-id 1 id 4 master rx-queues 0":
        "create interface memif: rx queue must be between 1 - 255",
    "create interface memif socket-id 9 id 0 master":
        "create interface memif: Invalid argument (unknown socket id)",
    "create memif socket id 0 filename /run/memif-test/zero.sock":
        "create memif socket: Invalid socket id",
    "create interface memif socket-id 5 id 0 master":
        "create interface memif: bind (fd 15, '/nonexistent-dir/x.sock'): "
        "No such file or directory",
}


@needs_captures
def test_create_and_errors_error_detection() -> None:
    pairs = transcript(CREATE)
    assert len(pairs) == 21
    for command, out in pairs:
        expected = EXPECTED_ERRORS.get(command)
        assert vpp_cli.cli_error(out, command) == expected, command
        # without the command, the known-verb heuristic finds the same
        assert vpp_cli.cli_error(out) == expected, command
    # a nested directory and a missing one are accepted at `create memif socket` time:
    # the failure only shows when the interface binds
    assert "create memif socket id 5 filename /nonexistent-dir/x.sock" not in EXPECTED_ERRORS


@needs_captures
def test_create_and_errors_show_version_and_plugins() -> None:
    version = vpp_cli.parse_show_version(output_of(CREATE, "show version"))
    assert version == vpp_cli.VppVersion(version="26.06-release", built_by="root",
                                         built_on="vm", built_at="2026-11-24T19:21:50")
    assert vpp_cli.parse_show_plugins(output_of(CREATE, "show plugins")) == [
        vpp_cli.Plugin("memif_plugin.so", "26.06-release",
                       "Packet Memory Interface (memif) -- Experimental"),
        vpp_cli.Plugin("ping_plugin.so", "26.06-release", "Ping (ping)"),
    ]


@needs_captures
def test_create_and_errors_show_memif() -> None:
    show = vpp_cli.parse_show_memif(output_of(CREATE, "show memif"))
    assert [(s.id, s.listener, s.listener_refs, s.filename) for s in show.sockets] == [
        (2, False, None, "/run/memif-test/s2.sock"),
        (3, False, None, "/run/memif-test/s3.sock"),
        (0, True, 1, "/run/memif-test/memif.sock"),
        # VPP's 11-character listener column cut "yes (4294967295)" of the failed bind
        (5, True, None, "/nonexistent-dir/x.sock"),
        (1, True, 2, "/run/memif-test/m1.sock"),
    ]
    by_name = {i.name: i for i in show.interfaces}
    assert list(by_name) == ["memif1/0", "memif2/0", "memif3/0", "memif1/1", "memif0/7"]
    m10 = by_name["memif1/0"]
    assert (m10.local_disc_reason, m10.remote_disc_reason) == ("disconnect received", "bye")
    assert m10.flags == {"admin-up"}
    assert m10.listener_fd == 14
    m20 = by_name["memif2/0"]
    assert m20.flags == {"admin-up", "slave", "zero-copy"}
    assert m20.role is Role.SLAVE
    assert m20.zero_copy
    assert (m20.buffer_size, m20.remote_disc_reason) == (2048, "capture done")
    m30 = by_name["memif3/0"]
    assert m30.flags == {"admin-up", "slave"}
    assert not m30.zero_copy
    assert (m30.num_s2m_rings, m30.num_m2s_rings, m30.buffer_size) == (2, 2, 4096)
    m11 = by_name["memif1/1"]
    assert (m11.mode, m11.mode_enum, m11.socket_id, m11.id) == ("ip", Mode.IP, 1, 1)
    assert m11.local_disc_reason is None
    m07 = by_name["memif0/7"]  # created without socket-id: the default socket 0, not admin up
    assert (m07.socket_id, m07.id, m07.flags, m07.listener_fd) == (0, 7, frozenset(), 15)


@needs_captures
def test_create_and_errors_show_interface_and_addr() -> None:
    rows = vpp_cli.parse_show_interface(output_of(CREATE, "show interface"))
    assert {n: (r.idx, r.state, r.mtu) for n, r in rows.items()} == {
        "local0": (0, "down", (0, 0, 0, 0)),
        "memif0/7": (7, "down", (9000, 0, 0, 0)),
        "memif1/0": (1, "up", (9000, 0, 0, 0)),
        "memif1/1": (6, "up", (0, 0, 0, 0)),  # ip mode: no L3 MTU
        "memif2/0": (2, "up", (9000, 0, 0, 0)),
        "memif3/0": (3, "up", (9000, 0, 0, 0)),
    }
    assert all(r.counters == {} for r in rows.values())
    addrs = vpp_cli.parse_show_interface_addr(output_of(CREATE, "show interface addr"))
    assert addrs["memif1/1"] == vpp_cli.InterfaceAddresses(name="memif1/1", up=True,
                                                           addresses=("10.0.0.1/24",))
    assert addrs["memif0/7"].up is False
    assert addrs["memif0/7"].addresses == ()


@needs_captures
def test_create_and_errors_show_hardware_and_empty_errors() -> None:
    hw = vpp_cli.parse_show_hardware(output_of(CREATE, "show hardware-interfaces"))
    assert list(hw) == ["local0", "memif0/7", "memif1/0", "memif1/1", "memif2/0", "memif3/0"]
    assert hw["memif1/0"].ethernet_address == "02:fe:f0:6d:dd:c0"
    assert hw["memif1/1"].ethernet_address is None  # memif-ip
    assert {n: h.memif_instance for n, h in hw.items()} == {
        "local0": None, "memif0/7": 6, "memif1/0": 0, "memif1/1": 5, "memif2/0": 1,
        "memif3/0": 2}
    assert all(h.link == "down" and h.rx_queues == () for h in hw.values())
    assert vpp_cli.parse_show_errors(output_of(CREATE, "show errors")) == []


# --- show-memif-slave-copy-2q-connected.txt -----------------------------------------------------


@needs_captures
def test_show_memif_copy_slave_connected() -> None:
    show = vpp_cli.parse_show_memif(
        (CAPTURES / "show-memif-slave-copy-2q-connected.txt").read_text())
    assert [s.id for s in show.sockets] == [2, 3, 0, 1]
    iface = show.interface("memif3/0")
    assert (iface.remote_name, iface.remote_interface) == ("raw-master", "raw-master-if")
    assert iface.flags == {"admin-up", "slave", "connected"}
    assert iface.role is Role.SLAVE
    assert iface.connected
    assert not iface.zero_copy
    assert (iface.listener_fd, iface.conn_fd, iface.buffer_size) == (0, 15, 4096)
    assert iface.regions == (vpp_cli.MemifRegion(index=0, size=33686016, fd=13),)
    # ring bytes = 128 + 16 * 2048 = 32896
    assert [(r.direction, r.index, r.offset, r.head, r.flags) for r in iface.rings] == [
        (RingType.S2M, 0, 0, 0, 0x0000),
        (RingType.S2M, 1, 32896, 0, 0x0000),
        (RingType.M2S, 0, 65792, 2048, 0x0001),  # slave refilled M2S completely, polls it
        (RingType.M2S, 1, 98688, 2048, 0x0001),
    ]
    assert all(r.ring_size == 2048 and r.tail == 0 for r in iface.rings)
    with pytest.raises(KeyError):
        show.interface("memif9/9")


# --- wire captures: the same runs seen from the socket -------------------------------------------


@needs_captures
def test_wire_master_2q_matches_show_memif() -> None:
    """The raw slave's ADD_REGION/ADD_RING are what VPP's show memif reports."""
    msgs = wire_messages("wire-vpp-master-2q-vs-slave.txt")
    iface = vpp_cli.parse_show_memif(output_of(MASTER, "show memif memif1/0")).interface(
        "memif1/0")
    regions = [(m["index"], m["size"]) for m in msgs if m["type"] == "ADD_REGION"]
    assert regions == [(r.index, r.size) for r in iface.regions]
    rings = {(m["dir"], m["index"]): m["offset"] for m in msgs if m["type"] == "ADD_RING"}
    assert rings == {(r.direction.name, r.index): r.offset for r in iface.rings}
    connected = [m for m in msgs if m["type"] == "CONNECTED"]
    assert connected == [{"type": "CONNECTED", "if_name": "memif1/0"}]


@needs_captures
def test_wire_copy_slave_matches_show_memif() -> None:
    msgs = wire_messages("wire-vpp-slave-copy-2q-vs-master.txt")
    iface = vpp_cli.parse_show_memif(
        (CAPTURES / "show-memif-slave-copy-2q-connected.txt").read_text()).interface("memif3/0")
    init = next(m for m in msgs if m["type"] == "INIT")
    assert init["secret"] == "s3cret"
    assert [m["size"] for m in msgs if m["type"] == "ADD_REGION"] == [iface.regions[0].size]
    rings = [(m["dir"], m["index"], m["offset"], 1 << int(str(m["log2_ring_size"])))
             for m in msgs if m["type"] == "ADD_RING"]
    assert rings == [(r.direction.name, r.index, r.offset, r.ring_size) for r in iface.rings]
    assert next(m for m in msgs if m["type"] == "CONNECT")["if_name"] == iface.name


@needs_captures
@pytest.mark.parametrize(("name", "vpp_if", "reason"), [
    ("wire-vpp-master-vs-slave.txt", "memif1/0", "bye"),
    ("wire-vpp-slave-zero-copy-vs-master.txt", "memif2/0", "capture done"),
])
def test_wire_captures_disconnect_reason_in_show_memif(name: str, vpp_if: str,
                                                       reason: str) -> None:
    """The DISCONNECT string a raw peer sent is VPP's remote-disc-reason for that interface."""
    msgs = wire_messages(name)
    assert msgs[-1] == {"type": "DISCONNECT", "code": 0, "string": reason}
    names = {str(m["if_name"]) for m in msgs if m["type"] in ("CONNECT", "CONNECTED")}
    assert vpp_if in names
    iface = vpp_cli.parse_show_memif(output_of(CREATE, "show memif")).interface(vpp_if)
    assert (iface.local_disc_reason, iface.remote_disc_reason) == ("disconnect received", reason)


# --- parsers on text outside the captures --------------------------------------------------------


def test_ping_with_replies_and_partial_loss() -> None:
    # format of ping.c print_ip46_icmp_reply / run_ping_ip46_address
    text = ("116 bytes from 192.168.1.2: icmp_seq=2 ttl=64 time=.0361 ms\r\n"
            "116 bytes from 192.168.1.2: icmp_seq=3 ttl=64 time=12.5 ms\r\n\r\n"
            "Statistics: 3 sent, 2 received, 33.3333% packet loss\r\n")
    result = vpp_cli.parse_ping(text)
    assert (result.sent, result.received) == (3, 2)
    assert result.loss_percent == pytest.approx(33.3333)
    assert result.replies[0] == vpp_cli.PingReply(116, "192.168.1.2", 2, 64, 0.0361)
    failed = vpp_cli.parse_ping("Failed: no source address for egress interface\n\n"
                                "Statistics: 0 sent, 0 received, 0% packet loss\n")
    assert failed.failures == ("no source address for egress interface",)


def test_parsers_reject_unknown_text() -> None:
    with pytest.raises(vpp_cli.VppParseError):
        vpp_cli.parse_ping("\n")
    with pytest.raises(vpp_cli.VppParseError):
        vpp_cli.parse_show_memif("show memif: unknown input `socket'\n")
    with pytest.raises(vpp_cli.VppParseError, match="unrecognised line"):
        vpp_cli.parse_show_memif("sockets\n  id  listener    filename\n\ninterface memif1/0\n"
                                 "  something new\n")
    with pytest.raises(vpp_cli.VppParseError):
        vpp_cli.parse_show_version("clib_socket_init: connect: Connection refused\n")


def test_show_errors_without_severity_column() -> None:
    text = ("   Count                    Node                  Reason\n"
            "         7            memif1/0-tx             no free tx slots\n")
    assert vpp_cli.parse_show_errors(text) == [
        vpp_cli.ErrorCounter(7, "memif1/0-tx", "no free tx slots", None)]


def test_cli_error_with_abbreviated_command() -> None:
    # VPP reports the full command path ("set interface state") for the abbreviation typed
    out = "set interface state: unknown input `memif9/9 up'\n"
    assert vpp_cli.cli_error(out, "set int state memif9/9 up") == out.strip()
    assert vpp_cli.cli_error("unknown input `frobnicate'\n", "frobnicate") is not None
    # indented or capitalised "x: y" lines of normal output are not errors
    normal = "  Link speed: unknown\nStatistics: 1 sent, 1 received, 0% packet loss\n"
    assert vpp_cli.cli_error(normal, "ping 10.0.0.2 repeat 1") is None
    # a path that is not the command typed is not taken for its error
    assert vpp_cli.cli_error("show memif: unknown input `x'\n", "show errors") is None


# --- builders -----------------------------------------------------------------------------------


def test_create_interface_cmd_defaults_and_variants() -> None:
    master = InterfaceSpec(role=Role.MASTER, socket="/tmp/x/m.sock")
    assert vpp_cli.create_interface_cmd(master, 1) == (
        "create interface memif socket-id 1 id 0 master rx-queues 1 tx-queues 1 "
        "ring-size 1024 buffer-size 2048")
    slave = InterfaceSpec(role=Role.SLAVE, socket="@abs", id=3, secret="s3cret", mode=Mode.IP,
                          rx_queues=2, tx_queues=2, log2_ring_size=11, buffer_size=4096,
                          mac="02:fe:00:00:00:01")
    assert vpp_cli.create_interface_cmd(slave, 4, zero_copy=False) == (
        "create interface memif socket-id 4 id 3 slave mode ip rx-queues 2 tx-queues 2 "
        "ring-size 2048 buffer-size 4096 secret s3cret hw-addr 02:fe:00:00:00:01 no-zero-copy")
    # out-of-range values are VPP's to reject (negative tests want its error text)
    huge = InterfaceSpec(role=Role.MASTER, socket="/s", log2_ring_size=16, rx_queues=0)
    assert "ring-size 65536" in vpp_cli.create_interface_cmd(huge, 1)
    assert "rx-queues 0" in vpp_cli.create_interface_cmd(huge, 1)


def test_create_interface_cmd_refuses_what_the_cli_cannot_say() -> None:
    with pytest.raises(ValueError, match="PUNT_INJECT"):
        vpp_cli.create_interface_cmd(
            InterfaceSpec(role=Role.MASTER, socket="/s", mode=Mode.PUNT_INJECT), 1)
    with pytest.raises(ValueError, match="whitespace"):
        vpp_cli.create_interface_cmd(InterfaceSpec(role=Role.MASTER, socket="/s",
                                                   secret="a b"), 1)
    with pytest.raises(ValueError, match="MAC"):
        vpp_cli.create_interface_cmd(InterfaceSpec(role=Role.MASTER, socket="/s",
                                                   mac="02:fe"), 1)


def test_socket_filenames() -> None:
    assert vpp_cli.vpp_socket_filename("/run/memif-test/m1.sock") == "/run/memif-test/m1.sock"
    assert vpp_cli.vpp_socket_filename("@memif-h.sock") == "abstract:memif-h.sock"
    assert vpp_cli.vpp_socket_filename("abstract:x") == "abstract:x"
    with pytest.raises(ValueError, match="absolute"):
        vpp_cli.vpp_socket_filename("relative.sock")
    with pytest.raises(ValueError, match="sun_path"):
        vpp_cli.vpp_socket_filename("/" + "d" * 120)
    with pytest.raises(ValueError, match="abstract"):
        vpp_cli.vpp_socket_filename("@bad*name!")


def test_other_builders() -> None:
    assert vpp_cli.interface_name(1, 0) == "memif1/0"
    assert vpp_cli.ping_cmd("192.168.1.2", 3, 0.1) == "ping 192.168.1.2 repeat 3 interval 0.1"
    assert vpp_cli.ping_cmd("192.168.1.2", 1, 1, size=3000, source="memif1/0") == (
        "ping 192.168.1.2 source memif1/0 size 3000 repeat 1 interval 1")
    assert vpp_cli.delete_socket_cmd(1) == "delete memif socket id 1"


def test_show_buffers_rows_by_pool() -> None:
    """``show buffers detail`` of VPP 26.06 (no hugepages): a pool row, then a thread row."""
    text = (
        "Pool Name            Index NUMA  Size  Data Size  Total  Avail  Cached   Used  \r\n"
        "default-numa-0         0     0   2304     2048    11956  11956     0       0   \r\n"
        "              thread   0                                           0   \r\n"
    )
    assert vpp_cli.parse_show_buffers(text) == {"default-numa-0": vpp_cli.BufferPool(
        name="default-numa-0", index=0, numa=0, size=2304, data_size=2048, total=11956,
        available=11956, cached=0, used=0)}
    with pytest.raises(vpp_cli.VppParseError):
        vpp_cli.parse_show_buffers("default-numa-0 0 0 x\n")
